"""Exercise (lesson 09): the backward of layer norm over the last dim (n numbers per row).

    forward   mu = mean(x), var = mean((x - mu)^2), r = 1 / sqrt(var + eps)
              xhat = (x - mu) r,   y = xhat w + b
    backward  dw = sum over rows of dy xhat,   db = sum over rows of dy
              dx = ?      -- with g = dy w: mu and r depend on every x of the row

Hint: dx = r (g - mean(g) - xhat mean(g xhat)). Grade it: minisora check lessons/exercises/09_layer_norm.py
"""
import numpy as np

from minisora.particles import Particle


class LayerNorm(Particle):
    name = "layer_norm"
    example_shapes = [((2, 5), (5,), (5,)), ((3, 1, 4), (4,), (4,))]

    @classmethod
    def forward(cls, ctx, x, weight, bias):
        cls.require_float(x, weight, bias)
        mean = x.mean(axis=-1, keepdims=True)
        rstd = 1 / np.sqrt(((x - mean) ** 2).mean(axis=-1, keepdims=True) + 1e-5)
        xhat = (x - mean) * rstd
        ctx.save(xhat, rstd, weight)
        return xhat * weight + bias

    @staticmethod
    def backward(ctx, grad_y):
        xhat, rstd, weight = ctx.saved
        rows = grad_y.reshape(-1, grad_y.shape[-1])
        grad_weight = (rows * xhat.reshape(rows.shape)).sum(axis=0)
        grad_bias = rows.sum(axis=0)
        raise NotImplementedError("write dx of layer norm: return (dx, grad_weight, grad_bias)")
