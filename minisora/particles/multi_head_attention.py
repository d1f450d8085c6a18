"""Multi-head attention on a packed projection, fused: split into heads, attend, merge the heads.

With qkv (B, T, 3 D) the packed projection [x Wq | x Wk | x Wv] and D = heads * d:
    q_h, k_h, v_h = features h d .. (h + 1) d - 1 of the first, second and third D   (split_heads)
    o_h = softmax(q_h k_h^T / sqrt(d) + causal mask) v_h                              (attention)
    y   = [o_1 | o_2 | ... | o_heads]      (B, T, D)                                  (merge_heads)
Backward: d qkv = [dq_1 .. dq_heads | dk_1 .. dk_heads | dv_1 .. dv_heads], each from attention's
backward (see attention.py), laid out in qkv's order.

The same numbers as reshape, permute, split, scaled_dot_product_attention, permute and reshape
one after another. The fusion is about memory only: it writes each head's output straight into
its place in y (B, T, heads, d), and dq, dk, dv straight into their places in d qkv, where the
unfused steps would copy the heads together again twice, once each way.
"""
import numpy as np

from .attention import ScaledDotProductAttention, attention_backward_reference, attention_reference
from .particle import Particle, describe


def split_heads_reference(qkv, heads):
    """(B, T, 3 D) -> q, k, v, each (B, heads, T, d)."""
    batch, length, width = qkv.shape
    parts = qkv.reshape(batch, length, 3, heads, width // (3 * heads)).transpose(2, 0, 3, 1, 4)
    return parts[0], parts[1], parts[2]


def merge_heads_reference(x):
    """(B, heads, T, d) -> (B, T, heads d)."""
    batch, heads, length, d = x.shape
    return x.transpose(0, 2, 1, 3).reshape(batch, length, heads * d)


def multi_head_attention_reference(qkv, heads, causal=False):
    return merge_heads_reference(attention_reference(*split_heads_reference(qkv, heads), causal=causal))


def multi_head_attention_backward_reference(qkv, grad_y, heads, causal=False):
    batch, length, width = qkv.shape
    grad_out = grad_y.reshape(batch, length, heads, -1).transpose(0, 2, 1, 3)
    grads = attention_backward_reference(*split_heads_reference(qkv, heads), grad_out, causal=causal)
    return (np.concatenate([merge_heads_reference(g) for g in grads], axis=-1),)


class MultiHeadAttention(Particle):
    name = "multi_head_attention"
    formula = "y = merge_heads(softmax(q_h k_h^T / sqrt(d) + mask) v_h), q_h, k_h, v_h = split_heads(qkv)"
    gradient = "d qkv = [dq | dk | dv] from attention's backward per head, split as qkv was"
    kernels = ScaledDotProductAttention.kernels

    @classmethod
    def forward(cls, ctx, qkv, heads=1, causal=False):
        cls.require_float(qkv)
        if qkv.ndim != 3 or heads < 1 or qkv.shape[-1] % (3 * heads):
            cls.fail(f"qkv must be (batch, length, 3 * heads * head_size) with heads={heads}, got {describe(qkv)}")
        backend = ctx.backend
        batch, length, width = qkv.shape
        d = width // (3 * heads)
        parts = backend.reshape(backend.contiguous(qkv), (batch, length, 3, heads, d))
        q, k, v = (backend.permute(parts[:, :, i], (0, 2, 1, 3)) for i in range(3))   # views (B, heads, T, d)
        y = backend.empty((batch, length, heads, d), qkv.dtype)
        ScaledDotProductAttention.attend(ctx, q, k, v, backend.permute(y, (0, 2, 1, 3)), causal=causal)
        ctx.heads_shape = (batch, length, heads, d)
        return backend.reshape(y, (batch, length, heads * d))

    @staticmethod
    def backward(ctx, grad_y):
        backend = ctx.backend
        batch, length, heads, d = ctx.heads_shape
        grad_y = backend.reshape(backend.contiguous(grad_y), ctx.heads_shape)
        grad_qkv = backend.empty((batch, length, 3, heads, d), ctx.saved[0].dtype)
        grads = (backend.permute(grad_qkv[:, :, i], (0, 2, 1, 3)) for i in range(3))
        ScaledDotProductAttention.attend_backward(ctx, backend.permute(grad_y, (0, 2, 1, 3)), *grads)
        return (backend.reshape(grad_qkv, (batch, length, 3 * heads * d)),)

    reference = staticmethod(multi_head_attention_reference)
    reference_backward = staticmethod(multi_head_attention_backward_reference)
