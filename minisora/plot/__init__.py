"""minisora.plot: pictures of training, drawn with matplotlib, headless (no display needed).

Every function returns the matplotlib Figure and, given `path`, also saves it as a PNG.
"""
from .curves import training_curves
from .confusion import confusion_matrix, plot_confusion_matrix

__all__ = ["training_curves", "confusion_matrix", "plot_confusion_matrix"]
