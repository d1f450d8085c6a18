"""Loss and accuracy per epoch, train beside validation (the picture every training run ends with)."""
from .figure import finish, new_figure


def training_curves(history, path=None, title=None):
    """history: one dict per epoch with any of train_loss, val_loss, train_accuracy, val_accuracy."""
    figure = new_figure(10, 4)
    loss_axes, accuracy_axes = figure.subplots(1, 2)
    epochs = [row.get("epoch", i + 1) for i, row in enumerate(history)]
    for axes, metric in ((loss_axes, "loss"), (accuracy_axes, "accuracy")):
        for split, style in (("train", "-"), ("val", "--")):
            key = f"{split}_{metric}"
            points = [(e, row[key]) for e, row in zip(epochs, history) if row.get(key) is not None]
            if points:
                axes.plot(*zip(*points), style, marker="o", markersize=3, label=split)
        axes.set_xlabel("epoch")
        axes.set_ylabel(metric)
        axes.grid(alpha=0.3)
        if axes.has_data():
            axes.legend()
    if title:
        figure.suptitle(title)
    return finish(figure, path)
