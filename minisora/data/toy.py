"""Two-dimensional toy datasets, generated (no download): moons, circles, spirals.

Each returns a TensorDataset of float32 points (n, 2) and int64 labels, so a decision
boundary can be drawn in the plane.
"""
import math

import numpy as np

from .dataset import TensorDataset


def _labelled(parts, noise, rng, name):
    points = np.concatenate(parts).astype(np.float64)
    labels = np.concatenate([np.full(len(p), label) for label, p in enumerate(parts)]).astype(np.int64)
    points += rng.normal(0.0, noise, points.shape)
    return TensorDataset(points.astype(np.float32), labels, classes=[str(c) for c in range(len(parts))], name=name)


def moons(count=1000, noise=0.1, seed=0):
    """Two interleaved half circles: (cos t, sin t) and (1 - cos t, 0.5 - sin t), t in [0, pi]."""
    outer = count // 2
    t_outer, t_inner = np.linspace(0, math.pi, outer), np.linspace(0, math.pi, count - outer)
    parts = [np.stack([np.cos(t_outer), np.sin(t_outer)], 1), np.stack([1 - np.cos(t_inner), 0.5 - np.sin(t_inner)], 1)]
    return _labelled(parts, noise, np.random.default_rng(seed), "moons")


def circles(count=1000, noise=0.05, factor=0.5, seed=0):
    """A circle of radius 1 (label 0) around one of radius `factor` (label 1)."""
    outer = count // 2
    t_outer = np.linspace(0, 2 * math.pi, outer, endpoint=False)
    t_inner = np.linspace(0, 2 * math.pi, count - outer, endpoint=False)
    parts = [np.stack([np.cos(t_outer), np.sin(t_outer)], 1), factor * np.stack([np.cos(t_inner), np.sin(t_inner)], 1)]
    return _labelled(parts, noise, np.random.default_rng(seed), "circles")


def spiral(count=1000, classes=2, noise=0.03, turns=1.5, seed=0):
    """`classes` spiral arms: radius r in [0.1, 1], angle 2 pi (turns r + arm / classes)."""
    parts = []
    for arm in range(classes):
        n = count // classes + (1 if arm < count % classes else 0)
        radius = np.linspace(0.1, 1.0, n)
        angle = 2 * math.pi * (turns * radius + arm / classes)
        parts.append(np.stack([radius * np.cos(angle), radius * np.sin(angle)], 1))
    return _labelled(parts, noise, np.random.default_rng(seed), "spiral")
