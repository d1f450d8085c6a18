"""Losses: cross-entropy on class ids (fused with log-softmax), MSE, binary cross-entropy.

    cross_entropy  l_r = ln sum_j e^(x_rj) - x_r,t_r          (t_r: the class id of row r)
                   dx_rj = dl_r (softmax(x_r)_j - [j = t_r])
                   a row whose t_r is ignore_index: l_r = 0, dx_r = 0, and it is not counted
                   in the mean (a masked language model scores only its chosen positions)
    mse_loss       l_i = (x_i - y_i)^2                         dx_i = 2 (x_i - y_i) dl_i, dy_i = -dx_i
    binary_cross_entropy               (p a probability, y the target in [0, 1])
                   l_i = -(y_i ln p_i + (1 - y_i) ln(1 - p_i))  dp_i = dl_i (p_i - y_i) / (p_i (1 - p_i))
                                                                dy_i = dl_i (ln(1 - p_i) - ln p_i)
    binary_cross_entropy_with_logits  (x a logit: p = sigmoid(x))
                   l_i = max(x_i, 0) - x_i y_i + ln(1 + e^-|x_i|)  dx_i = dl_i (sigmoid(x_i) - y_i)
                                                                dy_i = -dl_i x_i

reduction "mean" divides the summed loss by the number of terms, "sum" keeps the sum, "none"
returns every l. Cross-entropy is one kernel forward and one backward: the log-softmax is
never stored, only each row's log-sum-exp. Logs in binary cross-entropy are clamped at -100
as PyTorch does, so p = 0 or 1 gives a large finite loss, not inf.
"""
import math

import numpy as np
from numba import float64

from ..backends.gpu import SCRATCH, block_sum, cuda, device_function, gpu_kernel, launch_elementwise, launch_rows
from ..backends.kernel import kernel, scalar
from .particle import Particle, describe
from .softmax import block_row_max_and_exp_sum, exp_nonpositive, row_max_and_exp_sum

REDUCTIONS = ("mean", "sum", "none")


# 1. cross-entropy: one fused kernel each way ----------------------------------------------
def cross_entropy_reference(logits, targets, reduction="mean", ignore_index=-100):
    shifted = logits - logits.max(axis=1, keepdims=True)   # e^x never overflows
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    counted = targets != ignore_index
    losses = np.where(counted, -log_probs[np.arange(len(targets)), np.where(counted, targets, 0)], 0.0)
    mean = lambda: losses.sum() / counted.sum() if counted.any() else np.nan
    return {"mean": mean, "sum": losses.sum, "none": lambda: losses}[reduction]()


def cross_entropy_backward_reference(logits, targets, grad_loss, reduction="mean", ignore_index=-100):
    shifted = logits - logits.max(axis=1, keepdims=True)
    probs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    counted = targets != ignore_index
    probs[np.nonzero(counted)[0], targets[counted]] -= 1
    row_grad = np.broadcast_to(grad_loss, (len(targets),)) / (max(counted.sum(), 1) if reduction == "mean" else 1)
    return probs * (row_grad * counted)[:, None], None


@kernel(reorder_sums=True)
def cross_entropy_kernel(logits, targets, ignore_index, scale, losses, log_sum_exp, total, fast_exp):
    rows = logits.shape[0]
    running = 0.0
    for r in range(rows):
        if targets[r] == ignore_index:
            losses[r] = 0.0
            continue
        row_max, exp_sum = row_max_and_exp_sum(logits, r, fast_exp)
        log_sum_exp[r] = row_max + np.log(exp_sum)
        losses[r] = log_sum_exp[r] - logits[r, targets[r]]
        running += losses[r]
    total[0] = running * scale


@kernel
def cross_entropy_backward_kernel(logits, targets, ignore_index, log_sum_exp, grad_loss, grad_stride, scale,
                                  grad_logits, fast_exp):
    rows, classes = logits.shape
    for r in range(rows):
        if targets[r] == ignore_index:   # exactly 0 (its log_sum_exp was never computed)
            for j in range(classes):
                grad_logits[r, j] = 0.0
            continue
        # grad_stride 0: one upstream number for the reduced loss; 1: one per row ("none").
        row_grad = grad_loss[r * grad_stride] * scale
        for j in range(classes):
            shifted = logits[r, j] - log_sum_exp[r]
            grad_logits[r, j] = row_grad * (exp_nonpositive(shifted) if fast_exp else np.exp(shifted))
        grad_logits[r, targets[r]] -= row_grad


# GPU twins: a block per row forward (its log-sum-exp), a thread per logit backward
@gpu_kernel
def cross_entropy_gpu(logits, targets, ignore_index, scale, losses, log_sum_exp, total):
    rows = logits.shape[0]
    scratch = cuda.shared.array(SCRATCH, float64)
    for r in range(cuda.blockIdx.x, rows, cuda.gridDim.x):
        if targets[r] == ignore_index:   # (the same for every thread of the block: none waits alone)
            if cuda.threadIdx.x == 0:
                losses[r] = 0.0
            continue
        row_max, exp_sum = block_row_max_and_exp_sum(logits, r, scratch)
        if cuda.threadIdx.x == 0:
            log_sum_exp[r] = row_max + math.log(exp_sum)
            losses[r] = log_sum_exp[r] - logits[r, targets[r]]
            cuda.atomic.add(total, 0, losses[r] * scale)


@gpu_kernel
def cross_entropy_backward_gpu(logits, targets, ignore_index, log_sum_exp, grad_loss, grad_stride, scale,
                               grad_logits):
    rows, classes = logits.shape
    start, step = cuda.grid(1), cuda.gridsize(1)
    for e in range(start, rows * classes, step):
        r, j = e // classes, e % classes
        if targets[r] == ignore_index:
            grad_logits[r, j] = 0.0
            continue
        row_grad = grad_loss[r * grad_stride] * scale
        hit = row_grad if j == targets[r] else 0.0
        grad_logits[r, j] = row_grad * math.exp(logits[r, j] - log_sum_exp[r]) - hit


@cross_entropy_kernel.gpu
def launch_cross_entropy(logits, targets, ignore_index, scale, losses, log_sum_exp, total, fast_exp):
    # (fast_exp is the CPU's choice: the GPU's own exp is fast at every dtype)
    launch_rows(cross_entropy_gpu, logits.shape[0], logits.shape[1], logits, targets, ignore_index, scale, losses,
                log_sum_exp, total)


@cross_entropy_backward_kernel.gpu
def launch_cross_entropy_backward(logits, targets, ignore_index, log_sum_exp, grad_loss, grad_stride, scale,
                                  grad_logits, fast_exp):
    launch_elementwise(cross_entropy_backward_gpu, grad_logits.size, logits, targets, ignore_index, log_sum_exp,
                       grad_loss, grad_stride, scale, grad_logits)


def check_reduction(particle, reduction):
    if reduction not in REDUCTIONS:
        particle.fail(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")


class CrossEntropy(Particle):
    name = "cross_entropy"
    formula = "l_r = logsumexp(x_r) - x_r[t_r], averaged over the rows whose t_r is not ignore_index"
    gradient = "dx_r = dl_r (softmax(x_r) - onehot(t_r)); 0 on ignored rows"
    kernels = (cross_entropy_kernel, cross_entropy_backward_kernel)

    @classmethod
    def forward(cls, ctx, logits, targets, reduction="mean", ignore_index=-100):
        cls.require_float(logits)
        check_reduction(cls, reduction)
        if logits.ndim != 2:
            cls.fail(f"logits must be (batch, classes), got {describe(logits)}; reshape to (-1, classes)")
        if targets.dtype.kind not in "iu":
            cls.fail(f"targets must be integer class ids, got {describe(targets)}", TypeError)
        if not isinstance(ignore_index, (int, np.integer)) or isinstance(ignore_index, bool):
            cls.fail(f"ignore_index must be an int, got {ignore_index!r}", TypeError)
        rows, classes = logits.shape
        if targets.shape != (rows,):
            cls.fail(f"targets {describe(targets)} must have shape ({rows},) to match logits {describe(logits)}")
        if classes == 0:
            cls.fail(f"logits {describe(logits)} have no classes")
        backend = ctx.backend
        targets = backend.astype(backend.contiguous(targets), np.int64)
        counted = cls.counted_rows(backend, targets, classes, int(ignore_index), lambda: f"logits {describe(logits)}")
        logits = backend.contiguous(logits)
        losses = backend.empty((rows,), logits.dtype)
        log_sum_exp = backend.empty((rows,), np.float64)
        total = backend.zeros((1,), logits.dtype)
        scale = 1.0 / counted if reduction == "mean" and counted else 1.0
        if rows:
            ctx.run(cross_entropy_kernel, logits, targets, int(ignore_index), scale, losses, log_sum_exp, total,
                    logits.dtype == np.float32)
        if reduction == "mean" and not counted:   # a mean of nothing, as PyTorch's
            total = backend.full((1,), np.nan, logits.dtype)
        ctx.save(logits, targets, log_sum_exp)
        ctx.scale, ctx.reduction, ctx.ignore_index = scale, reduction, int(ignore_index)
        return losses if reduction == "none" else backend.reshape(total, ())

    @classmethod
    def counted_rows(cls, backend, targets, classes, ignore_index, where):
        """How many rows count (their target is not ignore_index), after checking that each of
        their ids is in [0, classes): GPU ids copied from the host carry their range, which
        answers both without a copy back when it holds neither a bad id nor ignore_index."""
        known = getattr(targets, "known_range", None)
        if known is not None and 0 <= known[0] and known[1] < classes and not known[0] <= ignore_index <= known[1]:
            return targets.size
        host = backend.to_numpy(targets)
        counted = host != ignore_index
        cls.check_host_ids(host[counted], classes, "target class id", where)
        return int(counted.sum())

    @staticmethod
    def backward(ctx, grad_loss):
        logits, targets, log_sum_exp = ctx.saved
        backend = ctx.backend
        grad_loss = backend.flat(backend.contiguous(backend.astype(grad_loss, logits.dtype)))
        grad_logits = backend.empty(logits.shape, logits.dtype)
        stride = 1 if ctx.reduction == "none" else 0
        if logits.shape[0]:
            ctx.run(cross_entropy_backward_kernel, logits, targets, ctx.ignore_index, log_sum_exp, grad_loss, stride,
                    ctx.scale, grad_logits, logits.dtype == np.float32)
        return grad_logits, None

    reference = staticmethod(cross_entropy_reference)
    reference_backward = staticmethod(cross_entropy_backward_reference)


# 2. elementwise losses of a prediction and a target -----------------------------------------
# Each loss below gives its term l(x, y) and slopes (dl/dx, dl/dy) as scalar functions; its CPU
# kernels hand them to the two loops here, its GPU kernels call them from a thread per element.
@scalar
def sum_of_terms(term, x, y, scale, losses, total):
    """losses[i] = term(x[i], y[i]); total[0] = scale * their sum."""
    running = 0.0
    for i in range(x.size):
        losses[i] = term(x[i], y[i])
        running += losses[i]
    total[0] = running * scale


@scalar
def gradients_of_terms(slopes, x, y, grad_loss, grad_stride, scale, grad_x, grad_y):
    """grad_x[i], grad_y[i] = dl_i * scale * slopes(x[i], y[i]); dl_i = grad_loss[i * grad_stride]
    (stride 0: one upstream number for every term, from a "mean" or "sum" loss)."""
    for i in range(x.size):
        upstream = grad_loss[i * grad_stride] * scale
        slope_x, slope_y = slopes(x[i], y[i])
        grad_x[i] = upstream * slope_x
        grad_y[i] = upstream * slope_y


@device_function
def add_block_total(running, scale, total):
    """total[0] += scale * (the sum of `running` over the block): one atomic add per block, not per element."""
    scratch = cuda.shared.array(SCRATCH, float64)
    running = block_sum(running, scratch)
    if cuda.threadIdx.x == 0:
        cuda.atomic.add(total, 0, running * scale)


class PairLoss(Particle):
    """A loss summed over elements of a prediction and a same-shaped target. A subclass gives
    `kernels = (forward, backward)` (forward(x, y, scale, losses, total), backward(x, y,
    grad_loss, grad_stride, scale, grad_x, grad_y)) and its NumPy reference_terms and reference_slopes."""

    @classmethod
    def forward(cls, ctx, x, y, reduction="mean"):
        cls.require_float(x, y)
        check_reduction(cls, reduction)
        if x.shape != y.shape:
            cls.fail(f"input {describe(x)} and target {describe(y)} must have the same shape")
        if x.dtype != y.dtype:
            cls.fail(f"input {describe(x)} and target {describe(y)} must share a dtype", TypeError)
        backend = ctx.backend
        cls.check_values(backend, x, y)
        x, y = backend.contiguous(x), backend.contiguous(y)
        losses = backend.empty(x.shape, x.dtype)
        total = backend.zeros((1,), x.dtype)
        scale = 1.0 / x.size if reduction == "mean" and x.size else 1.0
        ctx.run(cls.kernels[0], backend.flat(x), backend.flat(y), scale, backend.flat(losses), total)
        if reduction == "mean" and x.size == 0:
            total = backend.full((1,), np.nan, x.dtype)
        ctx.save(x, y)
        ctx.scale, ctx.reduction = scale, reduction
        return losses if reduction == "none" else backend.reshape(total, ())

    @classmethod
    def check_values(cls, backend, x, y):
        pass

    @classmethod
    def backward(cls, ctx, grad_loss):
        x, y = ctx.saved
        backend = ctx.backend
        grad_loss = backend.flat(backend.contiguous(backend.astype(grad_loss, x.dtype)))
        grad_x, grad_y = backend.empty(x.shape, x.dtype), backend.empty(y.shape, y.dtype)
        stride = 1 if ctx.reduction == "none" else 0
        flat = backend.flat
        ctx.run(cls.kernels[1], flat(x), flat(y), grad_loss, stride, ctx.scale, flat(grad_x), flat(grad_y))
        need_x, need_y = ctx.needs_input_grad
        return (grad_x if need_x else None), (grad_y if need_y else None)

    @classmethod
    def reference(cls, x, y, reduction="mean"):
        losses = cls.reference_terms(x, y)
        return {"mean": losses.mean, "sum": losses.sum, "none": lambda: losses}[reduction]()

    @classmethod
    def reference_backward(cls, x, y, grad_loss, reduction="mean"):
        slope_x, slope_y = cls.reference_slopes(x, y)
        upstream = np.broadcast_to(grad_loss, x.shape) / (x.size if reduction == "mean" else 1)
        return upstream * slope_x, upstream * slope_y


# mse_loss -----------------------------------------------------------------------------------
@scalar
def mse_term(x, y):
    return (x - y) * (x - y)


@scalar
def mse_slopes(x, y):
    return 2.0 * (x - y), -2.0 * (x - y)


def mse_terms_reference(x, y):
    return (x - y) ** 2


def mse_slopes_reference(x, y):
    return 2 * (x - y), -2 * (x - y)


@kernel
def mse_loss_kernel(x, y, scale, losses, total):
    sum_of_terms(mse_term, x, y, scale, losses, total)


@kernel
def mse_loss_backward_kernel(x, y, grad_loss, grad_stride, scale, grad_x, grad_y):
    gradients_of_terms(mse_slopes, x, y, grad_loss, grad_stride, scale, grad_x, grad_y)


@gpu_kernel
def mse_loss_gpu(x, y, scale, losses, total):
    running = 0.0
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        losses[i] = mse_term(x[i], y[i])
        running += losses[i]
    add_block_total(running, scale, total)


@gpu_kernel
def mse_loss_backward_gpu(x, y, grad_loss, grad_stride, scale, grad_x, grad_y):
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        slope_x, slope_y = mse_slopes(x[i], y[i])
        upstream = grad_loss[i * grad_stride] * scale
        grad_x[i], grad_y[i] = upstream * slope_x, upstream * slope_y


class MSELoss(PairLoss):
    name = "mse_loss"
    formula, gradient = "l = mean((x - y)^2)", "dx = 2 (x - y) dl / n, dy = -dx"
    kernels = (mse_loss_kernel.on_gpu(mse_loss_gpu), mse_loss_backward_kernel.on_gpu(mse_loss_backward_gpu))
    reference_terms, reference_slopes = staticmethod(mse_terms_reference), staticmethod(mse_slopes_reference)


# binary_cross_entropy: the logs clamped at -100, as PyTorch does ------------------------------
@scalar
def bce_term(p, y):
    return -(y * max(np.log(p), -100.0) + (1 - y) * max(np.log(1 - p), -100.0))


@scalar
def bce_slopes(p, y):
    return (p - y) / max(p * (1 - p), 1e-12), 1.0 * (max(np.log(1 - p), -100.0) - max(np.log(p), -100.0))


def bce_terms_reference(p, y):
    with np.errstate(divide="ignore"):
        return -(y * np.maximum(np.log(p), -100) + (1 - y) * np.maximum(np.log(1 - p), -100))


def bce_slopes_reference(p, y):
    with np.errstate(divide="ignore"):
        log_p, log_q = np.maximum(np.log(p), -100), np.maximum(np.log(1 - p), -100)
    return (p - y) / np.maximum(p * (1 - p), 1e-12), log_q - log_p


@kernel
def bce_kernel(x, y, scale, losses, total):
    sum_of_terms(bce_term, x, y, scale, losses, total)


@kernel
def bce_backward_kernel(x, y, grad_loss, grad_stride, scale, grad_x, grad_y):
    gradients_of_terms(bce_slopes, x, y, grad_loss, grad_stride, scale, grad_x, grad_y)


@gpu_kernel
def bce_gpu(x, y, scale, losses, total):
    running = 0.0
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        losses[i] = bce_term(x[i], y[i])
        running += losses[i]
    add_block_total(running, scale, total)


@gpu_kernel
def bce_backward_gpu(x, y, grad_loss, grad_stride, scale, grad_x, grad_y):
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        slope_x, slope_y = bce_slopes(x[i], y[i])
        upstream = grad_loss[i * grad_stride] * scale
        grad_x[i], grad_y[i] = upstream * slope_x, upstream * slope_y


class BinaryCrossEntropy(PairLoss):
    name = "binary_cross_entropy"
    formula = "l = -mean(y ln p + (1 - y) ln(1 - p))"
    gradient = "dp = dl (p - y) / (p (1 - p)) / n, dy = dl (ln(1 - p) - ln p) / n"
    kernels = (bce_kernel.on_gpu(bce_gpu), bce_backward_kernel.on_gpu(bce_backward_gpu))

    @classmethod
    def check_values(cls, backend, p, y):
        p = backend.to_numpy(p)
        if p.size and not (p.min() >= 0 and p.max() <= 1):
            cls.fail(f"input {describe(p)} must hold probabilities in [0, 1] "
                     "(for raw scores use binary_cross_entropy_with_logits)")

    reference_terms, reference_slopes = staticmethod(bce_terms_reference), staticmethod(bce_slopes_reference)


# binary_cross_entropy_with_logits: the sigmoid folded in, stable for any x ---------------------
@scalar
def bce_logits_term(x, y):
    return max(x, 0) - x * y + np.log(1 + np.exp(-abs(x)))


@scalar
def bce_logits_slopes(x, y):
    probability = 1 / (1 + np.exp(-x)) if x >= 0 else np.exp(x) / (1 + np.exp(x))   # e^ never overflows
    return 1.0 * (probability - y), -1.0 * x


def bce_logits_terms_reference(x, y):
    return np.maximum(x, 0) - x * y + np.log1p(np.exp(-np.abs(x)))


def bce_logits_slopes_reference(x, y):
    return 1 / (1 + np.exp(-x)) - y, -x


@kernel
def bce_logits_kernel(x, y, scale, losses, total):
    sum_of_terms(bce_logits_term, x, y, scale, losses, total)


@kernel
def bce_logits_backward_kernel(x, y, grad_loss, grad_stride, scale, grad_x, grad_y):
    gradients_of_terms(bce_logits_slopes, x, y, grad_loss, grad_stride, scale, grad_x, grad_y)


@gpu_kernel
def bce_logits_gpu(x, y, scale, losses, total):
    running = 0.0
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        losses[i] = bce_logits_term(x[i], y[i])
        running += losses[i]
    add_block_total(running, scale, total)


@gpu_kernel
def bce_logits_backward_gpu(x, y, grad_loss, grad_stride, scale, grad_x, grad_y):
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        slope_x, slope_y = bce_logits_slopes(x[i], y[i])
        upstream = grad_loss[i * grad_stride] * scale
        grad_x[i], grad_y[i] = upstream * slope_x, upstream * slope_y


class BinaryCrossEntropyWithLogits(PairLoss):
    name = "binary_cross_entropy_with_logits"
    formula = "l = mean(max(x, 0) - x y + ln(1 + e^-|x|))"
    gradient = "dx = dl (sigmoid(x) - y) / n, dy = -dl x / n"
    kernels = (bce_logits_kernel.on_gpu(bce_logits_gpu), bce_logits_backward_kernel.on_gpu(bce_logits_backward_gpu))
    reference_terms = staticmethod(bce_logits_terms_reference)
    reference_slopes = staticmethod(bce_logits_slopes_reference)

