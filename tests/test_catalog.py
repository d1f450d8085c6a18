"""The whole catalog through the shared helpers: every particle runs forward and backward on every
backend it claims, against its NumPy reference, and through float64 finite differences. A particle
added without a reference, a backward, a GPU kernel or a sample below fails here."""
import numpy as np
import pytest

import minisora as ms
from minisora import F, autograd
from minisora.particles import catalog, get
from minisora.particles.dropout import Dropout
from minisora.particles.indexing import Index
from helpers import DEVICES, check_against_reference, check_gradcheck

rng = np.random.default_rng(0)
normal = lambda *shape: rng.standard_normal(shape)   # noqa: E731
positive = lambda *shape: rng.uniform(0.5, 2.0, shape)   # noqa: E731
probability = lambda *shape: rng.uniform(0.1, 0.9, shape)   # noqa: E731

# name -> (public call, inputs, the reference's parameters); integer and bool inputs get no gradient
SAMPLES = {
    "add": (lambda a, b: a + b, [normal(2, 3), normal(3)], {}),
    "sub": (lambda a, b: a - b, [normal(2, 3), normal(2, 1)], {}),
    "mul": (lambda a, b: a * b, [normal(2, 3), normal(3)], {}),
    "div": (lambda a, b: a / b, [normal(2, 3), positive(3)], {}),
    "pow_tensor": (lambda a, b: a ** b, [positive(2, 3), normal(2, 3)], {}),
    "where": (ms.where, [normal(2, 3) > 0, normal(2, 3), normal(3)], {}),
    "neg": (lambda x: -x, [normal(2, 3)], {}),
    "exp": (ms.exp, [normal(2, 3)], {}),
    "log": (ms.log, [positive(2, 3)], {}),
    "sqrt": (ms.sqrt, [positive(2, 3)], {}),
    "pow": (lambda x: x ** 3, [normal(2, 3)], {"exponent": 3.0}),
    "abs": (ms.abs, [normal(2, 3)], {}),
    "sign": (ms.sign, [normal(2, 3)], {}),
    "sin": (ms.sin, [normal(2, 3)], {}),
    "cos": (ms.cos, [normal(2, 3)], {}),
    "clamp": (lambda x: x.clamp(-0.5, 0.5), [normal(2, 3)], {"lo": -0.5, "hi": 0.5}),
    "maximum": (ms.maximum, [normal(2, 3), normal(3)], {}),
    "silu": (F.silu, [normal(2, 3)], {}),
    "softplus": (lambda x: F.softplus(x, beta=2.0), [normal(2, 3)], {"beta": 2.0, "threshold": 20.0}),
    "elu": (lambda x: F.elu(x, alpha=0.5), [normal(2, 3) + 0.05], {"alpha": 0.5}),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"), [normal(2, 3)], {}),
    "relu": (F.relu, [normal(2, 3) + 0.05], {}),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.2), [normal(2, 3) + 0.05], {"negative_slope": 0.2}),
    "sigmoid": (F.sigmoid, [normal(2, 3)], {}),
    "tanh": (F.tanh, [normal(2, 3)], {}),
    "gelu": (F.gelu, [normal(2, 3)], {}),
    "sum": (lambda x: x.sum(1), [normal(2, 3)], {"dims": (1,)}),
    "cumsum": (lambda x: x.cumsum(1), [normal(2, 3)], {"dim": 1}),
    "expand": (lambda x: x.expand(4, 2, 3), [normal(2, 1)], {"shape": (4, 2, 3)}),
    "mean": (lambda x: x.mean(0, keepdim=True), [normal(2, 3)], {"dims": (0,), "keepdim": True}),
    "max": (lambda x: x.max(1).values, [normal(2, 3)], {"dims": (1,)}),
    "softmax": (lambda x: F.softmax(x, -1), [normal(2, 3)], {"dim": -1}),
    "log_softmax": (lambda x: F.log_softmax(x, 0), [normal(2, 3)], {"dim": 0}),
    "matmul": (lambda a, b: a @ b, [normal(2, 3), normal(3, 4)], {}),
    "linear": (F.linear, [normal(2, 3), normal(4, 3), normal(4)], {}),
    "cross_entropy": (F.cross_entropy, [normal(3, 4), np.array([0, 3, 1])], {}),
    "mse_loss": (F.mse_loss, [normal(2, 3), normal(2, 3)], {}),
    "binary_cross_entropy": (F.binary_cross_entropy, [probability(2, 3), probability(2, 3)], {}),
    "binary_cross_entropy_with_logits": (F.binary_cross_entropy_with_logits, [normal(2, 3), probability(2, 3)], {}),
    "layer_norm": (lambda x, w, b: F.layer_norm(x, 3, w, b), [normal(2, 3), normal(3), normal(3)], {}),
    "embedding": (F.embedding, [np.array([[0, 2], [2, 1]]), normal(3, 4)], {}),
    "positional_encoding": (F.positional_encoding, [normal(2, 3, 4)], {}),
    "scaled_dot_product_attention": (lambda q, k, v: F.scaled_dot_product_attention(q, k, v, causal=True),
                                     [normal(2, 3, 4), normal(2, 3, 4), normal(2, 3, 2)], {"causal": True}),
    "multi_head_attention": (lambda qkv: F.multi_head_attention(qkv, 2, causal=True), [normal(2, 3, 12)],
                             {"heads": 2, "causal": True}),
    "dropout": (lambda x, noise: autograd.call(Dropout, x, noise, p=0.5), [normal(2, 3), rng.random((2, 3))],
                {"p": 0.5}),
    "index": (lambda x: autograd.call(Index, x, index=(slice(0, 2), [0, 0, 2])), [normal(3, 3)],
              {"index": (slice(0, 2), [0, 0, 2])}),
    "reshape": (lambda x: x.reshape(3, 2), [normal(2, 3)], {"shape": (3, 2)}),
    "permute": (lambda x: x.permute(1, 0), [normal(2, 3)], {"dims": (1, 0)}),
    "cat": (lambda a, b: ms.cat([a, b], dim=1), [normal(2, 3), normal(2, 1)], {"dim": 1}),
    "stack": (lambda a, b: ms.stack([a, b], dim=0), [normal(2, 3), normal(2, 3)], {"dim": 0}),
    "rnn_cell": (lambda gx, h, w, b: F.rnn_step(gx, h, w, b, active=2), [normal(3, 2), normal(3, 2), normal(2, 2),
                                                                         normal(2)], {"active": 2}),
    "gru_cell": (lambda gx, h, w, b: F.gru_step(gx, h, w, b, active=2), [normal(3, 6), normal(3, 2), normal(6, 2),
                                                                         normal(6)], {"active": 2}),
    "conv2d": (lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1, groups=2),
               [normal(2, 4, 5, 4), normal(2, 2, 3, 3), normal(2)], {"stride": 2, "padding": 1, "groups": 2}),
    "conv1d": (lambda x, w, b: F.conv1d(x, w, b, padding="same", dilation=2), [normal(2, 3, 6), normal(2, 3, 2),
                                                                             normal(2)], {"padding": "same", "dilation": 2}),
    "conv_transpose2d": (lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1, groups=2),
                         [normal(2, 4, 3, 2), normal(4, 1, 3, 3), normal(2)], {"stride": 2, "padding": 1, "groups": 2}),
    "max_pool2d": (lambda x: F.max_pool2d(x, 2, 1, 1), [normal(2, 2, 3, 4)], {"kernel_size": 2, "stride": 1, "padding": 1}),
    "avg_pool2d": (lambda x: F.avg_pool2d(x, 3, 2, 1), [normal(2, 2, 5, 4)], {"kernel_size": 3, "stride": 2, "padding": 1}),
    "adaptive_avg_pool2d": (lambda x: F.adaptive_avg_pool2d(x, (2, 3)), [normal(2, 2, 5, 4)], {"output_size": (2, 3)}),
    "batch_norm": (lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), [normal(3, 2, 4), normal(2),
                                                                                    normal(2)], {"training": True}),
    "gather_rows": (F.gather_rows, [normal(3, 2), np.array([2, 0, 2, 1])], {}),
    "scatter_add": (lambda s, i: F.scatter_add(s, i, 3), [normal(4, 2), np.array([2, 0, 2, 2])], {"num_nodes": 3}),
    "scatter_mean": (lambda s, i: F.scatter_mean(s, i, 3), [normal(4, 2), np.array([2, 0, 2, 2])], {"num_nodes": 3}),
    "scatter_max": (lambda s, i: F.scatter_max(s, i, 3), [normal(4, 2), np.array([2, 0, 2, 2])], {"num_nodes": 3}),
    "segment_softmax": (lambda s, i: F.segment_softmax(s, i, 3), [normal(4, 2), np.array([2, 0, 2, 2])],
                        {"num_nodes": 3}),
    "spmm": (lambda w, x, e: F.spmm(e, x, w), [normal(4), normal(3, 2),
                                                                  np.array([[0, 1, 2, 2], [2, 0, 2, 1]])], {}),
}
# Particles whose results are not one float tensor, each checked by its own few lines below.
SPECIAL = {"compare", "split", "cast", "unbind", "lstm_cell",   # (unbind, lstm_cell: test_recurrent.py)
           # integer results, or a straight-through gradient no finite difference measures: test_quantization.py
           "quantize", "dequantize", "fake_quantize", "quantized_linear"}
NOT_DIFFERENTIABLE = {"dropout": [True, False]}   # the noise is an input without a gradient
REFUSES_NON_FINITE = {"binary_cross_entropy"}     # its input must be probabilities, as in PyTorch
ENTRIES = {entry.name: entry for entry in catalog()}


def test_every_particle_has_a_sample_and_everything_a_particle_needs():
    assert set(SAMPLES) | SPECIAL == set(ENTRIES)
    for name, entry in ENTRIES.items():
        particle = entry.particle
        assert entry.backends == ("reference", "cpu", "cuda"), f"{name}: runs on {entry.backends}"
        assert callable(getattr(particle, "reference", None)), f"{name} has no NumPy reference"
        assert particle.backward is not ms.particles.Particle.backward, f"{name} has no backward"
        if not entry.gradient.startswith("none"):
            assert callable(getattr(particle, "reference_backward", None)), f"{name} has no NumPy backward"
        for kernel in particle.every_kernel():
            assert kernel.has("cpu") and kernel.has("cuda"), f"{name}: kernel {kernel.name} lacks a target"


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_particle_matches_its_reference(name, device):
    fn, arrays, params = SAMPLES[name]
    differentiable = NOT_DIFFERENTIABLE.get(name) or [np.asarray(a).dtype.kind == "f" for a in arrays]
    check_against_reference(get(name), fn, arrays, params, "float64", differentiable=differentiable, device=device)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_particle_passes_gradcheck(name):
    fn, arrays, params = SAMPLES[name]
    check_gradcheck(fn, arrays, differentiable=NOT_DIFFERENTIABLE.get(name))


@pytest.mark.parametrize("device", DEVICES)
def test_compare_split_and_cast(device):
    a, b = normal(2, 3), normal(3)
    for op in get("compare").kernel_of:
        got = autograd.call(get("compare"), ms.tensor(a, device=device), ms.tensor(b, device=device), op=op)
        np.testing.assert_array_equal(got.numpy(), get("compare").reference(a, b, op), err_msg=op)
    x = ms.tensor(normal(2, 5), dtype="float64", device=device, requires_grad=True)
    pieces = x.split([2, 3], dim=1)
    for piece, expected in zip(pieces, get("split").reference(x.numpy(), [2, 3], 1)):
        np.testing.assert_array_equal(piece.numpy(), expected)
    (pieces[1] * 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), get("split").reference_backward(
        x.numpy(), [np.zeros((2, 2)), np.full((2, 3), 2.0)], [2, 3], 1)[0])
    y = ms.tensor(normal(3), dtype="float64", device=device, requires_grad=True)
    cast = y.float()
    assert cast.dtype == np.float32 and np.array_equal(cast.numpy(), get("cast").reference(y.numpy(), np.float32))
    cast.backward(ms.tensor(np.ones(3, np.float32), device=device))
    assert y.grad.dtype == np.float64 and y.grad.tolist() == [1.0, 1.0, 1.0]


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_nan_and_inf_propagate_as_in_the_reference(name, device, value):
    """One NaN or infinity in the first float input: the output is NaN (and +-inf) exactly where the
    NumPy reference's is: nothing swallowed, nothing invented."""
    fn, arrays, params = SAMPLES[name]
    arrays = [np.array(a) for a in arrays]
    first = next(i for i, a in enumerate(arrays) if a.dtype.kind == "f")
    arrays[first].flat[arrays[first].size // 2] = value
    tensors = [ms.tensor(a, dtype="float64" if a.dtype.kind == "f" else None, device=device) for a in arrays]
    if name in REFUSES_NON_FINITE:
        with pytest.raises(ValueError, match=f"^{name}: "):
            fn(*tensors)
        return
    with np.errstate(all="ignore"):
        expected = np.asarray(get(name).reference(*arrays, **params))
        got = fn(*tensors).numpy()
    assert np.array_equal(np.isnan(got), np.isnan(expected)), f"{name}: NaN at {np.isnan(got)}, reference {np.isnan(expected)}"
    assert np.array_equal(np.isposinf(got), np.isposinf(expected)) and np.array_equal(np.isneginf(got), np.isneginf(expected))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_particle_takes_an_empty_batch_or_names_why_not(name, device):
    """Each input's first dim set to 0 (an empty batch): the particle answers as PyTorch does, or
    raises an error of its own (a minisora.Error naming it), never a raw NumPy or Numba error."""
    fn, arrays, params = SAMPLES[name]
    empty = [np.asarray(a)[:0] if np.ndim(a) else np.asarray(a) for a in arrays]
    tensors = [ms.tensor(a, dtype="float64" if a.dtype.kind == "f" else None, device=device,
                         requires_grad=a.dtype.kind == "f") for a in empty]
    try:
        with np.errstate(all="ignore"):
            out = fn(*tensors)
            out.sum().backward()
    except ms.Error as error:
        assert str(error).startswith(f"{name}: ") or name in str(error), f"{name}: {error}"
        return
    for t in tensors:
        assert t.grad is None or t.grad.shape == t.shape, f"{name}: gradient of shape {t.grad.shape} for {t.shape}"
