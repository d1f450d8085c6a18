"""DataLoader: a dataset in mini-batches, reshuffled every epoch by its own seeded generator, each
batch's inputs passed through `transform` when one is given (augmentation: data/transforms.py).

Its generator belongs to the loader (not the global one), so dropout or initialisation drawing
random numbers never changes the order of the data, and `state_dict()` captures exactly where
the shuffling stands (a checkpoint resumes mid-run with the same batches).
"""
import math

import numpy as np

from .. import errors
from ..tensor import Tensor


class DataLoader:
    def __init__(self, dataset, batch_size=1, shuffle=False, drop_last=False, seed=0, transform=None):
        if int(batch_size) < 1:
            raise errors.ValueError(f"DataLoader: batch_size must be a positive int, got {batch_size!r}")
        if len(dataset) == 0:
            raise errors.ValueError("DataLoader: the dataset is empty")
        self.dataset, self.batch_size = dataset, int(batch_size)
        self.shuffle, self.drop_last = bool(shuffle), bool(drop_last)
        self.generator = np.random.default_rng(seed)
        self.transform = transform   # (batch of inputs, this loader's generator) -> inputs: data/transforms.py

    def __len__(self):
        count = len(self.dataset) / self.batch_size
        return math.floor(count) if self.drop_last else math.ceil(count)

    def __iter__(self):
        size = len(self.dataset)
        order = self.generator.permutation(size) if self.shuffle else np.arange(size)
        for batch in range(len(self)):
            indices = order[batch * self.batch_size:(batch + 1) * self.batch_size]
            fields = self.dataset.batch(indices)
            if self.transform is not None:   # on the inputs (the first field), drawing from this loader's generator
                fields = (self.transform(fields[0], self.generator),) + fields[1:] if isinstance(fields, tuple) \
                    else self.transform(fields, self.generator)
            if isinstance(fields, tuple):
                yield tuple(Tensor(f) for f in fields)
            else:
                yield Tensor(fields)

    def state_dict(self):
        """The shuffling generator's state (JSON-friendly)."""
        return {"generator": self.generator.bit_generator.state}

    def load_state_dict(self, state):
        self.generator.bit_generator.state = state["generator"]
