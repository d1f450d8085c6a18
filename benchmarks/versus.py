"""minisora against another checkout of itself: did a change cost speed?

    git worktree add /tmp/before HEAD~3            # the tree to compare with
    python benchmarks/versus.py /tmp/before [--rounds N]

Every workload of the other benchmarks (train_step.py, mlp.py, gpt.py) runs in two processes,
one importing minisora from this checkout and one from the other, in interleaved rounds (their
order rotating), so machine noise hits both alike. Prints the medians, the spread of the rounds
(lowest to highest) and their ratio (> 1: this checkout is faster), then cold (empty kernel
cache) and warm start-up times of each, with the CPU and BLAS they ran on.
"""
import argparse
import os
import statistics

import mlp
import train_step
from common import Worker, machine, measure_rounds, startup_times

WORKLOADS = [(f"train step {label}", "train_step", "minisora_step", {"sizes": sizes, "batch": 128})
             for label, sizes in train_step.SIZES.items()]
WORKLOADS += [(f"fwd+bwd {label}", "mlp", "minisora_step", {"sizes": sizes, "batch": 128})
              for label, sizes in mlp.SIZES.items()]
WORKLOADS += [("GPT training step", "gpt", "minisora_gpt_step", {}), ("attention fwd+bwd", "gpt", "minisora_attention", {})]
HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("other", help="the other checkout's root folder (holding minisora/)")
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    print(machine())
    print(f"this checkout {HERE} vs {os.path.abspath(args.other)}; median of {args.rounds} interleaved rounds, "
          "each in a process of its own; ratio > 1: this checkout is faster")
    print(f"{'workload':<28}{'this ms':>9}{'spread':>17}{'other ms':>10}{'spread':>17}{'ratio':>8}")
    for label, module, builder, case in WORKLOADS:
        workers = {"this": Worker(module, builder, case, root=HERE), "other": Worker(module, builder, case, root=args.other)}
        rounds = measure_rounds(workers, args.rounds)
        cells = []
        for name in ("this", "other"):
            times = [t * 1e3 for t in rounds[name]]
            cells.append(f"{statistics.median(times):9.2f}{f'{min(times):.2f}-{max(times):.2f}':>17}")
        ratio = statistics.median(rounds["other"]) / statistics.median(rounds["this"])
        print(f"{label:<28}{cells[0]}{cells[1].replace(' ', ' ', 1):>27}{ratio:7.3f}x", flush=True)
    for name, root in (("this", HERE), ("other", args.other)):
        cold, warm = startup_times("train_step", "minisora_step", root=root)
        print(f"start-up of a 784-64-10 training step, {name}: cold {cold:.2f} s (empty kernel cache), warm {warm:.2f} s")


if __name__ == "__main__":
    main()
