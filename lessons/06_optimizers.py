# %% [markdown]
# # Lesson 06: optimizers on a 2-D loss surface
#
# A loss of two weights can be drawn as a landscape. This one is a long, narrow valley
# (Rosenbrock's function, minimum at (1, 1)):
#
#     L(a, b) = (1 - a)^2 + 100 (b - a^2)^2
#
# Plain gradient descent zig-zags across the valley; momentum builds up speed along it; Adam
# scales each coordinate's step by the size of its recent gradients; Adadelta needs no
# learning rate at all. A learning-rate schedule and gradient clipping tame the first steps.

# %%
import numpy as np

import minisora as ms
from lesson_setup import FAST, figure_path

start = np.array([-1.5, 2.0])
steps = 150 if FAST else 1500


def loss(point):
    a, b = point[0], point[1]
    return (1 - a) ** 2 + 100 * (b - a * a) ** 2


def descend(make_optimizer, schedule=None, clip=None):
    point = ms.nn.Parameter(ms.tensor(start))
    optimizer = make_optimizer([point])
    scheduler = schedule(optimizer) if schedule else None
    path = [point.numpy().copy()]
    for _ in range(steps):
        optimizer.zero_grad()
        loss(point).backward()
        if clip:
            ms.optim.clip_grad_norm_([point], clip)
        optimizer.step()
        if scheduler:
            scheduler.step()
        path.append(point.numpy().copy())
    return np.array(path)


runs = {
    "SGD lr 1e-3": dict(make_optimizer=lambda p: ms.optim.SGD(p, lr=1e-3)),
    "SGD + momentum 0.9": dict(make_optimizer=lambda p: ms.optim.SGD(p, lr=1e-3, momentum=0.9)),
    "Adam lr 0.05": dict(make_optimizer=lambda p: ms.optim.Adam(p, lr=0.05)),
    "Adadelta lr 1": dict(make_optimizer=lambda p: ms.optim.Adadelta(p, lr=1.0)),
    "Adam + decay + clip": dict(make_optimizer=lambda p: ms.optim.Adam(p, lr=0.1),
                                schedule=lambda o: ms.optim.lr_scheduler.ExponentialLR(o, gamma=0.998), clip=1.0),
}
paths = {}
for label, settings in runs.items():
    paths[label] = descend(**settings)
    end = paths[label][-1]
    print(f"{label:<22} after {steps} steps: ({end[0]:+.3f}, {end[1]:+.3f}), loss {loss(end):.4f}")

# %%
figure = ms.plot.figure.new_figure(7, 5.5)
axes = figure.subplots()
a, b = np.meshgrid(np.linspace(-2, 2, 200), np.linspace(-1, 3, 200))
axes.contour(a, b, np.log10(loss(np.array([a, b])) + 1e-3), levels=25, cmap="Greys", linewidths=0.6)
# Paths that overlap stay apart by eye: each its own marker every few steps, and each drawn thinner
# than the one below it.
for k, ((label, path), marker) in enumerate(zip(paths.items(), "osD^v")):
    axes.plot(path[:, 0], path[:, 1], lw=3.0 - 0.5 * k, marker=marker, markersize=4, markevery=max(len(path) // 12, 1),
              label=label)
axes.plot([1], [1], "k*", markersize=12, label="minimum (1, 1)")
axes.set_xlim(-2, 2)
axes.set_ylim(-1, 3)
axes.legend(fontsize=7, loc="lower right")
axes.set_title("paths of the optimizers")
axes.set_xlabel("a")
axes.set_ylabel("b")
ms.plot.figure.finish(figure, figure_path("06_optimizers.png"))
print("saved", figure_path("06_optimizers.png"))

# %% [markdown]
# **Exercise**: write one step of Adam in `lessons/exercises/06_adam.py`,
# then grade it: `minisora check lessons/exercises/06_adam.py`.
