"""Forward + backward of an MLP: minisora vs PyTorch CPU eager vs plain NumPy, side by side.

    python benchmarks/mlp.py            # both sizes, interleaved rounds, medians, ratios
    python benchmarks/mlp.py --startup  # also cold (empty kernel cache) and warm start times

Rounds interleave the three implementations so machine noise hits all of them alike.
Ratios > 1 mean minisora is faster. PyTorch is optional (pip install ".[torch]").
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

SIZES = {"784-64-10": [784, 64, 10], "784-512-512-10": [784, 512, 512, 10]}
BATCH = 128


def make_weights(sizes, seed=0):
    rng = np.random.default_rng(seed)
    return [((rng.uniform(-1, 1, (o, i)) / np.sqrt(i)).astype(np.float32), np.zeros(o, np.float32))
            for i, o in zip(sizes[:-1], sizes[1:])]


def minisora_step(weights, x, y):
    import minisora as ms

    params = [(ms.tensor(w, requires_grad=True), ms.tensor(b, requires_grad=True)) for w, b in weights]
    xs, ys = ms.tensor(x), ms.tensor(y)

    def step():
        h = xs
        for k, (w, b) in enumerate(params):
            w.grad = b.grad = None
            h = ms.F.linear(h, w, b)
            if k < len(params) - 1:
                h = ms.F.relu(h)
        ms.F.cross_entropy(h, ys).backward()
    return step


def torch_step(weights, x, y):
    import torch

    torch.set_num_threads(2)
    params = [(torch.tensor(w, requires_grad=True), torch.tensor(b, requires_grad=True)) for w, b in weights]
    xs, ys = torch.tensor(x), torch.tensor(y)

    def step():
        h = xs
        for k, (w, b) in enumerate(params):
            w.grad = b.grad = None
            h = torch.nn.functional.linear(h, w, b)
            if k < len(params) - 1:
                h = torch.relu(h)
        torch.nn.functional.cross_entropy(h, ys).backward()
    return step


def numpy_step(weights, x, y):
    """The same forward and backward written directly in NumPy (no graph, no framework)."""
    def step():
        activations, h = [x], x
        for k, (w, b) in enumerate(weights):
            h = h @ w.T + b
            if k < len(weights) - 1:
                h = np.maximum(h, 0)
            activations.append(h)
        shifted = h - h.max(1, keepdims=True)
        probs = np.exp(shifted)
        probs /= probs.sum(1, keepdims=True)
        probs[np.arange(len(y)), y] -= 1
        grad = probs / len(y)
        for k in reversed(range(len(weights))):
            w, _ = weights[k]
            grad_w, grad_b = grad.T @ activations[k], grad.sum(0)  # noqa: F841
            if k:
                grad = (grad @ w) * (activations[k] > 0)
    return step


def measure(steps, rounds, repeat):
    times = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            start = time.perf_counter()
            for _ in range(repeat):
                step()
            times[name].append((time.perf_counter() - start) / repeat)
    return {name: statistics.median(t) for name, t in times.items()}


def startup(cache):
    code = ("import time; t0 = time.perf_counter(); import sys; sys.path.insert(0, 'benchmarks'); import numpy as np; "
            "import mlp; w = mlp.make_weights([784, 64, 10]); rng = np.random.default_rng(0); "
            "x = rng.standard_normal((128, 784)).astype(np.float32); y = rng.integers(0, 10, 128); "
            "mlp.minisora_step(w, x, y)(); print(time.perf_counter() - t0)")
    env = dict(os.environ, MINISORA_CACHE_DIR=cache)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=root, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--startup", action="store_true")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, 784)).astype(np.float32)
    y = rng.integers(0, 10, BATCH)
    try:
        import torch  # noqa: F401
        have_torch = True
    except ImportError:
        have_torch = False
        print("(PyTorch not installed: pip install '.[torch]' to compare against it)")
    print(f"MLP forward+backward, batch {BATCH}, float32, median of {args.rounds} interleaved rounds")
    print(f"{'model':<18}{'minisora ms':>12}{'numpy ms':>10}{'torch ms':>10}{'vs numpy':>10}{'vs torch':>10}")
    for label, sizes in SIZES.items():
        weights = make_weights(sizes)
        steps = {"minisora": minisora_step(weights, x, y), "numpy": numpy_step(weights, x, y)}
        if have_torch:
            steps["torch"] = torch_step(weights, x, y)
        for step in steps.values():
            step()  # compile / warm caches outside the timing
        repeat = 20 if sizes[1] < 100 else 3
        t = measure(steps, args.rounds, repeat)
        torch_ms = f"{t['torch'] * 1e3:10.3f}" if have_torch else f"{'-':>10}"
        vs_torch = f"{t['torch'] / t['minisora']:9.2f}x" if have_torch else f"{'-':>10}"
        print(f"{label:<18}{t['minisora'] * 1e3:12.3f}{t['numpy'] * 1e3:10.3f}{torch_ms}"
              f"{t['numpy'] / t['minisora']:9.2f}x{vs_torch}")
    if args.startup:
        with tempfile.TemporaryDirectory() as cache:
            cold = startup(cache)
            warm = statistics.median(startup(cache) for _ in range(3))
        print(f"start-up, import to first finished backward of the 784-64-10 MLP: cold {cold:.2f} s "
              f"(empty kernel cache), warm {warm:.2f} s")


if __name__ == "__main__":
    main()
