"""The transformer block (pre-LayerNorm, as in GPT-2): attention, then a feed-forward net,
each added back onto its input (residual connections keep a straight path for the gradient).

    x = x + Attention(LayerNorm(x))
    x = x + FeedForward(LayerNorm(x))           FeedForward(x) = Linear(GELU(Linear(x)))
"""
from .. import functional as F
from .activation import GELU
from .attention import MultiHeadAttention
from .linear import Linear
from .module import Module
from .normalization import LayerNorm


class FeedForward(Module):
    """d -> hidden -> d with GELU between (GPT-2's tanh form; hidden = 4 d by default)."""

    def __init__(self, d_model, hidden=None, dropout=0.0):
        super().__init__()
        hidden = 4 * d_model if hidden is None else hidden
        self.up, self.act, self.down = Linear(d_model, hidden), GELU(approximate="tanh"), Linear(hidden, d_model)
        self.dropout = float(dropout)

    def forward(self, x):
        return F.dropout(self.down(self.act(self.up(x))), self.dropout, self.training)


class TransformerBlock(Module):
    def __init__(self, d_model, heads, causal=True, hidden=None, dropout=0.0):
        super().__init__()
        self.norm1 = LayerNorm(d_model)
        self.attention = MultiHeadAttention(d_model, heads, causal=causal, dropout=dropout)
        self.norm2 = LayerNorm(d_model)
        self.feed_forward = FeedForward(d_model, hidden, dropout)

    def forward(self, x, key_padding_mask=None):
        x = x + self.attention(self.norm1(x), key_padding_mask=key_padding_mask)
        return x + self.feed_forward(self.norm2(x))
