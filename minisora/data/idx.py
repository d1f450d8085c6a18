"""MNIST-style IDX files (MNIST, Fashion-MNIST, KMNIST) read from a folder you name; no download.

An IDX file is a 4-byte magic number, then one big-endian uint32 per dimension, then the data:

    magic = 0x00 0x00 <type code> <number of dims>      type 0x08 = unsigned byte
    images: dims (count, rows, columns)                 labels: dims (count,)

Files may be gzip-compressed (name ending in .gz). The standard file names are looked up:
train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte.
"""
import gzip
import os

import numpy as np

from .. import errors
from .dataset import TensorDataset

TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
         0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
         "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot"]


def read_idx(path):
    """The array stored in one IDX file (gzip or plain), with its shape and type from the header."""
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as handle:
            raw = handle.read()
    except (OSError, EOFError) as error:
        raise errors.ValueError(f"read_idx: cannot read {path}: {error}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in TYPES:
        raise errors.ValueError(f"read_idx: {path} is not an IDX file (bad magic number {raw[:4].hex() or 'empty'})")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise errors.ValueError(f"read_idx: {path} is truncated inside its header")
    shape = tuple(int(n) for n in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(TYPES[raw[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != expected:
        raise errors.ValueError(f"read_idx: {path} should hold {expected} data bytes for shape {shape}, "
                                f"it holds {len(raw) - header} (truncated or not an IDX file)")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def find(folder, name):
    for candidate in (name, name + ".gz", name.replace("-idx", ".idx"), name.replace("-idx", ".idx") + ".gz"):
        path = os.path.join(folder, candidate)
        if os.path.exists(path):
            return path
    raise FileNotFoundError(
        f"mnist: no '{name}' (or '{name}.gz') in {folder}; put the four IDX files of MNIST or "
        "Fashion-MNIST there (train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-...)")


def mnist(folder, split="train", classes=None):
    """Images scaled to [0, 1] as float32 (count, rows, columns) and int64 labels, from `folder`."""
    if split not in FILES:
        raise errors.ValueError(f"mnist: split must be 'train' or 'test', got {split!r}")
    if not folder or not os.path.isdir(folder):
        raise FileNotFoundError(f"mnist: data folder {folder!r} does not exist (pass the folder with the IDX files)")
    images_name, labels_name = FILES[split]
    images, labels = read_idx(find(folder, images_name)), read_idx(find(folder, labels_name))
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise errors.ValueError(f"mnist: images {images.shape} and labels {labels.shape} in {folder} do not match "
                                "(expected (count, rows, columns) and (count,))")
    images = images.astype(np.float32) / 255.0
    names = classes or [str(c) for c in range(int(labels.max()) + 1 if len(labels) else 10)]
    return TensorDataset(images, labels.astype(np.int64), classes=names, name=f"mnist-{split}")
