"""Convolutions side by side: minisora vs PyTorch CPU eager (2 threads) vs plain NumPy.

    LeNet step     a LeNet-5 training step (forward, cross-entropy, backward, SGD) on 1x28x28
                   images, batch 128
    conv 64->64    one conv2d 64 -> 64 channels, 3x3, padding 1, on 32x32, batch 32, forward+backward

    python benchmarks/cnn.py [--rounds N] [--startup]

Each side runs in a process of its own, interleaved rounds, medians (common.py); ratios > 1 mean
minisora is faster. NumPy runs the convolution only (im2col by sliding windows, the products by
einsum over BLAS, col2im by 9 shifted adds).
"""
import argparse

import numpy as np

from common import Worker, have_torch, machine, measure_rounds, startup_times, summary

LENET_BATCH, CONV = 128, dict(batch=32, channels=64, size=32)


def inputs(case):
    return (case["workload"],)


def data(workload):
    rng = np.random.default_rng(0)
    if workload == "lenet":
        return rng.random((LENET_BATCH, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, LENET_BATCH)
    c = CONV
    return (rng.standard_normal((c["batch"], c["channels"], c["size"], c["size"])).astype(np.float32),
            (rng.standard_normal((c["channels"], c["channels"], 3, 3)) * 0.05).astype(np.float32))


def minisora_step(workload):
    import minisora as ms

    ms.manual_seed(0)
    if workload == "lenet":
        images, labels = (ms.tensor(a) for a in data(workload))
        model = ms.models.LeNet(10, 28)
        optimizer = ms.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)

        def step():
            optimizer.zero_grad()
            ms.F.cross_entropy(model(images), labels).backward()
            optimizer.step()
        return step
    x, w = data(workload)
    x, w = ms.tensor(x, requires_grad=True), ms.tensor(w, requires_grad=True)

    def conv():
        x.grad = w.grad = None
        ms.F.conv2d(x, w, padding=1).sum().backward()
    return conv


def torch_step(workload):
    import torch
    import torch.nn.functional as F

    torch.manual_seed(0)
    if workload == "lenet":
        images, labels = (torch.tensor(a) for a in data(workload))
        model = torch.nn.Sequential(torch.nn.Conv2d(1, 6, 5, padding=2), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                                    torch.nn.Conv2d(6, 16, 5), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                                    torch.nn.Flatten(), torch.nn.Linear(400, 120), torch.nn.ReLU(),
                                    torch.nn.Linear(120, 84), torch.nn.ReLU(), torch.nn.Linear(84, 10))
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)

        def step():
            optimizer.zero_grad()
            F.cross_entropy(model(images), labels).backward()
            optimizer.step()
        return step
    x, w = (torch.tensor(a, requires_grad=True) for a in data(workload))

    def conv():
        x.grad = w.grad = None
        F.conv2d(x, w, padding=1).sum().backward()
    return conv


def numpy_step(workload):
    """The convolution forward and backward in NumPy (the LeNet step has no NumPy side)."""
    x, w = data(workload)

    def conv():
        padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
        cols = np.lib.stride_tricks.sliding_window_view(padded, (3, 3), axis=(2, 3))   # (N, C, H, W, 3, 3)
        y = np.einsum("nchwij,ocij->nohw", cols, w, optimize=True)
        grad_y = np.ones_like(y)
        np.einsum("nohw,nchwij->ocij", grad_y, cols, optimize=True)   # dW
        grad_cols = np.einsum("nohw,ocij->nchwij", grad_y, w, optimize=True)
        grad_padded = np.zeros_like(padded)
        for i in range(3):
            for j in range(3):
                grad_padded[:, :, i:i + x.shape[2], j:j + x.shape[3]] += grad_cols[..., i, j]
        return grad_padded[:, :, 1:-1, 1:-1]
    return conv


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--startup", action="store_true", help="also time a cold and a warm start (LeNet step)")
    args = parser.parse_args()
    print(machine())
    print(f"median [lowest-highest] of {args.rounds} interleaved rounds, one process each, float32; "
          "vs X > 1: minisora is faster")
    for label, workload in (("LeNet step B128", "lenet"), ("conv 64->64 3x3 32x32 B32", "conv")):
        builders = ["minisora"] + (["numpy"] if workload == "conv" else []) + (["torch"] if have_torch() else [])
        workers = {b: Worker("cnn", f"{b}_step", {"workload": workload}) for b in builders}
        print(summary(label, measure_rounds(workers, args.rounds)), flush=True)
    if args.startup:
        cold, warm = startup_times("cnn", "minisora_step", case={"workload": "lenet"})
        print(f"start-up, import to the end of the first LeNet step: cold {cold:.2f} s (empty kernel cache), "
              f"warm {warm:.2f} s")


if __name__ == "__main__":
    main()
