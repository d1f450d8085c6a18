"""The int8 matrix product: the layer of neurons on 8-bit integers, y = x W^T + b.

The input is quantized per tensor (x ~ s_x (q_x - z_x)), each row of the weight per output
channel and symmetrically (W[n] ~ s_w[n] q_w[n], zero point 0), so

    y[m, n] = s_x s_w[n] acc[m, n] + b[n]        acc[m, n] = sum_k (q_x[m, k] - z_x) q_w[n, k]

The sum runs on integers: 8-bit times 8-bit, added up in int32 (K up to 2**31 / 255**2 = 33,025
terms cannot overflow), so it is exact; all the rounding is in the one multiplication by
s_x s_w[n] after it. Three outputs, one kernel each, sharing that loop:

    "int32"    acc itself (what the tests hold against an exact integer product)
    "float32"  y (dequantized in the same pass)
    "int8"     y requantized, q_y = clamp(round_half_even(y / s_y) + z_y) (the next layer's input:
               the requantize step fused, so y is never written out in float32)

The multiplier s_x s_w[n] comes in as float32 numbers, rounded once on the host. On the CPU the
epilogue rounds as NumPy's float32 arithmetic does (the product, then the sum); a GPU's compiler
fuses the two into one multiply-add (one rounding), so its float32 output may differ in the last
bit, and a requantized output by one step where that bit decides a tie.
"""
import numpy as np
from numba import float32, int32, prange

from ..backends.gpu import cuda, gpu_kernel
from ..backends.kernel import kernel, scalar
from .particle import Particle, describe
from .quantization import RANGES, round_half_even, saturated

INT32_SAFE_DEPTH = (2 ** 31 - 1) // (255 * 128)   # terms a sum of (q_x - z_x) q_w holds without overflow


@scalar
def integer_dot(x, m, x_zero_point, w, n):
    """sum_k (x[m, k] - z_x) w[n, k] in int32: the loop a vectorizing compiler turns into 8-bit
    loads widened to 32-bit lanes (or, with AVX-512 VNNI, into multiply-adds of 8-bit pairs)."""
    total = int32(0)
    for k in range(x.shape[1]):
        # (int32 arithmetic written out: Numba would widen a sum of int32s to int64, half the lanes)
        total = int32(total + (int32(x[m, k]) - x_zero_point) * int32(w[n, k]))
    return total


@scalar
def dequantized(total, multiplier, bias):
    """s_x s_w[n] acc + b[n], as float32 arithmetic: the int32 sum rounded to float32, then the
    product and the sum each rounded once (written through float64, where both are exact)."""
    return float32(float(float32(float(float32(total)) * multiplier)) + bias)


@kernel
def int8_matmul_kernel(x, x_zero_point, w, acc):
    for m in range(x.shape[0]):
        for n in range(w.shape[0]):
            acc[m, n] = integer_dot(x, m, x_zero_point, w, n)


@kernel
def int8_linear_kernel(x, x_zero_point, w, multiplier, bias, y):
    for m in range(x.shape[0]):
        for n in range(w.shape[0]):
            y[m, n] = dequantized(integer_dot(x, m, x_zero_point, w, n), multiplier[n], bias[n])


@kernel
def int8_linear_requantize_kernel(x, x_zero_point, w, multiplier, bias, inv_out_scale, out_zero_point, qmin, qmax,
                                  q):
    for m in range(x.shape[0]):
        for n in range(w.shape[0]):
            y = dequantized(integer_dot(x, m, x_zero_point, w, n), multiplier[n], bias[n])
            q[m, n] = requantized(y, inv_out_scale, out_zero_point, qmin, qmax)


# The faster CPU forms: a row of x against every output at once, the rows spread over the cores.
# Row n of W is column n of W^T; running along W^T's rows, k outer and n inner, each step is
# one number of x times a contiguous run of 8-bit weights added into a row of int32 sums in
# L1 cache: vector lanes with no sum across lanes at the end (2x the dot products' speed here).
@scalar(inline=False)
def integer_row(x, m, x_zero_point, w_t, row):
    """row[n] = sum_k (x[m, k] - z_x) w_t[k, n] for every n, in int32."""
    row[:] = 0
    for k in range(x.shape[1]):
        xk = int32(int32(x[m, k]) - x_zero_point)
        for n in range(w_t.shape[1]):
            row[n] += xk * int32(w_t[k, n])


@int8_matmul_kernel.faster
def int8_matmul_rows(x, x_zero_point, w, acc):
    w_t = np.ascontiguousarray(w.T)
    for m in prange(x.shape[0]):
        integer_row(x, m, x_zero_point, w_t, acc[m])


@int8_linear_kernel.faster
def int8_linear_rows(x, x_zero_point, w, multiplier, bias, y):
    w_t = np.ascontiguousarray(w.T)
    for m in prange(x.shape[0]):
        row = np.empty(w.shape[0], np.int32)
        integer_row(x, m, x_zero_point, w_t, row)
        for n in range(w.shape[0]):
            y[m, n] = dequantized(row[n], multiplier[n], bias[n])


@int8_linear_requantize_kernel.faster
def int8_linear_requantize_rows(x, x_zero_point, w, multiplier, bias, inv_out_scale, out_zero_point, qmin, qmax, q):
    w_t = np.ascontiguousarray(w.T)
    for m in prange(x.shape[0]):
        row = np.empty(w.shape[0], np.int32)
        integer_row(x, m, x_zero_point, w_t, row)
        for n in range(w.shape[0]):
            q[m, n] = requantized(dequantized(row[n], multiplier[n], bias[n]), inv_out_scale, out_zero_point, qmin,
                                  qmax)


@scalar
def requantized(y, inv_out_scale, out_zero_point, qmin, qmax):
    """round_half_even(y / s_y) + z_y, clamped: the output as the next layer's int8 input."""
    return saturated(round_half_even(float(float32(float(y) * inv_out_scale))) + out_zero_point, qmin, qmax)


@gpu_kernel
def int8_matmul_gpu(x, x_zero_point, w, acc):
    start, step = cuda.grid(1), cuda.gridsize(1)
    count = w.shape[0]
    for i in range(start, acc.size, step):
        acc[i // count, i % count] = integer_dot(x, i // count, x_zero_point, w, i % count)


@gpu_kernel
def int8_linear_gpu(x, x_zero_point, w, multiplier, bias, y):
    start, step = cuda.grid(1), cuda.gridsize(1)
    count = w.shape[0]
    for i in range(start, y.size, step):
        m, n = i // count, i % count
        y[m, n] = dequantized(integer_dot(x, m, x_zero_point, w, n), multiplier[n], bias[n])


@gpu_kernel
def int8_linear_requantize_gpu(x, x_zero_point, w, multiplier, bias, inv_out_scale, out_zero_point, qmin, qmax, q):
    start, step = cuda.grid(1), cuda.gridsize(1)
    count = w.shape[0]
    for i in range(start, q.size, step):
        m, n = i // count, i % count
        y = dequantized(integer_dot(x, m, x_zero_point, w, n), multiplier[n], bias[n])
        q[m, n] = requantized(y, inv_out_scale, out_zero_point, qmin, qmax)


int8_matmul_kernel.on_gpu(int8_matmul_gpu)
int8_linear_kernel.on_gpu(int8_linear_gpu)
int8_linear_requantize_kernel.on_gpu(int8_linear_requantize_gpu)

OUTPUTS = ("int32", "float32", "int8", "uint8")


class QuantizedLinear(Particle):
    name = "quantized_linear"
    formula = "y = s_x s_w (q_x - z_x) q_w^T + b   (8-bit products added up in int32)"
    gradient = "none: integer inputs (train with fake_quantize, then convert)"
    kernels = (int8_matmul_kernel, int8_linear_kernel, int8_linear_requantize_kernel)

    @classmethod
    def forward(cls, ctx, x, w, multiplier, bias, x_zero_point=0, output="float32", out_scale=1.0,
                out_zero_point=0):
        """x (M, K) int8/uint8, w (N, K) int8, multiplier (N,) float32 = s_x s_w[n], bias (N,)
        float32 (zeros for none); output as the module docstring says."""
        if x.dtype.name not in RANGES or w.dtype != np.int8:
            cls.fail(f"expected x int8 or uint8 and w int8, got x {describe(x)} and w {describe(w)}", TypeError)
        if x.ndim != 2 or w.ndim != 2 or x.shape[1] != w.shape[1]:
            cls.fail(f"expected x (M, K) and w (N, K), got x {describe(x)} and w {describe(w)}")
        if multiplier.shape != (w.shape[0],) or bias.shape != (w.shape[0],) or multiplier.dtype != np.float32 \
                or bias.dtype != np.float32:
            cls.fail(f"multiplier and bias must be float32 of shape ({w.shape[0]},), got {describe(multiplier)} "
                     f"and {describe(bias)}")
        if x.shape[1] > INT32_SAFE_DEPTH:
            cls.fail(f"a sum of {x.shape[1]} 8-bit products may overflow int32 (at most {INT32_SAFE_DEPTH})")
        if output not in OUTPUTS:
            cls.fail(f"output must be one of {', '.join(OUTPUTS)}, got {output!r}")
        qmin, qmax = RANGES[x.dtype.name]
        if not qmin <= x_zero_point <= qmax:
            cls.fail(f"x_zero_point {x_zero_point} lies outside [{qmin}, {qmax}] of {x.dtype}")
        backend = ctx.backend
        x, w = backend.contiguous(x), backend.contiguous(w)
        shape, zero = (x.shape[0], w.shape[0]), int(x_zero_point)
        if output == "int32":
            out = backend.empty(shape, np.int32)
            ctx.run(int8_matmul_kernel, x, zero, w, out)
        elif output == "float32":
            out = backend.empty(shape, np.float32)
            ctx.run(int8_linear_kernel, x, zero, w, multiplier, bias, out)
        else:
            if not (np.isfinite(out_scale) and out_scale > 0):
                cls.fail(f"out_scale must be positive and finite, got {out_scale!r}")
            out_min, out_max = RANGES[output]
            out = backend.empty(shape, np.dtype(output))
            ctx.run(int8_linear_requantize_kernel, x, zero, w, multiplier, bias,
                    float(np.float32(1) / np.float32(out_scale)), float(out_zero_point), float(out_min),
                    float(out_max), out)
        return out

    @staticmethod
    def backward(ctx, grad_y):
        return None, None, None, None

    @staticmethod
    def reference(x, w, multiplier, bias, x_zero_point=0, output="float32", out_scale=1.0, out_zero_point=0):
        acc = (x.astype(np.int64) - x_zero_point) @ w.astype(np.int64).T
        if output == "int32":
            return acc.astype(np.int32)
        y = ((acc.astype(np.float32) * multiplier).astype(np.float32) + bias).astype(np.float32)
        if output == "float32":
            return y
        out_min, out_max = RANGES[output]
        v = np.rint((y * (np.float32(1) / np.float32(out_scale))).astype(np.float32)) + out_zero_point
        return np.clip(v, out_min, out_max).astype(output)
