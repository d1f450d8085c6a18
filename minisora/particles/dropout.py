"""Dropout: while training, zero each element with probability p and scale the rest.

    y_i = x_i m_i / (1 - p)        m_i = 1 with probability 1 - p, else 0
    dx_i = dy_i m_i / (1 - p)

Scaling by 1/(1-p) keeps the expected value of y equal to x, so nothing changes at
evaluation time, when dropout is the identity. The random numbers come in as `noise`
(uniform on [0, 1)), drawn by the caller from minisora's seeded generator.
"""
import numpy as np

from .. import errors
from ..backends.gpu import cuda, gpu_kernel, launch_elementwise
from ..backends.kernel import kernel
from .particle import Particle, describe


@kernel
def dropout_kernel(x, noise, p, keep, y):
    scale = 1.0 / (1.0 - p) if p < 1.0 else 0.0
    for i in range(x.size):
        keep[i] = noise[i] >= p
        y[i] = x[i] * scale if keep[i] else x[i] * 0


@kernel
def dropout_backward_kernel(grad_y, keep, p, grad_x):
    scale = 1.0 / (1.0 - p) if p < 1.0 else 0.0
    for i in range(grad_y.size):
        grad_x[i] = grad_y[i] * scale if keep[i] else grad_y[i] * 0


@gpu_kernel
def dropout_gpu(x, noise, p, keep, y):
    scale = 1.0 / (1.0 - p) if p < 1.0 else 0.0
    start, step = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, x.size, step):
        keep[i] = noise[i] >= p
        y[i] = x[i] * scale if keep[i] else x[i] * 0


@gpu_kernel
def dropout_backward_gpu(grad_y, keep, p, grad_x):
    scale = 1.0 / (1.0 - p) if p < 1.0 else 0.0
    start, step = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, grad_y.size, step):
        grad_x[i] = grad_y[i] * scale if keep[i] else grad_y[i] * 0


@dropout_kernel.gpu
def launch_dropout(x, noise, p, keep, y):
    launch_elementwise(dropout_gpu, x.size, x, noise, p, keep, y)


@dropout_backward_kernel.gpu
def launch_dropout_backward(grad_y, keep, p, grad_x):
    launch_elementwise(dropout_backward_gpu, grad_y.size, grad_y, keep, p, grad_x)


def masked_gradient(ctx, grad_y, keep, p):
    """dx = dy m / (1 - p): the gradient through a mask (dropout's; fake_quantize's, with p = 0)."""
    backend = ctx.backend
    grad_y = backend.contiguous(grad_y)
    grad_x = backend.empty(grad_y.shape, grad_y.dtype)
    ctx.run(dropout_backward_kernel, backend.flat(grad_y), backend.flat(keep), float(p), backend.flat(grad_x))
    return grad_x


class Dropout(Particle):
    name = "dropout"
    formula, gradient = "y = x m / (1 - p), m ~ Bernoulli(1 - p)", "dx = dy m / (1 - p)"
    kernels = (dropout_kernel, dropout_backward_kernel)

    @classmethod
    def forward(cls, ctx, x, noise, p=0.5):
        cls.require_float(x)
        if not 0.0 <= p <= 1.0:
            cls.fail(f"p must be a probability in [0, 1], got {p!r}")
        if noise.shape != x.shape:
            cls.fail(f"noise {describe(noise)} must match input {describe(x)}", errors.ShapeError)
        backend = ctx.backend
        x = backend.contiguous(x)
        y, keep = backend.empty(x.shape, x.dtype), backend.empty(x.shape, np.bool_)
        flat = backend.flat
        ctx.run(dropout_kernel, flat(x), flat(backend.contiguous(noise)), float(p), flat(keep), flat(y))
        ctx.save(keep)
        ctx.p = float(p)
        return y

    @staticmethod
    def backward(ctx, grad_y):
        (keep,) = ctx.saved
        return masked_gradient(ctx, grad_y, keep, ctx.p), None

    @staticmethod
    def reference(x, noise, p=0.5):
        # x * 0 where dropped, not 0: a NaN stays NaN, as in PyTorch's x * mask
        scale = 1 / (1 - p) if p < 1 else 0.0
        return np.where(noise >= p, x * scale, x * 0).astype(x.dtype)

    @staticmethod
    def reference_backward(x, noise, grad_y, p=0.5):
        scale = 1 / (1 - p) if p < 1 else 0.0
        return np.where(noise >= p, grad_y * scale, grad_y * 0).astype(x.dtype), None
