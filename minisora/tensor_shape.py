"""A Tensor's shape and indexing methods: views, reshapes, picks and in-place writes.

Tensor (tensor.py) takes these from ShapeMethods; each is one particle call (reshape, expand,
permute, split, index) or a composition of them (flatten, flip, gather, tril, masked_fill).
"""
import math

import numpy as np

from . import autograd, errors
from . import tensor as tensors   # (tensor.py imports this file first: Tensor is looked up when a method runs)
from .dims import checked_dim, dim_or_axis
from .particles import arithmetic, indexing
from .particles import shape as shape_particles   # (not `shape`: the tensor property and reshape's argument)


class ShapeMethods:
    __slots__ = ()   # (Tensor keeps its fields in slots: a mixin with none adds no __dict__)

    def reshape(self, *shape):
        shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        return autograd.call(shape_particles.Reshape, self, shape=shape)

    view = reshape

    def flatten(self, start_dim=0, end_dim=-1):
        """The dims start_dim..end_dim merged into one (all of them by default; a 0-d tensor becomes (1,))."""
        if self.ndim == 0:
            return self.reshape(1)
        start, end = checked_dim("flatten", start_dim, self.ndim), checked_dim("flatten", end_dim, self.ndim)
        if start > end:
            raise errors.IndexError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
        return self.reshape(self.shape[:start] + (math.prod(self.shape[start:end + 1]),) + self.shape[end + 1:])

    def expand(self, *sizes):
        """A view repeated along size-1 dims and new leading dims (-1 keeps a size), without copying."""
        sizes = sizes[0] if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)) else sizes
        return autograd.call(shape_particles.Expand, self, shape=tuple(sizes))

    def expand_as(self, other):
        return self.expand(other.shape)

    def flip(self, dims):
        """The order of the elements along `dims` reversed: an index array per dim (reversed along
        `dims`, in order elsewhere), shaped to broadcast into an open grid, so every dim keeps its place."""
        dims = (dims,) if isinstance(dims, (int, np.integer)) else tuple(dims)
        flipped = {checked_dim("flip", d, self.ndim) for d in dims}
        if len(flipped) != len(dims):
            raise errors.ValueError(f"flip: dims {dims} repeat a dim")
        places = tuple((np.arange(n)[::-1] if d in flipped else np.arange(n)).reshape(
            [-1 if k == d else 1 for k in range(self.ndim)]) for d, n in enumerate(self.shape))
        return autograd.call(indexing.Index, self, index=places) if flipped else self

    def tril(self, diagonal=0):
        """The lower triangle of the last two dims (j <= i + diagonal) kept, the rest 0."""
        return self._triangle("tril", np.tril, diagonal)

    def triu(self, diagonal=0):
        """The upper triangle of the last two dims (j >= i + diagonal) kept, the rest 0."""
        return self._triangle("triu", np.triu, diagonal)

    def _triangle(self, op, numpy_triangle, diagonal):
        if self.ndim < 2:
            raise errors.ValueError(f"{op}: needs a tensor of at least 2 dims, got shape {self.shape}")
        keep = tensors.Tensor(numpy_triangle(np.ones(self.shape[-2:], bool), int(diagonal)), device=self.device)
        zero = tensors.Tensor._make(self.backend.zeros((), self.dtype), self.device, None)
        return autograd.call(arithmetic.Where, keep, self, zero)

    def masked_fill(self, mask, value):
        """`value` where mask is True, x elsewhere (mask broadcasts; a 0-d tensor value gets its gradient)."""
        mask = mask if isinstance(mask, tensors.Tensor) else tensors.Tensor(mask, device=self.device)
        if mask.dtype != np.bool_:
            raise errors.TypeError(f"masked_fill: mask must be a bool tensor, got {mask.dtype}")
        if isinstance(value, tensors.Tensor) and value.ndim:
            raise errors.ValueError(f"masked_fill: value must be a number or a 0-d tensor, got shape {value.shape}")
        if isinstance(value, tensors.Tensor):
            fill = value._cast(self.dtype)
        else:
            fill = tensors.Tensor(value, dtype=self.dtype, device=self.device)
        return autograd.call(arithmetic.Where, mask, fill, self)

    def gather(self, dim, index):
        """y[i][j][k] = x[index[i][j][k]][j][k] for dim 0 (and so on): one index element per output
        element, as PyTorch's gather; the gradient adds dy back at the gathered places."""
        index = index if isinstance(index, tensors.Tensor) else tensors.Tensor(index, device=self.device)
        dim = checked_dim("gather", dim, max(self.ndim, 1))
        if index.dtype != np.int64 or index.ndim != self.ndim:
            raise errors.TypeError(f"gather: index must be an int64 tensor with as many dims as the input "
                                   f"{self.shape}, got {index.dtype}{list(index.shape)}")
        if any(n > self.shape[d] for d, n in enumerate(index.shape) if d != dim):
            raise errors.ShapeError(f"gather: index shape {index.shape} is larger than input {self.shape} "
                                    f"outside dim {dim}")
        ids = index.numpy()   # (the places are worked out on the host: a range check first)
        if ids.size and (ids.min() < 0 or ids.max() >= self.shape[dim]):
            bad = ids[(ids < 0) | (ids >= self.shape[dim])][0]
            raise errors.IndexError(f"gather: index {int(bad)} is out of range [0, {self.shape[dim]}) along dim "
                                    f"{dim} of input {self.shape}")
        places = tuple(ids if d == dim else np.arange(n).reshape([-1 if k == d else 1 for k in range(ids.ndim)])
                       for d, n in enumerate(index.shape))
        return autograd.call(indexing.Index, self, index=places)

    def unsqueeze(self, dim):
        dim = checked_dim("unsqueeze", dim, self.ndim + 1)
        return self.reshape(self.shape[:dim] + (1,) + self.shape[dim:])

    def squeeze(self, dim=None):
        if dim is None:
            return self.reshape(tuple(n for n in self.shape if n != 1))
        dim = checked_dim("squeeze", dim, self.ndim)
        return self.reshape(self.shape[:dim] + self.shape[dim + 1:]) if self.ndim and self.shape[dim] == 1 else self

    def split(self, split_size_or_sections, dim=0, *, axis=None):
        """Consecutive pieces along dim, as views (PyTorch's rule): an int cuts pieces of that
        length (the last may be shorter), a list gives each piece's length."""
        dim = dim_or_axis(dim, axis, 0)
        if isinstance(split_size_or_sections, (int, np.integer)):
            size = int(split_size_or_sections)
            length = self.shape[dim] if -self.ndim <= dim < self.ndim else 0   # (the particle names a bad dim)
            if size <= 0:
                raise errors.ValueError(f"split: the piece length must be positive, got {size}")
            sizes = [size] * (length // size) + ([length % size] if length % size or not length else [])
        else:
            sizes = list(split_size_or_sections)
        return autograd.call(shape_particles.Split, self, sizes=sizes, dim=dim)

    def unbind(self, dim=0, *, axis=None):
        """The slices x[k] along dim, each without that dim, as views (a recurrent layer's steps)."""
        return autograd.call(shape_particles.Unbind, self, dim=dim_or_axis(dim, axis, 0))

    def chunk(self, chunks, dim=0, *, axis=None):
        """`chunks` pieces along dim, of length ceil(n / chunks) (fewer when n is short, as in PyTorch)."""
        dim = dim_or_axis(dim, axis, 0)
        if int(chunks) <= 0:
            raise errors.ValueError(f"chunk: the number of chunks must be positive, got {chunks}")
        length = self.shape[dim] if -self.ndim <= dim < self.ndim else 0
        return self.split(max(1, -(-length // int(chunks))), dim)

    def permute(self, *dims):
        dims = dims[0] if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else dims
        return autograd.call(shape_particles.Permute, self, dims=dims)

    def transpose(self, dim0, dim1):
        dim0, dim1 = checked_dim("transpose", dim0, self.ndim), checked_dim("transpose", dim1, self.ndim)
        order = list(range(self.ndim))
        order[dim0], order[dim1] = order[dim1], order[dim0]
        return self.permute(order)

    @property
    def T(self):
        return self.permute(tuple(reversed(range(self.ndim))))

    def __getitem__(self, index):
        return autograd.call(indexing.Index, self, index=plain_index(index))

    def __setitem__(self, index, value):
        """x[index] = value, in place (value a number or a tensor that broadcasts to x[index]).

        As in PyTorch, a leaf that requires grad is changed only under ms.no_grad() (an optimizer's
        way). Its version goes up by 1: a graph that saved x for backward refuses to use the new
        numbers. A tensor computed in a graph is not changed in place: minisora records no
        in-place particle, so use ms.where or masked_fill instead."""
        if self.requires_grad and autograd.is_grad_enabled():
            what = "a leaf that requires grad" if self.is_leaf else "a tensor computed in a graph"
            raise errors.RuntimeError(f"setitem: {what} cannot be changed in place"
                                      + (" outside ms.no_grad()" if self.is_leaf else "; use ms.where or masked_fill"))
        index = plain_index(index)
        values = value.data if isinstance(value, tensors.Tensor) else value
        if isinstance(value, tensors.Tensor) and value.device != self.device:
            raise errors.RuntimeError(f"setitem: the values are on {value.device}, the tensor on {self.device}")
        try:
            if indexing.is_basic(index):
                parts = index if isinstance(index, tuple) else (index,)
                # with a trailing ..., x[0] of a 1-d array is a 0-d view to write through, not a number
                self.backend.copy_into(self.data[parts if Ellipsis in parts else parts + (Ellipsis,)], values)
            else:   # index arrays pick copies, not views: the write goes through the host
                host = self.backend.to_numpy(self.data).copy()
                host[indexing.take_place(host, index)] = self.backend.to_numpy(values) if isinstance(
                    value, tensors.Tensor) else values
                self.backend.copy_into(self.data, host)
        except (IndexError, ValueError) as error:
            raise errors.IndexError(f"setitem: {error} (tensor of shape {self.shape}, index {index!r})") from None
        if getattr(self.data, "known_range", None) is not None:   # GPU ids: their range must be checked again
            self.data.known_range = None
        autograd.changed_in_place(self)


def plain_index(index):
    """An index with any Tensors in it replaced by their arrays (validated by the particle)."""
    if isinstance(index, tuple):
        return tuple(plain_index(part) for part in index)
    if isinstance(index, tensors.Tensor):
        return index.numpy()   # index positions are worked out on the host (and range-checked there)
    if isinstance(index, list):
        return np.asarray(index)
    return index
