"""Write particles.npz: PyTorch's outputs and input gradients for the cases in particle_cases.py.

Run once with PyTorch installed (python tests/golden/make_particles.py); the file is committed so
CI checks minisora's particles against PyTorch without installing it.
"""
import os

import numpy as np
import torch
import torch.nn.functional as F

from particle_cases import CASES, IDS, PROBABILITIES_SEED, TARGETS

EXPRESSIONS = {
    "linear": lambda x, w, b: F.linear(x, w, b),
    "relu": torch.relu,
    "leaky_relu": lambda x: F.leaky_relu(x, 0.01),
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "softmax": lambda x: torch.softmax(x, -1),
    "log_softmax": lambda x: torch.log_softmax(x, -1),
    "cross_entropy": lambda x: F.cross_entropy(x, torch.tensor(TARGETS)),
    "mse_loss": F.mse_loss,
    "bce_with_logits": lambda x: F.binary_cross_entropy_with_logits(x, torch.tensor(targets_bce(x.shape))),
    "layer_norm": lambda x, w, b: F.layer_norm(x, (x.shape[-1],), w, b),
    "embedding": lambda w: F.embedding(torch.tensor(IDS), w),
    "attention_causal": lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
    "matmul_batched": torch.matmul,
}


def targets_bce(shape):
    return np.random.default_rng(PROBABILITIES_SEED).uniform(0.05, 0.95, shape)


def main():
    arrays = {}
    for index, (name, shapes) in enumerate(CASES.items()):
        rng = np.random.default_rng(index)
        inputs = [rng.standard_normal(s) for s in shapes]
        tensors = [torch.tensor(a, requires_grad=True) for a in inputs]
        out = EXPRESSIONS[name](*tensors)
        weight = np.random.default_rng(100 + index).standard_normal(tuple(out.shape))
        (out * torch.tensor(weight)).sum().backward()
        arrays[f"{name}/output"] = out.detach().numpy()
        for i, t in enumerate(tensors):
            arrays[f"{name}/input{i}"] = inputs[i]
            arrays[f"{name}/grad{i}"] = t.grad.numpy()
        arrays[f"{name}/weight"] = weight
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "particles.npz")
    np.savez_compressed(path, torch_version=np.array(torch.__version__), **arrays)
    print(f"wrote {path} (PyTorch {torch.__version__}, {len(CASES)} cases)")


if __name__ == "__main__":
    main()
