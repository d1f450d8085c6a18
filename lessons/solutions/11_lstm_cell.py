"""Solution (lesson 11): the backward of one LSTM step, gate by gate.

    forward   z = gx + h W^T + b,   split into 4 blocks of H: i, f, g, o (PyTorch's order)
              i, f, o = sigmoid(.),  g = tanh(.)
              c' = f c + i g,        h' = o tanh(c')
    backward  dc = dc' + dh' o (1 - tanh(c')^2)          (c' reaches the loss directly and through h')
              dz = [dc g i (1 - i),  dc c f (1 - f),  dc i (1 - g^2),  dh' tanh(c') o (1 - o)]
              dgx = dz,   dh = dz W,   dc_prev = dc f,   dW = dz^T h,   db = dz summed over rows

Graded by: minisora check lessons/solutions/11_lstm_cell.py
"""
import numpy as np

from minisora.particles import Particle


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


class LSTMCell(Particle):
    name = "lstm_cell"
    # gx (batch, 4 H), h (batch, H), c (batch, H), W_hh (4 H, H), b_hh (4 H,)
    example_shapes = [((3, 8), (3, 2), (3, 2), (8, 2), (8,)), ((1, 4), (1, 1), (1, 1), (4, 1), (4,))]

    @classmethod
    def forward(cls, ctx, gx, h, c, weight, bias):
        cls.require_float(gx, h, c, weight, bias)
        i, f, g, o = np.split(gx + h @ weight.T + bias, 4, axis=1)
        i, f, g, o = sigmoid(i), sigmoid(f), np.tanh(g), sigmoid(o)
        c_new = f * c + i * g
        ctx.save(h, c, weight, i, f, g, o, np.tanh(c_new))
        return o * np.tanh(c_new), c_new

    @staticmethod
    def backward(ctx, grads):
        h, c, weight, i, f, g, o, t = ctx.saved
        grad_h, grad_c = grads
        dc = grad_c + grad_h * o * (1 - t * t)
        dz = np.concatenate([dc * g * i * (1 - i), dc * c * f * (1 - f), dc * i * (1 - g * g),
                             grad_h * t * o * (1 - o)], axis=1)
        return dz, dz @ weight, dc * f, dz.T @ h, dz.sum(axis=0)
