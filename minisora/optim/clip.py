"""Gradient clipping by the global norm (PyTorch's clip_grad_norm_).

    N     = ( sum over every gradient element g of |g|^n )^(1/n)      (n = norm_type; n = inf: max |g|)
    scale = min(1, max_norm / (N + 1e-6))
    g     = g * scale                                                   for every gradient

All gradients shrink by the same factor, so the direction of the step is kept; only its
length is capped. The norm is returned (before clipping) so a training loop can log it.
"""
import math

import numpy as np

from ..backends.kernel import kernel
from ..tensor import Tensor


@kernel
def norm_power_sum_kernel(grad, power):
    """sum |g|^power in float64 (power = inf: max |g|)."""
    total = 0.0
    if math.isinf(power):
        for i in range(grad.size):
            total = max(total, abs(grad[i]))
    else:
        for i in range(grad.size):
            total += abs(grad[i]) ** power
    return total


@kernel
def scale_kernel(grad, factor):
    for i in range(grad.size):
        grad[i] *= factor


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Scale the gradients of `parameters` in place so their joint norm is at most max_norm; returns the norm."""
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    norm_type, max_norm = float(norm_type), float(max_norm)
    if not (norm_type > 0):
        raise ValueError(f"clip_grad_norm_: norm_type must be positive, got {norm_type}")
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return Tensor(0.0)
    per_tensor = []
    for grad in grads:
        backend = grad.backend
        per_tensor.append(backend.run(norm_power_sum_kernel, backend.flat(backend.contiguous(grad.data)), norm_type))
    if math.isinf(norm_type):
        total = max(per_tensor)
    else:
        total = math.fsum(per_tensor) ** (1.0 / norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"clip_grad_norm_: the total gradient norm is {total} (NaN or inf in a gradient); "
                           "pass error_if_nonfinite=False to clip anyway")
    scale = min(1.0, max_norm / (total + 1e-6))
    for grad in grads:
        backend = grad.backend
        if not backend.is_contiguous(grad.data):
            grad.data = backend.contiguous(grad.data)
        backend.run(scale_kernel, backend.flat(grad.data), scale)
    return Tensor(np.asarray(total, dtype=grads[0].dtype), device=grads[0].device)
