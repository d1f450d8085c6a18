"""Loss (and accuracy) per epoch or step, train beside validation: the picture every training run ends with."""
from .figure import finish, new_figure


def training_curves(history, path=None, title=None, x="epoch"):
    """history: one dict per epoch (or per evaluation, x="step") with any of train_loss, val_loss,
    train_accuracy, val_accuracy. Without accuracies only the loss is drawn."""
    metrics = ["loss"] + (["accuracy"] if any("val_accuracy" in row or "train_accuracy" in row for row in history) else [])
    figure = new_figure(5 * len(metrics), 4)
    epochs = [row.get(x, i + 1) for i, row in enumerate(history)]
    for axes, metric in zip(figure.subplots(1, len(metrics), squeeze=False)[0], metrics):
        for split, style in (("train", "-"), ("val", "--")):
            key = f"{split}_{metric}"
            points = [(e, row[key]) for e, row in zip(epochs, history) if row.get(key) is not None]
            if points:
                axes.plot(*zip(*points), style, marker="o", markersize=3, label=split)
        axes.set_xlabel(x)
        axes.set_ylabel(metric)
        axes.grid(alpha=0.3)
        if axes.has_data():
            axes.legend()
    if title:
        figure.suptitle(title)
    return finish(figure, path)
