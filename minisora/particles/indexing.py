"""Indexing and slicing: y = x[index].

    basic index (ints, slices, None, ...):   y is a view of x      dx = 0 with dx[index] = dy
    advanced index (integer or bool arrays): y[i] = x_flat[p[i]]   dx_flat[p[i]] += dy[i]

Axes follow PyTorch where it differs from NumPy: an integer beside index arrays is applied first
(`take`), so x[0, :, [0, 1]] of a (2, 3, 4, 5) x is (3, 2, 5).

An advanced index may name the same element twice (x[[0, 0]]), so its backward must add,
not assign: a scatter-add loop. Where each output element comes from (`p`, its position in
x's flat memory) is worked out once, with every index range-checked, before any kernel runs:
compiled loops do not check bounds.
"""
import numpy as np

from ..backends.gpu import cuda, fill, gpu_kernel, launch_elementwise
from ..backends.kernel import kernel
from .particle import Particle, describe


@kernel
def gather_kernel(x, positions, y):
    for i in range(positions.size):
        y[i] = x[positions[i]]


@kernel
def scatter_add_kernel(grad_y, positions, grad_x):
    grad_x[:] = 0
    for i in range(positions.size):
        grad_x[positions[i]] += grad_y[i]


@gpu_kernel
def gather_gpu(x, positions, y):
    start, step = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, positions.size, step):
        y[i] = x[positions[i]]


@gpu_kernel
def scatter_add_gpu(grad_y, positions, grad_x):
    start, step = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, positions.size, step):
        cuda.atomic.add(grad_x, positions[i], grad_y[i])


@gather_kernel.gpu
def launch_gather(x, positions, y):
    launch_elementwise(gather_gpu, positions.size, x, positions, y)


@scatter_add_kernel.gpu
def launch_scatter_add(grad_y, positions, grad_x):
    fill(grad_x, 0.0)
    launch_elementwise(scatter_add_gpu, positions.size, grad_y, positions, grad_x)


def is_basic(index):
    parts = index if isinstance(index, tuple) else (index,)
    return all(p is None or p is Ellipsis or isinstance(p, (int, np.integer, slice)) for p in parts)


def take_place(array, index):
    """The index into array's flat memory that `take(array, index)` reads: what a write through the
    same index (x[index] = v) must write, in PyTorch's axis order."""
    return np.unravel_index(take(np.arange(array.size).reshape(array.shape), index), array.shape)


def take(array, index):
    """array[index] as PyTorch reads it. The one difference from NumPy: an integer beside index
    arrays picks its element first, before the arrays are applied, so it never counts as an array.
    zeros(2, 3, 4, 5)[0, :, [0, 1]] is (3, 2, 5) here and in PyTorch; NumPy moves the broadcast
    (0, [0, 1]) pair to the front: (2, 3, 5)."""
    parts = index if isinstance(index, tuple) else (index,)
    integer = [isinstance(p, (int, np.integer)) and not isinstance(p, (bool, np.bool_)) for p in parts]
    if is_basic(parts) or not any(integer):
        return array[index]
    first, rest = [], []
    for part, is_integer in zip(parts, integer):
        if is_integer:
            first.append(part)
        elif part is Ellipsis:
            first.append(part)
            rest.append(part)
        elif part is None:
            rest.append(part)
        else:   # a slice or an index array: untouched by the first step (a bool array spans its ndim dims)
            first.extend([slice(None)] * max(np.ndim(part), 1) if np.asarray(part).dtype == np.bool_ else [slice(None)])
            rest.append(part)
    return array[tuple(first)][tuple(rest)]


class Index(Particle):
    name = "index"
    formula, gradient = "y = x[index]", "dx = 0 with dy added at the indexed places"
    kernels = (gather_kernel, scatter_add_kernel)

    @classmethod
    def forward(cls, ctx, x, index=()):
        backend = ctx.backend
        ctx.shape, ctx.dtype, ctx.index = x.shape, x.dtype, index
        if is_basic(index):
            ctx.positions = None
            try:
                return x[index]
            except IndexError as error:
                cls.fail(f"{error} (indexing {describe(x)} with {index!r})", IndexError)
        try:
            positions = take(np.arange(x.size, dtype=np.int64).reshape(x.shape), index)
        except IndexError as error:
            cls.fail(f"{error} (indexing {describe(x)} with {index!r})", IndexError)
        ctx.positions = backend.asarray(positions)
        y = backend.empty(positions.shape, x.dtype)
        if y.size:
            ctx.run(gather_kernel, backend.flat(backend.contiguous(x)), backend.flat(ctx.positions), backend.flat(y))
        return y

    @staticmethod
    def backward(ctx, grad_y):
        backend = ctx.backend
        grad_y = backend.astype(grad_y, ctx.dtype)
        if ctx.positions is None:
            grad_x = backend.zeros(ctx.shape, ctx.dtype)
            grad_x[ctx.index] = grad_y
            return (grad_x,)
        grad_x = backend.empty(ctx.shape, ctx.dtype)
        ctx.run(scatter_add_kernel, backend.flat(backend.contiguous(grad_y)), backend.flat(ctx.positions),
                backend.flat(grad_x))
        return (grad_x,)

    reference = staticmethod(take)

    @staticmethod
    def reference_backward(x, grad_y, index=()):
        grad_x = np.zeros(x.size, x.dtype)
        np.add.at(grad_x, take(np.arange(x.size).reshape(x.shape), index), grad_y)
        return (grad_x.reshape(x.shape),)
