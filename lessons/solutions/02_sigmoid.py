"""Solution (lesson 02): the backward of sigmoid.

    forward   y = 1 / (1 + e^-x)
    backward  dx = dy * y (1 - y)     (dy/dx = e^-x / (1 + e^-x)^2 = y (1 - y))

Graded by: minisora check lessons/solutions/02_sigmoid.py
"""
import numpy as np

from minisora.particles import Particle


class Sigmoid(Particle):
    name = "sigmoid"

    @classmethod
    def forward(cls, ctx, x):
        cls.require_float(x)
        y = 1 / (1 + np.exp(-x))
        ctx.save(y)
        return y

    @staticmethod
    def backward(ctx, grad_y):
        (y,) = ctx.saved
        return (grad_y * y * (1 - y),)
