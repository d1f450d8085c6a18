"""Repairs of Numba's CUDA simulator, so minisora's kernels run on it as they do on a GPU.

The simulator runs every GPU thread as a Python thread. Three of its habits race:
- it swaps numba.cuda for the kernel's own view (threadIdx, syncthreads, shared, ...) in a device
  function's module on every call and swaps it back on return, from every thread at once, so a
  thread that returns first takes it away from the others (AttributeError: no 'threadIdx');
- it finds a shared array by the line that asks for it and creates it if missing, without a
  lock, so two threads of a block can each create their own and never see each other's writes;
- it reads a device function's module globals at every call, while the first NumPy warning a
  kernel line raises (inf - inf, say) makes Python add `__warningregistry__` to those same
  globals: "dictionary changed size during iteration" in another thread. `with_warning_registry`
  adds it beforehand.

`repaired_cuda()` is what the kernels get as `cuda` on the simulator: inside a launch, the
simulated kernel's own view, with a locked `shared`; outside, numba.cuda itself.
"""
import sys
import threading

import numpy as np
from numba import cuda as numba_cuda

from . import enabled


def with_warning_registry(fn):
    """`fn`, its module globals holding the warning registry already (see the module docstring)."""
    fn.__globals__.setdefault("__warningregistry__", {})
    return fn


def repaired_cuda():
    """The repaired view, or numba.cuda unchanged where the simulator is not one these repairs
    were tested with (see gpu_runtime.enabled)."""
    return SimulatedCuda() if enabled() else numba_cuda


class SimulatedCuda:
    """numba.cuda as the kernels here see it on the simulator: inside a launch, the simulated
    kernel's own view (threadIdx, syncthreads, shared, atomic...), else numba.cuda itself.

    It mends two races of the simulator's threads. Left alone, the simulator swaps numba.cuda
    for that view in a device function's module on every call and swaps it back on return, from
    every thread at once, so a thread that returns first takes it away from the others
    (AttributeError: no attribute 'threadIdx'). And see SharedArrays."""

    def __getattr__(self, name):
        from numba.cuda.simulator.kernel import _get_kernel_context

        context = _get_kernel_context()
        if context is not None:
            if name == "shared":
                return SharedArrays(context.shared)
            try:
                return getattr(context, name)
            except AttributeError:   # not a kernel-side name (jit, device_array, ...)
                pass
        return getattr(numba_cuda, name)


class SharedArrays:
    """cuda.shared on the simulator. Its arrays are known by the line that asks for them; the
    simulator looks one up and creates it if missing without a lock, so two threads of a block
    can each create their own "shared" array and never see each other's writes."""

    lock = threading.Lock()

    def __init__(self, shared):
        self.shared = shared

    def array(self, shape, dtype, alignment=None):   # alignment: a compiled kernel's concern only
        from numba.np.numpy_support import as_dtype

        caller = sys._getframe(1)
        key = (caller.f_code.co_filename, caller.f_lineno)
        with self.lock:
            arrays = self.shared._allocations
            if key not in arrays:
                arrays[key] = np.empty(shape, as_dtype(dtype) if not isinstance(dtype, np.dtype) else dtype)
            return arrays[key]
