"""Datasets: anything with len() and [i], plus the two every course needs.

    TensorDataset(x, y)       rows of equal-length arrays, sample i is (x[i], y[i])
    random_split(d, [a, b])   a seeded, non-overlapping split (train / validation)
"""
import math

import numpy as np

from .. import errors
from ..tensor import Tensor


class Dataset:
    """Subclasses define __len__ and __getitem__(i) -> a sample (a tuple of arrays or numbers)."""

    def __len__(self):
        raise NotImplementedError

    def __getitem__(self, index):
        raise NotImplementedError

    def batch(self, indices):
        """The samples at `indices`, stacked field by field (TensorDataset does this in one gather)."""
        samples = [self[int(i)] for i in indices]
        if not isinstance(samples[0], tuple):
            return np.stack([np.asarray(s) for s in samples])
        return tuple(np.stack([np.asarray(s[field]) for s in samples]) for field in range(len(samples[0])))


class TensorDataset(Dataset):
    """Arrays (NumPy or tensors) that share their first dim; sample i is the tuple of their i-th rows."""

    def __init__(self, *arrays, classes=None, name="tensors"):
        if not arrays:
            raise errors.ValueError("TensorDataset: give at least one array")
        self.arrays = tuple(a.numpy() if isinstance(a, Tensor) else np.asarray(a) for a in arrays)
        lengths = {len(a) for a in self.arrays}
        if len(lengths) != 1:
            raise errors.ValueError(f"TensorDataset: arrays have different lengths {[len(a) for a in self.arrays]}")
        self.classes, self.name = classes, name

    def __len__(self):
        return len(self.arrays[0])

    def __getitem__(self, index):
        return tuple(a[index] for a in self.arrays)

    def batch(self, indices):
        return tuple(a[indices] for a in self.arrays)

    def __repr__(self):
        shapes = ", ".join(f"{a.dtype}{list(a.shape)}" for a in self.arrays)
        return f"TensorDataset({self.name}: {shapes})"


class Subset(Dataset):
    def __init__(self, dataset, indices):
        self.dataset, self.indices = dataset, np.asarray(indices, dtype=np.int64)
        self.classes = getattr(dataset, "classes", None)

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, index):
        return self.dataset[int(self.indices[index])]

    def batch(self, indices):
        return self.dataset.batch(self.indices[indices])


def random_split(dataset, lengths, seed=0):
    """Split into non-overlapping Subsets of the given lengths (or fractions summing to 1), shuffled by `seed`."""
    total = len(dataset)
    lengths = list(lengths)
    if all(isinstance(n, float) for n in lengths) and math.isclose(sum(lengths), 1.0):
        counts = [int(math.floor(total * f)) for f in lengths]
        for i in range(total - sum(counts)):   # hand the remainder out one by one, as PyTorch does
            counts[i % len(counts)] += 1
        lengths = counts
    if any(n < 0 for n in lengths) or sum(lengths) != total:
        raise errors.ValueError(f"random_split: lengths {lengths} must be non-negative and sum to the dataset size {total}")
    order = np.random.default_rng(seed).permutation(total)
    subsets, start = [], 0
    for n in lengths:
        subsets.append(Subset(dataset, order[start:start + n]))
        start += n
    return subsets
