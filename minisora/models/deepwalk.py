"""DeepWalk: node embeddings learned from random walks, the way word2vec learns word vectors.

Nodes that appear near each other on walks get vectors that point the same way. Each node v has an
input vector u_v and an output vector o_v; for a (centre c, context x) pair from the walks
(ms.graph.skipgram_pairs) and k nodes n_1..n_k drawn at random (negatives, likelier the more often
a node appears on the walks: frequency^0.75, as word2vec), the loss is skip-gram's with negative
sampling:
    -log sigmoid(u_c . o_x) - sum over i of log sigmoid(-u_c . o_{n_i})
The embeddings are the u vectors. `linear_probe` then scores them: a logistic regression (a Linear
layer and cross-entropy) trained on some nodes' labels, its accuracy on the others.
"""
import numpy as np

from .. import errors, functional as F, nn, optim, random as ms_random
from ..autograd import no_grad
from ..graph import random_walks, skipgram_pairs
from ..tensor import Tensor


class SkipGram(nn.Module):
    def __init__(self, num_nodes, dim):
        super().__init__()
        self.inputs, self.outputs = nn.Embedding(num_nodes, dim), nn.Embedding(num_nodes, dim)
        nn.init.uniform_(self.inputs.weight, -0.5 / dim, 0.5 / dim)   # word2vec's start: small inputs, zero outputs
        nn.init.zeros_(self.outputs.weight)

    def forward(self, centres, contexts, negatives):
        """The negative-sampling loss, averaged over the pairs: centres, contexts (B,), negatives (B, k)."""
        u = self.inputs(centres)                                                   # (B, D)
        positive = (u * self.outputs(contexts)).sum(-1)                            # (B,)
        negative = (u.unsqueeze(1) * self.outputs(negatives)).sum(-1)              # (B, k)
        scores = F.cat([positive.unsqueeze(1), negative], 1)
        targets = np.zeros(scores.shape, np.float32)
        targets[:, 0] = 1.0
        return F.binary_cross_entropy_with_logits(scores, Tensor(targets, device=scores.device)) * scores.shape[1]


def deepwalk(graph, dim=32, walks_per_node=10, length=40, window=5, negatives=5, epochs=1, lr=0.025, batch_size=256,
             p=1.0, q=1.0, generator=None):
    """(num_nodes, dim) node embeddings: walks (node2vec-biased for p, q != 1), skip-gram pairs
    within `window` steps, trained by Adam for `epochs` passes over the pairs in shuffled batches."""
    if dim < 1 or negatives < 0:
        raise errors.ValueError(f"deepwalk: dim must be >= 1 and negatives >= 0, got {dim}, {negatives}")
    generator = generator or ms_random.generator()
    walks = random_walks(graph, length, walks_per_node, p=p, q=q, generator=generator)
    pairs = skipgram_pairs(walks, window)
    frequency = np.bincount(walks.reshape(-1), minlength=graph.num_nodes) ** 0.75
    noise = frequency / frequency.sum()
    model = SkipGram(graph.num_nodes, dim)
    optimizer = optim.Adam(model.parameters(), lr=lr)
    for _ in range(epochs):
        order = generator.permutation(len(pairs))
        for first in range(0, len(order), batch_size):
            batch = pairs[order[first:first + batch_size]]
            drawn = generator.choice(graph.num_nodes, (len(batch), negatives), p=noise)
            optimizer.zero_grad()
            model(Tensor(batch[:, 0]), Tensor(batch[:, 1]), Tensor(drawn)).backward()
            optimizer.step()
    return model.inputs.weight.numpy().copy()


def linear_probe(features, labels, train, test, steps=300, lr=0.05, weight_decay=1e-3):
    """Accuracy on the `test` nodes of a logistic regression trained (Adam, full batch) on the
    `train` nodes' features and labels; features are standardized by the train nodes' statistics."""
    features = np.asarray(features, np.float64)
    mean, std = features[train].mean(0), features[train].std(0) + 1e-8
    x = Tensor(((features - mean) / std).astype(np.float32))
    labels = np.asarray(labels, np.int64)
    probe = nn.Linear(features.shape[1], int(labels.max()) + 1)
    optimizer = optim.Adam(probe.parameters(), lr=lr, weight_decay=weight_decay)
    train_ids, y = Tensor(np.asarray(train)), Tensor(labels[train])
    for _ in range(steps):
        optimizer.zero_grad()
        F.cross_entropy(probe(F.gather_rows(x, train_ids)), y).backward()
        optimizer.step()
    with no_grad():
        predicted = probe(x).numpy().argmax(1)
    return float((predicted[test] == labels[test]).mean())
