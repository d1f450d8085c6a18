"""GPT: a decoder-only transformer that predicts the next token (Radford et al. 2018, 2019).

    ids (B, T) -> token embedding + position embedding      (B, T, d)
               -> N transformer blocks (causal attention)
               -> final LayerNorm -> Linear head             (B, T, vocab) logits for the next token

Trained with cross-entropy between the logits at position t and the token at t + 1.
`generate` samples one token at a time, feeding each back in.
"""
import numpy as np

from .. import errors, functional as F
from .. import nn
from .. import random as ms_random
from ..autograd import no_grad
from ..creation import arange, tensor


class GPT(nn.Module):
    def __init__(self, vocab_size, context, d_model=128, heads=4, layers=4, dropout=0.0):
        super().__init__()
        if min(vocab_size, context, d_model, heads, layers) < 1:
            raise errors.ValueError(f"GPT: sizes must be positive, got vocab_size={vocab_size}, context={context}, "
                                    f"d_model={d_model}, heads={heads}, layers={layers}")
        self.config = {"vocab_size": int(vocab_size), "context": int(context), "d_model": int(d_model),
                       "heads": int(heads), "layers": int(layers), "dropout": float(dropout)}
        self.token_embedding = nn.Embedding(vocab_size, d_model)
        self.position_embedding = nn.Embedding(context, d_model)
        self.blocks = nn.Sequential(*(nn.TransformerBlock(d_model, heads, causal=True, dropout=dropout)
                                      for _ in range(layers)))
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size, bias=False)
        self.dropout = float(dropout)

    def forward(self, ids):
        """ids (B, T) int64 with T <= context -> logits (B, T, vocab_size)."""
        if ids.ndim != 2 or ids.shape[1] > self.config["context"]:
            raise errors.ValueError(f"GPT: ids must be (batch, length <= {self.config['context']}), got shape {ids.shape}")
        positions = arange(ids.shape[1], device=ids.device)
        x = self.token_embedding(ids) + self.position_embedding(positions)
        x = F.dropout(x, self.dropout, self.training)
        return self.head(self.norm(self.blocks(x)))

    def loss(self, ids, targets):
        """Mean cross-entropy of predicting targets (B, T) from ids (B, T)."""
        logits = self(ids)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))

    def generate(self, ids, max_new_tokens, temperature=1.0, top_k=None):
        """Extend ids (B, T) by sampling max_new_tokens tokens, one at a time.

        temperature < 1 sharpens the distribution (towards the most likely token), > 1 flattens it;
        top_k keeps only the k most likely tokens. Samples come from minisora's seeded generator.
        """
        if not temperature > 0:
            raise errors.ValueError(f"generate: temperature must be > 0, got {temperature}")
        if top_k is not None and not 1 <= top_k:
            raise errors.ValueError(f"generate: top_k must be >= 1, got {top_k}")
        was_training = self.training
        self.eval()
        ids = np.array(ids.numpy() if hasattr(ids, "numpy") else ids, dtype=np.int64, ndmin=2)
        device = self.token_embedding.weight.device
        rng = ms_random.generator()
        with no_grad():
            for _ in range(max_new_tokens):
                window = tensor(ids[:, -self.config["context"]:], device=device)
                logits = self(window).numpy()[:, -1, :].astype(np.float64) / temperature
                if top_k is not None and top_k < logits.shape[-1]:
                    kth = np.sort(logits, axis=-1)[:, -top_k][:, None]
                    logits = np.where(logits < kth, -np.inf, logits)
                probabilities = np.exp(logits - logits.max(-1, keepdims=True))
                probabilities /= probabilities.sum(-1, keepdims=True)
                chosen = [rng.choice(len(p), p=p) for p in probabilities]
                ids = np.concatenate([ids, np.array(chosen, dtype=np.int64)[:, None]], axis=1)
        self.train(was_training)
        return tensor(ids)
