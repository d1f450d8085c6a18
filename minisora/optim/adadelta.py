"""Adadelta (Zeiler 2012, PyTorch's update): step sizes from running averages, no tuned lr needed.

    g  = dL/dp + weight_decay p
    s  = rho s + (1 - rho) g^2                          running mean of squared gradients
    d  = sqrt(u + eps) / sqrt(s + eps) * g              the step, in the units of p
    u  = rho u + (1 - rho) d^2                          running mean of squared steps
    p  = p - lr d
"""
import math

from ..backends.gpu import cuda, gpu_kernel, launch_elementwise
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
def adadelta_kernel(param, grad, square_avg, acc_delta, lr, rho, eps, weight_decay):
    for i in range(param.size):
        adadelta_update(i, param, grad, square_avg, acc_delta, lr, rho, eps, weight_decay)


@gpu_kernel
def adadelta_gpu(param, grad, square_avg, acc_delta, lr, rho, eps, weight_decay):
    start, step = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, param.size, step):
        adadelta_update(i, param, grad, square_avg, acc_delta, lr, rho, eps, weight_decay)


@adadelta_kernel.gpu
def launch_adadelta(param, grad, square_avg, acc_delta, lr, rho, eps, weight_decay):
    launch_elementwise(adadelta_gpu, param.size, param, grad, square_avg, acc_delta, lr, rho, eps, weight_decay)


class Adadelta(Optimizer):
    defaults = {"lr": 1.0, "rho": 0.9, "eps": 1e-6, "weight_decay": 0.0}
    kernels = (adadelta_kernel,)

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0):
        super().__init__(params, lr=lr, rho=rho, eps=eps, weight_decay=weight_decay)

    def check(self, hyper):
        super().check(hyper)
        if "rho" in hyper and not 0.0 <= hyper["rho"] <= 1.0:
            raise ValueError(f"Adadelta: rho must be in [0, 1], got {hyper['rho']!r}")
        self.require_non_negative(hyper, "eps", "weight_decay")

    def initial_state(self, parameter, group):
        return {"step": 0, "square_avg": self.zeros(parameter), "acc_delta": self.zeros(parameter)}

    def update(self, parameter, grad, state, group):
        param, grad, square_avg, acc_delta = self.flat(
            parameter, parameter.data, grad, state["square_avg"], state["acc_delta"])
        parameter.backend.run(
            adadelta_kernel, param, grad, square_avg, acc_delta, float(group["lr"]), float(group["rho"]),
            float(group["eps"]), float(group["weight_decay"]),
        )
        state["step"] += 1
