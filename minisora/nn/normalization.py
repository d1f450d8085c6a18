"""LayerNorm: normalize each vector to mean 0 and variance 1, then a learned scale and shift."""
from .. import errors, functional as F
from ..creation import ones, zeros
from .module import Module, Parameter


class LayerNorm(Module):
    def __init__(self, normalized_shape, eps=1e-5, dtype="float32"):
        super().__init__()
        size = normalized_shape if isinstance(normalized_shape, int) else tuple(normalized_shape)
        if not isinstance(size, int):
            if len(size) != 1:
                raise errors.ValueError(f"LayerNorm: minisora normalizes over the last dim only, got {normalized_shape}")
            size = size[0]
        self.normalized_shape, self.eps = int(size), float(eps)
        self.weight = Parameter(ones(size, dtype=dtype))
        self.bias = Parameter(zeros(size, dtype=dtype))

    def forward(self, x):
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"({self.normalized_shape},), eps={self.eps}"
