"""Reference models the CLI and the lessons train."""
from .mlp import MLP

__all__ = ["MLP"]
