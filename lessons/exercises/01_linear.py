"""Exercise (lesson 01): the forward of a layer of neurons, y = x W^T + b.

    x is (batch, in_features), W is (out_features, in_features), b is (out_features,):
    y[n, o] = sum_i x[n, i] W[o, i] + b[o]        -- every neuron o of the layer, for every sample n

The backward is written for you (lesson 03 explains it). Grade it: minisora check lessons/exercises/01_linear.py
"""
from minisora.particles import Particle


class Linear(Particle):
    name = "linear"
    example_shapes = [((2, 3), (4, 3), (4,)), ((1, 2), (1, 2), (1,)), ((5, 1), (3, 1), (3,))]

    @classmethod
    def forward(cls, ctx, x, weight, bias):
        cls.require_float(x, weight, bias)
        ctx.save(x, weight)
        raise NotImplementedError("write the forward of the layer: return y, shaped (batch, out_features)")

    @staticmethod
    def backward(ctx, grad_y):
        x, weight = ctx.saved
        return grad_y @ weight, grad_y.T @ x, grad_y.sum(axis=0)
