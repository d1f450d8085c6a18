"""The first run: a tiny network learns to separate two interleaved spirals, then one training
step is replayed under `trace()` so every particle call shows, forward and backward.
"""
import math
import time

import numpy as np

from . import functional as F
from .creation import randn, tensor, zeros
from .autograd import no_grad
from .inspect import trace
from .random import manual_seed


def spirals(count, seed=0):
    """Two spirals of `count` points each, with a little noise (2-D points, labels 0 and 1)."""
    rng = np.random.default_rng(seed)
    radius = np.linspace(0.1, 1.0, count)
    angle = radius * 3 * math.pi
    points, labels = [], []
    for label in (0, 1):
        turn = angle + label * math.pi
        xy = np.stack([radius * np.cos(turn), radius * np.sin(turn)], axis=1)
        points.append(xy + rng.normal(0, 0.03, xy.shape))
        labels.append(np.full(count, label))
    return np.concatenate(points).astype(np.float32), np.concatenate(labels)


def init_layer(inputs, outputs):
    """PyTorch's default Linear init: U(-1/sqrt(in), 1/sqrt(in)) via a scaled normal here."""
    weight = randn(outputs, inputs) * (1.0 / math.sqrt(inputs))
    return weight.detach().requires_grad_(), zeros(outputs, requires_grad=True)


def run(steps=600, hidden=64, lr=0.5, seed=0, out=print):
    manual_seed(seed)
    points, labels = spirals(100, seed)
    x, y = tensor(points), tensor(labels)
    params = [*init_layer(2, hidden), *init_layer(hidden, hidden), *init_layer(hidden, 2)]

    def forward():
        w1, b1, w2, b2, w3, b3 = params
        h = F.tanh(F.linear(x, w1, b1))
        h = F.relu(F.linear(h, w2, b2))
        return F.linear(h, w3, b3)

    def step():
        for p in params:
            p.grad = None
        loss = F.cross_entropy(forward(), y)
        loss.backward()
        with no_grad():
            for p in params:
                p.data -= lr * p.grad.data  # plain SGD, written out (minisora.optim comes later)
        return loss.item()

    out(f"minisora demo: an MLP 2 -> {hidden} -> {hidden} -> 2 learns two spirals ({len(points)} points)")
    start = time.perf_counter()
    for i in range(steps):
        loss = step()
        if i % (steps // 6) == 0 or i == steps - 1:
            accuracy = (forward().numpy().argmax(1) == labels).mean()
            out(f"  step {i:4d}  loss {loss:.4f}  accuracy {accuracy:6.1%}")
    out(f"  {steps} steps in {time.perf_counter() - start:.2f} s (first steps include compiling kernels)\n")

    out("One more training step, traced: every particle call in order, forward then backward.")
    with trace() as recorded:
        step()
    out(str(recorded))
    out("\nSlowest particles in that step:")
    out(recorded.slowest(5))
    return loss
