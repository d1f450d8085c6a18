"""Gradient clipping by the global norm (PyTorch's clip_grad_norm_).

    N     = ( sum over every gradient element g of |g|^n )^(1/n)      (n = norm_type; n = inf: max |g|)
    scale = min(1, max_norm / (N + 1e-6))
    g     = g * scale                                                   for every gradient

All gradients shrink by the same factor, so the direction of the step is kept; only its
length is capped. The norm is returned (before clipping) so a training loop can log it.
"""
import math

import numpy as np
from numba import float64

from ..backends.gpu import SCRATCH, block_max, block_sum, cuda, gpu_kernel, launch_elementwise
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


@gpu_kernel
def norm_power_sum_gpu(grad, power, total):
    """Each block combines its threads' partial sums (or maxima), then adds into total[0] atomically."""
    scratch = cuda.shared.array(SCRATCH, float64)
    start, step = cuda.grid(1), cuda.gridsize(1)
    partial = 0.0
    for i in range(start, grad.size, step):
        value = abs(float64(grad[i]))
        partial = max(partial, value) if math.isinf(power) else partial + value ** power
    if math.isinf(power):
        partial = block_max(partial, scratch)
        if cuda.threadIdx.x == 0:
            cuda.atomic.max(total, 0, partial)
    else:
        partial = block_sum(partial, scratch)
        if cuda.threadIdx.x == 0:
            cuda.atomic.add(total, 0, partial)


@gpu_kernel
def scale_gpu(grad, factor):
    start, step = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, grad.size, step):
        grad[i] *= factor


@norm_power_sum_kernel.gpu
def launch_norm_power_sum(grad, power):
    total = cuda.to_device(np.zeros(1, np.float64))
    launch_elementwise(norm_power_sum_gpu, grad.size, grad, power, total)
    return float(total.copy_to_host()[0])


@scale_kernel.gpu
def launch_scale(grad, factor):
    launch_elementwise(scale_gpu, grad.size, grad, factor)


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
