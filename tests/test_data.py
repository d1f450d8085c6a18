"""Datasets, splits, the DataLoader, and the IDX reader on small files the tests write."""
import gzip
import os

import numpy as np
import pytest
from hypothesis import given, strategies as st

import minisora as ms
from minisora import data


@given(size=st.integers(1, 40), batch=st.integers(1, 12), shuffle=st.booleans(), drop_last=st.booleans(),
       seed=st.integers(0, 99))
def test_every_sample_once_per_epoch(size, batch, shuffle, drop_last, seed):
    dataset = data.TensorDataset(np.arange(size, dtype=np.float32)[:, None], np.arange(size))
    if drop_last and size < batch:
        assert len(data.DataLoader(dataset, batch, drop_last=True)) == 0
        return
    loader = data.DataLoader(dataset, batch, shuffle=shuffle, drop_last=drop_last, seed=seed)
    for _ in range(2):
        batches = list(loader)
        assert len(batches) == len(loader)
        seen = np.concatenate([y.numpy() for _, y in batches])
        if drop_last:
            assert len(seen) == (size // batch) * batch and len(set(seen)) == len(seen)
        else:
            assert sorted(seen) == list(range(size))
        for x, y in batches:
            assert x.shape == (len(y), 1) and x.dtype == np.float32 and y.dtype == np.int64
            np.testing.assert_array_equal(x.numpy()[:, 0], y.numpy())   # fields stay paired


def test_shuffle_is_seeded_changes_each_epoch_and_resumes_from_state():
    dataset = data.TensorDataset(np.arange(20))
    order = lambda loader: np.concatenate([b[0].numpy() for b in loader])  # noqa: E731
    a, b = data.DataLoader(dataset, 5, shuffle=True, seed=7), data.DataLoader(dataset, 5, shuffle=True, seed=7)
    first = order(a)
    np.testing.assert_array_equal(first, order(b))
    state = a.state_dict()
    second = order(a)
    assert not np.array_equal(first, second)
    c = data.DataLoader(dataset, 5, shuffle=True, seed=99)
    c.load_state_dict(state)
    np.testing.assert_array_equal(order(c), second)
    ms.manual_seed(123)   # the global generator does not move the loader's order
    np.testing.assert_array_equal(order(data.DataLoader(dataset, 5, shuffle=True, seed=7)), first)


def test_general_dataset_is_collated_sample_by_sample():
    class Squares(data.Dataset):
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return np.array([i, i * i], dtype=np.float32), i

    x, y = next(iter(data.DataLoader(Squares(), 3)))
    np.testing.assert_array_equal(x.numpy(), [[0, 0], [1, 1], [2, 4]])
    assert y.tolist() == [0, 1, 2]


@given(size=st.integers(2, 50), fraction=st.floats(0.05, 0.95), seed=st.integers(0, 9))
def test_random_split_is_a_partition(size, fraction, seed):
    dataset = data.TensorDataset(np.arange(size))
    held_out = max(1, int(size * fraction))
    train, val = data.random_split(dataset, [size - held_out, held_out], seed=seed)
    indices = np.concatenate([train.indices, val.indices])
    assert sorted(indices) == list(range(size)) and len(val) == held_out
    np.testing.assert_array_equal(val.batch(np.arange(len(val)))[0], val.indices)
    again = data.random_split(dataset, [size - held_out, held_out], seed=seed)[1]
    np.testing.assert_array_equal(again.indices, val.indices)


def test_random_split_fractions_and_bad_lengths():
    train, val = data.random_split(data.TensorDataset(np.arange(11)), [0.8, 0.2])
    assert (len(train), len(val)) == (9, 2)
    with pytest.raises(ValueError, match="must be non-negative and sum to the dataset size 11"):
        data.random_split(data.TensorDataset(np.arange(11)), [5, 5])


def test_loader_and_dataset_bad_input():
    with pytest.raises(ValueError, match="DataLoader: batch_size must be a positive int, got 0"):
        data.DataLoader(data.TensorDataset(np.arange(3)), 0)
    with pytest.raises(ValueError, match=r"TensorDataset: arrays have different lengths \[3, 2\]"):
        data.TensorDataset(np.arange(3), np.arange(2))


@pytest.mark.parametrize("make", [data.moons, data.circles, data.spiral])
def test_toy_datasets(make):
    dataset = make(count=101, seed=3)
    x, y = dataset.arrays
    assert x.shape == (101, 2) and x.dtype == np.float32 and y.dtype == np.int64
    assert set(np.bincount(y)) <= {50, 51} and np.isfinite(x).all()
    np.testing.assert_array_equal(make(count=101, seed=3).arrays[0], x)


def test_circles_and_moons_geometry_without_noise():
    x, y = data.circles(count=40, noise=0.0, factor=0.5).arrays
    np.testing.assert_allclose(np.hypot(x[:, 0], x[:, 1]), np.where(y == 0, 1.0, 0.5), rtol=1e-6)
    x, y = data.moons(count=40, noise=0.0).arrays
    np.testing.assert_allclose(np.hypot(x[y == 0, 0], x[y == 0, 1]), 1.0, rtol=1e-6)


def test_digits_is_bundled():
    dataset = data.digits()
    x, y = dataset.arrays
    assert x.shape == (1797, 64) and 0.0 <= x.min() and x.max() == 1.0
    assert sorted(set(y.tolist())) == list(range(10)) and dataset.classes[3] == "3"


def write_idx(path, array, type_code=0x08, compress=False):
    header = bytes([0, 0, type_code, array.ndim]) + np.array(array.shape, dtype=">u4").tobytes()
    payload = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    with (gzip.open if compress else open)(path, "wb") as handle:
        handle.write(payload)


@pytest.mark.parametrize("compress", [False, True])
def test_mnist_from_idx_files(tmp_path, compress):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (7, 4, 3)).astype(np.uint8)
    labels = np.array([3, 1, 0, 9, 2, 2, 5], dtype=np.uint8)
    suffix = ".gz" if compress else ""
    for split in ("train", "test"):
        names = data.idx.FILES[split]
        write_idx(str(tmp_path / (names[0] + suffix)), images, compress=compress)
        write_idx(str(tmp_path / (names[1] + suffix)), labels, compress=compress)
    dataset = data.mnist(str(tmp_path), "test")
    x, y = dataset.arrays
    assert x.shape == (7, 4, 3) and x.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_allclose(x, images / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(y, labels)
    assert dataset.classes == [str(c) for c in range(10)]


def test_read_idx_other_types(tmp_path):
    values = np.arange(6, dtype=np.int32).reshape(2, 3) - 2
    write_idx(str(tmp_path / "ints"), values.astype(">i4"), type_code=0x0C)
    np.testing.assert_array_equal(data.read_idx(str(tmp_path / "ints")), values)


def test_idx_bad_files(tmp_path):
    images = np.zeros((4, 2, 2), np.uint8)
    write_idx(str(tmp_path / "full"), images)
    raw = (tmp_path / "full").read_bytes()
    (tmp_path / "short").write_bytes(raw[:-3])
    with pytest.raises(ValueError, match=r"should hold 16 data bytes for shape \(4, 2, 2\), it holds 13"):
        data.read_idx(str(tmp_path / "short"))
    (tmp_path / "junk").write_bytes(b"PK\x03\x04 not idx")
    with pytest.raises(ValueError, match="is not an IDX file"):
        data.read_idx(str(tmp_path / "junk"))
    with pytest.raises(FileNotFoundError, match="no 'train-images-idx3-ubyte'"):
        data.mnist(str(tmp_path), "train")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        data.mnist(str(tmp_path / "missing"))
    names = data.idx.FILES["train"]
    write_idx(str(tmp_path / names[0]), images)
    write_idx(str(tmp_path / names[1]), np.zeros(3, np.uint8))
    with pytest.raises(ValueError, match=r"images \(4, 2, 2\) and labels \(3,\)"):
        data.mnist(str(tmp_path), "train")
    assert os.path.exists(tmp_path / names[0])
