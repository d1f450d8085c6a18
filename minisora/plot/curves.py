"""Loss (and accuracy) per epoch or step, train beside validation: the picture every training run ends with."""
from matplotlib.ticker import MaxNLocator

from .figure import finish, new_figure


def training_curves(history, path=None, title=None, x="epoch"):
    """history: one dict per epoch (or per evaluation, x="step") with any of train_loss, val_loss,
    train_accuracy, val_accuracy. Without accuracies only the loss is drawn."""
    metrics = ["loss"] + (["accuracy"] if any("val_accuracy" in row or "train_accuracy" in row for row in history) else [])
    figure = new_figure(5 * len(metrics), 4)
    epochs = [row.get(x, i + 1) for i, row in enumerate(history)]
    for axes, metric in zip(figure.subplots(1, len(metrics), squeeze=False)[0], metrics):
        # the train numbers are running means over the steps since the previous point, the
        # validation ones are measured at the point: the legend says so
        for split, style, label in (("train", "-", f"train (mean over the {x}s since the last point)"
                                     if x == "step" else "train (mean over the epoch)"), ("val", "--", "validation")):
            key = f"{split}_{metric}"
            points = [(e, row[key]) for e, row in zip(epochs, history) if row.get(key) is not None]
            if points:
                axes.plot(*zip(*points), style, marker="o", markersize=3, label=label)
        axes.set_xlabel(x)
        axes.set_ylabel(metric)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))   # epochs and steps are whole numbers
        axes.grid(alpha=0.3)
        if axes.has_data():
            axes.legend()
    if title:
        figure.suptitle(title)
    return finish(figure, path)


def line_plot(series, path=None, title=None, xlabel="step", ylabel="value", log_y=False):
    """series: {label: values} drawn against 0, 1, 2, ... on one axes (log scale on y if asked):
    a quantity per step or per time step, several side by side."""
    figure = new_figure(6, 4)
    axes = figure.subplots()
    for label, values in series.items():
        axes.plot(range(len(values)), list(values), label=label)
    if log_y:
        axes.set_yscale("log")
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.grid(alpha=0.3)
    axes.legend()
    if title:
        axes.set_title(title)
    return finish(figure, path)
