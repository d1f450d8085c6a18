# %% [markdown]
# # Lesson 02: activations and their derivatives
#
# Without an activation, layers of neurons collapse into one linear map. Each activation bends
# the line a different way, and backpropagation needs its slope:
#
# | activation | y | dy/dx |
# | --- | --- | --- |
# | ReLU | max(0, x) | 1 if x > 0 else 0 |
# | leaky ReLU | x if x > 0 else 0.01 x | 1 if x > 0 else 0.01 |
# | sigmoid | 1 / (1 + e^-x) | y (1 - y) |
# | tanh | tanh x | 1 - y^2 |
# | GELU | x Phi(x) = x/2 (1 + erf(x / sqrt 2)) | Phi(x) + x e^(-x^2/2) / sqrt(2 pi) |
# | GELU, tanh form (GPT-2's) | x/2 (1 + tanh(sqrt(2/pi)(x + 0.044715 x^3))) | see `minisora/particles/activations.py` |
#
# Phi is the normal distribution's CDF: GELU weighs x by how likely a standard normal number is
# below it. The tanh form is a cheaper curve within 0.0005 of it.
#
# Below, the slopes come from each particle's own backward (x.grad after y.sum().backward()),
# and are checked against the formula in the table.

# %%
import math

import numpy as np

import minisora as ms
from minisora import F
from lesson_setup import FAST, figure_path

xs = np.linspace(-4, 4, 33 if FAST else 401)
activations = {"relu": F.relu, "leaky_relu": F.leaky_relu, "sigmoid": F.sigmoid, "tanh": F.tanh, "gelu": F.gelu,
               "gelu_tanh": lambda x: F.gelu(x, approximate="tanh")}
curves = {}
for name, f in activations.items():
    x = ms.tensor(xs, requires_grad=True)           # float64: xs is a float64 NumPy array
    y = f(x)
    y.sum().backward()                              # d(sum y)/dx_i = dy_i/dx_i: the slope at every point
    curves[name] = (y.numpy(), x.grad.numpy())

sigmoid = 1 / (1 + np.exp(-xs))
np.testing.assert_allclose(curves["sigmoid"][1], sigmoid * (1 - sigmoid), rtol=1e-12)
np.testing.assert_allclose(curves["tanh"][1], 1 - np.tanh(xs) ** 2, rtol=1e-12)
np.testing.assert_allclose(curves["relu"][1], (xs > 0).astype(float))
cdf = np.array([0.5 * (1 + math.erf(x / math.sqrt(2))) for x in xs])
np.testing.assert_allclose(curves["gelu"][1], cdf + xs * np.exp(-xs**2 / 2) / math.sqrt(2 * math.pi), rtol=1e-12)
gap = np.abs(curves["gelu"][0] - curves["gelu_tanh"][0]).max()
assert gap < 5e-4, gap   # the claim in the table above
print(f"the backward of every activation agrees with its formula; the two GELUs differ by at most {gap:.1e}")

# %% [markdown]
# The slopes tell the story of training: sigmoid's is at most 0.25 and vanishes for large |x|
# (a deep stack of sigmoids passes back almost nothing), ReLU's is exactly 1 wherever the
# neuron is active.

# %%
figure = ms.plot.figure.new_figure(10, 4)
value_axes, slope_axes = figure.subplots(1, 2)
# Curves that overlap (relu and leaky relu for x > 0, the two GELUs) stay visible: each its own
# line style, and each drawn thinner than the one below it.
STYLES = ["-", "--", ":", "-.", "-", (0, (1, 2))]
for k, (style, (name, (values, slopes))) in enumerate(zip(STYLES, curves.items())):
    width = 3.2 - 0.45 * k
    value_axes.plot(xs, values, linestyle=style, lw=width, label=name)
    slope_axes.plot(xs, slopes, linestyle=style, lw=width, label=name)
value_axes.set_title("y = f(x)")
slope_axes.set_title("dy/dx (from backward)")
value_axes.set_ylabel("y")
slope_axes.set_ylabel("dy/dx")
for axes in (value_axes, slope_axes):
    axes.set_xlabel("x")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
ms.plot.figure.finish(figure, figure_path("02_activations.png"))
print("saved", figure_path("02_activations.png"))

# %% [markdown]
# Finite differences agree too (lesson 04 explains them):

# %%
for name, f in activations.items():
    point = ms.tensor(np.array([-1.3, 0.4, 2.2]), requires_grad=True)
    report = ms.gradcheck(f, [point])
    print(f"{name:<11} gradcheck {'passed' if report else 'FAILED'}, max relative error {report.max_rel_error:.1e}")
    assert report

# %% [markdown]
# **Exercise**: write the backward of sigmoid yourself in `lessons/exercises/02_sigmoid.py`,
# then grade it: `minisora check lessons/exercises/02_sigmoid.py`.
