"""A full training step (forward, backward, SGD-momentum update) of an MLP, through the public API:
minisora (nn + optim) vs PyTorch CPU eager (torch.nn + torch.optim) vs plain NumPy, side by side.

    python benchmarks/train_step.py               # both sizes, interleaved rounds, medians, ratios
    python benchmarks/train_step.py --startup     # also cold and warm start of a training step

"floor" is the BLAS floor the large MLP is judged by (floor_step): the step's products alone.

Ratios > 1 mean minisora is faster. PyTorch is optional (pip install ".[torch]").
"""
import sys

import numpy as np

from common import compare_mlps, mlp_inputs, mlp_weights, numpy_mlp_gradients

inputs = mlp_inputs   # what a benchmark worker calls to build the arguments of a step
SIZES = {"784-64-10": [784, 64, 10], "784-512-512-10": [784, 512, 512, 10]}
LR, MOMENTUM = 0.1, 0.9


def minisora_step(sizes, x, y):
    import minisora as ms

    ms.manual_seed(0)
    layers = []
    for i, (inputs, outputs) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers += [ms.nn.Linear(inputs, outputs)] + ([ms.nn.ReLU()] if i < len(sizes) - 2 else [])
    model = ms.nn.Sequential(*layers)
    optimizer = ms.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    xs, ys = ms.tensor(x), ms.tensor(y)

    def step():
        optimizer.zero_grad()
        ms.F.cross_entropy(model(xs), ys).backward()
        optimizer.step()
    return step


def torch_step(sizes, x, y):
    import torch

    torch.manual_seed(0)
    layers = []
    for i, (inputs, outputs) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers += [torch.nn.Linear(inputs, outputs)] + ([torch.nn.ReLU()] if i < len(sizes) - 2 else [])
    model = torch.nn.Sequential(*layers)
    optimizer = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    xs, ys = torch.tensor(x), torch.tensor(y)

    def step():
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(xs), ys).backward()
        optimizer.step()
    return step


def numpy_step(sizes, x, y):
    """The same step written directly in NumPy: no graph, no framework, in-place momentum update."""
    weights = mlp_weights(sizes)
    velocities = [[np.zeros_like(w), np.zeros_like(b)] for w, b in weights]

    def step():
        for k, grads in zip(reversed(range(len(weights))), numpy_mlp_gradients(weights, x, y)):
            for param, velocity, grad in zip(weights[k], velocities[k], grads):
                velocity *= MOMENTUM
                velocity += grad
                param -= LR * velocity
    return step


def floor_step(sizes, x, y):
    """The BLAS floor: only the step's matrix products (each layer's forward, dW and dx, the first
    layer's dx left out as minisora leaves it) and an in-place update of each weight, in NumPy on
    the same BLAS. No activation, loss, bias or momentum: what any implementation must at least do."""
    weights = [w for w, _ in mlp_weights(sizes)]

    def step():
        activations = [x]
        for w in weights:
            activations.append(activations[-1] @ w.T)
        grad = activations[-1]   # stands in for dL/dlogits: the same shape, so the same products
        for k in reversed(range(len(weights))):
            grad_weight = grad.T @ activations[k]
            if k:
                grad = grad @ weights[k]
            weights[k] -= 1e-12 * grad_weight   # (a tiny step: the numbers stay as they are)
    return step


if __name__ == "__main__":
    compare_mlps(sys.modules[__name__], "MLP training step (forward, backward, SGD momentum 0.9)", SIZES)
