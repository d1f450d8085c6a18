import numpy as np
import pytest
from hypothesis import given, strategies as st

import minisora as ms
from minisora.particles import get
from helpers import (DEVICES, LAYOUTS, check_against_reference, check_gradcheck, check_integer_input_rule, shapes,
                     values)

# name, public call, params of the reference, value range (log/sqrt need positive inputs)
CASES = [
    ("neg", lambda x: -x, {}, (-2, 2)),
    ("exp", ms.exp, {}, (-2, 2)),
    ("log", ms.log, {}, (0.2, 3)),
    ("sqrt", ms.sqrt, {}, (0.2, 3)),
    ("pow", lambda x: x**3, {"exponent": 3.0}, (-2, 2)),
    ("abs", ms.abs, {}, (-2, 2)),
    ("sign", ms.sign, {}, (-2, 2)),
    ("sin", ms.sin, {}, (-4, 4)),
    ("cos", ms.cos, {}, (-4, 4)),
    ("clamp", lambda x: x.clamp(-0.5, 1.0), {"lo": -0.5, "hi": 1.0}, (-2, 2)),
]
IDS = [c[0] for c in CASES]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name, fn, params, domain", CASES, ids=IDS)
@given(shape=shapes(), seed=st.integers(0, 2**16), layout=st.sampled_from(LAYOUTS),
       dtype=st.sampled_from(["float32", "float64"]))
def test_kernel_matches_reference(name, fn, params, domain, device, shape, seed, layout, dtype):
    check_against_reference(get(name), fn, [values(seed, shape, *domain)], params, dtype, [layout], device=device)


@pytest.mark.parametrize("name, fn, params, domain", CASES, ids=IDS)
@given(shape=shapes(max_dims=2, max_side=3), seed=st.integers(0, 2**16))
def test_gradcheck_float64(name, fn, params, domain, shape, seed):
    check_gradcheck(fn, [values(seed, shape, *domain)])


@pytest.mark.parametrize("name, fn, params, domain", CASES, ids=IDS)
def test_integer_input_is_refused_kept_or_promoted_as_in_pytorch(name, fn, params, domain):
    check_integer_input_rule(get(name), params)


def test_log_of_negative_is_nan_not_an_exception():
    assert np.isnan(ms.log(ms.tensor([-1.0])).item())


def test_pow_hand_computed_value_and_slope():
    x = ms.tensor([2.0, -3.0], dtype="float64", requires_grad=True)
    (x ** 3).sum().backward()
    assert (x ** 3).tolist() == [8.0, -27.0] and x.grad.tolist() == [12.0, 27.0]   # 3 x^2
