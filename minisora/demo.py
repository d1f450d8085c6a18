"""The first run: a tiny network learns to separate two interleaved spirals, then one training
step is replayed under `trace()` so every particle call shows, forward and backward.
"""
import time

from . import functional as F
from . import nn, optim
from .autograd import no_grad
from .creation import tensor
from .data import spiral
from .inspect import trace
from .random import manual_seed


def run(steps=600, hidden=64, lr=0.1, seed=0, out=print):
    manual_seed(seed)
    points, labels = spiral(count=200, seed=seed).arrays
    x, y = tensor(points), tensor(labels)
    model = nn.Sequential(nn.Linear(2, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 2))
    optimizer = optim.SGD(model.parameters(), lr=lr, momentum=0.9)

    def step():
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        return loss.item()

    out(f"minisora demo: an MLP 2 -> {hidden} -> {hidden} -> 2 learns two spirals ({len(points)} points)")
    start = time.perf_counter()
    for i in range(steps):
        loss = step()
        if i % (steps // 6) == 0 or i == steps - 1:
            with no_grad():
                accuracy = (model(x).numpy().argmax(1) == labels).mean()
            out(f"  step {i:4d}  loss {loss:.4f}  accuracy {accuracy:6.1%}")
    out(f"  {steps} steps in {time.perf_counter() - start:.2f} s (first steps include compiling kernels)\n")

    out("One more training step, traced: every particle call in order, forward then backward.")
    with trace() as recorded:
        step()
    out(str(recorded))
    out("\nSlowest particles in that step:")
    out(recorded.slowest(5))
    return loss
