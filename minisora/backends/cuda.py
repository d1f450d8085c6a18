"""The GPU backend: memory is a DeviceArray (GPU memory + NumPy view rules), compute is a
numba.cuda kernel. The same names as backends/cpu.py, so every particle runs unchanged.

Imported only when a tensor first asks for device="cuda" (`backends.get`), never by
`import minisora`. With NUMBA_ENABLE_CUDASIM=1 it runs on Numba's CUDA simulator.
"""
import math
import sys

import numpy as np
from numba import config as numba_config, cuda

from .. import errors
from . import gemm, gpu_runtime
from .device_array import DeviceArray
from .gpu import add_arrays_kernel, arange_kernel, fill, launch_elementwise, simulated, strided_copy_kernel
from .layout import broadcast_strides, check_row_sums, joined_shape, merged_loop, side_by_side

name = "cuda"
array_type = DeviceArray   # what a tensor's memory is here
# Parameters one optimizer launch updates (optim/optimizer.py): a launch costs tens of
# microseconds. Its arguments must fit in 4 KB; a 1-D array takes 56 bytes of them and an update
# reads at most 5 arrays per parameter: 12 x 5 x 56 < 4 KB.
tensors_per_call = 12
# Teaching-sized launches leave most of a big GPU idle by design: no warning for each one.
numba_config.CUDA_LOW_OCCUPANCY_WARNINGS = 0

if simulated():
    # The simulator runs each GPU thread as a Python thread, and at every barrier they wait for
    # the interpreter to hand over (every 5 ms by default): 0.01 ms makes its kernels ~8x faster.
    sys.setswitchinterval(1e-5)


def is_array(value):
    return isinstance(value, DeviceArray)


def is_view(array):
    return array.is_view


def shares_memory(a, b):
    """Whether the two arrays may hold some of the same memory (views of one allocation)."""
    return isinstance(a, DeviceArray) and isinstance(b, DeviceArray) and a.base is b.base


def is_contiguous(array):
    return array.is_contiguous


# --- memory -------------------------------------------------------------------------------
def empty(shape, dtype):
    shape, dtype = tuple(map(int, shape)), np.dtype(dtype)
    size = math.prod(shape)
    if gpu_runtime.enabled():
        from .gpu_runtime import memory_pool

        return DeviceArray(memory_pool.allocate(size, dtype), shape, dtype=dtype)
    return DeviceArray(cuda.device_array(max(size, 1), dtype), shape, dtype=dtype)   # numba.cuda's public way


def arange(start, step, count, dtype):
    """The integers start, start + step, ... (count of them), written on the GPU by a kernel:
    copying them from the host would wait for every kernel queued before it. Like ids copied
    from the host, they carry their range (DeviceArray.known_range)."""
    out = empty((count,), dtype)
    launch_elementwise(arange_kernel, count, out, start, step)
    if count:
        last = start + (count - 1) * step
        out.known_range = (min(start, last), max(start, last))
    return out


def zeros(shape, dtype):
    return full(shape, 0, dtype)


def full(shape, value, dtype):
    array = empty(shape, dtype)
    if array.size:
        fill(array.base, array.dtype.type(value))
    return array


def from_host(values, dtype=None):
    """A new DeviceArray holding a copy of host data (anything NumPy reads).

    Integer data remembers its smallest and largest value, read on the host on the way: ids and
    class targets are then range-checked without a copy back from the GPU (which would make the
    host wait for every kernel queued before it)."""
    host = np.asarray(values, dtype=dtype, order="C")   # (np.ascontiguousarray would make a 0-d array 1-d)
    array = empty(host.shape, host.dtype)
    if host.size:
        array.base.copy_to_device(host.reshape(-1))   # base holds exactly host.size elements
        if host.dtype.kind in "iu":
            array.known_range = (int(host.min()), int(host.max()))
    return array


def from_interface(source):
    """GPU memory another library owns (CuPy, PyTorch, ...), seen without a copy."""
    interface = source.__cuda_array_interface__
    dtype = np.dtype(interface["typestr"])
    shape = tuple(interface["shape"])
    if interface.get("strides") is None:
        strides = None
    else:
        if any(s % dtype.itemsize or s < 0 for s in interface["strides"]):
            raise errors.ValueError(f"cuda: cannot view memory with strides {interface['strides']} in {dtype} elements")
        strides = tuple(s // dtype.itemsize for s in interface["strides"])
    span = 1 + sum((n - 1) * s for n, s in zip(shape, strides or ())) if strides else int(np.prod(shape))
    flat = cuda.from_cuda_array_interface(
        {"shape": (max(span, 1),), "strides": None, "typestr": dtype.str, "data": interface["data"],
         "version": 3}, owner=source, sync=True)
    return DeviceArray(flat, shape, strides)


def asarray(value, dtype=None):
    """A fresh, contiguous copy on the GPU of host data, a DeviceArray or another library's GPU array."""
    if isinstance(value, DeviceArray) or hasattr(value, "__cuda_array_interface__"):
        source = value if isinstance(value, DeviceArray) else from_interface(value)
        return copy_of(source, np.dtype(dtype) if dtype is not None else source.dtype)
    return from_host(value, dtype)


def to_numpy(array):
    packed = contiguous(array)
    if packed.size == 0:
        return np.empty(packed.shape, packed.dtype)
    return packed.kernel_view().copy_to_host().reshape(packed.shape)


_scalars = {}


def scalar(value, dtype):
    """A 0-d array holding one number. Kept per (value, dtype): each new one is a copy to the GPU."""
    key = (value, np.dtype(dtype).str)
    array = _scalars.get(key)
    if array is None:
        if len(_scalars) > 1024:
            _scalars.clear()
        array = _scalars[key] = from_host(np.array(value, dtype=dtype))
    return array


# --- copies and views ---------------------------------------------------------------------
def copy_into(target, values):
    """Overwrite `target` (any view) with `values` (a DeviceArray, host data or a number), cast and broadcast."""
    if not isinstance(values, DeviceArray):
        values = from_host(np.asarray(values, dtype=target.dtype))
    target.known_range = None
    if target.size == 0:
        return
    element_strides = [
        broadcast_strides(values.shape, values.strides, target.shape),
        list(target.strides),
    ]
    loop_shape, (source_strides, target_strides), spans = merged_loop(target.shape, element_strides)
    copy_strided(values.storage(spans[0]), loop_shape, source_strides, target.storage(spans[1]), target_strides)


def copy_strided(source, shape, source_strides, out, out_strides):
    launch_elementwise(strided_copy_kernel, math.prod(shape), source, tuple(shape), tuple(source_strides), out,
                       tuple(out_strides))


def copy_of(array, dtype):
    out = empty(array.shape, dtype)
    copy_into(out, array)
    if array.known_range is not None and out.dtype.kind in "iu":   # the same integers: the same range
        out.known_range = array.known_range
    return out


def astype(array, dtype):
    return array if array.dtype == dtype else copy_of(array, np.dtype(dtype))


def contiguous(array):
    return array if array.is_contiguous else copy_of(array, array.dtype)


def blas_ready(array):
    """The array itself: the GPU's kernels read any strides (the CPU's BLAS calls need a copy of some)."""
    return array


def flat(array):
    return array.flat() if array.is_contiguous else array.reshape((array.size,))


def reshape(array, shape):
    """A view when the memory allows, else (as NumPy does) a reshaped packed copy."""
    try:
        return array.reshape(shape)
    except ValueError:
        return contiguous(array).reshape(shape)


def permute(array, axes):
    return array.transpose(axes)


def concatenate(arrays, axis):
    shape = list(arrays[0].shape)
    shape[axis] = sum(a.shape[axis] for a in arrays)
    out = empty(shape, arrays[0].dtype)
    start = 0
    for array in arrays:
        stop = start + array.shape[axis]
        copy_into(out[(slice(None),) * axis + (slice(start, stop),)], array)
        start = stop
    return out


def joined_view(arrays, axis):
    """The arrays joined along `axis` as a view, when they lie side by side in one memory
    (layout.side_by_side); else None."""
    if side_by_side(arrays, axis, lambda array: array.offset):
        return arrays[0].view_as(joined_shape(arrays, axis), arrays[0].strides)
    return None


def stack(arrays, axis):
    shape = arrays[0].shape[:axis] + (len(arrays),) + arrays[0].shape[axis:]
    out = empty(shape, arrays[0].dtype)
    for k, array in enumerate(arrays):
        copy_into(out[(slice(None),) * axis + (k,)], array)
    return out


def broadcast_to(array, shape):
    if array.shape == tuple(shape):
        return array
    return array.view_as(tuple(map(int, shape)), tuple(broadcast_strides(array.shape, array.strides, shape)))


def strided_operands(arrays, shape):
    """As backends.cpu.strided_operands; strides and loop shape come as tuples (kernel arguments
    passed by value: a host array would be copied to the GPU and back at every launch).
    strides is flat: operand k's stride along loop dim d is strides[k * ndim + d]."""
    shape = tuple(shape)
    if all(a.shape == shape and a.is_contiguous for a in arrays):   # the usual case: one flat loop
        return [a.storage(a.size) for a in arrays], (1,) * len(arrays), (math.prod(shape),)
    element_strides = [broadcast_strides(a.shape, a.strides, shape) for a in arrays]
    loop_shape, loop_strides, spans = merged_loop(shape, element_strides)
    storages = [a.storage(span) for a, span in zip(arrays, spans)]
    return storages, tuple(s for strides in loop_strides for s in strides), tuple(loop_shape)


def add(a, b):
    a, b = contiguous(a), contiguous(b)
    out = empty(a.shape, a.dtype)
    launch_elementwise(add_arrays_kernel, out.size, a.storage(a.size), b.storage(b.size), out.storage(out.size))
    return out


def add_into(total, b):
    """total += b, in place (total: packed rows no one else reads, as autograd's own running sum of
    a gradient, which `add` made)."""
    b = contiguous(b)
    launch_elementwise(add_arrays_kernel, total.size, total.storage(total.size), b.storage(b.size),
                       total.storage(total.size))


def matmul(a, b, bias=None, out=None, row_sums=None):
    """Batched matrix product with broadcast batch dims [plus a bias over the last dim], on the
    hand-written tiled GEMM (gemm.py), which adds the bias as it writes C [into `out`, any view
    of the product's shape: the GEMM writes packed rows, so a strided one gets a copy] [and, for
    one matrix A, the sums of A's rows into the packed `row_sums`, by extra blocks of the same
    launch (gemm.sum_rows)]."""
    bias = None if bias is None else contiguous(bias)
    if row_sums is not None:
        check_row_sums(a, row_sums, packed=True)
    if out is None or out.is_contiguous:
        return gemm.matmul(a, b, empty if out is None else lambda shape, dtype: out, bias, row_sums)
    copy_into(out, gemm.matmul(a, b, empty, bias, row_sums))
    return out


def uniform(shape, generator, dtype):
    """Uniform [0, 1) numbers from minisora's host generator (the same stream as on the CPU)."""
    return from_host(generator.random(shape, dtype=dtype))


def run(kernel, *arguments):
    """Launch the GPU twin of `kernel`; DeviceArrays (also inside tuples) reach it as numba.cuda
    arrays of their elements (gpu.launch)."""
    if not kernel.has("cuda"):
        raise NotImplementedError(f"kernel {kernel.name} has no GPU version")
    return kernel.on("cuda")(*arguments)
