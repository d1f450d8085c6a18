"""Does pretraining pay? Fine-tuning a masked language model's encoder against training the same
classifier from scratch, on the same labels, for several seeds and shares of labels.

    python benchmarks/pretraining.py [--pretrained DIR] [--steps 6000] [--seeds 3]
                                     [--fractions 0.05 0.1 0.25 1] [--figure PATH]

Without --pretrained it first runs `minisora train mlm --level word --context 32` (pydoc, the
other options at their defaults, --steps) and reports its time, its held-out MLM loss and the
corpus's unigram entropy. (Words, not characters: a window's topic is in which words it holds,
and a word model pretrains to a useful encoder within the 15 minutes this machine allows.) Then, for every share of the
pydoc-topics training texts that keep their label (the same texts for every seed and both starts:
--split-seed 0) and every seed, `minisora finetune` from the pretrained encoder and from random
weights (--init scratch), with everything else alike; each is scored on the held-out test
passages (text the pretraining never read). Prints accuracy per run, mean, standard deviation and
range per share, and draws accuracy against the share of labels.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from common import machine

# Epochs per share of labels: the small shares get more passes (5% is 140 texts, 5 batches an epoch).
EPOCHS = {0.05: 20, 0.1: 20, 0.25: 12, 1.0: 5}
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def minisora(*arguments):
    """Run the minisora command (this checkout's) and return its output; fail loudly."""
    quiet = ["--no-progress"] if arguments[0] in ("train", "finetune") else []
    done = subprocess.run([sys.executable, "-m", "minisora.cli", *arguments, *quiet], capture_output=True,
                          text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": ROOT})
    if done.returncode:
        raise SystemExit(f"minisora {' '.join(arguments)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def pretrain(folder, steps):
    started = time.perf_counter()
    minisora("train", "mlm", "--level", "word", "--context", "32", "--steps", str(steps), "--eval-every",
             str(max(1, steps // 6)), "--out", folder)
    seconds = time.perf_counter() - started
    with open(os.path.join(folder, "metrics.jsonl")) as rows:
        last = [json.loads(line) for line in rows][-1]
    print(f"pretraining: {steps} steps in {seconds / 60:.1f} min; held-out MLM loss {last['val_loss']:.4f} nats "
          f"against the unigram entropy {last['unigram_entropy']:.4f}", flush=True)


def test_accuracy(folder):
    out = minisora("eval", "--checkpoint", folder, "--split", "test", "--out", os.path.join(folder, "confusion.png"))
    line = next(line for line in out.splitlines() if line.startswith("accuracy "))
    return float(line.split()[1].rstrip("%")) / 100


def fine_tune(pretrained, init, fraction, seed, scratch_folder):
    folder = os.path.join(scratch_folder, f"{init}-{fraction}-{seed}")
    minisora("finetune", "--from", pretrained, "--init", init, "--labels-fraction", str(fraction), "--seed", str(seed),
             "--epochs", str(EPOCHS.get(fraction, 10)), "--out", folder)
    return test_accuracy(folder)


def spread(values):
    return (f"{statistics.mean(values):6.2%} +- {statistics.stdev(values) if len(values) > 1 else 0.0:5.2%} "
            f"[{min(values):.2%}-{max(values):.2%}]")


def draw(results, fractions, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 4))
    for init, colour in (("pretrained", "tab:blue"), ("scratch", "tab:orange")):
        means = [statistics.mean(results[init, f]) for f in fractions]
        lows = [min(results[init, f]) for f in fractions]
        highs = [max(results[init, f]) for f in fractions]
        axes.plot([100 * f for f in fractions], means, "o-", color=colour, label=f"{init} (mean of seeds)")
        axes.fill_between([100 * f for f in fractions], lows, highs, color=colour, alpha=0.2)
    axes.set_xscale("log")
    axes.set_xticks([100 * f for f in fractions], [f"{100 * f:g}%" for f in fractions])
    axes.set_xlabel("share of the training texts with labels")
    axes.set_ylabel("test accuracy (pydoc topics, 4 groups)")
    axes.set_title("fine-tuning a pretrained encoder vs training it from scratch")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    print(f"wrote {path}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pretrained", help="a `minisora train mlm` run folder (default: pretrain one now)")
    parser.add_argument("--steps", type=int, default=6000, help="pretraining steps when pretraining here")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.05, 0.1, 0.25, 1.0])
    parser.add_argument("--figure", default=os.path.join(ROOT, "benchmarks", "figures", "pretraining_payoff.png"))
    args = parser.parse_args()
    print(machine(), flush=True)
    with tempfile.TemporaryDirectory() as scratch_folder:
        pretrained = args.pretrained or os.path.join(scratch_folder, "mlm")
        if not args.pretrained:
            pretrain(pretrained, args.steps)
        results = {}
        for fraction in args.fractions:
            for init in ("pretrained", "scratch"):
                results[init, fraction] = [fine_tune(pretrained, init, fraction, seed, scratch_folder)
                                           for seed in range(args.seeds)]
                runs = " ".join(f"{a:.2%}" for a in results[init, fraction])
                print(f"labels {fraction:5.0%}  {init:10}  {spread(results[init, fraction])}   seeds: {runs}",
                      flush=True)
            gain = statistics.mean(results["pretrained", fraction]) - statistics.mean(results["scratch", fraction])
            print(f"labels {fraction:5.0%}  pretraining adds {100 * gain:+.1f} points", flush=True)
        draw(results, args.fractions, args.figure)


if __name__ == "__main__":
    main()
