"""Layer normalization over the last dim (Ba et al. 2016), one fused kernel each way.

For each row x (n numbers), with weight w and bias b (n each):
    mu = mean(x),   var = mean((x - mu)^2),   r = 1 / sqrt(var + eps)
    xhat = (x - mu) r
    y = xhat w + b
Backward, with g = dy w (the gradient reaching xhat):
    dx = r (g - mean(g) - xhat mean(g xhat))
    dw = sum over rows of dy xhat,     db = sum over rows of dy

The two means in dx come from mu and r depending on every element of the row. The forward
keeps mu and r per row (not xhat), so backward recomputes xhat in the same pass.
"""
import math

import numpy as np
from numba import float64

from ..backends.gpu import SCRATCH, block_sum, cuda, fill, gpu_kernel, launch, launch_elementwise, launch_rows
from ..backends.kernel import kernel
from .particle import Particle, describe


def layer_norm_reference(x, weight, bias, eps=1e-5):
    # in float64 (as the kernel sums): a row of nearly equal numbers loses its digits in float32
    x64 = x.astype(np.float64)
    mean = x64.mean(-1, keepdims=True)
    var = ((x64 - mean) ** 2).mean(-1, keepdims=True)
    return ((x64 - mean) / np.sqrt(var + eps) * weight + bias).astype(x.dtype)


def layer_norm_backward_reference(x, weight, bias, grad_y, eps=1e-5):
    dtype, n = x.dtype, x.shape[-1]
    x, weight, grad_y = x.astype(np.float64), weight.astype(np.float64), grad_y.astype(np.float64)
    mean = x.mean(-1, keepdims=True)
    rstd = 1 / np.sqrt(((x - mean) ** 2).mean(-1, keepdims=True) + eps)
    xhat = (x - mean) * rstd
    g = grad_y * weight
    grad_x = rstd * (g - g.sum(-1, keepdims=True) / n - xhat * (g * xhat).sum(-1, keepdims=True) / n)
    rows = (-1, n)
    grads = grad_x, (grad_y * xhat).reshape(rows).sum(0), grad_y.reshape(rows).sum(0)
    return tuple(g.astype(dtype) for g in grads)


@kernel(reorder_sums=True)
def layer_norm_kernel(x, weight, bias, eps, y, mean, rstd):
    rows, n = x.shape
    for r in range(rows):
        total = 0.0
        for j in range(n):
            total += x[r, j]
        mu = total / n
        squares = 0.0
        for j in range(n):
            squares += (x[r, j] - mu) ** 2
        inverse = 1.0 / math.sqrt(squares / n + eps)
        mean[r], rstd[r] = mu, inverse
        for j in range(n):
            y[r, j] = (x[r, j] - mu) * inverse * weight[j] + bias[j]


@kernel(reorder_sums=True)
def layer_norm_backward_kernel(x, weight, mean, rstd, grad_y, grad_x, grad_weight, grad_bias):
    rows, n = x.shape
    dw, db = np.zeros(n), np.zeros(n)   # each adds one term per row: in float64, rounded once at the end
    for r in range(rows):
        mu, inverse = mean[r], rstd[r]
        g_sum = 0.0
        g_xhat_sum = 0.0
        for j in range(n):
            xhat = (x[r, j] - mu) * inverse
            g = grad_y[r, j] * weight[j]
            g_sum += g
            g_xhat_sum += g * xhat
            dw[j] += grad_y[r, j] * xhat
            db[j] += grad_y[r, j]
        g_mean, g_xhat_mean = g_sum / n, g_xhat_sum / n
        for j in range(n):
            xhat = (x[r, j] - mu) * inverse
            grad_x[r, j] = inverse * (grad_y[r, j] * weight[j] - g_mean - xhat * g_xhat_mean)
    for j in range(n):
        grad_weight[j], grad_bias[j] = dw[j], db[j]


# GPU twins. Forward and dx: a block per row. dw and db add one term per row into each
# column: blocks of columns x chunks of rows each write a partial sum (float64), then a thread
# per column adds its chunks in order: the same result at every run, no atomics, no zeroing.
ROWS_PER_CHUNK = 64


@gpu_kernel
def layer_norm_gpu(x, weight, bias, eps, y, mean, rstd):
    rows, n = x.shape
    scratch = cuda.shared.array(SCRATCH, float64)
    for r in range(cuda.blockIdx.x, rows, cuda.gridDim.x):
        total = 0.0
        for j in range(cuda.threadIdx.x, n, cuda.blockDim.x):
            total += x[r, j]
        mu = block_sum(total, scratch) / n
        squares = 0.0
        for j in range(cuda.threadIdx.x, n, cuda.blockDim.x):
            squares += (x[r, j] - mu) ** 2
        inverse = 1.0 / math.sqrt(block_sum(squares, scratch) / n + eps)
        if cuda.threadIdx.x == 0:
            mean[r], rstd[r] = mu, inverse
        for j in range(cuda.threadIdx.x, n, cuda.blockDim.x):
            y[r, j] = (x[r, j] - mu) * inverse * weight[j] + bias[j]


@gpu_kernel
def layer_norm_grad_x_gpu(x, weight, mean, rstd, grad_y, grad_x):
    rows, n = x.shape
    scratch = cuda.shared.array(SCRATCH, float64)
    for r in range(cuda.blockIdx.x, rows, cuda.gridDim.x):
        mu, inverse = mean[r], rstd[r]
        g_sum = 0.0
        g_xhat_sum = 0.0
        for j in range(cuda.threadIdx.x, n, cuda.blockDim.x):
            g = grad_y[r, j] * weight[j]
            g_sum += g
            g_xhat_sum += g * (x[r, j] - mu) * inverse
        g_mean, g_xhat_mean = block_sum(g_sum, scratch) / n, block_sum(g_xhat_sum, scratch) / n
        for j in range(cuda.threadIdx.x, n, cuda.blockDim.x):
            xhat = (x[r, j] - mu) * inverse
            grad_x[r, j] = inverse * (grad_y[r, j] * weight[j] - g_mean - xhat * g_xhat_mean)


@gpu_kernel
def layer_norm_grad_weight_gpu(x, mean, rstd, grad_y, partial):
    """partial[0, chunk, j] and partial[1, chunk, j]: the chunk's sums of dy xhat and of dy in column j."""
    rows, n = x.shape
    j, chunk = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x, cuda.blockIdx.y
    if j < n:
        dw, db = 0.0, 0.0
        for r in range(chunk * ROWS_PER_CHUNK, min(rows, (chunk + 1) * ROWS_PER_CHUNK)):
            dw += grad_y[r, j] * (x[r, j] - mean[r]) * rstd[r]
            db += grad_y[r, j]
        partial[0, chunk, j], partial[1, chunk, j] = dw, db


@gpu_kernel
def layer_norm_grad_weight_total_gpu(partial, grad_weight, grad_bias):
    chunks, n = partial.shape[1], partial.shape[2]
    start, step = cuda.grid(1), cuda.gridsize(1)
    for j in range(start, n, step):
        dw, db = 0.0, 0.0
        for chunk in range(chunks):
            dw += partial[0, chunk, j]
            db += partial[1, chunk, j]
        grad_weight[j], grad_bias[j] = dw, db


@layer_norm_kernel.gpu
def launch_layer_norm(x, weight, bias, eps, y, mean, rstd):
    launch_rows(layer_norm_gpu, x.shape[0], x.shape[1], x, weight, bias, eps, y, mean, rstd)


@layer_norm_backward_kernel.gpu
def launch_layer_norm_backward(x, weight, mean, rstd, grad_y, grad_x, grad_weight, grad_bias):
    rows, n = x.shape
    launch_rows(layer_norm_grad_x_gpu, rows, n, x, weight, mean, rstd, grad_y, grad_x)
    if rows == 0:   # no terms to add
        fill(grad_weight, 0.0)
        fill(grad_bias, 0.0)
        return
    from ..backends import cuda as backend   # (imported here: minisora's import never loads the GPU backend)

    chunks = (rows + ROWS_PER_CHUNK - 1) // ROWS_PER_CHUNK
    partial = backend.empty((2, chunks, n), np.float64)
    threads = min(128, max(32, n))
    launch(layer_norm_grad_weight_gpu, ((n + threads - 1) // threads, chunks), threads, x, mean, rstd, grad_y,
           partial)
    launch_elementwise(layer_norm_grad_weight_total_gpu, n, partial, grad_weight, grad_bias)


class LayerNorm(Particle):
    name = "layer_norm"
    formula = "y = (x - mean(x)) / sqrt(var(x) + eps) * w + b   (over the last dim)"
    gradient = "dx = r (g - mean(g) - xhat mean(g xhat)) with g = dy w; dw = sum dy xhat; db = sum dy"
    kernels = (layer_norm_kernel, layer_norm_backward_kernel)

    @classmethod
    def forward(cls, ctx, x, weight, bias, eps=1e-5):
        cls.require_float(x, weight, bias)
        n = x.shape[-1] if x.ndim else 0
        if x.ndim == 0 or weight.shape != (n,) or bias.shape != (n,):
            cls.fail(f"weight {describe(weight)} and bias {describe(bias)} must both be ({n},) "
                     f"to normalize the last dim of {describe(x)}")
        if len({x.dtype, weight.dtype, bias.dtype}) > 1:
            cls.fail(f"inputs must share a dtype: {describe(x)}, {describe(weight)}, {describe(bias)}", TypeError)
        if not eps > 0:
            cls.fail(f"eps must be positive, got {eps!r}")
        backend = ctx.backend
        rows = backend.reshape(backend.contiguous(x), (-1, n))
        y = backend.empty(rows.shape, x.dtype)
        mean, rstd = backend.empty((rows.shape[0],), np.float64), backend.empty((rows.shape[0],), np.float64)
        ctx.run(layer_norm_kernel, rows, backend.contiguous(weight), backend.contiguous(bias), float(eps), y, mean, rstd)
        ctx.save(rows, backend.contiguous(weight), mean, rstd)
        ctx.shape = x.shape
        return backend.reshape(y, x.shape)

    @staticmethod
    def backward(ctx, grad_y):
        rows, weight, mean, rstd = ctx.saved
        backend = ctx.backend
        grad_rows = backend.reshape(backend.contiguous(backend.astype(grad_y, rows.dtype)), rows.shape)
        grad_x = backend.empty(rows.shape, rows.dtype)
        grad_weight, grad_bias = backend.empty(weight.shape, rows.dtype), backend.empty(weight.shape, rows.dtype)
        ctx.run(layer_norm_backward_kernel, rows, weight, mean, rstd, grad_rows, grad_x, grad_weight, grad_bias)
        return backend.reshape(grad_x, ctx.shape), grad_weight, grad_bias

    reference = staticmethod(layer_norm_reference)
    reference_backward = staticmethod(layer_norm_backward_reference)
