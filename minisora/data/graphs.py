"""Graphs to learn on, offline: node classification sets and a graph classification set.

    karate_club()          Zachary's karate club (networkx): 34 members, 78 friendships, the club
                           each joined after the split; one labelled member per faction (the two
                           leaders, nodes 0 and 33), the other 32 to predict
    sbm(nodes, blocks)     a planted partition (stochastic block model): edges likelier inside a
                           block than across, noisy features around a mean per block, a few labels
    cora(folder)           the Cora citation graph from the LINQS files cora.content and cora.cites
                           that you have (plain text; never a pickle)
    small_graph(name)      the other small graphs networkx ships, unlabelled (walks, pictures):
                           "florentine" (Padgett's Florentine families), "davis" (Davis's
                           southern women and their events), "les_miserables" (co-appearances)
    cycles()               graph classification: the trees and the one-cycle graphs of 3 to 7
                           nodes in networkx's graph atlas, labelled by whether it has a cycle

A node classification set is a NodeData: graph, features x (N, F), labels y (N,), and the node ids
of its train / val / test splits.
"""
import os
from dataclasses import dataclass, field

import numpy as np

from .. import errors
from ..graph import Graph


@dataclass
class NodeData:
    name: str
    graph: Graph
    x: np.ndarray
    y: np.ndarray
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    class_names: list = field(default_factory=list)

    @property
    def num_classes(self):
        return len(self.class_names)

    def __repr__(self):
        return (f"NodeData({self.name}: {self.graph.num_nodes} nodes, {self.graph.num_edges} edges, "
                f"{self.x.shape[1]} features, {self.num_classes} classes, train/val/test "
                f"{len(self.train)}/{len(self.val)}/{len(self.test)})")


def networkx():
    try:
        import networkx
    except ImportError:   # pragma: no cover - a dependency; the message is for broken installs
        raise ImportError("the graph datasets need networkx: pip install networkx") from None
    return networkx


def karate_club():
    """Zachary's karate club: features one-hot node ids (a GCN learns from the graph alone), labels
    the club each member joined ("Mr. Hi" 0, "Officer" 1). Train on the two leaders (0 and 33);
    val and test are the other 32 members."""
    nx = networkx()
    club = nx.karate_club_graph()
    y = np.array([0 if club.nodes[i]["club"] == "Mr. Hi" else 1 for i in club.nodes], np.int64)
    others = np.array([i for i in range(len(y)) if i not in (0, 33)])
    return NodeData("karate", Graph.from_networkx(club), np.eye(len(y), dtype=np.float32), y, np.array([0, 33]),
                    others, others, ["Mr. Hi", "Officer"])


SMALL_GRAPHS = {"karate": "karate_club_graph", "florentine": "florentine_families_graph",
                "davis": "davis_southern_women_graph", "les_miserables": "les_miserables_graph"}


def small_graph(name):
    """(Graph, node names) of one of networkx's bundled social graphs (SMALL_GRAPHS), undirected:
    each tie listed both ways, nodes numbered in networkx's order."""
    if name not in SMALL_GRAPHS:
        raise errors.ValueError(f"small_graph: choose one of {', '.join(SMALL_GRAPHS)}, got {name!r}")
    bundled = getattr(networkx(), SMALL_GRAPHS[name])()
    return Graph.from_networkx(bundled), [str(node) for node in bundled.nodes]


def sbm(nodes=10_000, blocks=5, average_degree=10.0, inside_share=0.8, features=32, noise=3.0, label_rate=0.05,
        seed=0):
    """A planted partition of `nodes` into `blocks` equal blocks. Each node has about
    `average_degree` neighbours, `inside_share` of them in its own block; features are the block's
    mean (a random unit-scale vector) plus Gaussian noise of std `noise`, so features alone
    classify poorly and the neighbours' average well. `label_rate` of the nodes (per block) train,
    20% validate, the rest test. Undirected: both directions listed; no duplicates, no self-loops."""
    if nodes < blocks or blocks < 2:
        raise errors.ValueError(f"sbm: need at least 2 blocks and a node per block, got {nodes} nodes, {blocks} blocks")
    rng = np.random.default_rng(seed)
    y = np.arange(nodes) % blocks
    rng.shuffle(y)
    members = [np.flatnonzero(y == b) for b in range(blocks)]
    pairs = nodes * average_degree / 2   # undirected edges wanted
    inside, across = int(rng.poisson(pairs * inside_share)), int(rng.poisson(pairs * (1 - inside_share)))
    block = rng.integers(0, blocks, inside)   # inside edges: both ends drawn from one block
    first = np.empty(inside, np.int64)
    second = np.empty(inside, np.int64)
    for b in range(blocks):
        chosen = block == b
        first[chosen] = rng.choice(members[b], chosen.sum())
        second[chosen] = rng.choice(members[b], chosen.sum())
    ends = rng.integers(0, nodes, (2, across))
    ends = ends[:, y[ends[0]] != y[ends[1]]]   # across edges: ends in different blocks
    edges = np.concatenate([np.stack([first, second]), ends], axis=1)
    edges = edges[:, edges[0] != edges[1]]
    means = rng.standard_normal((blocks, features))
    x = (means[y] + noise * rng.standard_normal((nodes, features))).astype(np.float32)
    train, val, test = stratified_split(y, label_rate, 0.2, rng)
    return NodeData(f"sbm{nodes}", Graph.undirected(edges, nodes), x, y.astype(np.int64), train, val, test,
                    [f"block {b}" for b in range(blocks)])


def stratified_split(y, train_share, val_share, rng):
    """(train, val, test) node ids: train_share of each class, then val_share of all, the rest test."""
    train = np.concatenate([rng.choice(np.flatnonzero(y == c), max(1, round(train_share * (y == c).sum())), replace=False)
                            for c in np.unique(y)])
    rest = rng.permutation(np.setdiff1d(np.arange(len(y)), train))
    cut = round(val_share * len(y))
    return np.sort(train), np.sort(rest[:cut]), np.sort(rest[cut:])


def cora(folder, per_class=20, val=500, test=1000, seed=0):
    """Cora from the LINQS text files in `folder`: cora.content lines are
    `<paper id> <0/1 word attributes...> <class label>`, cora.cites lines `<cited id> <citing id>`.
    The citations become an undirected graph; a citation naming a paper not in cora.content is
    refused. Splits as Planetoid's: per_class train nodes of each class, then val and test nodes
    (fewer in a small file)."""
    content, cites = os.path.join(folder, "cora.content"), os.path.join(folder, "cora.cites")
    for path in (content, cites):
        if not os.path.isfile(path):
            raise FileNotFoundError(f"cora: no {os.path.basename(path)} in {folder} (the LINQS Cora files)")
    ids, rows, labels = [], [], []
    with open(content) as handle:
        for number, line in enumerate(handle, 1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) < 3:
                raise errors.ValueError(f"cora: {content} line {number}: expected an id, word flags and a label")
            ids.append(fields[0])
            rows.append(fields[1:-1])
            labels.append(fields[-1])
    width = len(rows[0]) if rows else 0
    if any(len(r) != width for r in rows):
        raise errors.ValueError(f"cora: {content}: every paper must have the same number of word flags ({width})")
    try:
        x = np.array(rows, dtype=np.float32).reshape(len(rows), width)
    except ValueError:
        raise errors.ValueError(f"cora: {content}: word flags must be numbers") from None
    number = {paper: i for i, paper in enumerate(ids)}
    if len(number) != len(ids):
        raise errors.ValueError(f"cora: {content} lists a paper id twice")
    pairs = []
    with open(cites) as handle:
        for line_number, line in enumerate(handle, 1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 2 or fields[0] not in number or fields[1] not in number:
                raise errors.ValueError(f"cora: {cites} line {line_number}: expected two paper ids from cora.content, "
                                        f"got {line.strip()!r}")
            pairs.append((number[fields[1]], number[fields[0]]))   # citing -> cited
    class_names = sorted(set(labels))
    y = np.array([class_names.index(label) for label in labels], np.int64)
    rng = np.random.default_rng(seed)
    # (a small file: at most half of each class trains, and at least one node validates)
    train = np.concatenate([rng.permutation(members)[:min(per_class, max(1, len(members) // 2))]
                            for members in (np.flatnonzero(y == c) for c in range(len(class_names)))])
    rest = rng.permutation(np.setdiff1d(np.arange(len(y)), train))
    val = min(val, max(1, len(rest) // 2))
    edges = np.array(pairs, np.int64).reshape(-1, 2).T
    edges = edges[:, edges[0] != edges[1]]
    return NodeData("cora", Graph.undirected(edges, len(ids)), x, y, np.sort(train), np.sort(rest[:val]),
                    np.sort(rest[val:val + test]), class_names)


@dataclass
class GraphBatch:
    """Several graphs as one graph with no edges between them: node i belongs to graph batch[i]."""
    graph: Graph
    x: np.ndarray
    batch: np.ndarray
    y: np.ndarray

    @property
    def num_graphs(self):
        return len(self.y)


def batch_graphs(graphs, features, labels):
    """One GraphBatch from lists of Graphs, their node features and their labels (node ids shifted)."""
    edges, offset = [], 0
    for g in graphs:
        edges.append(g.host_edges + offset)
        offset += g.num_nodes
    batch = np.repeat(np.arange(len(graphs)), [g.num_nodes for g in graphs])
    return GraphBatch(Graph(np.concatenate(edges, axis=1) if edges else np.zeros((2, 0), np.int64), offset),
                      np.concatenate(features).astype(np.float32), batch, np.asarray(labels, np.int64))


MAX_DEGREE = 6


def degree_features(graph):
    """A node's features for `cycles`: a constant 1 and its degree one-hot (0 to 6)."""
    degree = graph.degree(1)
    return np.concatenate([np.ones((graph.num_nodes, 1)), np.eye(MAX_DEGREE + 1)[degree]], axis=1)


def cycles():
    """Graph classification from networkx's graph atlas: every connected graph of 3 to 7 nodes with
    at most as many edges as nodes, that is the trees (label 0) and the graphs with exactly one
    cycle (label 1). (All connected graphs of that size would be 98% cyclic: a useless label.)
    A connected graph has a cycle exactly when it has as many edges as nodes (a tree has n - 1), so
    a network that adds up its nodes' degrees (twice the edges) and counts its nodes can learn the
    label: a sum over nodes (global_add_pool) of degree features sees both, and a straight line
    separates the classes. Returns (graphs, features, labels)."""
    nx = networkx()
    graphs, features, labels = [], [], []
    for atlas_graph in nx.graph_atlas_g():
        nodes, edges = atlas_graph.number_of_nodes(), atlas_graph.number_of_edges()
        if nodes < 3 or edges > nodes or not nx.is_connected(atlas_graph):
            continue
        g = Graph.from_networkx(atlas_graph)
        graphs.append(g)
        features.append(degree_features(g))
        labels.append(int(edges == nodes))
    return graphs, features, np.array(labels, np.int64)
