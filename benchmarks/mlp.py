"""Forward + backward of an MLP: minisora vs PyTorch CPU eager vs plain NumPy, side by side.

    python benchmarks/mlp.py            # both sizes, interleaved rounds, medians, ratios
    python benchmarks/mlp.py --startup  # also cold (empty kernel cache) and warm start times

Rounds interleave the three implementations (rotating their order) so machine noise hits all alike.
Ratios > 1 mean minisora is faster. PyTorch is optional (pip install ".[torch]").
"""
import sys

import numpy as np

from common import compare_mlps

SIZES = {"784-64-10": [784, 64, 10], "784-512-512-10": [784, 512, 512, 10]}


def make_weights(sizes, seed=0):
    rng = np.random.default_rng(seed)
    return [((rng.uniform(-1, 1, (o, i)) / np.sqrt(i)).astype(np.float32), np.zeros(o, np.float32))
            for i, o in zip(sizes[:-1], sizes[1:])]


def minisora_step(sizes, x, y):
    import minisora as ms

    weights = make_weights(sizes)
    params = [(ms.tensor(w, requires_grad=True), ms.tensor(b, requires_grad=True)) for w, b in weights]
    xs, ys = ms.tensor(x), ms.tensor(y)

    def step():
        h = xs
        for k, (w, b) in enumerate(params):
            w.grad = b.grad = None
            h = ms.F.linear(h, w, b)
            if k < len(params) - 1:
                h = ms.F.relu(h)
        ms.F.cross_entropy(h, ys).backward()
    return step


def torch_step(sizes, x, y):
    import torch

    weights = make_weights(sizes)
    params = [(torch.tensor(w, requires_grad=True), torch.tensor(b, requires_grad=True)) for w, b in weights]
    xs, ys = torch.tensor(x), torch.tensor(y)

    def step():
        h = xs
        for k, (w, b) in enumerate(params):
            w.grad = b.grad = None
            h = torch.nn.functional.linear(h, w, b)
            if k < len(params) - 1:
                h = torch.relu(h)
        torch.nn.functional.cross_entropy(h, ys).backward()
    return step


def numpy_step(sizes, x, y):
    """The same forward and backward written directly in NumPy (no graph, no framework)."""
    weights = make_weights(sizes)

    def step():
        activations, h = [x], x
        for k, (w, b) in enumerate(weights):
            h = h @ w.T + b
            if k < len(weights) - 1:
                h = np.maximum(h, 0)
            activations.append(h)
        shifted = h - h.max(1, keepdims=True)
        probs = np.exp(shifted)
        probs /= probs.sum(1, keepdims=True)
        probs[np.arange(len(y)), y] -= 1
        grad = probs / len(y)
        for k in reversed(range(len(weights))):
            w, _ = weights[k]
            grad_w, grad_b = grad.T @ activations[k], grad.sum(0)  # noqa: F841
            if k:
                grad = (grad @ w) * (activations[k] > 0)
    return step


if __name__ == "__main__":
    compare_mlps(sys.modules[__name__], "MLP forward+backward", SIZES)
