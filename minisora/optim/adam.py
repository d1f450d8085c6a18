"""Adam and AdamW (PyTorch's update equations, in PyTorch's order of operations).

    t  = t + 1
    g  = dL/dp + weight_decay p                 (Adam: L2 penalty folded into the gradient)
    p  = p (1 - lr weight_decay)                (AdamW instead: decoupled weight decay)
    m  = m + (1 - beta1) (g - m)                first moment, a running mean of g
    v  = beta2 v + (1 - beta2) g^2              second moment, a running mean of g^2
    p  = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

The divisions by 1 - beta^t undo the bias of m and v towards their zero start.
"""
import math

from .. import errors
from ..backends.gpu import cuda, gpu_kernel, launch_over_tensors
from ..backends.kernel import kernel, scalar
from .optimizer import Optimizer


def adam_reference(param, grad, m, v, step, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0,
                   decoupled=False):
    """NumPy form of step number `step` (1, 2, ...); returns the new (param, m, v)."""
    if decoupled:
        param = param * (1 - lr * weight_decay)
    else:
        grad = grad + weight_decay * param
    m = m + (1 - beta1) * (grad - m)
    v = beta2 * v + (1 - beta2) * grad * grad
    denominator = v ** 0.5 / math.sqrt(1 - beta2 ** step) + eps
    return param - lr / (1 - beta1 ** step) * m / denominator, m, v


@scalar
def adam_update(i, param, grad, m, v, step_size, beta1, beta2, correction2_sqrt, eps, l2_decay, decay_factor):
    """The update of element i: written once, looped over by the CPU kernel, one GPU thread each."""
    p = param[i] * decay_factor
    g = grad[i] + l2_decay * p
    m[i] += (1.0 - beta1) * (g - m[i])
    v[i] = beta2 * v[i] + (1.0 - beta2) * g * g
    param[i] = p - step_size * m[i] / (math.sqrt(v[i]) / correction2_sqrt + eps)


@kernel
def adam_kernel(count, params, grads, ms, vs, step_size, beta1, beta2, correction2_sqrt, eps, l2_decay, decay_factor):
    for t in range(count):
        param, grad, m, v = params[t], grads[t], ms[t], vs[t]
        for i in range(param.size):
            adam_update(i, param, grad, m, v, step_size, beta1, beta2, correction2_sqrt, eps, l2_decay, decay_factor)


@gpu_kernel
def adam_gpu(chunks, params, grads, ms, vs, step_size, beta1, beta2, correction2_sqrt, eps, l2_decay, decay_factor):
    for c in range(cuda.blockIdx.x, chunks.shape[0], cuda.gridDim.x):
        t = chunks[c, 0]
        param, grad, m, v = params[t], grads[t], ms[t], vs[t]
        for i in range(chunks[c, 1] + cuda.threadIdx.x, chunks[c, 2], cuda.blockDim.x):
            adam_update(i, param, grad, m, v, step_size, beta1, beta2, correction2_sqrt, eps, l2_decay, decay_factor)


@adam_kernel.gpu
def launch_adam(count, params, *arguments):
    launch_over_tensors(adam_gpu, count, params, *arguments)


class Adam(Optimizer):
    defaults = {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0}
    decoupled = False   # AdamW sets this: weight decay shrinks p directly instead of adding to g
    kernels = (adam_kernel,)

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay)

    def check(self, hyper):
        super().check(hyper)
        name = type(self).__name__
        if "betas" in hyper:
            betas = tuple(hyper["betas"])
            if len(betas) != 2 or not all(0.0 <= b < 1.0 for b in betas):
                raise errors.ValueError(f"{name}: betas must be two numbers in [0, 1), got {hyper['betas']!r}")
        self.require_non_negative(hyper, "eps", "weight_decay")

    def initial_state(self, parameter, group):
        return {"step": 0, "exp_avg": self.zeros(parameter), "exp_avg_sq": self.zeros(parameter)}

    def update(self, batch, group):
        for _, _, state in batch:
            state["step"] += 1
        t, lr, decay = batch[0][2]["step"], float(group["lr"]), float(group["weight_decay"])
        beta1, beta2 = (float(b) for b in group["betas"])
        batch[0][0].backend.run(
            adam_kernel, len(batch), *self.arrays(batch, "param", "grad", "exp_avg", "exp_avg_sq"),
            lr / (1 - beta1 ** t), beta1, beta2, math.sqrt(1 - beta2 ** t),
            float(group["eps"]), 0.0 if self.decoupled else decay, 1.0 - lr * decay if self.decoupled else 1.0,
        )


class AdamW(Adam):
    defaults = {**Adam.defaults, "weight_decay": 1e-2}
    decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
