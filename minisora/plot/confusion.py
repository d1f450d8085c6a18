"""The confusion matrix: row = true class, column = predicted class, entry = how many samples."""
import numpy as np

from .figure import finish, new_figure


def confusion_matrix(targets, predictions, classes):
    counts = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(counts, (np.asarray(targets), np.asarray(predictions)), 1)
    return counts


def plot_confusion_matrix(counts, labels=None, path=None, title=None):
    classes = len(counts)
    labels = labels or [str(c) for c in range(classes)]
    figure = new_figure(1.0 + 0.55 * classes, 0.6 + 0.5 * classes)
    axes = figure.subplots()
    image = axes.imshow(counts, cmap="Blues")
    figure.colorbar(image, ax=axes)
    axes.set_xticks(range(classes), labels, rotation=45 if max(map(len, labels)) > 2 else 0)
    axes.set_yticks(range(classes), labels)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    threshold = counts.max() / 2 if counts.size else 0
    for (row, column), count in np.ndenumerate(counts):
        axes.text(column, row, str(count), ha="center", va="center", fontsize=8,
                  color="white" if count > threshold else "black")
    if title:
        axes.set_title(title)
    return finish(figure, path)
