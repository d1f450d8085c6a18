"""TextClassifier: token ids -> one class per text, by a recurrent network or a transformer encoder.

    kind "lstm" | "gru" | "rnn"   (the NLP article's model)
        ids (B, T) -> Embedding (B, T, E) -> 2-layer LSTM (GRU, RNN) -> its state at each text's
        last real step (B, H) -> Linear -> logits (B, classes)
    kind "bag"   (the baseline: logistic regression on how often each token occurs)
        ids -> each token's share of the text's real tokens (B, vocab) -> Linear -> logits
    kind "transformer"
        ids -> token + learned position embeddings -> transformer blocks with no causal mask (each
        position sees the whole text; padding is masked out as a key) -> LayerNorm -> the mean
        over the real positions -> Linear -> logits

An LSTM starts with its forget gates open (forget_bias: b_f = 1, so f = sigmoid(1) = 0.73 rather
than 0.5, nn.forget_gate_bias_): gradients then reach early steps, and long memories are learned.

Texts of different lengths come padded (id 0) with their `lengths`: the recurrent layers step
each text only over its real tokens (nn.LSTM's lengths, which wants them longest first: the
batch is put in that order and the logits back in the caller's), so the padding changes nothing.
"""
import numpy as np

from .. import errors, functional as F
from .. import nn
from ..creation import arange, tensor

RECURRENT = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}
KINDS = tuple(RECURRENT) + ("transformer", "bag")


class TextClassifier(nn.Module):
    def __init__(self, vocab_size, classes, kind="lstm", embedding_dim=64, hidden_size=128, num_layers=2,
                 dropout=0.0, heads=4, max_length=512, forget_bias=1.0):
        super().__init__()
        if kind not in KINDS:
            raise errors.ValueError(f"TextClassifier: kind must be one of {', '.join(KINDS)}, got {kind!r}")
        if min(vocab_size, classes, embedding_dim, hidden_size, num_layers) < 1:
            raise errors.ValueError(f"TextClassifier: sizes must be positive, got vocab_size={vocab_size}, "
                                    f"classes={classes}, embedding_dim={embedding_dim}, hidden_size={hidden_size}, "
                                    f"num_layers={num_layers}")
        self.config = {"vocab_size": int(vocab_size), "classes": int(classes), "kind": kind,
                       "embedding_dim": int(embedding_dim), "hidden_size": int(hidden_size),
                       "num_layers": int(num_layers), "dropout": float(dropout), "heads": int(heads),
                       "max_length": int(max_length), "forget_bias": float(forget_bias)}
        if kind == "bag":
            self.head = nn.Linear(vocab_size, classes)
            return
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        if kind == "transformer":
            self.position_embedding = nn.Embedding(max_length, embedding_dim)
            self.blocks = nn.Sequential(*(nn.TransformerBlock(embedding_dim, heads, causal=False, dropout=dropout)
                                          for _ in range(num_layers)))
            self.norm = nn.LayerNorm(embedding_dim)
            self.head = nn.Linear(embedding_dim, classes)
        else:
            self.recurrent = RECURRENT[kind](embedding_dim, hidden_size, num_layers=num_layers, batch_first=True,
                                             dropout=dropout if num_layers > 1 else 0.0)
            if kind == "lstm":
                nn.forget_gate_bias_(self.recurrent, forget_bias)
            self.head = nn.Linear(hidden_size, classes)

    def forward(self, ids, lengths=None):
        """ids (B, T) int64 (0 pads), lengths (B,) the real tokens of each (all T if None) -> logits (B, classes)."""
        if ids.ndim != 2 or ids.dtype.kind not in "iu":
            raise errors.TypeError(f"TextClassifier: ids must be integer token ids (batch, length), got "
                                   f"{ids.dtype}{list(ids.shape)}")
        batch, length = ids.shape
        lengths = np.full(batch, length) if lengths is None else np.asarray(
            lengths.numpy() if hasattr(lengths, "numpy") else lengths)
        if lengths.shape != (batch,) or lengths.dtype.kind not in "iu" or (batch and (
                lengths.min() < 1 or lengths.max() > length)):
            raise errors.ValueError(f"TextClassifier: lengths must be {batch} integers from 1 to {length}, got "
                                    f"{lengths.dtype}{list(lengths.shape)}")
        if self.config["kind"] == "bag":
            return self.head(self.token_shares(ids, lengths))
        if self.config["kind"] == "transformer":
            return self.encode_all_at_once(ids, lengths)
        order = np.argsort(-lengths, kind="stable")   # longest first, as nn.LSTM's lengths want
        inverse = np.argsort(order)
        x = self.embedding(ids[tensor(order)])
        _, final = self.recurrent(x, lengths=lengths[order])
        h = final[0] if self.config["kind"] == "lstm" else final
        return self.head(h[-1])[tensor(inverse)]

    def token_shares(self, ids, lengths):
        """(B, vocab): how often each token occurs in each text's real tokens, over its length."""
        host, vocabulary = ids.numpy(), self.config["vocab_size"]
        if host.size and (host.min() < 0 or host.max() >= vocabulary):
            raise errors.IndexError(f"TextClassifier: token id {int(host.max())} is out of range [0, {vocabulary})")
        counts = np.zeros((len(host), vocabulary))
        real = np.arange(host.shape[1])[None, :] < lengths[:, None]
        np.add.at(counts, (np.nonzero(real)[0], host[real]), 1.0)
        return tensor(counts / lengths[:, None], dtype=self.head.weight.dtype, device=ids.device)

    def encode_all_at_once(self, ids, lengths):
        batch, length = ids.shape
        if length > self.config["max_length"]:
            raise errors.ValueError(f"TextClassifier: {length} tokens exceed max_length={self.config['max_length']}")
        real = np.arange(length)[None, :] < lengths[:, None]   # (B, T)
        x = self.embedding(ids) + self.position_embedding(arange(length, device=ids.device))
        x = F.dropout(x, self.config["dropout"], self.training)
        for block in self.blocks:
            x = block(x, key_padding_mask=None if real.all() else ~real)
        weights = tensor((real / lengths[:, None])[..., None], dtype=x.dtype, device=x.device)
        return self.head((self.norm(x) * weights).sum(1))


class SequenceRegressor(nn.Module):
    """Sequences of numbers -> one number each (the adding problem): (B, T, input_size) -> a
    recurrent network -> its state after the last step -> Linear -> (B,)."""

    def __init__(self, input_size, kind="lstm", hidden_size=128, num_layers=1, forget_bias=1.0):
        super().__init__()
        if kind not in RECURRENT:
            raise errors.ValueError(f"SequenceRegressor: kind must be one of {', '.join(RECURRENT)}, got {kind!r}")
        self.config = {"input_size": int(input_size), "kind": kind, "hidden_size": int(hidden_size),
                       "num_layers": int(num_layers), "forget_bias": float(forget_bias)}
        self.recurrent = RECURRENT[kind](input_size, hidden_size, num_layers=num_layers, batch_first=True)
        if kind == "lstm":
            nn.forget_gate_bias_(self.recurrent, forget_bias)
        self.head = nn.Linear(hidden_size, 1)

    def forward(self, x):
        _, final = self.recurrent(x)
        h = final[0] if self.config["kind"] == "lstm" else final
        return self.head(h[-1]).reshape(-1)
