"""Solution (lesson 08): the backward of scaled dot-product attention (no mask).

    forward   S = Q K^T c   (c = 1 / sqrt(d_k)),   P = softmax(S) row by row,   O = P V
    backward  dV = P^T dO,   dP = dO V^T,   dS = P (dP - rowsum(dP P)),   dQ = c dS K,   dK = c dS^T Q

The softmax backward (exercise 04_softmax) row by row gives dS; S = c Q K^T gives
dQ and dK. Graded by: minisora check lessons/solutions/08_attention.py
"""
import math

import numpy as np

from minisora.particles import Particle


class Attention(Particle):
    name = "scaled_dot_product_attention"
    example_shapes = [((2, 3, 4), (2, 5, 4), (2, 5, 2)), ((1, 1, 3), (1, 1, 3), (1, 1, 3))]

    @classmethod
    def forward(cls, ctx, q, k, v):
        cls.require_float(q, k, v)
        scale = 1 / math.sqrt(q.shape[-1])   # a Python float: a NumPy float64 would widen float32 input
        scores = q @ np.swapaxes(k, -1, -2) * scale
        e = np.exp(scores - scores.max(axis=-1, keepdims=True))
        p = e / e.sum(axis=-1, keepdims=True)
        ctx.save(q, k, v, p)
        ctx.scale = scale
        return p @ v

    @staticmethod
    def backward(ctx, grad_out):
        q, k, v, p = ctx.saved
        grad_v = np.swapaxes(p, -1, -2) @ grad_out
        grad_p = grad_out @ np.swapaxes(v, -1, -2)
        grad_s = p * (grad_p - (grad_p * p).sum(axis=-1, keepdims=True))
        return grad_s @ k * ctx.scale, np.swapaxes(grad_s, -1, -2) @ q * ctx.scale, grad_v
