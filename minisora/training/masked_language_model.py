"""Pretraining a masked language model in a folder (`minisora train mlm`): self-supervised
learning, where the text is its own label.

    run = MaskedLanguageModelRun({"corpus": "pydoc", "steps": 3000}, out="runs/mlm-pydoc")
    run.fit()

Each step draws windows of the text, hides 15% of their tokens by BERT's rule
(data/masking.py) and trains a bidirectional encoder (models/encoder.py) to guess them. The loop,
files and resuming are the GPT's (language_model.py); the corpus, the batches and the model
differ. On "pydoc" the text is Python's help less the passages that the pydoc-topics
classification holds out (data.pydoc_pretraining_text), so fine-tuning is scored on text that
pretraining never read. An evaluation shows the model filling in a probe; `minisora fill` asks it
anything.

A model that knew only how often each token occurs would score the corpus's unigram entropy
(H = -sum_v p_v ln p_v, in nats) on every guess; the held-out MLM loss falling well below H is
the sign that the encoder reads the context.
"""
import numpy as np

from .. import errors
from ..autograd import no_grad
from ..creation import tensor
from ..data import MLM_SPECIALS, MaskedBatches, TextTokenizer, pydoc_pretraining_text, read_corpus
from ..models import MaskedLanguageModel, TransformerEncoder
from ..serialization import load
from .common import checkpoint_path
from .language_model import DEFAULTS as GPT_DEFAULTS, LanguageModelRun

DEFAULTS = {
    **GPT_DEFAULTS, "model": "mlm", "level": "char", "max_tokens": 20000, "window": 128, "context": 128,
    "dropout": 0.1, "positions": "learned", "pooling": "mean", "mask_probability": 0.15, "steps": 3000,
    "eval_every": 250,
}
MASK_MARKERS = ("[MASK]", "<mask>")   # how a prompt for `minisora fill` marks the tokens to guess
PROBES = {"char": "def f(x): ret[MASK]rn x", "word": "the [MASK] statement leaves a function"}


class MaskedLanguageModelRun(LanguageModelRun):
    kind, defaults = "mlm", DEFAULTS
    tokenizer_class, title = TextTokenizer, "masked language model"

    def corpus(self):
        """pydoc: the help text less the classification's held-out passages (for `window`)."""
        if self.config["corpus"] == "pydoc":
            return pydoc_pretraining_text(self.config["window"])
        return read_corpus(self.config["corpus"])

    def fit_tokenizer(self, text):
        return TextTokenizer.fit([text], self.config["level"], self.config["max_tokens"], specials=MLM_SPECIALS)

    def batches_of(self, ids, seed):
        c = self.config
        return MaskedBatches(ids, c["context"], c["batch_size"], self.tokenizer, seed, c["mask_probability"])

    def describe_data(self, train_ids, val_ids):
        self.unigram_entropy = unigram_entropy(train_ids, self.tokenizer.vocab_size)
        self.log(f"unigram entropy of the training text: {self.unigram_entropy:.4f} nats (the loss of guessing "
                 "from token counts alone)")

    def make_model(self):
        return build_model(self.config, self.tokenizer)

    def extra_metrics(self):
        return {"unigram_entropy": self.unigram_entropy}

    def sample_line(self):
        probe = PROBES[self.config["level"]]
        if len(masked_ids(self.tokenizer, probe)[0]) > self.config["context"]:
            return f"fill: the probe {probe!r} is longer than the context of {self.config['context']} tokens"
        guesses = fill(self.model, self.tokenizer, probe, top_k=1)
        return f"fill: {probe!r} -> {filled_text(self.tokenizer, probe, guesses)!r}"


def build_model(config, tokenizer):
    """The masked language model a run's configuration describes (its encoder reads `context`
    tokens, and a <cls> in front of them with pooling "cls")."""
    c = config
    encoder = TransformerEncoder(tokenizer.vocab_size, c["context"] + (c["pooling"] == "cls"), c["d_model"], c["heads"],
                                 c["layers"], c["dropout"], c["positions"], c["pooling"], tokenizer.cls_id)
    return MaskedLanguageModel(encoder)


def unigram_entropy(ids, vocab_size):
    """-sum_v p_v ln p_v over how often each token occurs in ids (nats)."""
    p = np.bincount(np.asarray(ids), minlength=vocab_size) / max(len(ids), 1)
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def masked_ids(tokenizer, text):
    """The ids of a prompt whose tokens to guess are marked [MASK] (or <mask>), and where they are."""
    if tokenizer.mask_id is None:
        raise errors.ValueError("fill: the tokenizer has no <mask> token: is this a masked language model's?")
    pieces = [text]
    for marker in MASK_MARKERS:
        pieces = [part for piece in pieces for part in ([None] if piece is None else interleave(piece.split(marker)))]
    ids = np.concatenate([[tokenizer.mask_id] if piece is None else tokenizer.encode(piece) for piece in pieces]
                         ).astype(np.int64)
    places = np.flatnonzero(ids == tokenizer.mask_id)
    if not len(places):
        raise errors.ValueError(f"fill: the text {text!r} has no [MASK] to fill in")
    return ids, places


def interleave(parts):
    """['a', 'b', 'c'] -> ['a', None, 'b', None, 'c']: None where a marker stood."""
    out = []
    for index, part in enumerate(parts):
        out.extend(([None] if index else []) + [part])
    return out


def fill(model, tokenizer, text, top_k=5):
    """[(position, [(token, probability), ...])] for each [MASK] in text: the model's top_k guesses."""
    ids, places = masked_ids(tokenizer, text)
    limit = model.encoder.config["max_length"] - (model.encoder.config["pooling"] == "cls")
    if len(ids) > limit:
        raise errors.ValueError(f"fill: the text is {len(ids)} tokens; the model reads at most {limit}")
    was_training = model.training
    model.eval()
    with no_grad():
        logits = model(tensor(ids[None, :], device=model.encoder.token_embedding.weight.device)).numpy()[0]
    model.train(was_training)
    logits = logits[places].astype(np.float64)
    logits[:, tokenizer.special_ids] = -np.inf   # a guess is an ordinary token
    probabilities = np.exp(logits - logits.max(1, keepdims=True))
    probabilities /= probabilities.sum(1, keepdims=True)
    guesses = []
    for place, row in zip(places, probabilities):
        best = np.argsort(-row, kind="stable")[:top_k]
        guesses.append((int(place), [(tokenizer.tokens[i], float(row[i])) for i in best]))
    return guesses


def filled_text(tokenizer, text, guesses):
    """The prompt with each [MASK] replaced by its first guess."""
    ids, _ = masked_ids(tokenizer, text)
    tokens = [tokenizer.tokens[i] for i in ids]
    for place, ranked in guesses:
        tokens[place] = ranked[0][0]
    return ("" if tokenizer.level == "char" else " ").join(tokens)


def load_for_filling(path):
    """(model, tokenizer) from a masked language model's checkpoint."""
    state = load(checkpoint_path(path))
    if state.get("kind") != "mlm":
        raise errors.ValueError(f"{path} holds a {state.get('kind', 'unknown')} run, not a masked language model: "
                                "fill needs a `minisora train mlm` checkpoint")
    tokenizer = TextTokenizer.from_state_dict(state["tokenizer"])
    model = build_model({**DEFAULTS, **state["config"]}, tokenizer)
    model.load_state_dict(state["model"])
    return model, tokenizer
