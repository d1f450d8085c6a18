"""The ops a PyTorch user reaches for first (issue 20), against NumPy as the oracle: the new
particles cumsum and expand, and the compositions of particles (var, std, logsumexp, flip,
flatten, tril/triu, masked_fill, gather, one_hot, the method aliases), each on hypothesis-drawn
shapes and memory layouts, through float64 finite differences, and with bad input named."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import minisora as ms
from minisora import F
from minisora.particles import get
from helpers import DEVICES, LAYOUTS, TOLERANCE, check_against_reference, check_gradcheck, layout_tensor, shapes, values


@st.composite
def shape_and_dim(draw, min_dims=1):
    shape = draw(shapes(min_dims=min_dims))
    return shape, draw(st.integers(-len(shape), len(shape) - 1))


@pytest.mark.parametrize("device", DEVICES)
@given(case=shape_and_dim(), seed=st.integers(0, 2**16), layout=st.sampled_from(LAYOUTS),
       dtype=st.sampled_from(["float32", "float64"]))
def test_cumsum_matches_numpy(device, case, seed, layout, dtype):
    shape, dim = case
    check_against_reference(get("cumsum"), lambda x: x.cumsum(dim), [values(seed, shape)], {"dim": dim}, dtype,
                            [layout], device=device)


@pytest.mark.parametrize("device", DEVICES)
@given(shape=shapes(max_dims=3), lead=st.integers(0, 2), seed=st.integers(0, 2**16),
       layout=st.sampled_from(LAYOUTS), data=st.data())
def test_expand_matches_numpy_broadcasting(device, shape, lead, seed, layout, data):
    target = tuple(data.draw(st.sampled_from([1, 2, 3]))  for _ in range(lead)) + tuple(
        data.draw(st.sampled_from([n, -1] if n != 1 else [1, 3, -1])) for n in shape)
    full = target[:lead] + tuple(n if t == -1 else t for n, t in zip(shape, target[lead:]))
    check_against_reference(get("expand"), lambda x: x.expand(*target), [values(seed, shape)], {"shape": full},
                            "float64", [layout], device=device)


@given(case=shape_and_dim(), seed=st.integers(0, 2**16))
@settings(max_examples=20)
def test_cumsum_and_expand_gradcheck(case, seed):
    shape, dim = case
    check_gradcheck(lambda x: x.cumsum(dim) * x, [values(seed, shape)])
    check_gradcheck(lambda x: x.expand((2,) + shape), [values(seed, shape)])


def test_cumsum_of_ints_and_bools_is_int64_and_0_d_works():
    assert ms.tensor([True, True, False, True]).cumsum(0).tolist() == [1, 2, 2, 3]
    assert ms.tensor([[1, 2], [3, 4]]).cumsum(0).dtype == np.int64
    assert ms.tensor(2.5).cumsum(0).item() == 2.5


COMPOSED = [   # name, minisora call, NumPy oracle, value range
    ("var", lambda x: x.var(-1), lambda a: np.var(a, axis=-1, ddof=1), (-2, 2)),
    ("var_population", lambda x: x.var(0, keepdim=True, correction=0), lambda a: np.var(a, 0, keepdims=True), (-2, 2)),
    ("std", lambda x: x.std(), lambda a: np.std(a, ddof=1), (-2, 2)),
    ("logsumexp", lambda x: x.logsumexp(-1), lambda a: np.log(np.exp(a).sum(-1)), (-30, 30)),
    ("flip", lambda x: x.flip((0, -1)), lambda a: np.flip(a, (0, -1)), (-2, 2)),
    ("flatten", lambda x: x.flatten(1), lambda a: a.reshape(a.shape[0], -1), (-2, 2)),
    ("tril", lambda x: x.tril(-1), lambda a: np.tril(a, -1), (-2, 2)),
    ("triu", lambda x: x.triu(1), lambda a: np.triu(a, 1), (-2, 2)),
    ("masked_fill", lambda x: x.masked_fill(x > 0.5, -7.0), lambda a: np.where(a > 0.5, -7.0, a), (-2, 2)),
    ("amin", lambda x: x.amin(-1), lambda a: a.min(-1), (-2, 2)),
    ("clamp_min", lambda x: ms.clamp(x, min=0.25), lambda a: np.maximum(a, 0.25), (-2, 2)),
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name, call, oracle, domain", COMPOSED, ids=[c[0] for c in COMPOSED])
@given(shape=shapes(min_dims=2, max_side=4), seed=st.integers(0, 2**16), layout=st.sampled_from(LAYOUTS))
@settings(max_examples=15)
def test_composed_ops_match_numpy(name, call, oracle, domain, device, shape, seed, layout):
    array = values(seed, shape, *domain)
    if name in ("var", "std") and array.size <= 1:
        array = values(seed, shape + (2,), *domain)
    x, plain = layout_tensor(array, layout, "float64", device=device)
    with np.errstate(all="ignore"):
        np.testing.assert_allclose(call(x).numpy(), oracle(plain), **TOLERANCE["float64"], err_msg=name)


@pytest.mark.parametrize("name, call, oracle, domain", COMPOSED, ids=[c[0] for c in COMPOSED])
@given(seed=st.integers(0, 2**16))
@settings(max_examples=5)
def test_composed_ops_gradcheck(name, call, oracle, domain, seed):
    check_gradcheck(call, [values(seed, (3, 4), *domain)])


@pytest.mark.parametrize("device", DEVICES)
def test_gather_picks_and_adds_back_as_pytorch(device):
    x = ms.tensor(np.arange(12.0).reshape(3, 4), dtype="float64", device=device, requires_grad=True)
    index = ms.tensor([[0, 0], [3, 1], [2, 2]], device=device)
    y = x.gather(1, index)
    assert y.tolist() == [[0.0, 0.0], [7.0, 5.0], [10.0, 10.0]]
    y.sum().backward()
    assert x.grad.tolist() == [[2.0, 0, 0, 0], [0, 1.0, 0, 1.0], [0, 0, 2.0, 0]]
    assert x.gather(0, ms.tensor([[2, 0, 1, 0]], device=device)).tolist() == [[8.0, 1.0, 6.0, 3.0]]
    check_gradcheck(lambda t: t.gather(0, ms.tensor([[1, 0, 2], [0, 0, 1]])), [values(1, (3, 3))])
    with pytest.raises(IndexError, match=r"^gather: index 4 is out of range \[0, 4\) along dim 1"):
        x.gather(1, ms.tensor([[4]], device=device))
    with pytest.raises(IndexError, match=r"^gather: index -1 is out of range"):
        x.gather(1, ms.tensor([[-1]], device=device))
    with pytest.raises(TypeError, match="^gather: index must be an int64 tensor with as many dims"):
        x.gather(1, ms.tensor([1], device=device))


@pytest.mark.parametrize("device", DEVICES)
def test_one_hot_and_the_method_aliases(device):
    hot = F.one_hot(ms.tensor([[0, 2], [1, 1]], device=device), 4)
    assert hot.dtype == np.int64 and hot.shape == (2, 2, 4) and hot.numpy()[0, 1].tolist() == [0, 0, 1, 0]
    assert F.one_hot(ms.tensor([3, 0], device=device)).shape == (2, 4)
    with pytest.raises(IndexError, match=r"^one_hot: class id 5 is out of range \[0, 4\)"):
        F.one_hot(ms.tensor([5], device=device), 4)
    a, b = ms.tensor([1.0, 2.0], device=device), ms.tensor([3.0, 4.0], device=device)
    assert a.add(b).tolist() == [4.0, 6.0] and a.add(b, alpha=2).tolist() == [7.0, 10.0]
    assert a.sub(b).tolist() == [-2.0, -2.0] and a.mul(b).tolist() == [3.0, 8.0] and a.div(b).tolist() == [np.float32(1 / 3), 0.5]
    assert a.matmul(b).item() == 11.0 and a.pow(2).tolist() == [1.0, 4.0]


def test_bad_input_is_named():
    x = ms.zeros(2, 3)
    for call, error, message in [
        (lambda: x.expand(3, 3), ValueError, r"^expand: cannot expand float32\[2, 3\] to \(3, 3\): dim 0 has size 2"),
        (lambda: x.expand(3), ValueError, r"^expand: cannot expand float32\[2, 3\] to \(3,\): fewer dims"),
        (lambda: x.flatten(1, 0), IndexError, "^flatten: start_dim 1 comes after end_dim 0"),
        (lambda: x.flip((0, 0)), ValueError, r"^flip: dims \(0, 0\) repeat a dim"),
        (lambda: x.flip(2), IndexError, "^flip: dim 2 is out of range"),
        (lambda: ms.zeros(3).tril(), ValueError, "^tril: needs a tensor of at least 2 dims"),
        (lambda: x.masked_fill(ms.zeros(2, 3), 1.0), TypeError, "^masked_fill: mask must be a bool tensor"),
        (lambda: x.cumsum(1.0), TypeError, "^cumsum: dim must be an integer"),
        (lambda: x.clamp(), ValueError, "^clamp: give min, max or both"),
    ]:
        with pytest.raises(error, match=message):
            call()
