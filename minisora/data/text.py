"""Text for language models: a character tokenizer, the bundled corpus, and (B, T) batches.

    text   "def f"      ->  ids  [31, 32, 33, 1, 33]      (one id per distinct character)
    batch  x = ids[s : s + T],  y = ids[s + 1 : s + T + 1]   for B random starts s

y is x shifted by one: at every position the model learns to predict the next character.
The default corpus is Python's own help text (`pydoc_data.topics`, bundled with Python, about
465,000 characters), so a language model trains with no download.
"""
import numpy as np

from .. import errors
from ..tensor import Tensor


class CharTokenizer:
    """Characters <-> ids, by sorted order of the characters seen in the training text."""

    def __init__(self, vocabulary):
        if not vocabulary or len(set(vocabulary)) != len(vocabulary):
            raise errors.ValueError("CharTokenizer: the vocabulary must be a non-empty string of distinct characters")
        self.vocabulary = vocabulary
        self.ids = {character: i for i, character in enumerate(vocabulary)}

    @classmethod
    def from_text(cls, text):
        return cls("".join(sorted(set(text))))

    @property
    def vocab_size(self):
        return len(self.vocabulary)

    def encode(self, text):
        try:
            return np.array([self.ids[c] for c in text], dtype=np.int64)
        except KeyError as missing:
            raise errors.ValueError(f"CharTokenizer: character {missing.args[0]!r} is not in the vocabulary "
                                    f"of {self.vocab_size} characters this model was trained on") from None

    def decode(self, ids):
        ids = np.asarray(ids.numpy() if isinstance(ids, Tensor) else ids).reshape(-1)
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise errors.ValueError(f"CharTokenizer: id {int(ids.max())} is out of range [0, {self.vocab_size})")
        return "".join(self.vocabulary[i] for i in ids)

    def state_dict(self):
        return {"vocabulary": self.vocabulary}

    @classmethod
    def from_state_dict(cls, state):
        return cls(state["vocabulary"])


def pydoc_corpus():
    """Python's bundled help topics, joined in a fixed order (no download needed)."""
    from pydoc_data.topics import topics

    return "".join(topics[name] for name in sorted(topics))


def read_corpus(source):
    """'pydoc' for the bundled corpus, else the path of a UTF-8 text file."""
    if source == "pydoc":
        return pydoc_corpus()
    try:
        with open(source, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        raise FileNotFoundError(f"corpus file {source!r} not found (or pass --corpus pydoc)") from None
    except UnicodeDecodeError as error:
        raise errors.ValueError(f"corpus {source!r} is not UTF-8 text: {error}") from None
    if len(text) < 2:
        raise errors.ValueError(f"corpus {source!r} has {len(text)} characters; a language model needs more")
    return text


def split_ids(ids, train_fraction=0.9):
    """The first 90% for training, the rest for validation (contiguous, so no window straddles both)."""
    cut = int(len(ids) * train_fraction)
    return ids[:cut], ids[cut:]


class TextBatches:
    """Random contiguous windows of a token sequence, drawn by the batches' own seeded generator."""

    next_tokens = 1   # tokens a window needs past its context (a GPT's: the last one's target)

    def __init__(self, ids, context, batch_size, seed=0):
        ids = np.asarray(ids, dtype=np.int64)
        if len(ids) < context + self.next_tokens:
            raise errors.ValueError(f"{type(self).__name__}: {len(ids)} tokens cannot fill a window of context "
                                    f"{context}{' plus the next token' if self.next_tokens else ''}; use a longer "
                                    "text or a smaller --context")
        self.ids, self.context, self.batch_size = ids, int(context), int(batch_size)
        self.generator = np.random.default_rng(seed)

    def sample(self):
        """(x, y) int64 tensors of shape (batch_size, context), y = x shifted by one token."""
        starts = self.generator.integers(0, len(self.ids) - self.context, self.batch_size)
        windows = self.ids[starts[:, None] + np.arange(self.context + 1)]
        return Tensor(windows[:, :-1]), Tensor(windows[:, 1:])

    def fixed(self, count):
        """`count` batches drawn once (for a validation loss measured on the same text every time)."""
        return [self.sample() for _ in range(count)]

    def state_dict(self):
        return {"generator": self.generator.bit_generator.state}

    def load_state_dict(self, state):
        self.generator.bit_generator.state = state["generator"]
