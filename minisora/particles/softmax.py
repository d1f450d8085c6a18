"""Softmax and log-softmax along one dim.

    softmax      y_j = e^(x_j - m) / sum_k e^(x_k - m)        (m = max_k x_k)
                 dx_j = y_j (dy_j - sum_k dy_k y_k)
    log_softmax  y_j = x_j - m - ln sum_k e^(x_k - m)
                 dx_j = dy_j - e^(y_j) sum_k dy_k

Subtracting the row max m changes nothing mathematically (it cancels) but keeps e^x from
overflowing: the largest exponent becomes e^0 = 1.
"""
import math

import numpy as np
from numba import float64

from ..backends.gpu import SCRATCH, block_max, block_sum, cuda, device_function, gpu_kernel, launch_rows
from ..backends.kernel import kernel, scalar
from .particle import Particle, describe


def softmax_reference(x, dim=-1, log=False):
    shifted = x - np.max(x, axis=dim, keepdims=True)
    if log:
        return shifted - np.log(np.sum(np.exp(shifted), axis=dim, keepdims=True))
    e = np.exp(shifted)
    return e / np.sum(e, axis=dim, keepdims=True)


# e^r for small r by its Taylor series: 1 + r + r^2/2! + ... + r^10/10!
E0, E1, E2, E3, E4, E5, E6, E7, E8, E9, E10 = (1.0 / math.factorial(k) for k in range(11))


@scalar(inline=False)
def exp_nonpositive(x):
    """e^x for x <= 0 from multiplications only, so a loop of them runs as vector instructions
    (the library exp is one call per element). e^x = (e^(x/64))^64: x/64 lies in [-0.625, 0] where
    10 Taylor terms are exact to 2e-10, and six squarings give the 64th power (relative error
    below 2e-8 on [-40, 0], under float32's rounding; below -40, where e^x < 5e-18, it returns e^-40)."""
    r = max(x, -40.0) * (1.0 / 64.0)
    p = E0 + r * (E1 + r * (E2 + r * (E3 + r * (E4 + r * (E5 + r * (E6 + r * (E7 + r * (E8 + r * (E9 + r * E10)))))))))
    p = p * p
    p = p * p
    p = p * p
    p = p * p
    p = p * p
    return p * p


# exp_float32's constants, float32 so that its loops stay float32 (16 numbers a vector, not 8)
F32 = np.float32
LOG2_E, LN2_HIGH, LN2_LOW = F32(1.0 / math.log(2.0)), F32(0.693359375), F32(math.log(2.0) - 0.693359375)
T0, T1, T2, T3, T4, T5, T6, T7 = (F32(1.0 / math.factorial(k)) for k in range(8))
FLOAT32_LOWEST_EXP, HALF = F32(-87.0), F32(0.5)


@scalar
def exp_float32(x):
    """e^x for float32 x <= 0 in float32 arithmetic, vectorizable, within 1.3 ulp of the exact value:
    x = n ln 2 + r with n = round(x / ln 2), |r| <= ln2 / 2 (ln 2 in two parts, so that n ln 2 is
    exact: the Cody-Waite reduction); e^r by 7 Taylor terms; times 2^n, made by writing n into a
    float's exponent bits. Below -87 (e^x under float32's smallest normal number) it gives e^-87;
    NaN stays NaN (`not x < lowest` is true for NaN)."""
    x = x if not x < FLOAT32_LOWEST_EXP else FLOAT32_LOWEST_EXP
    n = np.floor(x * LOG2_E + HALF)
    r = x - n * LN2_HIGH - n * LN2_LOW
    p = T0 + r * (T1 + r * (T2 + r * (T3 + r * (T4 + r * (T5 + r * (T6 + r * T7))))))
    return p * np.int32((np.int32(n) + 127) << 23).view(np.float32)


@scalar(inline=False)
def has_nan(row, count):
    """Whether row[:count] holds a NaN. (A function of its own: the same loop written into the
    softmax kernel made the compiler vectorize none of it, twice as slow.)"""
    for s in range(count):
        if row[s] != row[s]:
            return True
    return False


@scalar
def row_max_and_exp_sum(x, r, fast_exp):
    """(m, sum_j e^(x_rj - m)) for row r: the two numbers every softmax-like particle needs.
    fast_exp (float32 data, whose rounding hides its error): e^x by exp_nonpositive; else the
    library exp, exact to the last bit for float64 gradient checks."""
    row_max = x[r, 0]
    for j in range(1, x.shape[1]):
        row_max = max(row_max, x[r, j])
    total = 0.0
    for j in range(x.shape[1]):
        total += exp_nonpositive(x[r, j] - row_max) if fast_exp else np.exp(x[r, j] - row_max)
    return row_max, total


@kernel
def softmax_kernel(x, log, y):
    rows, n = x.shape
    for r in range(rows):
        row_max, total = row_max_and_exp_sum(x, r, False)
        if log:
            log_total = row_max + np.log(total)
            for j in range(n):
                y[r, j] = x[r, j] - log_total
        else:
            for j in range(n):
                y[r, j] = np.exp(x[r, j] - row_max) / total


@kernel
def softmax_backward_kernel(y, grad_y, log, grad_x):
    rows, n = y.shape
    for r in range(rows):
        total = 0.0
        if log:
            for j in range(n):
                total += grad_y[r, j]
            for j in range(n):
                grad_x[r, j] = grad_y[r, j] - np.exp(y[r, j]) * total
        else:
            for j in range(n):
                total += grad_y[r, j] * y[r, j]
            for j in range(n):
                grad_x[r, j] = y[r, j] * (grad_y[r, j] - total)


# GPU twins: one block per row; its threads share the row and combine max and sum in shared memory
@device_function
def block_row_max_and_exp_sum(x, r, scratch):
    """row_max_and_exp_sum of row r for a block: each thread takes every blockDim-th number."""
    row_max = -math.inf
    for j in range(cuda.threadIdx.x, x.shape[1], cuda.blockDim.x):
        row_max = max(row_max, float64(x[r, j]))
    row_max = block_max(row_max, scratch)
    total = 0.0
    for j in range(cuda.threadIdx.x, x.shape[1], cuda.blockDim.x):
        total += math.exp(x[r, j] - row_max)
    return row_max, block_sum(total, scratch)


@gpu_kernel
def softmax_gpu(x, log, y):
    rows, n = x.shape
    scratch = cuda.shared.array(SCRATCH, float64)
    for r in range(cuda.blockIdx.x, rows, cuda.gridDim.x):
        row_max, total = block_row_max_and_exp_sum(x, r, scratch)
        log_total = row_max + math.log(total)
        for j in range(cuda.threadIdx.x, n, cuda.blockDim.x):
            y[r, j] = x[r, j] - log_total if log else math.exp(x[r, j] - row_max) / total


@gpu_kernel
def softmax_backward_gpu(y, grad_y, log, grad_x):
    rows, n = y.shape
    scratch = cuda.shared.array(SCRATCH, float64)
    for r in range(cuda.blockIdx.x, rows, cuda.gridDim.x):
        total = 0.0
        for j in range(cuda.threadIdx.x, n, cuda.blockDim.x):
            total += grad_y[r, j] if log else grad_y[r, j] * y[r, j]
        total = block_sum(total, scratch)
        for j in range(cuda.threadIdx.x, n, cuda.blockDim.x):
            if log:
                grad_x[r, j] = grad_y[r, j] - math.exp(y[r, j]) * total
            else:
                grad_x[r, j] = y[r, j] * (grad_y[r, j] - total)


@softmax_kernel.gpu
def launch_softmax(x, log, y):
    launch_rows(softmax_gpu, x.shape[0], x.shape[1], x, log, y)


@softmax_backward_kernel.gpu
def launch_softmax_backward(y, grad_y, log, grad_x):
    launch_rows(softmax_backward_gpu, y.shape[0], y.shape[1], y, grad_y, log, grad_x)


class Softmax(Particle):
    name, log = "softmax", False
    formula, gradient = "y_j = e^(x_j) / sum_k e^(x_k)", "dx_j = y_j (dy_j - sum_k dy_k y_k)"
    kernels = (softmax_kernel, softmax_backward_kernel)

    @classmethod
    def forward(cls, ctx, x, dim=-1):
        cls.require_float(x)
        if not isinstance(dim, (int, np.integer)):
            cls.fail(f"dim must be an integer, got {dim!r}", TypeError)
        ndim = max(x.ndim, 1)   # a 0-d tensor is one row of one number (dim 0 or -1), as in PyTorch
        if not -ndim <= dim < ndim:
            cls.fail(f"dim {dim} is out of range for {describe(x)}", IndexError)
        backend = ctx.backend
        ctx.dim = dim % ndim
        rows = to_rows(backend, x, ctx.dim)
        y = backend.empty(rows.shape, x.dtype)
        if y.size:
            ctx.run(softmax_kernel, rows, cls.log, y)
        ctx.save(y)
        return from_rows(backend, y, x.shape, ctx.dim)

    @classmethod
    def backward(cls, ctx, grad_y):
        (y,) = ctx.saved
        backend = ctx.backend
        grad_rows = to_rows(backend, backend.astype(grad_y, y.dtype), ctx.dim)
        grad_x = backend.empty(y.shape, y.dtype)
        if grad_x.size:
            ctx.run(softmax_backward_kernel, y, grad_rows, cls.log, grad_x)
        return (from_rows(backend, grad_x, grad_y.shape, ctx.dim),)

    @classmethod
    def reference(cls, x, dim=-1):
        return softmax_reference(x, dim, cls.log)

    @classmethod
    def reference_backward(cls, x, grad_y, dim=-1):
        y = softmax_reference(x, dim, cls.log)
        if cls.log:
            return (grad_y - np.exp(y) * np.sum(grad_y, axis=dim, keepdims=True),)
        return (y * (grad_y - np.sum(grad_y * y, axis=dim, keepdims=True)),)


class LogSoftmax(Softmax):
    name, log = "log_softmax", True
    formula, gradient = "y_j = x_j - ln sum_k e^(x_k)", "dx_j = dy_j - e^(y_j) sum_k dy_k"


def last_dim_order(ndim, dim):
    return tuple(d for d in range(ndim) if d != dim) + (dim,)


def to_rows(backend, x, dim):
    """x as a contiguous (rows, n) matrix whose rows run along `dim` (a 0-d x: one row of one)."""
    if x.ndim == 0:
        return backend.reshape(x, (1, 1))
    if dim != x.ndim - 1:
        x = backend.permute(x, last_dim_order(x.ndim, dim))
    # the row count spelled out: -1 is ambiguous when a dim is 0
    return backend.reshape(backend.contiguous(x), (math.prod(x.shape[:-1]), x.shape[-1]))


def from_rows(backend, rows, shape, dim):
    if not shape:
        return backend.reshape(rows, ())
    order = last_dim_order(len(shape), dim)
    y = backend.reshape(rows, tuple(shape[d] for d in order))
    return y if dim == len(shape) - 1 else backend.permute(y, tuple(np.argsort(order)))
