"""Reference models the CLI and the lessons train."""
from .gpt import GPT
from .mlp import MLP

__all__ = ["MLP", "GPT"]
