"""Training a sequence model in a folder: the text classifier (`minisora train classifier`).

    --data pydoc-topics   windows of Python's help text, labelled by their topic's group
    --data PATH           a CSV/TSV file of text,label rows (IMDB, anything a teacher brings)
    --data adding         the adding problem (regression: the sum of the two marked numbers)

The same loop, files and resuming as the MLP's run (classifier.py): only the data, the model and
the scoring differ. Text gets a held-out test set too (--split test in `minisora eval`): for pydoc
topics, passages of every topic held out for testing and for validation (data/classification.py);
for a PATH, a seeded 20% of the rows for testing and --val-split of them for validation. The
adding problem's three sets are drawn from three seeds. Its "accuracy" is Hochreiter &
Schmidhuber's criterion: the share of sequences answered within 0.04 of the target.
"""
import numpy as np

from .. import data, errors, functional as F
from ..models import SequenceRegressor, TextClassifier
from .classifier import ClassifierRun

DEFAULTS = {
    "model": "lstm", "dataset": "pydoc-topics", "level": "word", "window": 128, "stride": 32, "max_length": 256,
    "embedding_dim": 64, "hidden_size": 128, "num_layers": 2, "heads": 4, "dropout": 0.3, "optimizer": "adam",
    "lr": 3e-3, "momentum": 0.9, "weight_decay": 0.0, "scheduler": "cosine", "clip": 1.0, "epochs": 8,
    "batch_size": 64, "val_split": 0.1, "split_seed": 0, "seed": 0, "device": "cpu", "adding_length": 100,
    "adding_count": 10000,
}
# The adding problem's own defaults (where the options do not say): one layer of 64, a higher lr
# and more epochs. At T = 100 an LSTM's validation MSE then falls below 0.01 at epoch 10 and to
# 0.0004 by epoch 20, while a tanh RNN's stays at 0.161 (seed 0).
ADDING_DEFAULTS = {"num_layers": 1, "hidden_size": 64, "lr": 5e-3, "epochs": 20}
ADDING_TOLERANCE = 0.04


def sequence_sets(config):
    """(train, validation, test, class names, what the model reads: a vocabulary size or None for numbers)."""
    if config["dataset"] == "adding":
        length, count, seed = config["adding_length"], config["adding_count"], 3 * config["split_seed"]
        sets = [data.adding_problem(n, length, seed + k) for k, n in enumerate((count, max(1, count // 10),
                                                                                max(1, count // 10)))]
        return (*sets, None, None)
    train, validation, test, tokenizer = data.text_classification(
        config["dataset"], config["level"], config["window"], config["max_length"], val_fraction=config["val_split"],
        seed=config["split_seed"], stride=config["stride"])
    if not len(train) or not len(validation) or not len(test):
        raise errors.ValueError(f"{config['dataset']}: {len(train)} training, {len(validation)} validation and "
                                f"{len(test)} test texts; each part needs at least one")
    return train, validation, test, train.classes, tokenizer.vocab_size


class SequenceRun(ClassifierRun):
    kind, defaults = "sequence-classifier", DEFAULTS

    def __init__(self, config, out, log=None):
        config = {**DEFAULTS, **(ADDING_DEFAULTS if config.get("dataset") == "adding" else {}), **config}
        if config["model"] not in ("lstm", "gru", "rnn", "transformer", "bag"):
            raise errors.ValueError(f"unknown sequence model {config['model']!r}; choose lstm, gru, rnn, transformer "
                                    "or bag")
        if config["dataset"] == "adding" and config["model"] not in ("lstm", "gru", "rnn"):
            raise errors.ValueError(f"--data adding trains a recurrent network (lstm, gru or rnn), not {config['model']}")
        super().__init__(config, out, **({} if log is None else {"log": log}))

    def build(self):
        c = self.config
        train, validation, self.test, classes, vocabulary = sequence_sets(c)
        if vocabulary is None:
            model = SequenceRegressor(2, c["model"], c["hidden_size"], c["num_layers"])
            return train, validation, ["sum"], model
        model = TextClassifier(vocabulary, len(classes), c["model"], c["embedding_dim"], c["hidden_size"],
                               c["num_layers"], c["dropout"], c["heads"], max_length=max(c["max_length"], c["window"]))
        return train, validation, list(classes), model

    @property
    def regression(self):
        return self.config["dataset"] == "adding"

    def loss(self, outputs, targets, reduction="mean"):
        if self.regression:
            return F.mse_loss(outputs, targets, reduction=reduction)
        return F.cross_entropy(outputs, targets, reduction=reduction)

    def predicted(self, outputs):
        return outputs if self.regression else outputs.argmax(1)

    def hits(self, predictions, targets):
        if self.regression:
            return np.abs(predictions - targets) < ADDING_TOLERANCE
        return predictions == targets
