# %% [markdown]
# # Lesson 04: gradient checking
#
# How do we know a backward is right? Compare it with the slope measured directly:
#
#     dL/dx_i ~ (L(x + eps e_i) - L(x - eps e_i)) / (2 eps)        (central differences, error ~ eps^2)
#
# Two errors pull against each other. Truncation error shrinks with eps (like eps^2), rounding
# error grows as eps shrinks (like machine epsilon / eps). float64 has ~1e-16 to spare, float32
# only ~1e-7: that is why gradient checks run in float64.

# %%
import numpy as np

import minisora as ms
from minisora import F
from lesson_setup import FAST, figure_path

x0 = np.array([0.3, -1.2, 0.8])
weights = np.array([0.5, -1.0, 2.0])   # L = sum(tanh(x) * weights): never a plain sum (lesson text below)


def loss(values, dtype):
    return float((F.tanh(ms.tensor(values, dtype=dtype)) * ms.tensor(weights, dtype=dtype)).sum().item())


exact = weights * (1 - np.tanh(x0) ** 2)
epsilons = np.logspace(-12, -1, 12 if FAST else 45)
errors = {}
for dtype in ("float64", "float32"):
    errors[dtype] = []
    for eps in epsilons:
        numeric = [(loss(x0 + eps * e, dtype) - loss(x0 - eps * e, dtype)) / (2 * eps) for e in np.eye(3)]
        errors[dtype].append(np.max(np.abs(np.array(numeric) - exact)))
best64 = epsilons[int(np.argmin(errors["float64"]))]
print(f"float64: smallest error {min(errors['float64']):.1e} at eps = {best64:.0e}")
print(f"float32: smallest error {min(errors['float32']):.1e}: four or five digits at best")

figure = ms.plot.figure.new_figure(5.5, 4)
axes = figure.subplots()
for dtype, values in errors.items():
    axes.loglog(epsilons, values, "o-", markersize=3, label=dtype)
axes.set_xlabel("eps")
axes.set_ylabel("max |finite difference - backward|")
axes.legend()
axes.set_title("truncation (right) against rounding (left)")
ms.plot.figure.finish(figure, figure_path("04_eps.png"))
print("saved", figure_path("04_eps.png"))

# %% [markdown]
# `ms.gradcheck` does this for every element, in float64, and weighs the output with a fixed
# random g before summing: the gradient of a plain sum(softmax(x)) is zero whatever x is, so a
# backward returning zeros would pass a check of the plain sum.

# %%
x = ms.tensor(np.random.default_rng(0).normal(size=(2, 4)), requires_grad=True)
report = ms.gradcheck(lambda t: F.softmax(t, dim=-1), [x])
print(report)
assert report

# %% [markdown]
# And a wrong backward is caught, with the worst element named:

# %%
from minisora.particles import Particle   # noqa: E402


class WrongSquare(Particle):
    name = "wrong_square"

    @staticmethod
    def forward(ctx, x):
        ctx.save(x)
        return x * x

    @staticmethod
    def backward(ctx, grad_y):
        (x,) = ctx.saved
        return (grad_y * x,)              # should be 2 x


report = ms.gradcheck(lambda t: ms.autograd.call(WrongSquare, t), [ms.tensor(np.array([1.0, -2.0]), requires_grad=True)])
print(report)
assert not report

# %% [markdown]
# **Exercise**: write the backward of softmax in `lessons/exercises/04_softmax.py` (this lesson's gradcheck is how the checker grades it),
# then grade it: `minisora check lessons/exercises/04_softmax.py`.
