import numpy as np
import pytest
from hypothesis import given, strategies as st

import minisora as ms
from minisora.backends.layout import reshaped_strides
from minisora.particles import get
from helpers import DEVICES, LAYOUTS, check_against_reference, check_gradcheck, layout_tensor, shapes, values


@pytest.mark.parametrize("device", DEVICES)
@given(shape=shapes(max_dims=4), seed=st.integers(0, 2**16), layout=st.sampled_from(LAYOUTS),
       dtype=st.sampled_from(["float32", "float64"]))
def test_reshape_and_permute_match_reference(device, shape, seed, layout, dtype):
    x = values(seed, shape)
    check_against_reference(get("reshape"), lambda t: t.reshape(-1), [x], {"shape": (-1,)}, dtype, [layout], device=device)
    order = tuple(np.random.default_rng(seed).permutation(len(shape)))
    check_against_reference(get("permute"), lambda t: t.permute(*order), [x], {"dims": order}, dtype, [layout])


@pytest.mark.parametrize("device", DEVICES)
@given(shape=shapes(max_dims=3), seed=st.integers(0, 2**16), layout=st.sampled_from(LAYOUTS),
       dtype=st.sampled_from(["float32", "float64"]), count=st.integers(1, 3), data=st.data())
def test_cat_and_stack_match_reference(device, shape, seed, layout, dtype, count, data):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    arrays = [values(seed + k, shape) for k in range(count)]
    check_against_reference(get("cat"), lambda *ts: ms.cat(ts, dim=dim), arrays, {"dim": dim}, dtype, [layout] * count, device=device)
    check_against_reference(get("stack"), lambda *ts: ms.stack(ts, dim=dim), arrays, {"dim": dim}, dtype, [layout] * count)


@given(shape=shapes(max_dims=3), seed=st.integers(0, 2**16), layout=st.sampled_from(LAYOUTS),
       dtype=st.sampled_from(["float32", "float64"]), data=st.data())
def test_split_matches_reference(shape, seed, layout, dtype, data):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    cuts = sorted(data.draw(st.lists(st.integers(0, shape[dim]), max_size=3)))
    sizes = list(np.diff([0, *cuts, shape[dim]]))          # zero-length pieces included
    used = data.draw(st.lists(st.booleans(), min_size=len(sizes), max_size=len(sizes)))
    x, plain = layout_tensor(values(seed, shape), layout, dtype)
    split = get("split")
    pieces = x.split(sizes, dim)
    expected = split.reference(plain, sizes, dim)
    assert len(pieces) == len(expected)
    for piece, want in zip(pieces, expected):
        np.testing.assert_array_equal(piece.numpy(), want)   # views: the very numbers
        assert piece.dtype == np.dtype(dtype)
    rng = np.random.default_rng(seed + 1)
    grads = [rng.standard_normal(p.shape).astype(dtype) if use else np.zeros(p.shape, dtype)
             for p, use in zip(pieces, used)]
    loss = sum(((p * ms.tensor(g)).sum() for p, g, use in zip(pieces, grads, used) if use), ms.tensor(0.0))
    if not any(used):
        return
    loss.backward()
    np.testing.assert_array_equal(x.grad.numpy(), split.reference_backward(plain, grads, sizes, dim)[0])


def test_split_gradcheck_with_pieces_used_apart_and_unused():
    a = values(5, (3, 5))
    check_gradcheck(lambda t: ms.cat([p * (k + 2) for k, p in enumerate(t.split([2, 1, 2], dim=1))], dim=1), [a])
    check_gradcheck(lambda t: t.split(2, dim=0)[1] * 3, [a])                 # the first piece unused
    check_gradcheck(lambda t: (lambda p, q: p @ q.T)(*t.split([2, 1], dim=0)), [a])   # one product of both
    check_gradcheck(lambda t: t.chunk(2, dim=1)[0][:, 1:].exp() + t.chunk(2, dim=1)[1], [a])   # two calls


def test_split_and_chunk_cut_as_pytorch_does():
    x = ms.arange(5.0)
    assert [p.tolist() for p in x.split(2)] == [[0, 1], [2, 3], [4]]
    assert [p.shape for p in ms.split(ms.ones(4, 5), [1, 4], dim=1)] == [(4, 1), (4, 4)]
    assert [p.tolist() for p in x.chunk(3)] == [[0, 1], [2, 3], [4]]
    assert [p.shape for p in ms.chunk(ms.ones(4, 6), 4, dim=0)] == [(1, 6)] * 4
    assert [p.shape for p in ms.ones(4).chunk(3)] == [(2,), (2,)]        # fewer pieces, as in PyTorch
    assert [p.shape for p in ms.ones(0, 2).split(3)] == [(0, 2)]


@given(shape=shapes(max_dims=4), seed=st.integers(0, 2**16), data=st.data())
def test_reshaped_strides_follow_numpy(shape, seed, data):
    # a strided view (permuted, every other element along one dim), then a new shape of its size:
    # a view exactly when NumPy makes one, with NumPy's strides on every dim longer than 1
    rng = np.random.default_rng(seed)
    step = [1] * len(shape)
    step[rng.integers(len(shape))] = data.draw(st.sampled_from([1, 2]))
    base = np.arange(np.prod([n * s for n, s in zip(shape, step)]), dtype=np.float64)
    view = base.reshape([n * s for n, s in zip(shape, step)])[tuple(slice(None, None, s) for s in step)]
    view = view.transpose(rng.permutation(len(shape)))
    sides = data.draw(st.permutations([d for n in view.shape for d in factors(n)]))
    new_shape = tuple(sides) + (1,) * data.draw(st.integers(0, 1))
    reshaped = view.reshape(new_shape)
    strides = reshaped_strides(view.shape, tuple(s // 8 for s in view.strides), new_shape)
    if not np.shares_memory(reshaped, base) or view.size <= 1:
        assert strides is None or view.size <= 1
        return
    assert strides is not None, (view.shape, view.strides, new_shape)
    for n, mine, theirs in zip(new_shape, strides, reshaped.strides):
        assert n == 1 or mine * 8 == theirs


def factors(n):
    """n as its prime factors (1 for 1)."""
    found, p = [], 2
    while n > 1:
        while n % p == 0:
            found.append(p)
            n //= p
        p += 1
    return found or [1]


def test_joined_view_only_for_pieces_side_by_side():
    backend = ms.backends.get("cpu")
    memory = np.arange(24.0).reshape(2, 3, 4)
    pieces = [memory[..., :1], memory[..., 1:3], memory[..., 3:]]
    joined = backend.joined_view(pieces, 2)
    assert np.shares_memory(joined, memory) and (joined == memory).all()
    assert backend.joined_view(pieces[::-1], 2) is None                # out of order
    assert backend.joined_view([pieces[0], pieces[2]], 2) is None      # a gap
    assert backend.joined_view([pieces[0], pieces[1].copy()], 2) is None   # another memory
    assert backend.joined_view([memory[0], memory[1]], 1) is None      # side by side along 0, not 1
    assert (backend.joined_view([memory[0], memory[1]], 0) == np.concatenate([memory[0], memory[1]])).all()
    assert (backend.joined_view([memory[:1], memory[1:]], 0) == memory).all()


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


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("index", INDEXES, ids=[str(i) for i in range(len(INDEXES))])
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_indexing_matches_reference(device, index, layout, dtype):
    check_against_reference(get("index"), lambda t: t[index], [values(3, (3, 4))], {"index": index}, dtype, [layout], device=device)


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


def test_bad_splits_name_the_particle():
    with pytest.raises(ValueError, match=r"^split: sizes \[1, 1\] must be >= 0 and add up to 3, the length of dim 1 "
                                         r"of float32\[2, 3\]"):
        ms.ones(2, 3).split([1, 1], dim=1)
    with pytest.raises(ValueError, match=r"^split: sizes \[4, -1\]"):
        ms.ones(3).split([4, -1])
    with pytest.raises(IndexError, match=r"^split: dim 2 is out of range for float32\[2, 3\]"):
        ms.ones(2, 3).split(1, dim=2)
    with pytest.raises(IndexError, match=r"^split: dim 0 is out of range for float32\[\]"):
        ms.tensor(1.0).split(1)
    with pytest.raises(ValueError, match=r"^split: the piece length must be positive, got 0"):
        ms.ones(3).split(0)
    with pytest.raises(ValueError, match=r"^chunk: the number of chunks must be positive, got 0"):
        ms.ones(3).chunk(0)


def test_bad_shapes_name_the_particle():
    with pytest.raises(ValueError, match=r"^reshape: cannot reshape float32\[2, 3\] \(6 elements\) to \(4, 2\)"):
        ms.ones(2, 3).reshape(4, 2)
    with pytest.raises(ValueError, match=r"^cat: tensors must have the same shape except along dim 0"):
        ms.cat([ms.ones(2, 3), ms.ones(2, 4)])
    with pytest.raises(ValueError, match=r"^stack: tensors must have the same shape"):
        ms.stack([ms.ones(2), ms.ones(3)])
    with pytest.raises(IndexError, match=r"^permute: dims \(0, 0\) are not a reordering"):
        ms.ones(2, 3).permute(0, 0)
