"""Write batch_norm.npz: PyTorch's BatchNorm1d/2d over three training steps and one eval step, in
float64: each step's input, output, the gradients of a fixed weighted sum of it (input, weight,
bias) and the running statistics after it.

Run once with PyTorch installed (python tests/golden/make_batch_norm.py); the file is committed so
CI checks minisora's batch norm against PyTorch without installing it.
"""
import os

import numpy as np
import torch

CASES = {"2d": ("BatchNorm2d", (4, 3, 5, 6), 0.1), "1d": ("BatchNorm1d", (6, 3), 0.3),
         "1d_cumulative": ("BatchNorm1d", (2, 3, 7), None)}


def main():
    torch.set_default_dtype(torch.float64)
    arrays = {}
    for index, (name, (kind, shape, momentum)) in enumerate(CASES.items()):
        rng = np.random.default_rng(index)
        layer = getattr(torch.nn, kind)(3, momentum=momentum)
        with torch.no_grad():
            layer.weight.copy_(torch.tensor(rng.standard_normal(3)))
            layer.bias.copy_(torch.tensor(rng.standard_normal(3)))
        arrays[f"{name}/weight"], arrays[f"{name}/bias"] = layer.weight.detach().numpy().copy(), layer.bias.detach().numpy().copy()
        for step in range(4):
            if step == 3:
                layer.eval()
            layer.zero_grad()
            x = torch.tensor(rng.standard_normal(shape) * 2 + 1, requires_grad=True)
            out = layer(x)
            weight = rng.standard_normal(shape)
            (out * torch.tensor(weight)).sum().backward()
            for key, value in (("input", x.detach()), ("output", out.detach()), ("out_weight", torch.tensor(weight)),
                               ("grad_input", x.grad), ("grad_weight", layer.weight.grad), ("grad_bias", layer.bias.grad),
                               ("running_mean", layer.running_mean), ("running_var", layer.running_var)):
                arrays[f"{name}/{step}/{key}"] = value.numpy().copy()
    np.savez_compressed(os.path.join(os.path.dirname(os.path.abspath(__file__)), "batch_norm.npz"), **arrays)


if __name__ == "__main__":
    main()
