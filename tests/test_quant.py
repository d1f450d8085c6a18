"""minisora.quant on models: observers' scales and zero points against PyTorch's formulas, the int8
layers against their float twins, post-training quantization and QAT of a digits MLP and a
LeNet, quantized checkpoints that reload exactly, magnitude pruning, and `minisora quantize`
followed by `eval` and `generate`."""
import os

import numpy as np
import pytest

import minisora as ms
from minisora import F, nn, quant
from minisora.cli import main
from helpers import DEVICES


def test_observers_give_pytorchs_scale_and_zero_point():
    """PyTorch's MinMaxObserver on [-1, 3] (affine int8): s = 4/255, z = -128 - round(-1/s) = -64;
    symmetric: s = 3/127.5, z = 0; a range that misses 0 is widened to hold it."""
    observer = quant.MinMaxObserver()
    observer(np.array([-1.0, 0.5, 3.0]))
    scale, zero_point = observer.qparams()
    assert scale[0] == pytest.approx(4 / 255) and zero_point[0] == -64
    scale, zero_point = quant.qparams_from_range([-1.0], [3.0], symmetric=True)
    assert scale[0] == pytest.approx(3 / 127.5) and zero_point[0] == 0
    scale, zero_point = quant.qparams_from_range([2.0], [4.0], "uint8")
    assert scale[0] == pytest.approx(4 / 255) and zero_point[0] == 0
    per_channel = quant.MinMaxObserver(symmetric=True, axis=0)
    per_channel(np.array([[1.0, -2.0], [0.5, 0.25]]))
    np.testing.assert_allclose(per_channel.qparams()[0], [2 / 127.5, 0.5 / 127.5])
    with pytest.raises(RuntimeError, match="no numbers observed yet"):
        quant.MinMaxObserver().qparams()


def test_percentile_and_moving_average_observers():
    values = np.concatenate([np.linspace(-1, 1, 10001), [50.0]])
    observer = quant.PercentileObserver(99.0)
    observer(values)
    assert observer.hi < 1.0 < 50.0 and observer.lo > -1.0
    moving = quant.MovingAverageObserver(averaging_constant=0.5)
    moving(np.array([0.0, 2.0]))
    moving(np.array([0.0, 4.0]))
    assert float(moving.hi) == 3.0
    with pytest.raises(ValueError, match="percentile must be in"):
        quant.PercentileObserver(20.0)


@pytest.mark.parametrize("device", DEVICES)
def test_quantized_linear_layer_is_the_float_layer_on_quantized_numbers(device):
    """QuantizedLinear's output equals F.linear of the dequantized input and weight, to float32 rounding:
    the int8 product adds up exactly what the float product of the rounded numbers would."""
    ms.manual_seed(0)
    linear = nn.Linear(16, 8)
    x = ms.randn(3, 5, 16)
    layer = quant.QuantizedLinear.from_float(linear, (0.02, 3)).to(device)
    got = layer(x.to(device)).numpy()
    scales, _ = quant.weight_qparams(linear.weight.numpy())
    w = quant.dequantize(quant.quantize_per_channel(linear.weight, scales, np.zeros(8, np.int64), 0), scales,
                         np.zeros(8, np.int64), 0)
    xr = quant.dequantize(quant.quantize_per_tensor(x, 0.02, 3), 0.02, 3)
    expected = F.linear(xr.double(), w.double(), linear.bias.double()).numpy()
    assert got.shape == (3, 5, 8)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    dynamic = quant.QuantizedLinear.from_float(linear)
    np.testing.assert_allclose(dynamic(x).numpy(), F.linear(x, linear.weight, linear.bias).numpy(), atol=0.05)


def test_quantized_conv2d_is_the_float_convolution_on_quantized_numbers():
    ms.manual_seed(0)
    conv = nn.Conv2d(3, 4, 3, stride=2, padding=1)
    x = ms.rand(2, 3, 7, 6)
    layer = quant.QuantizedConv2d.from_float(conv, (1 / 255, -128))
    scales, zeros = quant.weight_qparams(conv.weight.numpy())
    w = quant.dequantize(quant.quantize_per_channel(conv.weight, scales, zeros, 0), scales, zeros, 0)
    xr = quant.dequantize(quant.quantize_per_tensor(x, 1 / 255, -128), 1 / 255, -128)
    expected = F.conv2d(xr.double(), w.double(), conv.bias.double(), stride=2, padding=1).numpy()
    np.testing.assert_allclose(layer(x).numpy(), expected, rtol=1e-5, atol=1e-5)


def digits_mlp(epochs=8):
    digits = ms.data.digits()
    train, val = ms.data.random_split(digits, [0.8, 0.2], seed=0)
    ms.manual_seed(0)
    model = ms.models.MLP(64, 32, 10)
    optimizer = ms.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for _ in range(epochs):
        for x, y in ms.data.DataLoader(train, 64, shuffle=True, seed=0):
            optimizer.zero_grad()
            F.cross_entropy(model(x), y).backward()
            optimizer.step()
    return model, train, val


def accuracy(model, val):
    x, y = val.batch(np.arange(len(val)))
    model.eval()
    with ms.no_grad():
        return float((model(ms.tensor(x)).numpy().argmax(1) == y).mean())


def copy_of(model):
    twin = ms.models.MLP(64, 32, 10)
    twin.load_state_dict(model.state_dict())
    return twin


def test_post_training_quantization_and_qat_keep_the_accuracy_and_reload_exactly(tmp_path):
    model, train, val = digits_mlp()
    base = accuracy(model, val)
    calibration = [ms.tensor(train.batch(np.arange(s, s + 128))[0]) for s in range(0, 512, 128)]
    int8 = quant.quantize_model(copy_of(model), calibration, observer="percentile")
    assert [type(m).__name__ for m in int8.layers] == ["Flatten", "QuantizedLinear", "ReLU", "QuantizedLinear"]
    assert abs(accuracy(int8, val) - base) <= 0.01
    qat = quant.prepare_qat(copy_of(model))
    optimizer = ms.optim.SGD(qat.parameters(), lr=0.01)
    for x, y in ms.data.DataLoader(train, 64, shuffle=True, seed=1):
        optimizer.zero_grad()
        F.cross_entropy(qat(x), y).backward()
        assert qat.layers[1].module.weight.grad is not None   # the straight-through gradient reached the weights
        optimizer.step()
    assert accuracy(quant.convert(qat), val) >= base - 0.02
    path = str(tmp_path / "int8.safetensors")
    ms.save({"model": int8.state_dict(), "layout": quant.layout(int8)}, path)
    saved = ms.load(path)
    assert saved["model"]["layers.1.weight"].dtype == np.int8
    reloaded = quant.restore_layout(ms.models.MLP(64, 32, 10), saved["layout"])
    reloaded.load_state_dict(saved["model"])
    x = ms.tensor(val.batch(np.arange(20))[0])
    assert np.array_equal(reloaded.eval()(x).numpy(), int8(x).numpy())


def test_dynamic_quantization_measures_each_batch():
    model, _, val = digits_mlp(epochs=3)
    base = accuracy(model, val)
    dynamic = quant.quantize_dynamic(copy_of(model))
    assert all(layer.dynamic for layer in (dynamic.layers[1], dynamic.layers[3]))
    assert quant.layout(dynamic)["layers.1"]["dynamic"] is True
    assert abs(accuracy(dynamic, val) - base) <= 0.01


def test_magnitude_pruning_zeros_the_smallest_weights():
    model, _, _ = digits_mlp(epochs=1)
    before = [m.weight.numpy().copy() for m in (model.layers[1], model.layers[3])]
    report = quant.prune_magnitude(model, 0.5)
    assert [(name, zeros, total) for name, zeros, total in report] == [("layers.1", 1024, 2048), ("layers.3", 160, 320)]
    kept = model.layers[1].weight.numpy()
    assert np.abs(before[0][kept == 0]).max() <= np.abs(before[0][kept != 0]).min()
    quant.prune_magnitude(model, 0.75, per_row=True)
    assert ((model.layers[1].weight.numpy() == 0).sum(axis=1) == 48).all()
    assert "total" in quant.sparsity_table(quant.sparsity(model))
    with pytest.raises(ValueError, match="amount must be a fraction"):
        quant.prune_magnitude(model, 1.0)


def test_convert_and_prepare_say_what_is_missing():
    with pytest.raises(ValueError, match="nothing is prepared"):
        quant.convert(ms.models.MLP(4, 3, 2))
    with pytest.raises(ValueError, match="has no Linear or Conv2d layer"):
        quant.prepare(nn.Sequential(nn.ReLU()))
    if ms.cuda.is_available():
        with pytest.raises(RuntimeError, match="QuantizedConv2d: runs on the CPU"):
            quant.QuantizedConv2d(1, 1, 1)(ms.zeros(1, 1, 2, 2).to("cuda"))


def test_quantize_command_then_eval(tmp_path, capsys):
    run = str(tmp_path / "mlp")
    assert main(["train", "mlp", "--epochs", "3", "--out", run, "--no-progress"]) == 0
    out = str(tmp_path / "mlp-int8")
    assert main(["quantize", "--checkpoint", run, "--calibrate", "200", "--qat-steps", "5", "--prune", "0.25",
                 "--out", out]) == 0
    text = capsys.readouterr().out
    assert "int8 PTQ, 25% pruned" in text and "int8 QAT (5 steps)" in text and "float32 + the same 5 steps" in text
    state = ms.load(os.path.join(out, "checkpoint.safetensors"))
    assert set(state["quantization"]["layout"]) == {"layers.1", "layers.3"}
    assert main(["quantize", "--checkpoint", os.path.join(run, "checkpoint.safetensors"), "--calibrate", "64",
                 "--force"]) == 0
    assert os.path.exists(os.path.join(run + "-int8", "checkpoint.safetensors"))   # the default: beside the run
    capsys.readouterr()
    assert main(["eval", "--checkpoint", out]) == 0
    assert "accuracy" in capsys.readouterr().out
    for argv, message in ((["train", "mlp", "--resume", "--out", out], "does not train; resume the float run"),
                          (["quantize", "--checkpoint", out, "--out", str(tmp_path / "again")], "already quantized"),
                          (["quantize", "--checkpoint", run, "--out", run, "--force"], "the float run's own folder"),
                          (["quantize", "--checkpoint", run, "--out", out], "already holds a run; pass --force")):
        assert main(argv) != 0
        assert message in capsys.readouterr().err


@pytest.mark.slow
def test_quantize_a_tiny_gpt_then_generate(tmp_path, capsys):
    run = str(tmp_path / "gpt")
    assert main(["train", "gpt", "--steps", "4", "--layers", "1", "--d-model", "16", "--heads", "2", "--context", "16",
                 "--batch-size", "4", "--eval-every", "4", "--out", run, "--no-progress"]) == 0
    out = str(tmp_path / "gpt-int8")
    assert main(["quantize", "--checkpoint", run, "--calibrate", "8", "--qat-steps", "2", "--out", out]) == 0
    assert "val loss" in capsys.readouterr().out
    assert main(["generate", "--checkpoint", out, "--tokens", "20"]) == 0
    assert len(capsys.readouterr().out) >= 20
