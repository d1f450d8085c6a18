# %% [markdown]
# # Lesson 14: graphs: message passing, GCN, attention over neighbours, random walks
#
# A graph is nodes and edges. Here an edge (s -> t) carries a message from s to t, and a
# friendship is two edges, one each way. Each node has a row of features; a graph network
# updates every node from its neighbours' rows, the same small neuron at every node (as a
# convolution is the same neuron at every pixel, lesson 13).
#
# We start with Zachary's karate club: 34 members of a club that split in two after a quarrel.
# Who followed whom, from the friendships alone?

# %%
import numpy as np

import minisora as ms
from minisora import F
from lesson_setup import FAST, figure_path

club = ms.data.karate_club()
graph = club.graph
print(club)
degree = graph.degree()
print("friends of member 0:", graph.neighbours()[1][graph.neighbours()[0][0]:graph.neighbours()[0][1]].tolist())
assert graph.num_edges == 2 * 78 and degree.sum() == 156 and degree.max() == 17

# %% [markdown]
# ## Graphs as matrices
#
# The adjacency matrix A has A[t, s] = 1 for each edge s -> t. A x adds up each node's
# neighbours' features. Most of A is zero (a node has a few friends out of thousands), so A x is
# computed from the edge list instead: `F.spmm`, a sparse matrix product. It is also the
# simplest message passing: gather each edge's source row, scatter it into its target.

# %%
x = np.random.default_rng(0).standard_normal((34, 3))
dense = np.zeros((34, 34))
dense[graph.host_edges[1], graph.host_edges[0]] = 1
summed = F.spmm(graph, ms.tensor(x), ms.ones(graph.num_edges, dtype="float64")).numpy()
messages = F.gather_rows(ms.tensor(x), graph.sources)                   # one row per edge: x[source]
passed = F.scatter_add(messages, graph.targets, graph.num_nodes).numpy()  # added up at each target
np.testing.assert_allclose(summed, dense @ x, rtol=1e-12)
np.testing.assert_allclose(passed, dense @ x, rtol=1e-12)
print("A x == spmm == scatter_add(gather_rows(x, sources), targets):", summed.shape)

# %% [markdown]
# ## The GCN's normalisation
#
# Stacking layers multiplies by A again and again, and A's largest eigenvalue here is about 6.7:
# features would grow by that factor per layer. Kipf and Welling add a self-loop to every node
# (a node keeps its own features too) and divide each edge by sqrt(deg(s) deg(t)):
#
#     A_hat = D^-1/2 (A + I) D^-1/2
#
# whose eigenvalues lie in (-1, 1]: repeated, it averages instead of exploding.

# %%
looped = graph.with_self_loops()
a_hat = np.zeros((34, 34))
np.add.at(a_hat, (looped.host_edges[1], looped.host_edges[0]), graph.gcn_weights(np.float64).numpy())
largest_a, eigenvalues = np.linalg.eigvalsh(dense).max(), np.linalg.eigvalsh(a_hat)
assert 6.5 < largest_a < 7.0 and abs(eigenvalues.max() - 1) < 1e-12 and eigenvalues.min() > -1
print(f"largest eigenvalue of A: {largest_a:.2f}; of A_hat: {eigenvalues.max():.2f} (smallest {eigenvalues.min():.2f})")

# %% [markdown]
# ## A GCN learns the split from two labels
#
# Features are one-hot member ids: the network knows nothing but the graph. Only the two leaders
# (members 0 and 33) are labelled; the loss sees those two rows. The other 32 are predicted.

# %%
from minisora.training.node_classifier import accuracy_over_seeds   # noqa: E402

seeds = range(3 if FAST else 10)
scores = accuracy_over_seeds({"model": "gcn", "dataset": "karate"}, seeds, split="test")
print("GCN accuracy on the 32 unlabelled members, by seed:", [f"{s:.1%}" for s in scores.values()])
assert min(scores.values()) >= 0.9

ms.manual_seed(0)
model = ms.models.NodeClassifier("gcn", 34, 16, 2)
optimizer = ms.optim.Adam(model.parameters(), lr=0.01, weight_decay=5e-4)
features, leaders, leader_labels = ms.tensor(club.x), ms.tensor([0, 33]), ms.tensor(club.y[[0, 33]])
for epoch in range(200):
    model.train()
    optimizer.zero_grad()
    F.cross_entropy(F.gather_rows(model(features, graph), leaders), leader_labels).backward()
    optimizer.step()
model.eval()
with ms.no_grad():
    predicted = model(features, graph).numpy().argmax(1)
wrong = np.flatnonzero(predicted != club.y)
print("members the GCN gets wrong:", wrong.tolist())
assert len(wrong) <= 2
ms.plot.graph_classes(graph, predicted, club.y, figure_path("14_karate.png"), title="GCN from two labels",
                      class_names=club.class_names)
print("saved", figure_path("14_karate.png"))

# %% [markdown]
# ## Attention over neighbours (GAT)
#
# A GCN weighs every neighbour by degrees alone. A graph attention layer learns the weights: a
# score for each edge from both ends' features, LeakyReLU(0.2), then a softmax over each node's
# incoming edges (`F.segment_softmax`: the softmax of lesson 04, over a node's edges instead of
# a row). The weights of each node's edges add up to 1.

# %%
ms.manual_seed(0)
gat = ms.nn.GATConv(34, 4, heads=2)
out, (with_loops, weights) = gat(features, graph, return_attention_weights=True)
totals = F.scatter_add(weights, with_loops.targets, 34).numpy()
np.testing.assert_allclose(totals, 1.0, rtol=1e-5)
first = np.flatnonzero(with_loops.host_edges[1] == 0)
print(f"GAT: member 0 listens to {len(first)} members (itself too); head 0's weights add up to "
      f"{weights.numpy()[first, 0].sum():.3f}")

# %% [markdown]
# ## Random walks and DeepWalk
#
# A random walk steps to a random neighbour again and again. Members of one faction meet on the
# same walks; DeepWalk learns a vector per node so that nodes near each other on walks point the
# same way (word2vec's skip-gram, with walks as sentences). node2vec biases the walk: a small p
# makes it come back where it was, a small q makes it wander away.

# %%
ms.manual_seed(0)
walks = ms.graph.random_walks(graph, 10, walks_per_node=20)
back = lambda w: float(np.mean(w[:, 2:] == w[:, :-2]))   # noqa: E731  (steps straight back)
local, outward = (ms.graph.random_walks(graph, 10, walks_per_node=20, p=p, q=q) for p, q in ((0.1, 1), (10, 0.1)))
print(f"steps straight back: uniform {back(walks):.0%}, p = 0.1: {back(local):.0%}, "
      f"p = 10, q = 0.1: {back(outward):.0%}")
assert back(local) > back(walks) > back(outward)

probes = []
for seed in range(3 if FAST else 10):   # the walks, the vectors and which 16 members are labelled change with it
    ms.manual_seed(seed)
    vectors = ms.models.deepwalk(graph, dim=16, walks_per_node=10, length=20, window=5)
    rng = np.random.default_rng(seed)
    train = np.concatenate([rng.choice(np.flatnonzero(club.y == c), 8, replace=False) for c in (0, 1)])
    probes.append(ms.models.linear_probe(vectors, club.y, train, np.setdiff1d(np.arange(34), train)))
    if seed == 0:
        embeddings = vectors   # (the picture below: seed 0's)
print("a logistic regression on DeepWalk's vectors, 16 labels, accuracy on the other 18 by seed:",
      [f"{p:.0%}" for p in probes], f"mean {np.mean(probes):.1%}")
assert np.mean(probes) >= 0.85
ms.plot.embedding_projection(embeddings, club.y, figure_path("14_deepwalk.png"), title="DeepWalk's node vectors",
                             class_names=club.class_names)
print("saved", figure_path("14_deepwalk.png"))

# %% [markdown]
# ## Sampling: graphs too big for one step
#
# On a graph of millions of nodes, one step over the whole graph does not fit. GraphSAGE trains on
# mini-batches: a few seed nodes, up to k of their neighbours, up to k' of those... (`fanouts`).
# The sampled subgraph holds every node a 2-layer network needs to compute its seeds' outputs.

# %%
block_graph = ms.data.sbm(2000 if FAST else 10_000, seed=0).graph
sampler = ms.graph.NeighborSampler(block_graph, [5, 3], batch_size=64, generator=np.random.default_rng(0))
batch = next(iter(sampler))
heard = np.bincount(batch.graph.host_edges[1], minlength=batch.graph.num_nodes)
print(f"a batch of {batch.seed_count} seeds reaches {len(batch.nodes)} nodes through {batch.graph.num_edges} sampled "
      f"edges (the graph has {block_graph.num_nodes})")
assert heard[:batch.seed_count].max() <= 5 and len(batch.nodes) < block_graph.num_nodes

# %% [markdown]
# `minisora train gnn --model gcn|gat|sage --data karate|sbm|cora` trains these networks with the
# trainer's files (checkpoint, metrics.jsonl, curves.png, graph.png, embeddings.png).
#
# **Exercise**: write the backward of the segment softmax (GAT's softmax over each node's edges)
# in `lessons/exercises/14_segment_softmax.py`, then grade it:
# `minisora check lessons/exercises/14_segment_softmax.py`.
