"""Long-memory problems for recurrent networks, generated at any length T (no download).

Both come from Hochreiter & Schmidhuber's LSTM paper (1997): the answer depends on a few inputs
far apart, with noise between them, so a network must carry what it saw across T steps.

adding problem (experiment 4, in the form Le, Jaitly & Hinton 2015 use)
    x (T, 2) per sequence: channel 0 holds T numbers drawn from U(0, 1); channel 1 is 0 except for
    two 1s, one in the first half and one in the second. The target is the sum of the two marked
    numbers. Always answering 1 (their mean) scores an MSE of Var(U1 + U2) = 2/12 = 0.167: a
    network below it has learned to remember.
temporal order (experiment 6a)
    a sequence of symbols: B (start), then random noise symbols a, b, c, d, except for two
    relevant ones, each X or Y, one at a step in [0.1 T, 0.2 T) and one in [0.5 T, 0.6 T), then E
    (end). The class is their order: XX, XY, YX or YY.
"""
import numpy as np

from .. import errors
from .dataset import TensorDataset

TEMPORAL_SYMBOLS = ("a", "b", "c", "d", "X", "Y", "B", "E")
TEMPORAL_CLASSES = ("XX", "XY", "YX", "YY")


def checked(name, count, length, shortest):
    if int(count) < 1 or int(length) < shortest:
        raise errors.ValueError(f"{name}: needs count >= 1 and length >= {shortest}, got count={count}, length={length}")
    return int(count), int(length)


def adding_problem(count=1000, length=100, seed=0):
    """TensorDataset of x float32 (count, length, 2) and y float32 (count,), the sum of the two
    marked numbers (see the module docstring)."""
    count, length = checked("adding_problem", count, length, 2)
    rng = np.random.default_rng(seed)
    values = rng.uniform(0.0, 1.0, (count, length))
    half = length // 2
    first, second = rng.integers(0, half, count), rng.integers(half, length, count)
    markers = np.zeros((count, length))
    rows = np.arange(count)
    markers[rows, first] = markers[rows, second] = 1.0
    x = np.stack([values, markers], axis=-1).astype(np.float32)
    y = (values[rows, first] + values[rows, second]).astype(np.float32)
    return TensorDataset(x, y, name=f"adding problem T={length}")


def temporal_order(count=1000, length=100, seed=0):
    """TensorDataset of symbol ids int64 (count, length) (TEMPORAL_SYMBOLS) and the class int64
    (count,) of the order of the two relevant symbols (TEMPORAL_CLASSES)."""
    count, length = checked("temporal_order", count, length, 10)
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, 4, (count, length))   # noise: a, b, c, d
    ids[:, 0], ids[:, -1] = TEMPORAL_SYMBOLS.index("B"), TEMPORAL_SYMBOLS.index("E")
    rows = np.arange(count)
    first = rng.integers(length // 10, max(length // 5, length // 10 + 1), count)
    second = rng.integers(length // 2, max(length * 6 // 10, length // 2 + 1), count)
    which = rng.integers(0, 2, (count, 2))   # 0: X, 1: Y
    ids[rows, first], ids[rows, second] = 4 + which[:, 0], 4 + which[:, 1]
    labels = (2 * which[:, 0] + which[:, 1]).astype(np.int64)
    return TensorDataset(ids.astype(np.int64), labels, classes=list(TEMPORAL_CLASSES), name=f"temporal order T={length}")
