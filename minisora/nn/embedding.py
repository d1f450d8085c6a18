"""Embedding tables and positional encodings: how ids and positions become vectors."""
from .. import errors, functional as F
from ..creation import zeros
from . import init
from .module import Module, Parameter


class Embedding(Module):
    """A learned table (num_embeddings, dim): id i -> row i. Starts as N(0, 1), as in PyTorch."""

    def __init__(self, num_embeddings, embedding_dim, dtype="float32"):
        super().__init__()
        if num_embeddings < 1 or embedding_dim < 1:
            raise errors.ValueError(f"Embedding: sizes must be positive, got {num_embeddings}, {embedding_dim}")
        self.num_embeddings, self.embedding_dim = int(num_embeddings), int(embedding_dim)
        self.weight = Parameter(zeros(num_embeddings, embedding_dim, dtype=dtype))
        init.normal_(self.weight)

    def forward(self, ids):
        return F.embedding(ids, self.weight)

    def extra_repr(self):
        return f"{self.num_embeddings}, {self.embedding_dim}"


class PositionalEncoding(Module):
    """x + PE with the fixed sinusoidal table PE(t, 2i) = sin(t / 10000^(2i/d)), PE(t, 2i+1) = cos(...).

    Nothing is learned; for learned positions use an Embedding of the positions 0..T-1 (as GPT does).
    """

    def __init__(self, d_model, max_len=5000):
        super().__init__()
        self.d_model, self.max_len = int(d_model), int(max_len)

    def forward(self, x):
        if x.shape[-1] != self.d_model or x.shape[-2] > self.max_len:
            raise errors.ValueError(f"PositionalEncoding(d_model={self.d_model}, max_len={self.max_len}): "
                                    f"input of shape {x.shape} must be (..., length <= {self.max_len}, {self.d_model})")
        return F.positional_encoding(x)

    def extra_repr(self):
        return f"d_model={self.d_model}, max_len={self.max_len}"
