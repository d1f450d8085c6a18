"""minisora.plot: pictures of training, drawn with matplotlib, headless (no display needed).

Every function returns the matplotlib Figure and, given `path`, also saves it as a PNG.
"""
from .confusion import confusion_matrix, plot_confusion_matrix
from .curves import line_plot, training_curves
from .gan import gan_curves, sample_scatter
from .graphs import embedding_projection, graph_classes
from .layers import (attention_heatmap, decision_boundary, filters_and_feature_maps, gradient_flow, gradient_histograms,
                     histograms, image_grid)

__all__ = ["training_curves", "line_plot", "confusion_matrix", "plot_confusion_matrix", "histograms", "gradient_histograms",
           "gradient_flow", "attention_heatmap", "decision_boundary", "image_grid", "filters_and_feature_maps",
           "graph_classes", "embedding_projection", "sample_scatter", "gan_curves"]
