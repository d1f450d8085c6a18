"""Gradient checking: compare backward() with central finite differences, in float64.

For a function f and a fixed random weight g of f's output shape we differentiate the scalar
L(x) = sum(f(x) * g). Never plain sum(f(x)): the gradient of sum(softmax(x)) is zero for any
x, so a backward that returns zeros would pass.

    numeric  dL/dx_i ~ (L(x + eps e_i) - L(x - eps e_i)) / (2 eps)        error O(eps^2)
    pass     |analytic - numeric| <= atol + rtol |numeric|   for every element

Relative error |a - n| / max(|a|, |n|) reads (CS231n): > 1e-2 wrong, < 1e-7 good.
At a kink (ReLU at 0, a tie in max) the slopes from the left and the right differ; the
report warns there instead of blaming the backward.
"""
from dataclasses import dataclass, field

import numpy as np

from . import autograd, errors
from .tensor import Tensor


@dataclass
class InputReport:
    index: int
    shape: tuple
    max_abs_error: float
    max_rel_error: float
    worst_index: tuple
    analytic: float
    numeric: float
    passed: bool


@dataclass
class GradcheckReport:
    inputs: list
    passed: bool
    warnings: list = field(default_factory=list)

    def __bool__(self):
        return self.passed

    @property
    def max_rel_error(self):
        return max((r.max_rel_error for r in self.inputs), default=0.0)

    def __str__(self):
        lines = [f"gradcheck {'PASSED' if self.passed else 'FAILED'} (max relative error {self.max_rel_error:.2e})"]
        for r in self.inputs:
            lines.append(
                f"  input {r.index} {r.shape}: max abs error {r.max_abs_error:.2e}, max rel error "
                f"{r.max_rel_error:.2e} at {r.worst_index} (analytic {r.analytic:.6g}, numeric {r.numeric:.6g})"
                f"{'' if r.passed else '  <-- mismatch'}"
            )
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)

    __repr__ = __str__


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, seed=0):
    """Check fn's backward against finite differences for every input that requires grad.

    `inputs`: a tensor or a sequence of tensors/arrays; float64 only. Returns a report that is
    truthy when every element of every gradient agrees.
    """
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    tensors = []
    for i, value in enumerate(inputs):
        t = value if isinstance(value, Tensor) else Tensor(value, requires_grad=np.asarray(value).dtype.kind == "f")
        if t.requires_grad and t.dtype != np.float64:
            raise errors.TypeError(
                f"gradcheck: input {i} is {t.dtype}; finite differences need float64 "
                "(in float32 the rounding error of f swamps eps): pass .double() inputs"
            )
        tensors.append(t)
    checked = [i for i, t in enumerate(tensors) if t.requires_grad]
    if not checked:
        raise errors.ValueError("gradcheck: no input requires grad, so there is nothing to check")

    leaves = [Tensor(t.data, requires_grad=t.requires_grad) for t in tensors]
    output = fn(*leaves)
    if not isinstance(output, Tensor):
        raise errors.TypeError(f"gradcheck: fn must return a Tensor, got {type(output).__name__}")
    weight = np.random.default_rng(seed).standard_normal(output.shape)

    def loss(arrays):
        with autograd.no_grad():
            out = fn(*(Tensor(a, requires_grad=False) for a in arrays))
        return float(np.sum(out.numpy().astype(np.float64) * weight))

    (output * Tensor(weight)).sum().backward()
    arrays = [t.numpy().copy() for t in tensors]
    base = loss(arrays)
    reports, warnings = [], []
    for i in checked:
        grad = leaves[i].grad
        analytic = np.zeros(arrays[i].shape) if grad is None else grad.numpy().astype(np.float64)
        numeric = np.zeros(arrays[i].shape)
        kinks = []
        for position in np.ndindex(arrays[i].shape):
            original = arrays[i][position]
            arrays[i][position] = original + eps
            plus = loss(arrays)
            arrays[i][position] = original - eps
            minus = loss(arrays)
            arrays[i][position] = original
            numeric[position] = (plus - minus) / (2 * eps)
            right, left = (plus - base) / eps, (base - minus) / eps
            if abs(right - left) > 1e-3 * (1 + abs(numeric[position])) and abs(right - left) > 100 * eps:
                kinks.append(position)
        reports.append(compare(i, analytic, numeric, atol, rtol))
        if kinks:
            warnings.append(
                f"input {i}: {len(kinks)} element(s) sit within eps of a kink, e.g. {kinks[0]}: "
                "the slopes from the left and the right differ there, so finite differences are unreliable"
            )
    return GradcheckReport(reports, all(r.passed for r in reports), warnings)


def compare(index, analytic, numeric, atol, rtol):
    abs_error = np.abs(analytic - numeric)
    scale = np.maximum(np.abs(analytic), np.abs(numeric))
    rel_error = np.where(scale > 0, abs_error / np.where(scale > 0, scale, 1), 0.0)
    if analytic.size == 0:
        return InputReport(index, analytic.shape, 0.0, 0.0, (), 0.0, 0.0, True)
    worst = np.unravel_index(int(np.argmax(abs_error - (atol + rtol * np.abs(numeric)))), analytic.shape)
    passed = bool(np.all(abs_error <= atol + rtol * np.abs(numeric)))
    return InputReport(index, analytic.shape, float(abs_error.max()), float(rel_error.max()),
                       tuple(int(k) for k in worst), float(analytic[worst]), float(numeric[worst]), passed)
