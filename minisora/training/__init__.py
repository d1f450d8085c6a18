"""Training runs the CLI starts: a classifier (the MLP) and a character-level language model (the GPT)."""
from .classifier import ClassifierRun
from .common import checkpoint_path
from .language_model import LanguageModelRun, load_for_generation

__all__ = ["ClassifierRun", "LanguageModelRun", "checkpoint_path", "load_for_generation"]
