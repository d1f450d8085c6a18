"""Exercise (lesson 02): the backward of sigmoid.

    forward   y = 1 / (1 + e^-x)
    backward  dx = dy * dy/dx        -- what is dy/dx, written with y?

Grade it: minisora check lessons/exercises/02_sigmoid.py
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
        raise NotImplementedError("write the backward of sigmoid: return (grad_y * <dy/dx>,)")
