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

from .. import errors
from ..backends.gpu import SCRATCH, block_max, block_sum, cuda, gpu_kernel, launch_over_tensors
from ..backends.kernel import kernel
from ..tensor import Tensor
from .optimizer import in_calls, padded


@kernel
def norm_power_sum_kernel(count, grads, power):
    """sum |g|^power over the first `count` gradients, in float64 (power = inf: max |g|)."""
    total = 0.0
    for t in range(count):
        grad = grads[t]
        if math.isinf(power):
            for i in range(grad.size):
                total = max(total, abs(grad[i]))
        else:
            for i in range(grad.size):
                total += abs(grad[i]) ** power
    return total


@kernel
def scale_kernel(count, grads, factor):
    for t in range(count):
        grad = grads[t]
        for i in range(grad.size):
            grad[i] *= factor


@gpu_kernel
def norm_power_sum_gpu(chunks, grads, power, total):
    """Each block combines its threads' partial sums (or maxima), then adds into total[0] atomically."""
    scratch = cuda.shared.array(SCRATCH, float64)
    partial = 0.0
    for c in range(cuda.blockIdx.x, chunks.shape[0], cuda.gridDim.x):
        grad = grads[chunks[c, 0]]
        for i in range(chunks[c, 1] + cuda.threadIdx.x, chunks[c, 2], cuda.blockDim.x):
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
def scale_gpu(chunks, grads, factor):
    for c in range(cuda.blockIdx.x, chunks.shape[0], cuda.gridDim.x):
        grad = grads[chunks[c, 0]]
        for i in range(chunks[c, 1] + cuda.threadIdx.x, chunks[c, 2], cuda.blockDim.x):
            grad[i] *= factor


@norm_power_sum_kernel.gpu
def launch_norm_power_sum(count, grads, power):
    total = cuda.to_device(np.zeros(1, np.float64))
    launch_over_tensors(norm_power_sum_gpu, count, grads, power, total)
    return float(total.copy_to_host()[0])


@scale_kernel.gpu
def launch_scale(count, grads, factor):
    launch_over_tensors(scale_gpu, count, grads, factor)


def flat_views(grads):
    return padded((grad.backend.flat(grad.data) for grad in grads), grads[0].backend)


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Scale the gradients of `parameters` in place so their joint norm is at most max_norm; returns the norm."""
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    norm_type, max_norm = float(norm_type), float(max_norm)
    if not (norm_type > 0):
        raise errors.ValueError(f"clip_grad_norm_: norm_type must be positive, got {norm_type}")
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return Tensor(0.0)
    for grad in grads:   # the kernels read and scale through flat views
        if not grad.backend.is_contiguous(grad.data):
            grad.data = grad.backend.contiguous(grad.data)
    calls = in_calls(grads, lambda grad: (grad.backend, grad.dtype))
    per_call = [call[0].backend.run(norm_power_sum_kernel, len(call), flat_views(call), norm_type) for call in calls]
    if math.isinf(norm_type):
        total = max(per_call)
    else:
        total = math.fsum(per_call) ** (1.0 / norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise errors.RuntimeError(f"clip_grad_norm_: the total gradient norm is {total} (NaN or inf in a gradient); "
                                  "pass error_if_nonfinite=False to clip anyway")
    scale = min(1.0, max_norm / (total + 1e-6))
    for call in calls:
        call[0].backend.run(scale_kernel, len(call), flat_views(call), scale)
    return Tensor(np.asarray(total, dtype=grads[0].dtype), device=grads[0].device)
