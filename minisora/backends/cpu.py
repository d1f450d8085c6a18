"""The CPU backend: memory is a NumPy array, compute is a Numba-compiled loop (or BLAS).

Particles reach memory only through these functions, so a GPU backend with the same names
runs every particle unchanged.
"""
import functools
import math

import numpy as np
from numpy.lib.stride_tricks import as_strided

import numba
from numba import prange

from .. import config, errors
from . import blas, threads
from .blas import gemm
from .kernel import kernel, scalar as scalar_helper, spent
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


def blas_ready(array):
    """The array itself when BLAS can read its matrices where they lie (a kernel's own products:
    backends/blas.py), else a packed copy."""
    return blas.blas_ready(array)


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
    """a + b into a new array (gradient accumulation; particles use kernels). (NumPy gives a
    number, not an array, for two 0-d arrays: asarray keeps it an array that add_into can change.)"""
    return np.asarray(a + b)


def add_into(total, b):
    """total += b, in place (total: an array no one else reads, as autograd's own running sum of a
    gradient, which `add` made)."""
    np.add(total, b, out=total)


def matmul(a, b, bias=None, out=None, row_sums=None):
    """Matrix product on BLAS (batched over leading dims, NumPy broadcasting rules) [plus a bias
    over the last dim] [into `out`, any view of the product's shape] [and, for one matrix A, the
    sums of A's rows into `row_sums` (linear's bias gradient, in dW = dy^T x)].

    Products of at least PARALLEL_FROM multiply-adds run where ms.config.cpu_products says
    (on_every_core); smaller ones through NumPy, whose BLAS keeps them on one thread."""
    if bias is not None and out is not None:
        raise errors.ValueError("matmul: a bias and an out array together are not supported")
    if spent.watchers:   # a trace counts time in products (kernel.TimeSpent)
        with spent.counting("products"):
            return product_of(a, b, bias, out, row_sums)
    return product_of(a, b, bias, out, row_sums)


def product_of(a, b, bias, out, row_sums):
    if row_sums is not None:
        check_row_sums(a, row_sums)
    if on_every_core() and multiply_adds_at_least(a, b) >= PARALLEL_FROM:
        return products_on_every_core(a, b, bias, out, row_sums, tuple(np.broadcast_shapes(a.shape[:-2], b.shape[:-2])))
    product = np.matmul(a, b, out=out)
    if bias is not None:
        add_bias.cpu()(product.reshape(merged_leading(product.shape, 1)), bias)
    if row_sums is not None:
        add_rows_kernel.cpu()(a, row_sums)
    return product


# OpenBLAS's own line: below 2^18 multiply-adds it runs a product on one thread (its
# GEMM_MULTITHREAD_THRESHOLD x 65536), so NumPy's BLAS never wakes its threads for them.
PARALLEL_FROM = 1 << 18
MIN_BLOCK = 16     # rows or columns of C a task, at least


def multiply_adds_at_least(a, b):
    """n k m times the larger operand's count of matrices: at most the product's multiply-adds
    (a broadcast batch may hold more matrices than either operand), and cheap to tell."""
    n, k, m = a.shape[-2], a.shape[-1], b.shape[-1]
    return n * k * m * max(a.size // max(n * k, 1), b.size // max(k * m, 1))


def on_every_core():
    """Whether large products run on Numba's threads (products_kernel) rather than NumPy's.

    NumPy's threaded BLAS is as fast for products alone, and costs no compiling (a parallel
    kernel takes a second or two to compile at a cold start). But its threads spin for a while
    after each product before they sleep (OpenBLAS: up to ~0.1 s), and a parallel minisora
    kernel run next (attention) then shares its cores with them: 2-10x slower
    (benchmarks/RESULTS.md). So "auto" keeps NumPy's until the first parallel kernel has run;
    from then on every large product runs on Numba's threads too, and one pool of threads does
    all the work, as PyTorch's one OpenMP pool does."""
    choice = config.cpu_products
    return choice == "every_core" or (choice == "auto" and threads.parallel_kernel_ran)


def products_on_every_core(a, b, bias, out, row_sums, batch):
    """a @ b [+ bias] [into out] [row sums] by products_kernel, C cut into blocks enough for
    every core."""
    rows, columns = a.shape[-2], b.shape[-1]
    count = math.prod(batch)
    # Every array reaches the kernel packed (a transposed operand as its packed transpose and a
    # flag): one compiled kernel per dtype, where each layout of its arrays would compile one more
    # (a second each, at a cold start)
    (a3, a_transposed), (b3, b_transposed) = (
        packed_or_transposed(broadcast_to(x, batch + x.shape[-2:]).reshape((count,) + x.shape[-2:])) for x in (a, b))
    target = out if out is not None and out.flags.c_contiguous else np.empty(batch + (rows, columns), a.dtype)
    out3 = target.reshape((count, rows, columns))
    # enough blocks that every core gets work, cut along C's longer side (each block then keeps
    # the widest product BLAS can run), and no block under MIN_BLOCK rows or columns
    wanted = -(-numba.get_num_threads() // count)
    along_rows = rows >= columns
    blocks = max(1, min(wanted, (rows if along_rows else columns) // MIN_BLOCK))
    unused = np.empty(1, a.dtype)
    products_kernel.cpu()(a3, a_transposed, b3, b_transposed, bias if bias is not None else unused, bias is not None,
                          row_sums if row_sums is not None else unused, row_sums is not None, out3,
                          blocks if along_rows else 1, 1 if along_rows else blocks)
    if out is not None and target is not out:
        np.copyto(out, target)
        return out
    return target


def packed_or_transposed(x):
    """(x, False) for a packed x (..., n, k), (its packed transpose, True) for a transposed view of
    one (W^T in linear, dy^T in dW), else (a packed copy, False)."""
    if x.flags.c_contiguous:
        return x, False
    swapped = np.swapaxes(x, -1, -2)
    if swapped.flags.c_contiguous:
        return swapped, True
    return np.ascontiguousarray(x), False


@kernel(parallel=True)
def products_kernel(a, a_transposed, b, b_transposed, bias, has_bias, row_sums, has_row_sums, out, row_blocks,
                    column_blocks):
    """out[p] = a[p] @ b[p] [+ bias] for every matrix p of a batch, each out[p] cut into
    row_blocks x column_blocks blocks: a task per block, the tasks spread over every core, each
    one BLAS call (blas.gemm) on its rows of a[p], its columns of b[p] and its block of out[p],
    where they lie. [bias: written first, the product added to it.] [row_sums: the sums of a[0]'s
    rows, each task its own rows.]"""
    count, rows, columns = out.shape
    row_step, column_step = -(-rows // row_blocks), -(-columns // column_blocks)
    per_matrix = row_blocks * column_blocks
    for task in prange(count * per_matrix):
        p, block = task // per_matrix, task % per_matrix
        left = a[p].T if a_transposed else a[p]
        right = b[p].T if b_transposed else b[p]
        first_row, first_column = block // column_blocks * row_step, block % column_blocks * column_step
        end_row, end_column = min(rows, first_row + row_step), min(columns, first_column + column_step)
        if first_row >= end_row or first_column >= end_column:
            continue
        if has_bias:   # C starts as the bias and BLAS adds the product to it (beta = 1), as PyTorch's addmm
            for i in range(first_row, end_row):
                row = out[p, i]   # (a row at a time: the loop then runs as vector instructions)
                for j in range(first_column, end_column):
                    row[j] = bias[j]
        gemm(left[first_row:end_row], right[:, first_column:end_column],
             out[p, first_row:end_row, first_column:end_column], 1.0 if has_bias else 0.0)
        if has_row_sums and first_column == 0:
            add_rows(left[first_row:end_row], row_sums[first_row:end_row])


@kernel
def add_bias(y, bias):
    """y[r, c] += bias[c], in one pass (NumPy's broadcasting += took twice as long)."""
    rows, columns = y.shape
    for r in range(rows):
        for c in range(columns):
            y[r, c] += bias[c]


@scalar_helper
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


add_rows_kernel = kernel(add_rows)   # the same loop, launched on its own (after a NumPy product)


def uniform(shape, generator, dtype):
    return generator.random(shape, dtype=dtype)


def run(kernel, *arguments):
    if spent.watchers:   # a trace counts time in kernels (kernel.TimeSpent)
        with spent.counting("kernels"):
            return kernel.cpu()(*arguments)
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
