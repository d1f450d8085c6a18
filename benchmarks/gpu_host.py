"""The host's share of a GPU training step, measured without a GPU: minisora's Python per step.

    python benchmarks/gpu_host.py [--rounds N]

On a GPU, a small model's step is bound by the host: particles, autograd, views and the launch
path run in Python while the GPU waits. Here the char-GPT and nanoGPT-char steps of
benchmarks/gpu.py run on Numba's CUDA simulator with `ms.config.gpu_dry_run` set: every launch is counted
but no kernel runs, so the time is the host's work alone, at the real sizes. Not included: what
happens only on a real GPU (gpu_runtime/launch_shortcut.py's flattening of arguments, the driver's launch, about
13 us a launch on an H100) and the kernels themselves. Memory comes from the caching allocator
(gpu_runtime/memory_pool.py) as on a GPU, NumPy bytes standing in for GPU memory. The kernels take a GPU's
tile and block sizes (MINISORA_GPU_SIZES=1: the launches are the GPU's, split-K GEMMs and their
zero fills included; the zero fills are fill_kernel here, memsets on a GPU).
"""
import os

os.environ["NUMBA_ENABLE_CUDASIM"] = "1"   # before numba is imported
os.environ["MINISORA_GPU_SIZES"] = "1"

import argparse   # noqa: E402
import statistics   # noqa: E402

from gpu import CHAR_GPT, NANO_GPT, launches_per_step, minisora_gpt_step, timed   # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    import minisora as ms

    ms.config.set(gpu_dry_run=True)
    print(f"host work per training step, kernels counted but not run; median of {args.rounds} rounds")
    for label, config, repeats in (("char-GPT step", CHAR_GPT, 10), ("nanoGPT-char step", NANO_GPT, 3)):
        step = minisora_gpt_step(config)
        launches = launches_per_step(step)
        times = [timed(step, lambda: None, repeats) for _ in range(args.rounds)]   # nothing queued to wait for
        print(f"{label:<20}{statistics.median(times) * 1e3:6.2f} ms   launches/step {launches}")


if __name__ == "__main__":
    main()
