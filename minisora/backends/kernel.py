"""Kernels: one name, one implementation per target, compiled only when first used.

A particle never calls Numba directly. It writes its loop once as a plain Python function,
wraps it in a `Kernel`, and runs it through its context: `ctx.run(kernel, *arrays)`. The
backend of the inputs then picks the implementation for its target:

    cpu   the loop compiled by `numba.njit(cache=True)` the first time it runs
    cuda  its GPU twin: `the_kernel.on_gpu(gpu_kernel)` attaches a grid-stride `@gpu_kernel`
          taking the same arguments (a thread per element of the last one, the output), or
          `@the_kernel.gpu` marks a launcher of its own (block sizes, several launches); GPU
          kernels compile at their first launch and are cached on disk

Compilation is lazy, so `import minisora` compiles nothing and a run only pays for the
kernels it uses; `cache=True` keeps the machine code on disk for the next process.
With the JIT off (`MINISORA_JIT=0`, ms.config.jit, or `minisora.debug()` before a kernel first
runs) the plain Python loop runs instead: `pdb` can step through it line by line.
"""
import contextlib
import os

from numba.core import event as numba_event
from numba.extending import register_jitable

from .. import config


def cache_dir():
    """Where compiled kernels are kept: $MINISORA_CACHE_DIR, else ~/.cache/minisora/numba."""
    configured = os.environ.get("MINISORA_CACHE_DIR") or os.environ.get("NUMBA_CACHE_DIR")
    if configured:
        return configured
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "minisora", "numba")


class CompileCounter(numba_event.Listener):
    """How many functions Numba has compiled (not loaded from its cache) while it watches: trace()
    marks the particle calls that paid for a compile. `with compiles_watched():` turns it on."""

    def __init__(self):
        super().__init__()
        self.count, self.watchers = 0, 0

    def on_start(self, event):
        pass

    def on_end(self, event):
        self.count += 1


compiles = CompileCounter()


@contextlib.contextmanager
def compiles_watched():
    """Count Numba's compiles into `compiles.count` inside the block (no cost outside one)."""
    if compiles.watchers == 0:
        numba_event.register("numba:compile", compiles)
    compiles.watchers += 1
    try:
        yield compiles
    finally:
        compiles.watchers -= 1
        if compiles.watchers == 0:
            numba_event.unregister("numba:compile", compiles)


def debug():
    """Run every kernel not yet built as plain Python (for pdb, IDE breakpoints, prints):
    ms.config.set(jit=False)."""
    config.set(jit=False)


def scalar(fn=None, *, inline=True):
    """Scalar math written once: plain Python when called from Python, inlined into kernels.

    The same function is later compiled as a `cuda.jit(device=True)` function for the GPU.
    inline=True copies its body into every caller before compiling (so a constant op code
    argument prunes its branches); inline=False compiles it once as a function of its own,
    which LLVM still inlines where it is small: much less to compile when many callers share it.
    """
    if fn is None:
        return lambda f: scalar(f, inline=inline)
    fn.minisora_scalar = "always" if inline else "never"   # backends.gpu compiles its GPU twin from this
    return register_jitable(inline=fn.minisora_scalar)(fn)


class Kernel:
    """A named loop with one implementation per target: `cpu` (the loop itself) and `cuda` (its `.gpu` twin)."""

    __slots__ = ("name", "python", "reorder_sums", "_compiled", "_targets")

    def __init__(self, python, reorder_sums=False):
        self.name = python.__name__
        self.python = python          # the readable loop; also what runs with the JIT off
        # Let the compiler add up a running sum in several partial sums at once (vector lanes):
        # 4-8x faster sums, rounded in a different order. Only the "reassoc" and "contract" math
        # flags: never the ones that assume no NaN or inf, so NaN still shows up (and is tested).
        self.reorder_sums = reorder_sums
        self._compiled = None
        self._targets = {}

    def cpu(self):
        """The callable for the CPU: compiled on first use (or the Python loop, JIT off)."""
        compiled = self._compiled
        if compiled is None:
            if config.jit:
                import numba

                numba.config.CACHE_DIR = cache_dir()
                compiled = numba.njit(
                    cache=True, nogil=True, error_model="numpy",
                    fastmath={"reassoc", "contract"} if self.reorder_sums else False,
                )(self.python)
            else:
                compiled = self.python
            self._compiled = compiled
        return compiled

    def gpu(self, launcher):
        """Decorator: `launcher` (same arguments as the CPU loop) launches this kernel's CUDA twin."""
        self._targets["cuda"] = launcher
        return launcher

    def on_gpu(self, gpu_kernel):
        """Attach a grid-stride GPU kernel taking this loop's arguments, launched with one thread
        per element of the last argument (the array it writes). Returns this Kernel."""
        from .gpu import launch_elementwise

        def launch_per_element(*arguments):
            launch_elementwise(gpu_kernel, arguments[-1].size, *arguments)

        self._targets["cuda"] = launch_per_element
        return self

    def has(self, target):
        return target == "cpu" or target in self._targets

    def on(self, target):
        return self._targets[target]

    def __repr__(self):
        return f"Kernel({self.name})"


@contextlib.contextmanager
def as_python(kernels):
    """Inside the block these kernels run their plain Python loops (for pdb), whatever the JIT says."""
    saved = [k._compiled for k in kernels]
    for k in kernels:
        k._compiled = k.python
    try:
        yield
    finally:
        for k, compiled in zip(kernels, saved):
            k._compiled = compiled


def kernel(python=None, *, reorder_sums=False):
    """Decorator: `@kernel` or `@kernel(reorder_sums=True)` makes a lazily compiled Kernel."""
    if python is None:
        return lambda fn: Kernel(fn, reorder_sums=reorder_sums)
    return Kernel(python, reorder_sums=reorder_sums)
