import numpy as np
import pytest
from hypothesis import given, strategies as st

import minisora as ms
from minisora.particles import get
from helpers import DEVICES, LAYOUTS, check_against_reference, check_gradcheck, shapes, values


@st.composite
def shape_and_dims(draw):
    shape = draw(shapes(max_dims=4, max_side=4))
    dims = draw(st.one_of(st.none(), st.lists(st.integers(0, len(shape) - 1), unique=True, min_size=1)))
    return shape, (None if dims is None else tuple(dims)), draw(st.booleans())


REDUCTIONS = [("sum", "sum"), ("mean", "mean"), ("max", "max")]


def reduce(method, dims, keepdim):
    def fn(x):
        result = getattr(x, method)(dim=dims, keepdim=keepdim)
        return result.values if method == "max" and dims is not None else result
    return fn


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name, method", REDUCTIONS, ids=[r[0] for r in REDUCTIONS])
@given(case=shape_and_dims(), seed=st.integers(0, 2**16), layout=st.sampled_from(LAYOUTS),
       dtype=st.sampled_from(["float32", "float64"]))
def test_kernel_matches_reference(device, name, method, case, seed, layout, dtype):
    shape, dims, keepdim = case
    check_against_reference(get(name), reduce(method, dims, keepdim), [values(seed, shape)],
                            {"dims": dims, "keepdim": keepdim}, dtype, [layout], device=device)


@pytest.mark.parametrize("name, method", REDUCTIONS, ids=[r[0] for r in REDUCTIONS])
@given(case=shape_and_dims(), seed=st.integers(0, 2**16))
def test_gradcheck_float64(name, method, case, seed):
    shape, dims, keepdim = case
    check_gradcheck(reduce(method, dims, keepdim), [values(seed, shape)])  # continuous draws: no ties


@pytest.mark.parametrize("method", ["sum", "mean", "max"])
def test_dim_out_of_range_names_the_particle(method):
    with pytest.raises(IndexError, match=rf"^{method}: dim 2 is out of range for a tensor of shape \(2, 3\)"):
        getattr(ms.ones(2, 3), method)(dim=2)


@pytest.mark.parametrize("dims", [None, (1,)], ids=["all", "last"])
def test_sums_in_vector_lanes_stay_accurate_and_keep_nan_and_inf(dims):
    # a sum that ends in one number per row runs in reordered partial sums (vector lanes)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 100_003)).astype(np.float32)
    expected = x.astype(np.float64).sum(axis=dims)
    np.testing.assert_allclose(ms.tensor(x).sum(dim=dims).numpy(), expected, rtol=1e-6)
    x[0, 5], x[1, 99_999] = np.nan, np.inf
    got = ms.tensor(x).sum(dim=dims).numpy()
    assert np.isnan(got).any() if dims is None else (np.isnan(got[0]) and np.isposinf(got[1]) and np.isfinite(got[2]))


def test_max_lets_nan_win_at_its_first_place_like_numpy():
    x = np.array([[1.0, np.nan, 3.0, 2.0], [np.nan, 5.0, np.nan, 5.0], [4.0, 6.0, 6.0, 0.0]], np.float32)
    values_, indices = ms.tensor(x).max(dim=1)
    np.testing.assert_array_equal(values_.numpy(), x.max(axis=1))
    assert indices.tolist() == x.argmax(axis=1).tolist() == [1, 0, 1]


def test_axis_and_keepdims_aliases():
    x = ms.tensor(np.arange(6.0).reshape(2, 3))
    assert x.sum(axis=1, keepdims=True).tolist() == [[3.0], [12.0]]
    assert x.mean(axis=(0, 1)).item() == 2.5


def test_max_with_dim_returns_values_and_indices_and_routes_ties_to_the_first():
    x = ms.tensor([[1.0, 5.0, 5.0], [7.0, 2.0, 7.0]], requires_grad=True)
    values_, indices = x.max(dim=1)
    assert values_.tolist() == [5.0, 7.0] and indices.tolist() == [1, 0]
    values_.sum().backward()
    assert x.grad.tolist() == [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]


def test_float32_sum_accumulates_in_float64():
    x = np.full(200_000, 0.1, np.float32)
    assert ms.tensor(x).sum().item() == pytest.approx(float(x.astype(np.float64).sum()), rel=1e-7)


def test_mean_of_integers_is_refused():
    with pytest.raises(TypeError, match=r"^mean: expected float32 or float64 input, got int64\[3\]"):
        ms.arange(3).mean()
