"""Graph networks: node classifiers (GCN, GAT, GraphSAGE) and a graph classifier.

    NodeClassifier("gcn", F, hidden, classes):   x -> conv -> ReLU -> dropout -> conv -> logits per node
    NodeClassifier("gat", ...):                  GAT's own recipe: 8 heads concatenated, ELU, dropout
                                                 0.6 on features and attention, one averaged head out
    GraphClassifier(F, hidden, classes):         GCN layers -> a sum (or mean, max) over each graph's
                                                 nodes -> Linear -> logits per graph

`embed(x, graph)` gives the hidden layer's node representations (what the embedding plot shows).
"""
from .. import errors, functional as F, nn

KINDS = ("gcn", "gat", "sage")


class NodeClassifier(nn.Module):
    def __init__(self, kind, in_features, hidden, classes, heads=8, dropout=None):
        super().__init__()
        if kind not in KINDS:
            raise errors.ValueError(f"NodeClassifier: kind must be one of {', '.join(KINDS)}, got {kind!r}")
        if min(in_features, hidden, classes) < 1:
            raise errors.ValueError(f"NodeClassifier: sizes must be positive, got {in_features}, {hidden}, {classes}")
        dropout = (0.6 if kind == "gat" else 0.5) if dropout is None else float(dropout)
        self.config = {"kind": kind, "in_features": int(in_features), "hidden": int(hidden), "classes": int(classes),
                       "heads": int(heads), "dropout": dropout}
        self.kind, self.dropout = kind, dropout
        if kind == "gat":
            self.conv1 = nn.GATConv(in_features, hidden, heads=heads, dropout=dropout)
            self.conv2 = nn.GATConv(hidden * heads, classes, heads=1, concat=False, dropout=dropout)
        else:
            layer = nn.GCNConv if kind == "gcn" else nn.SAGEConv
            self.conv1, self.conv2 = layer(in_features, hidden), layer(hidden, classes)

    def embed(self, x, graph):
        """The hidden representation of every node (after the first layer and its activation)."""
        if self.kind == "gat":
            x = F.dropout(x, self.dropout, self.training)
            return F.elu(self.conv1(x, graph))
        return F.relu(self.conv1(x, graph))

    def forward(self, x, graph):
        return self.conv2(F.dropout(self.embed(x, graph), self.dropout, self.training), graph)


POOLS = {"add": nn.global_add_pool, "mean": nn.global_mean_pool, "max": nn.global_max_pool}


class GraphClassifier(nn.Module):
    def __init__(self, in_features, hidden, classes, layers=2, pool="add"):
        super().__init__()
        if pool not in POOLS:
            raise errors.ValueError(f"GraphClassifier: pool must be one of {', '.join(POOLS)}, got {pool!r}")
        self.config = {"in_features": int(in_features), "hidden": int(hidden), "classes": int(classes),
                       "layers": int(layers), "pool": pool}
        sizes = [in_features] + [hidden] * layers
        self.convs = nn.Sequential(*(nn.GCNConv(a, b) for a, b in zip(sizes, sizes[1:])))
        self.pool = POOLS[pool]
        self.head = nn.Linear(in_features + hidden * layers, classes)

    def forward(self, x, graph, batch, num_graphs):
        """Logits (num_graphs, classes): the head reads every layer's pooled nodes, the input's too
        (a deep GCN averages its neighbourhoods; the raw degree counts stay in sight)."""
        pooled = [self.pool(x, batch, num_graphs)]
        for conv in self.convs:
            x = F.relu(conv(x, graph))
            pooled.append(self.pool(x, batch, num_graphs))
        return self.head(F.cat(pooled, 1))
