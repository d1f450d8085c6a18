"""batch_norm and BatchNorm1d/2d: PyTorch's numbers over training steps and eval (golden/batch_norm.npz,
float64, no torch needed), running statistics, the kernel against the reference on every device,
float64 gradient checks in both modes, and clear errors. (The catalog adds NaN/inf, empty batch.)"""
import os

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import minisora as ms
from minisora import F
from minisora.particles import get
from helpers import DEVICES, TOLERANCE, check_gradcheck, layout_tensor

GOLDEN = np.load(os.path.join(os.path.dirname(__file__), "golden", "batch_norm.npz"))
CASES = {"2d": ("BatchNorm2d", 0.1), "1d": ("BatchNorm1d", 0.3), "1d_cumulative": ("BatchNorm1d", None)}


@pytest.mark.parametrize("name", sorted(CASES))
def test_three_training_steps_and_eval_match_pytorch(name):
    kind, momentum = CASES[name]
    layer = getattr(ms.nn, kind)(3, momentum=momentum, dtype="float64")
    layer.load_state_dict({"weight": ms.tensor(GOLDEN[f"{name}/weight"]), "bias": ms.tensor(GOLDEN[f"{name}/bias"]),
                           "running_mean": ms.zeros(3, dtype="float64"), "running_var": ms.ones(3, dtype="float64"),
                           "num_batches_tracked": ms.tensor(0)})
    for step in range(4):
        if step == 3:
            layer.eval()
        layer.zero_grad()
        x = ms.tensor(GOLDEN[f"{name}/{step}/input"], requires_grad=True)
        out = layer(x)
        out.backward(ms.tensor(GOLDEN[f"{name}/{step}/out_weight"]))
        for key, got in (("output", out), ("grad_input", x.grad), ("grad_weight", layer.weight.grad),
                         ("grad_bias", layer.bias.grad), ("running_mean", layer.running_mean),
                         ("running_var", layer.running_var)):
            np.testing.assert_allclose(got.numpy(), GOLDEN[f"{name}/{step}/{key}"], rtol=1e-10, atol=1e-12,
                                       err_msg=f"{name} step {step} {key}")
    assert int(layer.num_batches_tracked.numpy()) == 3


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("training", [True, False])
def test_kernels_match_the_reference_and_update_the_running_statistics(training, dtype, device):
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((3, 2, 4, 5)) * 3 + 1, rng.standard_normal(2), rng.standard_normal(2)
    mean, var = rng.standard_normal(2), rng.uniform(0.5, 2, 2)
    tensors = [ms.tensor(a, dtype=dtype, device=device, requires_grad=True) for a in (x, w, b)]
    running = [ms.tensor(a, dtype=dtype, device=device) for a in (mean, var)]
    out = F.batch_norm(tensors[0], *running, tensors[1], tensors[2], training=training, momentum=0.2)
    tolerance = TOLERANCE["float64"] if dtype == "float64" else dict(rtol=1e-4, atol=1e-5)
    expected = get("batch_norm").reference(x, w, b, mean, var, training=training)
    np.testing.assert_allclose(out.numpy(), expected, **tolerance)
    if training:   # moved towards the batch's statistics: the variance unbiased, as PyTorch's
        np.testing.assert_allclose(running[0].numpy(), 0.8 * mean + 0.2 * x.mean((0, 2, 3)), **tolerance)
        np.testing.assert_allclose(running[1].numpy(), 0.8 * var + 0.2 * x.var((0, 2, 3), ddof=1), **tolerance)
    else:
        np.testing.assert_allclose(running[0].numpy(), mean, **tolerance)
    grad = rng.standard_normal(x.shape)
    out.backward(ms.tensor(grad, dtype=dtype, device=device))
    expected_grads = get("batch_norm").reference_backward(x, w, b, mean, var, grad, training=training)
    for t, g in zip(tensors, expected_grads):
        np.testing.assert_allclose(t.grad.numpy(), g, **tolerance)


@settings(max_examples=10, deadline=None)
@given(shape=st.sampled_from([(2, 1), (3, 2), (1, 2, 3), (2, 3, 2, 2), (1, 1, 1, 4)]), training=st.booleans(),
       layout=st.sampled_from(["contiguous", "transposed", "strided"]))
def test_gradcheck_on_drawn_shapes_both_modes(shape, training, layout):
    rng = np.random.default_rng(len(shape))
    x, w, b = rng.standard_normal(shape), rng.standard_normal(shape[1]), rng.standard_normal(shape[1])
    running = [ms.tensor(rng.standard_normal(shape[1])), ms.tensor(rng.uniform(0.5, 2, shape[1]))]
    view, _ = layout_tensor(x, layout, "float64")
    np.testing.assert_allclose(F.batch_norm(view, *running, ms.tensor(w), ms.tensor(b), training=training,
                                            momentum=0.0).numpy(),
                               get("batch_norm").reference(x, w, b, *(r.numpy() for r in running), training=training),
                               **TOLERANCE["float64"])
    check_gradcheck(lambda *t: F.batch_norm(t[0], *running, t[1], t[2], training=training, momentum=0.0), [x, w, b])


def test_layers_keep_pytorchs_buffers_and_refuse_bad_input():
    layer = ms.nn.BatchNorm2d(4)
    assert list(layer.state_dict()) == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    assert layer.weight.numpy().tolist() == [1.0] * 4 and layer.running_var.numpy().tolist() == [1.0] * 4
    assert [n for n, _ in ms.nn.BatchNorm1d(3, affine=False).named_parameters()] == []
    assert list(ms.nn.BatchNorm1d(3, track_running_stats=False).state_dict()) == ["weight", "bias"]
    with pytest.raises(ValueError, match=r"^BatchNorm2d\(4\): input of shape \(2, 3, 5, 5\) must be 4-d with 4 channels"):
        layer(ms.randn(2, 3, 5, 5))
    with pytest.raises(ValueError, match=r"^BatchNorm1d\(4\): input of shape \(2, 4, 5, 5\) must be 2-d or 3-d"):
        ms.nn.BatchNorm1d(4)(ms.randn(2, 4, 5, 5))
    with pytest.raises(ValueError, match=r"^batch_norm: expected more than 1 value per channel when training"):
        ms.nn.BatchNorm1d(4)(ms.randn(1, 4))
    with pytest.raises(ValueError, match=r"^batch_norm: weight, bias and running statistics must be \(3,\)"):
        F.batch_norm(ms.randn(2, 3), None, None, ms.ones(2), ms.zeros(2), training=True)
    with pytest.raises(TypeError, match=r"^batch_norm: expected float32 or float64 input, got int64"):
        F.batch_norm(ms.tensor(np.ones((2, 3), np.int64)), None, None, training=True)
    eval_layer = ms.nn.BatchNorm1d(2).eval()
    x = ms.randn(3, 2)
    np.testing.assert_allclose(eval_layer(x).numpy(), x.numpy() / np.sqrt(1 + 1e-5), rtol=1e-6)   # fresh running stats
