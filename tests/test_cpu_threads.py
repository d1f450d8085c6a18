"""The CPU's parallel machinery: BLAS called from kernels on views, products on every core, the
BLAS threads set around parallel kernels, and kernels' faster forms."""
import numpy as np
import pytest
from hypothesis import given, strategies as st
from numba import njit

import minisora as ms
from minisora.backends import blas, cpu, threads
from minisora.backends.kernel import as_python
from minisora.particles.attention_fused import attention_fused_kernel


@pytest.fixture
def every_core():
    with ms.config.override(cpu_products="every_core"):
        yield


@njit(cache=True)
def compiled_gemm(a, b, c, beta):
    blas.gemm(a, b, c, beta)


def layout_of(array, kind):
    """The same numbers laid out as BLAS may meet them: packed, column-major (a transposed view
    of a packed array), or rows of a wider array with a gap between them."""
    if kind == "row-major":
        return np.ascontiguousarray(array)
    if kind == "column-major":
        return np.ascontiguousarray(array.T).T
    wider = np.zeros((array.shape[0], array.shape[1] + 3), array.dtype)
    wider[:, 1:array.shape[1] + 1] = array
    return wider[:, 1:array.shape[1] + 1]


KINDS = ["row-major", "column-major", "gapped"]


@given(rows=st.integers(1, 9), inner=st.integers(0, 9), columns=st.integers(1, 9),
       a_kind=st.sampled_from(KINDS), b_kind=st.sampled_from(KINDS), beta=st.sampled_from([0.0, 1.0, 0.5]),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**16))
def test_gemm_in_a_kernel_reads_views_where_they_lie(rows, inner, columns, a_kind, b_kind, beta, dtype, seed):
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal((rows, inner)).astype(dtype), rng.standard_normal((inner, columns)).astype(dtype)
    big = rng.standard_normal((rows + 2, columns + 4)).astype(dtype)
    expected = big.copy()
    expected[1:rows + 1, 2:columns + 2] = a.astype(np.float64) @ b + beta * big[1:rows + 1, 2:columns + 2]
    compiled_gemm(layout_of(a, a_kind), layout_of(b, b_kind), big[1:rows + 1, 2:columns + 2], beta)
    tolerance = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(big, expected, rtol=tolerance, atol=tolerance)   # and nothing outside c changed


def test_what_blas_can_read_in_place():
    x = np.zeros((4, 6), np.float32)
    assert blas.readable_by_blas(x) and blas.readable_by_blas(x.T) and blas.readable_by_blas(x[1:3, 2:5])
    assert not blas.readable_by_blas(x[:, ::2])            # no unit step along either side
    assert not blas.readable_by_blas(x[::-1])              # rows going backwards
    assert not blas.readable_by_blas(np.broadcast_to(x[0], (4, 6)))   # every row the same memory
    copied = blas.blas_ready(x[:, ::2])
    assert copied.flags.c_contiguous and blas.blas_ready(x) is x


@pytest.mark.parametrize("shape_a, shape_b", [((300, 200), (200, 150)), ((2, 3, 120, 90), (90, 70)),
                                              ((1, 130, 64), (4, 64, 130)), ((17, 700), (700, 33))])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_products_on_every_core_match_numpy(shape_a, shape_b, dtype, every_core):
    # above PARALLEL_FROM multiply-adds: each C cut in blocks, a task per block
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(shape_a).astype(dtype), rng.standard_normal(shape_b).astype(dtype)
    tolerance = 1e-4 if dtype == np.float32 else 1e-12
    expected = a.astype(np.float64) @ b
    for left, right in ((a, b), (np.ascontiguousarray(np.swapaxes(a, -1, -2)).swapaxes(-1, -2), b[..., ::-1, :][..., ::-1, :])):
        np.testing.assert_allclose(cpu.matmul(left, right), expected, rtol=tolerance, atol=tolerance)
    bias = rng.standard_normal(shape_b[-1]).astype(dtype)
    np.testing.assert_allclose(cpu.matmul(a, b, bias), expected + bias, rtol=tolerance, atol=tolerance)


def test_products_on_every_core_write_into_views_and_sum_rows(every_core):
    rng = np.random.default_rng(1)
    dy, x = rng.standard_normal((600, 90)).astype(np.float32), rng.standard_normal((600, 70)).astype(np.float32)
    target = np.zeros((72, 95), np.float32)
    sums = np.full(90, 7.0, np.float32)
    cpu.matmul(dy.T, x, out=target[1:71, 2:92].T, row_sums=sums)   # C as a transposed view: computed, then copied
    np.testing.assert_allclose(target[1:71, 2:92].T, dy.T.astype(np.float64) @ x, rtol=1e-4, atol=1e-4)
    assert (target[0] == 0).all() and (target[:, :2] == 0).all() and (target[:, 92:] == 0).all()
    np.testing.assert_allclose(sums, dy.astype(np.float64).sum(0), rtol=1e-5)
    rows = np.zeros((600, 80), np.float32)
    cpu.matmul(dy, rng.standard_normal((90, 70)).astype(np.float32), out=rows[:, 5:75])   # rows of a wider C: in place
    assert (rows[:, :5] == 0).all() and (rows[:, 75:] == 0).all() and np.abs(rows[:, 5:75]).min() > 0


def test_large_products_take_numpys_blas_until_a_parallel_kernel_ran(monkeypatch):
    a, b = np.ones((300, 200), np.float32), np.ones((200, 150), np.float32)
    launched = []
    monkeypatch.setattr(cpu, "products_on_every_core", lambda *arguments: launched.append(1) or np.matmul(a, b))
    monkeypatch.setattr(threads, "parallel_kernel_ran", False)
    cpu.matmul(a, b)
    assert not launched   # "auto": NumPy's threads, nothing to compile
    threads.one_blas_thread_each(lambda: None)()
    cpu.matmul(a, b)
    assert launched == [1]   # from now on one pool of threads: Numba's
    with ms.config.override(cpu_products="numpy"):
        cpu.matmul(a, b)
    assert launched == [1]
    cpu.matmul(a[:10, :10], b[:10, :10])   # small: NumPy's BLAS runs it on one thread anyway
    assert launched == [1]


def test_a_parallel_kernel_runs_its_blas_on_one_thread_and_sets_it_back():
    libraries = threads.blas_libraries()
    before = [library.get_num_threads() for library in libraries]
    seen = []

    def inside(*arguments):
        seen.append([library.get_num_threads() for library in libraries])

    threads.one_blas_thread_each(inside)()
    assert seen == [[1] * len(libraries)]
    assert [library.get_num_threads() for library in libraries] == before


def test_a_kernels_faster_form_runs_unless_readable_kernels_or_a_debugger_asks_for_the_loop():
    fast = attention_fused_kernel.fast
    assert fast is not None and attention_fused_kernel.runs_faster()
    assert attention_fused_kernel.cpu() is fast.cpu()
    with ms.config.override(readable_kernels=True):
        assert not attention_fused_kernel.runs_faster() and attention_fused_kernel.cpu() is not fast.cpu()
    with as_python([attention_fused_kernel]):   # the stepper's way into a kernel: its readable loop
        assert attention_fused_kernel.cpu() is attention_fused_kernel.python
    assert attention_fused_kernel.cpu() is fast.cpu()


def test_attention_on_every_core_gives_the_same_bits_on_one_core():
    # a task is a whole head: how many threads share the heads does not change any sum's order
    import numba

    rng = np.random.default_rng(2)
    qkv = rng.standard_normal((2, 70, 3 * 8)).astype(np.float32)

    def run():
        x = ms.tensor(qkv, requires_grad=True)
        y = ms.F.multi_head_attention(x, 2, causal=True)
        (y * ms.tensor(np.linspace(-1, 1, y.numpy().size).reshape(y.shape).astype(np.float32))).sum().backward()
        return y.numpy(), x.grad.numpy()

    everywhere = run()
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        alone = run()
    finally:
        numba.set_num_threads(before)
    assert all(np.array_equal(a, b) for a, b in zip(everywhere, alone))
