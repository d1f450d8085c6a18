"""Multi-head self-attention: `heads` attentions side by side, each on its own slice of the features.

    q, k, v = x Wq, x Wk, x Wv                      (B, T, d) each, then split into heads:
    q_h, k_h, v_h                                   (B, heads, T, d / heads)
    o_h = softmax(q_h k_h^T / sqrt(d / heads) + mask) v_h
    y = concat_h(o_h) Wo

The three projections are one Linear, `qkv`, with Wq, Wk, Wv stacked in its weight (3d, d):
one product x [Wq; Wk; Wv]^T, whose (B, T, 3d) result the fused particle multi_head_attention
splits into heads, attends and merges again. One big product runs faster than three small ones,
and backward then gets dx in one product instead of three products and two sums.
"""
import numpy as np

from .. import errors, functional as F
from .linear import Linear
from .module import Module


class MultiHeadAttention(Module):
    def __init__(self, d_model, heads, causal=False, bias=True, dropout=0.0):
        super().__init__()
        if d_model % heads:
            raise errors.ValueError(f"MultiHeadAttention: d_model {d_model} must be divisible by heads {heads}")
        self.d_model, self.heads, self.causal, self.dropout = int(d_model), int(heads), bool(causal), float(dropout)
        self.qkv = Linear(d_model, 3 * d_model, bias=bias)   # rows: Wq, then Wk, then Wv
        self.out = Linear(d_model, d_model, bias=bias)
        self.weights = None   # the last call's attention weights (B, heads, T, T), when keep_weights is set
        self.keep_weights = False

    def forward(self, x, need_weights=False, key_padding_mask=None):
        """key_padding_mask (batch, length) bool, True at padding (as PyTorch's): no position
        attends to those keys."""
        if x.ndim != 3 or x.shape[-1] != self.d_model:
            raise errors.ValueError(f"MultiHeadAttention(d_model={self.d_model}): input must be (batch, length, "
                                    f"{self.d_model}), got shape {x.shape}")
        batch, length, _ = x.shape
        mask = None
        if key_padding_mask is not None:
            padding = np.asarray(key_padding_mask.numpy() if hasattr(key_padding_mask, "numpy") else key_padding_mask)
            if padding.shape != (batch, length) or padding.dtype != np.bool_:
                raise errors.ValueError(f"MultiHeadAttention: key_padding_mask must be bool ({batch}, {length}), "
                                        f"got {padding.dtype}{list(padding.shape)}")
            mask = ~padding[:, None, None, :]   # (B, 1, 1, T): True where a key may be attended to
        qkv = self.qkv(x)
        if need_weights or self.keep_weights or mask is not None:
            # the steps one by one, to hand out the weights: (B, T, 3d) seen as 3 x heads heads of
            # (T, d / heads), cut into the query, key and value heads (views: no copy is made)
            heads = qkv.reshape(batch, length, 3 * self.heads, self.d_model // self.heads).permute(0, 2, 1, 3)
            q, k, v = heads.split(self.heads, dim=1)
            out, weights = F.scaled_dot_product_attention(q, k, v, causal=self.causal, attn_mask=mask, need_weights=True)
            out = out.permute(0, 2, 1, 3).reshape(batch, length, self.d_model)
        else:   # the same steps fused: no head is copied either way (the GPU never forms the weights)
            out, weights = F.multi_head_attention(qkv, self.heads, causal=self.causal), None
        if self.keep_weights:
            self.weights = weights
        y = self.out(out)
        y = F.dropout(y, self.dropout, self.training)
        return (y, weights) if need_weights else y

    def upgrade_state_dict(self, state_dict, prefix):
        """Checkpoints saved before the projections were packed hold query., key., value.
        (each (d, d)): stacked here into qkv. (3d, d), in that order."""
        for kind in ("weight", "bias"):
            old = [f"{prefix}{name}.{kind}" for name in ("query", "key", "value")]
            if all(name in state_dict for name in old) and f"{prefix}qkv.{kind}" not in state_dict:
                parts = [state_dict.pop(name) for name in old]
                state_dict[f"{prefix}qkv.{kind}"] = np.concatenate(
                    [part.numpy() if hasattr(part, "numpy") else np.asarray(part) for part in parts])
        return state_dict

    def extra_repr(self):
        return f"d_model={self.d_model}, heads={self.heads}, causal={self.causal}"
