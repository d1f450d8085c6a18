"""Convolution: one small neuron slid over every place of an image (NCHW, as PyTorch).

For input x (N, C, H, W), weight w (O, C / G, kh, kw) in G groups, bias b (O,), stride s,
dilation d and zero padding p (top, bottom, left, right):
    y[n, o, u, v] = b[o] + sum over c in o's group, i < kh, j < kw of
                    w[o, c, i, j] x[n, c, u s - p_top + i d, v s - p_left + j d]       (0 outside x)
    Ho = (H + p_top + p_bottom - d (kh - 1) - 1) // s + 1, and the same for Wo

Computed as im2col + one product + col2im, the whole batch side by side in the columns:
    cols[(c kh + i) kw + j, (n Ho + u) Wo + v] = x[n, c, u s - p_top + i d, v s - p_left + j d]   (im2col)
    y_g = w_g (O/G, K) @ cols_g (K, N Ho Wo),    K = C/G kh kw     (the product, on BLAS/the GEMM)
    y[n, o, u, v] = y[o, (n Ho + u) Wo + v] + b[o]                  (back to NCHW: `images`)
Backward, by hand (dy in the product's layout first: `columns_of`):
    dw_g = dy_g @ cols_g^T                                    db[o] = sum of dy's row o
    dcols_g = w_g^T @ dy_g
    dx[n, c, h, w] = sum of dcols over every (i, j, u, v) that read x[n, c, h, w]    (col2im)
col2im never lets two writes meet: on the CPU each (n, c) plane of dx adds up its own columns; on
the GPU each input place gathers the few columns that read it (a thread each, no atomics).

conv1d is conv2d on (N, C, 1, L) with a kernel of height 1.
"""
import numpy as np
from numba import prange

from .. import errors
from ..backends.gpu import cuda, gpu_kernel
from ..backends.kernel import kernel, scalar
from .matmul import product, transposed
from .particle import Particle, describe
from .reductions import sum_over


# 1. the NumPy reference: the sum over kernel places, written directly -------------------------
def padded(x, pads):
    top, bottom, left, right = pads
    return np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))


def conv2d_reference(x, weight, bias=None, stride=(1, 1), pads=(0, 0, 0, 0), dilation=(1, 1), groups=1):
    out_h, out_w = output_size(x.shape[2:], weight.shape[2:], stride, pads, dilation)
    xp, (sh, sw), (dh, dw) = padded(x, pads), stride, dilation
    per_group, outs_per_group = weight.shape[1], weight.shape[0] // groups
    y = np.zeros((x.shape[0], weight.shape[0], out_h, out_w), dtype=np.result_type(x, weight))
    for g in range(groups):
        channels, outs = slice(g * per_group, (g + 1) * per_group), slice(g * outs_per_group, (g + 1) * outs_per_group)
        for i in range(weight.shape[2]):
            for j in range(weight.shape[3]):
                window = xp[:, channels, i * dh:i * dh + sh * (out_h - 1) + 1:sh, j * dw:j * dw + sw * (out_w - 1) + 1:sw]
                y[:, outs] += np.einsum("nchw,oc->nohw", window, weight[outs, :, i, j])
    return y + (0 if bias is None else bias[None, :, None, None])


def conv2d_backward_reference(x, weight, *bias_and_grad, stride=(1, 1), pads=(0, 0, 0, 0), dilation=(1, 1),
                              groups=1):
    *bias, grad_y = bias_and_grad
    out_h, out_w = grad_y.shape[2:]
    xp, (sh, sw), (dh, dw) = padded(x, pads), stride, dilation
    grad_xp, grad_w = np.zeros_like(xp), np.zeros_like(weight)
    per_group, outs_per_group = weight.shape[1], weight.shape[0] // groups
    for g in range(groups):
        channels, outs = slice(g * per_group, (g + 1) * per_group), slice(g * outs_per_group, (g + 1) * outs_per_group)
        for i in range(weight.shape[2]):
            for j in range(weight.shape[3]):
                rows = slice(i * dh, i * dh + sh * (out_h - 1) + 1, sh)
                columns = slice(j * dw, j * dw + sw * (out_w - 1) + 1, sw)
                grad_w[outs, :, i, j] = np.einsum("nohw,nchw->oc", grad_y[:, outs], xp[:, channels, rows, columns])
                grad_xp[:, channels, rows, columns] += np.einsum("nohw,oc->nchw", grad_y[:, outs], weight[outs, :, i, j])
    top, bottom, left, right = pads
    grad_x = grad_xp[:, :, top:grad_xp.shape[2] - bottom, left:grad_xp.shape[3] - right]
    return (grad_x, grad_w) + ((grad_y.sum((0, 2, 3)),) if bias else ())


def output_size(size, kernel_size, stride, pads, dilation):
    return tuple((n + pads[2 * k] + pads[2 * k + 1] - dilation[k] * (kernel_size[k] - 1) - 1) // stride[k] + 1
                 for k, n in enumerate(size))


# 2. the kernels: im2col and col2im, and the move between image and column layouts -----------
# cols holds the whole batch side by side: row (c kh + i) kw + j, column n Ho Wo + u Wo + v. So a
# group's product is one big matrix product over every sample at once (BLAS's best case), not N
# small ones; the output comes out as (O, N Ho Wo) and `images` puts it back as (N, O, Ho Wo).
@kernel(parallel=True)
def im2col_kernel(x, kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_left, dilation_h, dilation_w, out_w, cols):
    count, channels, height, width = x.shape
    rows, places = cols.shape[0], cols.shape[1] // count
    out_h = places // out_w
    for row in prange(rows):   # each row of cols is one (channel, kernel place): its own task
        c, i, j = row // (kernel_h * kernel_w), row // kernel_w % kernel_h, row % kernel_w
        for n in range(count):
            for u in range(out_h):
                h = u * stride_h - pad_top + i * dilation_h
                first = n * places + u * out_w
                if h < 0 or h >= height:   # a row of padding
                    for v in range(out_w):
                        cols[row, first + v] = 0.0
                    continue
                for v in range(out_w):
                    w = v * stride_w - pad_left + j * dilation_w
                    cols[row, first + v] = x[n, c, h, w] if 0 <= w < width else 0.0


@kernel(parallel=True)
def col2im_kernel(cols, kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_left, dilation_h, dilation_w, out_w,
                  grad_x):
    """The CPU's col2im: each (n, c) plane of dx is one task's own, and it adds up its columns
    row by row, in a fixed order (the GPU gathers instead: `gathered`)."""
    count, channels, height, width = grad_x.shape
    places = cols.shape[1] // count
    out_h = places // out_w
    for plane in prange(count * channels):
        n, c = plane // channels, plane % channels
        for h in range(height):
            for w in range(width):
                grad_x[n, c, h, w] = 0.0
        for i in range(kernel_h):
            for j in range(kernel_w):
                row = (c * kernel_h + i) * kernel_w + j
                for u in range(out_h):
                    h = u * stride_h - pad_top + i * dilation_h
                    if h < 0 or h >= height:
                        continue
                    first = n * places + u * out_w
                    for v in range(out_w):
                        w = v * stride_w - pad_left + j * dilation_w
                        if 0 <= w < width:
                            grad_x[n, c, h, w] += cols[row, first + v]


@scalar(inline=False)
def gathered(cols, kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_left, dilation_h, dilation_w, out_h, out_w,
             n, c, h, w):
    """The sum of the columns that read x[n, c, h, w]: kernel place (i, j) read it for output
    place (u, v) when u stride_h = h + pad_top - i dilation_h (and the same across)."""
    total = 0.0
    for i in range(kernel_h):
        along = h + pad_top - i * dilation_h
        if along < 0 or along % stride_h:
            continue
        u = along // stride_h
        if u >= out_h:
            continue
        for j in range(kernel_w):
            across = w + pad_left - j * dilation_w
            if across < 0 or across % stride_w:
                continue
            v = across // stride_w
            if v < out_w:
                total += cols[(c * kernel_h + i) * kernel_w + j, (n * out_h + u) * out_w + v]
    return total


@kernel(parallel=True)
def images_kernel(columns, bias, y):
    """y[n, o, place] = columns[o, n places + place] + bias[o]: the product's (O, N Ho Wo) back in NCHW."""
    count, channels, places = y.shape
    for task in prange(count * channels):
        n, o = task // channels, task % channels
        for place in range(places):
            y[n, o, place] = columns[o, n * places + place] + bias[o]


@kernel(parallel=True)
def columns_kernel(y, columns):
    """columns[o, n places + place] = y[n, o, place]: dy in the layout of the product's output."""
    count, channels, places = y.shape
    for task in prange(count * channels):
        n, o = task // channels, task % channels
        for place in range(places):
            columns[o, n * places + place] = y[n, o, place]


# GPU twins: a thread per number written
@gpu_kernel
def im2col_gpu(x, kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_left, dilation_h, dilation_w, out_w, cols):
    count, height, width = x.shape[0], x.shape[2], x.shape[3]
    places = cols.shape[1] // count
    for e in range(cuda.grid(1), cols.size, cuda.gridsize(1)):
        row, column = e // cols.shape[1], e % cols.shape[1]
        n, place = column // places, column % places
        c, i, j = row // (kernel_h * kernel_w), row // kernel_w % kernel_h, row % kernel_w
        h = place // out_w * stride_h - pad_top + i * dilation_h
        w = place % out_w * stride_w - pad_left + j * dilation_w
        cols[row, column] = x[n, c, h, w] if 0 <= h < height and 0 <= w < width else 0.0


@gpu_kernel
def col2im_gpu(cols, kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_left, dilation_h, dilation_w, out_w,
               grad_x):
    count, channels, height, width = grad_x.shape
    out_h = cols.shape[1] // count // out_w
    for e in range(cuda.grid(1), grad_x.size, cuda.gridsize(1)):
        n, c, h, w = e // (channels * height * width), e // (height * width) % channels, e // width % height, e % width
        grad_x[n, c, h, w] = gathered(cols, kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_left,
                                      dilation_h, dilation_w, out_h, out_w, n, c, h, w)


@gpu_kernel
def images_gpu(columns, bias, y):
    channels, places = y.shape[1], y.shape[2]
    for e in range(cuda.grid(1), y.size, cuda.gridsize(1)):
        n, o, place = e // (channels * places), e // places % channels, e % places
        y[n, o, place] = columns[o, n * places + place] + bias[o]


@gpu_kernel
def columns_gpu(y, columns):
    count, places = y.shape[0], y.shape[2]
    for e in range(cuda.grid(1), columns.size, cuda.gridsize(1)):
        o, column = e // (count * places), e % (count * places)
        columns[o, column] = y[column // places, o, column % places]


im2col = im2col_kernel.on_gpu(im2col_gpu)
col2im = col2im_kernel.on_gpu(col2im_gpu)
images = images_kernel.on_gpu(images_gpu)
columns_of = columns_kernel.on_gpu(columns_gpu)


# 3. the particles -----------------------------------------------------------------------------
def pair(value, what, name):
    """(a, b) from an int or a pair of ints >= 1 (stride, dilation)."""
    values = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(values) != 2 or not all(isinstance(v, (int, np.integer)) and v >= 1 for v in values):
        raise errors.ValueError(f"{name}: {what} must be a positive int or a pair of them, got {value!r}")
    return tuple(int(v) for v in values)


def paddings(padding, kernel_size, dilation, stride, name):
    """(top, bottom, left, right) from an int, a pair, "valid" or "same" (PyTorch's: the output as
    large as the input, for stride 1; an odd total puts the extra row or column at the end)."""
    if padding == "valid":
        return (0, 0, 0, 0)
    if padding == "same":
        if stride != (1, 1):
            raise errors.ValueError(f"{name}: padding='same' needs stride 1, got stride {stride}")
        totals = [d * (k - 1) for d, k in zip(dilation, kernel_size)]
        return (totals[0] // 2, totals[0] - totals[0] // 2, totals[1] // 2, totals[1] - totals[1] // 2)
    values = (padding, padding) if isinstance(padding, (int, np.integer)) else tuple(padding)
    if len(values) != 2 or not all(isinstance(v, (int, np.integer)) and v >= 0 for v in values):
        raise errors.ValueError(f"{name}: padding must be 'same', 'valid', an int >= 0 or a pair of them, "
                                f"got {padding!r}")
    return (int(values[0]), int(values[0]), int(values[1]), int(values[1]))


class Conv2d(Particle):
    name = "conv2d"
    formula = "y[n, o] = b[o] + sum over c in o's group, i, j of w[o, c, i, j] x[n, c, u s - p + i d, v s - p + j d]"
    gradient = ("cols = im2col(x); dw_g = dy_g cols_g^T; db = sum of dy over n, u, v; "
                "dx = col2im(w_g^T dy_g)")
    kernels = (im2col, col2im, images, columns_of)

    @classmethod
    def forward(cls, ctx, x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
        geometry = cls.checked(x, weight, bias, stride, padding, dilation, groups)
        backend, (count, channels) = ctx.backend, x.shape[:2]
        outs, kernel_h, kernel_w = weight.shape[0], weight.shape[2], weight.shape[3]
        out_h, out_w = geometry["out"]
        k, columns = channels // groups * kernel_h * kernel_w, count * out_h * out_w
        cols = backend.empty((channels * kernel_h * kernel_w, columns), x.dtype)
        if count:   # (an empty batch: no columns to fill, and its places would divide by zero)
            ctx.run(im2col, backend.contiguous(x), kernel_h, kernel_w, *geometry["launch"], out_w, cols)
        # y_g = w_g @ cols_g: one product per group, over every sample at once
        w_groups = backend.reshape(backend.contiguous(weight), (groups, outs // groups, k))
        y_columns = product(ctx, w_groups, backend.reshape(cols, (groups, k, columns)))
        y = backend.empty((count, outs, out_h * out_w), x.dtype)
        if count:
            ctx.run(images, backend.reshape(y_columns, (outs, columns)),
                    backend.zeros((outs,), x.dtype) if bias is None else backend.contiguous(bias), y)
        ctx.save(cols, w_groups)
        ctx.geometry, ctx.x_shape, ctx.weight_shape, ctx.has_bias = geometry, x.shape, weight.shape, bias is not None
        return backend.reshape(y, (count, outs, out_h, out_w))

    @staticmethod
    def backward(ctx, grad_y):
        cols, w_groups = ctx.saved
        backend, needs = ctx.backend, ctx.needs_input_grad
        groups, outs_per_group, k = w_groups.shape
        count, columns = ctx.x_shape[0], cols.shape[1]
        grad = backend.contiguous(backend.astype(grad_y, cols.dtype))
        grad_columns = backend.empty((groups * outs_per_group, columns), cols.dtype)
        places = ctx.geometry["out"][0] * ctx.geometry["out"][1]
        if count:
            ctx.run(columns_of, backend.reshape(grad, (count, groups * outs_per_group, places)), grad_columns)
        grad_groups = backend.reshape(grad_columns, (groups, outs_per_group, columns))
        grad_x = grad_weight = grad_bias = None
        if needs[0]:
            grad_cols = product(ctx, transposed(backend, w_groups), grad_groups)   # (G, K, N Ho Wo)
            grad_x = backend.empty(ctx.x_shape, cols.dtype)
            kernel_h, kernel_w = ctx.weight_shape[2:]
            if count:
                ctx.run(col2im, backend.reshape(grad_cols, cols.shape), kernel_h, kernel_w, *ctx.geometry["launch"],
                        ctx.geometry["out"][1], grad_x)
        if needs[1]:
            # dw_g^T = cols_g dy_g^T (K, O/G): BLAS is faster with the long sum inside a tall, thin product
            grad_w_t = product(ctx, backend.reshape(cols, (groups, k, columns)), transposed(backend, grad_groups))
            grad_weight = backend.reshape(backend.contiguous(transposed(backend, grad_w_t)), ctx.weight_shape)
        if ctx.has_bias and needs[2]:
            grad_bias = sum_over(ctx, grad_columns, (1,))
        return (grad_x, grad_weight) + ((grad_bias,) if ctx.has_bias else ())

    @classmethod
    def checked(cls, x, weight, bias, stride, padding, dilation, groups):
        """The convolution's geometry after every check: {"out": (Ho, Wo), "pads": ..., "launch": the
        kernels' stride, padding and dilation arguments}."""
        cls.require_float(x, weight, *(() if bias is None else (bias,)))
        arrays = (x, weight) + (() if bias is None else (bias,))
        if len({a.dtype for a in arrays}) > 1:
            cls.fail("inputs must share a dtype: " + ", ".join(map(describe, arrays)), TypeError)
        if x.ndim != 4 or weight.ndim != 4:
            cls.fail(f"input {describe(x)} must be (N, C, H, W) and weight {describe(weight)} (O, C / groups, kh, kw)")
        if not isinstance(groups, (int, np.integer)) or groups < 1 or x.shape[1] % groups or weight.shape[0] % groups:
            cls.fail(f"groups={groups!r} must divide both the input's {x.shape[1]} channels and the weight's "
                     f"{weight.shape[0]} outputs")
        if weight.shape[1] * groups != x.shape[1]:
            cls.fail(f"input {describe(x)} has {x.shape[1]} channels, weight {describe(weight)} expects "
                     f"{weight.shape[1] * groups} ({weight.shape[1]} per group x {groups} groups)")
        if bias is not None and bias.shape != (weight.shape[0],):
            cls.fail(f"bias {describe(bias)} must be ({weight.shape[0]},)")
        stride, dilation = pair(stride, "stride", cls.name), pair(dilation, "dilation", cls.name)
        pads = paddings(padding, weight.shape[2:], dilation, stride, cls.name)
        out = output_size(x.shape[2:], weight.shape[2:], stride, pads, dilation)
        if min(out) < 1:
            cls.fail(f"the kernel {weight.shape[2:]} (dilation {dilation}) is larger than the padded input "
                     f"{(x.shape[2] + pads[0] + pads[1], x.shape[3] + pads[2] + pads[3])} of {describe(x)}")
        return {"out": out, "pads": pads, "launch": (stride[0], stride[1], pads[0], pads[2], dilation[0], dilation[1])}

    @staticmethod
    def reference(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
        stride, dilation = pair(stride, "stride", "conv2d"), pair(dilation, "dilation", "conv2d")
        pads = paddings(padding, weight.shape[2:], dilation, stride, "conv2d")
        return conv2d_reference(x, weight, bias, stride, pads, dilation, groups)

    @staticmethod
    def reference_backward(x, weight, *bias_and_grad, stride=1, padding=0, dilation=1, groups=1):
        stride, dilation = pair(stride, "stride", "conv2d"), pair(dilation, "dilation", "conv2d")
        pads = paddings(padding, weight.shape[2:], dilation, stride, "conv2d")
        return conv2d_backward_reference(x, weight, *bias_and_grad, stride=stride, pads=pads, dilation=dilation,
                                         groups=groups)


class Conv1d(Conv2d):
    """conv2d on (N, C, 1, L) with kernels of height 1: the same kernels, a row of places."""

    name = "conv1d"
    formula = "y[n, o, u] = b[o] + sum over c in o's group, j of w[o, c, j] x[n, c, u s - p + j d]"
    gradient = "as conv2d's, on (N, C, 1, L)"

    @classmethod
    def forward(cls, ctx, x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
        if x.ndim != 3 or weight.ndim != 3:
            cls.fail(f"input {describe(x)} must be (N, C, L) and weight {describe(weight)} (O, C / groups, k)")
        backend = ctx.backend
        as_rows = lambda a: backend.reshape(a, a.shape[:2] + (1,) + a.shape[2:])   # noqa: E731
        y = super().forward(ctx, as_rows(x), as_rows(weight), bias, *as_2d(stride, padding, dilation), groups)
        ctx.shapes_1d = x.shape, weight.shape
        return backend.reshape(y, y.shape[:2] + y.shape[3:])

    @staticmethod
    def backward(ctx, grad_y):
        backend = ctx.backend
        grads = Conv2d.backward(ctx, backend.reshape(grad_y, grad_y.shape[:2] + (1,) + grad_y.shape[2:]))
        return tuple(None if g is None else backend.reshape(g, shape) for g, shape in zip(grads, ctx.shapes_1d)) \
            + grads[2:]

    @staticmethod
    def reference(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
        y = Conv2d.reference(x[:, :, None], weight[:, :, None], bias, *as_2d(stride, padding, dilation), groups)
        return y[:, :, 0]

    @staticmethod
    def reference_backward(x, weight, *bias_and_grad, stride=1, padding=0, dilation=1, groups=1):
        *bias, grad_y = bias_and_grad
        stride, padding, dilation = as_2d(stride, padding, dilation)
        grads = Conv2d.reference_backward(x[:, :, None], weight[:, :, None], *bias, grad_y[:, :, None], stride=stride,
                                          padding=padding, dilation=dilation, groups=groups)
        return (grads[0][:, :, 0], grads[1][:, :, 0]) + grads[2:]


def as_2d(stride, padding, dilation):
    """conv1d's stride, padding and dilation as conv2d's on a row: height 1, no padding above or below."""
    first = lambda v: v[0] if isinstance(v, (tuple, list)) else v   # noqa: E731
    return (1, first(stride)), padding if isinstance(padding, str) else (0, first(padding)), (1, first(dilation))
