# %% [markdown]
# # Lesson 15: generative adversarial networks: a game of two networks
#
# A generator G turns noise z into samples; a discriminator D looks at a sample and says how real
# it looks (a logit l, with D(x) = sigmoid(l)). They learn against each other:
#
#     D minimises   L_D = -log D(x) - log(1 - D(G(z)))      (real called real, generated called fake)
#     G minimises   L_G = -log D(G(z))                      (make D call its samples real)
#
# Both use Adam(lr 2e-4, betas 0.5, 0.999). Our data: 8 Gaussians on a ring of radius 2, std 0.02.

# %%
import numpy as np

import minisora as ms
from lesson_setup import FAST, figure_path
from minisora.data.mixtures import MIXTURES
from minisora.models.gan import generator_loss
from minisora.plot.figure import finish, new_figure
from minisora.training.gan import GANRun

modes, std = MIXTURES["ring8"]
real = ms.data.ring8(2000, np.random.default_rng(0))
best = ms.metrics.mode_coverage(real, modes, std)
print("the data itself:", best)
assert best.covered == 8 and abs(best.high_quality - (1 - np.exp(-4.5))) < 0.01   # 98.9% within 3 std

# %% [markdown]
# ## Why G minimises -log D(G(z)), not log(1 - D(G(z)))
#
# The game as first written has G minimise log(1 - D(G(z))). Early in training D wins easily:
# D(G(z)) is near 0, and there the gradient of log(1 - sigmoid(l)) with respect to the logit is
# -sigmoid(l), nearly 0: G learns nothing. -log D(G(z)) has the same goal, but its gradient,
# -(1 - sigmoid(l)), is nearly -1 exactly there: the "non-saturating" loss.

# %%
verdicts = np.linspace(0.001, 0.999, 99)
logits = np.log(verdicts / (1 - verdicts))
gradients = {}
for kind in ("saturating", "ns"):
    f = ms.tensor(logits, dtype="float64", requires_grad=True)
    (generator_loss(f, kind) * len(logits)).backward()   # (x len: the loss averages; one sample's gradient)
    gradients[kind] = f.grad.numpy()
at_start = np.argmin(np.abs(verdicts - 0.01))
print(f"at D(G(z)) = 0.01: dL/dlogit = {gradients['saturating'][at_start]:.3f} (saturating), "
      f"{gradients['ns'][at_start]:.3f} (non-saturating)")
assert abs(gradients["saturating"][at_start]) < 0.02 and abs(gradients["ns"][at_start]) > 0.98
figure = new_figure(6, 4)
axes = figure.subplots()
axes.plot(verdicts, gradients["saturating"], label="log(1 - D(G(z))) (saturating)")
axes.plot(verdicts, gradients["ns"], label="-log D(G(z)) (non-saturating)")
axes.set_xlabel("D(G(z)): the discriminator's probability that a generated sample is real")
axes.set_ylabel("gradient of G's loss w.r.t. D's logit")
axes.legend()
finish(figure, figure_path("15_gradients.png"))
print("saved", figure_path("15_gradients.png"))

# %% [markdown]
# ## Training: the seed's settings cover every mode
#
# `GANRun` alternates the players: a D step (G's samples made without a graph: they are data to
# D), then a G step (through D, whose parameters are frozen for it). `minisora train gan` runs
# the same with checkpoints and pictures; its default is 20000 steps (8/8 modes and 88-94%
# high-quality samples for seeds 0-2, benchmarks/RESULTS.md). Here a shorter run.

# %%
def trained(steps, **settings):
    run = GANRun({"dataset": "ring8", "seed": 0, **settings}, out="/dev/null", log=lambda message: None)
    for _ in range(steps):
        run.train_step()
    return run.samples(2000, np.random.default_rng(5).standard_normal((2000, 2)).astype(np.float32))


def modes_reached(samples):
    """Modes that at least 5% of the samples are nearest to (near or not: where the mass goes)."""
    nearest = np.linalg.norm(samples[:, None] - modes[None], axis=-1).argmin(1)
    return int((np.bincount(nearest, minlength=8) >= 0.05 * len(samples)).sum())


steps = 2000 if FAST else 4000
good = trained(steps)
print(f"seed settings, {steps} steps: {ms.metrics.mode_coverage(good, modes, std)}; "
      f"mass near {modes_reached(good)} of 8 modes")
assert modes_reached(good) == 8
ms.plot.sample_scatter(good, modes, figure_path("15_ring_good.png"), title=f"Adam 2e-4, beta1 0.5: {steps} steps")

# %% [markdown]
# ## Mode collapse
#
# With a learning rate ten times larger and Adam's usual beta1 = 0.9 (more momentum), the game
# turns unstable: G finds a few places D cannot yet reject and piles its samples there; D
# catches up, G jumps elsewhere. The samples crowd a few modes and the rest are never generated.

# %%
collapsed = trained(2000, lr=2e-3, beta1=0.9)
print(f"lr 2e-3, beta1 0.9, 2000 steps: {ms.metrics.mode_coverage(collapsed, modes, std)}; "
      f"mass near {modes_reached(collapsed)} of 8 modes")
assert modes_reached(collapsed) <= 4
ms.plot.sample_scatter(collapsed, modes, figure_path("15_ring_collapse.png"), title="lr 2e-3, beta1 0.9: collapse")
print("saved", figure_path("15_ring_good.png"), "and", figure_path("15_ring_collapse.png"))

# %% [markdown]
# `minisora train gan --data digits` trains a small DCGAN (conv_transpose2d up, conv2d down) on
# the 8x8 digits; `minisora sample --checkpoint runs/gan-digits --n 64` draws a grid, and
# ms.metrics.digit_score asks a digits classifier what it sees in them.
#
# **Exercise**: write the two losses, detaching where D's loss must not reach G, in
# `lessons/exercises/15_gan_losses.py`, then grade it:
# `minisora check lessons/exercises/15_gan_losses.py`.
