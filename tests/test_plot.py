"""Pictures: each function returns a matplotlib Figure and saves a PNG of the expected size."""
import numpy as np
import pytest

import minisora as ms


def png_size(path):
    header = open(path, "rb").read(24)
    assert header[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")


def trained_mlp():
    ms.manual_seed(0)
    model = ms.nn.Sequential(ms.nn.Linear(2, 16), ms.nn.Tanh(), ms.nn.Linear(16, 2))
    points, labels = ms.data.moons(count=200, seed=0).arrays
    optimizer = ms.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(60):
        optimizer.zero_grad()
        ms.F.cross_entropy(model(ms.tensor(points)), ms.tensor(labels)).backward()
        optimizer.step()
    return model, points, labels


def test_forward_hooks_collect_activations_for_histograms(tmp_path):
    model, points, _ = trained_mlp()
    activations = {}
    handles = [layer.register_forward_hook(lambda m, i, out, name=name: activations.__setitem__(name, out))
               for name, layer in model.named_children()]
    model(ms.tensor(points))
    assert sorted(activations) == ["0", "1", "2"] and activations["1"].shape == (200, 16)
    figure = ms.plot.histograms(activations, path=tmp_path / "acts.png")
    assert png_size(tmp_path / "acts.png") == (960, 260) and len(figure.axes) == 3
    for handle in handles:
        handle.remove()
    activations.clear()
    model(ms.tensor(points))
    assert activations == {}


def test_a_forward_hook_may_replace_the_output():
    layer = ms.nn.ReLU()
    layer.register_forward_hook(lambda module, inputs, output: output * 2)
    assert layer(ms.tensor([1.0, -1.0])).tolist() == [2.0, 0.0]


def test_gradient_pictures(tmp_path):
    model, points, labels = trained_mlp()
    with pytest.raises(ValueError, match="call backward"):
        ms.plot.gradient_flow(ms.nn.Linear(2, 2))
    ms.plot.gradient_histograms(model, path=tmp_path / "grads.png")
    ms.plot.gradient_flow(model, path=tmp_path / "flow.png")
    assert png_size(tmp_path / "grads.png") == (1280, 260)
    assert png_size(tmp_path / "flow.png") == (500, 400)


def test_attention_heatmap_and_decision_boundary(tmp_path):
    q = k = v = ms.randn(2, 5, 4)
    _, weights = ms.F.scaled_dot_product_attention(q, k, v, causal=True, need_weights=True)
    ms.plot.attention_heatmap(weights[0], tokens=list("hello"), path=tmp_path / "one.png")
    ms.plot.attention_heatmap(weights, path=tmp_path / "two.png")
    assert png_size(tmp_path / "one.png") == (400, 340) and png_size(tmp_path / "two.png") == (720, 340)
    model, points, labels = trained_mlp()
    predict = lambda grid: model(ms.tensor(grid)).numpy().argmax(1)   # noqa: E731
    ms.plot.decision_boundary(predict, points, labels, path=tmp_path / "boundary.png", resolution=50)
    assert png_size(tmp_path / "boundary.png") == (500, 450)
    with pytest.raises(ValueError, match=r"points must be \(N, 2\)"):
        ms.plot.decision_boundary(predict, np.zeros((3, 3)), [0, 1, 0])


def test_unlabelled_axes_and_missing_legends_are_found(monkeypatch, tmp_path):
    from minisora.plot.figure import finish, new_figure, unlabelled_axes

    figure = new_figure(4, 3)
    axes = figure.subplots()
    axes.plot([0, 1], [0, 1], label="a")
    axes.plot([0, 1], [1, 0], label="b")
    image = figure.colorbar(axes.imshow([[0, 1]]), ax=axes)   # a colour bar needs no label of its own
    assert unlabelled_axes(figure) == ["plot 1: no x label", "plot 1: no y label", "plot 1: 2 labelled lines but no legend"]
    monkeypatch.setenv("MINISORA_CHECK_FIGURES", "1")
    with pytest.raises(ValueError, match="figure x.png: unlabelled axes: plot 1: no x label"):
        finish(figure, str(tmp_path / "x.png"))
    axes.set_xlabel("t")
    axes.set_ylabel("y")
    axes.legend()
    assert unlabelled_axes(figure) == [] and image is not None
    finish(figure, str(tmp_path / "x.png"))


def test_training_curves_say_what_train_loss_is_and_count_in_whole_steps():
    history = [{"step": 250, "train_loss": 2.0, "val_loss": 2.1}, {"step": 500, "train_loss": 1.5, "val_loss": 1.7}]
    figure = ms.plot.training_curves(history, x="step")
    axes = figure.axes[0]
    labels = [line.get_label() for line in axes.get_lines()]
    assert labels == ["train (mean over the steps since the last point)", "validation"]
    assert all(float(tick).is_integer() for tick in axes.get_xticks())
