"""Random walks on a graph, and the skip-gram pairs DeepWalk and node2vec learn from.

    random_walks(graph, length, walks_per_node=1, p=1, q=1)     (walks, length + 1) node ids
    skipgram_pairs(walks, window)                               (centre, context) pairs

A uniform walk steps from v to one of v's neighbours, each as likely. node2vec's biased walk
(Grover & Leskovec) weighs the next step x by where the walk just came from, t:
    1/p   if x = t               (going back: a small p keeps walks local)
    1     if x is a neighbour of t (staying at the same distance from t)
    1/q   otherwise              (moving away: a small q explores outwards, like a depth-first search)
p = q = 1 is the uniform walk. A node with no neighbours ends its walk where it is (it stays).

The randomness is drawn up front by the seeded generator (one uniform number per step), so the
walks are a plain loop a student can read, and the same seed gives the same walks on any number
of threads.
"""
import numpy as np
from numba import prange

from .. import errors, random as ms_random
from ..backends.kernel import kernel, scalar


@kernel(parallel=True)
def uniform_walks_kernel(indptr, neighbours, uniforms, walks):
    """walks[w, 0] is the start; each step moves to neighbour floor(u * degree) of the current node.
    Every walk takes step 1, then every walk step 2, ...: the walks' memory reads do not wait on
    each other (one walk's next node waits on its last), so the memory serves many at once."""
    for step in range(1, walks.shape[1]):
        for w in prange(walks.shape[0]):
            node = walks[w, step - 1]
            degree = indptr[node + 1] - indptr[node]
            if degree > 0:
                pick = min(int(uniforms[w, step - 1] * degree), degree - 1)
                node = neighbours[indptr[node] + pick]
            walks[w, step] = node


@scalar(inline=False)
def is_neighbour(indptr, neighbours, node, other):
    """Whether `other` is among node's neighbours (sorted): a binary search."""
    low, high = indptr[node], indptr[node + 1]
    while low < high:
        middle = (low + high) // 2
        if neighbours[middle] < other:
            low = middle + 1
        else:
            high = middle
    return low < indptr[node + 1] and neighbours[low] == other


@kernel(parallel=True)
def node2vec_walks_kernel(indptr, neighbours, uniforms, back, away, walks):
    """node2vec: the step to x from v (having come from t) weighs back = 1/p if x = t, 1 if x is
    t's neighbour, away = 1/q otherwise; one uniform number picks along the running total.
    (Step by step over all walks, as the uniform walks.)"""
    for step in range(1, walks.shape[1]):
        for w in prange(walks.shape[0]):
            node = walks[w, step - 1]
            previous = walks[w, step - 2] if step >= 2 else -1
            start, degree = indptr[node], indptr[node + 1] - indptr[node]
            if degree == 0:
                walks[w, step] = node
                continue
            total = 0.0
            for k in range(start, start + degree):
                total += step_weight(indptr, neighbours, previous, neighbours[k], back, away)
            target, chosen = uniforms[w, step - 1] * total, neighbours[start + degree - 1]
            for k in range(start, start + degree):
                target -= step_weight(indptr, neighbours, previous, neighbours[k], back, away)
                if target < 0:
                    chosen = neighbours[k]
                    break
            walks[w, step] = chosen


@scalar(inline=False)
def step_weight(indptr, neighbours, previous, candidate, back, away):
    if previous < 0:   # the first step: nowhere to come back to, every neighbour alike
        return 1.0
    if candidate == previous:
        return back
    return 1.0 if is_neighbour(indptr, neighbours, previous, candidate) else away



def random_walks(graph, length, walks_per_node=1, p=1.0, q=1.0, start=None, generator=None):
    """(walks, length + 1) node ids: `walks_per_node` walks from every node (or from each node of
    `start`), `length` steps each; p and q bias them as node2vec does (1 and 1: uniform).
    `generator`: a numpy Generator (default minisora's seeded one)."""
    if length < 0 or walks_per_node < 1:
        raise errors.ValueError(f"random_walks: length must be >= 0 and walks_per_node >= 1, got {length}, "
                                f"{walks_per_node}")
    if p <= 0 or q <= 0:
        raise errors.ValueError(f"random_walks: p and q must be positive, got p={p}, q={q}")
    starts = np.arange(graph.num_nodes) if start is None else np.asarray(start, np.int64).reshape(-1)
    if starts.size and (starts.min() < 0 or starts.max() >= graph.num_nodes):
        raise errors.IndexError(f"random_walks: start node {int(starts.max())} out of range [0, {graph.num_nodes})")
    generator = generator or ms_random.generator()
    walks = np.empty((starts.size * walks_per_node, length + 1), np.int64)
    walks[:, 0] = np.tile(starts, walks_per_node)
    uniforms = generator.random((walks.shape[0], max(length, 1)), dtype=np.float32)
    indptr, neighbours = graph.neighbours()
    if p == 1.0 and q == 1.0:
        uniform_walks_kernel.cpu()(indptr, neighbours, uniforms, walks)
    else:
        node2vec_walks_kernel.cpu()(indptr, neighbours, uniforms, 1.0 / p, 1.0 / q, walks)
    return walks


@kernel
def skipgram_pairs_kernel(walks, window, pairs):
    """Every (walks[w, i], walks[w, j]) with 0 < |i - j| <= window, in order."""
    count = 0
    length = walks.shape[1]
    for w in range(walks.shape[0]):
        for i in range(length):
            for j in range(max(0, i - window), min(length, i + window + 1)):
                if j != i:
                    pairs[count, 0], pairs[count, 1] = walks[w, i], walks[w, j]
                    count += 1


def skipgram_pairs(walks, window):
    """(pairs, 2) (centre, context) node pairs: each node of a walk with the nodes up to `window`
    steps before and after it in the same walk (DeepWalk's training pairs)."""
    walks = np.ascontiguousarray(walks, np.int64)
    if walks.ndim != 2 or window < 1:
        raise errors.ValueError(f"skipgram_pairs: walks must be (walks, length) and window >= 1, got "
                                f"{walks.shape}, {window}")
    length = walks.shape[1]
    per_walk = sum(min(length, i + window + 1) - max(0, i - window) - 1 for i in range(length))
    pairs = np.empty((walks.shape[0] * per_walk, 2), np.int64)
    skipgram_pairs_kernel.cpu()(walks, window, pairs)
    return pairs
