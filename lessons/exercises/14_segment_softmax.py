"""Exercise (lesson 14): the backward of the segment softmax, GAT's softmax over each node's edges.

    forward   a[e] = exp(s[e] - m_i) / sum over the edges e' with index[e'] = i of exp(s[e'] - m_i)
              where i = index[e] (the edge's target) and m_i the largest score among i's edges
    backward  ds[e] = ?            (index, the edges' targets, gets no gradient: return None for it)

Hint: within one node's edges this is the softmax of lesson 04, whose backward is
ds = a (da - sum of a da). Here the sum runs over the edges that share the target: add a * da up
per node (np.add.at(totals, index, a * da)), then read each edge's node total back (totals[index]).
Grade it: minisora check lessons/exercises/14_segment_softmax.py
"""
import numpy as np

from minisora.particles import Particle


class SegmentSoftmax(Particle):
    name = "segment_softmax"
    # scores (edges, heads) and the edges' targets; node 1 has no edges, node 3 a single one
    example_shapes = [((6, 2), np.array([0, 2, 0, 2, 3, 0])), ((4, 1), np.array([1, 1, 1, 0]))]
    example_params = {"num_nodes": 4}

    @classmethod
    def forward(cls, ctx, scores, index, num_nodes):
        cls.require_float(scores)
        largest = np.full((num_nodes,) + scores.shape[1:], -np.inf)
        np.maximum.at(largest, index, scores)
        exps = np.exp(scores - largest[index])
        totals = np.zeros((num_nodes,) + scores.shape[1:])
        np.add.at(totals, index, exps)
        weights = (exps / totals[index]).astype(scores.dtype)
        ctx.save(weights, index)
        ctx.num_nodes = num_nodes
        return weights

    @staticmethod
    def backward(ctx, grad_weights):
        weights, index = ctx.saved
        raise NotImplementedError("write ds of the segment softmax: return (ds, None)")
