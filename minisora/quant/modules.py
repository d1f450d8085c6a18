"""The layers of a quantized model, and the wrapper that gets a float layer ready for them.

    QuantizedLinear   int8 weight (one scale per output neuron), its input quantized per tensor
                      (a calibrated scale and zero point, or the batch's own with dynamic=True),
                      the int8 product with int32 sums, float32 out
    QuantizedConv2d   the same on the patches of a picture (im2col on the int8 input, CPU)
    Prepared          a float Linear or Conv2d with an observer on its input: watches numbers
                      (calibration), or also fake-quantizes its input and weight while it trains
                      (quantization-aware training); `convert` turns it into the layer above

Weights are symmetric per output channel (s_w[n] = max|W[n]| / 127.5, z = 0): a zero point on the
weights would cost a correction term per product, and one scale per neuron keeps a neuron with
small weights from losing them all to a scale set by a neuron with large ones.
"""
import numpy as np

from .. import errors, functional as F
from ..nn.convolution import Conv2d
from ..nn.linear import Linear
from ..nn.module import Module
from ..particles.convolution import pair, paddings
from ..tensor import Tensor
from .functional import fake_quantize, quantize_per_channel, quantize_per_tensor, quantized_linear
from .observers import MovingAverageObserver, qparams_from_range


def weight_qparams(weight):
    """(scales, zero points) of a weight, symmetric int8 per output channel (axis 0)."""
    rows = np.asarray(weight, np.float64).reshape(weight.shape[0], -1)
    return qparams_from_range(rows.min(axis=1), rows.max(axis=1), "int8", symmetric=True)


def int8_buffer(shape, device="cpu"):
    return Tensor(np.zeros(shape, np.int8), dtype="int8", device=device)


class QuantizedLayer(Module):
    """What QuantizedLinear and QuantizedConv2d share: the int8 weight, its scales, the bias and
    the input's scale and zero point, all buffers (saved, moved, never trained)."""

    def __init__(self, weight_shape, bias, dynamic):
        super().__init__()
        self.register_buffer("weight", int8_buffer(weight_shape))
        self.register_buffer("weight_scale", Tensor(np.ones(weight_shape[0], np.float32)))
        self.register_buffer("bias", Tensor(np.zeros(weight_shape[0], np.float32)) if bias else None)
        self.register_buffer("input_scale", Tensor(np.ones(1, np.float32)))
        self.register_buffer("input_zero_point", Tensor(np.zeros(1, np.int32), dtype="int32"))
        self.dynamic = bool(dynamic)

    def set_from_float(self, weight, bias, input_qparams):
        """Quantize a float layer's weight and bias (Tensors) into this layer's buffers; input_qparams
        is (scale, zero point) of its input (None: dynamic, measured on each batch)."""
        scales, zero_points = weight_qparams(weight.numpy())
        q = quantize_per_channel(weight.detach().to("cpu"), scales, zero_points, axis=0)
        device = weight.device
        self.register_buffer("weight", q.to(device))
        self.register_buffer("weight_scale", Tensor(scales.astype(np.float32), device=device))
        if bias is not None:
            self.register_buffer("bias", Tensor(bias.numpy().astype(np.float32), device=device))
        if input_qparams is not None:
            scale, zero_point = input_qparams
            self.register_buffer("input_scale", Tensor(np.asarray(scale, np.float32).reshape(1), device=device))
            self.register_buffer("input_zero_point", Tensor(np.asarray(zero_point, np.int32).reshape(1),
                                                            dtype="int32", device=device))
        return self

    def input_qparams(self, x):
        """(scale, zero point) the input is quantized with: calibrated, or (dynamic) this batch's range."""
        if self.dynamic:
            values = x.numpy()
            lo, hi = (values.min(), values.max()) if values.size else (0.0, 0.0)
            scale, zero_point = qparams_from_range([lo], [hi])
            return float(scale[0]), int(zero_point[0])
        return float(self.input_scale.numpy()[0]), int(self.input_zero_point.numpy()[0])

    def product(self, rows, weight):
        """The int8 product of float input rows (M, K) with an int8 weight (N, K): float32 (M, N)."""
        scale, zero_point = self.input_qparams(rows)
        q = quantize_per_tensor(rows, scale, zero_point)
        return self.quantized_product(q, weight, scale, zero_point)

    def quantized_product(self, q, weight, scale, zero_point):
        multiplier = self.weight_scale * float(np.float32(scale))
        return quantized_linear(q, weight, multiplier, self.bias, x_zero_point=zero_point)


class QuantizedLinear(QuantizedLayer):
    def __init__(self, in_features, out_features, bias=True, dynamic=False):
        super().__init__((out_features, in_features), bias, dynamic)
        self.in_features, self.out_features = int(in_features), int(out_features)

    @classmethod
    def from_float(cls, linear, input_qparams=None):
        layer = cls(linear.in_features, linear.out_features, linear.bias is not None, dynamic=input_qparams is None)
        return layer.set_from_float(linear.weight, linear.bias, input_qparams)

    def forward(self, x):
        if x.shape[-1] != self.in_features:
            raise errors.ShapeError(f"QuantizedLinear: expected inputs (..., {self.in_features}), got {tuple(x.shape)}")
        rows = x.reshape(-1, self.in_features)
        return self.product(rows, self.weight).reshape(*x.shape[:-1], self.out_features)

    def layout(self):
        return {"kind": "linear", "in_features": self.in_features, "out_features": self.out_features,
                "bias": self.bias is not None, "dynamic": self.dynamic}

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, int8 weight per channel, "
                f"input {'dynamic' if self.dynamic else 'calibrated'}")


class QuantizedConv2d(QuantizedLayer):
    """Conv2d on int8 (groups=1): the input quantized per tensor, padded with its zero point (the
    integer that stands for 0.0), cut into patches (im2col, on the CPU), then the int8 product."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, bias=True):
        kernel_size = tuple(kernel_size) if not isinstance(kernel_size, int) else (kernel_size,) * 2
        super().__init__((out_channels, in_channels, *kernel_size), bias, dynamic=False)
        self.in_channels, self.out_channels, self.kernel_size = int(in_channels), int(out_channels), kernel_size
        # conv2d's own checks and readings of stride, dilation and padding (the padding kept as given, for
        # the layout; pads is (top, bottom, left, right))
        self.stride = pair(stride, "stride", "QuantizedConv2d")
        self.dilation = pair(dilation, "dilation", "QuantizedConv2d")
        self.padding = padding
        self.pads = paddings(padding, kernel_size, self.dilation, self.stride, "QuantizedConv2d")

    @classmethod
    def from_float(cls, conv, input_qparams):
        layer = cls(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, conv.dilation,
                    conv.bias is not None)
        return layer.set_from_float(conv.weight, conv.bias, input_qparams)

    def forward(self, x):
        if x.device != "cpu":
            raise errors.RuntimeError("QuantizedConv2d: runs on the CPU (its im2col is NumPy's); move the model and "
                                      "its inputs with .to('cpu')")
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise errors.ShapeError(f"QuantizedConv2d: expected inputs (N, {self.in_channels}, H, W), "
                                    f"got {tuple(x.shape)}")
        scale, zero_point = self.input_qparams(x)
        q = quantize_per_tensor(x, scale, zero_point).numpy()
        (top, bottom, left, right), (sh, sw), (dh, dw) = self.pads, self.stride, self.dilation
        kh, kw = self.kernel_size
        q = np.pad(q, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=zero_point)
        span_h, span_w = dh * (kh - 1) + 1, dw * (kw - 1) + 1
        windows = np.lib.stride_tricks.sliding_window_view(q, (span_h, span_w), axis=(2, 3))
        windows = windows[:, :, ::sh, ::sw, ::dh, ::dw]                      # (N, C, Ho, Wo, kh, kw)
        count, _, out_h, out_w = windows.shape[:4]
        columns = np.ascontiguousarray(windows.transpose(0, 2, 3, 1, 4, 5)).reshape(count * out_h * out_w, -1)
        weight = self.weight.reshape(self.out_channels, -1)
        y = self.quantized_product(Tensor(columns, dtype="int8"), weight, scale, zero_point)
        return y.reshape(count, out_h, out_w, self.out_channels).permute(0, 3, 1, 2)

    def layout(self):
        return {"kind": "conv2d", "in_channels": self.in_channels, "out_channels": self.out_channels,
                "kernel_size": list(self.kernel_size), "stride": list(self.stride),
                "padding": self.padding if isinstance(self.padding, (int, str)) else list(self.padding),
                "dilation": list(self.dilation), "bias": self.bias is not None}

    def extra_repr(self):
        return f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, int8 weight per channel"


def quantizable(module):
    """Whether `convert` has an int8 layer for this module (a Conv2d: groups 1, numeric padding)."""
    if type(module) is Linear:
        return True
    return type(module) is Conv2d and module.groups == 1 and not isinstance(module.padding, str)


class Prepared(Module):
    """A float Linear or Conv2d (`module`) with an observer on its input.

    observing: record the input's range (PTQ calibration; QAT while training).
    fake: fake-quantize input and weight in the forward pass (QAT), so the training sees the int8
    model's rounding, and the straight-through gradient trains the float weights through it."""

    def __init__(self, module, observer, fake=False):
        super().__init__()
        self.module, self.observer, self.fake = module, observer, bool(fake)

    def forward(self, x):
        if not self.fake or self.training:
            self.observer(x.detach().numpy())
        weight = self.module.weight
        if self.fake:
            scale, zero_point = self.observer.qparams()
            x = fake_quantize(x, scale, zero_point)
            scales, zero_points = weight_qparams(weight.detach().numpy())
            weight = fake_quantize(weight, scales, zero_points, axis=0)
        m = self.module
        if isinstance(m, Linear):
            return F.linear(x, weight, m.bias)
        return F.conv2d(x, weight, m.bias, m.stride, m.padding, m.dilation, m.groups)

    def converted(self):
        """The int8 layer for this one, with the observed input range."""
        qparams = self.observer.qparams()
        qparams = (float(qparams[0][0]), int(qparams[1][0]))
        if isinstance(self.module, Linear):
            return QuantizedLinear.from_float(self.module, qparams)
        return QuantizedConv2d.from_float(self.module, qparams)

    def extra_repr(self):
        return f"{'fake-quantized' if self.fake else 'observed'}: {self.observer!r}"


def qat_observer():
    return MovingAverageObserver()
