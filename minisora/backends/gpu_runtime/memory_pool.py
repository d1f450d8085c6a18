"""GPU memory that is reused instead of returned: a caching allocator, as PyTorch's.

Asking the driver for memory (cuMemAlloc) and giving it back (cuMemFree, which waits for the
GPU to finish everything queued) costs far more than the kernels of a small network: a training
step allocates a few hundred arrays. Here a freed array's memory goes into a pool, keyed by its
size rounded up to 512 bytes, and the next array of that size takes it. Every kernel runs on
the one default stream, in order, so a kernel queued later never sees memory still in use by
an earlier one.

Memory is back in the pool as soon as the flat numba.cuda array made here is gone: whatever
still reads or writes that memory must hold the array (a DeviceArray's `base`), not merely a
pointer into it or a numba view cut from it. The simulator pools its memory (NumPy bytes) in
the same way, so that the tests live by that rule too, and hands every array out filled with
0xFF bytes (NaN as floats, -1 as integers): a kernel that reads memory nobody wrote, or memory
given back too early, then fails the tests, as on a GPU, where new memory holds whatever was
there before.

    allocate(size, dtype)   a flat numba.cuda array of `size` elements (at least 1)
    release_cached()        give every pooled block back to the driver (ms.cuda.empty_cache(); and
                            before a second try when the driver has no memory left)
    cached_bytes()          how much memory the pool holds
"""
import weakref
from collections import defaultdict

import numpy as np
from numba import cuda

from ... import config
from .. import gpu

ROUND = 512
POISON = 0xFF    # the simulator's byte in memory handed out
_pool = defaultdict(list)      # rounded size in bytes -> free memory (pointers, or NumPy bytes)


def allocate(size, dtype):
    size = max(size, 1)
    nbytes = -(-size * dtype.itemsize // ROUND) * ROUND
    free = _pool[nbytes]
    memory = free.pop() if free else new_memory(nbytes, size, dtype)
    array = simulated_array(memory, size, dtype) if gpu.simulated() else gpu_array(memory, size, dtype)
    weakref.finalize(array, free.append, memory)   # back to the pool when the array is gone
    return array


def new_memory(nbytes, size, dtype):
    """Memory from the driver for `size` elements of `dtype` (nbytes, rounded up). When it has
    none left, the pool's free blocks are given back first (numba frees them when it finds
    memory short) and the driver is asked once more."""
    try:
        return driver_memory(nbytes)
    except Exception as error:
        if not out_of_memory(error):
            raise
        pooled, failure = cached_bytes(), error
    if pooled:
        release_cached()
        try:
            return driver_memory(nbytes)
        except Exception as error:
            if not out_of_memory(error):
                raise
            failure = error
    raise MemoryError(f"cuda: out of GPU memory for an array of {size} {dtype} ({nbytes} bytes; {pooled} bytes of "
                      "freed memory that minisora kept for reuse were given back first): free tensors no longer "
                      "needed, or make the batch smaller") from failure


def driver_memory(nbytes):
    if gpu.simulated():
        return np.empty(nbytes, np.uint8)
    return cuda.current_context().memalloc(nbytes)


def out_of_memory(error):
    # the simulator's NumPy says MemoryError; numba.cuda, CudaAPIError with CUDA_ERROR_OUT_OF_MEMORY (2)
    return isinstance(error, MemoryError) or getattr(error, "code", None) == 2


def gpu_array(pointer, size, dtype):
    """Exactly `size` elements long (the pooled block may be longer): views of the whole array
    then need no slicing, which costs more in numba.cuda than many kernels take to run."""
    from numba.cuda.cudadrv.devicearray import DeviceNDArray

    return DeviceNDArray((size,), (dtype.itemsize,), dtype, gpu_data=pointer)


def simulated_array(memory, size, dtype):
    from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray

    if not config.gpu_dry_run:   # (a dry run's kernels write nothing: it times the host alone)
        memory.fill(POISON)
    return FakeCUDAArray(memory[:size * dtype.itemsize].view(dtype))


def release_cached():
    """Let the driver have the pooled memory back. Arrays in use keep theirs, and it comes into
    the pool when they are gone (the lists are emptied, not replaced: each array's finalizer
    holds its size's list)."""
    for free in _pool.values():
        free.clear()


def cached_bytes():
    return sum(size * len(free) for size, free in _pool.items())
