# %% [markdown]
# # Lesson 03: backpropagation and one weight update
#
# Take one weight w, one input x = 1, a target t = 1.5 and the loss L = (w x - t)^2 / 2.
# The chain rule, one link per particle:
#
#     p = w x          dp/dw = x
#     e = p - t        de/dp = 1
#     L = e^2 / 2      dL/de = e
#     dL/dw = dL/de * de/dp * dp/dw = e * 1 * x = (w x - t) x
#
# At w = 2: dL/dw = (2 - 1.5) * 1 = 0.5. One step of gradient descent with learning rate 0.1:
#
#     w <- w - lr * dL/dw = 2 - 0.1 * 0.5 = 1.95
#
# A widely shared write-up prints 1.45 here. That is not w - dL/dw, the learning rate
# forgotten (2 - 0.5 = 1.5): it is the step taken from the target instead of the weight,
# t - lr * dL/dw = 1.5 - 0.05 = 1.45. The cell below computes all three. (Lesson 11 lists every
# slip of the source articles, each with a cell that proves the correction.)

# %%
import numpy as np

import minisora as ms
from lesson_setup import FAST, figure_path

w = ms.nn.Parameter(ms.tensor(2.0, dtype="float64"))
x, t, lr = 1.0, 1.5, 0.1
loss = (w * x - t) ** 2 / 2
loss.backward()
print("dL/dw by backward:", w.grad.item(), "  by hand:", (2.0 * x - t) * x)
assert w.grad.item() == 0.5

ms.optim.SGD([w], lr=lr).step()
print("after one SGD step: w =", w.item())
assert abs(w.item() - 1.95) < 1e-12
slope = (2.0 * x - t) * x
print(f"w - dL/dw = {2.0 - slope}   t - lr dL/dw = {t - lr * slope:.2f}   (the write-up's 1.45)")
assert 2.0 - slope == 1.5 and abs((t - lr * slope) - 1.45) < 1e-12

# %% [markdown]
# The same chain rule runs through a whole network: every particle's backward turns the
# gradient of its output into gradients of its inputs. Here a two-layer network by hand
# (NumPy) and by minisora give the same gradients.

# %%
rng = np.random.default_rng(0)
X, W1, W2 = rng.normal(size=(4, 3)), rng.normal(size=(3, 5)), rng.normal(size=(5, 1))
H = np.maximum(X @ W1, 0)                     # forward by hand
out = H @ W2
grad_out = np.ones_like(out) / out.size       # L = mean(out)
grad_W2 = H.T @ grad_out                      # backward by hand, particle by particle
grad_H = grad_out @ W2.T
grad_W1 = X.T @ (grad_H * (X @ W1 > 0))

w1, w2 = ms.tensor(W1, requires_grad=True), ms.tensor(W2, requires_grad=True)
(ms.F.relu(ms.tensor(X) @ w1) @ w2).mean().backward()
np.testing.assert_allclose(w1.grad.numpy(), grad_W1, rtol=1e-12)
np.testing.assert_allclose(w2.grad.numpy(), grad_W2, rtol=1e-12)
print("hand-written backward == minisora's backward")

# %% [markdown]
# Gradient descent on the one-weight loss: the steps shrink as the slope does.

# %%
w = ms.nn.Parameter(ms.tensor(2.0, dtype="float64"))
optimizer = ms.optim.SGD([w], lr=lr)
path = [w.item()]
for _ in range(10 if FAST else 40):
    optimizer.zero_grad()
    ((w * x - t) ** 2 / 2).backward()
    optimizer.step()
    path.append(w.item())
print("w after", len(path) - 1, "steps:", round(path[-1], 4), "(the minimum is at w = t / x = 1.5)")
grid = np.linspace(1.3, 2.1, 100)
figure = ms.plot.figure.new_figure(5, 3.5)
axes = figure.subplots()
axes.plot(grid, (grid * x - t) ** 2 / 2, label="L(w)")
axes.plot(path, [(p * x - t) ** 2 / 2 for p in path], "o-", markersize=3, label="SGD, lr 0.1")
axes.set_xlabel("w")
axes.set_ylabel("loss L")
axes.legend()
ms.plot.figure.finish(figure, figure_path("03_descent.png"))
print("saved", figure_path("03_descent.png"))

# %% [markdown]
# **Exercise**: work out dL/dw by the chain rule and take one step, in `lessons/exercises/03_gradient_step.py`,
# then grade it: `minisora check lessons/exercises/03_gradient_step.py`.
