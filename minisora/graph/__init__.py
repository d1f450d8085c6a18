"""Graphs: the Graph object (edges, their groupings, GCN weights) and the samplers that read it:
random walks (uniform and node2vec), skip-gram pairs for DeepWalk, GraphSAGE neighbour sampling,
and edge sampling. Every sampler is a Numba loop a student can read, seeded by an ms generator."""
from .graph import Graph

__all__ = ["Graph"]
