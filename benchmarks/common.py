"""What every benchmark shares: interleaved timing rounds, medians, the side-by-side table, start-up.

Each implementation runs in a process of its own (a `Worker`), so no library's process-wide
settings reach another: minisora keeps freed memory for reuse (backends/memory.py), which
slows PyTorch's allocator when both share a process. The parent only says "run n steps" to
each worker in turn and reads back the time.
"""
import argparse
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np


def machine():
    """The CPU model and the BLAS numpy calls, for every result printed."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        from threadpoolctl import threadpool_info

        blas = ", ".join(f"{p['internal_api']} {p.get('version')} x{p['num_threads']}" for p in threadpool_info()
                         if p["user_api"] == "blas")
    except ImportError:
        import numpy

        blas = numpy.show_config(mode="dicts").get("Build Dependencies", {}).get("blas", {}).get("name", "unknown")
    return f"CPU {cpu}; BLAS {blas}; NUMBA_NUM_THREADS={os.environ.get('NUMBA_NUM_THREADS', '2')}"


def have_torch():
    """Whether PyTorch is installed (the workers import it; this process never does)."""
    if importlib.util.find_spec("torch") is not None:
        return True
    print("(PyTorch not installed: pip install '.[torch]' to compare against it)")
    return False


WORKER = """
import json, sys, time
sys.path[:0] = [{folder!r}] + {roots!r}
if {torch}:
    import torch
    torch.set_num_threads(2)   # the same two cores minisora's BLAS and Numba threads get
if {minisora}:
    from minisora.backends.memory import keep_freed_memory
    keep_freed_memory()   # as `minisora train` does: a step's arrays reuse the last step's memory
import {module} as benchmark
step = benchmark.{builder}(*benchmark.inputs(json.loads(sys.argv[1])))
for line in sys.stdin:
    count = int(line)
    start = time.perf_counter()
    for _ in range(count):
        step()
    print((time.perf_counter() - start) / count, flush=True)
"""


SETTLE_SECONDS = 0.3


class Worker:
    """benchmarks/<module>.<builder>(*<module>.inputs(case)) -> a step function, run in its own process
    (importing minisora from the checkout `root` when given: benchmarks/versus.py)."""

    def __init__(self, module, builder, case, root=None):
        code = WORKER.format(folder=os.path.dirname(os.path.abspath(__file__)), module=module, builder=builder,
                             torch=builder.startswith("torch"), minisora=builder.startswith("minisora"),
                             roots=[os.path.abspath(root)] if root else [])
        env = dict(os.environ, NUMBA_NUM_THREADS=os.environ.get("NUMBA_NUM_THREADS", "2"))
        self.process = subprocess.Popen([sys.executable, "-c", code, json.dumps(case)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True, env=env)

    def seconds_per_step(self, count):
        self.process.stdin.write(f"{count}\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"benchmark worker stopped (exit code {self.process.wait()})")
        return float(line)

    def close(self):
        self.process.stdin.close()
        self.process.wait()


def measure_rounds(workers, rounds, block_seconds=1.0):
    """Seconds per step of each worker in every round; every round runs all of them, so noise hits all alike.

    The order rotates every round, so no one always runs right after the same neighbour, and
    each block starts after a pause: BLAS and OpenMP threads keep spinning for up to a few
    tenths of a second after their last work, which would take cores from the next worker.
    A block repeats the step for about `block_seconds`, so waking those threads again after the
    pause is a small part of it.
    """
    for worker in workers.values():
        worker.seconds_per_step(3)   # compile kernels, warm caches and thread pools outside the timing
    warm = max(worker.seconds_per_step(3) for worker in workers.values())
    repeat = max(1, round(block_seconds / warm))
    times = {name: [] for name in workers}
    names = list(workers)
    for round_number in range(rounds):
        shift = round_number % len(names)
        for name in names[shift:] + names[:shift]:
            time.sleep(SETTLE_SECONDS)
            times[name].append(workers[name].seconds_per_step(repeat))
    for worker in workers.values():
        worker.close()
    return times


def summary(label, rounds):
    """One result line: each implementation's median ms [lowest-highest round], then minisora's
    ratio to each other one (> 1 where minisora is faster)."""
    medians = {name: statistics.median(times) for name, times in rounds.items()}
    cells = [f"{label:<24}"]
    cells += [f"{name} {medians[name] * 1e3:8.3f} ms [{min(times) * 1e3:.3f}-{max(times) * 1e3:.3f}]"
              for name, times in rounds.items()]
    cells += [f"vs {name} {medians[name] / medians['minisora']:.2f}x" for name in rounds if name != "minisora"]
    return "  ".join(cells)


def startup_times(module, function, root=None, case=None):
    """Seconds from `import` to the end of the first step of benchmarks/<module>.<function> on
    `case` (the 784-64-10 MLP by default) in a fresh process: cold (empty kernel cache, so every
    kernel compiles) and warm (minisora imported from the checkout `root` when given)."""
    roots = ["benchmarks"] + ([os.path.abspath(root)] if root else [])
    case = case or {"sizes": [784, 64, 10], "batch": 128}
    code = (f"import time; t0 = time.perf_counter(); import sys; sys.path[:0] = {roots!r}; "
            f"import {module} as b; b.{function}(*b.inputs({case!r}))(); "
            "print(time.perf_counter() - t0)")
    repository = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

    def once(cache):
        env = dict(os.environ, MINISORA_CACHE_DIR=cache)
        out = subprocess.run([sys.executable, "-c", code], env=env, cwd=repository, capture_output=True, text=True,
                             check=True)
        return float(out.stdout.strip().splitlines()[-1])

    with tempfile.TemporaryDirectory() as cache:
        cold = once(cache)
        warm = statistics.median(once(cache) for _ in range(3))
    return cold, warm


def mlp_weights(sizes, seed=0):
    """[weight (out, in), bias (out,)] per layer, float32, scaled by 1/sqrt(in)."""
    rng = np.random.default_rng(seed)
    return [[(rng.uniform(-1, 1, (o, i)) / np.sqrt(i)).astype(np.float32), np.zeros(o, np.float32)]
            for i, o in zip(sizes[:-1], sizes[1:])]


def numpy_mlp_gradients(weights, x, y):
    """Forward and backward of the ReLU MLP + cross-entropy written directly in NumPy (no graph,
    no framework): the gradients [(d weight, d bias)] from the last layer to the first."""
    activations, h = [x], x
    for k, (w, b) in enumerate(weights):
        h = h @ w.T + b
        if k < len(weights) - 1:
            h = np.maximum(h, 0)
        activations.append(h)
    probs = np.exp(h - h.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    probs[np.arange(len(y)), y] -= 1
    grad, grads = probs / len(y), []
    for k in reversed(range(len(weights))):
        grads.append((grad.T @ activations[k], grad.sum(0)))
        if k:
            grad = (grad @ weights[k][0]) * (activations[k] > 0)
    return grads


def mlp_inputs(case):
    """(sizes, x, y) for an MLP benchmark case {"sizes": [...], "batch": n}: fixed random data."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((case["batch"], case["sizes"][0])).astype(np.float32)
    return case["sizes"], x, rng.integers(0, case["sizes"][-1], case["batch"])


def compare_mlps(module, title, sizes, batch=128):
    """The command line of an MLP benchmark: time module.{minisora,numpy,floor,torch}_step on each
    size (floor where the module has one)."""
    parser = argparse.ArgumentParser(description=title)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--startup", action="store_true", help="also time a cold and a warm start")
    args = parser.parse_args()
    name = os.path.splitext(os.path.basename(module.__file__))[0]
    builders = ["minisora", "numpy"] + (["floor"] if hasattr(module, "floor_step") else [])
    builders += ["torch"] if have_torch() else []
    print(machine())
    print(f"{title}, batch {batch}, float32, median [lowest-highest] of {args.rounds} interleaved rounds, "
          "one process each; vs X > 1: minisora is faster")
    for label, layer_sizes in sizes.items():
        case = {"sizes": layer_sizes, "batch": batch}
        workers = {b: Worker(name, f"{b}_step", case) for b in builders}
        print(summary(label, measure_rounds(workers, args.rounds)), flush=True)
    if args.startup:
        cold, warm = startup_times(name, "minisora_step")
        print(f"start-up, import to the end of the first minisora step (784-64-10): cold {cold:.2f} s "
              f"(empty kernel cache), warm {warm:.2f} s")
