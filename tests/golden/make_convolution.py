"""Write convolution.npz: PyTorch's conv1d/conv2d, conv_transpose2d and pooling outputs and the gradients of a fixed
weighted sum of them for the cases in convolution_cases.py, in float64.

Run once with PyTorch installed (python tests/golden/make_convolution.py); the file is committed
so CI checks minisora's convolutions against PyTorch without installing it.
"""
import os

import numpy as np
import torch
import torch.nn.functional as F

from convolution_cases import CASES, POOL_CASES, TRANSPOSED_CASES


def main():
    arrays = {}
    cases = list(CASES.items()) + list(TRANSPOSED_CASES.items())
    for index, (name, (shape, weight_shape, bias, options)) in enumerate(cases):
        rng = np.random.default_rng(index)
        inputs = [rng.standard_normal(shape), rng.standard_normal(weight_shape)]
        outs = weight_shape[1] * options.get("groups", 1) if name in TRANSPOSED_CASES else weight_shape[0]
        inputs += [rng.standard_normal(outs)] if bias else []
        tensors = [torch.tensor(a, requires_grad=True) for a in inputs]
        convolve = F.conv_transpose2d if name in TRANSPOSED_CASES else F.conv1d if len(shape) == 3 else F.conv2d
        out = convolve(*tensors, **options)
        weight = rng.standard_normal(out.shape)
        (out * torch.tensor(weight)).sum().backward()
        arrays[f"{name}/output"], arrays[f"{name}/weight"] = out.detach().numpy(), weight
        for i, t in enumerate(tensors):
            arrays[f"{name}/input{i}"], arrays[f"{name}/grad{i}"] = t.detach().numpy(), t.grad.numpy()
    for index, (name, (shape, function, arguments, ties)) in enumerate(POOL_CASES.items()):
        rng = np.random.default_rng(100 + index)
        x = rng.integers(-2, 3, shape).astype(np.float64) if ties else rng.standard_normal(shape)
        tensor = torch.tensor(x, requires_grad=True)
        out = getattr(F, function)(tensor, *arguments)
        weight = rng.standard_normal(out.shape)
        (out * torch.tensor(weight)).sum().backward()
        arrays[f"{name}/output"], arrays[f"{name}/weight"] = out.detach().numpy(), weight
        arrays[f"{name}/input0"], arrays[f"{name}/grad0"] = x, tensor.grad.numpy()
    np.savez_compressed(os.path.join(os.path.dirname(os.path.abspath(__file__)), "convolution.npz"), **arrays)


if __name__ == "__main__":
    main()
