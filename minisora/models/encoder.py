"""A bidirectional transformer encoder (BERT's shape, Devlin et al. 2019) and its masked-language-model head.

    TransformerEncoder
        ids (B, T), lengths (B,) -> token embedding + positions (learned, or the fixed sinusoids)
                                 -> N transformer blocks, no causal mask (each position sees the
                                    whole text; padding is masked out as a key)
                                 -> final LayerNorm                        -> hidden states (B, T, d)
        pooled(hidden, lengths)  -> the mean over each text's real positions, or (pooling "cls")
                                    the state of the <cls> token put in front of every text (B, d)

    MaskedLanguageModel   pretraining: predict the hidden tokens from both sides
        hidden -> Linear(d, d) -> GELU -> LayerNorm -> h
        logits = h E^T + b          (E the encoder's token embedding: the output layer is tied to
                                     the input one, so a token's vector is learned from both ends)
        loss   = cross_entropy(logits, labels, ignore_index=-100)   (only the chosen positions count)

After pretraining, the encoder alone goes into a classifier (TextClassifier kind "transformer"
holds one under the same name, `encoder`), and only its head starts from scratch.
"""
import numpy as np

from .. import errors, functional as F
from .. import nn
from ..creation import arange, tensor

IGNORE_INDEX = -100   # the label of every position the MLM does not score (data.mask_tokens gives them)


class TransformerEncoder(nn.Module):
    def __init__(self, vocab_size, max_length, d_model=128, heads=4, layers=4, dropout=0.0, positions="learned",
                 pooling="mean", cls_id=None):
        super().__init__()
        if min(vocab_size, max_length, d_model, heads, layers) < 1:
            raise errors.ValueError(f"TransformerEncoder: sizes must be positive, got vocab_size={vocab_size}, "
                                    f"max_length={max_length}, d_model={d_model}, heads={heads}, layers={layers}")
        if positions not in ("learned", "sinusoidal"):
            raise errors.ValueError(f"TransformerEncoder: positions must be 'learned' or 'sinusoidal', got {positions!r}")
        if pooling not in ("mean", "cls"):
            raise errors.ValueError(f"TransformerEncoder: pooling must be 'mean' or 'cls', got {pooling!r}")
        if pooling == "cls" and cls_id is None:
            raise errors.ValueError("TransformerEncoder: pooling 'cls' needs the tokenizer's <cls> id (cls_id)")
        self.config = {"vocab_size": int(vocab_size), "max_length": int(max_length), "d_model": int(d_model),
                       "heads": int(heads), "layers": int(layers), "dropout": float(dropout), "positions": positions,
                       "pooling": pooling, "cls_id": None if cls_id is None else int(cls_id)}
        # Embedding vectors of length about 1 (std d^-1/2, where nn.Embedding draws std 1): the MLM
        # head's logits are h . e for a LayerNorm'd h of length about sqrt(d), so they start near
        # +-1 instead of +-d, and the first loss is about ln(vocab), not ten times it.
        self.token_embedding = nn.Embedding(vocab_size, d_model)
        nn.init.normal_(self.token_embedding.weight, std=d_model ** -0.5)
        if positions == "learned":
            self.position_embedding = nn.Embedding(max_length, d_model)
            nn.init.normal_(self.position_embedding.weight, std=d_model ** -0.5)
        else:
            self.position_encoding = nn.PositionalEncoding(d_model, max_length)
        self.blocks = nn.Sequential(*(nn.TransformerBlock(d_model, heads, causal=False, dropout=dropout)
                                      for _ in range(layers)))
        self.norm = nn.LayerNorm(d_model)

    def forward(self, ids, lengths=None):
        """ids (B, T) int64 (0 pads), lengths (B,) of real tokens (all T if None) -> hidden states (B, T, d).
        With pooling "cls", <cls> is put in front of each text first: T + 1 states, the first its own."""
        ids, lengths = self.with_cls(ids, checked_lengths(ids, lengths))
        batch, length = ids.shape
        if length > self.config["max_length"]:
            raise errors.ValueError(f"TransformerEncoder: {length} tokens exceed max_length={self.config['max_length']}")
        x = self.token_embedding(ids)
        if self.config["positions"] == "learned":
            x = x + self.position_embedding(arange(length, device=ids.device))
        else:
            x = self.position_encoding(x)
        x = F.dropout(x, self.config["dropout"], self.training)
        real = np.arange(length)[None, :] < lengths[:, None]   # (B, T)
        for block in self.blocks:
            x = block(x, key_padding_mask=None if real.all() else ~real)
        return self.norm(x)

    def with_cls(self, ids, lengths):
        if self.config["pooling"] != "cls":
            return ids, lengths
        front = tensor(np.full((ids.shape[0], 1), self.config["cls_id"]), device=ids.device)
        return F.cat([front, ids], dim=1), lengths + 1

    def pooled(self, hidden, lengths=None):
        """(B, d): one vector per text, from the hidden states forward returned."""
        if self.config["pooling"] == "cls":
            return hidden[:, 0]
        batch, length = hidden.shape[:2]
        lengths = np.full(batch, length) if lengths is None else np.asarray(lengths)
        weights = (np.arange(length)[None, :] < lengths[:, None]) / lengths[:, None]
        return (hidden * tensor(weights[..., None], dtype=hidden.dtype, device=hidden.device)).sum(1)


def checked_lengths(ids, lengths, who="TransformerEncoder"):
    """lengths as a NumPy array of ints in [1, T] (all T if None), after checking ids is (B, T) of
    ints; an error names `who` was given them."""
    if ids.ndim != 2 or ids.dtype.kind not in "iu":
        raise errors.TypeError(f"{who}: ids must be integer token ids (batch, length), got "
                               f"{ids.dtype}{list(ids.shape)}")
    batch, length = ids.shape
    lengths = np.full(batch, length) if lengths is None else np.asarray(
        lengths.numpy() if hasattr(lengths, "numpy") else lengths)
    if lengths.shape != (batch,) or lengths.dtype.kind not in "iu" or (batch and (
            lengths.min() < 1 or lengths.max() > length)):
        raise errors.ValueError(f"{who}: lengths must be {batch} integers from 1 to {length}, got "
                                f"{lengths.dtype}{list(lengths.shape)}")
    return lengths


class MaskedLanguageModel(nn.Module):
    def __init__(self, encoder):
        super().__init__()
        d_model = encoder.config["d_model"]
        self.encoder = encoder
        self.transform = nn.Linear(d_model, d_model)
        self.transform_norm = nn.LayerNorm(d_model)
        self.decoder_bias = nn.Parameter(np.zeros(encoder.config["vocab_size"], dtype=np.float32))

    def forward(self, ids, lengths=None):
        """ids (B, T) -> logits (B, T, vocab) for the token at every position (the <cls> state dropped)."""
        hidden = self.encoder(ids, lengths)
        if self.encoder.config["pooling"] == "cls":
            hidden = hidden[:, 1:]
        h = self.transform_norm(F.gelu(self.transform(hidden)))
        return F.linear(h, self.encoder.token_embedding.weight, self.decoder_bias)   # tied: E^T

    def loss(self, ids, labels, lengths=None):
        """Mean cross-entropy over the positions whose label is not IGNORE_INDEX (the chosen ones)."""
        logits = self(ids, lengths)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=IGNORE_INDEX)
