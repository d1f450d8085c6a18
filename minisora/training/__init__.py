"""Training runs the CLI starts: a classifier (the MLP), a sequence classifier (LSTM, GRU, RNN,
transformer encoder), a graph network's node classifier (GCN, GAT, GraphSAGE) and a
character-level language model (the GPT)."""
from .classifier import ClassifierRun
from .common import checkpoint_path
from .gan import GANRun
from .language_model import LanguageModelRun, load_for_generation
from .node_classifier import NodeRun
from .sequence_classifier import SequenceRun

__all__ = ["ClassifierRun", "SequenceRun", "NodeRun", "GANRun", "LanguageModelRun", "checkpoint_path", "load_for_generation"]
