"""Solution (lesson 13): the backward of a 2-D convolution (stride 1, no padding), written with NumPy.

    forward   windows[n, c, u, v, i, j] = x[n, c, u + i, v + j]           (every kh x kw window)
              y[n, o, u, v] = b[o] + sum over c, i, j of w[o, c, i, j] windows[n, c, u, v, i, j]
    backward  dw[o, c, i, j] = sum over n, u, v of dy[n, o, u, v] windows[n, c, u, v, i, j]
              db[o] = sum over n, u, v of dy[n, o, u, v]
              dx: kernel place (i, j) read x[n, c, u + i, v + j] for every output place (u, v),
                  so it sends sum over o of dy[n, o, u, v] w[o, c, i, j] back there; dx adds them up

Graded by: minisora check lessons/solutions/13_conv2d.py
"""
import numpy as np

from minisora.particles import Particle


class Conv2d(Particle):
    name = "conv2d"
    example_shapes = [((2, 3, 5, 4), (4, 3, 3, 2), (4,)), ((1, 1, 3, 3), (2, 1, 2, 2), (2,))]

    @classmethod
    def forward(cls, ctx, x, weight, bias):
        cls.require_float(x, weight, bias)
        windows = np.lib.stride_tricks.sliding_window_view(x, weight.shape[2:], axis=(2, 3))
        ctx.save(x, weight, windows)
        return np.einsum("nchwij,ocij->nohw", windows, weight) + bias[None, :, None, None]

    @staticmethod
    def backward(ctx, grad_y):
        x, weight, windows = ctx.saved
        grad_weight = np.einsum("nohw,nchwij->ocij", grad_y, windows)
        grad_bias = grad_y.sum(axis=(0, 2, 3))
        out_h, out_w = grad_y.shape[2:]
        grad_x = np.zeros_like(x)
        for i in range(weight.shape[2]):
            for j in range(weight.shape[3]):
                grad_x[:, :, i:i + out_h, j:j + out_w] += np.einsum("nohw,oc->nchw", grad_y, weight[:, :, i, j])
        return grad_x, grad_weight, grad_bias
