"""Forward + backward of an MLP: minisora vs PyTorch CPU eager vs plain NumPy, side by side.

    python benchmarks/mlp.py            # both sizes, interleaved rounds, medians, ratios
    python benchmarks/mlp.py --startup  # also cold (empty kernel cache) and warm start times

Rounds interleave the three implementations (rotating their order) so machine noise hits all alike.
Ratios > 1 mean minisora is faster. PyTorch is optional (pip install ".[torch]").
"""
import sys

from common import compare_mlps, mlp_inputs, mlp_weights, numpy_mlp_gradients

inputs = mlp_inputs   # what a benchmark worker calls to build the arguments of a step
SIZES = {"784-64-10": [784, 64, 10], "784-512-512-10": [784, 512, 512, 10]}


def minisora_step(sizes, x, y):
    import minisora as ms

    weights = mlp_weights(sizes)
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

    weights = mlp_weights(sizes)
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
    weights = mlp_weights(sizes)
    return lambda: numpy_mlp_gradients(weights, x, y)


if __name__ == "__main__":
    compare_mlps(sys.modules[__name__], "MLP forward+backward", SIZES)
