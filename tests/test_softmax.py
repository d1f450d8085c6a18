import numpy as np
import pytest
from hypothesis import given, strategies as st

import minisora as ms
from minisora import F
from minisora.particles import get
from helpers import DEVICES, LAYOUTS, check_against_reference, check_gradcheck, shapes, values

CASES = [("softmax", F.softmax), ("log_softmax", F.log_softmax)]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name, fn", CASES, ids=[c[0] for c in CASES])
@given(shape=shapes(), seed=st.integers(0, 2**16), layout=st.sampled_from(LAYOUTS),
       dtype=st.sampled_from(["float32", "float64"]), data=st.data())
def test_kernel_matches_reference(device, name, fn, shape, seed, layout, dtype, data):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    check_against_reference(get(name), lambda x: fn(x, dim=dim), [values(seed, shape, -5, 5)], {"dim": dim}, dtype, [layout], device=device)


@pytest.mark.parametrize("name, fn", CASES, ids=[c[0] for c in CASES])
@given(shape=shapes(max_side=3), seed=st.integers(0, 2**16), data=st.data())
def test_gradcheck_float64(name, fn, shape, seed, data):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    check_gradcheck(lambda x: fn(x, dim=dim), [values(seed, shape)])


def test_rows_sum_to_one_and_huge_logits_do_not_overflow():
    y = F.softmax(ms.tensor([[1000.0, 1000.0, -1000.0], [0.0, 0.0, 0.0]]))
    np.testing.assert_allclose(y.numpy(), [[0.5, 0.5, 0.0], [1 / 3] * 3], rtol=1e-6)
    assert np.isfinite(F.log_softmax(ms.tensor([[1e4, 0.0]])).numpy()).all()


@pytest.mark.parametrize("name, fn", CASES, ids=[c[0] for c in CASES])
def test_bad_input_names_the_particle(name, fn):
    with pytest.raises(IndexError, match=rf"^{name}: dim 2 is out of range for float32\[2, 3\]"):
        fn(ms.ones(2, 3), dim=2)
    with pytest.raises(TypeError, match=rf"^{name}: expected float32 or float64 input, got int64\[3\]"):
        fn(ms.arange(3))
