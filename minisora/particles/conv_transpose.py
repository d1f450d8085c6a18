"""Transposed convolution: conv2d's adjoint, the map conv2d's backward applies to dy to get dx, as
a layer of its own (it makes an image larger: a generator's "deconvolution"). NCHW, as PyTorch.

For input x (N, C, H, W), weight w (C, O / G, kh, kw) in G groups, bias b (O,), stride s, padding
p, dilation d and output_padding q:
    y[n, o, u s - p + i d, v s - p + j d] += w[c, o, i, j] x[n, c, u, v]      (+ b[o])
    Ho = (H - 1) s - 2 p + d (kh - 1) + q + 1, and the same across
Built from conv2d's kernels (convolution.py), in the other order: forward is conv2d's backward for
dx (a product w_g^T x_g, then col2im), backward for dx is conv2d's forward (im2col of dy, then a
product), and dw_g = x_g im2col(dy)_g^T.
"""
import numpy as np
from numba import prange

from ..backends.gpu import cuda, gpu_kernel
from ..backends.kernel import kernel
from .convolution import col2im, columns_of, im2col, images, pair, paddings
from .matmul import product, transposed
from .particle import Particle, describe
from .reductions import sum_over


# 1. the NumPy reference -------------------------------------------------------------------------
def conv_transpose2d_reference(x, weight, bias=None, stride=(1, 1), pads=(0, 0), output_padding=(0, 0),
                               dilation=(1, 1), groups=1):
    """Each input place x[n, c, u, v] adds w[c, o, i, j] x[n, c, u, v] into y[n, o, u s - p + i d,
    v s - p + j d]: written as the sum over kernel places into the padded output, then cropped."""
    (sh, sw), (ph, pw), (dh, dw) = stride, pads, dilation
    count, channels, height, width = x.shape
    per_group, outs_per_group, kh, kw = channels // groups, weight.shape[1], weight.shape[2], weight.shape[3]
    out_h, out_w = transposed_size((height, width), (kh, kw), stride, pads, output_padding, dilation)
    full = np.zeros((count, outs_per_group * groups, out_h + 2 * ph + sh, out_w + 2 * pw + sw),
                    np.result_type(x, weight))
    for g in range(groups):
        ins, outs = slice(g * per_group, (g + 1) * per_group), slice(g * outs_per_group, (g + 1) * outs_per_group)
        for i in range(kh):
            for j in range(kw):
                full[:, outs, i * dh:i * dh + sh * (height - 1) + 1:sh, j * dw:j * dw + sw * (width - 1) + 1:sw] += \
                    np.einsum("nchw,co->nohw", x[:, ins], weight[ins, :, i, j])
    y = full[:, :, ph:ph + out_h, pw:pw + out_w]
    return y + (0 if bias is None else bias[None, :, None, None])


def transposed_size(size, kernel_size, stride, pads, output_padding, dilation):
    """Ho = (H - 1) s - 2 p + d (k - 1) + output_padding + 1, and the same across."""
    return tuple((n - 1) * stride[k] - 2 * pads[k] + dilation[k] * (kernel_size[k] - 1) + output_padding[k] + 1
                 for k, n in enumerate(size))


# 2. the kernel of its own: the bias, added per channel after col2im ------------------------------
@kernel(parallel=True)
def channel_bias_kernel(bias, y):
    """y[n, o, place] += bias[o] (conv_transpose2d's bias: its output comes from col2im)."""
    count, channels, places = y.shape
    for task in prange(count * channels):
        for place in range(places):
            y[task // channels, task % channels, place] += bias[task % channels]


@gpu_kernel
def channel_bias_gpu(bias, y):
    channels, places = y.shape[1], y.shape[2]
    for e in range(cuda.grid(1), y.size, cuda.gridsize(1)):
        y[e // (channels * places), e // places % channels, e % places] += bias[e // places % channels]


channel_bias = channel_bias_kernel.on_gpu(channel_bias_gpu)


# 3. the particle ----------------------------------------------------------------------------------
class ConvTranspose2d(Particle):

    name = "conv_transpose2d"
    formula = "y[n, o, u s - p + i d, v s - p + j d] += w[c, o, i, j] x[n, c, u, v] (+ b[o])"
    gradient = "dx = conv2d(dy, w) (im2col + product); dw_g = x_g im2col(dy)_g^T; db = sum of dy over n, h, w"
    kernels = (im2col, col2im, images, columns_of, channel_bias)

    @classmethod
    def forward(cls, ctx, x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
        geometry = cls.checked(x, weight, bias, stride, padding, output_padding, groups, dilation)
        backend, (count, channels, height, width) = ctx.backend, x.shape
        kernel_h, kernel_w = weight.shape[2:]
        outs, places = weight.shape[1] * groups, height * width
        k = weight.shape[1] * kernel_h * kernel_w
        x_columns = backend.empty((channels, count * places), x.dtype)
        w_groups = backend.reshape(backend.contiguous(weight), (groups, channels // groups, k))
        if count:
            ctx.run(columns_of, backend.reshape(backend.contiguous(x), (count, channels, places)), x_columns)
        cols = product(ctx, transposed(backend, w_groups), backend.reshape(x_columns, (groups, channels // groups,
                                                                                      count * places)))
        y = backend.empty((count, outs) + geometry["out"], x.dtype)
        if count:
            ctx.run(col2im, backend.reshape(cols, (groups * k, count * places)), kernel_h, kernel_w,
                    *geometry["launch"], width, y)
        if bias is not None and count:
            ctx.run(channel_bias, backend.contiguous(bias), backend.reshape(y, (count, outs, -1)))
        ctx.save(x_columns, w_groups)
        ctx.geometry, ctx.x_shape, ctx.weight_shape, ctx.has_bias = geometry, x.shape, weight.shape, bias is not None
        return y

    @staticmethod
    def backward(ctx, grad_y):
        x_columns, w_groups = ctx.saved
        backend, needs = ctx.backend, ctx.needs_input_grad
        groups, per_group, k = w_groups.shape
        count, channels, height, width = ctx.x_shape
        kernel_h, kernel_w = ctx.weight_shape[2:]
        grad = backend.contiguous(backend.astype(grad_y, x_columns.dtype))
        cols = backend.empty((groups * k, count * height * width), x_columns.dtype)
        if count:
            ctx.run(im2col, grad, kernel_h, kernel_w, *ctx.geometry["launch"], width, cols)
        cols_groups = backend.reshape(cols, (groups, k, count * height * width))
        grad_x = grad_weight = grad_bias = None
        if needs[0]:
            grad_columns = product(ctx, w_groups, cols_groups)   # (G, C/G, N H W)
            grad_x = backend.empty((count, channels, height * width), x_columns.dtype)
            if count:
                ctx.run(images, backend.reshape(grad_columns, (channels, count * height * width)),
                        backend.zeros((channels,), x_columns.dtype), grad_x)
            grad_x = backend.reshape(grad_x, ctx.x_shape)
        if needs[1]:
            grad_w = product(ctx, backend.reshape(x_columns, (groups, per_group, count * height * width)),
                             transposed(backend, cols_groups))
            grad_weight = backend.reshape(grad_w, ctx.weight_shape)
        if ctx.has_bias and needs[2]:
            grad_bias = sum_over(ctx, grad, (0, 2, 3))
        return (grad_x, grad_weight) + ((grad_bias,) if ctx.has_bias else ())

    @classmethod
    def checked(cls, x, weight, bias, stride, padding, output_padding, groups, dilation):
        cls.require_float(x, weight, *(() if bias is None else (bias,)))
        arrays = (x, weight) + (() if bias is None else (bias,))
        if len({a.dtype for a in arrays}) > 1:
            cls.fail("inputs must share a dtype: " + ", ".join(map(describe, arrays)), TypeError)
        if x.ndim != 4 or weight.ndim != 4:
            cls.fail(f"input {describe(x)} must be (N, C, H, W) and weight {describe(weight)} (C, O / groups, kh, kw)")
        if not isinstance(groups, (int, np.integer)) or groups < 1 or x.shape[1] % groups:
            cls.fail(f"groups={groups!r} must divide the input's {x.shape[1]} channels")
        if weight.shape[0] != x.shape[1]:
            cls.fail(f"input {describe(x)} has {x.shape[1]} channels, weight {describe(weight)} expects {weight.shape[0]}")
        if bias is not None and bias.shape != (weight.shape[1] * groups,):
            cls.fail(f"bias {describe(bias)} must be ({weight.shape[1] * groups},)")
        stride, dilation = pair(stride, "stride", cls.name), pair(dilation, "dilation", cls.name)
        pads = paddings(padding, weight.shape[2:], dilation, stride, cls.name)[::2]   # (top, left): symmetric
        extra = (output_padding,) * 2 if isinstance(output_padding, (int, np.integer)) else tuple(output_padding)
        if len(extra) != 2 or not all(0 <= e < max(s, d) for e, s, d in zip(extra, stride, dilation)):
            cls.fail(f"output_padding {output_padding!r} must be below the stride or the dilation ({stride}, {dilation})")
        out = transposed_size(x.shape[2:], weight.shape[2:], stride, pads, extra, dilation)
        if min(out) < 1:
            cls.fail(f"the output {out} of {describe(x)} would be empty (padding {pads} too large)")
        return {"out": out, "launch": (stride[0], stride[1], pads[0], pads[1], dilation[0], dilation[1])}

    @staticmethod
    def options(weight, stride, padding, output_padding, dilation):
        stride, dilation = pair(stride, "stride", "conv_transpose2d"), pair(dilation, "dilation", "conv_transpose2d")
        pads = paddings(padding, weight.shape[2:], dilation, stride, "conv_transpose2d")[::2]
        extra = (output_padding,) * 2 if isinstance(output_padding, (int, np.integer)) else tuple(output_padding)
        return stride, pads, extra, dilation

    @classmethod
    def reference(cls, x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
        stride, pads, extra, dilation = cls.options(weight, stride, padding, output_padding, dilation)
        return conv_transpose2d_reference(x, weight, bias, stride, pads, extra, dilation, groups)

    @classmethod
    def reference_backward(cls, x, weight, *bias_and_grad, stride=1, padding=0, output_padding=0, groups=1,
                           dilation=1):
        """dx is conv2d of dy with the same weight (its own adjoint's adjoint); dw by the same sums
        as the forward's, read the other way."""
        *bias, grad_y = bias_and_grad
        stride, pads, extra, dilation = cls.options(weight, stride, padding, output_padding, dilation)
        (sh, sw), (ph, pw), (dh, dw) = stride, pads, dilation
        count, channels, height, width = x.shape
        per_group, outs_per_group, kh, kw = channels // groups, weight.shape[1], weight.shape[2], weight.shape[3]
        full = np.zeros((count, grad_y.shape[1], grad_y.shape[2] + 2 * ph + sh, grad_y.shape[3] + 2 * pw + sw))
        full[:, :, ph:ph + grad_y.shape[2], pw:pw + grad_y.shape[3]] = grad_y
        grad_x, grad_w = np.zeros_like(x), np.zeros_like(weight)
        for g in range(groups):
            ins, outs = slice(g * per_group, (g + 1) * per_group), slice(g * outs_per_group, (g + 1) * outs_per_group)
            for i in range(kh):
                for j in range(kw):
                    window = full[:, outs, i * dh:i * dh + sh * (height - 1) + 1:sh,
                                  j * dw:j * dw + sw * (width - 1) + 1:sw]
                    grad_x[:, ins] += np.einsum("nohw,co->nchw", window, weight[ins, :, i, j])
                    grad_w[ins, :, i, j] = np.einsum("nohw,nchw->co", window, x[:, ins])
        return (grad_x, grad_w) + ((grad_y.sum((0, 2, 3)),) if bias else ())
