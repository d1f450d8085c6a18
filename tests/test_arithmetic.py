import numpy as np
import pytest
from hypothesis import given, strategies as st

import minisora as ms
from minisora.particles import get
from helpers import DEVICES, LAYOUTS, check_against_reference, check_gradcheck, shapes, values


@st.composite
def broadcast_pair(draw, max_dims=3):
    """Two shapes that broadcast: b drops leading dims of a and turns some dims into 1."""
    shape = draw(shapes(max_dims=max_dims))
    keep = draw(st.integers(0, len(shape)))
    other = tuple(1 if draw(st.booleans()) else n for n in shape[len(shape) - keep:])
    return (shape, other) if draw(st.booleans()) else (other, shape)


OPS = [
    ("add", lambda a, b: a + b, (-2, 2)),
    ("sub", lambda a, b: a - b, (-2, 2)),
    ("mul", lambda a, b: a * b, (-2, 2)),
    ("div", lambda a, b: a / b, (0.5, 2)),
    ("pow_tensor", lambda a, b: a**b, (0.5, 2)),
    ("maximum", ms.maximum, (-2, 2)),   # random draws tie with probability 0: no kink met
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name, fn, domain", OPS, ids=[o[0] for o in OPS])
@given(pair=broadcast_pair(), seed=st.integers(0, 2**16), layouts=st.tuples(*[st.sampled_from(LAYOUTS)] * 2),
       dtype=st.sampled_from(["float32", "float64"]))
def test_broadcast_kernel_matches_reference(device, name, fn, domain, pair, seed, layouts, dtype):
    a, b = values(seed, pair[0], *domain), values(seed + 1, pair[1], *domain)
    check_against_reference(get(name), fn, [a, b], {}, dtype, list(layouts), device=device)


@pytest.mark.parametrize("name, fn, domain", OPS, ids=[o[0] for o in OPS])
@given(pair=broadcast_pair(max_dims=2), seed=st.integers(0, 2**16))
def test_gradcheck_float64(name, fn, domain, pair, seed):
    check_gradcheck(fn, [values(seed, pair[0], *domain), values(seed + 1, pair[1], *domain)])


@pytest.mark.parametrize("name, fn, domain", OPS, ids=[o[0] for o in OPS])
def test_mismatched_shapes_name_the_particle(name, fn, domain):
    with pytest.raises(ValueError, match=rf"^{name}: shapes \(2, 3\) and \(4,\) cannot be broadcast together"):
        fn(ms.ones(2, 3), ms.ones(4))


def test_python_numbers_on_either_side():
    x = ms.tensor([1.0, 2.0, 4.0], requires_grad=True)
    y = (2 * x - 1) / 2 + 1 / x + 2**x
    y.sum().backward()
    expected = (2 * np.array([1, 2, 4.0]) - 1) / 2 + 1 / np.array([1, 2, 4.0]) + 2 ** np.array([1, 2, 4.0])
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), 1 - 1 / np.array([1, 2, 4.0]) ** 2 + np.log(2) * 2 ** np.array([1, 2, 4.0]), rtol=1e-5)


def test_promotion_follows_pytorch():
    assert (ms.ones(2) + ms.ones(2, dtype="float64")).dtype == np.float64
    assert (ms.arange(3) * 2).dtype == np.int64
    assert (ms.arange(3) * 0.5).dtype == np.float32
    assert (ms.arange(4) / 2).tolist() == [0.0, 0.5, 1.0, 1.5]


@given(pair=broadcast_pair(), seed=st.integers(0, 2**16), op=st.sampled_from(["gt", "lt", "ge", "le", "eq", "ne"]))
def test_comparisons_match_numpy(pair, seed, op):
    a, b = np.round(values(seed, pair[0])), np.round(values(seed + 1, pair[1]))
    result = getattr(ms.tensor(a), f"__{op}__")(ms.tensor(b))
    np.testing.assert_array_equal(result.numpy(), get("compare").reference(a.astype(np.float32), b, op))
    assert result.dtype == np.bool_


@pytest.mark.parametrize("device", DEVICES)
@given(shape=shapes(), seed=st.integers(0, 2**16), layouts=st.tuples(*[st.sampled_from(LAYOUTS)] * 2),
       dtype=st.sampled_from(["float32", "float64"]))
def test_where_matches_reference(device, shape, seed, layouts, dtype):
    condition = values(seed, shape[-1:]) > 0  # broadcast along the leading dims
    a, b = values(seed + 1, shape), values(seed + 2, shape[-1:])
    check_against_reference(get("where"), ms.where, [condition, a, b], {}, dtype, ["contiguous", *layouts],
                            differentiable=[False, True, True], device=device)


def test_where_gradcheck_and_bad_condition():
    condition = np.array([[True, False, True]])
    check_gradcheck(lambda a, b: ms.where(ms.tensor(condition), a, b), [values(0, (2, 3)), values(1, (3,))])
    with pytest.raises(TypeError, match=r"^where: condition must be a bool tensor, got float32\[3\]"):
        ms.where(ms.ones(3), ms.ones(3), ms.zeros(3))


@pytest.mark.parametrize("device", DEVICES)
def test_maximum_and_minimum_share_ties_and_keep_nans_as_pytorch(device):
    a = ms.tensor([1.0, 2.0, 3.0, np.nan], dtype="float64", device=device, requires_grad=True)
    b = ms.tensor([2.0, 2.0, 1.0, 0.0], dtype="float64", device=device, requires_grad=True)
    y = ms.maximum(a, b)
    y.sum().backward()
    assert y.tolist()[:3] == [2.0, 2.0, 3.0] and np.isnan(y.tolist()[3])
    assert a.grad.tolist() == [0.0, 0.5, 1.0, 1.0] and b.grad.tolist() == [1.0, 0.5, 0.0, 1.0]
    a.grad = b.grad = None
    ms.minimum(a, b).sum().backward()
    assert a.grad.tolist() == [1.0, 0.5, 0.0, 1.0] and b.grad.tolist() == [0.0, 0.5, 1.0, 1.0]
    assert ms.maximum(ms.tensor([1, 5], device=device), 3).tolist() == [3, 5]   # ints stay ints
    with pytest.raises(ValueError, match=r"^maximum: shapes \(2,\) and \(3,\) cannot be broadcast together"):
        ms.maximum(ms.zeros(2, device=device), ms.zeros(3, device=device))
