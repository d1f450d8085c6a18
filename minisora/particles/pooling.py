"""Pooling: one number for each window of an image's channel (NCHW, as PyTorch).

Windows of kh x kw places, every s rows and columns, over the input padded by p on each side
(Ho = (H + 2 p_h - kh) // s_h + 1):
    max_pool2d            y = the largest number of the window (padding counts as -inf);
                          a = where it is (the first, row by row, where several tie; NaN wins, as
                          in PyTorch)                              dx[a] += dy
    avg_pool2d            y = the window's sum / (kh kw)           (padding counts as 0, PyTorch's
                                                                   count_include_pad=True)
                                                                   dx[place] += dy / (kh kw) for each place of the window
    adaptive_avg_pool2d   out_h x out_w windows that tile the input: rows floor(i H / out_h) to
                          ceil((i + 1) H / out_h) (the same across); y = their mean
                                                                   dx[place] += dy / (window's size)
Backward never lets two writes meet: on the CPU each (n, c) plane of dx adds up its own outputs'
gradients; on the GPU each input place gathers the outputs whose window holds it (and, for max,
whose winner it was), a thread each, no atomics.
"""
import numpy as np
from numba import prange

from .. import errors
from ..backends.gpu import cuda, gpu_kernel
from ..backends.kernel import kernel, scalar
from .convolution import pair
from .particle import Particle, describe


# 1. the NumPy references --------------------------------------------------------------------------
def windows_reference(x, kernel_size, stride, padding, fill):
    """(N, C, Ho, Wo, kh, kw): every window of x padded with `fill`."""
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=fill)
    out_h, out_w = (xp.shape[2] - kh) // sh + 1, (xp.shape[3] - kw) // sw + 1
    view = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(2, 3))
    return view[:, :, ::sh, ::sw][:, :, :out_h, :out_w]


def max_pool2d_reference(x, kernel_size, stride=None, padding=0):
    kernel_size, stride, padding = geometry(kernel_size, stride, padding)
    windows = windows_reference(x, kernel_size, stride, padding, -np.inf)
    flat = windows.reshape(windows.shape[:4] + (-1,))
    return np.where(np.isnan(flat).any(-1), np.nan, flat.max(-1))


def max_pool2d_backward_reference(x, grad_y, kernel_size, stride=None, padding=0):
    kernel_size, stride, padding = geometry(kernel_size, stride, padding)
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    flat = windows_reference(x, kernel_size, stride, padding, -np.inf)
    flat = flat.reshape(flat.shape[:4] + (-1,))
    winners = np.argmax(np.where(np.isnan(flat), np.inf, flat), axis=-1)   # the first largest (NaN first)
    grad_xp = np.zeros((x.shape[0], x.shape[1], x.shape[2] + 2 * ph, x.shape[3] + 2 * pw))
    n, c, u, v = np.indices(winners.shape)
    np.add.at(grad_xp, (n, c, u * sh + winners // kw, v * sw + winners % kw), grad_y)
    return (grad_xp[:, :, ph:ph + x.shape[2], pw:pw + x.shape[3]].astype(x.dtype),)


def avg_pool2d_reference(x, kernel_size, stride=None, padding=0):
    kernel_size, stride, padding = geometry(kernel_size, stride, padding)
    return windows_reference(x, kernel_size, stride, padding, 0.0).mean(axis=(-2, -1))


def avg_pool2d_backward_reference(x, grad_y, kernel_size, stride=None, padding=0):
    (kh, kw), (sh, sw), (ph, pw) = geometry(kernel_size, stride, padding)
    grad_xp = np.zeros((x.shape[0], x.shape[1], x.shape[2] + 2 * ph, x.shape[3] + 2 * pw))
    out_h, out_w = grad_y.shape[2:]
    for i in range(kh):
        for j in range(kw):
            grad_xp[:, :, i:i + sh * (out_h - 1) + 1:sh, j:j + sw * (out_w - 1) + 1:sw] += grad_y / (kh * kw)
    return (grad_xp[:, :, ph:ph + x.shape[2], pw:pw + x.shape[3]].astype(x.dtype),)


def adaptive_windows(size, out):
    """[(start, end)] of each of `out` windows tiling `size` places (PyTorch's adaptive pooling)."""
    return [(i * size // out, -(-(i + 1) * size // out)) for i in range(out)]


def adaptive_avg_pool2d_reference(x, output_size):
    out_h, out_w = adaptive_size(output_size, x.shape)
    y = np.empty(x.shape[:2] + (out_h, out_w), x.dtype)
    for i, (h0, h1) in enumerate(adaptive_windows(x.shape[2], out_h)):
        for j, (w0, w1) in enumerate(adaptive_windows(x.shape[3], out_w)):
            y[:, :, i, j] = x[:, :, h0:h1, w0:w1].mean(axis=(2, 3))
    return y


def adaptive_avg_pool2d_backward_reference(x, grad_y, output_size):
    out_h, out_w = adaptive_size(output_size, x.shape)
    grad_x = np.zeros_like(x)
    for i, (h0, h1) in enumerate(adaptive_windows(x.shape[2], out_h)):
        for j, (w0, w1) in enumerate(adaptive_windows(x.shape[3], out_w)):
            grad_x[:, :, h0:h1, w0:w1] += grad_y[:, :, i:i + 1, j:j + 1] / ((h1 - h0) * (w1 - w0))
    return (grad_x,)


def geometry(kernel_size, stride, padding, name="pool2d"):
    kernel_size = pair(kernel_size, "kernel_size", name)
    stride = kernel_size if stride is None else pair(stride, "stride", name)
    values = (padding, padding) if isinstance(padding, (int, np.integer)) else tuple(padding)
    if len(values) != 2 or not all(isinstance(v, (int, np.integer)) and 0 <= v <= k // 2
                                   for v, k in zip(values, kernel_size)):
        raise errors.ValueError(f"{name}: padding must be ints from 0 to half the kernel {kernel_size}, got {padding!r}")
    return kernel_size, stride, tuple(int(v) for v in values)


def adaptive_size(output_size, shape):
    sizes = (output_size, output_size) if isinstance(output_size, (int, np.integer)) else tuple(output_size)
    return tuple(shape[2 + k] if s is None else int(s) for k, s in enumerate(sizes))


# 2. the kernels: a window's max / mean, and the gathers back --------------------------------------
@scalar(inline=False)
def window_max(x, n, c, u, v, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, winner):
    """The largest number in window (u, v) of x[n, c] (padding: -inf), and its place h * W + w
    in winner[n, c, u, v]: the first of ties, row by row; a NaN wins at once."""
    best, place = -np.inf, -1
    height, width = x.shape[2], x.shape[3]
    for i in range(kernel_h):
        h = u * stride_h - pad_h + i
        if h < 0 or h >= height:
            continue
        for j in range(kernel_w):
            w = v * stride_w - pad_w + j
            if w < 0 or w >= width:
                continue
            value = x[n, c, h, w]
            if value != value:   # NaN wins at once, as in PyTorch
                winner[n, c, u, v] = h * width + w
                return value
            if place < 0 or value > best:   # strictly larger: the first of ties stays
                best, place = value, h * width + w
    winner[n, c, u, v] = place
    return best


@kernel(parallel=True)
def max_pool2d_kernel(x, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, winner, y):
    count, channels, out_h, out_w = y.shape
    for plane in prange(count * channels):   # each (n, c) plane: a task of its own
        n, c = plane // channels, plane % channels
        for u in range(out_h):
            for v in range(out_w):
                y[n, c, u, v] = window_max(x, n, c, u, v, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w,
                                           winner)


@scalar(inline=False)
def pooled_back(grad_y, winner, n, c, h, w, width, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, by_max):
    """The gradient reaching x[n, c, h, w]: from every output whose window holds it, all of it
    where it was the window's winner (by_max) or 1 / (kh kw) of it (average)."""
    out_h, out_w = grad_y.shape[2], grad_y.shape[3]
    total = 0.0
    for i in range(kernel_h):
        along = h + pad_h - i
        if along < 0 or along % stride_h or along // stride_h >= out_h:
            continue
        for j in range(kernel_w):
            across = w + pad_w - j
            if across < 0 or across % stride_w or across // stride_w >= out_w:
                continue
            u, v = along // stride_h, across // stride_w
            if not by_max:
                total += grad_y[n, c, u, v] / (kernel_h * kernel_w)
            elif winner[n, c, u, v] == h * width + w:
                total += grad_y[n, c, u, v]
    return total


@kernel(parallel=True)
def pool2d_backward_kernel(grad_y, winner, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, by_max, grad_x):
    """The CPU's way back: each (n, c) plane of dx is one task's own, and it adds each output's
    gradient to its window's winner (max) or to every place of its window (average), outputs in
    order (the GPU gathers instead: `pooled_back`)."""
    count, channels, height, width = grad_x.shape
    out_h, out_w = grad_y.shape[2], grad_y.shape[3]
    share = 1.0 / (kernel_h * kernel_w)
    for plane in prange(count * channels):   # each (n, c) plane: a task of its own
        n, c = plane // channels, plane % channels
        for h in range(height):
            for w in range(width):
                grad_x[n, c, h, w] = 0.0
        for u in range(out_h):
            for v in range(out_w):
                if by_max:
                    place = winner[n, c, u, v]
                    grad_x[n, c, place // width, place % width] += grad_y[n, c, u, v]
                    continue
                for i in range(kernel_h):
                    h = u * stride_h - pad_h + i
                    if 0 <= h < height:
                        for j in range(kernel_w):
                            w = v * stride_w - pad_w + j
                            if 0 <= w < width:
                                grad_x[n, c, h, w] += grad_y[n, c, u, v] * share


@scalar(inline=False)
def window_mean(x, n, c, u, v, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w):
    total = 0.0
    for i in range(kernel_h):
        h = u * stride_h - pad_h + i
        for j in range(kernel_w):
            w = v * stride_w - pad_w + j
            if 0 <= h < x.shape[2] and 0 <= w < x.shape[3]:
                total += x[n, c, h, w]
    return total / (kernel_h * kernel_w)


@kernel(parallel=True)
def avg_pool2d_kernel(x, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, y):
    count, channels, out_h, out_w = y.shape
    for plane in prange(count * channels):   # each (n, c) plane: a task of its own
        n, c = plane // channels, plane % channels
        for u in range(out_h):
            for v in range(out_w):
                y[n, c, u, v] = window_mean(x, n, c, u, v, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w)


@scalar(inline=False)
def adaptive_mean(x, n, c, u, v, out_h, out_w):
    height, width = x.shape[2], x.shape[3]
    h0, h1 = u * height // out_h, -(-(u + 1) * height // out_h)
    w0, w1 = v * width // out_w, -(-(v + 1) * width // out_w)
    total = 0.0
    for h in range(h0, h1):
        for w in range(w0, w1):
            total += x[n, c, h, w]
    return total / ((h1 - h0) * (w1 - w0))


@scalar(inline=False)
def adaptive_back(grad_y, n, c, h, w, height, width):
    """Outputs u whose rows [u H // out_h, ceil((u + 1) H / out_h)) hold h (and the same across)."""
    out_h, out_w = grad_y.shape[2], grad_y.shape[3]
    total = 0.0
    for u in range(out_h):
        h0, h1 = u * height // out_h, -(-(u + 1) * height // out_h)
        if h < h0 or h >= h1:
            continue
        for v in range(out_w):
            w0, w1 = v * width // out_w, -(-(v + 1) * width // out_w)
            if w0 <= w < w1:
                total += grad_y[n, c, u, v] / ((h1 - h0) * (w1 - w0))
    return total


@kernel(parallel=True)
def adaptive_avg_pool2d_kernel(x, y):
    count, channels, out_h, out_w = y.shape
    for plane in prange(count * channels):   # each (n, c) plane: a task of its own
        n, c = plane // channels, plane % channels
        for u in range(out_h):
            for v in range(out_w):
                y[n, c, u, v] = adaptive_mean(x, n, c, u, v, out_h, out_w)


@kernel(parallel=True)
def adaptive_avg_pool2d_backward_kernel(grad_y, grad_x):
    count, channels, height, width = grad_x.shape
    for plane in prange(count * channels):   # each (n, c) plane: a task of its own
        n, c = plane // channels, plane % channels
        for h in range(height):
            for w in range(width):
                grad_x[n, c, h, w] = adaptive_back(grad_y, n, c, h, w, height, width)


# GPU twins: a thread per number written (the index of each is taken apart the same way)
@gpu_kernel
def max_pool2d_gpu(x, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, winner, y):
    channels, out_h, out_w = y.shape[1], y.shape[2], y.shape[3]
    for e in range(cuda.grid(1), y.size, cuda.gridsize(1)):
        n, c, u, v = e // (channels * out_h * out_w), e // (out_h * out_w) % channels, e // out_w % out_h, e % out_w
        y[n, c, u, v] = window_max(x, n, c, u, v, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, winner)


@gpu_kernel
def pool2d_backward_gpu(grad_y, winner, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, by_max, grad_x):
    channels, height, width = grad_x.shape[1], grad_x.shape[2], grad_x.shape[3]
    for e in range(cuda.grid(1), grad_x.size, cuda.gridsize(1)):
        n, c, h, w = e // (channels * height * width), e // (height * width) % channels, e // width % height, e % width
        grad_x[n, c, h, w] = pooled_back(grad_y, winner, n, c, h, w, width, kernel_h, kernel_w, stride_h, stride_w,
                                         pad_h, pad_w, by_max)


@gpu_kernel
def avg_pool2d_gpu(x, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, y):
    channels, out_h, out_w = y.shape[1], y.shape[2], y.shape[3]
    for e in range(cuda.grid(1), y.size, cuda.gridsize(1)):
        n, c, u, v = e // (channels * out_h * out_w), e // (out_h * out_w) % channels, e // out_w % out_h, e % out_w
        y[n, c, u, v] = window_mean(x, n, c, u, v, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w)


@gpu_kernel
def adaptive_avg_pool2d_gpu(x, y):
    channels, out_h, out_w = y.shape[1], y.shape[2], y.shape[3]
    for e in range(cuda.grid(1), y.size, cuda.gridsize(1)):
        n, c, u, v = e // (channels * out_h * out_w), e // (out_h * out_w) % channels, e // out_w % out_h, e % out_w
        y[n, c, u, v] = adaptive_mean(x, n, c, u, v, out_h, out_w)


@gpu_kernel
def adaptive_avg_pool2d_backward_gpu(grad_y, grad_x):
    channels, height, width = grad_x.shape[1], grad_x.shape[2], grad_x.shape[3]
    for e in range(cuda.grid(1), grad_x.size, cuda.gridsize(1)):
        n, c, h, w = e // (channels * height * width), e // (height * width) % channels, e // width % height, e % width
        grad_x[n, c, h, w] = adaptive_back(grad_y, n, c, h, w, height, width)


max_pool2d_kernel.on_gpu(max_pool2d_gpu)
pool2d_backward_kernel.on_gpu(pool2d_backward_gpu)
avg_pool2d_kernel.on_gpu(avg_pool2d_gpu)
adaptive_avg_pool2d_kernel.on_gpu(adaptive_avg_pool2d_gpu)
adaptive_avg_pool2d_backward_kernel.on_gpu(adaptive_avg_pool2d_backward_gpu)


# 3. the particles -----------------------------------------------------------------------------------
class Pool2d(Particle):
    """max_pool2d and avg_pool2d: the same windows, the same gather back."""

    by_max = False

    @classmethod
    def forward(cls, ctx, x, kernel_size, stride=None, padding=0):
        cls.require_float(x)
        if x.ndim != 4:
            cls.fail(f"input {describe(x)} must be (N, C, H, W)")
        (kh, kw), (sh, sw), (ph, pw) = geometry(kernel_size, stride, padding, cls.name)
        out_h, out_w = (x.shape[2] + 2 * ph - kh) // sh + 1, (x.shape[3] + 2 * pw - kw) // sw + 1
        if out_h < 1 or out_w < 1:
            cls.fail(f"the window {(kh, kw)} is larger than the padded input "
                     f"{(x.shape[2] + 2 * ph, x.shape[3] + 2 * pw)} of {describe(x)}")
        backend = ctx.backend
        x = backend.contiguous(x)
        y = backend.empty(x.shape[:2] + (out_h, out_w), x.dtype)
        winner = backend.empty(y.shape, np.int64) if cls.by_max else backend.empty((1, 1, 1, 1), np.int64)
        geometry_args = (kh, kw, sh, sw, ph, pw)
        if cls.by_max:
            ctx.run(max_pool2d_kernel, x, *geometry_args, winner, y)
        else:
            ctx.run(avg_pool2d_kernel, x, *geometry_args, y)
        ctx.save(winner)
        ctx.geometry, ctx.x_shape, ctx.dtype = geometry_args, x.shape, x.dtype
        return y

    @classmethod
    def backward(cls, ctx, grad_y):
        (winner,) = ctx.saved
        backend = ctx.backend
        grad_x = backend.empty(ctx.x_shape, ctx.dtype)
        ctx.run(pool2d_backward_kernel, backend.contiguous(backend.astype(grad_y, ctx.dtype)), winner, *ctx.geometry,
                cls.by_max, grad_x)
        return (grad_x,)


class MaxPool2d(Pool2d):
    name, by_max, has_kinks = "max_pool2d", True, True
    formula = "y[n, c, u, v] = max of x over window (u, v) (padding -inf); a = where (first of ties; NaN wins)"
    gradient = "dx[a] += dy for each window's winner a"
    kernels = (max_pool2d_kernel, pool2d_backward_kernel)
    reference = staticmethod(max_pool2d_reference)
    reference_backward = staticmethod(max_pool2d_backward_reference)


class AvgPool2d(Pool2d):
    name = "avg_pool2d"
    formula = "y[n, c, u, v] = sum of x over window (u, v) / (kh kw)   (padding counts as 0)"
    gradient = "dx[place] += dy / (kh kw) for every place of each window"
    kernels = (avg_pool2d_kernel, pool2d_backward_kernel)
    reference = staticmethod(avg_pool2d_reference)
    reference_backward = staticmethod(avg_pool2d_backward_reference)


class AdaptiveAvgPool2d(Particle):
    name = "adaptive_avg_pool2d"
    formula = "y[n, c, i, j] = mean of x[n, c] over rows floor(i H / Ho)..ceil((i+1) H / Ho), the same across"
    gradient = "dx[place] += dy / (its window's size) for every window holding the place"
    kernels = (adaptive_avg_pool2d_kernel, adaptive_avg_pool2d_backward_kernel)

    @classmethod
    def forward(cls, ctx, x, output_size):
        cls.require_float(x)
        if x.ndim != 4:
            cls.fail(f"input {describe(x)} must be (N, C, H, W)")
        sizes = adaptive_size(output_size, x.shape)
        if len(sizes) != 2 or min(sizes) < 1 or any(s > n for s, n in zip(sizes, x.shape[2:])):
            cls.fail(f"output_size {output_size!r} must be 1 to the input's size {x.shape[2:]} of {describe(x)}")
        backend = ctx.backend
        y = backend.empty(x.shape[:2] + sizes, x.dtype)
        ctx.run(adaptive_avg_pool2d_kernel, backend.contiguous(x), y)
        ctx.x_shape, ctx.dtype = x.shape, x.dtype
        return y

    @staticmethod
    def backward(ctx, grad_y):
        backend = ctx.backend
        grad_x = backend.empty(ctx.x_shape, ctx.dtype)
        ctx.run(adaptive_avg_pool2d_backward_kernel, backend.contiguous(backend.astype(grad_y, ctx.dtype)), grad_x)
        return (grad_x,)

    reference = staticmethod(adaptive_avg_pool2d_reference)
    reference_backward = staticmethod(adaptive_avg_pool2d_backward_reference)

