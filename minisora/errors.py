"""minisora's errors: each one is the Python error it always was *and* a `minisora.Error`.

    try:
        model(x)
    except ms.Error as error:        # anything minisora refused, on purpose, with a message
        ...
    except ValueError:               # still works: ms.errors.ValueError is a ValueError

A shape that does not fit (matmul, reshape, permute, broadcasting) is a `ShapeError`: a
ValueError as minisora always raised, and a RuntimeError as PyTorch raises, so code written
for either catches it.

This module imports nothing of minisora: every layer may raise these.
"""
import builtins


class Error(Exception):
    """Every error minisora raises on purpose; its message starts with what refused (a particle's name)."""


class ValueError(Error, builtins.ValueError):
    pass


class TypeError(Error, builtins.TypeError):
    pass


class IndexError(Error, builtins.IndexError):
    pass


class KeyError(Error, builtins.KeyError):
    pass


class RuntimeError(Error, builtins.RuntimeError):
    pass


class OverflowError(Error, builtins.OverflowError):
    pass


class ShapeError(ValueError, builtins.RuntimeError):
    """Shapes that do not fit together: a ValueError (minisora's first answer) and a RuntimeError (PyTorch's)."""


_OURS = {builtins.ValueError: ValueError, builtins.TypeError: TypeError, builtins.IndexError: IndexError,
         builtins.KeyError: KeyError, builtins.RuntimeError: RuntimeError, builtins.OverflowError: OverflowError}


def of(kind):
    """minisora's twin of a built-in error class (a class that is already minisora's is kept)."""
    return _OURS.get(kind, kind)
