"""Exercise (lesson 11): the backward of one LSTM step, gate by gate.

    forward   z = gx + h W^T + b,   split into 4 blocks of H: i, f, g, o (PyTorch's order)
              i, f, o = sigmoid(.),  g = tanh(.)
              c' = f c + i g,        h' = o tanh(c')
    backward  the gradients of gx, h, c, W and b from dh' and dc' (grads = (dh', dc'))
              -- c' reaches the loss twice: directly (dc') and through h' = o tanh(c')

Hints: dz, the gradient of z, has the 4 blocks of z; sigmoid' = s (1 - s), tanh' = 1 - t^2.
dgx = dz, dh = dz W, dW = dz^T h, db = dz summed over rows; dc_prev = dc f.
Grade it: minisora check lessons/exercises/11_lstm_cell.py
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
        raise NotImplementedError("write the LSTM step's backward: return (dgx, dh, dc, dW, db)")
