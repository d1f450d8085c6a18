"""Kernels: one name, one implementation per target, compiled only when first used.

A particle never calls Numba directly. It writes its loop once as a plain Python function,
wraps it in a `Kernel`, and runs it through its context: `ctx.run(kernel, *arrays)`. The
backend of the inputs then picks the implementation for its target:

    cpu   the loop compiled by `numba.njit(cache=True)` the first time it runs
    cuda  its GPU twin: `the_kernel.on_gpu(gpu_kernel)` attaches a grid-stride `@gpu_kernel`
          taking the same arguments (a thread per element of the last one, the output), or
          `@the_kernel.gpu` marks a launcher of its own (block sizes, several launches); GPU
          kernels compile at their first launch and are cached on disk

A kernel may also have a faster CPU form (`@the_kernel.faster`): the same arguments and the same
numbers up to rounding, written for speed rather than reading (rows in blocks whose products run
on BLAS, blocks spread over every core with `prange`). It runs on the CPU unless
ms.config.readable_kernels is on or the JIT is off; the readable loop stays the reference that
tests compare it with and that pdb steps through.

Compilation is lazy, so `import minisora` compiles nothing and a run only pays for the
kernels it uses; `cache=True` keeps the machine code on disk for the next process.
With the JIT off (`MINISORA_JIT=0`, ms.config.jit, or `minisora.debug()` before a kernel first
runs) the plain Python loop runs instead: `pdb` can step through it line by line.
"""
import contextlib
import os
import time

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


class TimeSpent:
    """Wall and CPU seconds spent in the CPU backend's kernels and in its matrix products while
    a trace watches (`with time_watched():`). CPU seconds count every thread of the process:
    CPU / wall is how many cores a part kept busy. trace() reads them per particle call and in
    all, and splits a step's time into products, kernels and the Python around them."""

    def __init__(self):
        self.watchers = 0
        self.totals = {"kernels": [0.0, 0.0], "products": [0.0, 0.0]}   # [wall, cpu]

    @contextlib.contextmanager
    def counting(self, part):
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            total = self.totals[part]
            total[0] += time.perf_counter() - wall
            total[1] += time.process_time() - cpu

    def snapshot(self):
        return {part: tuple(total) for part, total in self.totals.items()}

    def since(self, before):
        """{part: (wall, cpu)} spent since `before` (a snapshot)."""
        return {part: tuple(now - then for now, then in zip(total, before[part])) for part, total in self.totals.items()}


spent = TimeSpent()


@contextlib.contextmanager
def time_watched():
    """Count time in kernels and products into `spent` inside the block (no cost outside one)."""
    spent.watchers += 1
    try:
        yield spent
    finally:
        spent.watchers -= 1


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


def float32_faster(exact, float32):
    """A scalar function of one number that is `float32` (a faster form, float32 arithmetic the
    compiler turns into vector instructions) in CPU kernels compiled for float32 numbers, and
    `exact` everywhere else: float64, plain Python (JIT off) and the GPU.

    The choice is made by the number's type when a kernel compiles (an overload), never by a
    test at run time: a branch beside a loop keeps the compiler from vectorizing it."""
    from numba import types
    from numba.extending import overload

    def chosen(x):
        return exact(x)

    def faster(x):
        return float32(x)

    overload(chosen)(lambda x: faster if x == types.float32 else chosen)
    chosen.__name__, chosen.__doc__ = exact.__name__ + "_or_float32", float32_faster.__doc__
    chosen.minisora_scalar = exact.minisora_scalar
    chosen.minisora_gpu = exact   # backends.gpu compiles exact's GPU twin for it
    return chosen


class Kernel:
    """A named loop with one implementation per target: `cpu` (the loop itself) and `cuda` (its `.gpu` twin)."""

    __slots__ = ("name", "python", "reorder_sums", "parallel", "fast", "_compiled", "_targets")

    def __init__(self, python, reorder_sums=False, parallel=False):
        self.name = python.__name__
        self.python = python          # the readable loop; also what runs with the JIT off
        # Let the compiler add up a running sum in several partial sums at once (vector lanes):
        # 4-8x faster sums, rounded in a different order. Only the "reassoc" and "contract" math
        # flags: never the ones that assume no NaN or inf, so NaN still shows up (and is tested).
        self.reorder_sums = reorder_sums
        # Its `prange` loops run on every core Numba has (NUMBA_NUM_THREADS); the BLAS products
        # it calls then run one thread each (backends/threads.py), or the two kinds of threads
        # would fight over the same cores.
        self.parallel = parallel
        self.fast = None              # a faster CPU form (see `faster`), or None
        self._compiled = None
        self._targets = {}

    def cpu(self):
        """The callable for the CPU: the faster form where there is one and the readable kernels
        are not asked for, else this loop compiled on first use (or the Python loop, JIT off)."""
        if self.fast is not None and self.runs_faster():
            return self.fast.cpu()
        compiled = self._compiled
        if compiled is None:
            if config.jit:
                import numba

                numba.config.CACHE_DIR = cache_dir()
                compiled = numba.njit(
                    cache=True, nogil=True, error_model="numpy", parallel=self.parallel,
                    fastmath={"reassoc", "contract"} if self.reorder_sums else False,
                )(self.python)
                if self.parallel:
                    from .threads import one_blas_thread_each

                    compiled = one_blas_thread_each(compiled)
            else:
                compiled = self.python
            self._compiled = compiled
        return compiled

    def runs_faster(self):
        """Whether the CPU runs this kernel's faster form now."""
        return self.fast is not None and config.jit and not config.readable_kernels

    def faster(self, python):
        """Decorator: `python` (this kernel's arguments) is a faster CPU form of this kernel,
        compiled with `prange` threads; returns its Kernel."""
        self.fast = Kernel(python, reorder_sums=self.reorder_sums, parallel=True)
        return self.fast

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
    """Inside the block these kernels run their plain Python loops (for pdb), whatever the JIT says
    (their readable loops, not a faster form)."""
    saved = [(k._compiled, k.fast) for k in kernels]
    for k in kernels:
        k._compiled, k.fast = k.python, None
    try:
        yield
    finally:
        for k, (compiled, fast) in zip(kernels, saved):
            k._compiled, k.fast = compiled, fast


def kernel(python=None, *, reorder_sums=False, parallel=False):
    """Decorator: `@kernel`, `@kernel(reorder_sums=True)` or `@kernel(parallel=True)` (its `prange`
    loops on every core) makes a lazily compiled Kernel."""
    if python is None:
        return lambda fn: Kernel(fn, reorder_sums=reorder_sums, parallel=parallel)
    return Kernel(python, reorder_sums=reorder_sums, parallel=parallel)
