"""Adadelta (Zeiler 2012, PyTorch's update): step sizes from running averages, no tuned lr needed.

    g  = dL/dp + weight_decay p
    s  = rho s + (1 - rho) g^2                          running mean of squared gradients
    d  = sqrt(u + eps) / sqrt(s + eps) * g              the step, in the units of p
    u  = rho u + (1 - rho) d^2                          running mean of squared steps
    p  = p - lr d
"""
import math

from .. import errors
from ..backends.gpu import cuda, gpu_kernel, launch_over_tensors
from ..backends.kernel import kernel, scalar
from .optimizer import Optimizer


def adadelta_reference(param, grad, square_avg, acc_delta, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0):
    """NumPy form of one step; returns the new (param, square_avg, acc_delta)."""
    grad = grad + weight_decay * param
    square_avg = rho * square_avg + (1 - rho) * grad * grad
    delta = (acc_delta + eps) ** 0.5 / (square_avg + eps) ** 0.5 * grad
    acc_delta = rho * acc_delta + (1 - rho) * delta * delta
    return param - lr * delta, square_avg, acc_delta


@scalar
def adadelta_update(i, param, grad, square_avg, acc_delta, lr, rho, eps, weight_decay):
    """The update of element i: written once, looped over by the CPU kernel, one GPU thread each."""
    g = grad[i] + weight_decay * param[i]
    square_avg[i] = rho * square_avg[i] + (1.0 - rho) * g * g
    delta = math.sqrt(acc_delta[i] + eps) / math.sqrt(square_avg[i] + eps) * g
    acc_delta[i] = rho * acc_delta[i] + (1.0 - rho) * delta * delta
    param[i] -= lr * delta


@kernel
def adadelta_kernel(count, params, grads, square_avgs, acc_deltas, lr, rho, eps, weight_decay):
    for t in range(count):
        param, grad, square_avg, acc_delta = params[t], grads[t], square_avgs[t], acc_deltas[t]
        for i in range(param.size):
            adadelta_update(i, param, grad, square_avg, acc_delta, lr, rho, eps, weight_decay)


@gpu_kernel
def adadelta_gpu(chunks, params, grads, square_avgs, acc_deltas, lr, rho, eps, weight_decay):
    for c in range(cuda.blockIdx.x, chunks.shape[0], cuda.gridDim.x):
        t = chunks[c, 0]
        param, grad, square_avg, acc_delta = params[t], grads[t], square_avgs[t], acc_deltas[t]
        for i in range(chunks[c, 1] + cuda.threadIdx.x, chunks[c, 2], cuda.blockDim.x):
            adadelta_update(i, param, grad, square_avg, acc_delta, lr, rho, eps, weight_decay)


@adadelta_kernel.gpu
def launch_adadelta(count, params, *arguments):
    launch_over_tensors(adadelta_gpu, count, params, *arguments)


class Adadelta(Optimizer):
    defaults = {"lr": 1.0, "rho": 0.9, "eps": 1e-6, "weight_decay": 0.0}
    kernels = (adadelta_kernel,)

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0):
        super().__init__(params, lr=lr, rho=rho, eps=eps, weight_decay=weight_decay)

    def check(self, hyper):
        super().check(hyper)
        if "rho" in hyper and not 0.0 <= hyper["rho"] <= 1.0:
            raise errors.ValueError(f"Adadelta: rho must be in [0, 1], got {hyper['rho']!r}")
        self.require_non_negative(hyper, "eps", "weight_decay")

    def initial_state(self, parameter, group):
        return {"step": 0, "square_avg": self.zeros(parameter), "acc_delta": self.zeros(parameter)}

    def update(self, batch, group):
        batch[0][0].backend.run(
            adadelta_kernel, len(batch), *self.arrays(batch, "param", "grad", "square_avg", "acc_delta"),
            float(group["lr"]), float(group["rho"]), float(group["eps"]), float(group["weight_decay"]),
        )
        for _, _, state in batch:
            state["step"] += 1
