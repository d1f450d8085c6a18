"""Pictures of a network's insides: activations and gradients per layer, gradient flow,
attention weights, and the decision boundary of a 2-D classifier."""
import numpy as np

from .. import errors
from .figure import finish, new_figure


def histograms(values_by_name, path=None, title=None, bins=40):
    """One histogram per entry of {name: array or tensor} (activations or gradients per layer)."""
    names = list(values_by_name)
    if not names:
        raise errors.ValueError("histograms: nothing to draw (an empty mapping)")
    columns = min(len(names), 4)
    rows = -(-len(names) // columns)
    figure = new_figure(3.2 * columns, 2.6 * rows)
    axes_grid = figure.subplots(rows, columns, squeeze=False)
    for axes, name in zip(axes_grid.flat, names):
        value = values_by_name[name]
        array = np.asarray(value.numpy() if hasattr(value, "numpy") else value, dtype=np.float64).ravel()
        finite = array[np.isfinite(array)]
        axes.hist(finite, bins=bins, color="tab:blue", alpha=0.8)
        axes.set_title(f"{name}\nmean {finite.mean():.3g}, std {finite.std():.3g}" if finite.size else name, fontsize=8)
    for axes in list(axes_grid.flat)[len(names):]:
        axes.set_visible(False)
    if title:
        figure.suptitle(title)
    return finish(figure, path)


def gradient_histograms(model, path=None, title="gradients"):
    """Histograms of every parameter's .grad (after a backward)."""
    grads = {name: p.grad for name, p in model.named_parameters() if p.grad is not None}
    if not grads:
        raise errors.ValueError("gradient_histograms: no parameter has a gradient yet; call backward() first")
    return histograms(grads, path, title)


def gradient_flow(model, path=None, title="gradient flow"):
    """Mean and max |gradient| of each weight, first layer to last: vanishing gradients show as a slope."""
    rows = [(name, np.abs(p.grad.numpy())) for name, p in model.named_parameters() if p.grad is not None and p.ndim > 1]
    if not rows:
        raise errors.ValueError("gradient_flow: no weight has a gradient yet; call backward() first")
    figure = new_figure(max(5.0, 0.6 * len(rows) + 2), 4)
    axes = figure.subplots()
    positions = np.arange(len(rows))
    axes.bar(positions, [g.max() for _, g in rows], color="tab:cyan", alpha=0.5, label="max |grad|")
    axes.bar(positions, [g.mean() for _, g in rows], color="tab:blue", label="mean |grad|")
    axes.set_xticks(positions, [name for name, _ in rows], rotation=60, ha="right", fontsize=7)
    axes.set_yscale("log")
    axes.set_ylabel("|gradient|")
    axes.legend()
    axes.set_title(title)
    return finish(figure, path)


def attention_heatmap(weights, tokens=None, path=None, title="attention"):
    """weights (T, S) for one head (or (heads, T, S): one panel per head); row t = where query t looks."""
    array = np.asarray(weights.numpy() if hasattr(weights, "numpy") else weights, dtype=np.float64)
    if array.ndim == 2:
        array = array[None]
    if array.ndim != 3:
        raise errors.ValueError(f"attention_heatmap: weights must be (T, S) or (heads, T, S), got shape {array.shape}")
    heads = len(array)
    figure = new_figure(3.2 * heads + 0.8, 3.4)
    for head, axes in enumerate(figure.subplots(1, heads, squeeze=False)[0]):
        image = axes.imshow(array[head], cmap="viridis", vmin=0.0, vmax=1.0)
        axes.set_title(f"head {head}" if heads > 1 else title, fontsize=9)
        if tokens is not None:
            axes.set_xticks(range(len(tokens)), tokens, fontsize=7)
            axes.set_yticks(range(len(tokens)), tokens, fontsize=7)
        axes.set_xlabel("key")
        axes.set_ylabel("query")
    figure.colorbar(image, ax=figure.axes)
    return finish(figure, path)


def decision_boundary(predict, points, labels, path=None, title="decision boundary", resolution=200):
    """Colour the plane by predict(grid of (N, 2) points) -> class ids, and scatter the data on top."""
    points, labels = np.asarray(points), np.asarray(labels)
    if points.ndim != 2 or points.shape[1] != 2:
        raise errors.ValueError(f"decision_boundary: points must be (N, 2), got shape {points.shape}")
    low, high = points.min(0), points.max(0)
    margin = 0.1 * (high - low + 1e-9)
    xs = np.linspace(low[0] - margin[0], high[0] + margin[0], resolution)
    ys = np.linspace(low[1] - margin[1], high[1] + margin[1], resolution)
    grid = np.stack(np.meshgrid(xs, ys), -1).reshape(-1, 2).astype(np.float32)
    classes = np.asarray(predict(grid)).reshape(resolution, resolution)
    figure = new_figure(5, 4.5)
    axes = figure.subplots()
    axes.contourf(xs, ys, classes, levels=np.arange(classes.max() + 2) - 0.5, cmap="coolwarm", alpha=0.35)
    axes.scatter(points[:, 0], points[:, 1], c=labels, cmap="coolwarm", s=10, edgecolors="k", linewidths=0.3)
    axes.set_title(title)
    return finish(figure, path)


def image_grid(images, path=None, title=None, labels=None, columns=8):
    """Small pictures side by side, each scaled to its own range (grey: low to high): a first
    convolution layer's filters, or one image's feature maps. images (K, H, W), or a weight
    (out, in, kh, kw) (each output's filter; of several input channels, their mean)."""
    array = np.asarray(images.numpy() if hasattr(images, "numpy") else images, dtype=np.float64)
    if array.ndim == 4:
        array = array.mean(axis=1)
    if array.ndim != 3 or not len(array):
        raise errors.ValueError(f"image_grid: images must be (K, H, W) or a weight (out, in, kh, kw), got shape "
                                f"{array.shape}")
    count = len(array)
    columns = min(columns, count)
    rows = -(-count // columns)
    figure = new_figure(1.2 * columns + 0.4, 1.3 * rows + (0.4 if title else 0))
    for index, axes in enumerate(figure.subplots(rows, columns, squeeze=False).ravel()):
        axes.axis("off")   # pictures, not plots: no axes to label
        if index < count:
            axes.imshow(array[index], cmap="gray", interpolation="nearest")
            axes.set_title(labels[index] if labels is not None else str(index), fontsize=8)
    if title:
        figure.suptitle(title)
    return finish(figure, path)


def filters_and_feature_maps(model, image, path=None):
    """A CNN's first-layer filters and the maps its two convolution stages make of one image
    (model.features(image) -> [maps, ...], each (1, C, H, W)), as one picture per row."""
    maps = [m.numpy()[0] for m in model.features(image)]
    panels = [np.asarray(model.conv1.weight.numpy(), dtype=np.float64).mean(axis=1)] + maps
    names = ["conv1 filters"] + [f"maps after conv{k + 1}" for k in range(len(maps))]
    columns = max(len(p) for p in panels)
    figure = new_figure(1.1 * columns + 0.4, 1.3 * len(panels) + 0.4)
    grid = figure.subplots(len(panels), columns, squeeze=False)
    for row, (panel, name) in enumerate(zip(panels, names)):
        for index, axes in enumerate(grid[row]):
            axes.axis("off")
            if index < len(panel):
                axes.imshow(panel[index], cmap="gray", interpolation="nearest")
                if index == 0:
                    axes.set_title(name, fontsize=8, loc="left")
    return finish(figure, path)
