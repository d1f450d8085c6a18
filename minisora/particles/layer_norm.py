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
from numba import float64, int32

from ..backends.gpu import (MAX_BLOCKS, SCRATCH, arrival_counters, block_sum, cuda, device_function, fill, gpu_kernel,
                            launch, launch_rows, sized, threads_for)
from ..backends.kernel import kernel
from ..backends.layout import merged_leading
from .particle import Particle, describe


def layer_norm_reference(x, weight, bias, eps=1e-5):
    # in float64 (as the kernel sums): a row of nearly equal numbers loses its digits in float32
    x64 = x.astype(np.float64)
    mean = x64.mean(-1, keepdims=True)
    var = ((x64 - mean) ** 2).mean(-1, keepdims=True)
    return ((x64 - mean) / np.sqrt(var + eps) * weight + bias).astype(x.dtype)


def layer_norm_backward_reference(x, weight, _bias, grad_y, eps=1e-5):
    """dx, dw, db (every reference_backward takes the particle's inputs, and b is one: it enters no gradient)."""
    dtype, n = x.dtype, x.shape[-1]
    x, weight, grad_y = x.astype(np.float64), weight.astype(np.float64), grad_y.astype(np.float64)
    mean = x.mean(-1, keepdims=True)
    rstd = 1 / np.sqrt(((x - mean) ** 2).mean(-1, keepdims=True) + eps)
    xhat = (x - mean) * rstd
    g = grad_y * weight
    grad_x = rstd * (g - g.sum(-1, keepdims=True) / n - xhat * (g * xhat).sum(-1, keepdims=True) / n)
    rows = merged_leading(x.shape, 1)
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


# GPU twins. Forward: a block per row. Backward, one launch with two kinds of blocks: the first
# `row_blocks` work out dx, a row at a time; the others add dw and db, one term per row into each
# column, a block per column block (its threads) and chunks of rows, writing partial sums
# (float64). The last block of a column block to finish adds its partials, chunk by chunk: the
# same result at every run, no atomics on the sums, no zeroing, no launch for the total.
ROWS_PER_CHUNK = sized(64, on_simulator=2)


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


@device_function
def grad_x_rows(x, weight, mean, rstd, grad_y, grad_x, row_blocks):
    """dx for rows blockIdx.x, blockIdx.x + row_blocks, ...: a row's two means by block sums."""
    rows, n = x.shape
    scratch = cuda.shared.array(SCRATCH, float64)
    for r in range(cuda.blockIdx.x, rows, row_blocks):
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


@device_function
def weight_and_bias_sums(x, mean, rstd, grad_y, block, chunk_blocks, partial, arrivals, grad_weight, grad_bias):
    """Block number `block` of the dw, db blocks: a thread per column of its column block, over
    the chunks first, first + chunk_blocks, ... of rows.

    partial[column_block, 0 and 1, chunk, t]: the chunk's sums of dy xhat and of dy in column
    column_block * blockDim + t (each column block's partials lie apart: no cache line holds two
    column blocks' sums). arrivals[column_block] counts its chunks done; the writes are fenced
    before the count goes up, so the block that brings it to `chunks` sees every partial. That
    block adds them, in chunk order, and sets the count back to 0 for the next launch."""
    rows, n = x.shape
    column_blocks, chunks = partial.shape[0], partial.shape[2]
    column_block, first, t = block % column_blocks, block // column_blocks, cuda.threadIdx.x
    j = column_block * cuda.blockDim.x + t
    for chunk in range(first, chunks, chunk_blocks):
        dw, db = 0.0, 0.0
        if j < n:
            for r in range(chunk * ROWS_PER_CHUNK, min(rows, (chunk + 1) * ROWS_PER_CHUNK)):
                dw += grad_y[r, j] * (x[r, j] - mean[r]) * rstd[r]
                db += grad_y[r, j]
        partial[column_block, 0, chunk, t], partial[column_block, 1, chunk, t] = dw, db
    cuda.threadfence()
    cuda.syncthreads()
    last = cuda.shared.array(1, int32)
    if t == 0:
        done = (chunks - first + chunk_blocks - 1) // chunk_blocks
        last[0] = cuda.atomic.add(arrivals, column_block, done) + done == chunks
    cuda.syncthreads()
    if last[0]:
        if j < n:
            dw, db = 0.0, 0.0
            for c in range(chunks):
                dw += partial[column_block, 0, c, t]
                db += partial[column_block, 1, c, t]
            grad_weight[j], grad_bias[j] = dw, db
        if t == 0:
            arrivals[column_block] = 0


@gpu_kernel
def layer_norm_backward_gpu(x, weight, mean, rstd, grad_y, grad_x, row_blocks, chunk_blocks, partial, arrivals,
                            grad_weight, grad_bias):
    if cuda.blockIdx.x < row_blocks:
        grad_x_rows(x, weight, mean, rstd, grad_y, grad_x, row_blocks)
    else:
        weight_and_bias_sums(x, mean, rstd, grad_y, cuda.blockIdx.x - row_blocks, chunk_blocks, partial, arrivals,
                             grad_weight, grad_bias)


@layer_norm_kernel.gpu
def launch_layer_norm(x, weight, bias, eps, y, mean, rstd):
    launch_rows(layer_norm_gpu, x.shape[0], x.shape[1], x, weight, bias, eps, y, mean, rstd)


@layer_norm_backward_kernel.gpu
def launch_layer_norm_backward(x, weight, mean, rstd, grad_y, grad_x, grad_weight, grad_bias):
    rows, n = x.shape
    if rows == 0:   # no terms to add
        fill(grad_weight, 0.0)
        fill(grad_bias, 0.0)
        return
    from ..backends import cuda as backend   # (imported here: minisora's import never loads the GPU backend)

    threads = threads_for(n)
    column_blocks, chunks = (n + threads - 1) // threads, (rows + ROWS_PER_CHUNK - 1) // ROWS_PER_CHUNK
    # a block per row (grid-stride past MAX_BLOCKS), and per column block up to MAX_BLOCKS in all
    # for the sums, each taking every chunk_blocks-th chunk of rows
    row_blocks, chunk_blocks = min(rows, MAX_BLOCKS), max(1, min(chunks, MAX_BLOCKS // column_blocks))
    partial = backend.empty((column_blocks, 2, chunks, threads), np.float64)
    launch(layer_norm_backward_gpu, row_blocks + column_blocks * chunk_blocks, threads, x, weight, mean, rstd,
           grad_y, grad_x, row_blocks, chunk_blocks, partial, arrival_counters(column_blocks), grad_weight, grad_bias)


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
        rows = backend.reshape(backend.contiguous(x), merged_leading(x.shape, 1))
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
