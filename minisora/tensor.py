"""Tensor: an array, the gradient it will receive, and the particle call that made it.

Every operator on a Tensor is one particle call (`autograd.call`); the result keeps a
Context pointing back at its inputs, and `backward()` walks those links in reverse.
"""
import math
from collections import namedtuple

import numpy as np

from . import autograd, backends, errors
from .backends.device_array import DeviceArray
from .dims import checked_dim, dim_alias, dim_or_axis
from .dtypes import DTYPES, as_dtype, infer_dtype, names_a_dtype
from .particles import activations, arithmetic, indexing, matmul, pointwise, reductions, shape, softmax

ValuesIndices = namedtuple("ValuesIndices", ["values", "indices"])


class Tensor:
    __slots__ = ("data", "requires_grad", "grad", "_ctx", "_output_index", "backend", "_hooks", "_retains_grad",
                 "_version", "_changed_at", "__weakref__")
    __array_priority__ = 1000  # so numpy_array + tensor calls Tensor.__radd__

    def __init__(self, data, requires_grad=False, dtype=None, device=None):
        if isinstance(data, Tensor):
            data = data.data
        if on_gpu(data):   # a DeviceArray, or CuPy / PyTorch / Numba GPU memory
            gpu = backends.get("cuda")
            array = gpu.asarray(data, as_dtype(dtype))
            device = device or "cuda"
            backend = backends.get(device)
            if device != "cuda":
                array = gpu.to_numpy(array)
        else:
            backend = backends.get(device or "cpu")
            source = np.asarray(data)
            array = backend.asarray(source, as_dtype(dtype) or infer_dtype(data, source))
        self.data, self.backend, self.grad, self._ctx, self._output_index = array, backend, None, None, 0
        self._hooks, self._retains_grad, self._version, self._changed_at = None, False, 0, 0
        self.requires_grad = False
        self.requires_grad_(requires_grad)

    @classmethod
    def _make(cls, data, device, ctx, output_index=0):
        """A tensor around `data`; ctx: the call that made it (None: a leaf), of which it is
        result number output_index."""
        t = object.__new__(cls)
        t.data, t.backend, t.grad, t._ctx, t._output_index = data, backends.get(device), None, ctx, output_index
        t.requires_grad = ctx is not None
        t._hooks, t._retains_grad, t._version, t._changed_at = None, False, 0, 0
        return t

    # --- what it is ------------------------------------------------------------------------
    @property
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def device(self):
        return self.backend.name

    @property
    def ndim(self):
        return self.data.ndim

    def size(self, dim=None):
        """The shape (PyTorch's name), or the length of one dim."""
        return self.data.shape if dim is None else self.data.shape[dim]

    def dim(self):
        return self.data.ndim

    def numel(self):
        return self.data.size

    @property
    def is_leaf(self):
        return self._ctx is None

    @property
    def grad_fn(self):
        """The particle that made this tensor (None for leaves and untracked results)."""
        return None if self._ctx is None else self._ctx.particle

    def requires_grad_(self, requires_grad=True):
        if requires_grad and self.data.dtype.kind != "f":
            raise errors.TypeError(f"only float tensors can require gradients, this one is {self.data.dtype}")
        if not requires_grad and self._ctx is not None:
            raise errors.RuntimeError("requires_grad_(False) is only for leaves; use .detach() on a computed tensor")
        self.requires_grad = bool(requires_grad)
        return self

    def numpy(self):
        """The values as a NumPy array (shares memory on the CPU; a copy from other devices)."""
        return self.backend.to_numpy(self.data)

    def item(self):
        if self.data.size != 1:
            raise errors.ValueError(f"item(): only one-element tensors convert to a number, this one has shape {self.shape}")
        return self.numpy().reshape(-1)[0].item()

    def tolist(self):
        return self.numpy().tolist()

    def detach(self):
        """The same values, cut from the graph (no gradient flows through it)."""
        return Tensor._make(self.data, self.device, None)

    def to(self, target):
        """A copy on another device ("cpu", "cuda") or in another dtype ("float64", ...).

        A device move copies the values into a new leaf (requires_grad kept): move inputs and
        models (Module.to moves in place) before computing, not results inside a graph.
        """
        if target not in ("cpu", "cuda"):
            if isinstance(target, str) and not names_a_dtype(target):   # "gpu", "cuda:0", ...
                raise errors.ValueError(f"to({target!r}): unknown device or dtype; devices are 'cpu' and 'cuda' "
                                        f"(one GPU: no ':0'), dtypes {', '.join(DTYPES)}")
            return self._cast(as_dtype(target))
        if target == self.device:
            return self
        if self._ctx is not None:
            raise errors.RuntimeError(f"to('{target}'): this tensor was computed on {self.device} and gradients do not "
                                      f"flow across devices in minisora; move the inputs or the model to '{target}' first")
        destination = backends.get(target)
        host = self.backend.to_numpy(self.data)   # from the GPU: already a fresh copy
        data = host if target == "cpu" else destination.asarray(host)
        return Tensor._make(data, target, None).requires_grad_(self.requires_grad)

    def cuda(self):
        return self.to("cuda")

    def cpu(self):
        return self.to("cpu")

    @property
    def __cuda_array_interface__(self):
        """GPU tensors share their memory with CuPy, PyTorch, Numba... (torch.as_tensor(t, device='cuda'))."""
        if self.device != "cuda":
            raise AttributeError("__cuda_array_interface__: this tensor is on the CPU")
        return self.data.__cuda_array_interface__

    def float(self):
        return self._cast(np.dtype(np.float32))

    def double(self):
        return self._cast(np.dtype(np.float64))

    def long(self):
        return self._cast(np.dtype(np.int64))

    def _cast(self, dtype):
        return self if dtype == self.dtype else autograd.call(shape.Cast, self, dtype=dtype)

    # --- autograd ------------------------------------------------------------------------
    def backward(self, grad=None, retain_graph=False):
        """Compute d(self)/d(leaf) for every leaf that requires grad; add it into leaf.grad."""
        autograd.backward(self, grad, retain_graph)

    def register_hook(self, hook):
        """Call hook(grad) when this tensor's gradient is computed; a returned tensor replaces it."""
        if not self.requires_grad:
            raise errors.RuntimeError("register_hook: this tensor does not require grad")
        if self._hooks is None:
            self._hooks = {}
        handle = autograd.RemovableHandle(self._hooks)
        self._hooks[handle.id] = hook
        return handle

    def retain_grad(self):
        """Keep .grad on a non-leaf tensor too (leaves always keep it)."""
        self._retains_grad = True

    # --- arithmetic (each operator is one particle) -------------------------------------
    def __add__(self, other):
        return autograd.call(arithmetic.Add, self, operand(other, self))

    def __radd__(self, other):
        return autograd.call(arithmetic.Add, operand(other, self), self)

    def __sub__(self, other):
        return autograd.call(arithmetic.Sub, self, operand(other, self))

    def __rsub__(self, other):
        return autograd.call(arithmetic.Sub, operand(other, self), self)

    def __mul__(self, other):
        return autograd.call(arithmetic.Mul, self, operand(other, self))

    def __rmul__(self, other):
        return autograd.call(arithmetic.Mul, operand(other, self), self)

    def __truediv__(self, other):
        return autograd.call(arithmetic.Div, self, operand(other, self))

    def __rtruediv__(self, other):
        return autograd.call(arithmetic.Div, operand(other, self), self)

    def __pow__(self, exponent):
        if isinstance(exponent, (int, float, np.number)) and not isinstance(exponent, bool):
            if self.dtype.kind in "ib":   # as PyTorch: ints to an int power stay ints, to a float power float32
                if isinstance(exponent, (int, np.integer)):
                    return autograd.call(arithmetic.PowTensor, self, operand(exponent, self))
                return self._cast(np.float32) ** exponent
            return autograd.call(pointwise.Pow, self, exponent=float(exponent))
        return autograd.call(arithmetic.PowTensor, self, operand(exponent, self))

    def __rpow__(self, base):
        return autograd.call(arithmetic.PowTensor, operand(base, self), self)

    def __matmul__(self, other):
        return autograd.call(matmul.Matmul, self, operand(other, self))

    def __rmatmul__(self, other):
        return autograd.call(matmul.Matmul, operand(other, self), self)

    def __neg__(self):
        return autograd.call(pointwise.Neg, self)

    def _compare(self, other, op):
        return autograd.call(arithmetic.Compare, self, operand(other, self), op=op)

    __gt__ = lambda self, other: self._compare(other, "gt")  # noqa: E731
    __lt__ = lambda self, other: self._compare(other, "lt")  # noqa: E731
    __ge__ = lambda self, other: self._compare(other, "ge")  # noqa: E731
    __le__ = lambda self, other: self._compare(other, "le")  # noqa: E731

    def __eq__(self, other):
        return NotImplemented if other is None else self._compare(other, "eq")

    def __ne__(self, other):
        return NotImplemented if other is None else self._compare(other, "ne")

    __hash__ = object.__hash__

    # --- pointwise functions (functional's F.exp, F.relu, ... call these) ----------------
    def exp(self):
        return autograd.call(pointwise.Exp, self)

    def log(self):
        return autograd.call(pointwise.Log, self)

    def sqrt(self):
        return autograd.call(pointwise.Sqrt, self)

    # PyTorch's method names for the operators
    def add(self, other, *, alpha=1):
        return self + (other * alpha if alpha != 1 else other)

    def sub(self, other, *, alpha=1):
        return self - (other * alpha if alpha != 1 else other)

    def mul(self, other):
        return self * other

    def div(self, other):
        return self / other

    def matmul(self, other):
        return self @ other

    def pow(self, exponent):
        return self ** exponent

    def abs(self):
        return autograd.call(pointwise.Abs, self)

    def sign(self):
        return autograd.call(pointwise.Sign, self)

    def sin(self):
        return autograd.call(pointwise.Sin, self)

    def cos(self):
        return autograd.call(pointwise.Cos, self)

    def clamp(self, min=None, max=None):
        """min(max(x, min), max); either bound may be left out (not both). The gradient passes where
        min <= x <= max, as in PyTorch. A float bound on an integer tensor gives a float32 result."""
        if min is None and max is None:
            raise errors.ValueError("clamp: give min, max or both")
        if self.dtype.kind in "ib" and any(isinstance(b, (float, np.floating)) for b in (min, max)):
            return self._cast(np.dtype(np.float32)).clamp(min, max)
        source = self._cast(np.dtype(np.int64)) if self.dtype == np.bool_ else self
        return autograd.call(pointwise.Clamp, source, lo=-math.inf if min is None else min,
                             hi=math.inf if max is None else max)

    clip = clamp

    def maximum(self, other):
        """The larger of self and other, element by element (broadcast); ties share the gradient."""
        return autograd.call(arithmetic.Maximum, self, operand(other, self))

    def minimum(self, other):
        """min(a, b) = -max(-a, -b): the maximum particle, its tie rule and NaNs included."""
        return -(-self).maximum(-operand(other, self))

    def relu(self):
        return autograd.call(activations.ReLU, self)

    def sigmoid(self):
        return autograd.call(activations.Sigmoid, self)

    def tanh(self):
        return autograd.call(activations.Tanh, self)

    def softmax(self, dim=-1, *, axis=None):
        """e^x / sum(e^x) along dim (NumPy's `axis` accepted too)."""
        return autograd.call(softmax.Softmax, self, dim=dim_or_axis(dim, axis, -1))

    def log_softmax(self, dim=-1, *, axis=None):
        """x - log(sum(e^x)) along dim (NumPy's `axis` accepted too)."""
        return autograd.call(softmax.LogSoftmax, self, dim=dim_or_axis(dim, axis, -1))

    # --- reductions (PyTorch's dim/keepdim; NumPy's axis/keepdims accepted too) ----------
    def sum(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        dim, keepdim = dim_alias(dim, keepdim, axis, keepdims)
        return autograd.call(reductions.Sum, self, dims=dim, keepdim=keepdim)

    def mean(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        dim, keepdim = dim_alias(dim, keepdim, axis, keepdims)
        return autograd.call(reductions.Mean, self, dims=dim, keepdim=keepdim)

    def max(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        """max over all elements (a tensor; ties share the gradient), or over `dim` (values, indices:
        the gradient goes to the index), as in PyTorch."""
        dim, keepdim = dim_alias(dim, keepdim, axis, keepdims)
        values, ctx = autograd.call_with_context(reductions.Max, self, dims=dim, keepdim=keepdim,
                                                 split_ties=dim is None)
        if dim is None:
            return values
        return ValuesIndices(values, Tensor._make(ctx.indices, self.device, None))

    def min(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        """min(x) = -max(-x): the same particle (max), the same rules for ties and indices."""
        result = (-self).max(dim, keepdim, axis=axis, keepdims=keepdims)
        if isinstance(result, ValuesIndices):
            return ValuesIndices(-result.values, result.indices)
        return -result

    def amax(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        """max over `dim` (all dims by default), ties sharing the gradient equally (PyTorch's amax)."""
        dim, keepdim = dim_alias(dim, keepdim, axis, keepdims)
        return autograd.call(reductions.Max, self, dims=dim, keepdim=keepdim, split_ties=True)

    def amin(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        return -(-self).amax(dim, keepdim, axis=axis, keepdims=keepdims)

    def argmax(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        """Where the max is (its first place; over the flattened tensor when dim is None): int64, no gradient."""
        dim, keepdim = dim_alias(dim, keepdim, axis, keepdims)
        if dim is None:
            return self.detach().reshape(-1).max(0).indices
        return self.detach().max(dim, keepdim).indices

    def argmin(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        return (-self.detach()).argmax(dim, keepdim, axis=axis, keepdims=keepdims)

    def cumsum(self, dim, *, axis=None):
        """The running sum along dim: y[r] = x[0] + ... + x[r] (ints and bools sum as int64)."""
        return autograd.call(reductions.Cumsum, self, dim=dim_or_axis(dim, axis, None))

    def var(self, dim=None, keepdim=False, *, correction=1, unbiased=None, axis=None, keepdims=None):
        """sum((x - mean)^2) / (N - correction) over dim: the sample variance by default (correction=1,
        Bessel's), the population variance with correction=0 (PyTorch's unbiased=False)."""
        dim, keepdim = dim_alias(dim, keepdim, axis, keepdims)
        if unbiased is not None:
            correction = 1 if unbiased else 0
        deviation = self - self.mean(dim, keepdim=True)
        dims = range(self.ndim) if dim is None else [dim] if isinstance(dim, (int, np.integer)) else dim
        count = math.prod(self.shape[checked_dim("var", d, self.ndim)] for d in dims) if self.ndim else 1
        return (deviation * deviation).sum(dim, keepdim) / max(count - correction, 0.0)

    def std(self, dim=None, keepdim=False, *, correction=1, unbiased=None, axis=None, keepdims=None):
        """sqrt(var(...)), with var's arguments."""
        return self.var(dim, keepdim, correction=correction, unbiased=unbiased, axis=axis, keepdims=keepdims).sqrt()

    def logsumexp(self, dim, keepdim=False, *, axis=None, keepdims=None):
        """ln sum e^x over dim, as m + ln sum e^(x - m) with m the (constant) max: no overflow. Where m
        is infinite (every x -inf, or one +inf) it is taken as 0, so the answer is -inf or inf, not NaN."""
        dim, keepdim = dim_alias(dim, keepdim, axis, keepdims)
        top = self.detach().amax(dim, keepdim=True)
        shift = autograd.call(arithmetic.Where, top.abs() < math.inf, top, operand(0.0, top))
        summed = (self - shift).exp().sum(dim, keepdim)
        return summed.log() + shift.reshape(summed.shape)

    # --- shape ----------------------------------------------------------------------------
    def reshape(self, *shape):
        shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        return autograd.call(shape_module.Reshape, self, shape=shape)

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
        return autograd.call(shape_module.Expand, self, shape=tuple(sizes))

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
        keep = Tensor(numpy_triangle(np.ones(self.shape[-2:], bool), int(diagonal)), device=self.device)
        zero = Tensor._make(self.backend.zeros((), self.dtype), self.device, None)
        return autograd.call(arithmetic.Where, keep, self, zero)

    def masked_fill(self, mask, value):
        """`value` where mask is True, x elsewhere (mask broadcasts; a 0-d tensor value gets its gradient)."""
        mask = mask if isinstance(mask, Tensor) else Tensor(mask, device=self.device)
        if mask.dtype != np.bool_:
            raise errors.TypeError(f"masked_fill: mask must be a bool tensor, got {mask.dtype}")
        if isinstance(value, Tensor) and value.ndim:
            raise errors.ValueError(f"masked_fill: value must be a number or a 0-d tensor, got shape {value.shape}")
        if isinstance(value, Tensor):
            fill = value._cast(self.dtype)
        else:
            fill = Tensor(value, dtype=self.dtype, device=self.device)
        return autograd.call(arithmetic.Where, mask, fill, self)

    def gather(self, dim, index):
        """y[i][j][k] = x[index[i][j][k]][j][k] for dim 0 (and so on): one index element per output
        element, as PyTorch's gather; the gradient adds dy back at the gathered places."""
        index = index if isinstance(index, Tensor) else Tensor(index, device=self.device)
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
        return autograd.call(shape_module.Split, self, sizes=sizes, dim=dim)

    def chunk(self, chunks, dim=0, *, axis=None):
        """`chunks` pieces along dim, of length ceil(n / chunks) (fewer when n is short, as in PyTorch)."""
        dim = dim_or_axis(dim, axis, 0)
        if int(chunks) <= 0:
            raise errors.ValueError(f"chunk: the number of chunks must be positive, got {chunks}")
        length = self.shape[dim] if -self.ndim <= dim < self.ndim else 0
        return self.split(max(1, -(-length // int(chunks))), dim)

    def permute(self, *dims):
        dims = dims[0] if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else dims
        return autograd.call(shape_module.Permute, self, dims=dims)

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
        values = value.data if isinstance(value, Tensor) else value
        if isinstance(value, Tensor) and value.device != self.device:
            raise errors.RuntimeError(f"setitem: the values are on {value.device}, the tensor on {self.device}")
        try:
            if indexing.is_basic(index):
                parts = index if isinstance(index, tuple) else (index,)
                # with a trailing ..., x[0] of a 1-d array is a 0-d view to write through, not a number
                self.backend.copy_into(self.data[parts if Ellipsis in parts else parts + (Ellipsis,)], values)
            else:   # index arrays pick copies, not views: the write goes through the host
                host = self.backend.to_numpy(self.data).copy()
                host[indexing.take_place(host, index)] = self.backend.to_numpy(values) if isinstance(
                    value, Tensor) else values
                self.backend.copy_into(self.data, host)
        except (IndexError, ValueError) as error:
            raise errors.IndexError(f"setitem: {error} (tensor of shape {self.shape}, index {index!r})") from None
        if getattr(self.data, "known_range", None) is not None:   # GPU ids: their range must be checked again
            self.data.known_range = None
        autograd.changed_in_place(self)

    def __len__(self):
        if self.ndim == 0:
            raise errors.TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __bool__(self):
        if self.data.size != 1:
            raise errors.RuntimeError(f"the truth value of a tensor with {self.data.size} elements is ambiguous")
        return bool(self.item())

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __array__(self, dtype=None, copy=None):
        array = self.numpy()
        return array if dtype is None else array.astype(dtype)

    def __repr__(self):
        body = np.array2string(self.numpy(), separator=", ", prefix="tensor(")
        extras = [] if self.dtype == np.float32 or self.dtype == np.int64 else [f"dtype={self.dtype}"]
        if self.device != "cpu":
            extras.append(f"device='{self.device}'")
        if self._ctx is not None:
            extras.append(f"grad_fn=<{self._ctx.particle.name}>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return f"tensor({', '.join([body] + extras)})"


shape_module = shape


def on_gpu(data):
    return isinstance(data, DeviceArray) or hasattr(data, "__cuda_array_interface__")


def as_tensor(data, dtype=None, device=None):
    """A tensor sharing memory with `data` where it can (a NumPy array on the CPU, another
    library's GPU array on cuda: no copy), else a copy, like torch.as_tensor."""
    if isinstance(data, Tensor):
        return data.to(device) if device else data
    if on_gpu(data) and device in (None, "cuda"):
        array = data if isinstance(data, DeviceArray) else backends.get("cuda").from_interface(data)
        return Tensor._make(array, "cuda", None)._cast(as_dtype(dtype) or array.dtype)
    if isinstance(data, np.ndarray) and device in (None, "cpu") and data.dtype in DTYPES.values() \
            and (dtype is None or as_dtype(dtype) == data.dtype):
        return Tensor._make(data, "cpu", None)
    return Tensor(data, dtype=dtype, device=device)


def operand(value, like):
    """The other side of a binary operator, as a Tensor on `like`'s device (no gradient)."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, (bool, int, float, np.number)):
        if isinstance(value, (float, np.floating)) and like.dtype.kind != "f":
            dtype = np.float32
        elif isinstance(value, bool) and like.dtype.kind == "b":
            dtype = np.bool_
        else:
            dtype = like.dtype if like.dtype.kind != "b" else np.int64
        return Tensor._make(like.backend.scalar(value, dtype), like.device, None)
    return Tensor(value, device=like.device)


def plain_index(index):
    """An index with any Tensors in it replaced by their arrays (validated by the particle)."""
    if isinstance(index, tuple):
        return tuple(plain_index(part) for part in index)
    if isinstance(index, Tensor):
        return index.numpy()   # index positions are worked out on the host (and range-checked there)
    if isinstance(index, list):
        return np.asarray(index)
    return index
