"""Quantization: real numbers as 8-bit integers, q = round(x / s + z), and back, x ~ s (q - z).

    quantize       q = clamp(round(x / s + z), qmin, qmax)          (int8 or uint8)
    dequantize     x' = s (q - z)                                   (float32)
    fake_quantize  y = s (clamp(round(x / s) + z, qmin, qmax) - z)  (float, for training)
                   dy/dx = 1 where round(x / s) + z lies in [qmin, qmax], else 0
                   (the straight-through estimator: rounding's true derivative is 0 almost
                   everywhere, so training pretends the rounding was not there, and only
                   the clamp stops the gradient)

The scale s > 0 and zero point z are one pair for the whole tensor (per tensor) or one pair per
slice along `axis` (per channel: a weight matrix's rows, one per output neuron). Symmetric
quantization is the case z = 0. `round` rounds half to even (2.5 -> 2, 3.5 -> 4), as IEEE
floating point and PyTorch do, and the clamp saturates: 1e30 becomes qmax, never wraps.

The arithmetic is PyTorch's to the bit (tests/golden/quantization.npz), and PyTorch's two
functions differ: quantize rounds x / s + z as one number, fake_quantize rounds x / s and then
adds z. With an odd z they part at ties (x / s = 0.5, z = 5: round(5.5) = 6, round(0.5) + 5 = 5).
x / s is x times the float32 1/s; per tensor, x (1/s) + z is rounded to float32 once (its vector loop uses a fused
multiply-add), per channel twice (the product, then the sum); dequantize multiplies by the float32
scale per tensor, by the float64 one per channel. Each rounding to float32 below is
written out: the product of two float32 numbers is exact in float64, so float32(float64 product)
rounds once, as the float32 multiply would, on every device and with the JIT off.

NaN and infinities follow PyTorch too: quantize sends NaN to qmax, fake_quantize to qmin (with a
zero gradient); +-inf saturate.
"""
import numpy as np
from numba import float32, prange

from .. import errors
from ..backends.gpu import cuda, gpu_kernel
from ..backends.kernel import kernel, scalar
from .dropout import dropout_backward_kernel, masked_gradient
from .particle import Particle, describe

RANGES = {"int8": (-128, 127), "uint8": (0, 255)}
ROUNDER = 6755399441055744.0   # 1.5 * 2**52


@scalar
def round_half_even(v):
    """v (a float64) to the nearest integer, ties to the even one. Adding 1.5 * 2**52 leaves no
    bits below the units, so the addition itself rounds, by the hardware's own rule: to nearest,
    ties to even. Exact for |v| < 2**51; larger values (and +-inf) stay far beyond any clamp."""
    return (float(v) + ROUNDER) - ROUNDER


@scalar(inline=False)   # (inlined, its two branches' `v` upset Numba's SSA pass: a warning per kernel)
def quantized_value(x, inv_scale, zero_point, qmin, qmax, fused):
    """The integer (as a float64) that x becomes: round(x / s + z), clamped (NaN -> qmax)."""
    if fused:   # per tensor: one rounding of x (1/s) + z to float32
        v = float32(x * inv_scale + zero_point)
    else:       # per channel: the product rounded, then the sum
        v = float32(float32(x * inv_scale) + zero_point)
    return saturated(round_half_even(v), qmin, qmax)


@scalar
def saturated(q, qmin, qmax):
    """q clamped to [qmin, qmax], NaN to qmax (as PyTorch's quantize): never wrapped around."""
    if not q <= qmax:
        return qmax
    return qmin if q < qmin else q


@kernel
def quantize_kernel(x, inv_scale, zero_point, inner, qmin, qmax, fused, q):
    channels = inv_scale.size
    for i in range(x.size):
        c = (i // inner) % channels
        q[i] = quantized_value(np.float64(x[i]), inv_scale[c], zero_point[c], qmin, qmax, fused)


# The faster CPU form: the elements spread over the cores, and per tensor no channel to look up
# (an integer division per element would cost more than the rest of the work).
@quantize_kernel.faster
def quantize_on_every_core(x, inv_scale, zero_point, inner, qmin, qmax, fused, q):
    channels = inv_scale.size
    if channels == 1:
        for i in prange(x.size):
            q[i] = quantized_value(np.float64(x[i]), inv_scale[0], zero_point[0], qmin, qmax, fused)
    else:
        for i in prange(x.size):
            c = (i // inner) % channels
            q[i] = quantized_value(np.float64(x[i]), inv_scale[c], zero_point[c], qmin, qmax, fused)


@kernel
def dequantize_kernel(q, scale, zero_point, inner, x):
    channels = scale.size
    for i in range(q.size):
        c = (i // inner) % channels
        x[i] = (np.float64(q[i]) - zero_point[c]) * scale[c]


@scalar
def fake_quantized_value(x, inv_scale, scale, zero_point, qmin, qmax):
    """(s (clamp(round(x (1/s)) + z) - z), whether the clamp let x through) for one number."""
    q = round_half_even(float(x * inv_scale)) + zero_point
    inside = q >= qmin and q <= qmax
    if not q >= qmin:   # NaN too, as PyTorch's fmax(NaN, qmin) = qmin
        q = qmin
    elif q > qmax:
        q = qmax
    return (q - zero_point) * scale, inside


@kernel
def fake_quantize_kernel(x, inv_scale, scale, zero_point, inner, qmin, qmax, y, inside):
    channels = scale.size
    for i in range(x.size):
        c = (i // inner) % channels
        y[i], inside[i] = fake_quantized_value(x[i], inv_scale[c], scale[c], zero_point[c], qmin, qmax)


@gpu_kernel
def quantize_gpu(x, inv_scale, zero_point, inner, qmin, qmax, fused, q):
    start, step = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, x.size, step):
        c = (i // inner) % inv_scale.size
        q[i] = quantized_value(float(x[i]), inv_scale[c], zero_point[c], qmin, qmax, fused)


@gpu_kernel
def dequantize_gpu(q, scale, zero_point, inner, x):
    start, step = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, q.size, step):
        c = (i // inner) % scale.size
        x[i] = (float(q[i]) - zero_point[c]) * scale[c]


@gpu_kernel
def fake_quantize_gpu(x, inv_scale, scale, zero_point, inner, qmin, qmax, y, inside):
    start, step = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, x.size, step):
        c = (i // inner) % scale.size
        y[i], inside[i] = fake_quantized_value(x[i], inv_scale[c], scale[c], zero_point[c], qmin, qmax)


quantize_kernel.on_gpu(quantize_gpu)
dequantize_kernel.on_gpu(dequantize_gpu)
fake_quantize_kernel.on_gpu(fake_quantize_gpu)


def quantization_parameters(particle, shape, scale, zero_point, axis, qmin, qmax, float32_scale=True):
    """(scale, zero point as float64, elements per channel step): checked, one entry per channel
    (one for per tensor). The scales are rounded to float32, as PyTorch uses them, except where
    float32_scale is False (its per-channel dequantize multiplies by the float64 scales)."""
    scale, zero_point = np.atleast_1d(np.asarray(scale, np.float64)), np.atleast_1d(np.asarray(zero_point))
    if axis is None:
        channels, inner = 1, 1
        if scale.size != 1 or zero_point.size != 1:
            particle.fail(f"per-tensor quantization takes one scale and one zero point, got {scale.size} and "
                          f"{zero_point.size} (for one per channel, give axis)")
    else:
        if not -len(shape) <= axis < len(shape):
            particle.fail(f"axis {axis} is out of range for an input of shape {tuple(shape)}", IndexError)
        axis %= len(shape)
        channels, inner = shape[axis], int(np.prod(shape[axis + 1:], dtype=np.int64))
        if scale.shape != (channels,) or zero_point.shape != (channels,):
            particle.fail(f"per-channel quantization along axis {axis} needs {channels} scales and zero points "
                          f"(one per channel), got scale {scale.shape} and zero_point {zero_point.shape}",
                          errors.ShapeError)
    if zero_point.dtype.kind not in "iu":
        particle.fail(f"zero_point must be integers, got {zero_point.dtype}", TypeError)
    if not (np.all(np.isfinite(scale)) and np.all(scale > 0)):
        particle.fail(f"scale must be positive and finite, got {scale.tolist()}")
    if np.any(zero_point < qmin) or np.any(zero_point > qmax):
        particle.fail(f"zero_point {zero_point.tolist()} lies outside [{qmin}, {qmax}]")
    if float32_scale:
        scale = scale.astype(np.float32).astype(np.float64)
    return scale, zero_point.astype(np.float64), max(inner, 1)


def integer_range(particle, dtype):
    if str(dtype) not in RANGES:
        particle.fail(f"dtype must be 'int8' or 'uint8', got {dtype!r}", TypeError)
    return RANGES[str(dtype)]


class Quantize(Particle):
    name = "quantize"
    formula, gradient = "q = clamp(round_half_even(x / s + z), qmin, qmax)", "none: the result is integer"
    kernels = (quantize_kernel,)

    @classmethod
    def forward(cls, ctx, x, scale=1.0, zero_point=0, axis=None, dtype="int8"):
        cls.require_float(x)
        qmin, qmax = integer_range(cls, dtype)
        scale, zero_point, inner = quantization_parameters(cls, x.shape, scale, zero_point, axis, qmin, qmax)
        backend = ctx.backend
        x = backend.contiguous(backend.astype(x, np.float32))   # PyTorch quantizes float32 numbers
        q = backend.empty(x.shape, np.dtype(dtype))
        inv_scale = (np.float32(1) / scale.astype(np.float32)).astype(np.float64)
        ctx.run(quantize_kernel, backend.flat(x), backend.asarray(inv_scale), backend.asarray(zero_point), inner,
                float(qmin), float(qmax), axis is None, backend.flat(q))
        return q

    @staticmethod
    def backward(ctx, grad_q):
        return (None,)

    @staticmethod
    def reference(x, scale=1.0, zero_point=0, axis=None, dtype="int8"):
        qmin, qmax = RANGES[str(dtype)]
        x = np.asarray(x, np.float32)
        scale = along(np.float32(np.asarray(scale)), axis, x.ndim)
        zero_point = along(np.asarray(zero_point), axis, x.ndim)
        inv_scale = np.float32(1) / scale
        if axis is None:
            v = (x.astype(np.float64) * inv_scale + zero_point).astype(np.float32)
        else:
            v = ((x * inv_scale).astype(np.float32) + zero_point.astype(np.float32)).astype(np.float32)
        q = np.rint(v)
        return np.where(np.isnan(q), qmax, np.clip(q, qmin, qmax)).astype(dtype)


class Dequantize(Particle):
    name = "dequantize"
    formula, gradient = "x = s (q - z)", "none: its input is integer"
    kernels = (dequantize_kernel,)

    @classmethod
    def forward(cls, ctx, q, scale=1.0, zero_point=0, axis=None):
        if q.dtype.name not in RANGES:
            cls.fail(f"expected an int8 or uint8 input, got {describe(q)}", TypeError)
        qmin, qmax = RANGES[q.dtype.name]
        scale, zero_point, inner = quantization_parameters(cls, q.shape, scale, zero_point, axis, qmin, qmax,
                                                           float32_scale=axis is None)
        backend = ctx.backend
        q = backend.contiguous(q)
        x = backend.empty(q.shape, np.float32)
        ctx.run(dequantize_kernel, backend.flat(q), backend.asarray(scale), backend.asarray(zero_point), inner,
                backend.flat(x))
        return x

    @staticmethod
    def backward(ctx, grad_x):
        return (None,)

    @staticmethod
    def reference(q, scale=1.0, zero_point=0, axis=None):
        if axis is None:
            return ((q.astype(np.int64) - zero_point).astype(np.float32) * np.float32(scale)).astype(np.float32)
        scale = along(np.asarray(scale, np.float64), axis, q.ndim)
        zero_point = along(np.asarray(zero_point), axis, q.ndim)
        return ((q.astype(np.int64) - zero_point) * scale).astype(np.float32)


class FakeQuantize(Particle):
    name = "fake_quantize"
    formula = "y = s (clamp(round_half_even(x / s) + z, qmin, qmax) - z)"
    gradient = "dx = dy where round(x / s) + z is inside [qmin, qmax], else 0 (straight-through)"
    # the gradient passes where the clamp let x through: dropout's backward with p = 0 (a mask, no scaling)
    kernels = (fake_quantize_kernel, dropout_backward_kernel)

    @classmethod
    def forward(cls, ctx, x, scale=1.0, zero_point=0, qmin=-128, qmax=127, axis=None):
        cls.require_float(x)
        if not (isinstance(qmin, (int, np.integer)) and isinstance(qmax, (int, np.integer)) and qmin < qmax):
            cls.fail(f"qmin and qmax must be integers with qmin < qmax, got {qmin!r} and {qmax!r}")
        scale, zero_point, inner = quantization_parameters(cls, x.shape, scale, zero_point, axis, qmin, qmax)
        backend = ctx.backend
        x = backend.contiguous(x)
        # float32 inputs multiply by the float32 1/s, as PyTorch; float64 ones keep float64
        inv_scale = (np.float32(1) / scale.astype(np.float32)) if x.dtype == np.float32 else 1.0 / scale
        y, inside = backend.empty(x.shape, x.dtype), backend.empty(x.shape, np.bool_)
        ctx.run(fake_quantize_kernel, backend.flat(x), backend.asarray(inv_scale.astype(x.dtype)),
                backend.asarray(scale), backend.asarray(zero_point), inner, float(qmin), float(qmax),
                backend.flat(y), backend.flat(inside))
        ctx.save(inside)
        return y

    @staticmethod
    def backward(ctx, grad_y):
        (inside,) = ctx.saved
        return (masked_gradient(ctx, grad_y, inside, 0.0),)

    @staticmethod
    def reference(x, scale=1.0, zero_point=0, qmin=-128, qmax=127, axis=None):
        y, _ = fake_quantize_reference(x, scale, zero_point, qmin, qmax, axis)
        return y

    @staticmethod
    def reference_backward(x, grad_y, scale=1.0, zero_point=0, qmin=-128, qmax=127, axis=None):
        _, inside = fake_quantize_reference(x, scale, zero_point, qmin, qmax, axis)
        return (np.where(inside, grad_y, grad_y * 0).astype(grad_y.dtype),)


def fake_quantize_reference(x, scale, zero_point, qmin, qmax, axis):
    """(y, inside) of fake_quantize in NumPy, vectorized."""
    scale = along(np.asarray(scale, np.float64), axis, x.ndim)
    zero_point = along(np.asarray(zero_point, np.float64), axis, x.ndim)
    scale = scale.astype(np.float32).astype(x.dtype)
    q = np.rint(x * (np.ones((), x.dtype) / scale)) + zero_point
    inside = (q >= qmin) & (q <= qmax)
    q = np.where(np.isnan(q), qmin, np.clip(q, qmin, qmax))
    return ((q - zero_point) * scale).astype(x.dtype), inside


def along(values, axis, ndim):
    """Per-channel parameters shaped to broadcast along `axis` of an ndim-array (per tensor: as they are)."""
    if axis is None:
        return values
    shape = [1] * ndim
    shape[axis] = -1
    return values.reshape(shape)
