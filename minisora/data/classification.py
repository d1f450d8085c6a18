"""Labelled text for classification: a tokenizer with padding, Python's help text by topic, and
a user's own CSV/TSV file.

    text  "if x:"  --(characters)-->  [ 9,  8, 2, 27, 14]        --(words)-->  [ 7, 3, 12]
    batch of texts -> ids (n, L) int64 padded with 0 (<pad>), and each text's length (n,)

Id 0 is padding and id 1 stands for any token not seen in training (<unk>); a masked language
model's tokenizer has two more: 2 is <mask> (a hidden token to guess) and 3 is <cls> (put in front
of a text whose pooled vector is its state). The others are the training texts' tokens, most
frequent first.

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

PAD, UNKNOWN, MASK, CLS = "<pad>", "<unk>", "<mask>", "<cls>"
MLM_SPECIALS = (MASK, CLS)   # the special tokens a masked language model's tokenizer adds
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
        specials = [PAD, UNKNOWN] + (list(MLM_SPECIALS) if tokens[2:3] == [MASK] else [])
        if tokens[:len(specials)] != specials or len(set(tokens)) != len(tokens):
            raise errors.ValueError(f"TextTokenizer: tokens must be distinct and start with {PAD!r}, {UNKNOWN!r} "
                                    f"(and, for a masked language model, {MASK!r}, {CLS!r})")
        self.tokens, self.level = tokens, level
        self.ids = {token: i for i, token in enumerate(tokens)}
        self.special_ids = np.arange(len(specials))   # never masked, never drawn as a random token

    @classmethod
    def fit(cls, texts, level="char", max_tokens=None, specials=()):
        """The tokens of `texts`, most frequent first (ties in sorted order), at most max_tokens in all.
        specials: MLM_SPECIALS for a masked language model's tokenizer (<mask> and <cls> after <unk>)."""
        if tuple(specials) not in ((), MLM_SPECIALS):
            raise errors.ValueError(f"TextTokenizer.fit: specials must be () or {MLM_SPECIALS}, got {specials!r}")
        counts = collections.Counter()
        splitter = cls([PAD, UNKNOWN], level)
        for text in texts:
            counts.update(splitter.split(text))
        front = [PAD, UNKNOWN, *specials]
        ranked = [token for token in sorted(counts, key=lambda token: (-counts[token], token)) if token not in front]
        if max_tokens is not None:
            ranked = ranked[:max(0, int(max_tokens) - len(front))]
        return cls(front + ranked, level)

    @property
    def mask_id(self):
        return self.ids.get(MASK)

    @property
    def cls_id(self):
        return self.ids.get(CLS)

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

    groups = list(PYDOC_GROUPS)
    parts = {"train": [], "validation": [], "test": []}
    for label, group in enumerate(groups):
        for topic in PYDOC_GROUPS[group]:
            for role, part in topic_passages(topics.get(topic, ""), window):   # (a Python may lack a topic)
                step = stride or window if role == "train" else window
                parts[role].extend((part[s:s + window], label) for s in range(0, len(part) - window + 1, step))
    return parts["train"], parts["validation"], parts["test"], groups


def topic_passages(text, window):
    """[(role, passage)]: a topic's text in passages of PASSAGE_WINDOWS windows, the fifth and tenth
    of every ten "test", the eighth "validation", the rest "train"."""
    passage = PASSAGE_WINDOWS * window
    roles = {4: "test", 9: "test", 7: "validation"}
    return [(roles.get(number % 10, "train"), text[start:start + passage])
            for number, start in enumerate(range(0, len(text), passage))]


def pydoc_pretraining_text(window=128):
    """Python's help text for pretraining: every topic, in sorted order, less the passages that
    pydoc_topic_texts(window) holds out for validation and testing, and less each of their
    windows wherever else it appears (the manual repeats some text across topics), so a model
    fine-tuned on the topics is scored on text its pretraining never read."""
    from pydoc_data.topics import topics

    grouped = {topic for names in PYDOC_GROUPS.values() for topic in names}
    kept = []
    for name in sorted(topics):
        if name not in grouped:
            kept.append(topics[name])
            continue
        kept.extend(part for role, part in topic_passages(topics[name], window) if role == "train")
    text = "\n".join(kept)
    _, validation, test, _ = pydoc_topic_texts(window)
    for held_out, _ in validation + test:
        text = text.replace(held_out, "\n")
    return text


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
                        val_fraction=0.1, test_fraction=0.2, seed=0, stride=None, tokenizer=None):
    """(train, validation, test, tokenizer): TensorDatasets of (ids, lengths, labels) with `.classes`.

    source: "pydoc-topics" (see the module docstring; `stride`: where its training windows start),
    or the path of a CSV/TSV file of text,label rows (a seeded shuffle puts test_fraction of them
    in the test set and val_fraction in the validation set). tokenizer: one to use (a pretrained
    model's) instead of one fitted to the training texts."""
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
    if tokenizer is None:
        tokenizer = TextTokenizer.fit((text for text, _ in parts[0]), level, max_tokens)

    def dataset(pairs, part):
        ids, lengths = tokenizer.encode_batch([text for text, _ in pairs], max_length)
        labels = np.array([label for _, label in pairs], dtype=np.int64)
        return TensorDataset(ids, lengths, labels, classes=list(classes), name=f"{name} {part}")
    return (*(dataset(p, part) for p, part in zip(parts, ("train", "validation", "test"))), tokenizer)
