"""MINISORA_JIT=0 runs every kernel as plain Python (for pdb) and must give the same numbers."""
import json
import os
import subprocess
import sys

import numpy as np

SCRIPT = """
import json, numpy as np, minisora as ms
from minisora.backends import kernel
rng = np.random.default_rng(0)
x = ms.tensor(rng.standard_normal((5, 4)))
t = ms.tensor([0, 2, 1, 2, 0])
w1 = ms.tensor(rng.standard_normal((6, 4)), requires_grad=True)
w2 = ms.tensor(rng.standard_normal((3, 6)), requires_grad=True)
h = ms.F.gelu(ms.F.linear(x, w1)).softmax(0) * 2 + x.sum(1, keepdim=True).tanh()[:, :1]
loss = ms.F.cross_entropy(ms.F.linear(h, w2), t) + h.max() + ms.F.mse_loss(h, h * 0.5)
loss.backward()
compiled = type(kernel.Kernel.cpu(ms.particles.activations.gelu_forward_kernel)).__name__
print(json.dumps({"jit": ms.config.jit, "kind": compiled, "loss": loss.item(),
                  "w1": w1.grad.numpy().tolist(), "w2": w2.grad.numpy().tolist()}))
"""


def run(jit):
    env = dict(os.environ, MINISORA_JIT=jit)
    result = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_jit_off_gives_the_compiled_numbers_in_plain_python():
    compiled, python = run("1"), run("0")
    assert compiled["jit"] and not python["jit"]
    assert python["kind"] == "function" and compiled["kind"] != "function"
    assert python["loss"] == np.float64(compiled["loss"]) or abs(python["loss"] - compiled["loss"]) < 1e-12
    np.testing.assert_allclose(python["w1"], compiled["w1"], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(python["w2"], compiled["w2"], rtol=1e-12, atol=1e-14)
