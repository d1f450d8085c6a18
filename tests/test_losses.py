import math

import numpy as np
import pytest
from hypothesis import assume, given, strategies as st

import minisora as ms
from minisora import F
from minisora.particles import get
from helpers import DEVICES, LAYOUTS, check_against_reference, check_gradcheck, values

REDUCTIONS = st.sampled_from(["mean", "sum", "none"])


@pytest.mark.parametrize("device", DEVICES)
@given(rows=st.integers(1, 6), classes=st.integers(1, 7), seed=st.integers(0, 2**16), reduction=REDUCTIONS,
       layout=st.sampled_from(LAYOUTS), dtype=st.sampled_from(["float32", "float64"]))
def test_cross_entropy_matches_reference(device, rows, classes, seed, reduction, layout, dtype):
    targets = np.random.default_rng(seed).integers(0, classes, rows)
    check_against_reference(get("cross_entropy"), lambda x, t: F.cross_entropy(x, t, reduction=reduction),
                            [values(seed, (rows, classes), -4, 4), targets], {"reduction": reduction}, dtype,
                            [layout, "contiguous"], differentiable=[True, False], device=device)


@pytest.mark.parametrize("device", DEVICES)
@given(rows=st.integers(1, 6), classes=st.integers(1, 7), seed=st.integers(0, 2**16), reduction=REDUCTIONS,
       layout=st.sampled_from(LAYOUTS), dtype=st.sampled_from(["float32", "float64"]),
       ignore_index=st.sampled_from([-100, 0, 2]), ignored=st.floats(0, 1))
def test_cross_entropy_with_ignored_rows_matches_reference(device, rows, classes, seed, reduction, layout, dtype,
                                                           ignore_index, ignored):
    # ignore_index may be a real class id too (PyTorch allows it: 0 for padding), or one never drawn
    rng = np.random.default_rng(seed)
    targets = np.where(rng.random(rows) < ignored, ignore_index, rng.integers(0, classes, rows))
    assume(reduction != "mean" or (targets != ignore_index).any())   # (a mean of no rows is NaN: tested below)
    check_against_reference(get("cross_entropy"),
                            lambda x, t: F.cross_entropy(x, t, reduction=reduction, ignore_index=ignore_index),
                            [values(seed, (rows, classes), -4, 4), targets],
                            {"reduction": reduction, "ignore_index": ignore_index}, dtype, [layout, "contiguous"],
                            differentiable=[True, False], device=device)


@pytest.mark.parametrize("device", DEVICES)
def test_cross_entropy_ignored_rows_get_exactly_zero_and_are_not_counted(device):
    # an MLM's loss: 3 of 8 positions chosen; even inf or NaN logits on the others change nothing
    x = np.random.default_rng(3).standard_normal((8, 5))
    x[0, 1], x[6, 2] = np.inf, np.nan
    t = np.array([-100, 2, -100, -100, 4, 0, -100, -100])
    logits = ms.tensor(x, dtype="float64", device=device, requires_grad=True)
    loss = F.cross_entropy(logits, ms.tensor(t, device=device))
    kept = t != -100
    assert loss.item() == pytest.approx(_cross_entropy_oracle(x[kept], t[kept]), rel=1e-12)
    loss.backward()
    grad = logits.grad.numpy()
    assert (grad[~kept] == 0.0).all() and not np.signbit(grad[~kept]).any()
    np.testing.assert_allclose(grad[kept].sum(1), 0.0, atol=1e-15)   # each softmax row minus its one-hot
    everything = F.cross_entropy(ms.tensor(x, device=device), ms.tensor(np.full(8, -100), device=device), reduction="sum")
    assert everything.item() == 0.0


@given(rows=st.integers(1, 4), classes=st.integers(1, 5), seed=st.integers(0, 2**16), reduction=REDUCTIONS)
def test_cross_entropy_gradcheck(rows, classes, seed, reduction):
    targets = ms.tensor(np.random.default_rng(seed).integers(0, classes, rows))
    check_gradcheck(lambda x: F.cross_entropy(x, targets, reduction=reduction), [values(seed, (rows, classes))])


def test_cross_entropy_hand_computed():
    assert F.cross_entropy(ms.tensor([[0.0, 0.0]]), ms.tensor([0])).item() == pytest.approx(math.log(2))


def test_cross_entropy_float32_fast_exp_is_tight_over_a_wide_range_and_keeps_nan():
    # float32 logits take exp_nonpositive instead of the library exp: wide spreads, one row
    # whose terms underflow (all but the max), and a NaN row that must stay NaN
    rng = np.random.default_rng(0)
    logits = rng.uniform(-60, 60, (64, 50))
    logits[1] = [0.0] + [-100.0] * 49
    logits[2, 7] = np.nan
    targets = rng.integers(0, 50, 64)
    x = ms.tensor(logits.astype(np.float32), requires_grad=True)
    loss = F.cross_entropy(x, ms.tensor(targets), reduction="none")
    loss.sum().backward()
    exact = logits.astype(np.float32).astype(np.float64)
    shifted = exact - exact.max(1, keepdims=True)
    log_softmax = shifted - np.log(np.exp(shifted).sum(1, keepdims=True))
    expected = -log_softmax[np.arange(64), targets]
    grad = np.exp(log_softmax)
    grad[np.arange(64), targets] -= 1
    keep = np.arange(64) != 2
    assert np.isnan(loss.numpy()[2]) and np.isnan(x.grad.numpy()[2]).all()
    np.testing.assert_allclose(loss.numpy()[keep], expected[keep], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(x.grad.numpy()[keep], grad[keep], rtol=1e-5, atol=1e-7)


def test_cross_entropy_bad_targets():
    logits = ms.zeros(2, 3)
    with pytest.raises(IndexError, match=r"^cross_entropy: target class id 3 is out of range \[0, 3\) for logits float32\[2, 3\]"):
        F.cross_entropy(logits, ms.tensor([0, 3]))
    with pytest.raises(IndexError, match=r"^cross_entropy: target class id -1"):
        F.cross_entropy(logits, ms.tensor([-1, 0]))
    with pytest.raises(ValueError, match=r"^cross_entropy: probability targets \(2,\) must have the shape of logits"):
        F.cross_entropy(logits, ms.tensor([0.0, 1.0]))   # float targets are class probabilities, as in PyTorch
    with pytest.raises(ValueError, match=r"^cross_entropy: targets int64\[3\] must have shape \(2,\)"):
        F.cross_entropy(logits, ms.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match=r"^cross_entropy: reduction must be one of"):
        F.cross_entropy(logits, ms.tensor([0, 1]), reduction="avg")
    with pytest.raises(IndexError, match=r"^cross_entropy: target class id -100 is out of range"):
        F.cross_entropy(logits, ms.tensor([-100, 0]), ignore_index=-1)   # only ignore_index is let through
    with pytest.raises(TypeError, match=r"^cross_entropy: ignore_index must be an int, got 1.5"):
        F.cross_entropy(logits, ms.tensor([0, 1]), ignore_index=1.5)


PAIR_LOSSES = [
    ("mse_loss", F.mse_loss, (-2, 2), (-2, 2)),
    ("binary_cross_entropy", F.binary_cross_entropy, (0.05, 0.95), (0, 1)),
    ("binary_cross_entropy_with_logits", F.binary_cross_entropy_with_logits, (-4, 4), (0, 1)),
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name, fn, x_range, y_range", PAIR_LOSSES, ids=[p[0] for p in PAIR_LOSSES])
@given(shape=st.lists(st.sampled_from([1, 2, 3, 5]), min_size=1, max_size=3).map(tuple), seed=st.integers(0, 2**16),
       reduction=REDUCTIONS, layouts=st.tuples(*[st.sampled_from(LAYOUTS)] * 2), dtype=st.sampled_from(["float32", "float64"]))
def test_pair_losses_match_reference(device, name, fn, x_range, y_range, shape, seed, reduction, layouts, dtype):
    arrays = [values(seed, shape, *x_range), values(seed + 1, shape, *y_range)]
    check_against_reference(get(name), lambda x, y: fn(x, y, reduction=reduction), arrays, {"reduction": reduction},
                            dtype, list(layouts), device=device)


@pytest.mark.parametrize("name, fn, x_range, y_range", PAIR_LOSSES, ids=[p[0] for p in PAIR_LOSSES])
@given(seed=st.integers(0, 2**16), reduction=REDUCTIONS)
def test_pair_losses_gradcheck(name, fn, x_range, y_range, seed, reduction):
    check_gradcheck(lambda x, y: fn(x, y, reduction=reduction), [values(seed, (2, 3), *x_range), values(seed + 1, (2, 3), *y_range)])


@pytest.mark.parametrize("name, fn, x_range, y_range", PAIR_LOSSES, ids=[p[0] for p in PAIR_LOSSES])
def test_pair_losses_bad_input(name, fn, x_range, y_range):
    with pytest.raises(ValueError, match=rf"^{name}: input float32\[2, 3\] and target float32\[3\] must have the same shape"):
        fn(ms.full((2, 3), 0.5), ms.full((3,), 0.5))
    with pytest.raises(TypeError, match=rf"^{name}: expected float32 or float64 input, got int64\[2\]"):
        fn(ms.tensor([0, 1]), ms.tensor([0.0, 1.0]))


def test_binary_cross_entropy_refuses_non_probabilities_and_clamps_logs():
    with pytest.raises(ValueError, match=r"^binary_cross_entropy: input float32\[2\] must hold probabilities"):
        F.binary_cross_entropy(ms.tensor([0.5, 1.5]), ms.tensor([0.0, 1.0]))
    assert F.binary_cross_entropy(ms.tensor([0.0]), ms.tensor([1.0])).item() == pytest.approx(100.0)


def _cross_entropy_oracle(x, t, ignore_index=-100, smoothing=0.0, reduction="mean"):
    """PyTorch's formula, in NumPy: (1 - e) nll + e mean_j(-log p_j), rows with ignore_index dropped."""
    log_p = x - x.max(1, keepdims=True)
    log_p = log_p - np.log(np.exp(log_p).sum(1, keepdims=True))
    keep = t != ignore_index
    loss = (-(1 - smoothing) * log_p[np.arange(len(t)), np.where(keep, t, 0)] - smoothing * log_p.mean(1)) * keep
    return {"mean": loss.sum() / keep.sum(), "sum": loss.sum(), "none": loss}[reduction]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_cross_entropy_ignore_index_and_label_smoothing_match_the_formula(device, reduction, smoothing):
    x = np.random.default_rng(5).standard_normal((5, 4))
    t = np.array([0, 3, -100, 1, 2])
    logits = ms.tensor(x, dtype="float64", device=device, requires_grad=True)
    loss = F.cross_entropy(logits, ms.tensor(t, device=device), reduction=reduction, label_smoothing=smoothing)
    np.testing.assert_allclose(loss.numpy(), _cross_entropy_oracle(x, t, smoothing=smoothing, reduction=reduction),
                               rtol=1e-12)
    loss.sum().backward()
    assert not logits.grad.numpy()[2].any()   # the ignored row gets no gradient
    check_gradcheck(lambda z: F.cross_entropy(z, ms.tensor(t), reduction=reduction, label_smoothing=smoothing), [x])


@pytest.mark.parametrize("device", DEVICES)
def test_cross_entropy_takes_spatial_logits_probabilities_and_one_sample(device):
    rng = np.random.default_rng(6)
    x, t = rng.standard_normal((2, 3, 4)), rng.integers(0, 3, (2, 4))
    got = F.cross_entropy(ms.tensor(x, dtype="float64", device=device), ms.tensor(t, device=device), reduction="none")
    rows = np.moveaxis(x, 1, -1).reshape(-1, 3)
    np.testing.assert_allclose(got.numpy(), _cross_entropy_oracle(rows, t.reshape(-1), reduction="none").reshape(2, 4),
                               rtol=1e-12)
    p = rng.dirichlet(np.ones(3), 2)
    soft = F.cross_entropy(ms.tensor(x[:, :, 0], dtype="float64", device=device), ms.tensor(p, dtype="float64",
                                                                                           device=device))
    log_p = x[:, :, 0] - np.log(np.exp(x[:, :, 0]).sum(1, keepdims=True))
    assert soft.item() == pytest.approx(-(p * log_p).sum(1).mean(), rel=1e-12)
    hard = F.cross_entropy(ms.tensor(x[:, :, 0], dtype="float64", device=device), ms.tensor(np.eye(3)[[1, 2]],
                                                                                           dtype="float64", device=device))
    assert hard.item() == pytest.approx(F.cross_entropy(ms.tensor(x[:, :, 0], dtype="float64"), ms.tensor([1, 2])).item())
    one = F.cross_entropy(ms.tensor(x[0, :, 0], dtype="float64", device=device), ms.tensor(2, device=device))
    assert one.shape == () and one.item() == pytest.approx(-log_p[0, 2])
    assert np.isnan(F.cross_entropy(ms.tensor(x[:, :, 0], device=device), ms.tensor([-100, -100], device=device)).item())


@pytest.mark.parametrize("device", DEVICES)
def test_nll_loss_after_log_softmax_is_cross_entropy(device):
    x = np.random.default_rng(7).standard_normal((4, 5))
    t = np.array([4, 0, 2, 2])
    logits = ms.tensor(x, dtype="float64", device=device)
    assert F.nll_loss(logits.log_softmax(1), ms.tensor(t, device=device)).item() == pytest.approx(
        F.cross_entropy(logits, ms.tensor(t, device=device)).item(), rel=1e-12)
    check_gradcheck(lambda z: F.nll_loss(z, ms.tensor(t), ignore_index=2), [x])
    with pytest.raises(IndexError, match=r"^nll_loss: target class id 5 is out of range \[0, 5\)"):
        F.nll_loss(logits, ms.tensor([5, 0, 0, 0], device=device))
    with pytest.raises(TypeError, match="^nll_loss: targets must be int64 class ids"):
        F.nll_loss(logits, ms.tensor([0.0, 1.0, 1.0, 1.0], device=device))
    with pytest.raises(ValueError, match=r"^cross_entropy: label_smoothing must be in \[0, 1\], got 1.5"):
        F.cross_entropy(logits, ms.tensor(t, device=device), label_smoothing=1.5)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_with_ignore_index_matches_pytorch(reduction):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(11)
    x = rng.standard_normal((7, 5)).astype(np.float32)
    t = np.array([1, -100, 4, 0, -100, -100, 2])
    ours = ms.tensor(x, requires_grad=True)
    loss = F.cross_entropy(ours, ms.tensor(t), reduction=reduction)
    theirs = torch.tensor(x, requires_grad=True)
    expected = torch.nn.functional.cross_entropy(theirs, torch.tensor(t), reduction=reduction, ignore_index=-100)
    np.testing.assert_allclose(loss.numpy(), expected.detach().numpy(), rtol=1e-6, atol=1e-7)
    upstream = rng.standard_normal(loss.shape).astype(np.float32)
    loss.backward(ms.tensor(upstream))
    expected.backward(torch.tensor(upstream))
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-6, atol=1e-7)
