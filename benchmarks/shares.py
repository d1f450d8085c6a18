"""Where a training step's time goes on the CPU: matrix products, minisora's kernels, Python.

    python benchmarks/shares.py [--before /tmp/before] [--steps 20] [--only LSTM]

For each workload, the share of a step's wall time spent in matrix products (BLAS), in
minisora's own loop kernels (particles and optimizer) and in everything else (the particles'
Python, the graph walk, NumPy calls: "python"), and how many cores the products, the kernels
and the whole step keep busy (CPU time over wall time; CPU time counts every thread of the
process, so threads left spinning after their work count too: OpenBLAS's and OpenMP's wait
busily for a while before they sleep). Means over --steps steps, after 5 to warm up.

With --before, the same for another checkout (`git worktree add /tmp/before REV`), each in a
process of its own. The parts are timed the same way in both: the CPU backend's `run` (every
kernel launch) and `matmul` (every product) are wrapped in timers, which is also what
`ms.inspect.trace()` counts per particle call (Record.product_seconds, kernel_seconds) in
checkouts that have it.
"""
import argparse
import json
import os
import subprocess
import sys

from common import machine

WORKLOADS = [("MLP 784-64-10 step", "train_step", "minisora_step", {"sizes": [784, 64, 10], "batch": 128}),
             ("MLP 784-512-512-10 step", "train_step", "minisora_step", {"sizes": [784, 512, 512, 10], "batch": 128}),
             ("GPT training step", "gpt", "minisora_gpt_step", {}),
             ("attention block T256", "gpt", "minisora_attention", {"length": 256}),
             ("2-layer LSTM fwd+bwd", "lstm", "minisora_lstm", {}),
             ("LeNet step B128", "cnn", "minisora_step", {"workload": "lenet"}),
             ("conv 64->64 fwd+bwd", "cnn", "minisora_step", {"workload": "conv"}),
             ("GCN step 100k nodes", "gnn", "minisora_step", {"workload": "gcn"}),
             ("GAN step ring8", "gan", "minisora_step", {"seed": 0})]
HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CHILD = """
import json, sys, time
sys.path[:0] = [{folder!r}, {root!r}]
from minisora.backends.memory import keep_freed_memory
keep_freed_memory()
from minisora.backends import cpu
import {module} as benchmark
step = benchmark.{builder}(*benchmark.inputs({case!r}))
for _ in range(5):
    step()
totals = {{"products": [0.0, 0.0], "kernels": [0.0, 0.0], "step": [0.0, 0.0]}}

def timed(part, function):
    def counted(*arguments, **keywords):
        wall, used = time.perf_counter(), time.process_time()
        try:
            return function(*arguments, **keywords)
        finally:
            totals[part][0] += time.perf_counter() - wall
            totals[part][1] += time.process_time() - used
    return counted

cpu.run, cpu.matmul, step = timed("kernels", cpu.run), timed("products", cpu.matmul), timed("step", step)
for _ in range({steps}):
    step()
print(json.dumps({{part: [value / {steps} for value in total] for part, total in totals.items()}}))
"""


def measure(root, module, builder, case, steps):
    """[wall, cpu] seconds a step (means over `steps` steps) of the whole step, its products and its kernels."""
    code = CHILD.format(folder=os.path.dirname(os.path.abspath(__file__)), root=os.path.abspath(root),
                        module=module, builder=builder, case=case, steps=steps)
    env = dict(os.environ, NUMBA_NUM_THREADS=os.environ.get("NUMBA_NUM_THREADS", "2"))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def shares(result):
    """{part: (ms a step, share of the step, cores busy)} for products, kernels, python and the
    whole step. Python runs on one thread by nature: the CPU time a subtraction would give it is
    other threads spinning, and too coarse besides (a process's CPU clock takes in its other
    threads' time at scheduler ticks), so its cores are not given (None)."""
    (step_wall, step_cpu), parts = result["step"], {name: result[name] for name in ("products", "kernels")}
    measured = {name: (wall * 1e3, wall / step_wall, cpu / wall if wall > 0 else 0.0) for name, (wall, cpu) in parts.items()}
    rest = step_wall - sum(wall for wall, _ in parts.values())
    return {**measured, "python": (rest * 1e3, rest / step_wall, None), "step": (step_wall * 1e3, 1.0, step_cpu / step_wall)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", help="another checkout's root folder, measured the same way")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--only", help="only the workloads whose label holds this text (e.g. LSTM)")
    args = parser.parse_args()
    print(machine())
    print("| workload | checkout | step: ms, cores | products: ms, share, cores | kernels: ms, share, cores | python: ms, share |")
    print("| --- | --- | --- | --- | --- | --- |")
    checkouts = [("after", HERE)] + ([("before", args.before)] if args.before else [])
    for label, module, builder, case in WORKLOADS:
        if args.only and args.only not in label:
            continue
        for name, root in checkouts:
            parts = shares(measure(root, module, builder, case, args.steps))
            step_ms, _, step_cores = parts.pop("step")
            cells = [f"{ms:.2f}, {share:.0%}" + ("" if cores is None else f", {cores:.1f}")
                     for ms, share, cores in parts.values()]
            print(f"| {label} | {name} | {step_ms:.2f}, {step_cores:.1f} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
