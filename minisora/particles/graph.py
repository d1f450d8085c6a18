"""Graph particles: message passing is gather -> math on each edge -> scatter to the targets.

Edges are a (2, E) integer edge_index, row 0 the sources, row 1 the targets (PyTorch Geometric's
layout); x holds one row per node (N, F...), a message one row per edge (E, F...).

    gather_rows      y[e] = x[index[e]]                           dx[i] = sum of dy[e] over e with index[e] = i
    scatter_add      y[i] = sum of src[e] over e with index[e] = i       dsrc[e] = dy[index[e]]
    scatter_mean     y[i] = that sum / n_i (0 where n_i = 0)              dsrc[e] = dy[index[e]] / n_i
    scatter_max      y[i] = the largest src[e] (0 where none; the first   dsrc[e] = dy[i] where e won, else 0
                     of ties wins, a NaN at once)
    segment_softmax  a[e] = exp(s[e] - m_i) / sum over e' with index[e'] = i of exp(s[e'] - m_i),
                     m_i the largest score of target i (so no exp overflows)
                                                                  ds[e] = a[e] (da[e] - sum over i's edges of a da)
    spmm             y[t] = sum over edges (s -> t) of w[e] x[s]      (A x, A[t, s] = w[e]: a sparse product)
                                                                  dx[s] = sum over edges (s -> t) of w[e] dy[t] (A^T dy)
                                                                  dw[e] = dy[t] . x[s]
                     with a weight per head, w (E, H) and x (N, H, C): y[t, h] = sum of w[e, h] x[s, h]
                     (GAT's weighted sum of messages, without making the (E, H, C) messages)

Race-free sums on the CPU: the edges are grouped by the node they add into (`group_by`: a
counting sort, the CSR form of the graph: indptr[i]..indptr[i + 1] are the positions in `order`
of node i's edges, in edge order), and each node adds up its own edges in a loop of its own, so
no two threads write one place and the result never depends on the threads' timing. A `Graph`
(minisora.graph) builds the groupings once and keeps them. On the GPU, scatter_add and
scatter_mean add with atomics (a thread per edge and feature: fast, but floating-point sums then
come in any order); deterministic=True uses the grouped sums there too. Every other GPU kernel
here is grouped: a thread per (node, feature) walks its node's edges. Where the CPU loop and the
GPU thread do the same per-node work, it is one scalar function both call (segment_largest,
softmax_over_edges).

Every id is range-checked before a kernel runs: compiled code does not check bounds.
"""
from collections import namedtuple

import numpy as np
from numba import prange

from .. import errors
from ..backends.gpu import cuda, fill, gpu_kernel, launch_elementwise
from ..backends.kernel import kernel, scalar
from .particle import Particle, describe

Grouping = namedtuple("Grouping", "indptr order")
Grouping.__doc__ = """Edges grouped by node: node i's edges are order[indptr[i]:indptr[i + 1]] (in edge order)."""


# 1. grouping edges by node: the CSR form, a counting sort ------------------------------------------
@kernel
def group_kernel(index, indptr, order):
    """indptr[i + 1] - indptr[i] = how many edges have index i; order lists them node by node."""
    count = indptr.size - 1
    for i in range(count + 1):
        indptr[i] = 0
    for e in range(index.size):
        indptr[index[e] + 1] += 1
    for i in range(count):   # running sums: where each node's edges start
        indptr[i + 1] += indptr[i]
    next_slot = indptr[:count].copy()
    for e in range(index.size):   # in edge order, so each node's edges stay in edge order (stable)
        order[next_slot[index[e]]] = e
        next_slot[index[e]] += 1


def group_by(index, count):
    """Grouping of a host array of ids in [0, count) (checked by the caller)."""
    index = np.ascontiguousarray(index, dtype=np.int64)
    indptr, order = np.empty(count + 1, np.int64), np.empty(index.size, np.int64)
    group_kernel.cpu()(index, indptr, order)
    return Grouping(indptr, order)


# 2. the kernels -------------------------------------------------------------------------------------
@kernel(parallel=True)
def gather_kernel(x, index, indptr, mean, y):
    """y[e] = x[index[e]], divided by how many edges node index[e] has (from the grouping's indptr)
    when `mean` (scatter_mean's backward); a plain gather passes mean False and no grouping."""
    for e in prange(index.size):
        i = index[e]
        share = 1.0 / max(indptr[i + 1] - indptr[i], 1) if mean else 1.0
        for j in range(x.shape[1]):
            y[e, j] = x[i, j] * share


@kernel(parallel=True)
def segment_sum_kernel(src, index, indptr, order, mean, deterministic, y):
    """y[i] = the sum (mean) of src over node i's edges, each node a task of its own. (index and
    deterministic serve the GPU's atomic form; the CPU always adds in this fixed order.)"""
    for i in prange(y.shape[0]):
        start, stop = indptr[i], indptr[i + 1]
        for j in range(y.shape[1]):
            y[i, j] = 0.0
        for k in range(start, stop):
            e = order[k]
            for j in range(y.shape[1]):
                y[i, j] += src[e, j]
        if mean and stop > start:
            for j in range(y.shape[1]):
                y[i, j] /= stop - start


@scalar(inline=False)
def segment_largest(src, indptr, order, i, j, winner, y):
    """y[i, j] = the largest src[e, j] over node i's edges (0 where it has none) and winner[i, j] = e
    (-1 where none): the first of ties, a NaN at once, as torch's scatter_reduce "amax"."""
    best, won = 0.0, -1
    for k in range(indptr[i], indptr[i + 1]):
        e = order[k]
        value = src[e, j]
        if value != value:
            best, won = value, e
            break
        if won < 0 or value > best:
            best, won = value, e
    y[i, j], winner[i, j] = best, won


@kernel(parallel=True)
def segment_max_kernel(src, indptr, order, winner, y):
    for i in prange(y.shape[0]):
        for j in range(y.shape[1]):
            segment_largest(src, indptr, order, i, j, winner, y)


@kernel(parallel=True)
def winners_backward_kernel(grad_y, winner, grad_src):
    """grad_src[e, j] = grad_y[i, j] where edge e won node i's max, else 0. (Each edge has one
    target, so no two nodes write one place.)"""
    for e in prange(grad_src.shape[0]):
        for j in range(grad_src.shape[1]):
            grad_src[e, j] = 0.0
    for i in prange(grad_y.shape[0]):
        for j in range(grad_y.shape[1]):
            e = winner[i, j]
            if e >= 0:
                grad_src[e, j] = grad_y[i, j]


@scalar(inline=False)
def softmax_over_edges(scores, indptr, order, i, h, weights):
    """weights[e, h] for node i's edges e: the softmax of their scores in column h (a head)."""
    largest = -np.inf
    for k in range(indptr[i], indptr[i + 1]):
        largest = max(largest, scores[order[k], h])
    total = 0.0
    for k in range(indptr[i], indptr[i + 1]):
        e = order[k]
        weights[e, h] = np.exp(scores[e, h] - largest)
        total += weights[e, h]
    for k in range(indptr[i], indptr[i + 1]):
        weights[order[k], h] /= total


@scalar(inline=False)
def softmax_over_edges_backward(weights, grad_weights, indptr, order, i, h, grad_scores):
    """ds[e, h] = a[e, h] (da[e, h] - sum over node i's edges of a da) for node i's edges e."""
    dot = 0.0
    for k in range(indptr[i], indptr[i + 1]):
        e = order[k]
        dot += weights[e, h] * grad_weights[e, h]
    for k in range(indptr[i], indptr[i + 1]):
        e = order[k]
        grad_scores[e, h] = weights[e, h] * (grad_weights[e, h] - dot)


@kernel(parallel=True)
def segment_softmax_kernel(scores, indptr, order, weights):
    for i in prange(indptr.size - 1):
        for h in range(scores.shape[1]):
            softmax_over_edges(scores, indptr, order, i, h, weights)


@kernel(parallel=True)
def segment_softmax_backward_kernel(weights, grad_weights, indptr, order, grad_scores):
    for i in prange(indptr.size - 1):
        for h in range(weights.shape[1]):
            softmax_over_edges_backward(weights, grad_weights, indptr, order, i, h, grad_scores)


@kernel(parallel=True)
def spmm_kernel(values, x, sources, indptr, order, y):
    """y[t, h, :] = sum over t's edges e (grouped by target) of values[e, h] x[sources[e], h, :], with
    x and y as rows (nodes, H C) and a column of values per head h (one head: A x). (The inner loop
    counts c from 0: the compiler turns such a loop into vector instructions, one with a computed
    start and end it left scalar: 2x slower on the GCN benchmark.)"""
    heads = values.shape[1]
    width = y.shape[1] // heads
    for t in prange(y.shape[0]):
        for j in range(y.shape[1]):
            y[t, j] = 0.0
        for k in range(indptr[t], indptr[t + 1]):
            e = order[k]
            s = sources[e]
            for h in range(heads):
                weight, first = values[e, h], h * width
                for c in range(width):
                    y[t, first + c] += weight * x[s, first + c]


@kernel(parallel=True)
def edge_dots_kernel(grad_y, x, sources, targets, grad_values):
    """grad_values[e, h] = grad_y[targets[e], h, :] . x[sources[e], h, :]: how the loss moves with
    edge e's weight in head h."""
    heads = grad_values.shape[1]
    width = x.shape[1] // heads
    for e in prange(sources.size):
        for h in range(heads):
            total, first = 0.0, h * width
            for c in range(width):
                total += grad_y[targets[e], first + c] * x[sources[e], first + c]
            grad_values[e, h] = total


# GPU twins: a thread per number written (grouped), or per edge and feature (atomic)
@gpu_kernel
def gather_gpu(x, index, indptr, mean, y):
    width = y.shape[1]
    for n in range(cuda.grid(1), y.size, cuda.gridsize(1)):
        e, j = n // width, n % width
        i = index[e]
        share = 1.0 / max(indptr[i + 1] - indptr[i], 1) if mean else 1.0
        y[e, j] = x[i, j] * share


@gpu_kernel
def segment_sum_gpu(src, index, indptr, order, mean, deterministic, y):
    width = y.shape[1]
    for n in range(cuda.grid(1), y.size, cuda.gridsize(1)):
        i, j = n // width, n % width
        total = 0.0
        for k in range(indptr[i], indptr[i + 1]):
            total += src[order[k], j]
        if mean and indptr[i + 1] > indptr[i]:
            total /= indptr[i + 1] - indptr[i]
        y[i, j] = total


@gpu_kernel
def scatter_atomic_gpu(src, index, y):
    width = src.shape[1]
    for n in range(cuda.grid(1), src.size, cuda.gridsize(1)):
        e, j = n // width, n % width
        cuda.atomic.add(y, (index[e], j), src[e, j])


@gpu_kernel
def divide_by_counts_gpu(indptr, y):
    width = y.shape[1]
    for n in range(cuda.grid(1), y.size, cuda.gridsize(1)):
        i = n // width
        if indptr[i + 1] > indptr[i]:
            y[i, n % width] /= indptr[i + 1] - indptr[i]


@segment_sum_kernel.gpu
def launch_segment_sum(src, index, indptr, order, mean, deterministic, y):
    if deterministic:
        launch_elementwise(segment_sum_gpu, y.size, src, index, indptr, order, mean, deterministic, y)
        return
    fill(y, 0.0)
    launch_elementwise(scatter_atomic_gpu, src.size, src, index, y)
    if mean:
        launch_elementwise(divide_by_counts_gpu, y.size, indptr, y)


@gpu_kernel
def segment_max_gpu(src, indptr, order, winner, y):
    width = y.shape[1]
    for n in range(cuda.grid(1), y.size, cuda.gridsize(1)):
        segment_largest(src, indptr, order, n // width, n % width, winner, y)


@gpu_kernel
def winners_scatter_gpu(grad_y, winner, grad_src):
    width = grad_y.shape[1]
    for n in range(cuda.grid(1), grad_y.size, cuda.gridsize(1)):
        e = winner[n // width, n % width]
        if e >= 0:
            grad_src[e, n % width] = grad_y[n // width, n % width]


@winners_backward_kernel.gpu
def launch_winners_backward(grad_y, winner, grad_src):
    fill(grad_src, 0.0)
    launch_elementwise(winners_scatter_gpu, grad_y.size, grad_y, winner, grad_src)


@gpu_kernel
def segment_softmax_gpu(scores, indptr, order, weights):
    heads = scores.shape[1]
    for n in range(cuda.grid(1), (indptr.size - 1) * heads, cuda.gridsize(1)):
        softmax_over_edges(scores, indptr, order, n // heads, n % heads, weights)


@segment_softmax_kernel.gpu
def launch_segment_softmax(scores, indptr, order, weights):
    if scores.shape[0] == 0:   # no edges: nothing to weigh (and an empty array's shape may not reach the kernel)
        return
    launch_elementwise(segment_softmax_gpu, (indptr.size - 1) * scores.shape[1], scores, indptr, order, weights)


@gpu_kernel
def segment_softmax_backward_gpu(weights, grad_weights, indptr, order, grad_scores):
    heads = weights.shape[1]
    for n in range(cuda.grid(1), (indptr.size - 1) * heads, cuda.gridsize(1)):
        softmax_over_edges_backward(weights, grad_weights, indptr, order, n // heads, n % heads, grad_scores)


@segment_softmax_backward_kernel.gpu
def launch_segment_softmax_backward(weights, grad_weights, indptr, order, grad_scores):
    if weights.shape[0] == 0:
        return
    launch_elementwise(segment_softmax_backward_gpu, (indptr.size - 1) * weights.shape[1], weights, grad_weights,
                       indptr, order, grad_scores)


@gpu_kernel
def spmm_gpu(values, x, sources, indptr, order, y):
    width, heads = y.shape[1], values.shape[1]
    for n in range(cuda.grid(1), y.size, cuda.gridsize(1)):
        t, j = n // width, n % width
        h = j // (width // heads)
        total = 0.0
        for k in range(indptr[t], indptr[t + 1]):
            e = order[k]
            total += values[e, h] * x[sources[e], j]
        y[t, j] = total


@gpu_kernel
def edge_dots_gpu(grad_y, x, sources, targets, grad_values):
    heads = grad_values.shape[1]
    width = x.shape[1] // heads
    for n in range(cuda.grid(1), grad_values.size, cuda.gridsize(1)):
        e, h = n // heads, n % heads
        total = 0.0
        for j in range(h * width, (h + 1) * width):
            total += grad_y[targets[e], j] * x[sources[e], j]
        grad_values[e, h] = total


gather = gather_kernel.on_gpu(gather_gpu)
segment_max = segment_max_kernel.on_gpu(segment_max_gpu)
spmm_rows = spmm_kernel.on_gpu(spmm_gpu)
edge_dots = edge_dots_kernel.on_gpu(edge_dots_gpu)


# 3. the particles -----------------------------------------------------------------------------------
def check_index(particle, backend, index, count):
    """index as flat int64 ids, range-checked against `count` rows (an IndexError naming the particle)."""
    if index.dtype.kind not in "iu":
        particle.fail(f"index must be integers, got {describe(index)}", TypeError)
    if index.ndim != 1:
        particle.fail(f"index must be one id per edge (E,), got {describe(index)}")
    flat = backend.astype(backend.contiguous(index), np.int64)
    particle.check_ids(backend, flat, count, "index", lambda: f"{count} nodes")
    return flat


def grouped(backend, index, count, groups):
    """`groups` (a Grouping already on the device: a Graph's) or one built from index now."""
    if groups is not None:
        if groups.indptr.shape != (count + 1,) or groups.order.shape != index.shape:
            raise errors.ValueError(f"the grouping given is for {groups.indptr.shape[0] - 1} nodes and "
                                    f"{groups.order.shape[0]} edges, not {count} and {index.shape[0]}")
        return groups
    host = group_by(backend.to_numpy(index), count)
    return Grouping(backend.asarray(host.indptr), backend.asarray(host.order))


def as_rows(backend, x):
    """x (n, ...) as a packed (n, features) matrix, and the trailing shape to put back."""
    return backend.reshape(backend.contiguous(x), (x.shape[0], int(np.prod(x.shape[1:], dtype=np.int64)))), x.shape[1:]


def per_edge(particle, backend, src, index, num_nodes, groups, what="src"):
    """What a scatter or a segment softmax starts from: (num_nodes, the ids as int64, their grouping,
    src as packed rows (E, features), src's trailing shape), after every check."""
    particle.require_float(src)
    count = counted_nodes(particle, src, num_nodes)
    flat = check_index(particle, backend, index, count)
    if flat.size != src.shape[0]:
        particle.fail(f"{what} {describe(src)} has {src.shape[0]} rows, index {describe(index)} {flat.size} ids")
    rows, trailing = as_rows(backend, src)
    return count, flat, grouped(backend, flat, count, groups), rows, trailing


def counted_nodes(particle, src, num_nodes):
    if not isinstance(num_nodes, (int, np.integer)) or num_nodes < 0:
        particle.fail(f"num_nodes must be an int >= 0, got {num_nodes!r}")
    if src.ndim < 1:
        particle.fail(f"src must have a row per edge, got {describe(src)}")
    return int(num_nodes)


class GatherRows(Particle):
    name = "gather_rows"
    formula = "y[e] = x[index[e]]"
    gradient = "dx[i] = sum of dy[e] over the edges e with index[e] = i (grouped by i: no races)"
    kernels = (gather, segment_sum_kernel)

    @classmethod
    def forward(cls, ctx, x, index, groups=None):
        cls.require_float(x)
        if x.ndim < 1:
            cls.fail(f"x must have a row per node, got {describe(x)}")
        backend = ctx.backend
        flat = check_index(cls, backend, index, x.shape[0])
        rows, trailing = as_rows(backend, x)
        y = backend.empty((flat.size, rows.shape[1]), x.dtype)
        ctx.run(gather, rows, flat, backend.empty((1,), np.int64), False, y)
        ctx.save(flat)
        ctx.count, ctx.groups, ctx.x_shape = x.shape[0], groups, x.shape
        return backend.reshape(y, (flat.size,) + trailing)

    @staticmethod
    def backward(ctx, grad_y):
        (flat,) = ctx.saved
        backend = ctx.backend
        groups = grouped(backend, flat, ctx.count, ctx.groups)
        rows, _ = as_rows(backend, grad_y)
        grad_x = backend.empty((ctx.count, rows.shape[1]), grad_y.dtype)
        ctx.run(segment_sum_kernel, rows, flat, groups.indptr, groups.order, False, True, grad_x)
        return backend.reshape(grad_x, ctx.x_shape), None

    @staticmethod
    def reference(x, index, groups=None):
        return x[index]

    @staticmethod
    def reference_backward(x, index, grad_y, groups=None):
        grad_x = np.zeros_like(x)
        np.add.at(grad_x, index, grad_y)
        return grad_x, None


class ScatterAdd(Particle):
    name = "scatter_add"
    formula = "y[i] = sum of src[e] over the edges e with index[e] = i"
    gradient = "dsrc[e] = dy[index[e]]"
    kernels = (segment_sum_kernel, gather)
    mean = False

    @classmethod
    def forward(cls, ctx, src, index, num_nodes, groups=None, deterministic=False):
        backend = ctx.backend
        count, flat, groups, rows, trailing = per_edge(cls, backend, src, index, num_nodes, groups)
        y = backend.empty((count, rows.shape[1]), src.dtype)
        ctx.run(segment_sum_kernel, rows, flat, groups.indptr, groups.order, cls.mean, bool(deterministic), y)
        ctx.save(flat, groups.indptr)
        ctx.src_shape = src.shape
        return backend.reshape(y, (count,) + trailing)

    @classmethod
    def backward(cls, ctx, grad_y):
        flat, indptr = ctx.saved
        backend = ctx.backend
        rows, _ = as_rows(backend, grad_y)
        grad_src = backend.empty((flat.size, rows.shape[1]), grad_y.dtype)
        ctx.run(gather, rows, flat, indptr, cls.mean, grad_src)
        return backend.reshape(grad_src, ctx.src_shape), None

    @classmethod
    def reference(cls, src, index, num_nodes, groups=None, deterministic=False):
        y = np.zeros((num_nodes,) + src.shape[1:], src.dtype)
        np.add.at(y, index, src)
        if cls.mean:
            counts = np.bincount(index, minlength=num_nodes).reshape((-1,) + (1,) * (src.ndim - 1))
            y = y / np.maximum(counts, 1)
        return y

    @classmethod
    def reference_backward(cls, src, index, grad_y, num_nodes, groups=None, deterministic=False):
        grad = grad_y[index]
        if cls.mean:
            counts = np.bincount(index, minlength=num_nodes)[index].reshape((-1,) + (1,) * (src.ndim - 1))
            grad = grad / counts
        return grad, None


class ScatterMean(ScatterAdd):
    name = "scatter_mean"
    formula = "y[i] = the mean of src[e] over the edges e with index[e] = i (0 where none)"
    gradient = "dsrc[e] = dy[index[e]] / (how many edges have index[e])"
    mean = True


class ScatterMax(Particle):
    name = "scatter_max"
    formula = "y[i] = the largest src[e] over the edges e with index[e] = i (0 where none)"
    gradient = "dsrc[e] = dy[i] for the edge e that won node i's max (the first of ties), else 0"
    kernels = (segment_max, winners_backward_kernel)
    has_kinks = True

    @classmethod
    def forward(cls, ctx, src, index, num_nodes, groups=None):
        backend = ctx.backend
        count, flat, groups, rows, trailing = per_edge(cls, backend, src, index, num_nodes, groups)
        y = backend.empty((count, rows.shape[1]), src.dtype)
        winner = backend.empty((count, rows.shape[1]), np.int64)
        ctx.run(segment_max, rows, groups.indptr, groups.order, winner, y)
        ctx.save(winner)
        ctx.src_shape = src.shape
        return backend.reshape(y, (count,) + trailing)

    @staticmethod
    def backward(ctx, grad_y):
        (winner,) = ctx.saved
        backend = ctx.backend
        rows, _ = as_rows(backend, grad_y)
        grad_src = backend.empty((ctx.src_shape[0], rows.shape[1]), grad_y.dtype)
        ctx.run(winners_backward_kernel, rows, winner, grad_src)
        return backend.reshape(grad_src, ctx.src_shape), None

    @staticmethod
    def reference(src, index, num_nodes, groups=None):
        y = np.full((num_nodes,) + src.shape[1:], -np.inf, src.dtype)
        np.maximum.at(y, index, src)
        return np.where(np.isneginf(y), 0.0, y).astype(src.dtype)

    @staticmethod
    def reference_backward(src, index, grad_y, num_nodes, groups=None):
        rows = src.reshape(src.shape[0], -1)
        grad = np.zeros_like(rows)
        flat_grad = grad_y.reshape(num_nodes, -1)
        for i in range(num_nodes):
            edges = np.flatnonzero(index == i)
            if edges.size:
                winners = edges[np.argmax(rows[edges], axis=0)]   # the first of ties
                grad[winners, np.arange(rows.shape[1])] = flat_grad[i]
        return grad.reshape(src.shape), None


class SegmentSoftmax(Particle):
    name = "segment_softmax"
    formula = "a[e] = exp(s[e] - m_i) / sum over the edges e' with index[e'] = i of exp(s[e'] - m_i), i = index[e]"
    gradient = "ds[e] = a[e] (da[e] - sum over i's edges of a da)"
    kernels = (segment_softmax_kernel, segment_softmax_backward_kernel)

    @classmethod
    def forward(cls, ctx, scores, index, num_nodes, groups=None):
        backend = ctx.backend
        count, flat, groups, rows, trailing = per_edge(cls, backend, scores, index, num_nodes, groups, "scores")
        weights = backend.empty(rows.shape, scores.dtype)
        ctx.run(segment_softmax_kernel, rows, groups.indptr, groups.order, weights)
        ctx.save(weights, groups.indptr, groups.order)
        ctx.shape = scores.shape
        return backend.reshape(weights, scores.shape)

    @staticmethod
    def backward(ctx, grad_weights):
        weights, indptr, order = ctx.saved
        backend = ctx.backend
        rows, _ = as_rows(backend, grad_weights)
        grad_scores = backend.empty(weights.shape, weights.dtype)
        ctx.run(segment_softmax_backward_kernel, weights, rows, indptr, order, grad_scores)
        return backend.reshape(grad_scores, ctx.shape), None

    @staticmethod
    def reference(scores, index, num_nodes, groups=None):
        largest = np.full((num_nodes,) + scores.shape[1:], -np.inf)
        np.maximum.at(largest, index, scores)
        exps = np.exp(scores - largest[index])
        totals = np.zeros_like(largest)
        np.add.at(totals, index, exps)
        return (exps / totals[index]).astype(scores.dtype)

    @staticmethod
    def reference_backward(scores, index, grad_weights, num_nodes, groups=None):
        weights = SegmentSoftmax.reference(scores, index, num_nodes)
        dots = np.zeros((num_nodes,) + scores.shape[1:])
        np.add.at(dots, index, weights * grad_weights)
        return weights * (grad_weights - dots[index]), None


class Spmm(Particle):
    name = "spmm"
    formula = "y[t] = sum over the edges e = (s -> t) of w[e] x[s]   (A x with A[t, s] = w[e]; per head: w (E, H), x (N, H, C))"
    gradient = "dx[s] = sum over the edges (s -> t) of w[e] dy[t] (A^T dy); dw[e] = dy[t] . x[s]"
    kernels = (spmm_rows, edge_dots)

    @classmethod
    def forward(cls, ctx, values, x, edge_index, by_target=None, by_source=None):
        cls.require_float(values, x)
        if values.dtype != x.dtype:
            cls.fail(f"values {describe(values)} and x {describe(x)} must share a dtype", TypeError)
        heads = values.shape[1] if values.ndim == 2 else 1
        if values.ndim not in (1, 2) or x.ndim != values.ndim + 1 or (values.ndim == 2 and x.shape[1] != heads):
            cls.fail(f"values (E,) take x (nodes, features) and values (E, heads) take x (nodes, heads, features); "
                     f"got values {describe(values)} and x {describe(x)}")
        backend = ctx.backend
        sources, targets = check_edges(cls, backend, edge_index, x.shape[0])
        if values.shape[0] != sources.size:
            cls.fail(f"values {describe(values)} must hold one weight per edge ({sources.size} edges)")
        by_target = grouped(backend, targets, x.shape[0], by_target)
        weights = backend.reshape(backend.contiguous(values), (sources.size, heads))
        rows, _ = as_rows(backend, x)
        y = backend.empty(rows.shape, x.dtype)
        ctx.run(spmm_rows, weights, rows, sources, by_target.indptr, by_target.order, y)
        ctx.save(weights, rows, sources, targets)
        ctx.by_source, ctx.shapes = by_source, (values.shape, x.shape)
        return backend.reshape(y, x.shape)

    @staticmethod
    def backward(ctx, grad_y):
        weights, rows, sources, targets = ctx.saved
        backend, needs = ctx.backend, ctx.needs_input_grad
        grad_rows, _ = as_rows(backend, grad_y)
        grad_values = grad_x = None
        if needs[0]:
            grad_values = backend.empty(weights.shape, weights.dtype)
            ctx.run(edge_dots, grad_rows, rows, sources, targets, grad_values)
            grad_values = backend.reshape(grad_values, ctx.shapes[0])
        if needs[1]:   # A^T dy: the same product with the edges turned around, grouped by source
            by_source = grouped(backend, sources, rows.shape[0], ctx.by_source)
            grad_x = backend.empty(rows.shape, rows.dtype)
            ctx.run(spmm_rows, weights, grad_rows, targets, by_source.indptr, by_source.order, grad_x)
            grad_x = backend.reshape(grad_x, ctx.shapes[1])
        return grad_values, grad_x, None

    @staticmethod
    def reference(values, x, edge_index, by_target=None, by_source=None):
        y = np.zeros(x.shape, np.result_type(values, x))
        weights = values.reshape(values.shape + (1,) * (x.ndim - values.ndim))
        np.add.at(y, edge_index[1], weights * x[edge_index[0]])
        return y

    @staticmethod
    def reference_backward(values, x, edge_index, grad_y, by_target=None, by_source=None):
        weights = values.reshape(values.shape + (1,) * (x.ndim - values.ndim))
        grad_x = np.zeros(x.shape, np.result_type(values, x))
        np.add.at(grad_x, edge_index[0], weights * grad_y[edge_index[1]])
        products = grad_y[edge_index[1]] * x[edge_index[0]]
        return products.reshape(values.shape + (-1,)).sum(-1), grad_x, None


def check_edges(particle, backend, edge_index, count):
    """(sources, targets) of a (2, E) integer edge_index, each id checked against `count` nodes."""
    if edge_index.dtype.kind not in "iu":
        particle.fail(f"edge_index must be integers, got {describe(edge_index)}", TypeError)
    if edge_index.ndim != 2 or edge_index.shape[0] != 2:
        particle.fail(f"edge_index must be (2, E): sources, then targets; got {describe(edge_index)}")
    edges = backend.astype(backend.contiguous(edge_index), np.int64)
    particle.check_ids(backend, backend.flat(edges), count, "node id", lambda: f"{count} nodes (edge_index)")
    return backend.contiguous(edges[0]), backend.contiguous(edges[1])
