"""Mixtures of 2-D Gaussians, the standard tests of whether a GAN covers every mode.

    ring8(n)     8 Gaussians of std 0.02 evenly spaced on a circle of radius 2
    grid25(n)    25 Gaussians of std 0.05 at every point of {-4, -2, 0, 2, 4}^2

(The settings of VEEGAN and PacGAN, Srivastava et al. 2017 and Lin et al. 2018.) Each draws
`n` points (float32) from its mixture with a numpy Generator: a GAN asks for a fresh batch every
step, from minisora's seeded generator, so a resumed run draws the same points. `MIXTURES` gives
each one's mode centres and std, which ms.metrics.mode_coverage reads.
"""
import math

import numpy as np

from .. import errors


def ring_modes(count=8, radius=2.0):
    angles = 2 * math.pi * np.arange(count) / count
    return np.stack([radius * np.cos(angles), radius * np.sin(angles)], 1)


def grid_modes(side=5, spacing=2.0):
    axis = spacing * (np.arange(side) - (side - 1) / 2)
    return np.stack(np.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2)


MIXTURES = {"ring8": (ring_modes(), 0.02), "grid25": (grid_modes(), 0.05)}


def mixture(name, n, generator):
    """n points of mixture `name`: a mode drawn uniformly for each, plus Gaussian noise of its std."""
    if name not in MIXTURES:
        raise errors.ValueError(f"mixture: choose one of {', '.join(MIXTURES)}, got {name!r}")
    modes, std = MIXTURES[name]
    chosen = generator.integers(0, len(modes), n)
    return (modes[chosen] + std * generator.standard_normal((n, 2))).astype(np.float32)


def ring8(n, generator):
    return mixture("ring8", n, generator)


def grid25(n, generator):
    return mixture("grid25", n, generator)
