"""Labelled text for classification: a tokenizer with padding, Python's help text by topic, and
a user's own CSV/TSV file.

    text  "if x:"  --(characters)-->  [ 9,  8, 2, 27, 14]        --(words)-->  [ 7, 3, 12]
    batch of texts -> ids (n, L) int64 padded with 0 (<pad>), and each text's length (n,)

Id 0 is padding and id 1 stands for any token not seen in training (<unk>); the others are the
training texts' tokens, most frequent first.

pydoc topics: Python ships its reference manual's help topics (`pydoc_data.topics`, 79 topics,
~465,000 characters). Each topic belongs to one of four groups, after the manual's chapters
(PYDOC_GROUPS): statements (simple and compound statements), expressions (expressions and
literals), data model (the data model and execution model) and built-in types (the library's
built-in types). Each topic's text is cut into passages of 8 windows of `window` characters, every
window labelled by its topic's group; of every ten passages two are held out for testing and one
for validation, so those windows come from every topic but never overlap a training window
(training windows may overlap one another: `stride`).
"""
import collections
import csv
import re

import numpy as np

from .. import errors
from ..tensor import Tensor
from .dataset import TensorDataset

PAD, UNKNOWN = "<pad>", "<unk>"
PYDOC_GROUPS = {
    "statements": ("assert assignment async augassign break class compound continue del else for function "
                   "global if import nonlocal pass raise return try while with yield").split(),
    "expressions": ("atom-identifiers atom-literals attribute-references await binary bitwise booleans calls "
                    "comparisons conversions dict exprlists floating formatstrings identifiers imaginary in "
                    "integers lambda lists numbers operator-summary power shifting slicings strings "
                    "subscriptions unary").split(),
    "data model": ("attribute-access callable-types context-managers customization dynamic-features exceptions "
                   "execmodel id-classes naming numeric-types objects sequence-types specialattrs specialnames "
                   "types").split(),
    "built-in types": ("bltin-code-objects bltin-ellipsis-object bltin-null-object bltin-type-objects debugger "
                       "string-methods truth typesfunctions typesmapping typesmethods typesmodules typesseq "
                       "typesseq-mutable").split(),
}
WORD = re.compile(r"\w+|[^\w\s]")
PASSAGE_WINDOWS = 8   # a pydoc topic is held out for testing in passages of this many windows


class TextTokenizer:
    """Text <-> ids, by characters (level="char") or by words and punctuation (level="word", lower case)."""

    def __init__(self, tokens, level="char"):
        if level not in ("char", "word"):
            raise errors.ValueError(f"TextTokenizer: level must be 'char' or 'word', got {level!r}")
        tokens = list(tokens)
        if tokens[:2] != [PAD, UNKNOWN] or len(set(tokens)) != len(tokens):
            raise errors.ValueError(f"TextTokenizer: tokens must be distinct and start with {PAD!r}, {UNKNOWN!r}")
        self.tokens, self.level = tokens, level
        self.ids = {token: i for i, token in enumerate(tokens)}

    @classmethod
    def fit(cls, texts, level="char", max_tokens=None):
        """The tokens of `texts`, most frequent first (ties in sorted order), at most max_tokens in all."""
        counts = collections.Counter()
        splitter = cls([PAD, UNKNOWN], level)
        for text in texts:
            counts.update(splitter.split(text))
        ranked = sorted(counts, key=lambda token: (-counts[token], token))
        if max_tokens is not None:
            ranked = ranked[:max(0, int(max_tokens) - 2)]
        return cls([PAD, UNKNOWN] + ranked, level)

    @property
    def vocab_size(self):
        return len(self.tokens)

    def split(self, text):
        return list(text) if self.level == "char" else WORD.findall(text.lower())

    def encode(self, text):
        return np.array([self.ids.get(token, 1) for token in self.split(text)], dtype=np.int64)

    def decode(self, ids):
        ids = np.asarray(ids.numpy() if isinstance(ids, Tensor) else ids).reshape(-1)
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise errors.ValueError(f"TextTokenizer: id {int(ids.max())} is out of range [0, {self.vocab_size})")
        return ("" if self.level == "char" else " ").join(self.tokens[i] for i in ids if i != 0)

    def encode_batch(self, texts, max_length):
        """ids (n, L) int64, padded with 0 (L: the longest text, at most max_length tokens; longer
        texts are cut), and lengths (n,) int64 (at least 1: an empty text is one <unk>)."""
        encoded = [self.encode(text)[:max_length] for text in texts]
        encoded = [e if len(e) else np.ones(1, np.int64) for e in encoded]
        lengths = np.array([len(e) for e in encoded], dtype=np.int64)
        ids = np.zeros((len(encoded), int(lengths.max()) if len(encoded) else 1), dtype=np.int64)
        for row, e in enumerate(encoded):
            ids[row, :len(e)] = e
        return ids, lengths

    def state_dict(self):
        return {"tokens": self.tokens, "level": self.level}

    @classmethod
    def from_state_dict(cls, state):
        return cls(state["tokens"], state["level"])


def pydoc_topic_texts(window=128, stride=None):
    """([(text, group)] for training, validation and testing, and the group names): see the module
    docstring. Of every ten passages of a topic the fifth and the tenth are held out for testing
    (20%) and the eighth for validation (10%). Training windows start every `stride` characters
    of a training passage (window by default; less gives more, overlapping windows); validation
    and test windows never overlap, and no window crosses a passage's end."""
    from pydoc_data.topics import topics

    groups, passage = list(PYDOC_GROUPS), PASSAGE_WINDOWS * window
    train, validation, test = [], [], []
    for label, group in enumerate(groups):
        for topic in PYDOC_GROUPS[group]:
            text = topics.get(topic, "")   # (a Python without the topic has one fewer)
            for number, start in enumerate(range(0, len(text), passage)):
                part = text[start:start + passage]
                into, step = {4: (test, window), 9: (test, window), 7: (validation, window)}.get(
                    number % 10, (train, stride or window))
                into.extend((part[s:s + window], label) for s in range(0, len(part) - window + 1, step))
    return train, validation, test, groups


def read_labelled_texts(path):
    """[(text, label string)] from a CSV (or, by a .tsv name or tabs in its first line, TSV) file of
    `text,label` rows; a first row `text,label` is taken for a header."""
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            first = handle.readline()
            handle.seek(0)
            delimiter = "\t" if path.endswith(".tsv") or "\t" in first else ","
            rows = list(csv.reader(handle, delimiter=delimiter))
    except FileNotFoundError:
        raise FileNotFoundError(f"text classification data {path!r} not found") from None
    except UnicodeDecodeError as error:
        raise errors.ValueError(f"{path} is not UTF-8 text: {error}") from None
    if rows and [c.strip().lower() for c in rows[0]] == ["text", "label"]:
        rows = rows[1:]
    pairs = []
    for number, row in enumerate(rows, start=1):
        if not row:
            continue
        if len(row) != 2:
            raise errors.ValueError(f"{path}: row {number} has {len(row)} fields; each row must be text,label "
                                    "(quote a text that holds the delimiter)")
        pairs.append((row[0], row[1].strip()))
    if len({label for _, label in pairs}) < 2:
        raise errors.ValueError(f"{path}: {len(pairs)} rows with {len({l for _, l in pairs})} label(s); "
                                "classification needs at least 2 labels")
    return pairs


def text_classification(source="pydoc-topics", level="char", window=128, max_length=256, max_tokens=20000,
                        val_fraction=0.1, test_fraction=0.2, seed=0, stride=None):
    """(train, validation, test, tokenizer): TensorDatasets of (ids, lengths, labels) with `.classes`.

    source: "pydoc-topics" (see the module docstring; `stride`: where its training windows start),
    or the path of a CSV/TSV file of text,label rows (a seeded shuffle puts test_fraction of them
    in the test set and val_fraction in the validation set)."""
    if source == "pydoc-topics":
        *parts, classes = pydoc_topic_texts(window, stride)
        name = f"pydoc topics (window {window})"
    else:
        pairs = read_labelled_texts(source)
        classes = sorted({label for _, label in pairs})
        numbered = [(text, classes.index(label)) for text, label in pairs]
        order = np.random.default_rng(seed).permutation(len(pairs))
        tested, validated = round(len(pairs) * test_fraction), round(len(pairs) * val_fraction)
        if tested + validated >= len(pairs):
            raise errors.ValueError(f"{source}: {len(pairs)} rows leave none to train on after holding out "
                                    f"{tested} for testing and {validated} for validation")
        cuts = [order[tested + validated:], order[tested:tested + validated], order[:tested]]
        parts = [[numbered[i] for i in cut] for cut in cuts]
        name = str(source)
    tokenizer = TextTokenizer.fit((text for text, _ in parts[0]), level, max_tokens)

    def dataset(pairs, part):
        ids, lengths = tokenizer.encode_batch([text for text, _ in pairs], max_length)
        labels = np.array([label for _, label in pairs], dtype=np.int64)
        return TensorDataset(ids, lengths, labels, classes=list(classes), name=f"{name} {part}")
    return (*(dataset(p, part) for p, part in zip(parts, ("train", "validation", "test"))), tokenizer)
