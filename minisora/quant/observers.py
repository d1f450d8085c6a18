"""Observers: what a quantizer learns from the numbers it watches, the range [lo, hi], and the
scale and zero point that map it onto the integers [qmin, qmax].

    affine      s = (hi - lo) / (qmax - qmin)    z = qmin - round(lo / s)      (lo <= 0 <= hi)
    symmetric   s = max(|lo|, |hi|) / ((qmax - qmin) / 2)    z = 0 (int8)

The range always holds 0, so that 0 (padding, a ReLU's zeros) is exact. PyTorch's formulas, as its
MinMaxObserver / PerChannelMinMaxObserver compute them.

    MinMaxObserver          the smallest and largest number seen (one outlier stretches the range)
    PercentileObserver      each batch's lower and upper percentile, averaged over batches: the
                            rare outliers saturate, the bulk gets finer steps
    MovingAverageObserver   an exponential moving average of each batch's min and max (for QAT,
                            where the activations drift as the weights learn)

They watch NumPy copies of the tensors (a calibration pass, or once a training step).
"""
import numpy as np

from .. import errors
from ..particles.quantization import RANGES

EPS = float(np.finfo(np.float32).eps)


def qparams_from_range(lo, hi, dtype="int8", symmetric=False):
    """(scale float64 array, zero point int64 array) for the ranges lo..hi (arrays, one per channel)."""
    qmin, qmax = RANGES[dtype]
    lo, hi = np.minimum(np.asarray(lo, np.float64), 0.0), np.maximum(np.asarray(hi, np.float64), 0.0)
    if symmetric:
        scale = np.maximum(np.maximum(-lo, hi) / ((qmax - qmin) / 2), EPS)
        zero_point = np.full(scale.shape, 0 if dtype == "int8" else 128, np.int64)
    else:
        scale = np.maximum((hi - lo) / (qmax - qmin), EPS)
        zero_point = np.clip(qmin - np.rint(lo / scale), qmin, qmax).astype(np.int64)
    return np.atleast_1d(scale), np.atleast_1d(zero_point)


class Observer:
    """Watches arrays; `qparams()` gives their scale and zero point. axis=None: one pair for the
    whole tensor; axis=k: one per slice along k (a weight's output channels: axis 0)."""

    def __init__(self, dtype="int8", symmetric=False, axis=None):
        if dtype not in RANGES:
            raise errors.ValueError(f"{type(self).__name__}: dtype must be 'int8' or 'uint8', got {dtype!r}")
        self.dtype, self.symmetric, self.axis = dtype, symmetric, axis
        self.lo = self.hi = None

    def reduce(self, array, how):
        """min/max (or a percentile) over everything but the channel axis."""
        if self.axis is None:
            return np.asarray(how(array.reshape(-1)))
        moved = np.moveaxis(array, self.axis, 0)
        return how(moved.reshape(moved.shape[0], -1), axis=1) if moved.size else np.zeros(moved.shape[0])

    def __call__(self, array):
        array = np.asarray(array, np.float64)
        if array.size == 0:
            return
        finite = np.where(np.isfinite(array), array, 0.0)
        self.update(*self.batch_range(finite))

    def batch_range(self, array):
        return self.reduce(array, np.min), self.reduce(array, np.max)

    def update(self, lo, hi):
        if self.lo is None:
            self.lo, self.hi = lo, hi
        else:
            self.lo, self.hi = np.minimum(self.lo, lo), np.maximum(self.hi, hi)

    @property
    def observed(self):
        return self.lo is not None

    def qparams(self):
        if not self.observed:
            raise errors.RuntimeError(f"{type(self).__name__}: no numbers observed yet; run the calibration batches "
                                      "through the prepared model first")
        return qparams_from_range(self.lo, self.hi, self.dtype, self.symmetric)

    def __repr__(self):
        seen = "nothing yet" if not self.observed else f"range [{np.min(self.lo):.4g}, {np.max(self.hi):.4g}]"
        return f"{type(self).__name__}({self.dtype}, {'symmetric' if self.symmetric else 'affine'}, {seen})"


class MinMaxObserver(Observer):
    pass


class PercentileObserver(Observer):
    def __init__(self, percentile=99.99, dtype="int8", symmetric=False, axis=None):
        super().__init__(dtype, symmetric, axis)
        if not 50.0 < percentile <= 100.0:
            raise errors.ValueError(f"PercentileObserver: percentile must be in (50, 100], got {percentile}")
        self.percentile, self.batches = float(percentile), 0

    def batch_range(self, array):
        return (self.reduce(array, lambda a, axis=None: np.percentile(a, 100.0 - self.percentile, axis=axis)),
                self.reduce(array, lambda a, axis=None: np.percentile(a, self.percentile, axis=axis)))

    def update(self, lo, hi):
        self.batches += 1
        if self.lo is None:
            self.lo, self.hi = lo, hi
        else:   # the running mean of the batches' percentiles
            self.lo = self.lo + (lo - self.lo) / self.batches
            self.hi = self.hi + (hi - self.hi) / self.batches


class MovingAverageObserver(Observer):
    def __init__(self, averaging_constant=0.01, dtype="int8", symmetric=False, axis=None):
        super().__init__(dtype, symmetric, axis)
        self.averaging_constant = float(averaging_constant)

    def update(self, lo, hi):
        if self.lo is None:
            self.lo, self.hi = lo, hi
        else:
            c = self.averaging_constant
            self.lo, self.hi = self.lo + c * (lo - self.lo), self.hi + c * (hi - self.hi)


OBSERVERS = {"minmax": MinMaxObserver, "percentile": PercentileObserver}


def activation_observer(kind="minmax", percentile=99.99):
    """The per-tensor, affine int8 observer of a layer's input, by name."""
    if kind not in OBSERVERS:
        raise errors.ValueError(f"observer must be one of {', '.join(OBSERVERS)}, got {kind!r}")
    return PercentileObserver(percentile) if kind == "percentile" else MinMaxObserver()
