"""SGD with momentum, Nesterov momentum and weight decay (PyTorch's update, step for step).

    g  = dL/dp + weight_decay p
    v  = g                                    on the first step (momentum > 0)
    v  = momentum v + (1 - dampening) g       afterwards
    g  = g + momentum v   (Nesterov)    or    g = v   (classical momentum)
    p  = p - lr g

With momentum = 0 it is plain gradient descent: p = p - lr dL/dp.
"""
from ..backends.gpu import cuda, gpu_kernel, launch_elementwise
from ..backends.kernel import kernel, scalar
from .optimizer import Optimizer


def sgd_reference(param, grad, velocity, lr, momentum=0.0, dampening=0.0, weight_decay=0.0,
                  nesterov=False, first_step=True):
    """NumPy form of one step; returns the new (param, velocity)."""
    g = grad + weight_decay * param
    if momentum != 0:
        velocity = g.copy() if first_step else momentum * velocity + (1 - dampening) * g
        g = g + momentum * velocity if nesterov else velocity
    return param - lr * g, velocity


@scalar
def sgd_update(i, param, grad, velocity, lr, momentum, dampening, weight_decay, nesterov, first_step):
    """The update of element i: written once, looped over by the CPU kernel, one GPU thread each."""
    g = grad[i] + weight_decay * param[i]
    if momentum != 0.0:
        v = g if first_step else momentum * velocity[i] + (1.0 - dampening) * g
        velocity[i] = v
        g = g + momentum * v if nesterov else v
    param[i] -= lr * g


@kernel
def sgd_kernel(param, grad, velocity, lr, momentum, dampening, weight_decay, nesterov, first_step):
    for i in range(param.size):
        sgd_update(i, param, grad, velocity, lr, momentum, dampening, weight_decay, nesterov, first_step)


@gpu_kernel
def sgd_gpu(param, grad, velocity, lr, momentum, dampening, weight_decay, nesterov, first_step):
    start, step = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, param.size, step):
        sgd_update(i, param, grad, velocity, lr, momentum, dampening, weight_decay, nesterov, first_step)


@sgd_kernel.gpu
def launch_sgd(param, grad, velocity, lr, momentum, dampening, weight_decay, nesterov, first_step):
    launch_elementwise(sgd_gpu, param.size, param, grad, velocity, lr, momentum, dampening, weight_decay, nesterov, first_step)


class SGD(Optimizer):
    defaults = {"lr": 1e-3, "momentum": 0.0, "dampening": 0.0, "weight_decay": 0.0, "nesterov": False}
    kernels = (sgd_kernel,)

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
        super().__init__(params, lr=lr, momentum=momentum, dampening=dampening,
                         weight_decay=weight_decay, nesterov=nesterov)

    def check(self, hyper):
        super().check(hyper)
        self.require_non_negative(hyper, "momentum", "weight_decay")
        if hyper.get("nesterov") and (hyper.get("momentum", 0) <= 0 or hyper.get("dampening", 0) != 0):
            raise ValueError("SGD: Nesterov momentum needs momentum > 0 and dampening = 0")

    def initial_state(self, parameter, group):
        return {"step": 0, "momentum_buffer": self.zeros(parameter) if group["momentum"] != 0 else None}

    def update(self, parameter, grad, state, group):
        param, grad, velocity = self.flat(parameter, parameter.data, grad, state["momentum_buffer"])
        parameter.backend.run(
            sgd_kernel, param, grad, velocity, float(group["lr"]), float(group["momentum"]),
            float(group["dampening"]), float(group["weight_decay"]), bool(group["nesterov"]), state["step"] == 0,
        )
        state["step"] += 1
