"""Sinusoidal positional encoding, added to a sequence of vectors (Vaswani et al. 2017).

    PE(t, 2i)   = sin(t / 10000^(2i/d))
    PE(t, 2i+1) = cos(t / 10000^(2i/d))           t = 0, 1, ... the position, d the vector size
    y[..., t, :] = x[..., t, :] + PE(t, :)
    dx = dy                                        (PE is a fixed table: it has no gradient)

Each pair of features (2i, 2i+1) turns at its own frequency, from one turn every 2 pi
positions (i = 0) down to one every 2 pi 10000 positions, so every position gets a distinct
pattern and PE(t + k) is a fixed rotation of PE(t). The exponent is 2i/d: the same for both
members of a pair.
"""
import math

import numpy as np

from ..backends.gpu import cuda, gpu_kernel, launch_elementwise
from ..backends.kernel import kernel, scalar
from ..backends.layout import merged_leading
from .particle import Particle, describe


def positional_table_reference(length, dim):
    """The (length, dim) table PE, vectorized."""
    positions = np.arange(length)[:, None]
    pair = np.arange(dim) // 2                       # i for feature 2i and 2i+1
    angles = positions / 10000.0 ** (2 * pair / dim)
    return np.where(np.arange(dim) % 2 == 0, np.sin(angles), np.cos(angles))


@scalar
def positional_value(t, j, dim):
    angle = t / 10000.0 ** (2 * (j // 2) / dim)
    return math.sin(angle) if j % 2 == 0 else math.cos(angle)


@kernel
def add_positional_kernel(x, y):
    """x, y: (batch, length, dim) with batch the product of every leading dim."""
    batch, length, dim = x.shape
    for t in range(length):
        for j in range(dim):
            value = positional_value(t, j, dim)
            for b in range(batch):
                y[b, t, j] = x[b, t, j] + value


@gpu_kernel
def add_positional_gpu(x, y):
    batch, length, dim = x.shape
    start, step = cuda.grid(1), cuda.gridsize(1)
    for e in range(start, batch * length * dim, step):
        b, t, j = e // (length * dim), (e // dim) % length, e % dim
        y[b, t, j] = x[b, t, j] + positional_value(t, j, dim)


@add_positional_kernel.gpu
def launch_add_positional(x, y):
    launch_elementwise(add_positional_gpu, y.size, x, y)


class PositionalEncoding(Particle):
    name = "positional_encoding"
    formula = "y[t, 2i] = x[t, 2i] + sin(t / 10000^(2i/d)),  y[t, 2i+1] = x[t, 2i+1] + cos(t / 10000^(2i/d))"
    gradient = "dx = dy"
    kernels = (add_positional_kernel,)

    @classmethod
    def forward(cls, ctx, x):
        cls.require_float(x)
        if x.ndim < 2:
            cls.fail(f"input must be (..., length, dim), got {describe(x)}")
        backend = ctx.backend
        blocks = backend.reshape(backend.contiguous(x), merged_leading(x.shape, 2))
        y = backend.empty(blocks.shape, x.dtype)
        ctx.run(add_positional_kernel, blocks, y)
        return backend.reshape(y, x.shape)

    @staticmethod
    def backward(ctx, grad_y):
        return (grad_y,)

    @staticmethod
    def reference(x):
        return x + positional_table_reference(*x.shape[-2:]).astype(x.dtype)

    @staticmethod
    def reference_backward(x, grad_y):
        return (grad_y,)
