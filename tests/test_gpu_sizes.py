"""The GPU kernels at a real GPU's tile and block sizes, checked on the simulator too.

The other cuda tests run on the simulator with small tiles and blocks (backends.gpu.sized), so
that they stay quick; a GPU runs the same code with its own sizes, whose index arithmetic
(which thread loads which element, the GEMM's squares of 4 neighbours, 2 threads a row in its
row sums, 128-thread attention blocks with 64 feature columns) those tests never execute.
Here it is executed: on a GPU (MINISORA_TEST_GPU=1) as it stands, and without one by
test_gpu_sizes_on_the_simulator, which runs this file again in a child process with
MINISORA_GPU_SIZES=1 (sizes are fixed at import). Slow there (256 Python threads a block), so
the shapes are as small as can cross the GPU's tile edges.

Oracles: NumPy in float64 (the GEMM), the cpu backend (attention, layer norm, softmax, loss),
within float32 tolerances.
"""
import os
import re
import subprocess
import sys

import pytest

from minisora import F
from minisora.backends import gemm, gpu
from minisora.particles import attention_fused
from test_cuda import check_gemm_and_row_sums, compare, cuda_only

AT_GPU_SIZES = gpu.sized(True, on_simulator=False)
at_gpu_sizes = pytest.mark.skipif(not AT_GPU_SIZES, reason="run at GPU sizes by test_gpu_sizes_on_the_simulator")
pytestmark = cuda_only

# (m, k, n, A transposed, B transposed): C crosses the 128-row tile edge, then the column edge
# too; on the simulator split_k (small there whatever the tiles) cuts K into chunks in the first
GEMM_CASES = [(130, 20, 5, False, False), (130, 20, 131, True, True)]


@pytest.mark.slow
@pytest.mark.skipif(AT_GPU_SIZES, reason="this process has the GPU's sizes already")
def test_gpu_sizes_on_the_simulator():
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1", MINISORA_GPU_SIZES="1")
    env.pop("MINISORA_TEST_GPU", None)
    child = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", __file__],
                           env=env, capture_output=True, text=True, timeout=900)
    report = child.stdout[-6000:] + child.stderr[-3000:]
    assert child.returncode == 0, report
    expected = len(GEMM_CASES) + len(ATTENTION_CASES) + len(ROW_CASES) + 1
    assert re.search(rf"\b{expected} passed, 1 skipped\b", child.stdout), report


@at_gpu_sizes
def test_the_sizes_are_the_gpus():
    assert (gemm.TILE, gemm.PATCH, gemm.VECTOR, gemm.ROW_PARTS, gpu.THREADS) == (128, 8, 4, 2, 256)
    assert (attention_fused.FUSED_THREADS, attention_fused.COLUMNS) == (128, attention_fused.HEAD_MAX)


@at_gpu_sizes
@pytest.mark.parametrize("m, k, n, a_transposed, b_transposed", GEMM_CASES)
def test_gemm_and_row_sums_at_gpu_sizes(m, k, n, a_transposed, b_transposed):
    tiles = -(-m // gemm.TILE) * -(-n // gemm.TILE)
    if gpu.simulated():   # (a GPU splits only far longer K)
        assert (gemm.split_k(tiles, k) > 1) == (n < gemm.TILE)
    check_gemm_and_row_sums(m, k, n, a_transposed, b_transposed)


# (batch dims, rows, keys, features of q and k, of v, causal): more rows than a 16-row tile and
# than dK's 32-row tile, more keys than a 64-key tile, heads of 64 features (every column) and fewer
ATTENTION_CASES = [((1,), 40, 70, 64, 48, False), ((2,), 33, 33, 16, 8, True)]


@at_gpu_sizes
@pytest.mark.parametrize("lead, length, keys, dim, dim_v, causal", ATTENTION_CASES)
def test_fused_attention_at_gpu_sizes(lead, length, keys, dim, dim_v, causal):
    specs = [(lead + (length, dim), "float"), (lead + (keys, dim), "float"), (lead + (keys, dim_v), "float")]
    before = dict(gpu.launches)
    compare(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, causal=causal), specs, scale=1, tol=5e-5)
    assert gpu.launches["attention_fused_backward_kv_gpu"] == before.get("attention_fused_backward_kv_gpu", 0) + 1


# rows wider than a block of 256 threads: each thread takes several elements, then the block sums
# (layer_norm: its dw and db sums in two blocks of columns; test_cuda.py crosses chunks of rows)
ROW_CASES = [
    (lambda x, w, b: F.layer_norm(x, x.shape[-1:], w, b), [((3, 300), "float"), ((300,), "float"), ((300,), "float")]),
    (lambda x: F.softmax(x, dim=-1), [((2, 300), "float")]),
    (lambda x, t: F.cross_entropy(x, t), [((2, 300), "float"), ((2,), 300)]),
]


@at_gpu_sizes
@pytest.mark.parametrize("fn, specs", ROW_CASES, ids=["layer_norm", "softmax", "cross_entropy"])
def test_row_kernels_at_gpu_sizes(fn, specs):
    compare(fn, specs, scale=1, tol=5e-5)
