# %% [markdown]
# # Lesson 01: the neuron
#
# A neuron takes inputs x, weighs them with w, adds a bias b, and passes the sum through an
# activation: **y = ReLU(w . x + b)**. With w = (2, 3), x = (1, 0) and b = 0:
#
#     w . x + b = 2 * 1 + 3 * 0 + 0 = 2,    ReLU(2) = max(0, 2) = 2
#
# In minisora the neuron is two particles, `linear` then `relu`. Each is written by hand,
# forward and backward, in `minisora/particles/` (matmul.py and activations.py).

# %%
import numpy as np

import minisora as ms
from minisora import F
from lesson_setup import FAST, figure_path

x = ms.tensor([[1.0, 0.0]])
w = ms.tensor([[2.0, 3.0]], requires_grad=True)
b = ms.zeros(1, requires_grad=True)
y = F.relu(F.linear(x, w, b))
print("y =", y.item())
assert y.item() == 2.0

# %% [markdown]
# The graph behind y: which particle made it, and from what.

# %%
print(ms.inspect.explain(y, {"x": x, "w": w, "b": b}))

# %% [markdown]
# Every particle call, with its formula and the numbers that came out:

# %%
with ms.inspect.trace() as calls:
    F.relu(F.linear(x, w, b)).backward()
print(calls)
print("dy/dw =", w.grad.tolist(), " dy/db =", b.grad.tolist())   # = x and 1 while the neuron is active

# %% [markdown]
# How the output changes as the first input moves (the second stays 0): a straight line of
# slope w1 = 2 while w . x + b > 0, and flat at 0 below, where ReLU cuts it off.

# %%
inputs = np.linspace(-2, 2, 9 if FAST else 81)
outputs = [F.relu(F.linear(ms.tensor([[v, 0.0]]), w, b)).item() for v in inputs]
figure = ms.plot.figure.new_figure(5, 3.5)
axes = figure.subplots()
axes.plot(inputs, outputs)
axes.axvline(0, color="grey", lw=0.5)
axes.set_xlabel("x1 (x2 = 0)")
axes.set_ylabel("y = ReLU(2 x1 + 3 x2 + 0)")
axes.set_title("one neuron")
ms.plot.figure.finish(figure, figure_path("01_neuron.png"))
print("saved", figure_path("01_neuron.png"))

# %% [markdown]
# **Exercise**: write the forward of a whole layer of neurons, y = x W^T + b, in `lessons/exercises/01_linear.py`,
# then grade it: `minisora check lessons/exercises/01_linear.py`.
