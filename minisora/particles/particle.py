"""What every particle is: a named forward/backward pair over plain arrays.

A particle subclass gives
    name, formula        for the catalog, traces and error messages
    forward(ctx, ...)    arrays in, one array out (or a tuple of them: one tensor each);
                         saves on `ctx` only what backward needs
    backward(ctx, grad)  the gradient of the loss w.r.t. each input (None where not needed);
                         with several outputs, `grad` is a tuple (None for an unused output)
    reference(...)       the vectorized NumPy forward, the form a student writes first
    reference_backward   the NumPy backward: (inputs..., grad_out, **params) -> grads
    kernels              the Kernels it launches (the catalog derives its backends from them)
    runs_on              only for a particle without kernels of its own (views, copies, BLAS):
                         the backends whose operations it calls

Particles are device-agnostic: they allocate through `ctx.backend` and compute through
`ctx.run(kernel, ...)`, so adding a backend adds kernels, never edits a particle.
"""
import numpy as np
from .. import errors

_registry = {}

FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


class Context:
    """What one particle call keeps between its forward and its backward."""

    def __init__(self, particle, backend, inputs):
        self.particle = particle
        self.backend = backend
        self.inputs = inputs                  # the input Tensors: the edges of the graph
        self.params = {}                      # the call's keyword parameters (dim=..., causal=...)
        self.needs_input_grad = ()
        self.saved = ()
        self.released = False
        self.output_count = None              # None: one array out; n: a tuple of n (split)
        self.changes = 0                      # autograd's clock of in-place changes at forward (check_unchanged)
        self.launched = []                    # the kernels this call ran, in order (what the stepper shows)

    def save(self, *arrays):
        self.saved = arrays

    def run(self, kernel, *arguments):
        """Launch `kernel` on the backend of this call's inputs."""
        self.launched.append(kernel)
        try:
            return self.backend.run(kernel, *arguments)
        except Exception as error:
            if type(error).__module__.startswith("numba"):
                described = ", ".join(describe(a) for a in arguments)
                raise errors.TypeError(
                    f"{self.particle.name}: kernel {kernel.name} cannot run on ({described}): "
                    f"{str(error).splitlines()[0]}"
                ) from None
            raise

    def release(self):
        """Drop what forward saved (the graph was used by backward and not retained)."""
        self.saved = ()
        self.released = True


def describe(value):
    """'float32[128, 64]' for arrays, repr for anything else (used in error messages)."""
    shape = getattr(value, "shape", None)
    if shape is None:
        return repr(value)
    return f"{value.dtype}[{', '.join(map(str, shape))}]"


class Particle:
    name = "particle"
    formula = ""
    gradient = ""
    kernels = ()
    runs_on = ()
    has_kinks = False  # not differentiable everywhere (ReLU at 0, max at ties): gradcheck warns

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            _registry[cls.name] = cls

    @classmethod
    def every_kernel(cls):
        """Every Kernel this particle may launch (what the catalog, the stepper and the tests read)."""
        return tuple(cls.kernels)

    @staticmethod
    def forward(ctx, *arrays, **params):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, grad_out):
        raise NotImplementedError

    @classmethod
    def fail(cls, message, error=ValueError):
        """Raise `error` (minisora's twin of it: also a minisora.Error) with a message that starts
        with this particle's name."""
        raise errors.of(error)(f"{cls.name}: {message}")

    @classmethod
    def require_float(cls, *arrays):
        for array in arrays:
            if array.dtype not in FLOATS:
                cls.fail(
                    f"expected float32 or float64 input, got {describe(array)} "
                    "(convert with .float() or .double())",
                    TypeError,
                )

    @classmethod
    def check_ids(cls, backend, ids, count, what, where):
        """IndexError naming the first id outside [0, count): compiled kernels do not check bounds.
        (GPU ids copied from the host carry their range; others are copied back to check.)
        `where()` says what the ids index (a function: the words are only made on failure)."""
        known = getattr(ids, "known_range", None)
        if known is not None and (ids.size == 0 or 0 <= known[0] and known[1] < count):
            return
        cls.check_host_ids(backend.to_numpy(ids), count, what, where)

    @classmethod
    def check_host_ids(cls, host, count, what, where):
        """check_ids on a NumPy array of ids."""
        if host.size and (host.min() < 0 or host.max() >= count):
            bad = host[(host < 0) | (host >= count)][0]
            cls.fail(f"{what} {int(bad)} is out of range [0, {count}) for {where()}", IndexError)


def registry():
    return dict(_registry)
