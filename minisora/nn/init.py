"""Initial values for parameters, drawn from minisora's seeded generator (see manual_seed).

PyTorch's Linear starts from kaiming_uniform_ with a = sqrt(5), which works out to
    W ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)),   b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))
and so does minisora's, so a network starts at the same scale in both.
"""
import math

from .. import errors, random as ms_random


def _fill(tensor, values):
    tensor.backend.copy_into(tensor.data, values)
    return tensor


def uniform_(tensor, low=0.0, high=1.0):
    """Fill in place with samples of U(low, high)."""
    return _fill(tensor, ms_random.generator().uniform(low, high, tensor.shape))


def normal_(tensor, mean=0.0, std=1.0):
    return _fill(tensor, ms_random.generator().normal(mean, std, tensor.shape))


def zeros_(tensor):
    return _fill(tensor, 0.0)


def ones_(tensor):
    return _fill(tensor, 1.0)


def fan_in(tensor):
    """Inputs feeding each output: the product of every dim after the first (weight is (out, in, ...))."""
    if tensor.ndim < 2:
        raise errors.ValueError(f"fan_in needs a tensor of 2 or more dims, got shape {tensor.shape}")
    return math.prod(tensor.shape[1:])


def kaiming_uniform_(tensor, a=0.0):
    """He init for a leaky-ReLU of slope a: U(-bound, bound), bound = sqrt(6 / ((1 + a^2) fan_in))."""
    bound = math.sqrt(6.0 / ((1.0 + a * a) * fan_in(tensor)))
    return uniform_(tensor, -bound, bound)


def glorot_(tensor):
    """Glorot (Xavier) uniform as PyTorch Geometric draws it: U(-bound, bound) with
    bound = sqrt(6 / (size[-2] + size[-1])), from the last two dims (GATConv's attention vectors
    (1, heads, channels) too)."""
    if tensor.ndim < 2:
        raise errors.ValueError(f"glorot_ needs a tensor of 2 or more dims, got shape {tensor.shape}")
    bound = math.sqrt(6.0 / (tensor.shape[-2] + tensor.shape[-1]))
    return uniform_(tensor, -bound, bound)
