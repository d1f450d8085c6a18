"""Graph networks side by side: minisora vs PyTorch CPU eager (2 threads) vs PyTorch Geometric.

    GCN step       a 2-layer GCN training step (64 -> 64 -> 5, ReLU, dropout 0.5, cross-entropy
                   on the 5% labelled nodes, Adam) on a planted-partition graph of 100,000 nodes
                   and about 1,000,000 directed edges, 64 features
                   torch: the same network with torch.sparse.mm on the normalised adjacency
                   (built once: COO as in Kipf & Welling's code, and CSR); pyg: torch_geometric's
                   GCNConv (cached normalisation), where it is installed
    random walks   one uniform walk of 40 steps from every node of that graph (100,000 walks):
                   minisora's Numba loop vs a NumPy walker that moves every walk one step per
                   array operation

    python benchmarks/gnn.py [--rounds N] [--startup]

Each side runs in a process of its own, interleaved rounds, medians (common.py); ratios > 1 mean
minisora is faster. The graph is made here with NumPy, the same for every side.
"""
import argparse
import importlib.util

import numpy as np

from common import Worker, have_torch, machine, measure_rounds, startup_times, summary

NODES, BLOCKS, DEGREE, FEATURES, HIDDEN, WALK = 100_000, 5, 10, 64, 64, 40


def inputs(case):
    return (case["workload"],)


def planted_partition(seed=0):
    """(edges (2, E) both directions, features (N, F), labels (N,), labelled node ids)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, BLOCKS, NODES)
    pairs = NODES * DEGREE // 2
    first = rng.integers(0, NODES, pairs)
    inside = rng.random(pairs) < 0.8
    block_members = [np.flatnonzero(labels == b) for b in range(BLOCKS)]
    second = rng.integers(0, NODES, pairs)
    for b in range(BLOCKS):   # inside edges: the second end drawn from the first end's block
        chosen = inside & (labels[first] == b)
        second[chosen] = rng.choice(block_members[b], chosen.sum())
    edges = np.stack([first, second])[:, first != second]
    edges = np.unique(np.concatenate([edges, edges[::-1]], axis=1), axis=1)
    features = (rng.standard_normal((BLOCKS, FEATURES))[labels] + 3 * rng.standard_normal((NODES, FEATURES)))
    labelled = rng.choice(NODES, NODES // 20, replace=False)
    return edges, features.astype(np.float32), labels, np.sort(labelled)


def minisora_step(workload):
    import minisora as ms
    from minisora import F
    from minisora.graph import Graph, random_walks

    edges, features, labels, labelled = planted_partition()
    graph = Graph(edges, NODES)
    if workload == "walks":
        generator = np.random.default_rng(0)
        return lambda: random_walks(graph, WALK, generator=generator)
    ms.manual_seed(0)
    model = ms.models.NodeClassifier("gcn", FEATURES, HIDDEN, BLOCKS)
    optimizer = ms.optim.Adam(model.parameters(), lr=0.01, weight_decay=5e-4)
    x, ids, y = ms.tensor(features), ms.tensor(labelled), ms.tensor(labels[labelled])

    def step():
        model.train()
        optimizer.zero_grad()
        F.cross_entropy(F.gather_rows(model(x, graph), ids), y).backward()
        optimizer.step()
    return step


def normalised_adjacency(edges):
    """(rows, columns, values) of D^-1/2 (A + I) D^-1/2 for targets (rows) and sources (columns)."""
    loops = np.arange(NODES)
    sources, targets = np.concatenate([edges[0], loops]), np.concatenate([edges[1], loops])
    degree = np.bincount(targets, minlength=NODES).astype(np.float32)
    return targets, sources, (degree[sources] * degree[targets]) ** -0.5


def torch_gcn_step(layout):
    import torch
    import torch.nn.functional as F

    torch.manual_seed(0)
    edges, features, labels, labelled = planted_partition()
    rows, columns, values = normalised_adjacency(edges)
    adjacency = torch.sparse_coo_tensor(torch.tensor(np.stack([rows, columns])), torch.tensor(values),
                                        (NODES, NODES)).coalesce()
    if layout == "csr":
        adjacency = adjacency.to_sparse_csr()
    lin1, lin2 = torch.nn.Linear(FEATURES, HIDDEN, bias=False), torch.nn.Linear(HIDDEN, BLOCKS, bias=False)
    bias1, bias2 = torch.nn.Parameter(torch.zeros(HIDDEN)), torch.nn.Parameter(torch.zeros(BLOCKS))
    parameters = [lin1.weight, lin2.weight, bias1, bias2]
    optimizer = torch.optim.Adam(parameters, lr=0.01, weight_decay=5e-4)
    x, ids, y = torch.tensor(features), torch.tensor(labelled), torch.tensor(labels[labelled])

    def step():
        optimizer.zero_grad()
        h = F.dropout(F.relu(torch.sparse.mm(adjacency, lin1(x)) + bias1), 0.5, training=True)
        logits = torch.sparse.mm(adjacency, lin2(h)) + bias2
        F.cross_entropy(logits[ids], y).backward()
        optimizer.step()
    return step


def torch_step(workload):
    return torch_gcn_step("coo")


def torch_csr_step(workload):
    return torch_gcn_step("csr")


def torch_pyg_step(workload):
    import torch
    import torch.nn.functional as F
    from torch_geometric.nn import GCNConv

    torch.manual_seed(0)
    edges, features, labels, labelled = planted_partition()
    edge_index = torch.tensor(edges)
    conv1, conv2 = GCNConv(FEATURES, HIDDEN, cached=True), GCNConv(HIDDEN, BLOCKS, cached=True)
    optimizer = torch.optim.Adam(list(conv1.parameters()) + list(conv2.parameters()), lr=0.01, weight_decay=5e-4)
    x, ids, y = torch.tensor(features), torch.tensor(labelled), torch.tensor(labels[labelled])

    def step():
        optimizer.zero_grad()
        h = F.dropout(F.relu(conv1(x, edge_index)), 0.5, training=True)
        F.cross_entropy(conv2(h, edge_index)[ids], y).backward()
        optimizer.step()
    return step


def numpy_step(workload):
    """Uniform random walks in NumPy: every walk takes its step t at once (fancy indexing)."""
    edges, _, _, _ = planted_partition()
    order = np.lexsort((edges[1], edges[0]))
    neighbours = edges[1][order]
    indptr = np.concatenate([[0], np.cumsum(np.bincount(edges[0], minlength=NODES))])
    generator = np.random.default_rng(0)

    def walk():
        walks = np.empty((NODES, WALK + 1), np.int64)
        walks[:, 0] = node = np.arange(NODES)
        for step in range(1, WALK + 1):
            start, degree = indptr[node], indptr[node + 1] - indptr[node]
            pick = np.minimum((generator.random(NODES) * degree).astype(np.int64), np.maximum(degree - 1, 0))
            node = np.where(degree > 0, neighbours[np.minimum(start + pick, len(neighbours) - 1)], node)
            walks[:, step] = node
        return walks
    return walk


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--startup", action="store_true", help="also time a cold and a warm start (GCN step)")
    args = parser.parse_args()
    print(machine())
    print(f"median [lowest-highest] of {args.rounds} interleaved rounds, one process each, float32; "
          "vs X > 1: minisora is faster")
    torch_sides = ["torch", "torch_csr"] if have_torch() else []
    if torch_sides and importlib.util.find_spec("torch_geometric") is not None:
        torch_sides.append("torch_pyg")
    for label, workload, others in (("GCN step 100k nodes", "gcn", torch_sides),
                                    ("random walks 100k x 40", "walks", ["numpy"])):
        workers = {b.replace("torch_", ""): Worker("gnn", f"{b}_step", {"workload": workload})
                   for b in ["minisora"] + others}
        result = summary(label, measure_rounds(workers, args.rounds))
        print(result, flush=True)
    if args.startup:
        cold, warm = startup_times("gnn", "minisora_step", case={"workload": "gcn"})
        print(f"start-up, import to the end of the first GCN step: cold {cold:.2f} s (empty kernel cache), "
              f"warm {warm:.2f} s")


if __name__ == "__main__":
    main()
