"""The CPU backend: memory is a NumPy array, compute is a Numba-compiled loop (or BLAS).

Particles reach memory only through these functions, so a GPU backend with the same names
runs every particle unchanged.
"""
import functools
import math

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .. import errors
from .kernel import kernel, scalar as scalar_helper
from .layout import broadcast_strides, check_row_sums, joined_shape, merged_leading, merged_loop, side_by_side

name = "cpu"
array_type = np.ndarray   # what a tensor's memory is here
# Parameters one optimizer kernel call updates (optim/optimizer.py). A call costs microseconds
# here, while every place of the tuples it takes adds to the kernel's compile time: one each.
tensors_per_call = 1


def is_array(value):
    return isinstance(value, np.ndarray)


def is_view(array):
    """True when the array looks into memory that another array owns."""
    return array.base is not None


def shares_memory(a, b):
    """Whether the two arrays may hold some of the same memory."""
    return np.may_share_memory(a, b)


def is_contiguous(array):
    return array.flags.c_contiguous


def asarray(value, dtype=None):
    """A fresh, contiguous, writeable copy of anything NumPy can read (lists, scalars, arrays)."""
    return np.array(value, dtype=dtype, order="C", copy=True)


def copy_into(target, values):
    """Overwrite `target` in place with `values` (cast to target's dtype)."""
    np.copyto(target, values, casting="unsafe")


def to_numpy(array):
    return array


def arange(start, step, count, dtype):
    """The integers start, start + step, ... (count of them)."""
    return np.arange(start, start + step * count, step, dtype=dtype)


def empty(shape, dtype):
    return np.empty(shape, dtype=dtype)


def zeros(shape, dtype):
    return np.zeros(shape, dtype=dtype)


def full(shape, value, dtype):
    return np.full(shape, value, dtype=dtype)


def scalar(value, dtype):
    """A 0-d array holding one number (Python scalars meeting a tensor become these)."""
    return np.array(value, dtype=dtype)


def astype(array, dtype):
    return array if array.dtype == dtype else array.astype(dtype)


def contiguous(array):
    """The array itself when its memory is already one C-ordered block, else a packed copy."""
    return array if array.flags.c_contiguous else np.ascontiguousarray(array)


def flat(array):
    """A 1-D view of a contiguous array (kernels loop over flat memory)."""
    return array.reshape(-1)


def reshape(array, shape):
    return array.reshape(shape)


def permute(array, axes):
    return array.transpose(axes)


def concatenate(arrays, axis):
    return np.concatenate(arrays, axis=axis)


def joined_view(arrays, axis):
    """The arrays joined along `axis` as a view, when they lie side by side in one memory
    (layout.side_by_side); else None."""
    if side_by_side(arrays, axis, lambda array: array.ctypes.data):
        return as_strided(arrays[0], joined_shape(arrays, axis), arrays[0].strides)
    return None


def stack(arrays, axis):
    return np.stack(arrays, axis=axis)


def broadcast_to(array, shape):
    """A view of `array` repeated along new or size-1 dims (stride 0), like np.broadcast_to."""
    if array.shape == tuple(shape):
        return array
    strides = broadcast_strides(array.shape, array.strides, shape)
    # Built by hand rather than np.broadcast_to so the view stays writeable-typed: Numba
    # compiles a separate copy of every kernel for read-only arrays. Nothing writes to it.
    return as_strided(array, shape=tuple(shape), strides=tuple(strides))


def strided_operands(arrays, shape):
    """Describe each array, broadcast to `shape`, as flat storage plus element strides.

    Returns (storages, strides, loop_shape): `storages[k]` is a 1-D view of array k's memory,
    `strides[k, d]` how many elements to step in it per step along loop dim d (0 where the
    array is broadcast), and `loop_shape` the shape after merging dims that can be walked as
    one (a contiguous same-shape case becomes a single flat loop).
    """
    shape = tuple(shape)
    if all(a.shape == shape and a.flags.c_contiguous for a in arrays):   # the usual case: one flat loop
        return [a.reshape(-1) for a in arrays], *flat_loop(len(arrays), math.prod(shape))
    prepared = []
    for array in arrays:
        if array.ndim and (min(array.strides) < 0 or any(s % array.itemsize for s in array.strides)):
            array = np.ascontiguousarray(array)
        prepared.append(array)
    element_strides = [broadcast_strides(a.shape, [s // a.itemsize for s in a.strides], shape) for a in prepared]
    loop_shape, loop_strides, spans = merged_loop(shape, element_strides)
    storages = []
    for array, span in zip(prepared, spans):
        if array.flags.c_contiguous and span == array.size:
            storages.append(array.reshape(-1))
        else:
            storages.append(as_strided(array, shape=(span,), strides=(array.itemsize,)))
    return storages, np.array(loop_strides, dtype=np.int64), np.array(loop_shape, dtype=np.int64)


@functools.lru_cache(maxsize=256)
def flat_loop(count, size):
    """strided_operands' strides and loop shape for `count` packed operands of one shape: one
    loop over `size` elements, every operand stepping 1 (kept: the kernels only read them)."""
    return np.ones((count, 1), dtype=np.int64), np.array([size], dtype=np.int64)


def add(a, b):
    """a + b into a new array (gradient accumulation; particles use kernels)."""
    return a + b


def matmul(a, b, bias=None, out=None, row_sums=None):
    """Matrix product on BLAS (batched over leading dims, NumPy broadcasting rules) [plus a bias
    over the last dim, added in place after: BLAS through NumPy cannot add it as it writes]
    [into `out`, any view of the product's shape] [and, for one matrix A, the sums of A's rows
    into `row_sums` (linear's bias gradient, in dW = dy^T x)]."""
    if bias is not None and out is not None:
        raise errors.ValueError("matmul: a bias and an out array together are not supported")
    if row_sums is not None:
        check_row_sums(a, row_sums)
    product = np.matmul(a, b, out=out)
    if bias is not None:
        add_bias.cpu()(product.reshape(merged_leading(product.shape, 1)), bias)
    if row_sums is not None:
        add_rows.cpu()(a, row_sums)
    return product


@kernel
def add_bias(y, bias):
    """y[r, c] += bias[c], in one pass (NumPy's broadcasting += took twice as long)."""
    rows, columns = y.shape
    for r in range(rows):
        for c in range(columns):
            y[r, c] += bias[c]


@kernel
def add_rows(a, row_sums):
    """row_sums[r] = sum over k of a[r, k], added in float64 (a is dy^T, a transposed view: the
    loop walks k outside, so that the inner loop reads dy's rows as they lie in memory)."""
    rows, columns = a.shape
    totals = np.zeros(rows, np.float64)
    for k in range(columns):
        for r in range(rows):
            totals[r] += a[r, k]
    for r in range(rows):
        row_sums[r] = totals[r]


def uniform(shape, generator, dtype):
    return generator.random(shape, dtype=dtype)


def run(kernel, *arguments):
    return kernel.cpu()(*arguments)


@scalar_helper
def advance(index, shape, strides, positions):
    """Step a multi-index over all but the last loop dim, moving each operand's position.

    Like an odometer: bump the last outer digit; when it rolls over, reset it and carry left.
    """
    d = shape.size - 2
    while d >= 0:
        index[d] += 1
        for k in range(positions.size):
            positions[k] += strides[k, d]
        if index[d] < shape[d]:
            return
        for k in range(positions.size):
            positions[k] -= strides[k, d] * shape[d]
        index[d] = 0
        d -= 1
