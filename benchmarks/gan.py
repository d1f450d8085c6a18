"""A GAN on the 8-Gaussian ring, side by side: minisora vs PyTorch CPU eager (2 threads).

    python benchmarks/gan.py [--rounds N]            the training step's speed
    python benchmarks/gan.py --quality [--seeds 3]   what each learns: the same networks, losses,
                                                     settings and steps in both, scored by
                                                     ms.metrics.mode_coverage on 2500 samples

The step: one discriminator update on 256 real points and 256 generated ones (made without a graph,
through D in one pass), then one generator update (D frozen), non-saturating losses through binary_cross_entropy_with_logits, Adam(2e-4,
betas 0.5, 0.999) for each player; G 2 -> 128 -> 128 -> 2 (ReLU), D 2 -> 128 -> 128 -> 1
(LeakyReLU 0.2). Speed: each side in a process of its own, interleaved rounds, medians
(common.py); ratio > 1: minisora is faster.
"""
import argparse
import subprocess
import sys

import numpy as np

from common import Worker, have_torch, machine, measure_rounds, startup_times, summary

BATCH, LATENT, HIDDEN = 256, 2, 128


def inputs(case):
    return (case.get("seed", 0),)


def minisora_step(seed):
    from minisora.training.gan import GANRun

    run = GANRun({"dataset": "ring8", "seed": seed}, out="/dev/null", log=lambda message: None)
    return run.train_step


def torch_run(seed):
    """(step, sampler): the same GAN in PyTorch, on points drawn by NumPy as minisora's run draws them."""
    import torch
    import torch.nn.functional as F

    from minisora.data.mixtures import mixture

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)

    def mlp(sizes, activation):
        layers = []
        for a, b in zip(sizes[:-2], sizes[1:-1]):
            layers += [torch.nn.Linear(a, b), activation()]
        return torch.nn.Sequential(*layers, torch.nn.Linear(sizes[-2], sizes[-1]))

    generator = mlp([LATENT, HIDDEN, HIDDEN, 2], torch.nn.ReLU)
    discriminator = mlp([2, HIDDEN, HIDDEN, 1], lambda: torch.nn.LeakyReLU(0.2))
    g_optimizer = torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    d_optimizer = torch.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    ones, zeros = torch.ones(BATCH, 1), torch.zeros(BATCH, 1)

    def step():   # as minisora's GANRun.train_step: G's samples without a graph, one D pass, D frozen for G
        real = torch.tensor(mixture("ring8", BATCH, rng))
        with torch.no_grad():
            fake = generator(torch.tensor(rng.standard_normal((BATCH, LATENT)), dtype=torch.float32))
        d_optimizer.zero_grad()
        logits = discriminator(torch.cat([real, fake]))
        d_loss = (F.binary_cross_entropy_with_logits(logits[:BATCH], ones)
                  + F.binary_cross_entropy_with_logits(logits[BATCH:], zeros))
        d_loss.backward()
        d_optimizer.step()
        g_optimizer.zero_grad()
        discriminator.requires_grad_(False)
        fake = generator(torch.tensor(rng.standard_normal((BATCH, LATENT)), dtype=torch.float32))
        F.binary_cross_entropy_with_logits(discriminator(fake), ones).backward()
        discriminator.requires_grad_(True)
        g_optimizer.step()

    def sample(noise):
        with torch.no_grad():
            return generator(torch.tensor(noise)).numpy()
    return step, sample


def torch_step(seed):
    return torch_run(seed)[0]


QUALITY = """
import sys, json
sys.path.insert(0, {folder!r})
import numpy as np
import gan
from minisora.data.mixtures import MIXTURES
from minisora.metrics import mode_coverage
side, seed, steps = {side!r}, {seed}, {steps}
if side == "torch":
    import torch
    torch.set_num_threads(2)
    step, sample = gan.torch_run(seed)
else:
    from minisora.training.gan import GANRun
    run = GANRun({{"dataset": "ring8", "seed": seed}}, out="/dev/null", log=lambda m: None)
    step, sample = run.train_step, lambda noise: run.samples(len(noise), noise)
for _ in range(steps):
    step()
noise = np.random.default_rng([seed, 11]).standard_normal((2500, gan.LATENT)).astype(np.float32)
result = mode_coverage(sample(noise), *MIXTURES["ring8"])
print(json.dumps([result.covered, result.high_quality]))
"""


def quality(seeds, steps):
    import json
    import os

    folder = os.path.dirname(os.path.abspath(__file__))
    print(f"ring8 after {steps} steps, 2500 samples: modes covered / 8, high-quality share")
    for seed in range(seeds):
        cells = []
        for side in ["minisora"] + (["torch"] if have_torch() else []):
            code = QUALITY.format(folder=folder, side=side, seed=seed, steps=steps)
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
            covered, share = json.loads(out.stdout.strip().splitlines()[-1])
            cells.append(f"{side} {covered}/8 modes, {share:.1%}")
        print(f"seed {seed}: " + "   ".join(cells), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--quality", action="store_true", help="train both to the end and score their samples")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20000)
    parser.add_argument("--startup", action="store_true", help="also time a cold and a warm start")
    args = parser.parse_args()
    print(machine())
    if args.quality:
        quality(args.seeds, args.steps)
        return
    print(f"median [lowest-highest] of {args.rounds} interleaved rounds, one process each, float32; "
          "vs X > 1: minisora is faster")
    workers = {b: Worker("gan", f"{b}_step", {"seed": 0}) for b in ["minisora"] + (["torch"] if have_torch() else [])}
    print(summary("GAN step ring8 B256", measure_rounds(workers, args.rounds)), flush=True)
    if args.startup:
        cold, warm = startup_times("gan", "minisora_step", case={"seed": 0})
        print(f"start-up, import to the end of the first GAN step: cold {cold:.2f} s (empty kernel cache), "
              f"warm {warm:.2f} s")


if __name__ == "__main__":
    main()
