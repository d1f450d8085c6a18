"""Activations: the nonlinearities between layers, one number in and one number out.

    relu        y = max(0, x)                           dy/dx = 1 if x > 0 else 0
    leaky_relu  y = x if x > 0 else a x                 dy/dx = 1 if x > 0 else a
    sigmoid     y = 1 / (1 + e^-x)                      dy/dx = y (1 - y)
    tanh        y = tanh(x)                             dy/dx = 1 - y^2
    gelu_tanh   y = x/2 (1 + tanh(u)),  u = c (x + 0.044715 x^3),  c = sqrt(2/pi)
                dy/dx = (1 + t)/2 + x/2 (1 - t^2) c (1 + 3 * 0.044715 x^2),  t = tanh u = 2y/x - 1
    gelu        y = x Phi(x) = x/2 (1 + erf(x/sqrt 2))   dy/dx = Phi(x) + x e^(-x^2/2) / sqrt(2 pi)
    silu        y = x sigmoid(x)                        dy/dx = s (1 + x (1 - s)),  s = sigmoid(x)
    softplus    y = ln(1 + e^(b x)) / b                 dy/dx = sigmoid(b x)
    elu         y = x if x > 0 else a (e^x - 1)         dy/dx = 1 if x > 0 else y + a

Backward is the chain rule, element by element: dL/dx = dL/dy * dy/dx.

Each activation below is one block, in the same order: its scalar math (`*_value`, `*_slope`,
written once and compiled for the CPU and the GPU), its NumPy reference, its CPU loops, its GPU
kernels (one thread per element, a grid-stride loop), then its particle class. The forward and
backward they all share (allocate, launch, save x and y) is `Pointwise` in pointwise.py.

tanh and gelu_tanh on float32 have a second pair of kernels: `tanh_rational`, a ratio of two
polynomials in u^2 fitted to tanh on [-9, 9] (beyond 9, tanh is 1 in float32), evaluated in
float32: within 3.5e-7 of tanh, a few float32 roundings. The library tanh is a function call
per element that the compiler cannot turn into vector instructions: the rational form runs
about 20x faster. float64 keeps the library tanh, exact to the last bit, for gradient checks.
"""
import math

import numpy as np

from ..backends.gpu import cuda, gpu_kernel
from ..backends.kernel import kernel, scalar
from .pointwise import Pointwise


# relu ---------------------------------------------------------------------------------------
@scalar
def relu_value(x):
    return x if x > 0 or x != x else 0.0   # NaN passes through, as in PyTorch


@scalar
def relu_slope(x, y):
    return 1.0 if x > 0 else 0.0   # 0 at the kink x = 0, as in PyTorch


def relu_reference(x):
    return np.maximum(x, 0)


def relu_slope_reference(x, y):
    return (x > 0).astype(x.dtype)


@kernel
def relu_forward_kernel(x, y):
    for i in range(x.size):
        y[i] = relu_value(x[i])


@kernel
def relu_backward_kernel(x, y, grad_y, grad_x):
    for i in range(x.size):
        grad_x[i] = grad_y[i] * relu_slope(x[i], y[i])


@gpu_kernel
def relu_forward_gpu(x, y):
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        y[i] = relu_value(x[i])


@gpu_kernel
def relu_backward_gpu(x, y, grad_y, grad_x):
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        grad_x[i] = grad_y[i] * relu_slope(x[i], y[i])


class ReLU(Pointwise):
    name, has_kinks = "relu", True
    formula, gradient = "y = max(0, x)", "dx = dy if x > 0 else 0"
    reference, reference_slope = staticmethod(relu_reference), staticmethod(relu_slope_reference)
    kernels = (relu_forward_kernel.on_gpu(relu_forward_gpu), relu_backward_kernel.on_gpu(relu_backward_gpu))


# leaky_relu: the slope a for x <= 0 is a parameter, handed to the kernels before the arrays ---
@scalar
def leaky_relu_value(negative_slope, x):
    return x if x > 0 else negative_slope * x


@scalar
def leaky_relu_slope(negative_slope, x, y):
    return 1.0 if x > 0 else negative_slope


def leaky_relu_reference(x, negative_slope=0.01):
    return np.where(x > 0, x, negative_slope * x)


def leaky_relu_slope_reference(x, y, negative_slope=0.01):
    return np.where(x > 0, 1.0, negative_slope).astype(x.dtype)


@kernel
def leaky_relu_forward_kernel(negative_slope, x, y):
    for i in range(x.size):
        y[i] = leaky_relu_value(negative_slope, x[i])


@kernel
def leaky_relu_backward_kernel(negative_slope, x, y, grad_y, grad_x):
    for i in range(x.size):
        grad_x[i] = grad_y[i] * leaky_relu_slope(negative_slope, x[i], y[i])


@gpu_kernel
def leaky_relu_forward_gpu(negative_slope, x, y):
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        y[i] = leaky_relu_value(negative_slope, x[i])


@gpu_kernel
def leaky_relu_backward_gpu(negative_slope, x, y, grad_y, grad_x):
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        grad_x[i] = grad_y[i] * leaky_relu_slope(negative_slope, x[i], y[i])


class LeakyReLU(Pointwise):
    name, has_kinks, parameters = "leaky_relu", True, ("negative_slope",)
    defaults = {"negative_slope": 0.01}
    formula, gradient = "y = x if x > 0 else a x", "dx = dy if x > 0 else a dy"
    reference, reference_slope = staticmethod(leaky_relu_reference), staticmethod(leaky_relu_slope_reference)
    kernels = (leaky_relu_forward_kernel.on_gpu(leaky_relu_forward_gpu),
               leaky_relu_backward_kernel.on_gpu(leaky_relu_backward_gpu))


# sigmoid ------------------------------------------------------------------------------------
@scalar
def sigmoid_value(x):
    # Two forms so exp never overflows: e^-x for x >= 0, e^x below.
    if x >= 0:
        return 1 / (1 + np.exp(-x))
    e = np.exp(x)
    return e / (1 + e)


@scalar
def sigmoid_slope(x, y):
    return y * (1 - y)   # from the output: no second exp


def sigmoid_reference(x):
    return 1 / (1 + np.exp(-x))


def sigmoid_slope_reference(x, y):
    return y * (1 - y)


@kernel
def sigmoid_forward_kernel(x, y):
    for i in range(x.size):
        y[i] = sigmoid_value(x[i])


@kernel
def sigmoid_backward_kernel(x, y, grad_y, grad_x):
    for i in range(x.size):
        grad_x[i] = grad_y[i] * sigmoid_slope(x[i], y[i])


@gpu_kernel
def sigmoid_forward_gpu(x, y):
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        y[i] = sigmoid_value(x[i])


@gpu_kernel
def sigmoid_backward_gpu(x, y, grad_y, grad_x):
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        grad_x[i] = grad_y[i] * sigmoid_slope(x[i], y[i])


class Sigmoid(Pointwise):
    name, on_integers = "sigmoid", "promote"
    formula, gradient = "y = 1 / (1 + e^-x)", "dx = dy * y (1 - y)"
    reference, reference_slope = staticmethod(sigmoid_reference), staticmethod(sigmoid_slope_reference)
    kernels = (sigmoid_forward_kernel.on_gpu(sigmoid_forward_gpu),
               sigmoid_backward_kernel.on_gpu(sigmoid_backward_gpu))


# tanh ---------------------------------------------------------------------------------------
# tanh(u) ~ u P(u^2) / Q(u^2) on [-9, 9]: coefficients fitted by weighted least squares on the relative error
TANH_P = (0.999999999735107, 0.13693316608013284, 0.003885081979049865, 2.834293123862415e-05,
          3.138029697196521e-08, -1.2781879275342936e-11)
TANH_Q = (1.0, 0.4702664938812285, 0.02730725753713431, 0.0003968081579384377, 1.3106572380671908e-06)
# The float32 forms compute in float32 throughout (a float64 constant would widen every step):
P0, P1, P2, P3, P4, P5 = (np.float32(c) for c in TANH_P)
Q0, Q1, Q2, Q3, Q4 = (np.float32(c) for c in TANH_Q)
ZERO32, HALF32, ONE32, TWO32, NINE32, TEN32 = (np.float32(c) for c in (0.0, 0.5, 1.0, 2.0, 9.0, 10.0))


@scalar
def tanh_value(x):
    return np.tanh(x)


@scalar(inline=False)
def tanh_rational(u):
    """tanh(u) for float32 u as a ratio of polynomials: only multiplications, additions and one division."""
    v = min(max(u, -NINE32), NINE32)
    s = v * v
    top = P0 + s * (P1 + s * (P2 + s * (P3 + s * (P4 + s * P5))))
    bottom = Q0 + s * (Q1 + s * (Q2 + s * (Q3 + s * Q4)))
    return ONE32 if u >= NINE32 else (-ONE32 if u <= -NINE32 else v * top / bottom)


@scalar
def tanh_slope(x, y):
    return 1 - y * y   # from the output, for either form


def tanh_reference(x):
    return np.tanh(x)


def tanh_slope_reference(x, y):
    return 1 - y * y


@kernel
def tanh_forward_kernel(x, y):
    for i in range(x.size):
        y[i] = tanh_value(x[i])


@kernel
def tanh_float32_forward_kernel(x, y):
    for i in range(x.size):
        y[i] = tanh_rational(x[i])


@kernel
def tanh_backward_kernel(x, y, grad_y, grad_x):
    for i in range(x.size):
        grad_x[i] = grad_y[i] * tanh_slope(x[i], y[i])


@gpu_kernel
def tanh_forward_gpu(x, y):
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        y[i] = tanh_value(x[i])


@gpu_kernel
def tanh_float32_forward_gpu(x, y):
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        y[i] = tanh_rational(x[i])


@gpu_kernel
def tanh_backward_gpu(x, y, grad_y, grad_x):
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        grad_x[i] = grad_y[i] * tanh_slope(x[i], y[i])


class Tanh(Pointwise):
    name, on_integers = "tanh", "promote"
    formula, gradient = "y = tanh(x)", "dx = dy * (1 - y^2)"
    reference, reference_slope = staticmethod(tanh_reference), staticmethod(tanh_slope_reference)
    kernels = (tanh_forward_kernel.on_gpu(tanh_forward_gpu), tanh_backward_kernel.on_gpu(tanh_backward_gpu))
    float32_kernels = (tanh_float32_forward_kernel.on_gpu(tanh_float32_forward_gpu), kernels[1])


# gelu_tanh (the tanh approximation, as GPT-2 and PyTorch's gelu(approximate="tanh")) -----------
GELU_C = 0.7978845608028654  # sqrt(2 / pi)
GELU_A = 0.044715
GELU_C32, GELU_A32, GELU_3A32 = np.float32(GELU_C), np.float32(GELU_A), np.float32(3 * GELU_A)


@scalar
def gelu_tanh_value(x):
    return 0.5 * x * (1 + np.tanh(GELU_C * (x + GELU_A * x * x * x)))


@scalar
def gelu_tanh_slope(x, y):
    """dy/dx from x and y: like sigmoid's y (1 - y), the slope reuses the output. tanh u is read
    back from y = x/2 (1 + tanh u) instead of computed again (at x = 0, where that divides by
    zero, tanh u = 0). Beyond |x| = 10, tanh u is exactly +-1 and the slope exactly 1 or 0, which
    is returned as such: the formula would multiply x^2 = inf by 1 - t^2 = 0 there (NaN)."""
    if x > 10.0:
        return 1.0
    if x < -10.0:
        return 0.0
    t = 2.0 * y / x - 1.0 if x != 0 else 0.0
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * GELU_C * (1 + 3 * GELU_A * x * x)


@scalar
def gelu_tanh_float32_value(x):
    return HALF32 * x * (ONE32 + tanh_rational(GELU_C32 * (x + GELU_A32 * x * x * x)))


@scalar
def gelu_tanh_float32_slope(x, y):
    """gelu_tanh_slope for float32 x and y, in float32 throughout (twice the numbers per vector instruction)."""
    if x > TEN32:
        return ONE32
    if x < -TEN32:
        return ZERO32
    t = TWO32 * y / x - ONE32 if x != 0 else ZERO32
    return HALF32 * (ONE32 + t) + HALF32 * x * (ONE32 - t * t) * GELU_C32 * (ONE32 + GELU_3A32 * x * x)


def gelu_tanh_reference(x):
    return 0.5 * x * (1 + np.tanh(GELU_C * (x + GELU_A * x**3)))


def gelu_tanh_slope_reference(x, y):
    with np.errstate(over="ignore", invalid="ignore"):
        t = np.tanh(GELU_C * (x + GELU_A * x**3))
        slope = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * GELU_C * (1 + 3 * GELU_A * x * x)
    return np.where(x > 10, 1.0, np.where(x < -10, 0.0, slope))


@kernel
def gelu_tanh_forward_kernel(x, y):
    for i in range(x.size):
        y[i] = gelu_tanh_value(x[i])


@kernel
def gelu_tanh_backward_kernel(x, y, grad_y, grad_x):
    for i in range(x.size):
        grad_x[i] = grad_y[i] * gelu_tanh_slope(x[i], y[i])


@kernel
def gelu_tanh_float32_forward_kernel(x, y):
    for i in range(x.size):
        y[i] = gelu_tanh_float32_value(x[i])


@kernel
def gelu_tanh_float32_backward_kernel(x, y, grad_y, grad_x):
    for i in range(x.size):
        grad_x[i] = grad_y[i] * gelu_tanh_float32_slope(x[i], y[i])


@gpu_kernel
def gelu_tanh_forward_gpu(x, y):
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        y[i] = gelu_tanh_value(x[i])


@gpu_kernel
def gelu_tanh_backward_gpu(x, y, grad_y, grad_x):
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        grad_x[i] = grad_y[i] * gelu_tanh_slope(x[i], y[i])


@gpu_kernel
def gelu_tanh_float32_forward_gpu(x, y):
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        y[i] = gelu_tanh_float32_value(x[i])


@gpu_kernel
def gelu_tanh_float32_backward_gpu(x, y, grad_y, grad_x):
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        grad_x[i] = grad_y[i] * gelu_tanh_float32_slope(x[i], y[i])


class GELUTanh(Pointwise):
    name = "gelu_tanh"
    formula = "y = x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))"
    gradient = "dx = dy * ((1 + t)/2 + x/2 (1 - t^2) sqrt(2/pi) (1 + 0.134145 x^2))"
    reference, reference_slope = staticmethod(gelu_tanh_reference), staticmethod(gelu_tanh_slope_reference)
    kernels = (gelu_tanh_forward_kernel.on_gpu(gelu_tanh_forward_gpu),
               gelu_tanh_backward_kernel.on_gpu(gelu_tanh_backward_gpu))
    float32_kernels = (gelu_tanh_float32_forward_kernel.on_gpu(gelu_tanh_float32_forward_gpu),
                       gelu_tanh_float32_backward_kernel.on_gpu(gelu_tanh_float32_backward_gpu))


# gelu (the exact form, PyTorch's default: x times the normal distribution's CDF) -------------
SQRT_HALF = 0.7071067811865476          # 1 / sqrt(2)
INV_SQRT_2PI = 0.3989422804014327       # 1 / sqrt(2 pi)


@scalar
def gelu_value(x):
    return 0.5 * x * (1.0 + math.erf(x * SQRT_HALF))


@scalar
def gelu_slope(x, y):
    """dy/dx = Phi(x) + x phi(x): the CDF plus x times the density. Beyond |x| = 40 it is exactly
    1 or 0 in float64 (erf is +-1, the density underflows): returned as such, so x = +-inf gives
    1 or 0 rather than inf * 0 = NaN."""
    if x > 40.0:
        return 1.0
    if x < -40.0:
        return 0.0
    return 0.5 * (1.0 + math.erf(x * SQRT_HALF)) + x * INV_SQRT_2PI * math.exp(-0.5 * x * x)


erf_reference = np.vectorize(math.erf, otypes=[np.float64])   # (NumPy has no erf; Python's math does)


def gelu_reference(x):
    return 0.5 * x * (1 + erf_reference(x * SQRT_HALF))


def gelu_slope_reference(x, y):
    cdf = 0.5 * (1 + erf_reference(x * SQRT_HALF))
    with np.errstate(invalid="ignore", over="ignore"):
        slope = cdf + x * INV_SQRT_2PI * np.exp(-0.5 * x * x)
    return np.where(x > 40, 1.0, np.where(x < -40, 0.0, slope))


@kernel
def gelu_forward_kernel(x, y):
    for i in range(x.size):
        y[i] = gelu_value(x[i])


@kernel
def gelu_backward_kernel(x, y, grad_y, grad_x):
    for i in range(x.size):
        grad_x[i] = grad_y[i] * gelu_slope(x[i], y[i])


@gpu_kernel
def gelu_forward_gpu(x, y):
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        y[i] = gelu_value(x[i])


@gpu_kernel
def gelu_backward_gpu(x, y, grad_y, grad_x):
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        grad_x[i] = grad_y[i] * gelu_slope(x[i], y[i])


class GELU(Pointwise):
    name = "gelu"
    formula = "y = x Phi(x) = x/2 (1 + erf(x / sqrt(2)))"
    gradient = "dx = dy * (Phi(x) + x e^(-x^2/2) / sqrt(2 pi))"
    reference, reference_slope = staticmethod(gelu_reference), staticmethod(gelu_slope_reference)
    kernels = (gelu_forward_kernel.on_gpu(gelu_forward_gpu), gelu_backward_kernel.on_gpu(gelu_backward_gpu))


# silu (also called swish): x times its own sigmoid ------------------------------------------
@scalar
def silu_value(x):
    return x * sigmoid_value(x)


@scalar
def silu_slope(x, y):
    s = sigmoid_value(x)
    return s * (1.0 + x * (1.0 - s))   # d(x s)/dx = s + x s (1 - s)


def silu_reference(x):
    return x * sigmoid_reference(x)


def silu_slope_reference(x, y):
    s = sigmoid_reference(x)
    return s * (1 + x * (1 - s))


@kernel
def silu_forward_kernel(x, y):
    for i in range(x.size):
        y[i] = silu_value(x[i])


@kernel
def silu_backward_kernel(x, y, grad_y, grad_x):
    for i in range(x.size):
        grad_x[i] = grad_y[i] * silu_slope(x[i], y[i])


@gpu_kernel
def silu_forward_gpu(x, y):
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        y[i] = silu_value(x[i])


@gpu_kernel
def silu_backward_gpu(x, y, grad_y, grad_x):
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        grad_x[i] = grad_y[i] * silu_slope(x[i], y[i])


class SiLU(Pointwise):
    name = "silu"
    formula, gradient = "y = x sigmoid(x)", "dx = dy * s (1 + x (1 - s)), s = sigmoid(x)"
    reference, reference_slope = staticmethod(silu_reference), staticmethod(silu_slope_reference)
    kernels = (silu_forward_kernel.on_gpu(silu_forward_gpu), silu_backward_kernel.on_gpu(silu_backward_gpu))


# softplus: a smooth relu; beta sharpens it, and beyond beta x > threshold it is x itself -----
@scalar
def softplus_value(beta, threshold, x):
    z = beta * x
    if z > threshold:
        return x   # log(1 + e^z) = z to float precision there, and e^z may overflow
    return math.log1p(math.exp(z)) / beta


@scalar
def softplus_slope(beta, threshold, x, y):
    z = beta * x
    if z > threshold:
        return 1.0
    return sigmoid_value(z)


def softplus_reference(x, beta=1.0, threshold=20.0):
    z = beta * x
    with np.errstate(over="ignore"):
        return np.where(z > threshold, x, np.log1p(np.exp(z)) / beta)


def softplus_slope_reference(x, y, beta=1.0, threshold=20.0):
    z = beta * x
    return np.where(z > threshold, 1.0, sigmoid_reference(z))


@kernel
def softplus_forward_kernel(beta, threshold, x, y):
    for i in range(x.size):
        y[i] = softplus_value(beta, threshold, x[i])


@kernel
def softplus_backward_kernel(beta, threshold, x, y, grad_y, grad_x):
    for i in range(x.size):
        grad_x[i] = grad_y[i] * softplus_slope(beta, threshold, x[i], y[i])


@gpu_kernel
def softplus_forward_gpu(beta, threshold, x, y):
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        y[i] = softplus_value(beta, threshold, x[i])


@gpu_kernel
def softplus_backward_gpu(beta, threshold, x, y, grad_y, grad_x):
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        grad_x[i] = grad_y[i] * softplus_slope(beta, threshold, x[i], y[i])


class Softplus(Pointwise):
    name, parameters = "softplus", ("beta", "threshold")
    defaults = {"beta": 1.0, "threshold": 20.0}
    formula = "y = ln(1 + e^(beta x)) / beta  (y = x where beta x > threshold)"
    gradient = "dx = dy * sigmoid(beta x)  (dy where beta x > threshold)"
    reference, reference_slope = staticmethod(softplus_reference), staticmethod(softplus_slope_reference)
    kernels = (softplus_forward_kernel.on_gpu(softplus_forward_gpu),
               softplus_backward_kernel.on_gpu(softplus_backward_gpu))


# elu: x above 0, a smooth curve down to -alpha below ------------------------------------------
@scalar
def elu_value(alpha, x):
    if x > 0:
        return x
    return alpha * math.expm1(x)   # NaN too: expm1(NaN) is NaN


@scalar
def elu_slope(alpha, x, y):
    if x > 0:
        return 1.0
    return y + alpha   # d(alpha (e^x - 1))/dx = alpha e^x = y + alpha, from the output


def elu_reference(x, alpha=1.0):
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


def elu_slope_reference(x, y, alpha=1.0):
    return np.where(x > 0, 1.0, elu_reference(x, alpha) + alpha)


@kernel
def elu_forward_kernel(alpha, x, y):
    for i in range(x.size):
        y[i] = elu_value(alpha, x[i])


@kernel
def elu_backward_kernel(alpha, x, y, grad_y, grad_x):
    for i in range(x.size):
        grad_x[i] = grad_y[i] * elu_slope(alpha, x[i], y[i])


@gpu_kernel
def elu_forward_gpu(alpha, x, y):
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        y[i] = elu_value(alpha, x[i])


@gpu_kernel
def elu_backward_gpu(alpha, x, y, grad_y, grad_x):
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        grad_x[i] = grad_y[i] * elu_slope(alpha, x[i], y[i])


class ELU(Pointwise):
    name, has_kinks, parameters = "elu", True, ("alpha",)
    defaults = {"alpha": 1.0}
    formula, gradient = "y = x if x > 0 else alpha (e^x - 1)", "dx = dy if x > 0 else dy (y + alpha)"
    reference, reference_slope = staticmethod(elu_reference), staticmethod(elu_slope_reference)
    kernels = (elu_forward_kernel.on_gpu(elu_forward_gpu), elu_backward_kernel.on_gpu(elu_backward_gpu))
