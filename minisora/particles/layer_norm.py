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
    grad_weight[:] = 0
    grad_bias[:] = 0
    for r in range(rows):
        mu, inverse = mean[r], rstd[r]
        g_sum = 0.0
        g_xhat_sum = 0.0
        for j in range(n):
            xhat = (x[r, j] - mu) * inverse
            g = grad_y[r, j] * weight[j]
            g_sum += g
            g_xhat_sum += g * xhat
            grad_weight[j] += grad_y[r, j] * xhat
            grad_bias[j] += grad_y[r, j]
        g_mean, g_xhat_mean = g_sum / n, g_xhat_sum / n
        for j in range(n):
            xhat = (x[r, j] - mu) * inverse
            grad_x[r, j] = inverse * (grad_y[r, j] * weight[j] - g_mean - xhat * g_xhat_mean)


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
        # dw and db add up one term per row: accumulate them in float64, then round once
        grad_weight, grad_bias = backend.empty(weight.shape, np.float64), backend.empty(weight.shape, np.float64)
        ctx.run(layer_norm_backward_kernel, rows, weight, mean, rstd, grad_rows, grad_x, grad_weight, grad_bias)
        return (backend.reshape(grad_x, ctx.shape), backend.astype(grad_weight, rows.dtype),
                backend.astype(grad_bias, rows.dtype))

    reference = staticmethod(layer_norm_reference)
    reference_backward = staticmethod(layer_norm_backward_reference)
