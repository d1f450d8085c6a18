"""Pointwise particles: one number in, one number out, applied to every element.

    neg         y = -x                                  dy/dx = -1
    exp         y = e^x                                 dy/dx = y
    log         y = ln x                                dy/dx = 1 / x
    sqrt        y = sqrt(x)                             dy/dx = 1 / (2 y)
    pow         y = x^p   (p a number)                  dy/dx = p x^(p-1)
    relu        y = max(0, x)                           dy/dx = 1 if x > 0 else 0
    leaky_relu  y = x if x > 0 else a x                 dy/dx = 1 if x > 0 else a
    sigmoid     y = 1 / (1 + e^-x)                      dy/dx = y (1 - y)
    tanh        y = tanh(x)                             dy/dx = 1 - y^2
    gelu        y = x/2 (1 + tanh(u)),  u = c (x + 0.044715 x^3),  c = sqrt(2/pi)
                dy/dx = (1 + t)/2 + x/2 (1 - t^2) c (1 + 3 * 0.044715 x^2),  t = tanh u = 2y/x - 1

Backward of every one is the chain rule elementwise: dL/dx = dL/dy * dy/dx.

The scalar math is written once (`pointwise_value`, `pointwise_slope`); one forward loop and
one backward loop run it for every particle here, chosen by an op code. One generic loop
compiles once for all ten particles (compile time is a cost the class pays).

tanh and gelu on float32 use `tanh_rational`, a ratio of two polynomials in u^2 fitted to tanh
on [-9, 9] (beyond 9, tanh is 1 in float32), evaluated in float32: within 3.5e-7 of tanh, a few
float32 roundings. The library tanh is a function call per element that the compiler cannot
turn into vector instructions: the rational form runs about 20x faster. float64 keeps the
library tanh, exact to the last bit, for gradient checks.
"""
import numpy as np

from ..backends.gpu import cuda, gpu_kernel, launch_elementwise
from ..backends.kernel import kernel, scalar
from .particle import Particle

OP_NEG, OP_EXP, OP_LOG, OP_SQRT, OP_POW, OP_RELU, OP_LEAKY_RELU, OP_SIGMOID, OP_TANH, OP_GELU = range(10)
OP_TANH_RATIONAL, OP_GELU_RATIONAL = 10, 11   # the float32 forms of tanh and gelu
GELU_C = 0.7978845608028654  # sqrt(2 / pi)
GELU_A = 0.044715
# tanh(u) ~ u P(u^2) / Q(u^2) on [-9, 9]: coefficients fitted by weighted least squares on the relative error
TANH_P = (0.999999999735107, 0.13693316608013284, 0.003885081979049865, 2.834293123862415e-05,
          3.138029697196521e-08, -1.2781879275342936e-11)
TANH_Q = (1.0, 0.4702664938812285, 0.02730725753713431, 0.0003968081579384377, 1.3106572380671908e-06)
# The float32 forms compute in float32 throughout (a float64 constant would widen every step):
P0, P1, P2, P3, P4, P5 = (np.float32(c) for c in TANH_P)
Q0, Q1, Q2, Q3, Q4 = (np.float32(c) for c in TANH_Q)
ZERO32, HALF32, ONE32, TWO32, NINE32 = (np.float32(c) for c in (0.0, 0.5, 1.0, 2.0, 9.0))
GELU_C32, GELU_A32, GELU_3A32 = np.float32(GELU_C), np.float32(GELU_A), np.float32(3 * GELU_A)


# 1. scalar math, written once, compiled for every target -----------------------------------
@scalar(inline=False)
def tanh_rational(u):
    """tanh(u) for float32 u as a ratio of polynomials: only multiplications, additions and one division."""
    v = min(max(u, -NINE32), NINE32)
    s = v * v
    top = P0 + s * (P1 + s * (P2 + s * (P3 + s * (P4 + s * P5))))
    bottom = Q0 + s * (Q1 + s * (Q2 + s * (Q3 + s * Q4)))
    return ONE32 if u >= NINE32 else (-ONE32 if u <= -NINE32 else v * top / bottom)


@scalar(inline=False)
def gelu_rational(x):
    """gelu of a float32 x with tanh_rational."""
    return HALF32 * x * (ONE32 + tanh_rational(GELU_C32 * (x + GELU_A32 * x * x * x)))


@scalar(inline=False)
def gelu_slope(x, y):
    """dy/dx from x and y: like sigmoid's y (1 - y), the slope reuses the output. tanh u is read
    back from y = x/2 (1 + tanh u) instead of computed again (at x = 0, where that divides by
    zero, tanh u = 0)."""
    t = 2.0 * y / x - 1.0 if x != 0 else 0.0
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * GELU_C * (1 + 3 * GELU_A * x * x)


@scalar(inline=False)
def gelu_rational_slope(x, y):
    """gelu_slope for float32 x and y, in float32 throughout (twice the numbers per vector instruction)."""
    t = TWO32 * y / x - ONE32 if x != 0 else ZERO32
    return HALF32 * (ONE32 + t) + HALF32 * x * (ONE32 - t * t) * GELU_C32 * (ONE32 + GELU_3A32 * x * x)


@scalar(inline=False)
def pointwise_value(op, x, alpha):
    """y = f(x) for the particle `op` (alpha: the exponent of pow, the slope of leaky_relu)."""
    if op == OP_NEG:
        return -x
    if op == OP_EXP:
        return np.exp(x)
    if op == OP_LOG:
        return np.log(x)
    if op == OP_SQRT:
        return np.sqrt(x)
    if op == OP_POW:
        return x ** alpha
    if op == OP_RELU:
        return x if x > 0 or x != x else 0.0  # NaN passes through, as in PyTorch
    if op == OP_LEAKY_RELU:
        return x if x > 0 else alpha * x
    if op == OP_SIGMOID:
        # Two forms so exp never overflows: e^-x for x >= 0, e^x below.
        if x >= 0:
            return 1 / (1 + np.exp(-x))
        e = np.exp(x)
        return e / (1 + e)
    if op == OP_TANH:
        return np.tanh(x)
    if op == OP_TANH_RATIONAL:
        return tanh_rational(x)
    if op == OP_GELU:
        return 0.5 * x * (1 + np.tanh(GELU_C * (x + GELU_A * x * x * x)))
    return gelu_rational(x)


@scalar(inline=False)
def pointwise_slope(op, x, y, alpha):
    """dy/dx at x, given y = f(x) (several slopes are cheapest from the output)."""
    if op == OP_NEG:
        return -1.0
    if op == OP_EXP:
        return y
    if op == OP_LOG:
        return 1 / x
    if op == OP_SQRT:
        return 0.5 / y
    if op == OP_POW:
        return alpha * x ** (alpha - 1)
    if op == OP_RELU:
        return 1.0 if x > 0 else 0.0
    if op == OP_LEAKY_RELU:
        return 1.0 if x > 0 else alpha
    if op == OP_SIGMOID:
        return y * (1 - y)
    if op == OP_TANH or op == OP_TANH_RATIONAL:
        return 1 - y * y
    if op == OP_GELU:
        return gelu_slope(x, y)
    return gelu_rational_slope(x, y)


# 2. the kernels: flat loops over contiguous memory ----------------------------------------
@scalar
def map_value(op, alpha, x, y):
    for i in range(x.size):
        y[i] = pointwise_value(op, x[i], alpha)


@scalar
def map_gradient(op, alpha, x, y, grad_y, grad_x):
    for i in range(x.size):
        grad_x[i] = grad_y[i] * pointwise_slope(op, x[i], y[i], alpha)


@kernel
def pointwise_forward_kernel(op, alpha, x, y):
    # Each branch hands its op over as a constant, so once inlined the compiler folds the
    # if-chain of pointwise_value away: one tight loop per op, no op test per element.
    if op == OP_NEG:
        map_value(OP_NEG, alpha, x, y)
    elif op == OP_EXP:
        map_value(OP_EXP, alpha, x, y)
    elif op == OP_LOG:
        map_value(OP_LOG, alpha, x, y)
    elif op == OP_SQRT:
        map_value(OP_SQRT, alpha, x, y)
    elif op == OP_POW:
        map_value(OP_POW, alpha, x, y)
    elif op == OP_RELU:
        map_value(OP_RELU, alpha, x, y)
    elif op == OP_LEAKY_RELU:
        map_value(OP_LEAKY_RELU, alpha, x, y)
    elif op == OP_SIGMOID:
        map_value(OP_SIGMOID, alpha, x, y)
    elif op == OP_TANH:
        map_value(OP_TANH, alpha, x, y)
    elif op == OP_TANH_RATIONAL:
        map_value(OP_TANH_RATIONAL, alpha, x, y)
    elif op == OP_GELU:
        map_value(OP_GELU, alpha, x, y)
    else:
        map_value(OP_GELU_RATIONAL, alpha, x, y)


@kernel
def pointwise_backward_kernel(op, alpha, x, y, grad_y, grad_x):
    if op == OP_NEG:
        map_gradient(OP_NEG, alpha, x, y, grad_y, grad_x)
    elif op == OP_EXP:
        map_gradient(OP_EXP, alpha, x, y, grad_y, grad_x)
    elif op == OP_LOG:
        map_gradient(OP_LOG, alpha, x, y, grad_y, grad_x)
    elif op == OP_SQRT:
        map_gradient(OP_SQRT, alpha, x, y, grad_y, grad_x)
    elif op == OP_POW:
        map_gradient(OP_POW, alpha, x, y, grad_y, grad_x)
    elif op == OP_RELU:
        map_gradient(OP_RELU, alpha, x, y, grad_y, grad_x)
    elif op == OP_LEAKY_RELU:
        map_gradient(OP_LEAKY_RELU, alpha, x, y, grad_y, grad_x)
    elif op == OP_SIGMOID:
        map_gradient(OP_SIGMOID, alpha, x, y, grad_y, grad_x)
    elif op == OP_TANH:
        map_gradient(OP_TANH, alpha, x, y, grad_y, grad_x)
    elif op == OP_TANH_RATIONAL:
        map_gradient(OP_TANH_RATIONAL, alpha, x, y, grad_y, grad_x)
    elif op == OP_GELU:
        map_gradient(OP_GELU, alpha, x, y, grad_y, grad_x)
    else:
        map_gradient(OP_GELU_RATIONAL, alpha, x, y, grad_y, grad_x)


# 2b. their GPU twins: one thread per element, the same scalar math ------------------------
@gpu_kernel
def pointwise_forward_gpu(op, alpha, x, y):
    start, step = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, x.size, step):
        y[i] = pointwise_value(op, x[i], alpha)


@gpu_kernel
def pointwise_backward_gpu(op, alpha, x, y, grad_y, grad_x):
    start, step = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, x.size, step):
        grad_x[i] = grad_y[i] * pointwise_slope(op, x[i], y[i], alpha)


@pointwise_forward_kernel.gpu
def launch_pointwise_forward(op, alpha, x, y):
    launch_elementwise(pointwise_forward_gpu, x.size, op, alpha, x, y)


@pointwise_backward_kernel.gpu
def launch_pointwise_backward(op, alpha, x, y, grad_y, grad_x):
    launch_elementwise(pointwise_backward_gpu, x.size, op, alpha, x, y, grad_y, grad_x)


# 3. the particles --------------------------------------------------------------------------
class Pointwise(Particle):
    """y = f(x) elementwise; subclasses name f by an op code and give its NumPy reference."""

    op = -1
    op_float32 = None   # a faster form for float32, where one exists
    kernels = (pointwise_forward_kernel, pointwise_backward_kernel)

    @classmethod
    def forward(cls, ctx, x, alpha=0.0):
        cls.require_float(x)
        backend = ctx.backend
        x = backend.contiguous(x)
        y = backend.empty(x.shape, x.dtype)
        op = cls.op_float32 if cls.op_float32 is not None and x.dtype == np.float32 else cls.op
        ctx.run(pointwise_forward_kernel, op, float(alpha), backend.flat(x), backend.flat(y))
        ctx.save(x, y)
        ctx.alpha, ctx.op = float(alpha), op
        return y

    @classmethod
    def backward(cls, ctx, grad_y):
        x, y = ctx.saved
        backend = ctx.backend
        grad_y = backend.contiguous(backend.astype(grad_y, x.dtype))
        grad_x = backend.empty(x.shape, x.dtype)
        flat = backend.flat
        ctx.run(pointwise_backward_kernel, ctx.op, ctx.alpha, flat(x), flat(y), flat(grad_y), flat(grad_x))
        return (grad_x,)

    @classmethod
    def reference_backward(cls, x, grad_y, alpha=0.0):
        return (grad_y * cls.reference_slope(x, cls.reference(x, alpha), alpha),)


class Neg(Pointwise):
    name, op = "neg", OP_NEG
    formula, gradient = "y = -x", "dx = -dy"
    reference = staticmethod(lambda x, alpha=0.0: -x)
    reference_slope = staticmethod(lambda x, y, alpha: -np.ones_like(x))


class Exp(Pointwise):
    name, op = "exp", OP_EXP
    formula, gradient = "y = e^x", "dx = dy * y"
    reference = staticmethod(lambda x, alpha=0.0: np.exp(x))
    reference_slope = staticmethod(lambda x, y, alpha: y)


class Log(Pointwise):
    name, op = "log", OP_LOG
    formula, gradient = "y = ln(x)", "dx = dy / x"
    reference = staticmethod(lambda x, alpha=0.0: np.log(x))
    reference_slope = staticmethod(lambda x, y, alpha: 1 / x)


class Sqrt(Pointwise):
    name, op = "sqrt", OP_SQRT
    formula, gradient = "y = sqrt(x)", "dx = dy / (2 y)"
    reference = staticmethod(lambda x, alpha=0.0: np.sqrt(x))
    reference_slope = staticmethod(lambda x, y, alpha: 0.5 / y)


class Pow(Pointwise):
    name, op = "pow", OP_POW
    formula, gradient = "y = x^p (p a number)", "dx = dy * p x^(p-1)"
    reference = staticmethod(lambda x, alpha=0.0: x**alpha)
    reference_slope = staticmethod(lambda x, y, alpha: alpha * x ** (alpha - 1))


class ReLU(Pointwise):
    name, op, has_kinks = "relu", OP_RELU, True
    formula, gradient = "y = max(0, x)", "dx = dy if x > 0 else 0"
    reference = staticmethod(lambda x, alpha=0.0: np.maximum(x, 0))
    reference_slope = staticmethod(lambda x, y, alpha: (x > 0).astype(x.dtype))


class LeakyReLU(Pointwise):
    name, op, has_kinks = "leaky_relu", OP_LEAKY_RELU, True
    formula, gradient = "y = x if x > 0 else a x", "dx = dy if x > 0 else a dy"
    reference = staticmethod(lambda x, alpha=0.01: np.where(x > 0, x, alpha * x))
    reference_slope = staticmethod(lambda x, y, alpha: np.where(x > 0, 1.0, alpha).astype(x.dtype))


class Sigmoid(Pointwise):
    name, op = "sigmoid", OP_SIGMOID
    formula, gradient = "y = 1 / (1 + e^-x)", "dx = dy * y (1 - y)"
    reference = staticmethod(lambda x, alpha=0.0: 1 / (1 + np.exp(-x)))
    reference_slope = staticmethod(lambda x, y, alpha: y * (1 - y))


class Tanh(Pointwise):
    name, op, op_float32 = "tanh", OP_TANH, OP_TANH_RATIONAL
    formula, gradient = "y = tanh(x)", "dx = dy * (1 - y^2)"
    reference = staticmethod(lambda x, alpha=0.0: np.tanh(x))
    reference_slope = staticmethod(lambda x, y, alpha: 1 - y * y)


def _gelu_reference_slope(x, y, alpha):
    t = np.tanh(GELU_C * (x + GELU_A * x**3))
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * GELU_C * (1 + 3 * GELU_A * x * x)


class GELU(Pointwise):
    name, op, op_float32 = "gelu", OP_GELU, OP_GELU_RATIONAL
    formula = "y = x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))"
    gradient = "dx = dy * ((1 + t)/2 + x/2 (1 - t^2) sqrt(2/pi) (1 + 0.134145 x^2))"
    reference = staticmethod(lambda x, alpha=0.0: 0.5 * x * (1 + np.tanh(GELU_C * (x + GELU_A * x**3))))
    reference_slope = staticmethod(_gelu_reference_slope)
