"""Training runs the CLI starts: a classifier (the MLP), a sequence classifier (LSTM, GRU, RNN,
transformer encoder) and a character-level language model (the GPT)."""
from .classifier import ClassifierRun
from .common import checkpoint_path
from .language_model import LanguageModelRun, load_for_generation
from .sequence_classifier import SequenceRun

__all__ = ["ClassifierRun", "SequenceRun", "LanguageModelRun", "checkpoint_path", "load_for_generation"]
