"""Graphs: the Graph object (edges, their groupings, GCN weights) and the samplers that read it:
random walks (uniform and node2vec) and skip-gram pairs for DeepWalk, GraphSAGE neighbour
sampling, and edge sampling. Every sampler is a Numba loop a student can read, fed by minisora's
seeded generator (or the numpy Generator given)."""
from .graph import Graph
from .sampling import NeighborSampler, Subgraph, sample_edges
from .walks import random_walks, skipgram_pairs

__all__ = ["Graph", "random_walks", "skipgram_pairs", "NeighborSampler", "Subgraph", "sample_edges"]
