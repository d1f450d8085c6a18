"""Scaled dot-product attention (Vaswani et al. 2017): each query takes a weighted mean of the values.

For one head, with queries Q (T, d), keys K (S, d), values V (S, dv) and c = 1 / sqrt(d):
    S_ts = c q_t . k_s + m_ts            scores; the mask m is 0 or -inf (causal: -inf where s > t)
    P_t  = softmax(S_t)                  attention weights: row t says where query t looks
    O    = P V
Backward, from dO:
    dV = P^T dO
    dP = dO V^T
    dS_ts = P_ts (dP_ts - sum_s' dP_ts' P_ts')      (the softmax Jacobian, row by row)
    dQ = c dS K,     dK = c dS^T Q

The scale is 1/sqrt(d) with d the size of a query/key vector (not of V, not of the sequence):
it keeps the scores' spread near 1 however wide the heads are, so softmax does not saturate.
The four products run on BLAS; the part between them (scale, mask, softmax forward; softmax
Jacobian and scale backward) is one fused loop kernel each way. The weights P are kept for
backward and can be returned for plotting (need_weights=True).
"""
import math

import numpy as np

from ..backends.kernel import kernel
from .particle import Particle, describe


def attention_reference(q, k, v, causal=False, mask=None, scale=None):
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    scores = q @ np.swapaxes(k, -1, -2) * scale
    if causal:
        scores = np.where(np.tril(np.ones(scores.shape[-2:], dtype=bool)), scores, -np.inf)
    if mask is not None:
        scores = np.where(mask, scores, -np.inf) if mask.dtype == np.bool_ else scores + mask
    scores = scores - scores.max(-1, keepdims=True)
    weights = np.exp(scores)
    weights /= weights.sum(-1, keepdims=True)
    return weights @ v


def attention_backward_reference(q, k, v, grad_out, causal=False, mask=None, scale=None):
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    scores = q @ np.swapaxes(k, -1, -2) * scale
    if causal:
        scores = np.where(np.tril(np.ones(scores.shape[-2:], dtype=bool)), scores, -np.inf)
    if mask is not None:
        scores = np.where(mask, scores, -np.inf) if mask.dtype == np.bool_ else scores + mask
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    grad_v = np.swapaxes(weights, -1, -2) @ grad_out
    grad_weights = grad_out @ np.swapaxes(v, -1, -2)
    grad_scores = weights * (grad_weights - (grad_weights * weights).sum(-1, keepdims=True))
    return grad_scores @ k * scale, np.swapaxes(grad_scores, -1, -2) @ q * scale, grad_v


@kernel(reorder_sums=True)
def attention_softmax_kernel(scores, scale, causal, mask, has_mask):
    """In place: scores (batch, T, S) -> softmax(scale * scores + mask) row by row.
    mask: (batch, T, S) additive (0 or -inf) when has_mask."""
    batch, rows, columns = scores.shape
    for b in range(batch):
        for t in range(rows):
            visible = min(t + 1, columns) if causal else columns
            for s in range(visible):
                scores[b, t, s] = scores[b, t, s] * scale + (mask[b, t, s] if has_mask else 0.0)
            # row_max keeps the scores' own dtype, so exp below runs in float32 for float32
            # scores (twice as fast) and in float64 for float64 ones
            row_max = scores[b, t, 0]
            for s in range(1, visible):
                row_max = max(row_max, scores[b, t, s])
            total = 0.0
            if row_max > -np.inf:   # a row that sees nothing gets all-zero weights, not NaN
                for s in range(visible):
                    e = math.exp(scores[b, t, s] - row_max)
                    scores[b, t, s] = e
                    total += e
            inverse = 1.0 / total if total > 0.0 else 0.0
            for s in range(visible):
                scores[b, t, s] = scores[b, t, s] * inverse if total > 0.0 else 0.0
            for s in range(visible, columns):
                scores[b, t, s] = 0.0


@kernel(reorder_sums=True)
def attention_softmax_backward_kernel(weights, grad_weights, scale):
    """In place: grad_weights (batch, T, S) -> dS * scale, with dS = P (dP - rowsum(dP P))."""
    batch, rows, columns = weights.shape
    for b in range(batch):
        for t in range(rows):
            dot = 0.0
            for s in range(columns):
                dot += grad_weights[b, t, s] * weights[b, t, s]
            for s in range(columns):
                grad_weights[b, t, s] = weights[b, t, s] * (grad_weights[b, t, s] - dot) * scale


class ScaledDotProductAttention(Particle):
    name = "scaled_dot_product_attention"
    formula = "O = softmax(Q K^T / sqrt(d) + mask) V"
    gradient = "dV = P^T dO; dS = P (dP - rowsum(dP P)) with dP = dO V^T; dQ = dS K / sqrt(d); dK = dS^T Q / sqrt(d)"
    kernels = (attention_softmax_kernel, attention_softmax_backward_kernel)

    @classmethod
    def forward(cls, ctx, q, k, v, causal=False, mask=None, scale=None):
        cls.require_float(q, k, v)
        if q.ndim < 2 or k.ndim != q.ndim or v.ndim != q.ndim:
            cls.fail(f"q, k, v must be (..., length, dim) with the same number of dims, "
                     f"got {describe(q)}, {describe(k)}, {describe(v)}")
        if q.shape[:-2] != k.shape[:-2] or k.shape[:-2] != v.shape[:-2]:
            cls.fail(f"q {describe(q)}, k {describe(k)} and v {describe(v)} must share their leading (batch, head) dims")
        if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
            cls.fail(f"q and k need the same vector size and k and v the same length: "
                     f"got q {describe(q)}, k {describe(k)}, v {describe(v)}")
        if len({q.dtype, k.dtype, v.dtype}) > 1:
            cls.fail(f"q, k, v must share a dtype: {describe(q)}, {describe(k)}, {describe(v)}", TypeError)
        backend = ctx.backend
        length, keys = q.shape[-2], k.shape[-2]
        q3, k3, v3 = (backend.reshape(backend.contiguous(t), (-1,) + t.shape[-2:]) for t in (q, k, v))
        additive = cls.additive_mask(backend, mask, q.shape[:-2] + (length, keys), q.dtype)
        scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
        weights = backend.matmul(q3, backend.permute(k3, (0, 2, 1)))
        ctx.run(attention_softmax_kernel, weights, scale, bool(causal),
                additive if additive is not None else backend.empty((1, 1, 1), q.dtype), additive is not None)
        out = backend.matmul(weights, v3)
        ctx.save(q3, k3, v3, weights)
        ctx.scale, ctx.shapes = scale, (q.shape, k.shape, v.shape)
        ctx.weights_shape = q.shape[:-2] + (length, keys)
        return backend.reshape(out, q.shape[:-1] + (v.shape[-1],))

    @classmethod
    def additive_mask(cls, backend, mask, shape, dtype):
        """A boolean mask (True = may attend, as in PyTorch) or an additive float mask -> additive, full shape."""
        if mask is None:
            return None
        try:
            full = np.broadcast_to(mask, shape)
        except ValueError:
            cls.fail(f"mask {describe(mask)} does not broadcast to the scores' shape {shape}")
        if mask.dtype == np.bool_:
            full = np.where(full, 0.0, -np.inf)
        elif mask.dtype.kind != "f":
            cls.fail(f"mask must be bool (True = attend) or float (added to the scores), got {describe(mask)}",
                     TypeError)
        return backend.reshape(backend.asarray(full, dtype), (-1,) + shape[-2:])

    @staticmethod
    def backward(ctx, grad_out):
        q3, k3, v3, weights = ctx.saved
        backend = ctx.backend
        shape_q, shape_k, shape_v = ctx.shapes
        grad = backend.reshape(backend.contiguous(backend.astype(grad_out, q3.dtype)), q3.shape[:2] + (v3.shape[2],))
        grad_v = backend.matmul(backend.permute(weights, (0, 2, 1)), grad)
        grad_scores = backend.matmul(grad, backend.permute(v3, (0, 2, 1)))
        ctx.run(attention_softmax_backward_kernel, weights, grad_scores, ctx.scale)
        grad_q = backend.matmul(grad_scores, k3)
        grad_k = backend.matmul(backend.permute(grad_scores, (0, 2, 1)), q3)
        return (backend.reshape(grad_q, shape_q), backend.reshape(grad_k, shape_k), backend.reshape(grad_v, shape_v))

    reference = staticmethod(attention_reference)
    reference_backward = staticmethod(attention_backward_reference)
