"""Solution (lessons 02-04): the backward of softmax over the last dim.

    forward   y_j = e^(x_j - m) / sum_k e^(x_k - m)          (m = max_k x_k, for stability)
    backward  dx_j = sum_i dy_i y_i ([i = j] - y_j) = y_j (dy_j - sum_i dy_i y_i)

Graded by: minisora check lessons/solutions/04_softmax.py
"""
import numpy as np

from minisora.particles import Particle


class Softmax(Particle):
    name = "softmax"

    @classmethod
    def forward(cls, ctx, x):
        cls.require_float(x)
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        y = e / e.sum(axis=-1, keepdims=True)
        ctx.save(y)
        return y

    @staticmethod
    def backward(ctx, grad_y):
        (y,) = ctx.saved
        return (y * (grad_y - (grad_y * y).sum(axis=-1, keepdims=True)),)
