"""The quantization particles as functions of Tensors, with PyTorch's names and arguments.

    q = quantize_per_tensor(x, scale, zero_point, "int8")       an int8 Tensor (no gradient)
    q = quantize_per_channel(w, scales, zero_points, axis=0)
    x = dequantize(q, scale, zero_point[, axis])                float32
    y = fake_quantize(x, scale, zero_point, qmin, qmax[, axis]) float, straight-through gradient
"""
import numpy as np

from .. import autograd, errors
from ..particles.quantization import Dequantize, FakeQuantize, Quantize
from ..particles.quantized_linear import QuantizedLinear
from ..tensor import Tensor


def quantize_per_tensor(x, scale, zero_point, dtype="int8"):
    """clamp(round_half_even(x / scale) + zero_point) as int8 or uint8 (torch.quantize_per_tensor's
    int_repr()). Integers carry no gradient: for training, fake_quantize."""
    return autograd.call(Quantize, tensor_of(x, "quantize").detach(), scale=scale, zero_point=zero_point, dtype=dtype)


def quantize_per_channel(x, scales, zero_points, axis, dtype="int8"):
    """quantize_per_tensor with one (scale, zero point) per slice of x along `axis`."""
    return autograd.call(Quantize, tensor_of(x, "quantize").detach(), scale=scales, zero_point=zero_points, axis=axis,
                         dtype=dtype)


def dequantize(q, scale, zero_point, axis=None):
    """scale (q - zero_point) as float32, per tensor or (with axis) per channel."""
    return autograd.call(Dequantize, tensor_of(q, "dequantize"), scale=scale, zero_point=zero_point, axis=axis)


def fake_quantize(x, scale, zero_point, qmin=-128, qmax=127, axis=None):
    """quantize then dequantize in one step, in x's float dtype, with the straight-through gradient
    (torch.fake_quantize_per_tensor_affine, or _per_channel_affine with axis)."""
    return autograd.call(FakeQuantize, tensor_of(x, "fake_quantize"), scale=scale, zero_point=zero_point, qmin=qmin,
                         qmax=qmax, axis=axis)


def quantized_linear(x, weight, multiplier, bias=None, x_zero_point=0, output="float32", out_scale=1.0,
                     out_zero_point=0):
    """The int8 product: x (M, K) int8/uint8, weight (N, K) int8, multiplier (N,) = s_x s_w float32;
    see particles/quantized_linear.py for the outputs."""
    if bias is None:
        bias = Tensor(np.zeros(weight.shape[0], np.float32), device=weight.device)
    return autograd.call(QuantizedLinear, x, weight, multiplier, bias, x_zero_point=x_zero_point, output=output,
                         out_scale=out_scale, out_zero_point=out_zero_point)


def tensor_of(value, who):
    if isinstance(value, Tensor):
        return value
    if isinstance(value, np.ndarray):
        return Tensor(value, dtype=value.dtype.name if value.dtype.name in ("int8", "uint8") else None)
    raise errors.TypeError(f"{who}: expected a Tensor or a NumPy array, got {type(value).__name__}")
