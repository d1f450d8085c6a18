import numpy as np
import pytest
from hypothesis import given, strategies as st

import minisora as ms
from minisora import F
from minisora.particles import get
from helpers import (DEVICES, LAYOUTS, away_from_kinks, check_against_reference, check_gradcheck, check_integer_input_rule,
                     shapes, values)

# name, public call, params of the reference, value range
CASES = [
    ("relu", F.relu, {}, (-2, 2)),
    ("leaky_relu", lambda x: F.leaky_relu(x, 0.1), {"negative_slope": 0.1}, (-2, 2)),
    ("sigmoid", F.sigmoid, {}, (-4, 4)),
    ("tanh", F.tanh, {}, (-3, 3)),
    ("gelu", F.gelu, {}, (-3, 3)),
    ("gelu_tanh", lambda x: F.gelu(x, approximate="tanh"), {}, (-3, 3)),
    ("silu", F.silu, {}, (-4, 4)),
    ("softplus", lambda x: F.softplus(x, beta=1.5, threshold=3.0), {"beta": 1.5, "threshold": 3.0}, (-3, 3)),
    ("elu", lambda x: F.elu(x, alpha=0.7), {"alpha": 0.7}, (-3, 3)),
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
    check_gradcheck(fn, [away_from_kinks(values(seed, shape, *domain))])


@pytest.mark.parametrize("name, fn, params, domain", CASES, ids=IDS)
def test_integer_input_is_refused_kept_or_promoted_as_in_pytorch(name, fn, params, domain):
    check_integer_input_rule(get(name), params)


@pytest.mark.parametrize("device", DEVICES)
def test_float32_tanh_and_gelu_tanh_run_their_rational_kernels_within_float32_rounding(device):
    x = np.linspace(-12, 12, 2001)
    for name, fn in (("tanh", F.tanh), ("gelu_tanh", lambda t: F.gelu(t, approximate="tanh"))):
        particle = get(name)
        assert particle.kernels_for(np.dtype(np.float32)) is particle.float32_kernels != particle.kernels
        y = fn(ms.tensor(x, dtype="float32", device=device)).numpy()
        np.testing.assert_allclose(y, particle.reference(x), rtol=2e-6, atol=1e-6, err_msg=name)


def test_sigmoid_is_stable_at_extremes():
    y = F.sigmoid(ms.tensor([-1000.0, 1000.0]))
    assert y.tolist() == [0.0, 1.0]


def test_relu_gradient_at_zero_is_zero_and_nan_passes_as_in_pytorch():
    x = ms.tensor([0.0, np.nan], requires_grad=True)
    y = F.relu(x)
    y.sum().backward()
    assert x.grad.tolist()[0] == 0.0 and np.isnan(y.numpy()[1])


def test_gelu_hand_computed_values_of_both_forms():
    # tanh form: 0.5 * 1 * (1 + tanh(sqrt(2/pi) * (1 + 0.044715)))
    expected = 0.5 * (1 + np.tanh(np.sqrt(2 / np.pi) * 1.044715))
    one = ms.tensor([1.0], dtype="float64")
    assert F.gelu(one, approximate="tanh").item() == pytest.approx(expected, rel=1e-12)
    # the default, exact form: 1 * Phi(1) = 0.8413447460685429 (the normal CDF at 1, from tables)
    assert F.gelu(one).item() == pytest.approx(0.8413447460685429, rel=1e-15)
    assert ms.nn.GELU()(one).item() == F.gelu(one).item() and ms.nn.GELU("tanh")(one).item() == pytest.approx(expected)
    with pytest.raises(ValueError, match="^gelu: approximate must be 'none' or 'tanh', got 'erf'"):
        F.gelu(one, approximate="erf")


def test_softplus_is_x_beyond_its_threshold_and_finite_far_below():
    x = ms.tensor([-800.0, 0.0, 25.0, 800.0], dtype="float64", requires_grad=True)
    y = F.softplus(x)
    y.sum().backward()
    assert y.tolist() == [0.0, np.log(2.0), 25.0, 800.0] and x.grad.tolist() == [0.0, 0.5, 1.0, 1.0]
    with pytest.raises(ValueError, match="^softplus: beta must be positive, got 0"):
        F.softplus(x, beta=0)
