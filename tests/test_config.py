"""ms.config: every switch in one place, its environment variables, and an import that changes nothing process-wide."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import minisora as ms
from minisora import F


def test_override_changes_a_switch_inside_the_block_only_also_on_error():
    assert ms.config.attention_fused == "auto"
    with pytest.raises(RuntimeError):
        with ms.config.override(attention_fused="never", attention_split_from=4):
            assert (ms.config.attention_fused, ms.config.attention_split_from) == ("never", 4)
            raise RuntimeError
    assert (ms.config.attention_fused, ms.config.attention_split_from) == ("auto", 128)


@pytest.mark.parametrize("switches, error, message", [
    ({"fused_on": True}, AttributeError, "ms.config has no switch 'fused_on'; the switches are jit, "),
    ({"attention_fused": "sometimes"}, ValueError, "ms.config.attention_fused: expected one of auto, always, never"),
    ({"cpu_products": "always"}, ValueError, "ms.config.cpu_products: expected one of auto, numpy, every_core"),
    ({"attention_split_from": 0}, ValueError, "ms.config.attention_split_from: expected a positive length, got 0"),
    ({"readable_kernels": "maybe"}, ValueError, "ms.config.readable_kernels: expected on/off"),
    ({"gpu_dry_run": [1]}, TypeError, "ms.config.gpu_dry_run: expected a bool, got [1]"),
])
def test_a_bad_switch_or_value_is_named(switches, error, message):
    with pytest.raises(error, match=rf"^{message.replace('[', '.').replace(']', '.')}"):
        ms.config.set(**switches)
    assert ms.config.as_dict() == ms.config.Settings().__dict__   # nothing half-set


def test_environment_variables_set_the_defaults():
    settings = ms.config.from_environment({"MINISORA_JIT": "off", "MINISORA_ATTENTION_FUSED": "always",
                                           "MINISORA_ATTENTION_SPLIT": "64", "MINISORA_READABLE_KERNELS": "1",
                                           "MINISORA_CPU_PRODUCTS": "every_core"})
    assert (settings.jit, settings.attention_fused, settings.attention_split_from, settings.readable_kernels,
            settings.cpu_products) == (False, "always", 64, True, "every_core")
    with pytest.raises(ValueError, match="ms.config.gpu_dry_run: expected on/off"):
        ms.config.from_environment({"MINISORA_GPU_DRY_RUN": "2"})


def test_importing_minisora_changes_nothing_process_wide():
    # malloc's tuning is an explicit call (the CLI's trainers and the benchmarks make it), numba's
    # own settings stay as numba set them, and every BLAS keeps its threads, also after a
    # parallel kernel (attention) set them to one around itself
    script = ("import json, numba, scipy.linalg.cython_blas; from threadpoolctl import threadpool_info; "
              "threads = lambda: [i['num_threads'] for i in threadpool_info() if i['user_api'] == 'blas']; "
              "before = numba.config.CUDA_LOW_OCCUPANCY_WARNINGS, threads(); import minisora as ms; "
              "from minisora.backends import memory; ms.tensor([1.0]).exp(); after_import = threads(); "
              "x = ms.randn(1, 2, 70, 4, requires_grad=True); "
              "ms.F.scaled_dot_product_attention(x, x, x, causal=True).sum().backward(); "
              "print(json.dumps([memory.applied, numba.config.CUDA_LOW_OCCUPANCY_WARNINGS == before[0], "
              "after_import == before[1], threads() == before[1]]))")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                         env={k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"})
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [False, True, True, True]


@pytest.mark.parametrize("call", [
    lambda x: F.softmax(x, axis=0), lambda x: x.softmax(axis=0), lambda x: F.log_softmax(x, axis=0).exp(),
    lambda x: ms.cat(x.split(1, axis=0), axis=0).softmax(0), lambda x: F.softmax(ms.cat(x.chunk(2, axis=0), 0), 0),
    lambda x: ms.stack(F.split(x, 1, axis=0), axis=0).reshape(2, 3).softmax(0),
])
def test_axis_is_accepted_wherever_dim_is(call):
    x = ms.tensor(np.arange(6.0).reshape(2, 3))
    np.testing.assert_allclose(call(x).numpy(), F.softmax(x, dim=0).numpy(), rtol=1e-6)


def test_dim_and_axis_together_are_refused():
    with pytest.raises(TypeError, match=r"give dim or axis, not both \(dim=1, axis=0\)"):
        F.softmax(ms.zeros(2, 2), dim=1, axis=0)


def test_functional_and_method_are_one_wiring():
    assert F.softmax.__wrapped__ is ms.Tensor.softmax and F.relu.__doc__ == ms.Tensor.relu.__doc__
