"""Every particle against PyTorch, in float64, without PyTorch installed: golden/particles.npz holds
PyTorch's outputs and input gradients (made by golden/make_particles.py) for fixed inputs."""
import os

import numpy as np
import pytest

import minisora as ms
from minisora import F
from golden.particle_cases import CASES, IDS, PROBABILITIES_SEED, TARGETS

GOLDEN = np.load(os.path.join(os.path.dirname(__file__), "golden", "particles.npz"))
BCE_TARGETS = np.random.default_rng(PROBABILITIES_SEED).uniform(0.05, 0.95, CASES["bce_with_logits"][0])

EXPRESSIONS = {
    "linear": F.linear,
    "relu": F.relu,
    "leaky_relu": lambda x: F.leaky_relu(x, 0.01),
    "sigmoid": F.sigmoid,
    "tanh": F.tanh,
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "softmax": lambda x: F.softmax(x, -1),
    "log_softmax": lambda x: F.log_softmax(x, -1),
    "cross_entropy": lambda x: F.cross_entropy(x, ms.tensor(TARGETS)),
    "mse_loss": F.mse_loss,
    "bce_with_logits": lambda x: F.binary_cross_entropy_with_logits(x, ms.tensor(BCE_TARGETS)),
    "layer_norm": lambda x, w, b: F.layer_norm(x, x.shape[-1], w, b),
    "embedding": lambda w: F.embedding(ms.tensor(IDS), w),
    "attention_causal": lambda q, k, v: F.scaled_dot_product_attention(q, k, v, causal=True),
    "matmul_batched": ms.matmul,
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_particle_matches_pytorch(name):
    inputs = [ms.tensor(GOLDEN[f"{name}/input{i}"], requires_grad=True) for i in range(len(CASES[name]))]
    out = EXPRESSIONS[name](*inputs)
    np.testing.assert_allclose(out.numpy(), GOLDEN[f"{name}/output"], rtol=1e-10, atol=1e-12, err_msg=f"{name} forward")
    (out * ms.tensor(GOLDEN[f"{name}/weight"])).sum().backward()
    for i, t in enumerate(inputs):
        np.testing.assert_allclose(t.grad.numpy(), GOLDEN[f"{name}/grad{i}"], rtol=1e-10, atol=1e-12,
                                   err_msg=f"{name} gradient of input {i}")
