"""Pointwise particles: one number in, one number out, applied to every element.

    neg         y = -x                                  dy/dx = -1
    exp         y = e^x                                 dy/dx = y
    log         y = ln x                                dy/dx = 1 / x
    sqrt        y = sqrt(x)                             dy/dx = 1 / (2 y)
    pow         y = x^p   (p a number)                  dy/dx = p x^(p-1)
    abs         y = |x|                                 dy/dx = sign(x)   (0 at 0)
    sign        y = sign(x)                             dy/dx = 0
    sin         y = sin(x)                              dy/dx = cos(x)
    cos         y = cos(x)                              dy/dx = -sin(x)
    clamp       y = min(max(x, lo), hi)                 dy/dx = 1 if lo <= x <= hi else 0

Backward of every one is the chain rule elementwise: dL/dx = dL/dy * dy/dx.

`Pointwise` is what they all share, and the activations (activations.py) too: forward runs the
particle's forward loop over the flat input into a new output, saves x and y, and backward runs
its backward loop (several slopes are cheapest from the output: e^x's is y itself). Each
particle below is one block: scalar math (`*_value`, `*_slope`, compiled for the CPU and the
GPU), NumPy reference, CPU loops, GPU kernels, class.
"""
import numpy as np

from ..backends.gpu import cuda, gpu_kernel
from ..backends.kernel import kernel, scalar
from .particle import Particle


class Pointwise(Particle):
    """y = f(x) elementwise, dx = dy f'(x).

    A subclass gives `reference(x, *parameters)` and `reference_slope(x, y, *parameters)` (NumPy),
    and `kernels = (forward, backward)`: CPU loops `forward(*parameters, x, y)` and
    `backward(*parameters, x, y, grad_y, grad_x)` over flat arrays, each with its GPU twin
    attached by `Kernel.on_gpu`. `parameters` names the numbers the math takes (pow's exponent);
    `float32_kernels`, where given, compute float32 input in float32 math (faster, as exact as float32);
`on_integers` says what integer input gets (no gradient flows to integers).
    """

    parameters = ()
    defaults = {}   # the parameters' values when a call leaves them out (PyTorch's defaults)
    float32_kernels = None
    # What integer (and bool) input gets, as in PyTorch: "refuse" (an error naming the particle),
    # "keep" (int64 in, int64 out: neg, abs, sign) or "promote" (computed as float32: exp, log, ...)
    on_integers = "refuse"

    @classmethod
    def every_kernel(cls):
        return tuple(cls.kernels) + tuple(cls.float32_kernels or ())

    @classmethod
    def kernels_for(cls, dtype):
        if cls.float32_kernels is not None and dtype == np.float32:
            return cls.float32_kernels
        return cls.kernels

    @classmethod
    def forward(cls, ctx, x, **params):
        if cls.on_integers == "promote" and x.dtype.kind in "ib":
            x = ctx.backend.astype(x, np.float32)
        elif not (cls.on_integers == "keep" and x.dtype == np.int64):
            cls.require_float(x)
        try:
            numbers = [float(params[name] if name in params else cls.defaults[name]) for name in cls.parameters]
        except KeyError as missing:   # neither given nor defaulted
            cls.fail(f"needs the parameter {missing.args[0]}", TypeError)
        backend = ctx.backend
        x = backend.contiguous(x)
        y = backend.empty(x.shape, x.dtype)
        ctx.kernels = cls.kernels_for(x.dtype)
        ctx.run(ctx.kernels[0], *numbers, backend.flat(x), backend.flat(y))
        ctx.save(x, y)
        ctx.numbers = numbers
        return y

    @classmethod
    def backward(cls, ctx, grad_y):
        x, y = ctx.saved
        backend = ctx.backend
        grad_y = backend.contiguous(backend.astype(grad_y, x.dtype))
        grad_x = backend.empty(x.shape, x.dtype)
        flat = backend.flat
        ctx.run(ctx.kernels[1], *ctx.numbers, flat(x), flat(y), flat(grad_y), flat(grad_x))
        return (grad_x,)

    @classmethod
    def reference_backward(cls, x, grad_y, **params):
        return (grad_y * cls.reference_slope(x, cls.reference(x, **params), **params),)


# neg ----------------------------------------------------------------------------------------
@scalar
def neg_value(x):
    return -x


@scalar
def neg_slope(x, y):
    return -1.0


def neg_reference(x):
    return -x


def neg_slope_reference(x, y):
    return -np.ones_like(x)


@kernel
def neg_forward_kernel(x, y):
    for i in range(x.size):
        y[i] = neg_value(x[i])


@kernel
def neg_backward_kernel(x, y, grad_y, grad_x):
    for i in range(x.size):
        grad_x[i] = grad_y[i] * neg_slope(x[i], y[i])


@gpu_kernel
def neg_forward_gpu(x, y):
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        y[i] = neg_value(x[i])


@gpu_kernel
def neg_backward_gpu(x, y, grad_y, grad_x):
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        grad_x[i] = grad_y[i] * neg_slope(x[i], y[i])


class Neg(Pointwise):
    name, on_integers = "neg", "keep"
    formula, gradient = "y = -x", "dx = -dy"
    reference, reference_slope = staticmethod(neg_reference), staticmethod(neg_slope_reference)
    kernels = (neg_forward_kernel.on_gpu(neg_forward_gpu), neg_backward_kernel.on_gpu(neg_backward_gpu))


# exp ----------------------------------------------------------------------------------------
@scalar
def exp_value(x):
    return np.exp(x)


@scalar
def exp_slope(x, y):
    return y   # e^x is its own slope


def exp_reference(x):
    return np.exp(x)


def exp_slope_reference(x, y):
    return y


@kernel
def exp_forward_kernel(x, y):
    for i in range(x.size):
        y[i] = exp_value(x[i])


@kernel
def exp_backward_kernel(x, y, grad_y, grad_x):
    for i in range(x.size):
        grad_x[i] = grad_y[i] * exp_slope(x[i], y[i])


@gpu_kernel
def exp_forward_gpu(x, y):
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        y[i] = exp_value(x[i])


@gpu_kernel
def exp_backward_gpu(x, y, grad_y, grad_x):
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        grad_x[i] = grad_y[i] * exp_slope(x[i], y[i])


class Exp(Pointwise):
    name, on_integers = "exp", "promote"
    formula, gradient = "y = e^x", "dx = dy * y"
    reference, reference_slope = staticmethod(exp_reference), staticmethod(exp_slope_reference)
    kernels = (exp_forward_kernel.on_gpu(exp_forward_gpu), exp_backward_kernel.on_gpu(exp_backward_gpu))


# log ----------------------------------------------------------------------------------------
@scalar
def log_value(x):
    return np.log(x)   # NaN below 0 and -inf at 0, as NumPy and PyTorch give: no exception


@scalar
def log_slope(x, y):
    return 1 / x


def log_reference(x):
    return np.log(x)


def log_slope_reference(x, y):
    return 1 / x


@kernel
def log_forward_kernel(x, y):
    for i in range(x.size):
        y[i] = log_value(x[i])


@kernel
def log_backward_kernel(x, y, grad_y, grad_x):
    for i in range(x.size):
        grad_x[i] = grad_y[i] * log_slope(x[i], y[i])


@gpu_kernel
def log_forward_gpu(x, y):
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        y[i] = log_value(x[i])


@gpu_kernel
def log_backward_gpu(x, y, grad_y, grad_x):
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        grad_x[i] = grad_y[i] * log_slope(x[i], y[i])


class Log(Pointwise):
    name, on_integers = "log", "promote"
    formula, gradient = "y = ln(x)", "dx = dy / x"
    reference, reference_slope = staticmethod(log_reference), staticmethod(log_slope_reference)
    kernels = (log_forward_kernel.on_gpu(log_forward_gpu), log_backward_kernel.on_gpu(log_backward_gpu))


# sqrt ---------------------------------------------------------------------------------------
@scalar
def sqrt_value(x):
    return np.sqrt(x)


@scalar
def sqrt_slope(x, y):
    return 0.5 / y   # from the output: no second square root


def sqrt_reference(x):
    return np.sqrt(x)


def sqrt_slope_reference(x, y):
    return 0.5 / y


@kernel
def sqrt_forward_kernel(x, y):
    for i in range(x.size):
        y[i] = sqrt_value(x[i])


@kernel
def sqrt_backward_kernel(x, y, grad_y, grad_x):
    for i in range(x.size):
        grad_x[i] = grad_y[i] * sqrt_slope(x[i], y[i])


@gpu_kernel
def sqrt_forward_gpu(x, y):
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        y[i] = sqrt_value(x[i])


@gpu_kernel
def sqrt_backward_gpu(x, y, grad_y, grad_x):
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        grad_x[i] = grad_y[i] * sqrt_slope(x[i], y[i])


class Sqrt(Pointwise):
    name, on_integers = "sqrt", "promote"
    formula, gradient = "y = sqrt(x)", "dx = dy / (2 y)"
    reference, reference_slope = staticmethod(sqrt_reference), staticmethod(sqrt_slope_reference)
    kernels = (sqrt_forward_kernel.on_gpu(sqrt_forward_gpu), sqrt_backward_kernel.on_gpu(sqrt_backward_gpu))


# pow: the exponent p is a parameter, handed to the kernels before the arrays -----------------
@scalar
def pow_value(exponent, x):
    return x ** exponent


@scalar
def pow_slope(exponent, x, y):
    if exponent == 0:   # x^0 = 1 everywhere: slope 0, also at x = 0 (where 0 * 0^-1 would be NaN), as PyTorch
        return 0.0 * x
    return exponent * x ** (exponent - 1)


def pow_reference(x, exponent):
    return x ** exponent


def pow_slope_reference(x, y, exponent):
    return np.zeros_like(x) if exponent == 0 else exponent * x ** (exponent - 1)


@kernel
def pow_forward_kernel(exponent, x, y):
    for i in range(x.size):
        y[i] = pow_value(exponent, x[i])


@kernel
def pow_backward_kernel(exponent, x, y, grad_y, grad_x):
    for i in range(x.size):
        grad_x[i] = grad_y[i] * pow_slope(exponent, x[i], y[i])


@gpu_kernel
def pow_forward_gpu(exponent, x, y):
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        y[i] = pow_value(exponent, x[i])


@gpu_kernel
def pow_backward_gpu(exponent, x, y, grad_y, grad_x):
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        grad_x[i] = grad_y[i] * pow_slope(exponent, x[i], y[i])


class Pow(Pointwise):
    name, parameters = "pow", ("exponent",)
    formula, gradient = "y = x^p (p a number)", "dx = dy * p x^(p-1)"
    reference, reference_slope = staticmethod(pow_reference), staticmethod(pow_slope_reference)
    kernels = (pow_forward_kernel.on_gpu(pow_forward_gpu), pow_backward_kernel.on_gpu(pow_backward_gpu))


# abs ----------------------------------------------------------------------------------------
@scalar
def abs_value(x):
    return abs(x)


@scalar
def abs_slope(x, y):
    return np.sign(x)   # -1, 0 at the kink x = 0 (as PyTorch), 1; NaN stays NaN


def abs_reference(x):
    return np.abs(x)


def abs_slope_reference(x, y):
    return np.sign(x)


@kernel
def abs_forward_kernel(x, y):
    for i in range(x.size):
        y[i] = abs_value(x[i])


@kernel
def abs_backward_kernel(x, y, grad_y, grad_x):
    for i in range(x.size):
        grad_x[i] = grad_y[i] * abs_slope(x[i], y[i])


@gpu_kernel
def abs_forward_gpu(x, y):
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        y[i] = abs_value(x[i])


@gpu_kernel
def abs_backward_gpu(x, y, grad_y, grad_x):
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        grad_x[i] = grad_y[i] * abs_slope(x[i], y[i])


class Abs(Pointwise):
    name, has_kinks, on_integers = "abs", True, "keep"
    formula, gradient = "y = |x|", "dx = dy * sign(x)"
    reference, reference_slope = staticmethod(abs_reference), staticmethod(abs_slope_reference)
    kernels = (abs_forward_kernel.on_gpu(abs_forward_gpu), abs_backward_kernel.on_gpu(abs_backward_gpu))


# sign ---------------------------------------------------------------------------------------
@scalar
def sign_value(x):
    return np.sign(x)   # -1, 0 or 1; NaN stays NaN


@scalar
def sign_slope(x, y):
    return 0.0   # flat on both sides of 0, and taken as 0 at the jump (as PyTorch)


def sign_reference(x):
    return np.sign(x)


def sign_slope_reference(x, y):
    return np.zeros_like(x)


@kernel
def sign_forward_kernel(x, y):
    for i in range(x.size):
        y[i] = sign_value(x[i])


@kernel
def sign_backward_kernel(x, y, grad_y, grad_x):
    for i in range(x.size):
        grad_x[i] = grad_y[i] * sign_slope(x[i], y[i])


@gpu_kernel
def sign_forward_gpu(x, y):
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        y[i] = sign_value(x[i])


@gpu_kernel
def sign_backward_gpu(x, y, grad_y, grad_x):
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        grad_x[i] = grad_y[i] * sign_slope(x[i], y[i])


class Sign(Pointwise):
    name, has_kinks, on_integers = "sign", True, "keep"
    formula, gradient = "y = sign(x) (-1, 0 or 1)", "dx = 0"
    reference, reference_slope = staticmethod(sign_reference), staticmethod(sign_slope_reference)
    kernels = (sign_forward_kernel.on_gpu(sign_forward_gpu), sign_backward_kernel.on_gpu(sign_backward_gpu))


# sin ----------------------------------------------------------------------------------------
@scalar
def sin_value(x):
    return np.sin(x)


@scalar
def sin_slope(x, y):
    return np.cos(x)


def sin_reference(x):
    return np.sin(x)


def sin_slope_reference(x, y):
    return np.cos(x)


@kernel
def sin_forward_kernel(x, y):
    for i in range(x.size):
        y[i] = sin_value(x[i])


@kernel
def sin_backward_kernel(x, y, grad_y, grad_x):
    for i in range(x.size):
        grad_x[i] = grad_y[i] * sin_slope(x[i], y[i])


@gpu_kernel
def sin_forward_gpu(x, y):
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        y[i] = sin_value(x[i])


@gpu_kernel
def sin_backward_gpu(x, y, grad_y, grad_x):
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        grad_x[i] = grad_y[i] * sin_slope(x[i], y[i])


class Sin(Pointwise):
    name, on_integers = "sin", "promote"
    formula, gradient = "y = sin(x)", "dx = dy * cos(x)"
    reference, reference_slope = staticmethod(sin_reference), staticmethod(sin_slope_reference)
    kernels = (sin_forward_kernel.on_gpu(sin_forward_gpu), sin_backward_kernel.on_gpu(sin_backward_gpu))


# cos ----------------------------------------------------------------------------------------
@scalar
def cos_value(x):
    return np.cos(x)


@scalar
def cos_slope(x, y):
    return -np.sin(x)


def cos_reference(x):
    return np.cos(x)


def cos_slope_reference(x, y):
    return -np.sin(x)


@kernel
def cos_forward_kernel(x, y):
    for i in range(x.size):
        y[i] = cos_value(x[i])


@kernel
def cos_backward_kernel(x, y, grad_y, grad_x):
    for i in range(x.size):
        grad_x[i] = grad_y[i] * cos_slope(x[i], y[i])


@gpu_kernel
def cos_forward_gpu(x, y):
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        y[i] = cos_value(x[i])


@gpu_kernel
def cos_backward_gpu(x, y, grad_y, grad_x):
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        grad_x[i] = grad_y[i] * cos_slope(x[i], y[i])


class Cos(Pointwise):
    name, on_integers = "cos", "promote"
    formula, gradient = "y = cos(x)", "dx = -dy * sin(x)"
    reference, reference_slope = staticmethod(cos_reference), staticmethod(cos_slope_reference)
    kernels = (cos_forward_kernel.on_gpu(cos_forward_gpu), cos_backward_kernel.on_gpu(cos_backward_gpu))


# clamp: the bounds lo and hi are parameters (-inf and inf where not given) --------------------
@scalar
def clamp_value(lo, hi, x):
    if x < lo:
        return lo
    if x > hi:
        return hi
    return x   # NaN too: no comparison holds for it


@scalar
def clamp_slope(lo, hi, x, y):
    if x >= lo and x <= hi:
        return 1.0   # inside, and on the bounds themselves, as PyTorch
    return 0.0   # outside; and at a NaN, as PyTorch (no comparison holds for it)


def clamp_reference(x, lo, hi):
    return np.where(x < lo, lo, np.where(x > hi, hi, x)).astype(x.dtype)


def clamp_slope_reference(x, y, lo, hi):
    return ((x >= lo) & (x <= hi)).astype(x.dtype)


@kernel
def clamp_forward_kernel(lo, hi, x, y):
    for i in range(x.size):
        y[i] = clamp_value(lo, hi, x[i])


@kernel
def clamp_backward_kernel(lo, hi, x, y, grad_y, grad_x):
    for i in range(x.size):
        grad_x[i] = grad_y[i] * clamp_slope(lo, hi, x[i], y[i])


@gpu_kernel
def clamp_forward_gpu(lo, hi, x, y):
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        y[i] = clamp_value(lo, hi, x[i])


@gpu_kernel
def clamp_backward_gpu(lo, hi, x, y, grad_y, grad_x):
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        grad_x[i] = grad_y[i] * clamp_slope(lo, hi, x[i], y[i])


class Clamp(Pointwise):
    name, has_kinks, parameters, on_integers = "clamp", True, ("lo", "hi"), "keep"
    defaults = {"lo": -np.inf, "hi": np.inf}
    formula, gradient = "y = min(max(x, lo), hi)", "dx = dy where lo <= x <= hi, else 0"
    reference, reference_slope = staticmethod(clamp_reference), staticmethod(clamp_slope_reference)
    kernels = (clamp_forward_kernel.on_gpu(clamp_forward_gpu), clamp_backward_kernel.on_gpu(clamp_backward_gpu))
