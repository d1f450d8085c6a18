"""Making tensors: from data, filled with a constant, random, or a range."""
import numpy as np

from . import backends
from . import random as ms_random
from .dtypes import as_dtype, scalar_dtype
from .tensor import Tensor


def tensor(data, requires_grad=False, dtype=None, device=None):
    """A new tensor holding a copy of `data` (a list, number, NumPy array or tensor).

    Without a dtype: floats become float32 (a float64 NumPy array stays float64, as in
    PyTorch), integers int64, booleans bool. Without a device: where `data` is (GPU arrays of
    other libraries, through __cuda_array_interface__, stay on "cuda"), else "cpu".
    """
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, device=device)


def _shape(shape):
    return tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else tuple(shape)


def _filled(make, shape, dtype, device, requires_grad):
    dtype = as_dtype(dtype) or np.dtype(np.float32)
    return Tensor._make(make(backends.get(device), _shape(shape), dtype), device, None).requires_grad_(requires_grad)


def zeros(*shape, dtype=None, device="cpu", requires_grad=False):
    return _filled(lambda b, s, d: b.zeros(s, d), shape, dtype, device, requires_grad)


def ones(*shape, dtype=None, device="cpu", requires_grad=False):
    return _filled(lambda b, s, d: b.full(s, 1, d), shape, dtype, device, requires_grad)


def full(shape, value, dtype=None, device="cpu", requires_grad=False):
    """A tensor of `shape` filled with `value`; without a dtype, the value's kind decides as in
    PyTorch: full((2, 2), 4) is int64, full((2, 2), 4.0) float32, full((2,), True) bool."""
    return _filled(lambda b, s, d: b.full(s, value, d), (shape,), dtype or scalar_dtype(value), device,
                   requires_grad)


def zeros_like(t, requires_grad=False):
    return zeros(t.shape, dtype=t.dtype, device=t.device, requires_grad=requires_grad)


def ones_like(t, requires_grad=False):
    return ones(t.shape, dtype=t.dtype, device=t.device, requires_grad=requires_grad)


def randn(*shape, dtype=None, device="cpu", requires_grad=False):
    """Standard normal samples from minisora's seeded generator (see manual_seed)."""
    dtype = as_dtype(dtype) or np.dtype(np.float32)
    values = ms_random.generator().standard_normal(_shape(shape), dtype=np.float64).astype(dtype)
    return tensor(values, requires_grad=requires_grad, device=device)


def rand(*shape, dtype=None, device="cpu", requires_grad=False):
    """Uniform samples on [0, 1) from minisora's seeded generator."""
    dtype = as_dtype(dtype) or np.dtype(np.float32)
    values = ms_random.generator().random(_shape(shape), dtype=np.float64).astype(dtype)
    return tensor(values, requires_grad=requires_grad, device=device)


def arange(start, stop=None, step=1, dtype=None, device="cpu", requires_grad=False):
    """start, start + step, ... up to (not including) stop; int64 for int arguments, as in PyTorch."""
    if stop is None:
        start, stop = 0, start
    if step and all(type(n) is int for n in (start, stop, step)) and as_dtype(dtype) in (None, np.dtype(np.int64)):
        # integers are made where they live: on a GPU, a copy from the host would wait for every
        # kernel queued before it (a model making position ids at every step would pay that)
        data = backends.get(device).arange(start, step, len(range(start, stop, step)), np.dtype(np.int64))
        return Tensor._make(data, device, None).requires_grad_(requires_grad)
    values = np.arange(start, stop, step)
    return tensor(values, requires_grad=requires_grad, dtype=dtype, device=device)
