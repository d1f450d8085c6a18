"""Linear: the layer of neurons, y = x W^T + b (the `linear` particle with its own W and b)."""
import math

from .. import errors, functional as F
from ..creation import zeros
from . import init
from .module import Module, Parameter


class Linear(Module):
    """in_features -> out_features; weight (out, in) and bias (out,) start as PyTorch's do."""

    def __init__(self, in_features, out_features, bias=True, dtype="float32"):
        super().__init__()
        if in_features < 1 or out_features < 1:
            raise errors.ValueError(f"Linear: in_features and out_features must be positive, got {in_features}, {out_features}")
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.weight = Parameter(zeros(out_features, in_features, dtype=dtype))
        self.bias = Parameter(zeros(out_features, dtype=dtype)) if bias else None
        self.reset_parameters()

    def reset_parameters(self):
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1.0 / math.sqrt(self.in_features)
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Identity(Module):
    def forward(self, x):
        return x


class Flatten(Module):
    """(N, d1, d2, ...) -> (N, d1 * d2 * ...): images into rows for a Linear layer."""

    def __init__(self, start_dim=1):
        super().__init__()
        self.start_dim = start_dim

    def forward(self, x):
        return x.reshape(x.shape[: self.start_dim] + (-1,))

    def extra_repr(self):
        return f"start_dim={self.start_dim}"
