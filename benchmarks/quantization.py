"""The int8 Linear layer against float32, at the char GPT's and the MLPs' sizes, side by side:

    minisora         quant.QuantizedLinear (the public layer: quantize the float input, the int8
                     product with int32 sums, float32 out)
    int8 product     the int8 product alone, its input already quantized (particles/quantized_linear.py)
    minisora f32     nn.Linear in float32 (its product runs on the BLAS)
    numpy            x @ W^T + b in float32 (the same BLAS)
    torch f32        torch.nn.Linear
    torch dynamic    torch.ao.quantization.quantize_dynamic of that Linear (fbgemm's int8 kernels)

    python benchmarks/quantization.py [--rounds N]

Each runs in its own process, interleaved, medians; vs X > 1 means minisora's int8 layer is faster.
"""
import argparse
import warnings

import numpy as np

from common import Worker, have_torch, machine, measure_rounds, summary

# (label, tokens or batch rows M, in features K, out features N)
SIZES = [("GPT qkv 2048x128->384", 2048, 128, 384), ("GPT mlp up 2048x128->512", 2048, 128, 512),
         ("GPT mlp down 2048x512->128", 2048, 512, 128), ("digits MLP 128x64->64", 128, 64, 64),
         ("MNIST MLP 128x784->512", 128, 784, 512)]


def inputs(case):
    rng = np.random.default_rng(0)
    m, k, n = case
    x = rng.standard_normal((m, k)).astype(np.float32)
    weight = (rng.uniform(-1, 1, (n, k)) / np.sqrt(k)).astype(np.float32)
    return x, weight, np.zeros(n, np.float32)


def minisora_layer(x, weight, bias):
    import minisora as ms
    from minisora import nn, quant

    linear = nn.Linear(*weight.shape[::-1])
    linear.load_state_dict({"weight": weight, "bias": bias})
    layer = quant.quantize_model(nn.Sequential(linear), [ms.tensor(x)])   # calibrated on the input itself
    xs = ms.tensor(x)
    return layer, xs


def minisora_step(x, weight, bias):
    import minisora as ms

    layer, xs = minisora_layer(x, weight, bias)

    def step():
        with ms.no_grad():
            layer(xs)
    return step


def minisora_kernel_step(x, weight, bias):
    from minisora import quant

    layer, xs = minisora_layer(x, weight, bias)
    inner = layer[0]
    scale, zero_point = inner.input_qparams(xs)
    q = quant.quantize_per_tensor(xs, scale, zero_point)
    multiplier = inner.weight_scale * float(np.float32(scale))
    return lambda: quant.quantized_linear(q, inner.weight, multiplier, inner.bias, x_zero_point=zero_point)


def minisora_float_step(x, weight, bias):
    import minisora as ms

    xs, ws, bs = ms.tensor(x), ms.tensor(weight), ms.tensor(bias)

    def step():
        with ms.no_grad():
            ms.F.linear(xs, ws, bs)
    return step


def numpy_step(x, weight, bias):
    return lambda: x @ weight.T + bias


def torch_linear(weight, bias):
    import torch

    linear = torch.nn.Linear(*weight.shape[::-1])
    with torch.no_grad():
        linear.weight.copy_(torch.tensor(weight))
        linear.bias.copy_(torch.tensor(bias))
    return linear


def torch_step(x, weight, bias):
    import torch

    linear, xs = torch_linear(weight, bias), torch.tensor(x)

    def step():
        with torch.no_grad():
            linear(xs)
    return step


def torch_dynamic_step(x, weight, bias):
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # PyTorch 2.13 points eager-mode quantization to torchao
        layer = torch.ao.quantization.quantize_dynamic(torch.nn.Sequential(torch_linear(weight, bias)),
                                                       {torch.nn.Linear}, dtype=torch.qint8)
    xs = torch.tensor(x)

    def step():
        with torch.no_grad():
            layer(xs)
    return step


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    builders = {"minisora": "minisora_step", "int8-product": "minisora_kernel_step", "minisora-f32": "minisora_float_step",
                "numpy": "numpy_step"}
    if have_torch():
        builders.update({"torch-f32": "torch_step", "torch-dynamic": "torch_dynamic_step"})
    print(machine())
    print(f"Linear forward, median [lowest-highest] of {args.rounds} interleaved rounds, one process each; "
          "vs X > 1: minisora's int8 layer is faster")
    for label, m, k, n in SIZES:
        workers = {name: Worker("quantization", builder, [m, k, n]) for name, builder in builders.items()}
        rounds = measure_rounds(workers, args.rounds, block_seconds=0.5)
        print(summary(label, rounds), flush=True)
        ops = 2 * m * k * n
        rates = "  ".join(f"{name} {ops / np.median(times) / 1e9:.0f}" for name, times in rounds.items())
        print(f"{'':<24}G multiply-adds x2 per second: {rates}", flush=True)


if __name__ == "__main__":
    main()
