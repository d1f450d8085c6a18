"""Pictures of a GAN: its 2-D samples over the modes it should cover, and its training curves."""
import numpy as np

from .figure import finish, new_figure


def sample_scatter(samples, modes, path=None, title="generated samples"):
    """Generated 2-D points (n, 2) over the mixture's mode centres (k, 2)."""
    samples, modes = np.asarray(samples), np.asarray(modes)
    figure = new_figure(5, 5)
    axes = figure.subplots()
    axes.scatter(samples[:, 0], samples[:, 1], s=3, alpha=0.4, label="generated")
    axes.scatter(modes[:, 0], modes[:, 1], s=60, marker="x", color="red", label="mode centres")
    span = np.abs(modes).max() * 1.5
    axes.set_xlim(-span, span)
    axes.set_ylim(-span, span)
    axes.set_aspect("equal")
    axes.set_xlabel("x1")
    axes.set_ylabel("x2")
    axes.set_title(title)
    axes.legend(loc="upper right", fontsize=8)
    return finish(figure, path)


def gan_curves(history, path=None, title=None):
    """Both players' losses (left) and D's mean verdicts D(x) on real and D(G(z)) on generated
    samples (right) at each evaluation: a GAN that trains keeps them moving around each other; a
    D(G(z)) stuck near 0 is a discriminator that has won."""
    steps = [row["step"] for row in history]
    figure = new_figure(10, 4)
    losses, verdicts = figure.subplots(1, 2)
    for axes, keys, ylabel in ((losses, (("d_loss", "L_D"), ("g_loss", "L_G")), "loss (mean since the last point)"),
                               (verdicts, (("d_real", "D(x), real"), ("d_fake", "D(G(z)), generated")),
                                "discriminator's probability of real")):
        for key, label in keys:
            axes.plot(steps, [row[key] for row in history], marker="o", markersize=3, label=label)
        axes.set_xlabel("step")
        axes.set_ylabel(ylabel)
        axes.grid(alpha=0.3)
        axes.legend()
    if title:
        figure.suptitle(title)
    return finish(figure, path)
