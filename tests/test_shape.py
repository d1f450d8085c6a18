import numpy as np
import pytest
from hypothesis import given, strategies as st

import minisora as ms
from minisora.particles import get
from helpers import LAYOUTS, check_against_reference, check_gradcheck, shapes, values


@given(shape=shapes(max_dims=4), seed=st.integers(0, 2**16), layout=st.sampled_from(LAYOUTS),
       dtype=st.sampled_from(["float32", "float64"]))
def test_reshape_and_permute_match_reference(shape, seed, layout, dtype):
    x = values(seed, shape)
    check_against_reference(get("reshape"), lambda t: t.reshape(-1), [x], {"shape": (-1,)}, dtype, [layout])
    order = tuple(np.random.default_rng(seed).permutation(len(shape)))
    check_against_reference(get("permute"), lambda t: t.permute(*order), [x], {"dims": order}, dtype, [layout])


@given(shape=shapes(max_dims=3), seed=st.integers(0, 2**16), layout=st.sampled_from(LAYOUTS),
       dtype=st.sampled_from(["float32", "float64"]), count=st.integers(1, 3), data=st.data())
def test_cat_and_stack_match_reference(shape, seed, layout, dtype, count, data):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    arrays = [values(seed + k, shape) for k in range(count)]
    check_against_reference(get("cat"), lambda *ts: ms.cat(ts, dim=dim), arrays, {"dim": dim}, dtype, [layout] * count)
    check_against_reference(get("stack"), lambda *ts: ms.stack(ts, dim=dim), arrays, {"dim": dim}, dtype, [layout] * count)


INDEXES = [
    (slice(None), 1),
    (Ellipsis, slice(0, None, 2)),
    (0,),
    (None, slice(1, 3)),
    (np.array([0, 0, 2]),),         # repeated ids: backward must add
    (np.array([[1, 0], [1, 1]]), slice(None)),
    (np.array([True, False, True]),),
    (np.array([2, 0]), np.array([1, 1])),
]


@pytest.mark.parametrize("index", INDEXES, ids=[str(i) for i in range(len(INDEXES))])
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_indexing_matches_reference(index, layout, dtype):
    check_against_reference(get("index"), lambda t: t[index], [values(3, (3, 4))], {"index": index}, dtype, [layout])


@pytest.mark.parametrize("index", INDEXES, ids=[str(i) for i in range(len(INDEXES))])
def test_indexing_gradcheck(index):
    check_gradcheck(lambda t: t[index], [values(4, (3, 4))])


def test_gradcheck_reshape_permute_cat_stack():
    a, b = values(0, (2, 3)), values(1, (2, 3))
    check_gradcheck(lambda t: t.reshape(3, 2).T, [a])
    check_gradcheck(lambda s, t: ms.cat([s, t], dim=1), [a, b])
    check_gradcheck(lambda s, t: ms.stack([s, t], dim=2), [a, b])


def test_tensor_index_and_bad_indexes():
    x = ms.tensor(np.arange(12.0).reshape(3, 4))
    assert x[ms.tensor([2, 0])][:, 0].tolist() == [8.0, 0.0]
    with pytest.raises(IndexError, match=r"^index: index 3 is out of bounds .* float64\[3, 4\]"):
        x[3]
    with pytest.raises(IndexError, match=r"^index: index 5 is out of bounds .* float64\[3, 4\]"):
        x[ms.tensor([0, 5])]


def test_bad_shapes_name_the_particle():
    with pytest.raises(ValueError, match=r"^reshape: cannot reshape float32\[2, 3\] \(6 elements\) to \(4, 2\)"):
        ms.ones(2, 3).reshape(4, 2)
    with pytest.raises(ValueError, match=r"^cat: tensors must have the same shape except along dim 0"):
        ms.cat([ms.ones(2, 3), ms.ones(2, 4)])
    with pytest.raises(ValueError, match=r"^stack: tensors must have the same shape"):
        ms.stack([ms.ones(2), ms.ones(3)])
    with pytest.raises(IndexError, match=r"^permute: dims \(0, 0\) are not a reordering"):
        ms.ones(2, 3).permute(0, 0)
