"""Optimizers, clipping and schedules against hand-computed values, their NumPy references and
PyTorch's trajectories (golden/optimizers.npz, made by golden/make_optimizers.py)."""
import copy
import math
import os

import numpy as np
import pytest
from hypothesis import given, strategies as st

import minisora as ms
from minisora.optim.adadelta import adadelta_reference
from minisora.optim.adam import adam_reference
from minisora.optim.rmsprop import rmsprop_reference
from minisora.optim.sgd import sgd_reference
from golden import fine_tuning_cases as tuning
from golden.optimizer_cases import CASES
from helpers import shapes

GOLDEN = os.path.join(os.path.dirname(__file__), "golden", "optimizers.npz")


def parameter(values, dtype="float64"):
    return ms.nn.Parameter(ms.tensor(np.asarray(values, dtype=dtype), dtype=dtype))


def run(optimizer, param, grads):
    """Apply optimizer.step() once per gradient; return the parameter after each step."""
    trajectory = []
    for grad in grads:
        param.grad = ms.tensor(np.asarray(grad, dtype=param.dtype), dtype=param.dtype)
        optimizer.step()
        trajectory.append(param.numpy().copy())
    return np.array(trajectory)


# --- hand-computed steps ------------------------------------------------------------------
def test_sgd_one_step_by_hand():
    # w = 2, lr = 0.1, dL/dw = 0.5: w - lr * grad = 2 - 0.05 = 1.95
    w = parameter([2.0])
    run(ms.optim.SGD([w], lr=0.1), w, [[0.5]])
    assert w.item() == pytest.approx(1.95, abs=1e-15)


def test_sgd_momentum_three_steps_by_hand():
    # v1 = g1 = 1;  v2 = 0.9 + 2 = 2.9;  v3 = 2.61 - 1 = 1.61;  w = 1 - 0.1 (1 + 2.9 + 1.61) = 0.449
    w = parameter([1.0])
    trajectory = run(ms.optim.SGD([w], lr=0.1, momentum=0.9), w, [[1.0], [2.0], [-1.0]])
    np.testing.assert_allclose(trajectory[:, 0], [0.9, 0.61, 0.449], rtol=0, atol=1e-14)


def test_sgd_nesterov_and_weight_decay_by_hand():
    # g = 1 + 0.5 * 2 = 2; v = 2; step g + 0.5 v = 3; w = 2 - 0.1 * 3 = 1.7
    w = parameter([2.0])
    run(ms.optim.SGD([w], lr=0.1, momentum=0.5, nesterov=True, weight_decay=0.5), w, [[1.0]])
    assert w.item() == pytest.approx(1.7, abs=1e-14)


def test_adam_first_step_moves_by_lr_times_sign():
    # m1 = (1-b1) g, v1 = (1-b2) g^2: bias-corrected m/sqrt(v) = g/|g|, so the step is lr g / (|g| + eps)
    w = parameter([1.0, -2.0, 0.0])
    g = np.array([0.3, -4.0, 2.0])
    run(ms.optim.Adam([w], lr=0.01, eps=1e-8), w, [g])
    np.testing.assert_allclose(w.numpy(), [1.0, -2.0, 0.0] - 0.01 * g / (np.abs(g) + 1e-8), rtol=0, atol=1e-15)


def test_adamw_decays_the_weight_before_the_adam_step():
    w = parameter([2.0])
    run(ms.optim.AdamW([w], lr=0.1, weight_decay=0.5), w, [[1.0]])
    # p * (1 - lr wd) = 2 * 0.95 = 1.9, then the Adam step of size lr: 1.9 - 0.1 / (1 + 1e-8)
    assert w.item() == pytest.approx(1.9 - 0.1 / (1 + 1e-8), abs=1e-14)


def test_adadelta_first_step_by_hand():
    # s = 0.1 g^2 = 0.4; d = sqrt(0 + eps)/sqrt(0.4 + eps) * 2; w = 1 - 1.0 d
    w = parameter([1.0])
    run(ms.optim.Adadelta([w]), w, [[2.0]])
    assert w.item() == pytest.approx(1.0 - math.sqrt(1e-6) / math.sqrt(0.4 + 1e-6) * 2.0, abs=1e-15)


def test_rmsprop_first_step_by_hand():
    # s = 0.01 g^2; step = lr g / (sqrt(s) + eps) = 0.01 * 2 / (0.2 + 1e-8)
    w = parameter([1.0])
    run(ms.optim.RMSprop([w]), w, [[2.0]])
    assert w.item() == pytest.approx(1.0 - 0.02 / (0.2 + 1e-8), abs=1e-15)


# --- kernels vs the NumPy references, several steps, drawn shapes ---------------------------
def reference_trajectory(name, start, grads, kw):
    param, out = start.copy(), []
    state = [np.zeros_like(start) for _ in range(3)]
    for step, grad in enumerate(grads, 1):
        if name == "SGD":
            param, state[0] = sgd_reference(param, grad, state[0], first_step=step == 1, **kw)
        elif name in ("Adam", "AdamW"):
            hyper = dict(kw)
            beta1, beta2 = hyper.pop("betas", (0.9, 0.999))
            hyper.setdefault("weight_decay", 0.01 if name == "AdamW" else 0.0)
            param, state[0], state[1] = adam_reference(param, grad, state[0], state[1], step, beta1=beta1,
                                                       beta2=beta2, decoupled=name == "AdamW", **hyper)
        elif name == "Adadelta":
            param, state[0], state[1] = adadelta_reference(param, grad, state[0], state[1], **kw)
        else:
            param, state[0], state[1], state[2] = rmsprop_reference(param, grad, *state, **kw)
        out.append(param)
    return np.array(out)


@pytest.mark.parametrize("case", sorted(CASES))
@given(shape=shapes(max_dims=3), seed=st.integers(0, 2**16))
def test_kernel_matches_reference_over_several_steps(case, shape, seed):
    name, kw = CASES[case]
    rng = np.random.default_rng(seed)
    start, grads = rng.normal(size=shape), rng.normal(size=(5,) + shape)
    w = parameter(start)
    got = run(getattr(ms.optim, name)([w], **kw), w, grads)
    np.testing.assert_allclose(got, reference_trajectory(name, start, grads, kw), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("case", sorted(CASES))
def test_trajectory_matches_pytorch(case):
    golden = np.load(GOLDEN)
    name, kw = CASES[case]
    w = parameter(golden["start"])
    got = run(getattr(ms.optim, name)([w], **kw), w, golden["grads"])
    np.testing.assert_allclose(got, golden[case], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("case", sorted(CASES))
def test_float32_parameters_follow_the_float64_trajectory(case):
    name, kw = CASES[case]
    rng = np.random.default_rng(1)
    start, grads = rng.normal(size=(4, 3)), rng.normal(size=(6, 4, 3))
    w32 = parameter(start, "float32")
    got = run(getattr(ms.optim, name)([w32], **kw), w32, grads)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, reference_trajectory(name, start, grads, kw), rtol=1e-4, atol=1e-5)


def test_parameters_without_gradient_are_left_alone_and_groups_have_their_own_lr():
    a, b, c = parameter([1.0]), parameter([1.0]), parameter([1.0])
    optimizer = ms.optim.SGD([{"params": [a, c]}, {"params": [b], "lr": 0.5}], lr=0.1)
    a.grad, b.grad = ms.tensor([1.0], dtype="float64"), ms.tensor([1.0], dtype="float64")
    optimizer.step()
    assert (a.item(), b.item(), c.item()) == pytest.approx((0.9, 0.5, 1.0))


def test_zero_grad_sets_to_none_or_zero():
    w = parameter([1.0, 2.0])
    optimizer = ms.optim.SGD([w], lr=0.1)
    w.grad = ms.tensor([3.0, 4.0], dtype="float64")
    optimizer.zero_grad(set_to_none=False)
    assert w.grad.tolist() == [0.0, 0.0]
    optimizer.zero_grad()
    assert w.grad is None


@pytest.mark.parametrize("case", sorted(CASES))
def test_state_dict_round_trip_continues_the_same_trajectory(case, tmp_path):
    name, kw = CASES[case]
    rng = np.random.default_rng(3)
    start, grads = rng.normal(size=(2, 3)), rng.normal(size=(6, 2, 3))
    w = parameter(start)
    whole = run(getattr(ms.optim, name)([w], **kw), w, grads)

    w = parameter(start)
    first = getattr(ms.optim, name)([w], **kw)
    run(first, w, grads[:3])
    ms.save({"param": w, "optimizer": first.state_dict()}, tmp_path / "opt.safetensors")
    saved = ms.load(tmp_path / "opt.safetensors")
    w = parameter(saved["param"].numpy())
    second = getattr(ms.optim, name)([w], **{**kw, "lr": 123.0})   # the saved lr must win
    second.load_state_dict(saved["optimizer"])
    np.testing.assert_array_equal(run(second, w, grads[3:]), whole[3:])


def test_load_state_dict_reports_mismatches():
    w, v = parameter([1.0]), parameter([1.0, 2.0])
    source = ms.optim.Adam([w])
    w.grad = ms.tensor([1.0], dtype="float64")
    source.step()
    with pytest.raises(ValueError, match="group 0 has 1 parameters in the checkpoint, 2 here"):
        ms.optim.Adam([w, v]).load_state_dict(source.state_dict())
    with pytest.raises(ValueError, match=r"state 'exp_avg' of parameter 0 has shape \(1,\), the parameter has \(2,\)"):
        ms.optim.Adam([v]).load_state_dict(source.state_dict())


def test_load_state_dict_refuses_nonsense_before_changing_anything():
    w = parameter([1.0, 2.0])
    adam = ms.optim.Adam([w], lr=0.01)
    w.grad = ms.tensor([1.0, 1.0], dtype="float64")
    adam.step()
    good = adam.state_dict()

    def edited(change):
        state = copy.deepcopy(good)
        change(state)
        return state
    cases = [
        (lambda s: s["param_groups"][0].update(lr=-1.0), ValueError, "Adam: invalid learning rate -1.0"),
        (lambda s: s["param_groups"][0].update(lr="0.1"), TypeError, "Adam: lr must be a number, got '0.1'"),
        (lambda s: s["param_groups"][0].update(betas=(0.9,)), TypeError, "Adam: betas must be a tuple of 2 numbers"),
        (lambda s: s["state"][0].update(step=-3), ValueError, "step of parameter 0 must be a count >= 0, got -3"),
        (lambda s: s["state"][0].pop("exp_avg_sq"), ValueError, r"state of parameter 0 holds \['exp_avg', 'step'\]"),
        (lambda s: s.pop("state"), ValueError, "expected a dict with 'state' and 'param_groups'"),
    ]
    for change, error, message in cases:
        fresh = ms.optim.Adam([w], lr=0.5)
        with pytest.raises(error, match=message):
            fresh.load_state_dict(edited(change))
        assert fresh.param_groups[0]["lr"] == 0.5 and not fresh.state   # nothing changed
    sgd = ms.optim.SGD([w], lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match=r"SGD.load_state_dict: group 0 holds the settings \['betas', 'eps', 'lr', "
                                         r"'weight_decay'\], a SGD has .* \(is this another optimizer's state\?\)"):
        sgd.load_state_dict(good)
    scheduled = ms.optim.Adam([w], lr=0.5)
    ms.optim.lr_scheduler.StepLR(adam, step_size=1)   # adds initial_lr to the groups, as PyTorch's schedulers do
    scheduled.load_state_dict(adam.state_dict())
    assert scheduled.param_groups[0]["lr"] == 0.01


def test_a_read_only_parameter_is_refused_by_name_at_step():
    frozen = np.ones(3)
    frozen.flags.writeable = False
    w = ms.as_tensor(frozen).requires_grad_()
    (w * w).sum().backward()
    with pytest.raises(ValueError, match=r"^SGD: parameter float64\[3\] is a read-only NumPy array"):
        ms.optim.SGD([w], lr=0.1).step()


# --- bad input ----------------------------------------------------------------------------
@pytest.mark.parametrize("make, message", [
    (lambda p: ms.optim.SGD(p, lr=-1), "SGD: invalid learning rate -1"),
    (lambda p: ms.optim.SGD(p, lr=0.1, nesterov=True), "SGD: Nesterov momentum needs momentum > 0"),
    (lambda p: ms.optim.SGD(p, lr=0.1, momentum=-0.5), "SGD: invalid momentum -0.5"),
    (lambda p: ms.optim.Adam(p, betas=(0.9, 1.0)), r"Adam: betas must be two numbers in \[0, 1\)"),
    (lambda p: ms.optim.AdamW(p, eps=-1.0), "AdamW: invalid eps -1.0"),
    (lambda p: ms.optim.Adadelta(p, rho=1.5), r"Adadelta: rho must be in \[0, 1\]"),
    (lambda p: ms.optim.RMSprop(p, alpha=-0.1), "RMSprop: invalid alpha -0.1"),
    (lambda p: ms.optim.SGD([], lr=0.1), "SGD: got an empty parameter list"),
])
def test_bad_hyperparameters(make, message):
    with pytest.raises(ValueError, match=message):
        make([parameter([1.0])])


def test_bad_parameters_and_gradients():
    with pytest.raises(TypeError, match="can only optimize leaf tensors that require grad"):
        ms.optim.SGD([ms.tensor([1.0])], lr=0.1)
    with pytest.raises(TypeError, match=r"unknown arguments \['momentun'\]"):
        ms.optim.Optimizer.__init__(ms.optim.SGD.__new__(ms.optim.SGD), [parameter([1.0])], momentun=0.9)
    w = parameter([1.0, 2.0])
    w.grad = ms.tensor([1.0, 2.0])   # float32 gradient for a float64 parameter
    with pytest.raises(ValueError, match=r"SGD: gradient float32\[2\] does not match its parameter float64\[2\]"):
        ms.optim.SGD([w], lr=0.1).step()
    strided = parameter(np.zeros((2, 4)))
    strided.data = strided.data[:, ::2]
    strided.grad = ms.tensor(np.ones((2, 2)), dtype="float64")
    with pytest.raises(ValueError, match="not contiguous"):
        ms.optim.SGD([strided], lr=0.1).step()


# --- clipping -----------------------------------------------------------------------------
def test_clip_grad_norm_by_hand():
    a, b = parameter([0.0, 0.0]), parameter([0.0])
    a.grad, b.grad = ms.tensor([3.0, 0.0], dtype="float64"), ms.tensor([4.0], dtype="float64")
    norm = ms.optim.clip_grad_norm_([a, b], max_norm=1.0)
    assert norm.item() == pytest.approx(5.0)
    scale = 1.0 / (5.0 + 1e-6)
    np.testing.assert_allclose(a.grad.numpy(), [3 * scale, 0.0], rtol=1e-14)
    np.testing.assert_allclose(b.grad.numpy(), [4 * scale], rtol=1e-14)


@given(norm_type=st.sampled_from([1.0, 2.0, 3.0, math.inf]), max_norm=st.floats(0.01, 10.0), seed=st.integers(0, 99))
def test_clip_grad_norm_matches_numpy(norm_type, max_norm, seed):
    rng = np.random.default_rng(seed)
    grads = [rng.normal(size=s) for s in [(3, 2), (4,), (1,)]]
    params = [parameter(np.zeros_like(g)) for g in grads]
    for p, g in zip(params, grads):
        p.grad = ms.tensor(g, dtype="float64")
    flat = np.concatenate([g.ravel() for g in grads])
    expected = np.abs(flat).max() if math.isinf(norm_type) else (np.abs(flat) ** norm_type).sum() ** (1 / norm_type)
    assert ms.optim.clip_grad_norm_(params, max_norm, norm_type).item() == pytest.approx(expected, rel=1e-12)
    scale = min(1.0, max_norm / (expected + 1e-6))
    for p, g in zip(params, grads):
        np.testing.assert_allclose(p.grad.numpy(), g * scale, rtol=1e-12)


def test_clip_grad_norm_sees_nan():
    w = parameter([1.0])
    w.grad = ms.tensor([float("nan")], dtype="float64")
    with pytest.raises(RuntimeError, match="NaN or inf in a gradient"):
        ms.optim.clip_grad_norm_([w], 1.0, error_if_nonfinite=True)


# --- schedules ------------------------------------------------------------------------------
def lrs(make, epochs=8, lr=0.1):
    optimizer = ms.optim.SGD([parameter([1.0])], lr=lr)
    scheduler = make(optimizer)
    values = []
    for _ in range(epochs):
        values.append(scheduler.get_last_lr()[0])
        optimizer.step()
        scheduler.step()
    assert optimizer.param_groups[0]["lr"] == scheduler.get_last_lr()[0]
    return values


def test_step_lr():
    values = lrs(lambda o: ms.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5))
    np.testing.assert_allclose(values, [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025], rtol=1e-15)


def test_exponential_lr():
    np.testing.assert_allclose(lrs(lambda o: ms.optim.lr_scheduler.ExponentialLR(o, gamma=0.5), 4),
                               [0.1, 0.05, 0.025, 0.0125], rtol=1e-15)


def test_linear_lr():
    values = lrs(lambda o: ms.optim.lr_scheduler.LinearLR(o, start_factor=0.25, total_iters=3), 6)
    np.testing.assert_allclose(values, [0.025, 0.05, 0.075, 0.1, 0.1, 0.1], rtol=1e-14)


def test_cosine_annealing_lr():
    values = lrs(lambda o: ms.optim.lr_scheduler.CosineAnnealingLR(o, T_max=4, eta_min=0.02), 5)
    # eta_min + (0.1 - eta_min)(1 + cos(pi e / 4)) / 2
    expected = [0.1, 0.02 + 0.08 * (1 + math.sqrt(0.5)) / 2, 0.06, 0.02 + 0.08 * (1 - math.sqrt(0.5)) / 2, 0.02]
    np.testing.assert_allclose(values, expected, rtol=1e-14)


def test_warmup_linear_lr():
    values = lrs(lambda o: ms.optim.lr_scheduler.WarmupLinearLR(o, warmup_steps=2, total_steps=6), 8)
    # 0 at the first step, up to 0.1 at step 2, down to 0 at step 6, then 0
    np.testing.assert_allclose(values, [0.0, 0.05, 0.1, 0.075, 0.05, 0.025, 0.0, 0.0], rtol=1e-14, atol=1e-17)
    no_warmup = lrs(lambda o: ms.optim.lr_scheduler.WarmupLinearLR(o, warmup_steps=0, total_steps=4), 4)
    np.testing.assert_allclose(no_warmup, [0.1, 0.075, 0.05, 0.025], rtol=1e-14)


def test_fine_tuning_step_follows_pytorch_golden_trajectory():
    # two parameter groups (the pretrained part's lower lr), AdamW, clip_grad_norm_, the warm-up
    # and linear decay per step: the parameters and lrs PyTorch gave (fine_tuning.npz)
    golden = np.load(os.path.join(os.path.dirname(__file__), "golden", "fine_tuning.npz"))
    w0, v0, x, y = tuning.data()
    w, v = parameter(w0), parameter(v0)
    x, y = ms.tensor(x, dtype="float64"), ms.tensor(y, dtype="float64")
    optimizer = ms.optim.AdamW([{"params": [w], "lr": tuning.ENCODER_LR}, {"params": [v]}], lr=tuning.HEAD_LR,
                               weight_decay=tuning.WEIGHT_DECAY)
    scheduler = ms.optim.lr_scheduler.WarmupLinearLR(optimizer, tuning.WARMUP, tuning.STEPS)
    for step in range(tuning.STEPS):
        optimizer.zero_grad()
        (((x @ w.T).tanh() @ v.T - y) ** 2).sum().backward()
        ms.optim.clip_grad_norm_([w, v], tuning.MAX_NORM)
        np.testing.assert_allclose([g["lr"] for g in optimizer.param_groups], golden["lrs"][step], rtol=1e-14)
        optimizer.step()
        scheduler.step()
        np.testing.assert_allclose(w.numpy(), golden["w"][step], rtol=1e-11, atol=1e-13)
        np.testing.assert_allclose(v.numpy(), golden["v"][step], rtol=1e-11, atol=1e-13)


def test_scheduler_state_round_trip():
    optimizer = ms.optim.SGD([parameter([1.0])], lr=0.1)
    scheduler = ms.optim.lr_scheduler.StepLR(optimizer, step_size=2)
    for _ in range(3):
        scheduler.step()
    restored = ms.optim.lr_scheduler.StepLR(ms.optim.SGD([parameter([1.0])], lr=0.1), step_size=2)
    restored.load_state_dict(scheduler.state_dict())
    scheduler.step()
    restored.step()
    assert restored.get_last_lr() == scheduler.get_last_lr() and restored.last_epoch == 4


def test_scheduler_bad_input():
    optimizer = ms.optim.SGD([parameter([1.0])], lr=0.1)
    with pytest.raises(ValueError, match="StepLR: step_size must be a positive int"):
        ms.optim.lr_scheduler.StepLR(optimizer, step_size=0)
    with pytest.raises(ValueError, match="CosineAnnealingLR: T_max must be a positive int"):
        ms.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=0)
    with pytest.raises(ValueError, match=r"WarmupLinearLR: need 0 <= warmup_steps <= total_steps .* got "
                                         r"warmup_steps=5, total_steps=3"):
        ms.optim.lr_scheduler.WarmupLinearLR(optimizer, warmup_steps=5, total_steps=3)
