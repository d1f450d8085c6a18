"""Figures that need no display: built as plain matplotlib Figures (no pyplot, no window)."""
import os


def new_figure(width, height):
    from matplotlib.figure import Figure   # a Figure without pyplot draws with Agg when saved

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def finish(figure, path=None):
    if path:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        figure.savefig(path)
    return figure
