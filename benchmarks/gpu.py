"""minisora's GPU backend beside PyTorch eager CUDA, float32, TF32 off, interleaved rounds, medians:

    sgemm           C = A B, 4096 x 4096 x 4096: minisora's tiled GEMM and cuBLAS (torch.matmul), TFLOP/s
    char-GPT step   V96, T64, d128, 4 heads, 4 layers, batch 32, AdamW
    nanoGPT-char    V65, T256, d384, 6 heads, 6 layers, batch 64, AdamW
                    (each also with the attention's fused kernels switched off: "products", the
                    products + softmax kernels way, to show which way is faster on this GPU)
    kernel launches per training step (the six kernels launched most), and the first step's time

    python benchmarks/gpu.py [--rounds N] [--only sgemm|gpt]

Needs a CUDA GPU and numba-cuda; PyTorch with CUDA is optional (without it only minisora's
numbers print). Both libraries share the process and the GPU: each timing synchronizes the
device before the clock stops.
"""
import argparse
import statistics
import time

import numpy as np

from gpt import torch_modules

CHAR_GPT = dict(vocab=96, context=64, d_model=128, heads=4, layers=4, batch=32)
NANO_GPT = dict(vocab=65, context=256, d_model=384, heads=6, layers=6, batch=64)


def have_torch_cuda():
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def timed(step, synchronize, repeats):
    """Seconds per call of step(), over `repeats` calls, the GPU drained before and after."""
    synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        step()
    synchronize()
    return (time.perf_counter() - start) / repeats


def interleaved(steps, synchronizes, rounds, repeats):
    """Median seconds per call for each named step, measured in alternating rounds."""
    samples = {name: [] for name in steps}
    for name, step in steps.items():   # warm up (compiles, allocator pools)
        timed(step, synchronizes[name], 2)
    for _ in range(rounds):
        for name, step in steps.items():
            samples[name].append(timed(step, synchronizes[name], repeats))
    return {name: statistics.median(values) for name, values in samples.items()}


def minisora_sgemm(n):
    import minisora as ms

    rng = np.random.default_rng(0)
    a, b = (ms.tensor(rng.standard_normal((n, n), dtype=np.float32), device="cuda") for _ in range(2))
    return lambda: a @ b


def torch_sgemm(n):
    import torch

    torch.backends.cuda.matmul.allow_tf32 = False
    rng = np.random.default_rng(0)
    a, b = (torch.tensor(rng.standard_normal((n, n), dtype=np.float32), device="cuda") for _ in range(2))
    return lambda: a @ b


def minisora_gpt_step(config):
    import minisora as ms

    ms.manual_seed(0)
    c = config
    model = ms.models.GPT(c["vocab"], c["context"], c["d_model"], c["heads"], c["layers"]).to("cuda")
    optimizer = ms.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.99), weight_decay=0.1)
    rng = np.random.default_rng(0)
    ids, targets = (ms.tensor(rng.integers(0, c["vocab"], (c["batch"], c["context"])), device="cuda")
                    for _ in range(2))

    def step():
        optimizer.zero_grad()
        model.loss(ids, targets).backward()
        optimizer.step()
    return step


def with_attention_products(step):
    """`step` with the attention's fused GPU kernels switched off while it runs (the products way)."""
    import minisora as ms

    def run():
        with ms.config.override(attention_fused="never"):
            step()
    return run


def torch_gpt_step(config):
    import torch

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    c = config
    torch.manual_seed(0)
    model = torch_modules()[1](c["vocab"], c["context"], c["d_model"], c["heads"], c["layers"]).cuda()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.99), weight_decay=0.1)
    rng = np.random.default_rng(0)
    ids, targets = (torch.tensor(rng.integers(0, c["vocab"], (c["batch"], c["context"])), device="cuda")
                    for _ in range(2))

    def step():
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(ids).view(-1, c["vocab"]), targets.view(-1)).backward()
        optimizer.step()
    return step


def synchronizers():
    import minisora as ms

    result = {"minisora": ms.cuda.synchronize}
    if have_torch_cuda():
        import torch

        result["torch"] = torch.cuda.synchronize
    return result


def launches_per_step(step):
    """How many kernels one step launches, and the kernels that launch most, by name."""
    from minisora.backends import gpu

    step()
    before = gpu.launches.copy()
    step()
    counts = gpu.launches - before
    most = ", ".join(f"{name} {n}" for name, n in counts.most_common(6))
    return f"{sum(counts.values())} ({most}, ...)"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--only", choices=("sgemm", "gpt"))
    args = parser.parse_args()
    import minisora as ms

    if not ms.cuda.is_available():
        raise SystemExit(f"no GPU: {ms.cuda.why_not()}")
    sync = synchronizers()
    libraries = list(sync)
    print(f"GPU: {ms.cuda.describe().get('gpu')}; median of {args.rounds} interleaved rounds; "
          "ratios > 1 mean minisora is faster")

    if args.only in (None, "sgemm"):
        n = 4096
        started = time.perf_counter()
        minisora_sgemm(n)()
        ms.cuda.synchronize()
        cold = time.perf_counter() - started
        steps = {"minisora": minisora_sgemm(n)}
        if "torch" in libraries:
            steps["torch"] = torch_sgemm(n)
        times = interleaved(steps, sync, args.rounds, 5)
        flops = 2 * n**3
        parts = [f"{name} {flops / t / 1e12:6.1f} TFLOP/s ({t * 1e3:.2f} ms)" for name, t in times.items()]
        print(f"sgemm {n}^3 float32    " + "   ".join(parts) + f"   (first call incl. compile {cold:.1f} s)")

    if args.only in (None, "gpt"):
        for label, config in (("char-GPT step", CHAR_GPT), ("nanoGPT-char step", NANO_GPT)):
            started = time.perf_counter()
            step = minisora_gpt_step(config)
            step()
            ms.cuda.synchronize()
            first = time.perf_counter() - started
            steps = {"minisora": step, "products": with_attention_products(minisora_gpt_step(config))}
            if "torch" in libraries:
                steps["torch"] = torch_gpt_step(config)
            times = interleaved(steps, {**sync, "products": sync["minisora"]}, args.rounds, 5)
            tokens = config["batch"] * config["context"]
            parts = [f"{name} {t * 1e3:7.2f} ms ({tokens / t:,.0f} tokens/s)" for name, t in times.items()]
            ratio = f"   vs torch {times['torch'] / times['minisora']:.2f}x" if "torch" in times else ""
            print(f"{label:<20}" + "   ".join(parts) + ratio +
                  f"   launches/step {launches_per_step(step)}   first step {first:.1f} s")


if __name__ == "__main__":
    main()
