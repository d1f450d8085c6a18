"""Sampling subgraphs, so a graph too big for one step trains in mini-batches.

    NeighborSampler(graph, fanouts=[10, 5], batch_size=512)   GraphSAGE's: for each batch of seed
        nodes, up to fanouts[0] of each seed's neighbours (its sources: the nodes it hears), then up
        to fanouts[1] of each of those, ...; yields a Subgraph whose first `seed_count` nodes are
        the seeds (their rows of a model's output are the ones to score)
    sample_edges(graph, count)   adjacency sampling: `count` edges drawn at random, with the
        nodes they touch (GraphSAINT's edge sampler, without its loss normalisation)

A Subgraph holds `nodes` (its nodes' ids in the big graph: x[nodes] are their features) and
`graph`, a Graph over local ids 0..len(nodes)-1. Neighbours are drawn without replacement by
Knuth's selection sampling: walking through a node's d neighbours, neighbour j is taken with
probability (still wanted) / (still left), one uniform number each, drawn up front by the
seeded generator.
"""
from dataclasses import dataclass

import numpy as np
from numba import prange

from .. import errors, random as ms_random
from ..backends.kernel import kernel
from ..particles.graph import group_by
from .graph import Graph


@dataclass
class Subgraph:
    nodes: np.ndarray
    graph: Graph
    seed_count: int


@kernel(parallel=True)
def pick_neighbours_kernel(indptr, sources, frontier, fanout, uniforms, first_uniform, first_slot, picked, picked_for):
    """For frontier node i: min(fanout, degree) of its sources chosen without replacement, written
    from picked[first_slot[i]] on (and the frontier position i beside each, in picked_for)."""
    for i in prange(frontier.size):
        node = frontier[i]
        start, degree = indptr[node], indptr[node + 1] - indptr[node]
        wanted, slot = min(fanout, degree), first_slot[i]
        for j in range(degree):
            if wanted == 0:
                break
            if uniforms[first_uniform[i] + j] * (degree - j) < wanted:   # take j with chance wanted / left
                picked[slot], picked_for[slot] = sources[start + j], i
                slot += 1
                wanted -= 1


def by_target_sources(graph):
    """(indptr, sources) on the host, kept on the graph: node t's sources (the nodes it hears) are
    sources[indptr[t]:indptr[t + 1]]. (Grouped from the host's copy of the edges: the sampler runs
    on the CPU whatever device the graph's own groupings live on.)"""
    def build():
        indptr, order = group_by(graph.host_edges[1], graph.num_nodes)
        return indptr, np.ascontiguousarray(graph.host_edges[0][order])
    return graph.kept("sources_by_target", build)


def sample_neighbours(graph, seeds, fanouts, generator):
    """The Subgraph reached from `seeds` by len(fanouts) rounds of neighbour sampling."""
    indptr, sources = by_target_sources(graph)
    local = {int(node): i for i, node in enumerate(seeds)}
    nodes, frontier = list(map(int, seeds)), np.asarray(seeds, np.int64)
    edge_sources, edge_targets = [], []
    for fanout in fanouts:
        degrees = indptr[frontier + 1] - indptr[frontier]
        counts = np.minimum(degrees, fanout)
        first_uniform = np.concatenate([[0], np.cumsum(degrees)[:-1]]).astype(np.int64)
        first_slot = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        uniforms = generator.random(int(degrees.sum()))
        picked, picked_for = np.empty(int(counts.sum()), np.int64), np.empty(int(counts.sum()), np.int64)
        pick_neighbours_kernel.cpu()(indptr, sources, frontier, int(fanout), uniforms, first_uniform, first_slot, picked,
                                     picked_for)
        new = []
        for node in picked:
            if int(node) not in local:
                local[int(node)] = len(nodes)
                nodes.append(int(node))
                new.append(int(node))
        edge_sources.append(np.array([local[int(n)] for n in picked], np.int64))
        edge_targets.append(np.array([local[int(frontier[i])] for i in picked_for], np.int64))
        frontier = np.array(new, np.int64)
    edges = np.stack([np.concatenate(edge_sources), np.concatenate(edge_targets)]) if edge_sources \
        else np.zeros((2, 0), np.int64)
    return Subgraph(np.array(nodes, np.int64), Graph(edges, len(nodes), graph.device), len(seeds))


class NeighborSampler:
    """Mini-batches of seed nodes (all nodes, or `nodes`), each with its sampled neighbourhood."""

    def __init__(self, graph, fanouts, batch_size=512, nodes=None, shuffle=True, generator=None):
        if not fanouts or any(f < 1 for f in fanouts):
            raise errors.ValueError(f"NeighborSampler: fanouts must be a list of counts >= 1, got {fanouts!r}")
        if batch_size < 1:
            raise errors.ValueError(f"NeighborSampler: batch_size must be >= 1, got {batch_size}")
        self.graph, self.fanouts, self.batch_size, self.shuffle = graph, [int(f) for f in fanouts], batch_size, shuffle
        self.nodes = np.arange(graph.num_nodes) if nodes is None else np.asarray(nodes, np.int64)
        if self.nodes.size and (self.nodes.min() < 0 or self.nodes.max() >= graph.num_nodes):
            raise errors.IndexError(f"NeighborSampler: node ids must be in [0, {graph.num_nodes})")
        self.generator = generator or ms_random.generator()

    def __len__(self):
        return -(-len(self.nodes) // self.batch_size)

    def __iter__(self):
        order = self.generator.permutation(self.nodes) if self.shuffle else self.nodes
        for first in range(0, len(order), self.batch_size):
            yield sample_neighbours(self.graph, order[first:first + self.batch_size], self.fanouts, self.generator)


def sample_edges(graph, count, generator=None):
    """A Subgraph of `count` edges drawn without replacement and the nodes they touch (in order of
    their ids); seed_count = all of its nodes."""
    if not 0 <= count <= graph.num_edges:
        raise errors.ValueError(f"sample_edges: count must be from 0 to the graph's {graph.num_edges} edges, got {count}")
    generator = generator or ms_random.generator()
    chosen = graph.host_edges[:, np.sort(generator.choice(graph.num_edges, count, replace=False))]
    nodes, local = np.unique(chosen, return_inverse=True)
    return Subgraph(nodes, Graph(local.reshape(2, -1), len(nodes), graph.device), len(nodes))
