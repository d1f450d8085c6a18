"""SGD with momentum, Nesterov momentum and weight decay (PyTorch's update, step for step).

    g  = dL/dp + weight_decay p
    v  = g                                    on the first step (momentum > 0)
    v  = momentum v + (1 - dampening) g       afterwards
    g  = g + momentum v   (Nesterov)    or    g = v   (classical momentum)
    p  = p - lr g

With momentum = 0 it is plain gradient descent: p = p - lr dL/dp.
"""
from .. import errors
from ..backends.gpu import cuda, gpu_kernel, launch_over_tensors
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
def sgd_kernel(count, params, grads, velocities, lr, momentum, dampening, weight_decay, nesterov, first_step):
    for t in range(count):
        param, grad, velocity = params[t], grads[t], velocities[t]
        for i in range(param.size):
            sgd_update(i, param, grad, velocity, lr, momentum, dampening, weight_decay, nesterov, first_step)


@gpu_kernel
def sgd_gpu(chunks, params, grads, velocities, lr, momentum, dampening, weight_decay, nesterov, first_step):
    for c in range(cuda.blockIdx.x, chunks.shape[0], cuda.gridDim.x):
        t = chunks[c, 0]
        param, grad, velocity = params[t], grads[t], velocities[t]
        for i in range(chunks[c, 1] + cuda.threadIdx.x, chunks[c, 2], cuda.blockDim.x):
            sgd_update(i, param, grad, velocity, lr, momentum, dampening, weight_decay, nesterov, first_step)


@sgd_kernel.gpu
def launch_sgd(count, params, *arguments):
    launch_over_tensors(sgd_gpu, count, params, *arguments)


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
            raise errors.ValueError("SGD: Nesterov momentum needs momentum > 0 and dampening = 0")

    def initial_state(self, parameter, group):
        return {"step": 0, "momentum_buffer": self.zeros(parameter) if group["momentum"] != 0 else None}

    def update(self, batch, group):
        batch[0][0].backend.run(
            sgd_kernel, len(batch), *self.arrays(batch, "param", "grad", "momentum_buffer"), float(group["lr"]),
            float(group["momentum"]), float(group["dampening"]), float(group["weight_decay"]),
            bool(group["nesterov"]), batch[0][2]["step"] == 0,
        )
        for _, _, state in batch:
            state["step"] += 1
