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
from .particles import activations, arithmetic, matmul, pointwise, reductions, shape, softmax
from .tensor_shape import ShapeMethods

ValuesIndices = namedtuple("ValuesIndices", ["values", "indices"])


class Tensor(ShapeMethods):
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
