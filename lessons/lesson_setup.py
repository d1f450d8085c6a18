"""What every lesson shares: where its figures go, where its data files are, and the fast mode CI uses.

    MINISORA_FAST=1          fewer steps and smaller data, same story (CI runs every lesson so)
    MINISORA_LESSON_OUT=DIR  where figures are saved (default lessons/output)
"""
import os

FAST = os.environ.get("MINISORA_FAST", "0") == "1"


def figure_path(name):
    folder = os.environ.get("MINISORA_LESSON_OUT") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "output")
    os.makedirs(folder, exist_ok=True)
    return os.path.join(folder, name)


def data_path(name):
    """A file that ships with the lessons (lessons/data/, copied beside the notebooks by the course build)."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", name)
