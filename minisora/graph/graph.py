"""Graph: a graph's edges, and what message passing needs of them, built once and kept.

    g = ms.graph.Graph(edge_index, num_nodes)      edge_index (2, E): sources, then targets
    g.by_target(), g.by_source()                   the edges grouped by node (the CSR form)
    g.with_self_loops()                            one self-loop at every node
    g.gcn_weights()                                Kipf & Welling's D^-1/2 (A + I) D^-1/2, one weight per edge

An edge (s -> t) carries a message from s to t; an undirected graph lists both directions
(`Graph.undirected`, `Graph.from_networkx`). Duplicate edges are kept and count twice, as in
PyTorch Geometric. Every id is checked against num_nodes here, once, on the host.
"""
import numpy as np

from .. import errors
from ..particles.graph import Grouping, group_by
from ..tensor import Tensor


class Graph:
    def __init__(self, edge_index, num_nodes=None, device=None):
        host = edge_index.numpy() if isinstance(edge_index, Tensor) else np.asarray(edge_index)
        if host.dtype.kind not in "iu":
            raise errors.TypeError(f"Graph: edge_index must be integers, got {host.dtype} {host.shape}")
        if host.ndim != 2 or host.shape[0] != 2:
            raise errors.ValueError(f"Graph: edge_index must be (2, E), sources then targets; got shape {host.shape}")
        host = host.astype(np.int64)
        largest = int(host.max()) + 1 if host.size else 0
        num_nodes = largest if num_nodes is None else num_nodes
        if not isinstance(num_nodes, (int, np.integer)) or num_nodes < largest:
            raise errors.IndexError(f"Graph: edge_index names node {largest - 1}, outside num_nodes={num_nodes}")
        if host.size and host.min() < 0:
            raise errors.IndexError(f"Graph: edge_index holds a negative node id {int(host.min())}")
        self.num_nodes = int(num_nodes)
        self.device = device or (edge_index.device if isinstance(edge_index, Tensor) else "cpu")
        self.host_edges = host
        self.edge_index = Tensor(host, device=self.device)
        self._kept = {}

    @classmethod
    def undirected(cls, edge_index, num_nodes=None, device=None):
        """Both directions of every edge given (each pair once: the duplicates dropped)."""
        host = np.asarray(edge_index.numpy() if isinstance(edge_index, Tensor) else edge_index, np.int64)
        both = np.concatenate([host, host[::-1]], axis=1)
        return cls(np.unique(both, axis=1), num_nodes, device)

    @classmethod
    def from_networkx(cls, graph, device=None):
        """The graph's nodes numbered 0..n-1 in graph.nodes order; an undirected one both ways."""
        number = {node: i for i, node in enumerate(graph.nodes)}
        pairs = np.array([(number[a], number[b]) for a, b in graph.edges], np.int64).reshape(-1, 2).T
        if graph.is_directed():
            return cls(pairs, len(number), device)
        return cls.undirected(pairs, len(number), device)

    @property
    def num_edges(self):
        return self.host_edges.shape[1]

    def kept(self, key, build):
        if key not in self._kept:
            self._kept[key] = build()
        return self._kept[key]

    def grouping(self, row):
        def build():
            host = group_by(self.host_edges[row], self.num_nodes)
            return Grouping(*(Tensor(a, device=self.device).data for a in host))
        return self.kept(("grouping", row), build)

    def by_target(self):
        """The edges grouped by target (what a node adds up: scatter, softmax, A x)."""
        return self.grouping(1)

    def by_source(self):
        """The edges grouped by source (A^T: the way back)."""
        return self.grouping(0)

    def degree(self, row=1):
        """How many edges end at each node (row=0: start at it), as a host array."""
        return np.bincount(self.host_edges[row], minlength=self.num_nodes)

    def neighbours(self):
        """(indptr, targets) on the host: node u's neighbours are targets[indptr[u]:indptr[u + 1]],
        sorted (walks and samplers read them; node2vec looks a node up by binary search)."""
        def build():
            order = np.lexsort((self.host_edges[1], self.host_edges[0]))
            indptr = np.zeros(self.num_nodes + 1, np.int64)
            np.cumsum(self.degree(0), out=indptr[1:])
            return indptr, np.ascontiguousarray(self.host_edges[1][order])
        return self.kept("neighbours", build)

    def with_self_loops(self):
        """This graph with exactly one self-loop (i -> i) at every node: those it had dropped, one
        added each (what PyTorch Geometric's GCNConv and GATConv do to an unweighted graph). Kept,
        so its groupings are built once."""
        def build():
            kept = self.host_edges[:, self.host_edges[0] != self.host_edges[1]]
            every = np.arange(self.num_nodes, dtype=np.int64)
            return Graph(np.concatenate([kept, np.stack([every, every])], axis=1), self.num_nodes, self.device)
        return self.kept("self_loops", build)

    @property
    def sources(self):
        """edge_index[0] as a packed tensor (kept)."""
        return self.kept("sources", lambda: Tensor(np.ascontiguousarray(self.host_edges[0]), device=self.device))

    @property
    def targets(self):
        """edge_index[1] as a packed tensor (kept)."""
        return self.kept("targets", lambda: Tensor(np.ascontiguousarray(self.host_edges[1]), device=self.device))

    def gcn_weights(self, dtype=np.float32):
        """w[e] = 1 / sqrt(deg(s) deg(t)) for each edge (s -> t) of with_self_loops(), deg counting
        the edges that end at a node: the GCN's D^-1/2 (A + I) D^-1/2 (A + I already holds the loops)."""
        def build():
            looped = self.with_self_loops()
            degree = looped.degree(1).astype(np.float64)
            inverse_root = np.where(degree > 0, 1.0 / np.sqrt(np.maximum(degree, 1)), 0.0)
            weights = inverse_root[looped.host_edges[0]] * inverse_root[looped.host_edges[1]]
            return Tensor(weights.astype(dtype), device=self.device)
        return self.kept(("gcn", np.dtype(dtype).name), build)

    def to(self, device):
        return self if device == self.device else Graph(self.host_edges, self.num_nodes, device)

    def __repr__(self):
        return f"Graph(num_nodes={self.num_nodes}, num_edges={self.num_edges}, device={self.device!r})"
