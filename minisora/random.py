"""minisora's random numbers: one seeded NumPy generator for randn, rand, dropout and init.

Like PyTorch, a fresh process starts from a fixed seed, so runs repeat unless you reseed.
"""
import numpy as np
from . import errors

DEFAULT_SEED = 0
_generator = np.random.default_rng(DEFAULT_SEED)


def manual_seed(seed):
    """Restart the generator from `seed` (an int); returns the new generator."""
    global _generator
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise errors.ValueError(f"manual_seed: seed must be a non-negative int, got {seed!r}")
    _generator = np.random.default_rng(int(seed))
    return _generator


def generator():
    return _generator
