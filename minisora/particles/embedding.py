"""Embedding: look up one row of a table per id.

    y[..., :] = W[ids[...], :]                   W is (num_embeddings, dim), ids any integer shape
    dW[v, :]  = sum over every position p with ids[p] = v of dy[p, :]      (ids get no gradient)

A token that appears twice in a batch receives the sum of both gradients, so the backward is
a scatter-add, never an assignment. Ids are range-checked before any kernel runs: a compiled
loop would read (or, backward, write) outside the table without a word.
"""
import numpy as np

from ..backends.gpu import cuda, fill, gpu_kernel, launch_elementwise
from ..backends.kernel import kernel
from .particle import Particle, describe


@kernel
def embedding_kernel(weight, ids, y):
    dim = weight.shape[1]
    for p in range(ids.size):
        row = ids[p]
        for j in range(dim):
            y[p, j] = weight[row, j]


@kernel
def embedding_backward_kernel(grad_y, ids, grad_weight):
    grad_weight[:] = 0
    dim = grad_weight.shape[1]
    for p in range(ids.size):
        row = ids[p]
        for j in range(dim):
            grad_weight[row, j] += grad_y[p, j]


# GPU twins: a thread per output number; backward adds with atomics (two positions may share an id)
@gpu_kernel
def embedding_gpu(weight, ids, y):
    dim = weight.shape[1]
    start, step = cuda.grid(1), cuda.gridsize(1)
    for e in range(start, ids.size * dim, step):
        y[e // dim, e % dim] = weight[ids[e // dim], e % dim]


@gpu_kernel
def embedding_backward_gpu(grad_y, ids, grad_weight):
    dim = grad_weight.shape[1]
    start, step = cuda.grid(1), cuda.gridsize(1)
    for e in range(start, ids.size * dim, step):
        cuda.atomic.add(grad_weight, (ids[e // dim], e % dim), grad_y[e // dim, e % dim])


@embedding_kernel.gpu
def launch_embedding(weight, ids, y):
    launch_elementwise(embedding_gpu, y.size, weight, ids, y)


@embedding_backward_kernel.gpu
def launch_embedding_backward(grad_y, ids, grad_weight):
    fill(grad_weight, 0.0)
    launch_elementwise(embedding_backward_gpu, grad_y.size, grad_y, ids, grad_weight)


class Embedding(Particle):
    name = "embedding"
    formula = "y[p] = W[ids[p]]"
    gradient = "dW[v] = sum of dy[p] over the positions p where ids[p] = v"
    kernels = (embedding_kernel, embedding_backward_kernel)

    @classmethod
    def forward(cls, ctx, ids, weight):
        cls.require_float(weight)
        if weight.ndim != 2:
            cls.fail(f"weight must be a table (num_embeddings, dim), got {describe(weight)}")
        if ids.dtype.kind not in "iu":
            cls.fail(f"ids must be integers, got {describe(ids)}", TypeError)
        backend = ctx.backend
        flat_ids = backend.flat(backend.astype(backend.contiguous(ids), np.int64))
        count = weight.shape[0]
        cls.check_ids(backend, flat_ids, count, "id", lambda: f"the table {describe(weight)}")
        rows = backend.empty((flat_ids.size, weight.shape[1]), weight.dtype)
        ctx.run(embedding_kernel, backend.contiguous(weight), flat_ids, rows)
        ctx.save(flat_ids)
        ctx.weight_shape = weight.shape
        return backend.reshape(rows, ids.shape + (weight.shape[1],))

    @staticmethod
    def backward(ctx, grad_y):
        (flat_ids,) = ctx.saved
        backend = ctx.backend
        rows = backend.reshape(backend.contiguous(grad_y), (flat_ids.size, ctx.weight_shape[1]))
        grad_weight = backend.empty(ctx.weight_shape, grad_y.dtype)
        ctx.run(embedding_backward_kernel, rows, flat_ids, grad_weight)
        return None, grad_weight

    @staticmethod
    def reference(ids, weight):
        return weight[ids]

    @staticmethod
    def reference_backward(ids, weight, grad_y):
        grad_weight = np.zeros_like(weight)
        np.add.at(grad_weight, ids.reshape(-1), grad_y.reshape(-1, weight.shape[1]))
        return None, grad_weight
