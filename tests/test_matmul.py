import contextlib
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, strategies as st

import minisora as ms
from minisora import F
from minisora.backends import cpu as cpu_backend
from minisora.particles import get
from helpers import DEVICES, LAYOUTS, check_against_reference, check_gradcheck, values

side = st.sampled_from([1, 2, 3, 5])
# the fast products (BLAS, the GPU's GEMM), the same on every core whatever their size (the CPU
# takes that way from cpu.PARALLEL_FROM multiply-adds on, ms.config.cpu_products permitting:
# products_kernel) and the readable ones (loop, 16x16 tiles), each against NumPy
WAYS = ["fast", "every_core", "readable"]


@contextlib.contextmanager
def product_way(way):
    every_core = way == "every_core"
    with ms.config.override(readable_kernels=way == "readable", cpu_products="every_core" if every_core else "numpy"), \
            mock.patch.object(cpu_backend, "PARALLEL_FROM", 0 if every_core else cpu_backend.PARALLEL_FROM):
        yield


@st.composite
def matmul_shapes(draw):
    n, k, m = draw(side), draw(side), draw(side)
    batch = tuple(draw(st.lists(side, max_size=2)))
    other_batch = tuple(1 if draw(st.booleans()) else b for b in batch[len(batch) - draw(st.integers(0, len(batch))):])
    a, b = batch + (n, k), other_batch + (k, m)
    if draw(st.booleans()):
        a, b = b[:-2] + (n, k), a[:-2] + (k, m)
    kind = draw(st.sampled_from(["matrix", "vector_left", "vector_right"]))
    return ((k,), b) if kind == "vector_left" else (a, (k,)) if kind == "vector_right" else (a, b)


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("device", DEVICES)
@given(pair=matmul_shapes(), seed=st.integers(0, 2**16), layouts=st.tuples(*[st.sampled_from(LAYOUTS)] * 2),
       dtype=st.sampled_from(["float32", "float64"]))
def test_matmul_matches_reference(device, way, pair, seed, layouts, dtype):
    with product_way(way):
        check_against_reference(get("matmul"), lambda a, b: a @ b, [values(seed, pair[0]), values(seed + 1, pair[1])],
                                {}, dtype, list(layouts), device=device)


@pytest.mark.parametrize("way", WAYS)
@given(pair=matmul_shapes(), seed=st.integers(0, 2**16))
def test_matmul_gradcheck(way, pair, seed):
    with product_way(way):
        check_gradcheck(lambda a, b: a @ b, [values(seed, pair[0]), values(seed + 1, pair[1])])


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("device", DEVICES)
@given(rows=st.lists(side, min_size=1, max_size=2), inputs=side, outputs=side, bias=st.booleans(),
       seed=st.integers(0, 2**16), layout=st.sampled_from(LAYOUTS), dtype=st.sampled_from(["float32", "float64"]))
def test_linear_matches_reference(device, way, rows, inputs, outputs, bias, seed, layout, dtype):
    arrays = [values(seed, tuple(rows) + (inputs,)), values(seed + 1, (outputs, inputs))]
    arrays += [values(seed + 2, (outputs,))] if bias else []
    with product_way(way):
        check_against_reference(get("linear"), F.linear, arrays, {}, dtype,
                                [layout, "contiguous", "contiguous"][: len(arrays)], device=device)


@pytest.mark.parametrize("way", WAYS)
def test_linear_gradcheck_with_and_without_bias(way):
    x, w, b = values(0, (4, 3)), values(1, (2, 3)), values(2, (2,))
    with product_way(way):
        check_gradcheck(F.linear, [x, w, b])
        check_gradcheck(F.linear, [x, w])


@pytest.mark.parametrize("device", DEVICES)
def test_readable_kernels_cross_tile_edges_and_take_the_bias(device):
    # the GPU tile is 4 x 4 on the simulator (16 x 16 on a GPU): 9 x 7 @ 7 x 10 spans partial tiles on every side
    from minisora.particles.matmul import product

    a, b, bias = values(0, (2, 9, 7)), values(1, (2, 7, 10)), values(2, (10,))
    ctx = ms.particles.Context(get("matmul"), ms.backends.get(device), ())
    with ms.config.override(readable_kernels=True):
        as_device = ms.backends.get(device).asarray
        y = product(ctx, as_device(a), as_device(b), bias=as_device(bias))
    np.testing.assert_allclose(ms.backends.get(device).to_numpy(y), a @ b + bias, rtol=1e-12)


def test_the_readable_way_is_taken_when_asked_for_and_on_the_cpu_with_the_jit_off():
    from minisora.particles.matmul import readable

    cpu = ms.backends.get("cpu")
    assert not readable(cpu)
    with ms.config.override(readable_kernels=True):
        assert readable(cpu)
    with ms.config.override(jit=False):   # (only kernels first built inside the block would run as Python)
        assert readable(cpu)


def test_bad_inputs_name_the_particle_and_shapes():
    with pytest.raises(ValueError, match=r"^matmul: inner sizes differ: float32\[2, 3\] @ float32\[4, 5\]"):
        ms.ones(2, 3) @ ms.ones(4, 5)
    with pytest.raises(TypeError, match=r"^matmul: operands must share a dtype"):
        ms.ones(2, 3) @ ms.ones(3, 2, dtype="float64")
    with pytest.raises(ValueError, match=r"^linear: input float32\[4, 3\] does not fit weight float32\[2, 5\]"):
        F.linear(ms.ones(4, 3), ms.ones(2, 5))
    with pytest.raises(ValueError, match=r"^linear: bias float32\[3\] must have shape \(2,\)"):
        F.linear(ms.ones(4, 3), ms.ones(2, 3), ms.ones(3))


def test_linear_skips_the_input_gradient_it_does_not_need():
    w = ms.tensor(values(0, (2, 3)), requires_grad=True)
    x = ms.tensor(values(1, (4, 3)))
    F.linear(x, w).sum().backward()
    assert x.grad is None
    np.testing.assert_allclose(w.grad.numpy(), np.ones((4, 2)).T @ x.numpy(), rtol=1e-6)


def test_cpu_matmul_writes_into_a_view_and_refuses_a_bias_with_it():
    from minisora.backends import cpu

    a, b = values(0, (3, 4)), values(1, (4, 5))
    target = np.zeros((6, 4))
    cpu.matmul(a, b, out=target[1:, 1:].T)   # a strided view of a bigger array
    np.testing.assert_allclose(target[1:, 1:].T, a @ b, rtol=1e-12)
    assert (target[0] == 0).all() and (target[:, 0] == 0).all()
    with pytest.raises(ValueError, match="bias and an out array together"):
        cpu.matmul(a, b, np.ones(5), out=np.empty((3, 5)))


def test_cpu_matmul_sums_the_rows_of_a_and_refuses_a_batch():
    # linear's backward gets db from the dW product: the sums of A = dy^T's rows, in float64
    from minisora.backends import cpu

    dy, x = values(0, (7, 3)).astype(np.float32), values(1, (7, 4)).astype(np.float32)
    sums = np.full(3, 9.0, np.float32)
    np.testing.assert_allclose(cpu.matmul(dy.T, x, row_sums=sums), dy.T @ x, rtol=1e-6)
    np.testing.assert_allclose(sums, dy.astype(np.float64).sum(0), rtol=1e-6)
    with pytest.raises(ValueError, match=r"row_sums \(3,\) needs one matrix A"):
        cpu.matmul(np.ones((2, 3, 4)), np.ones((4, 5)), row_sums=np.empty(3))


def test_linear_bias_gradient_with_the_weight_frozen():
    # no dW product to ride in: db is its own sum
    x, w, b = (ms.tensor(values(seed, shape), requires_grad=grad) for seed, shape, grad in
               ((0, (5, 3), False), (1, (2, 3), False), (2, (2,), True)))
    weights = values(3, (5, 2))
    (F.linear(x, w, b) * ms.tensor(weights)).sum().backward()
    assert w.grad is None and x.grad is None
    np.testing.assert_allclose(b.grad.numpy(), weights.sum(0), rtol=1e-6)
