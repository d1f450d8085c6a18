"""The char GPT on cpu and cuda from the same seed: the losses of the first steps side by side.

    python benchmarks/gpu_check.py [--steps N]
"""
import argparse
import time

import numpy as np

import minisora as ms


def losses(device, steps, config=(96, 64, 128, 4, 4), batch=32):
    ms.manual_seed(0)
    model = ms.models.GPT(*config).to(device)
    optimizer = ms.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.99), weight_decay=0.1)
    rng = np.random.default_rng(0)
    result = []
    for _ in range(steps):
        ids = rng.integers(0, config[0], (batch, config[1]))
        targets = np.roll(ids, -1, axis=1)
        optimizer.zero_grad()
        loss = model.loss(ms.tensor(ids, device=device), ms.tensor(targets, device=device))
        loss.backward()
        optimizer.step()
        result.append(loss.item())
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    for device in ("cpu", "cuda"):
        start = time.perf_counter()
        values = losses(device, args.steps)
        print(f"{device:<5} {time.perf_counter() - start:6.1f} s  " + " ".join(f"{v:.5f}" for v in values))


if __name__ == "__main__":
    main()
