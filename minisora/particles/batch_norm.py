"""Batch normalization (Ioffe & Szegedy 2015): each channel normalized over the batch (and its places).

For x (N, C, ...) seen as (N, C, S), each channel c over its M = N S numbers, with weight w and
bias b (C each):
    training   mu = mean(x_c),  var = mean((x_c - mu)^2)   (the batch's, biased)
               running_mean = (1 - m) running_mean + m mu
               running_var  = (1 - m) running_var  + m var M / (M - 1)    (unbiased, as PyTorch)
    eval       mu, var = running_mean, running_var
    y = (x - mu) r w + b,      r = 1 / sqrt(var + eps),   xhat = (x - mu) r
Backward, with g = dy w:
    training   dx = r (g - mean(g) - xhat mean(g xhat))   (mu and var depend on every x of the channel)
    eval       dx = r g                                   (the running statistics are constants)
    dw = sum of dy xhat,   db = sum of dy                  (over n and the places)
One kernel each way does a channel at a time: its sums (in float64), its outputs and, training,
its running statistics.
"""
import math

import numpy as np

from ..backends.gpu import cuda, gpu_kernel
from ..backends.kernel import kernel, scalar
from .particle import Particle, describe


def batch_norm_reference(x, weight, bias, *running, training=True, momentum=0.1, eps=1e-5):
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    if training or not running:
        mean, var = x.mean(axes), x.var(axes)
    else:
        mean, var = running
    return (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps) * weight.reshape(shape) + bias.reshape(shape)


def batch_norm_backward_reference(x, weight, bias, *running_and_grad, training=True, momentum=0.1, eps=1e-5):
    *running, grad_y = running_and_grad
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    use_batch = training or not running
    mean, var = (x.mean(axes), x.var(axes)) if use_batch else running
    rstd = 1 / np.sqrt(var.reshape(shape) + eps)
    xhat = (x - mean.reshape(shape)) * rstd
    g = grad_y * weight.reshape(shape)
    if use_batch:
        grad_x = rstd * (g - g.mean(axes, keepdims=True) - xhat * (g * xhat).mean(axes, keepdims=True))
    else:
        grad_x = rstd * g
    return (grad_x, (grad_y * xhat).sum(axes), grad_y.sum(axes)) + (None,) * len(running)


# A channel's work, written once: the CPU kernels loop over the channels, the GPU gives each a thread.
@scalar(inline=False)
def channel_moments(x, c):
    """(mean, biased variance) of channel c of x (N, C, S), summed in float64, in two passes."""
    count, places = x.shape[0], x.shape[2]
    total = 0.0
    for n in range(count):
        for s in range(places):
            total += x[n, c, s]
    mu = total / (count * places)
    squares = 0.0
    for n in range(count):
        for s in range(places):
            squares += (x[n, c, s] - mu) ** 2
    return mu, squares / (count * places)


@scalar(inline=False)
def normalize_channel(x, weight, bias, eps, use_batch, update, momentum, running_mean, running_var, y, mean, rstd, c):
    size = x.shape[0] * x.shape[2]
    if use_batch:
        mu, var = channel_moments(x, c)
        if update:
            running_mean[c] = (1 - momentum) * running_mean[c] + momentum * mu
            running_var[c] = (1 - momentum) * running_var[c] + momentum * var * size / (size - 1)
    else:
        mu, var = running_mean[c], running_var[c]
    inverse = 1.0 / math.sqrt(var + eps)
    mean[c], rstd[c] = mu, inverse
    for n in range(x.shape[0]):
        for s in range(x.shape[2]):
            y[n, c, s] = (x[n, c, s] - mu) * inverse * weight[c] + bias[c]


@scalar(inline=False)
def channel_backward(x, weight, mean, rstd, use_batch, grad_y, grad_x, grad_weight, grad_bias, c):
    size = x.shape[0] * x.shape[2]
    mu, inverse = mean[c], rstd[c]
    dy_sum, dy_xhat_sum = 0.0, 0.0
    for n in range(x.shape[0]):
        for s in range(x.shape[2]):
            dy_sum += grad_y[n, c, s]
            dy_xhat_sum += grad_y[n, c, s] * (x[n, c, s] - mu) * inverse
    grad_weight[c], grad_bias[c] = dy_xhat_sum, dy_sum
    g_mean, g_xhat_mean = dy_sum * weight[c] / size, dy_xhat_sum * weight[c] / size
    for n in range(x.shape[0]):
        for s in range(x.shape[2]):
            g = grad_y[n, c, s] * weight[c]
            if use_batch:
                g = g - g_mean - (x[n, c, s] - mu) * inverse * g_xhat_mean
            grad_x[n, c, s] = inverse * g


@kernel
def batch_norm_kernel(x, weight, bias, eps, use_batch, update, momentum, running_mean, running_var, y, mean, rstd):
    for c in range(x.shape[1]):
        normalize_channel(x, weight, bias, eps, use_batch, update, momentum, running_mean, running_var, y, mean, rstd, c)


@kernel
def batch_norm_backward_kernel(x, weight, mean, rstd, use_batch, grad_y, grad_x, grad_weight, grad_bias):
    for c in range(x.shape[1]):
        channel_backward(x, weight, mean, rstd, use_batch, grad_y, grad_x, grad_weight, grad_bias, c)


# GPU twins: a thread per channel (the last argument has one number per channel)
@gpu_kernel
def batch_norm_gpu(x, weight, bias, eps, use_batch, update, momentum, running_mean, running_var, y, mean, rstd):
    for c in range(cuda.grid(1), x.shape[1], cuda.gridsize(1)):
        normalize_channel(x, weight, bias, eps, use_batch, update, momentum, running_mean, running_var, y, mean, rstd, c)


@gpu_kernel
def batch_norm_backward_gpu(x, weight, mean, rstd, use_batch, grad_y, grad_x, grad_weight, grad_bias):
    for c in range(cuda.grid(1), x.shape[1], cuda.gridsize(1)):
        channel_backward(x, weight, mean, rstd, use_batch, grad_y, grad_x, grad_weight, grad_bias, c)


class BatchNorm(Particle):
    name = "batch_norm"
    formula = "y = (x - mu) / sqrt(var + eps) w + b per channel; training: the batch's mu, var (running ones updated)"
    gradient = "training: dx = r (g - mean(g) - xhat mean(g xhat)), g = dy w; eval: dx = r g; dw = sum dy xhat; db = sum dy"
    kernels = (batch_norm_kernel.on_gpu(batch_norm_gpu), batch_norm_backward_kernel.on_gpu(batch_norm_backward_gpu))

    @classmethod
    def forward(cls, ctx, x, weight, bias, running_mean=None, running_var=None, training=True, momentum=0.1,
                eps=1e-5):
        cls.require_float(x, weight, bias)
        if x.ndim < 2:
            cls.fail(f"input {describe(x)} must be (N, C, ...)")
        channels = x.shape[1]
        running = tuple(a for a in (running_mean, running_var) if a is not None)
        for array in (weight, bias) + running:
            if array.shape != (channels,):
                cls.fail(f"weight, bias and running statistics must be ({channels},) for input {describe(x)}, "
                         f"got {describe(array)}")
        if len({a.dtype for a in (x, weight, bias) + running}) > 1:
            cls.fail("inputs must share a dtype: " + ", ".join(map(describe, (x, weight, bias) + running)), TypeError)
        use_batch = bool(training) or not running
        size = x.size // channels if channels else 0
        if use_batch and size < 2:
            cls.fail(f"expected more than 1 value per channel when training, got input {describe(x)}")
        if not use_batch and len(running) != 2:
            cls.fail("eval needs both running_mean and running_var")
        backend = ctx.backend
        rows = backend.reshape(backend.contiguous(x), x.shape[:2] + (size // max(x.shape[0], 1),))
        y = backend.empty(rows.shape, x.dtype)
        mean, rstd = backend.empty((channels,), np.float64), backend.empty((channels,), np.float64)
        stats = running if running else (backend.empty((channels,), x.dtype),) * 2
        ctx.run(batch_norm_kernel, rows, backend.contiguous(weight), backend.contiguous(bias), float(eps), use_batch,
                bool(training) and bool(running), float(momentum), stats[0], stats[1], y, mean, rstd)
        ctx.save(rows, backend.contiguous(weight), mean, rstd)
        ctx.use_batch, ctx.shape, ctx.running = use_batch, x.shape, len(running)
        return backend.reshape(y, x.shape)

    @staticmethod
    def backward(ctx, grad_y):
        rows, weight, mean, rstd = ctx.saved
        backend = ctx.backend
        grad_rows = backend.reshape(backend.contiguous(backend.astype(grad_y, rows.dtype)), rows.shape)
        grad_x = backend.empty(rows.shape, rows.dtype)
        grad_weight, grad_bias = backend.empty(weight.shape, rows.dtype), backend.empty(weight.shape, rows.dtype)
        ctx.run(batch_norm_backward_kernel, rows, weight, mean, rstd, ctx.use_batch, grad_rows, grad_x, grad_weight,
                grad_bias)
        return (backend.reshape(grad_x, ctx.shape), grad_weight, grad_bias) + (None,) * ctx.running

    reference = staticmethod(batch_norm_reference)
    reference_backward = staticmethod(batch_norm_backward_reference)
