"""Figures that need no display: built as plain matplotlib Figures (no pyplot, no window)."""
import io
import os
import sys

from .. import errors


def new_figure(width, height):
    from matplotlib.figure import Figure   # a Figure without pyplot draws with Agg when saved

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def finish(figure, path=None):
    """Save `figure` to `path` (when given) and return it. With MINISORA_CHECK_FIGURES=1 (the lesson
    tests set it) a figure with an unlabelled axis is refused first: see unlabelled_axes."""
    if os.environ.get("MINISORA_CHECK_FIGURES") == "1":
        missing = unlabelled_axes(figure)
        if missing:
            raise errors.ValueError(f"figure {os.path.basename(path or '')}: unlabelled axes: {'; '.join(missing)}")
    if path:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        figure.savefig(path)
    if "ipykernel" in sys.modules:   # in a notebook (a lesson run by Jupyter): the picture shows under its cell too
        show_in_notebook(figure)
    return figure


def show_in_notebook(figure):
    """The figure as a PNG output of the running notebook cell (a Figure made without pyplot is not
    shown by Jupyter on its own)."""
    from IPython.display import Image, display

    picture = io.BytesIO()
    figure.savefig(picture, format="png")
    display(Image(picture.getvalue()))


def unlabelled_axes(figure):
    """What a reader could not name in `figure`: each plot's x and y axes need a label (an axis
    without ticks, like a heatmap's colour bar, or turned off, needs none), and a plot of several
    lines needs a legend to tell them apart."""
    missing = []
    for index, axes in enumerate(figure.axes):
        if not axes.axison or getattr(axes, "_colorbar", None) is not None:   # off, or a colour bar (its ticks are its label)
            continue
        name = axes.get_title() or f"plot {index + 1}"
        for which, label, ticks in (("x", axes.get_xlabel(), axes.get_xticks()),
                                    ("y", axes.get_ylabel(), axes.get_yticks())):
            if len(ticks) and not label.strip():
                missing.append(f"{name}: no {which} label")
        labelled_lines = [line for line in axes.get_lines() if not line.get_label().startswith("_")]
        if len(axes.get_lines()) > 1 and labelled_lines and axes.get_legend() is None:
            missing.append(f"{name}: {len(labelled_lines)} labelled lines but no legend")
    return missing
