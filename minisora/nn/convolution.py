"""Convolution and pooling layers: Conv1d, Conv2d, ConvTranspose2d, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, with
PyTorch's names, shapes, init and state-dict keys.

    Conv2d(in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True)
    weight (out_channels, in_channels / groups, kh, kw), bias (out_channels,)
    both start from U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = in_channels / groups * kh * kw
    (PyTorch's kaiming_uniform_ with a = sqrt(5)), so a PyTorch network's weights load unchanged.
"""
import math

from .. import errors, functional as F
from ..creation import zeros
from . import init
from .module import Module, Parameter


class ConvNd(Module):
    dims = 2

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True,
                 dtype="float32"):
        super().__init__()
        name = type(self).__name__
        sizes = (kernel_size,) * self.dims if isinstance(kernel_size, int) else tuple(kernel_size)
        if min(in_channels, out_channels, groups, *sizes) < 1 or len(sizes) != self.dims:
            raise errors.ValueError(f"{name}: channels, groups and a kernel size of {self.dims} positive ints needed, "
                                    f"got in_channels={in_channels}, out_channels={out_channels}, "
                                    f"kernel_size={kernel_size}, groups={groups}")
        if in_channels % groups or out_channels % groups:
            raise errors.ValueError(f"{name}: groups={groups} must divide in_channels={in_channels} and "
                                    f"out_channels={out_channels}")
        self.in_channels, self.out_channels, self.kernel_size = int(in_channels), int(out_channels), sizes
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, int(groups)
        self.weight = Parameter(zeros(out_channels, in_channels // groups, *sizes, dtype=dtype))
        self.bias = Parameter(zeros(out_channels, dtype=dtype)) if bias else None
        self.reset_parameters()

    def reset_parameters(self):
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1.0 / math.sqrt(init.fan_in(self.weight))
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x):
        convolve = F.conv2d if self.dims == 2 else F.conv1d
        return convolve(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)

    def extra_repr(self):
        sizes = self.kernel_size if self.dims == 2 else self.kernel_size[0]
        parts = [f"{self.in_channels}, {self.out_channels}, kernel_size={sizes}"]
        for option, default in (("stride", 1), ("padding", 0), ("dilation", 1), ("groups", 1)):
            if getattr(self, option) != default:
                parts.append(f"{option}={getattr(self, option)}")
        return ", ".join(parts + ([] if self.bias is not None else ["bias=False"]))


class Conv2d(ConvNd):
    """A 2-D convolution over (N, C, H, W)."""
    dims = 2


class Conv1d(ConvNd):
    """A 1-D convolution over (N, C, L)."""
    dims = 1


class ConvTranspose2d(Module):
    """conv2d's adjoint (a learned upsampling): weight (in_channels, out_channels / groups, kh, kw),
    bias (out_channels,), both from U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with PyTorch's fan_in of this
    weight, out_channels / groups * kh * kw."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1,
                 bias=True, dilation=1, dtype="float32"):
        super().__init__()
        sizes = (kernel_size,) * 2 if isinstance(kernel_size, int) else tuple(kernel_size)
        if min(in_channels, out_channels, groups, *sizes) < 1 or in_channels % groups or out_channels % groups:
            raise errors.ValueError(f"ConvTranspose2d: positive channels and kernel sizes, and groups dividing both "
                                    f"channel counts, needed; got {in_channels}, {out_channels}, {kernel_size}, "
                                    f"groups={groups}")
        self.in_channels, self.out_channels, self.kernel_size = int(in_channels), int(out_channels), sizes
        self.stride, self.padding, self.output_padding = stride, padding, output_padding
        self.groups, self.dilation = int(groups), dilation
        self.weight = Parameter(zeros(in_channels, out_channels // groups, *sizes, dtype=dtype))
        self.bias = Parameter(zeros(out_channels, dtype=dtype)) if bias else None
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1.0 / math.sqrt(init.fan_in(self.weight))
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x):
        return F.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding, self.output_padding,
                                  self.groups, self.dilation)

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}")


class MaxPool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x):
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride or self.kernel_size}, padding={self.padding}"


class AvgPool2d(MaxPool2d):
    def forward(self, x):
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding)


class AdaptiveAvgPool2d(Module):
    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, x):
        return F.adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"
