"""The particles: every differentiable building block, forward and backward, one family a file.

`catalog()` lists them all (name, formula, gradient, where it runs) so tools can list, check
and benchmark every particle.
"""
from dataclasses import dataclass

from .. import backends
from . import arithmetic, attention, dropout, embedding, indexing, layer_norm, losses, matmul  # noqa: F401
from . import pointwise, positional, reductions, shape, softmax  # noqa: F401
from .particle import Context, Particle, registry


@dataclass(frozen=True)
class Entry:
    name: str
    formula: str
    gradient: str
    family: str
    backends: tuple
    particle: type


def catalog():
    """Every registered particle with its formulas and the backends it runs on."""
    entries = []
    for name, particle in sorted(registry().items()):
        targets = tuple(b for b in backends.NAMES if all(k.has(b) for k in particle.kernels))
        entries.append(
            Entry(name, particle.formula, particle.gradient, particle.__module__.rsplit(".", 1)[-1],
                  ("reference",) + targets, particle)
        )
    return entries


def get(name):
    """The particle class registered under `name`."""
    try:
        return registry()[name]
    except KeyError:
        raise KeyError(f"no particle named {name!r}; see minisora.particles.catalog()") from None


__all__ = ["Context", "Particle", "catalog", "get"]
