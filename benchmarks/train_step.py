"""A full training step (forward, backward, SGD-momentum update) of an MLP, through the public API:
minisora (nn + optim) vs PyTorch CPU eager (torch.nn + torch.optim) vs plain NumPy, side by side.

    python benchmarks/train_step.py               # both sizes, interleaved rounds, medians, ratios
    python benchmarks/train_step.py --startup     # also cold and warm start of a training step

Ratios > 1 mean minisora is faster. PyTorch is optional (pip install ".[torch]").
"""
import argparse

import numpy as np

from common import have_torch, header, measure, row, startup_times

SIZES = {"784-64-10": [784, 64, 10], "784-512-512-10": [784, 512, 512, 10]}
BATCH, LR, MOMENTUM = 128, 0.1, 0.9


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
    rng = np.random.default_rng(0)
    weights = [[(rng.uniform(-1, 1, (o, i)) / np.sqrt(i)).astype(np.float32), np.zeros(o, np.float32)]
               for i, o in zip(sizes[:-1], sizes[1:])]
    velocities = [[np.zeros_like(w), np.zeros_like(b)] for w, b in weights]

    def step():
        activations, h = [x], x
        for k, (w, b) in enumerate(weights):
            h = h @ w.T + b
            if k < len(weights) - 1:
                h = np.maximum(h, 0)
            activations.append(h)
        probs = np.exp(h - h.max(1, keepdims=True))
        probs /= probs.sum(1, keepdims=True)
        probs[np.arange(len(y)), y] -= 1
        grad = probs / len(y)
        for k in reversed(range(len(weights))):
            w, b = weights[k]
            grads = (grad.T @ activations[k], grad.sum(0))
            if k:
                grad = (grad @ w) * (activations[k] > 0)
            for param, velocity, g in zip(weights[k], velocities[k], grads):
                velocity *= MOMENTUM
                velocity += g
                param -= LR * velocity
    return step


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--startup", action="store_true")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, 784)).astype(np.float32)
    y = rng.integers(0, 10, BATCH)
    torch_available = have_torch()
    print(f"MLP training step (forward, backward, SGD momentum {MOMENTUM}), batch {BATCH}, float32, "
          f"median of {args.rounds} interleaved rounds")
    print(header())
    for label, sizes in SIZES.items():
        steps = {"minisora": minisora_step(sizes, x, y), "numpy": numpy_step(sizes, x, y)}
        if torch_available:
            steps["torch"] = torch_step(sizes, x, y)
        print(row(label, measure(steps, args.rounds, 20 if sizes[1] < 100 else 5)))
    if args.startup:
        cold, warm = startup_times("train_step", "minisora_step")
        print(f"start-up, import to first finished training step of the 784-64-10 MLP: cold {cold:.2f} s "
              f"(empty kernel cache), warm {warm:.2f} s")


if __name__ == "__main__":
    main()
