"""Training runs the CLI starts: a classifier (MLP) now, the GPT later."""
from .classifier import ClassifierRun, checkpoint_path

__all__ = ["ClassifierRun", "checkpoint_path"]
