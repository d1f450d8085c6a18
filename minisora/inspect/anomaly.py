"""detect_anomaly(): stop at the first particle whose forward or backward makes a NaN or an inf.

    with ms.inspect.detect_anomaly():
        loss = model(x).log().sum()      # FloatingPointError: log (forward) produced NaN ...
        loss.backward()

The error names the particle, which pass, how many bad values came out, and its inputs (with
their own NaN/inf counts, so you can tell whether the bad numbers started there or earlier).
"""
import contextlib

import numpy as np

from .. import autograd
from ..particles.particle import describe


def bad_counts(array, backend):
    if array is None or not hasattr(array, "dtype") or array.dtype.kind != "f":
        return 0, 0
    values = backend.to_numpy(array)   # (GPU memory: a copy on the host)
    return int(np.isnan(values).sum()), int(np.isinf(values).sum())


def summary(array, backend):
    nans, infs = bad_counts(array, backend)
    extra = f" with {nans} NaN, {infs} inf" if nans or infs else ""
    return describe(array) + extra


def check(phase, ctx, arrays, output, seconds):
    outputs = output if isinstance(output, tuple) else (output,)
    for index, array in enumerate(outputs):
        nans, infs = bad_counts(array, ctx.backend)
        if nans or infs:
            what = "its output" if phase == "forward" else f"the gradient for input {index}"
            inputs = "; ".join(summary(a, ctx.backend) for a in arrays)
            name = ctx.particle.name
            raise FloatingPointError(
                f"{name} ({phase}) produced {nans} NaN and {infs} inf in {what}, {describe(array)}. "
                f"{'Inputs' if phase == 'forward' else 'Gradient arriving'}: {inputs}. Formula: "
                f"{ctx.particle.formula if phase == 'forward' else ctx.particle.gradient}")


@contextlib.contextmanager
def detect_anomaly():
    autograd.observers.append(check)
    try:
        yield
    finally:
        autograd.observers.remove(check)
