"""TextClassifier: token ids -> one class per text, by a recurrent network or a transformer encoder.

    kind "lstm" | "gru" | "rnn"   (the NLP article's model)
        ids (B, T) -> Embedding (B, T, E) -> 2-layer LSTM (GRU, RNN) -> its state at each text's
        last real step (B, H) -> Linear -> logits (B, classes)
    kind "bag"   (the baseline: logistic regression on how often each token occurs)
        ids -> each token's share of the text's real tokens (B, vocab) -> Linear -> logits
    kind "transformer"
        ids -> TransformerEncoder (encoder.py: token + position embeddings -> transformer blocks
        with no causal mask, padding masked out as a key -> LayerNorm) -> the mean over the real
        positions (or the <cls> state) -> Linear -> logits. Its `encoder` is what a masked language
        model pretrains (`minisora finetune --from` loads it by name; only the head starts fresh).

An LSTM starts with its forget gates open (forget_bias: b_f = 1, so f = sigmoid(1) = 0.73 rather
than 0.5, nn.forget_gate_bias_): gradients then reach early steps, and long memories are learned.

Texts of different lengths come padded (id 0) with their `lengths`: the recurrent layers step
each text only over its real tokens (nn.LSTM's lengths, which wants them longest first: the
batch is put in that order and the logits back in the caller's), so the padding changes nothing.
"""
import numpy as np

from .. import errors
from .. import nn
from ..creation import tensor
from .encoder import TransformerEncoder, checked_lengths

RECURRENT = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}
KINDS = tuple(RECURRENT) + ("transformer", "bag")


class TextClassifier(nn.Module):
    def __init__(self, vocab_size, classes, kind="lstm", embedding_dim=64, hidden_size=128, num_layers=2,
                 dropout=0.0, heads=4, max_length=512, forget_bias=1.0, positions="learned", pooling="mean",
                 cls_id=None):
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
        if kind == "transformer":
            self.config.update(positions=positions, pooling=pooling, cls_id=None if cls_id is None else int(cls_id))
        if kind == "bag":
            self.head = nn.Linear(vocab_size, classes)
            return
        if kind == "transformer":
            self.encoder = TransformerEncoder(vocab_size, max_length + (pooling == "cls"), embedding_dim, heads,
                                              num_layers, dropout, positions, pooling, cls_id)
            self.head = nn.Linear(embedding_dim, classes)
        else:
            self.embedding = nn.Embedding(vocab_size, embedding_dim)
            self.recurrent = RECURRENT[kind](embedding_dim, hidden_size, num_layers=num_layers, batch_first=True,
                                             dropout=dropout if num_layers > 1 else 0.0)
            if kind == "lstm":
                nn.forget_gate_bias_(self.recurrent, forget_bias)
            self.head = nn.Linear(hidden_size, classes)

    def forward(self, ids, lengths=None):
        """ids (B, T) int64 (0 pads), lengths (B,) the real tokens of each (all T if None) -> logits (B, classes)."""
        lengths = checked_lengths(ids, lengths, "TextClassifier")
        if self.config["kind"] == "bag":
            return self.head(self.token_shares(ids, lengths))
        if self.config["kind"] == "transformer":
            if ids.shape[1] > self.config["max_length"]:
                raise errors.ValueError(f"TextClassifier: {ids.shape[1]} tokens exceed "
                                        f"max_length={self.config['max_length']}")
            hidden = self.encoder(ids, lengths)
            return self.head(self.encoder.pooled(hidden, lengths))
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

    def upgrade_state_dict(self, state_dict, prefix):
        """Before the encoder had a module of its own (issue 27), a transformer classifier kept its
        embeddings, blocks and norm at the top level: those names now live under `encoder.`."""
        if self.config["kind"] != "transformer":
            return state_dict
        moved = {"embedding.": "encoder.token_embedding.", "position_embedding.": "encoder.position_embedding.",
                 "blocks.": "encoder.blocks.", "norm.": "encoder.norm."}
        renamed = {}
        for name, value in state_dict.items():
            local = name[len(prefix):] if name.startswith(prefix) else None
            old = next((o for o in moved if local is not None and local.startswith(o)), None)
            renamed[prefix + moved[old] + local[len(old):] if old else name] = value
        return renamed


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
