"""Exercise (lesson 07): the backward of an embedding table.

    forward   y[p] = W[ids[p]]            row ids[p] of the table, for every position p
    backward  dW[k] = sum of dy[p] over the positions p with ids[p] = k     (0 for rows never used)
              ids are integers: they get no gradient (return None for them)

An id may appear twice: its row must collect both gradients (np.add.at adds; W[ids] += would not).
Grade it: minisora check lessons/exercises/07_embedding.py
"""
import numpy as np

from minisora.particles import Particle


class Embedding(Particle):
    name = "embedding"
    example_shapes = [(np.array([[0, 2], [2, 1]]), (3, 4)), (np.array([1, 1, 1]), (2, 3)), (np.array([0]), (1, 2))]

    @classmethod
    def forward(cls, ctx, ids, weight):
        cls.require_float(weight)
        ctx.save(ids, weight)
        return weight[ids]

    @staticmethod
    def backward(ctx, grad_y):
        ids, weight = ctx.saved
        raise NotImplementedError("write dW: return (None, grad_weight)")
