"""BatchNorm1d and BatchNorm2d: PyTorch's names, buffers and state-dict keys.

    weight (ones) and bias (zeros): C each, learned (affine=True)
    running_mean (zeros), running_var (ones), num_batches_tracked (0): buffers, in the state dict
train() normalizes by each batch's statistics and moves the running ones towards them by
`momentum` (None: their cumulative average, 1 / num_batches_tracked); eval() uses the running ones.
"""
from .. import errors, functional as F
from ..creation import ones, zeros
from .module import Module, Parameter


class BatchNormNd(Module):
    ranks = (4,)

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True, dtype="float32"):
        super().__init__()
        if num_features < 1 or not eps > 0:
            raise errors.ValueError(f"{type(self).__name__}: num_features must be positive and eps > 0, got "
                                    f"{num_features}, {eps}")
        self.num_features, self.eps, self.momentum = int(num_features), float(eps), momentum
        self.affine, self.track_running_stats = bool(affine), bool(track_running_stats)
        self.weight = Parameter(ones(num_features, dtype=dtype)) if affine else None
        self.bias = Parameter(zeros(num_features, dtype=dtype)) if affine else None
        if track_running_stats:
            self.register_buffer("running_mean", zeros(num_features, dtype=dtype))
            self.register_buffer("running_var", ones(num_features, dtype=dtype))
            self.register_buffer("num_batches_tracked", zeros((), dtype="int64"))

    def forward(self, x):
        name = type(self).__name__
        if x.ndim not in self.ranks or x.shape[1] != self.num_features:
            wanted = " or ".join(f"{rank}-d" for rank in self.ranks)
            raise errors.ValueError(f"{name}({self.num_features}): input of shape {tuple(x.shape)} must be {wanted} "
                                    f"with {self.num_features} channels in dim 1")
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            counted = self.num_batches_tracked
            counted.backend.copy_into(counted.data, counted.numpy() + 1)
            if self.momentum is None:   # a cumulative average of every batch's statistics
                momentum = 1.0 / float(counted.numpy())
        running = (self.running_mean, self.running_var) if self.track_running_stats else (None, None)
        return F.batch_norm(x, *running, self.weight, self.bias, training=self.training or not self.track_running_stats,
                            momentum=momentum, eps=self.eps)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(BatchNormNd):
    """Over (N, C) or (N, C, L)."""
    ranks = (2, 3)


class BatchNorm2d(BatchNormNd):
    """Over (N, C, H, W)."""
    ranks = (4,)
