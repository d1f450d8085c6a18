"""RMSprop (Hinton's lecture 6e, PyTorch's update): divide the step by a running RMS of g.

    g  = dL/dp + weight_decay p
    s  = alpha s + (1 - alpha) g^2                 running mean of g^2
    a  = a + (1 - alpha) (g - a)                   running mean of g (centered only)
    r  = sqrt(s - a^2) + eps   (centered)    or    r = sqrt(s) + eps
    b  = momentum b + g / r,   p = p - lr b        (momentum > 0)
    p  = p - lr g / r                              (momentum = 0)
"""
import math

from ..backends.gpu import cuda, gpu_kernel, launch_over_tensors
from ..backends.kernel import kernel, scalar
from .optimizer import Optimizer


def rmsprop_reference(param, grad, square_avg, grad_avg, buffer, lr=1e-2, alpha=0.99, eps=1e-8,
                      weight_decay=0.0, momentum=0.0, centered=False):
    """NumPy form of one step; returns the new (param, square_avg, grad_avg, buffer)."""
    grad = grad + weight_decay * param
    square_avg = alpha * square_avg + (1 - alpha) * grad * grad
    if centered:
        grad_avg = grad_avg + (1 - alpha) * (grad - grad_avg)
        rms = (square_avg - grad_avg * grad_avg) ** 0.5 + eps
    else:
        rms = square_avg ** 0.5 + eps
    if momentum > 0:
        buffer = momentum * buffer + grad / rms
        return param - lr * buffer, square_avg, grad_avg, buffer
    return param - lr * grad / rms, square_avg, grad_avg, buffer


@scalar
def rmsprop_update(i, param, grad, square_avg, grad_avg, buffer, lr, alpha, eps, weight_decay, momentum, centered):
    """The update of element i: written once, looped over by the CPU kernel, one GPU thread each."""
    g = grad[i] + weight_decay * param[i]
    square_avg[i] = alpha * square_avg[i] + (1.0 - alpha) * g * g
    if centered:
        grad_avg[i] += (1.0 - alpha) * (g - grad_avg[i])
        rms = math.sqrt(square_avg[i] - grad_avg[i] * grad_avg[i]) + eps
    else:
        rms = math.sqrt(square_avg[i]) + eps
    if momentum > 0.0:
        buffer[i] = momentum * buffer[i] + g / rms
        param[i] -= lr * buffer[i]
    else:
        param[i] -= lr * g / rms


@kernel
def rmsprop_kernel(count, params, grads, square_avgs, grad_avgs, buffers, lr, alpha, eps, weight_decay, momentum,
                   centered):
    for t in range(count):
        param, grad, square_avg, grad_avg, buffer = params[t], grads[t], square_avgs[t], grad_avgs[t], buffers[t]
        for i in range(param.size):
            rmsprop_update(i, param, grad, square_avg, grad_avg, buffer, lr, alpha, eps, weight_decay, momentum,
                           centered)


@gpu_kernel
def rmsprop_gpu(chunks, params, grads, square_avgs, grad_avgs, buffers, lr, alpha, eps, weight_decay, momentum,
                centered):
    for c in range(cuda.blockIdx.x, chunks.shape[0], cuda.gridDim.x):
        t = chunks[c, 0]
        param, grad, square_avg, grad_avg, buffer = params[t], grads[t], square_avgs[t], grad_avgs[t], buffers[t]
        for i in range(chunks[c, 1] + cuda.threadIdx.x, chunks[c, 2], cuda.blockDim.x):
            rmsprop_update(i, param, grad, square_avg, grad_avg, buffer, lr, alpha, eps, weight_decay, momentum,
                           centered)


@rmsprop_kernel.gpu
def launch_rmsprop(count, params, *arguments):
    launch_over_tensors(rmsprop_gpu, count, params, *arguments)


class RMSprop(Optimizer):
    defaults = {"lr": 1e-2, "alpha": 0.99, "eps": 1e-8, "weight_decay": 0.0, "momentum": 0.0, "centered": False}
    kernels = (rmsprop_kernel,)

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False):
        super().__init__(params, lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                         momentum=momentum, centered=centered)

    def check(self, hyper):
        super().check(hyper)
        self.require_non_negative(hyper, "alpha", "eps", "weight_decay", "momentum")

    def initial_state(self, parameter, group):
        return {"step": 0, "square_avg": self.zeros(parameter),
                "grad_avg": self.zeros(parameter) if group["centered"] else None,
                "momentum_buffer": self.zeros(parameter) if group["momentum"] > 0 else None}

    def update(self, batch, group):
        batch[0][0].backend.run(
            rmsprop_kernel, len(batch),
            *self.arrays(batch, "param", "grad", "square_avg", "grad_avg", "momentum_buffer"),
            float(group["lr"]), float(group["alpha"]), float(group["eps"]), float(group["weight_decay"]),
            float(group["momentum"]), bool(group["centered"]),
        )
        for _, _, state in batch:
            state["step"] += 1
