"""Write quantization.npz: PyTorch's quantize_per_tensor / quantize_per_channel (their int
representation), dequantize, fake_quantize_per_tensor_affine / fake_quantize_per_channel_affine
and the fake-quant gradient, on inputs chosen to hit the hard cases: exact ties (k + 0.5 steps,
which round to the even neighbour), values past the int8 range (saturation), NaN and infinities,
per-channel scales along axis 0 and along a middle axis, signed and unsigned 8-bit.

Run once with PyTorch installed (python tests/golden/make_quantization.py); the file is committed
so CI checks minisora against PyTorch without installing it. (PyTorch 2.13 warns that its quantized
tensor functions are deprecated: the numbers they give are what this file keeps.)
"""
import os
import warnings

import numpy as np
import torch

warnings.filterwarnings("ignore", category=UserWarning)
DTYPES = {"int8": (torch.qint8, -128, 127), "uint8": (torch.quint8, 0, 255)}


def inputs(rng, size):
    """Random values, every half step of 0.1 (ties for scale 0.1), big values and the non-finite ones."""
    ties = (np.arange(-300, 300) * np.float32(0.05)).astype(np.float32)
    special = np.array([np.nan, np.inf, -np.inf, 1e30, -1e30, 0.0, -0.0, 12.75, -12.85], np.float32)
    random = (rng.standard_normal(size) * 4).astype(np.float32)
    return np.concatenate([ties, special, random]).astype(np.float32)


def per_tensor_cases(rng):
    cases = {}
    for number, (scale, zero_point, dtype) in enumerate([(0.1, 3, "int8"), (0.1, 0, "int8"), (0.037, -5, "int8"),
                                                         (0.02, 128, "uint8"), (0.1, 0, "uint8")]):
        x = inputs(rng, 1000 + number)   # odd sizes too: PyTorch's vector loops have a scalar tail
        torch_dtype, qmin, qmax = DTYPES[dtype]
        q = torch.quantize_per_tensor(torch.tensor(x), scale, zero_point, torch_dtype)
        leaf = torch.tensor(x, requires_grad=True)
        fake = torch.fake_quantize_per_tensor_affine(leaf, scale, zero_point, qmin, qmax)
        fake.backward(torch.ones_like(fake))
        cases.update({f"tensor{number}/x": x, f"tensor{number}/scale": np.float64(scale),
                      f"tensor{number}/zero_point": np.int64(zero_point), f"tensor{number}/dtype": np.array(dtype),
                      f"tensor{number}/q": q.int_repr().numpy(), f"tensor{number}/dequantized": q.dequantize().numpy(),
                      f"tensor{number}/fake": fake.detach().numpy(), f"tensor{number}/fake_grad": leaf.grad.numpy()})
    return cases


def per_channel_cases(rng):
    cases = {}
    shapes = [((4, 700), 0, "int8"), ((3, 4, 250), 1, "int8"), ((5, 2, 90), 2, "uint8")]
    for number, (shape, axis, dtype) in enumerate(shapes):
        x = inputs(rng, int(np.prod(shape)))[-int(np.prod(shape)):]
        x[: 600] = inputs(rng, 0)[: 600]   # the ties, spread over the first channels
        x = x.reshape(shape)
        channels = shape[axis]
        scale = rng.choice([0.1, 0.02, 0.05, 0.037, 0.003], channels)
        torch_dtype, qmin, qmax = DTYPES[dtype]
        zero_point = rng.integers(-3, 4, channels) + (128 if dtype == "uint8" else 0)
        q = torch.quantize_per_channel(torch.tensor(x), torch.tensor(scale), torch.tensor(zero_point), axis, torch_dtype)
        leaf = torch.tensor(x, requires_grad=True)
        fake = torch.fake_quantize_per_channel_affine(leaf, torch.tensor(scale, dtype=torch.float32),
                                                      torch.tensor(zero_point, dtype=torch.int32), axis, qmin, qmax)
        fake.backward(torch.ones_like(fake))
        cases.update({f"channel{number}/x": x, f"channel{number}/scale": scale,
                      f"channel{number}/zero_point": zero_point, f"channel{number}/axis": np.int64(axis),
                      f"channel{number}/dtype": np.array(dtype), f"channel{number}/q": q.int_repr().numpy(),
                      f"channel{number}/dequantized": q.dequantize().numpy(), f"channel{number}/fake": fake.detach().numpy(),
                      f"channel{number}/fake_grad": leaf.grad.numpy()})
    return cases


def main():
    rng = np.random.default_rng(0)
    cases = {**per_tensor_cases(rng), **per_channel_cases(rng), "torch_version": np.array(torch.__version__)}
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "quantization.npz")
    np.savez_compressed(path, **cases)
    print(f"wrote {path}: {sum(1 for k in cases if k.endswith('/q'))} cases, PyTorch {torch.__version__}")


if __name__ == "__main__":
    main()
