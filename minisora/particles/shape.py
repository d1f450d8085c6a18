"""Shape particles: they move numbers, never change them.

    reshape   y = x seen with a new shape         dx = dy reshaped back
    permute   y[i_p0, i_p1, ...] = x[i_0, i_1, ...]   dx = dy permuted by the inverse order
    cat       y = [x_1; x_2; ...] along dim       dx_k = the slice of dy that x_k filled
    split     y_1, y_2, ... = slices of x        dx = [dy_1; dy_2; ...] (cat's mirror: several results)
    stack     y[k] = x_k along a new dim          dx_k = dy[k]
    expand    y = x repeated along size-1 or new leading dims (a view)   dx = dy summed over them

No arithmetic happens, so no loop kernel is needed: the backend makes a view (reshape,
permute, split, expand) or copies blocks of memory (cat, stack), on whatever device the data
lives. Only expand's backward adds: the sum kernel of reductions.py.
"""
import math

import numpy as np

from .. import errors
from .arithmetic import reference_sum_to
from .particle import Particle, describe
from .reductions import sum_kernel, sum_to_shape


class Reshape(Particle):
    name = "reshape"
    runs_on = ("cpu", "cuda")   # views and copies of the backends themselves
    formula, gradient = "y = x with a new shape (same elements, row-major order)", "dx = dy reshaped to x's shape"

    @classmethod
    def forward(cls, ctx, x, shape):
        shape = resolve_shape(cls, x, shape)
        ctx.shape = x.shape
        # A view when the memory allows (also of many strided views); else a packed copy.
        return ctx.backend.reshape(x, shape)

    @staticmethod
    def backward(ctx, grad_y):
        return (ctx.backend.reshape(grad_y, ctx.shape),)

    reference = staticmethod(lambda x, shape: np.reshape(x, shape))
    reference_backward = staticmethod(lambda x, grad_y, shape: (np.reshape(grad_y, x.shape),))


def resolve_shape(particle, x, shape):
    shape = tuple(int(n) for n in shape)
    unknown = [i for i, n in enumerate(shape) if n == -1]
    if len(unknown) > 1 or any(n < -1 for n in shape):
        particle.fail(f"invalid shape {shape}: at most one -1 and no other negative sizes")
    known = math.prod(n for n in shape if n != -1)
    if unknown:
        if known == 0 or x.size % known:
            particle.fail(f"cannot reshape {describe(x)} ({x.size} elements) to {shape}", errors.ShapeError)
        shape = tuple(x.size // known if n == -1 else n for n in shape)
    if math.prod(shape) != x.size:
        particle.fail(f"cannot reshape {describe(x)} ({x.size} elements) to {shape}", errors.ShapeError)
    return shape


class Permute(Particle):
    name = "permute"
    runs_on = ("cpu", "cuda")   # views and copies of the backends themselves
    formula, gradient = "y = x with its dims reordered (transpose, .T)", "dx = dy with the inverse order"

    @classmethod
    def forward(cls, ctx, x, dims):
        dims, ndim = tuple(map(int, dims)), x.ndim
        if sorted(d % max(ndim, 1) for d in dims) != list(range(ndim)) or any(not -ndim <= d < ndim for d in dims):
            cls.fail(f"dims {dims} are not a reordering of the {ndim} dims of {describe(x)}", IndexError)
        dims = tuple(d % ndim for d in dims)
        inverse = [0] * ndim
        for position, d in enumerate(dims):
            inverse[d] = position
        ctx.inverse = tuple(inverse)
        return ctx.backend.permute(x, dims)

    @staticmethod
    def backward(ctx, grad_y):
        return (ctx.backend.permute(grad_y, ctx.inverse),)

    reference = staticmethod(lambda x, dims: np.transpose(x, dims))
    reference_backward = staticmethod(lambda x, grad_y, dims: (np.transpose(grad_y, np.argsort(dims)),))


class Expand(Particle):
    name = "expand"
    formula, gradient = "y = x repeated along its size-1 dims and new leading dims (stride 0)", \
        "dx = dy summed over the repeated dims"
    kernels = (sum_kernel,)

    @classmethod
    def forward(cls, ctx, x, shape):
        shape = tuple(int(n) for n in shape)
        lead = len(shape) - x.ndim
        if lead < 0:
            cls.fail(f"cannot expand {describe(x)} to {shape}: fewer dims than the tensor has", errors.ShapeError)
        # -1 keeps a dim's size (not allowed for the new leading dims, as in PyTorch)
        full = tuple(x.shape[d - lead] if n == -1 and d >= lead else n for d, n in enumerate(shape))
        for d, n in enumerate(full):
            have = x.shape[d - lead] if d >= lead else 1
            if n < 0 or (have != n and have != 1):
                cls.fail(f"cannot expand {describe(x)} to {shape}: dim {d} has size {have}, which only "
                         f"expands from 1", errors.ShapeError)
        ctx.shape = x.shape
        return ctx.backend.broadcast_to(x, full)

    @staticmethod
    def backward(ctx, grad_y):
        return (sum_to_shape(ctx, grad_y, ctx.shape),)

    reference = staticmethod(lambda x, shape: np.broadcast_to(x, tuple(
        x.shape[d - (len(shape) - x.ndim)] if n == -1 else n for d, n in enumerate(shape))))
    reference_backward = staticmethod(lambda x, grad_y, shape: (reference_sum_to(grad_y, x.shape),))


def check_same_kind(particle, arrays, dim, new_dim):
    first = arrays[0]
    ndim = first.ndim + (1 if new_dim else 0)
    if not isinstance(dim, (int, np.integer)):
        particle.fail(f"dim must be an integer, got {dim!r}", TypeError)
    if not -ndim <= dim < ndim or ndim == 0:
        particle.fail(f"dim {dim} is out of range for tensors of {first.ndim} dims", IndexError)
    dim %= ndim
    for a in arrays:
        if a.dtype != first.dtype:
            particle.fail(f"all tensors must share a dtype, got {describe(first)} and {describe(a)}", TypeError)
        same = a.shape == first.shape if new_dim else (
            a.ndim == first.ndim and all(n == m for d, (n, m) in enumerate(zip(a.shape, first.shape)) if d != dim)
        )
        if not same:
            rule = "the same shape" if new_dim else f"the same shape except along dim {dim}"
            particle.fail(f"tensors must have {rule}, got {describe(first)} and {describe(a)}", errors.ShapeError)
    return dim


class Cat(Particle):
    name = "cat"
    runs_on = ("cpu", "cuda")   # views and copies of the backends themselves
    formula, gradient = "y = [x_1, x_2, ...] joined along dim", "dx_k = the slice of dy that x_k filled"

    @classmethod
    def forward(cls, ctx, *arrays, dim=0):
        dim = check_same_kind(cls, arrays, dim, new_dim=False)
        ctx.dim, ctx.sizes = dim, [a.shape[dim] for a in arrays]
        return ctx.backend.concatenate(arrays, dim)

    @staticmethod
    def backward(ctx, grad_y):
        grads, start = [], 0
        for size in ctx.sizes:
            index = (slice(None),) * ctx.dim + (slice(start, start + size),)
            grads.append(grad_y[index])
            start += size
        return tuple(grads)

    reference = staticmethod(lambda *arrays, dim=0: np.concatenate(arrays, axis=dim))

    @staticmethod
    def reference_backward(*arrays_and_grad, dim=0):
        *arrays, grad_y = arrays_and_grad
        edges = np.cumsum([a.shape[dim] for a in arrays])[:-1]
        return tuple(np.split(grad_y, edges, axis=dim))


class Split(Particle):
    name = "split"
    runs_on = ("cpu", "cuda")   # views and copies of the backends themselves
    formula = "y_1, y_2, ... = x cut into consecutive slices along dim (views, no copy)"
    gradient = "dx = [dy_1; dy_2; ...] joined along dim (zeros for a slice nothing used)"

    @classmethod
    def forward(cls, ctx, x, sizes, dim=0):
        if x.ndim == 0 or not isinstance(dim, (int, np.integer)) or not -x.ndim <= dim < x.ndim:
            cls.fail(f"dim {dim} is out of range for {describe(x)}", IndexError)
        dim = int(dim) % x.ndim
        sizes = tuple(int(n) for n in sizes)
        if not sizes or min(sizes) < 0 or sum(sizes) != x.shape[dim]:
            cls.fail(f"sizes {list(sizes)} must be >= 0 and add up to {x.shape[dim]}, the length of dim {dim} "
                     f"of {describe(x)}")
        ctx.pieces, ctx.shape, ctx.dtype, ctx.dim = slices(sizes, dim), x.shape, x.dtype, dim
        return tuple(x[piece] for piece in ctx.pieces)

    @staticmethod
    def backward(ctx, grads):
        backend = ctx.backend
        if all(g is not None for g in grads):
            # The gradients may already lie side by side in one memory (the GPU's fused
            # attention writes dq, dk, dv so): then they are dx as they are, with no copy.
            joined = backend.joined_view(grads, ctx.dim)
            return (joined if joined is not None else backend.concatenate(grads, ctx.dim),)
        grad_x = backend.zeros(ctx.shape, ctx.dtype)
        for piece, grad in zip(ctx.pieces, grads):
            if grad is not None:
                backend.copy_into(grad_x[piece], grad)
        return (grad_x,)

    @staticmethod
    def reference(x, sizes, dim=0):
        return tuple(np.split(x, np.cumsum(sizes)[:-1], axis=dim))

    @staticmethod
    def reference_backward(x, grads, sizes, dim=0):
        return (np.concatenate(grads, axis=dim),)


class Unbind(Split):
    """split into pieces of 1, each without the dim: views, and a backward that is split's."""

    name = "unbind"
    formula = "y_k = x[k] along dim, for every k (views, no copy)"
    gradient = "dx = [dy_0, dy_1, ...] stacked along dim (zeros for a piece nothing used)"

    @classmethod
    def forward(cls, ctx, x, dim=0):
        fits = x.ndim and isinstance(dim, (int, np.integer)) and -x.ndim <= dim < x.ndim
        pieces = super().forward(ctx, x, sizes=[1] * (x.shape[dim] if fits else 1), dim=dim)   # (split checks dim)
        return tuple(piece[(slice(None),) * ctx.dim + (0,)] for piece in pieces)

    @staticmethod
    def backward(ctx, grads):
        backend = ctx.backend
        return Split.backward(ctx, tuple(None if g is None else backend.reshape(
            backend.contiguous(g), g.shape[:ctx.dim] + (1,) + g.shape[ctx.dim:]) for g in grads))

    @staticmethod
    def reference(x, dim=0):
        return tuple(np.moveaxis(x, dim, 0))

    @staticmethod
    def reference_backward(x, grads, dim=0):
        return (np.stack(grads, axis=dim),)


def slices(sizes, dim):
    """The index of each consecutive piece of these sizes along dim."""
    pieces, start = [], 0
    for size in sizes:
        pieces.append((slice(None),) * dim + (slice(start, start + size),))
        start += size
    return pieces


class Stack(Particle):
    name = "stack"
    runs_on = ("cpu", "cuda")   # views and copies of the backends themselves
    formula, gradient = "y[k] = x_k along a new dim", "dx_k = dy[k] along that dim"

    @classmethod
    def forward(cls, ctx, *arrays, dim=0):
        dim = check_same_kind(cls, arrays, dim, new_dim=True)
        ctx.dim, ctx.count = dim, len(arrays)
        return ctx.backend.stack(arrays, dim)

    @staticmethod
    def backward(ctx, grad_y):
        return tuple(grad_y[(slice(None),) * ctx.dim + (k,)] for k in range(ctx.count))

    reference = staticmethod(lambda *arrays, dim=0: np.stack(arrays, axis=dim))

    @staticmethod
    def reference_backward(*arrays_and_grad, dim=0):
        *arrays, grad_y = arrays_and_grad
        return tuple(np.take(grad_y, k, axis=dim) for k in range(len(arrays)))


class Cast(Particle):
    name = "cast"
    runs_on = ("cpu", "cuda")   # views and copies of the backends themselves
    formula, gradient = "y = x converted to another dtype", "dx = dy converted back to x's dtype"

    @classmethod
    def forward(cls, ctx, x, dtype):
        ctx.dtype = x.dtype
        return ctx.backend.astype(x, np.dtype(dtype))

    @staticmethod
    def backward(ctx, grad_y):
        return (ctx.backend.astype(grad_y, ctx.dtype),)

    reference = staticmethod(lambda x, dtype: x.astype(dtype))
    reference_backward = staticmethod(lambda x, grad_y, dtype: (grad_y.astype(x.dtype),))
