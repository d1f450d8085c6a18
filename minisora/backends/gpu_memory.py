"""GPU memory that is reused instead of returned: a caching allocator, as PyTorch's.

Asking the driver for memory (cuMemAlloc) and giving it back (cuMemFree, which waits for the
GPU to finish everything queued) costs far more than the kernels of a small network: a training
step allocates a few hundred arrays. Here a freed array's memory goes into a pool, keyed by its
size rounded up to 512 bytes, and the next array of that size takes it. Every kernel runs on
the one default stream, in order, so a kernel queued later never sees memory still in use by
an earlier one.

    allocate(size, dtype)   a flat numba.cuda array of at least `size` elements
    release_cached()        give every pooled block back to the driver (ms.cuda.empty_cache())
"""
import weakref
from collections import defaultdict

from numba import cuda

from .gpu import simulated

ROUND = 512
_pool = defaultdict(list)      # rounded size in bytes -> free memory pointers


def allocate(size, dtype):
    if simulated():   # the simulator's arrays are NumPy arrays: nothing to pool
        return cuda.device_array(max(size, 1), dtype)
    from numba.cuda.cudadrv.devicearray import DeviceNDArray

    nbytes = -(-max(size, 1) * dtype.itemsize // ROUND) * ROUND
    free = _pool[nbytes]
    pointer = free.pop() if free else cuda.current_context().memalloc(nbytes)
    # exactly `size` elements long (the pooled block may be longer): views of the whole array
    # then need no slicing, which costs more in numba.cuda than many kernels take to run
    array = DeviceNDArray((max(size, 1),), (dtype.itemsize,), dtype, gpu_data=pointer)
    weakref.finalize(array, free.append, pointer)   # back to the pool when the array is gone
    return array


def release_cached():
    """Let the driver have the pooled memory back (arrays in use keep theirs)."""
    _pool.clear()


def cached_bytes():
    return sum(size * len(pointers) for size, pointers in _pool.items())
