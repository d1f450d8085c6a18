"""Reference models the CLI and the lessons train."""
from .deepwalk import SkipGram, deepwalk, linear_probe
from .encoder import MaskedLanguageModel, TransformerEncoder
from .gnn import GraphClassifier, NodeClassifier
from .gpt import GPT
from .lenet import LeNet
from .mlp import MLP
from .text_classifier import SequenceRegressor, TextClassifier

__all__ = ["MLP", "GPT", "LeNet", "TextClassifier", "SequenceRegressor", "NodeClassifier", "GraphClassifier", "SkipGram",
           "deepwalk", "linear_probe", "TransformerEncoder", "MaskedLanguageModel"]
