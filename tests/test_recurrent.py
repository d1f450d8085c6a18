"""The recurrent cells (rnn_cell, lstm_cell, gru_cell) and layers: kernels against the NumPy
reference on every device, float64 gradient checks on drawn shapes (T = 1, H = 1, batch 1,
non-contiguous inputs, rows that do not step), padding that changes nothing, and clear errors.
(PyTorch parity of the layers: test_recurrent_parity.py.)"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import minisora as ms
from minisora import F
from minisora.particles import get
from helpers import DEVICES, TOLERANCE, check_gradcheck, layout_tensor

GATES = {"rnn_cell": 1, "lstm_cell": 4, "gru_cell": 3}


def cell_call(name, nonlinearity="tanh"):
    """(gx, h, [c], w, b) -> the cell's results as one tensor (the LSTM's h' and c' stacked)."""
    def call(*tensors, active=None):
        if name == "lstm_cell":
            return ms.stack(list(F.lstm_step(*tensors, active=active)))
        if name == "gru_cell":
            return F.gru_step(*tensors, active=active)
        return F.rnn_step(*tensors, nonlinearity=nonlinearity, active=active)
    return call


def cell_inputs(name, batch, hidden, seed=0, bias=True):
    rng = np.random.default_rng(seed)
    width = GATES[name] * hidden
    arrays = [rng.standard_normal((batch, width)), rng.standard_normal((batch, hidden))]
    if name == "lstm_cell":
        arrays.append(rng.standard_normal((batch, hidden)))
    arrays.append(rng.standard_normal((width, hidden)) * 0.7)
    return arrays + ([rng.standard_normal(width)] if bias else [])


def reference(name, arrays, active, nonlinearity="tanh"):
    particle = get(name)
    params = {"active": active, **({"nonlinearity": nonlinearity} if name == "rnn_cell" else {})}
    out = particle.reference(*arrays, **params)
    return np.stack(out) if name == "lstm_cell" else out, params


def reference_grads(name, arrays, grad, params):
    grads = (grad[0], grad[1]) if name == "lstm_cell" else grad
    return get(name).reference_backward(*arrays, grads, **params)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("active", [None, 2, 0])
@pytest.mark.parametrize("name,nonlinearity", [("rnn_cell", "tanh"), ("rnn_cell", "relu"), ("lstm_cell", "tanh"),
                                               ("gru_cell", "tanh")])
def test_kernels_match_the_reference(name, nonlinearity, active, dtype, device):
    arrays = cell_inputs(name, 3, 4)
    tensors = [ms.tensor(a, dtype=dtype, device=device, requires_grad=True) for a in arrays]
    out = cell_call(name, nonlinearity)(*tensors, active=active)
    expected, params = reference(name, arrays, active, nonlinearity)
    tolerance = TOLERANCE[dtype] if dtype == "float64" else dict(rtol=1e-5, atol=2e-6)
    np.testing.assert_allclose(out.numpy(), expected, **tolerance, err_msg=f"{name} forward")
    grad = np.random.default_rng(1).standard_normal(out.shape)
    out.backward(ms.tensor(grad, dtype=dtype, device=device))
    for i, (t, g) in enumerate(zip(tensors, reference_grads(name, arrays, grad, params))):
        np.testing.assert_allclose(t.grad.numpy(), g, **tolerance, err_msg=f"{name} gradient of input {i}")


@settings(max_examples=12, deadline=None)
@given(name=st.sampled_from(sorted(GATES)), batch=st.sampled_from([1, 2, 3]), hidden=st.sampled_from([1, 2, 3]),
       layout=st.sampled_from(["contiguous", "transposed", "strided"]), bias=st.booleans(), data=st.data())
def test_gradcheck_on_drawn_shapes_and_layouts(name, batch, hidden, layout, bias, data):
    """float64 finite differences agree with backward for every input, the state and gx given as
    non-contiguous views, rows past `active` included."""
    active = data.draw(st.integers(0, batch))
    arrays = cell_inputs(name, batch, hidden, seed=batch * 7 + hidden, bias=bias)
    views = [layout_tensor(a, layout if i < 2 else "contiguous", "float64")[0] for i, a in enumerate(arrays)]
    for view in views:
        view.grad = None
    call = cell_call(name)
    out = call(*views, active=active)
    expected, params = reference(name, arrays, active)
    np.testing.assert_allclose(out.numpy(), expected, **TOLERANCE["float64"])
    check_gradcheck(lambda *t: call(*t, active=active), arrays)


def test_relu_cell_passes_gradcheck_away_from_its_kink():
    arrays = cell_inputs("rnn_cell", 2, 3, seed=5)
    check_gradcheck(lambda *t: F.rnn_step(*t, nonlinearity="relu"), arrays)


@pytest.mark.parametrize("device", DEVICES)
def test_unbind_gives_views_whose_gradients_stack_back(device):
    x = ms.tensor(np.arange(12.0).reshape(3, 4), dtype="float64", device=device, requires_grad=True)
    pieces = x.unbind(1)
    assert len(pieces) == 4 and all(p.shape == (3,) for p in pieces)
    for k, piece in enumerate(pieces):
        np.testing.assert_array_equal(piece.numpy(), get("unbind").reference(x.numpy(), 1)[k])
    (pieces[1] * 2 + pieces[3]).sum().backward()
    expected = get("unbind").reference_backward(x.numpy(), [np.zeros(3), np.full(3, 2.0), np.zeros(3), np.ones(3)], 1)
    np.testing.assert_array_equal(x.grad.numpy(), expected[0])
    with pytest.raises(IndexError, match=r"^unbind: dim 2 is out of range"):
        x.unbind(2)


@pytest.mark.parametrize("bad,match", [
    (lambda a: (a[0][:, :-1],) + a[1:], r"lstm_cell: gx float64\[2, 7\] must be \(batch, 4 \* hidden\) = \(2, 8\)"),
    (lambda a: (a[0], a[1][:1]) + a[2:], r"lstm_cell: the state h and c must be \(batch, hidden\)"),
    (lambda a: a[:3] + (a[3][:, :1],) + a[4:], r"lstm_cell: weight_hh float64\[8, 1\] must be"),
    (lambda a: a[:4] + (a[4][:3],), r"lstm_cell: bias_hh float64\[3\] must be \(8,\)"),
])
def test_bad_cell_input_names_the_particle_and_shapes(bad, match):
    arrays = tuple(ms.tensor(a) for a in cell_inputs("lstm_cell", 2, 2))
    with pytest.raises(ValueError, match=match):
        F.lstm_step(*bad(arrays))


def test_cell_refuses_mixed_dtypes_ints_and_bad_active():
    gx, h, w, b = (ms.tensor(a) for a in cell_inputs("gru_cell", 2, 2))
    with pytest.raises(TypeError, match=r"^gru_cell: inputs must share a dtype"):
        F.gru_step(gx.float(), h, w, b)
    with pytest.raises(TypeError, match=r"^rnn_cell: expected float32 or float64 input, got int64"):
        F.rnn_step(ms.tensor([[1, 2]]), ms.tensor([[1, 2]]), ms.tensor([[1, 2], [3, 4]]))
    for active in (3, -1, 1.5, True):
        with pytest.raises(ValueError, match=r"^gru_cell: active must be a number of rows from 0 to the batch of 2"):
            F.gru_step(gx, h, w, b, active=active)
    with pytest.raises(ValueError, match=r"^rnn_cell: nonlinearity must be 'tanh' or 'relu'"):
        F.rnn_step(ms.tensor(np.ones((1, 2))), ms.tensor(np.ones((1, 2))), ms.tensor(np.ones((2, 2))),
                   nonlinearity="sigmoid")


# The layers ------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_padding_changes_neither_the_result_nor_the_gradient(kind):
    """A padded batch with lengths gives each sequence what it gives alone, and the same gradients;
    the padded steps get zero output and zero gradient, whatever numbers they hold."""
    ms.manual_seed(0)
    layer = getattr(ms.nn, kind)(3, 4, num_layers=2, bidirectional=True, dtype="float64")
    rng = np.random.default_rng(0)
    lengths = [5, 3, 2]
    x = rng.standard_normal((5, 3, 3))
    x[3:, 1], x[2:, 2] = 1e3, -1e3   # padding: big numbers that would show if they leaked in
    padded = ms.tensor(x, requires_grad=True)
    output, final = layer(padded, lengths=lengths)
    finals = final[0] if kind == "LSTM" else final
    weights = rng.standard_normal(output.shape)
    ((output * ms.tensor(weights)).sum() + finals.sum()).backward()
    layer_grads = {n: p.grad.numpy().copy() for n, p in layer.named_parameters()}
    layer.zero_grad()
    for b, length in enumerate(lengths):   # each sequence alone; their parameter gradients add up
        one = ms.tensor(x[:length, b:b + 1], requires_grad=True)
        alone, alone_final = layer(one)
        alone_finals = alone_final[0] if kind == "LSTM" else alone_final
        ((alone * ms.tensor(weights[:length, b:b + 1])).sum() + alone_finals.sum()).backward()
        np.testing.assert_allclose(output.numpy()[:length, b:b + 1], alone.numpy(), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(finals.numpy()[:, b:b + 1], alone_finals.numpy(), rtol=1e-12, atol=1e-12)
        assert not output.numpy()[length:, b].any(), "padded steps must give zeros"
        np.testing.assert_allclose(padded.grad.numpy()[:length, b:b + 1], one.grad.numpy(), rtol=1e-10, atol=1e-12)
        assert not padded.grad.numpy()[length:, b].any(), "padded steps must get no gradient"
    for name, parameter in layer.named_parameters():
        np.testing.assert_allclose(layer_grads[name], parameter.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=name)


def test_trace_shows_one_cell_call_per_step_each_way():
    layer = ms.nn.LSTM(2, 3, num_layers=2, bidirectional=True)
    with ms.inspect.trace() as trace:
        output, _ = layer(ms.randn(6, 1, 2))
        output.sum().backward()
    cells = [r for r in trace.records if r.particle == "lstm_cell"]
    assert sum(r.phase == "forward" for r in cells) == 6 * 2 * 2
    assert sum(r.phase == "backward" for r in cells) == 6 * 2 * 2


def test_layers_have_pytorchs_names_shapes_and_init():
    ms.manual_seed(0)
    lstm = ms.nn.LSTM(5, 8, num_layers=2, bidirectional=True)
    shapes = {n: p.shape for n, p in lstm.named_parameters()}
    assert list(shapes)[:4] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]
    assert shapes["weight_ih_l0_reverse"] == (32, 5) and shapes["weight_ih_l1"] == (32, 16)
    assert shapes["weight_hh_l1_reverse"] == (32, 8) and shapes["bias_hh_l1_reverse"] == (32,)
    bound = 1 / np.sqrt(8)
    values = np.concatenate([p.numpy().ravel() for p in lstm.parameters()])
    assert values.min() >= -bound and values.max() <= bound and values.std() > bound / 2
    output, (h, c) = lstm(ms.randn(7, 3, 5))
    assert output.shape == (7, 3, 16) and h.shape == c.shape == (4, 3, 8)
    gru = ms.nn.GRU(5, 8, batch_first=True, bias=False)
    assert [n for n, _ in gru.named_parameters()] == ["weight_ih_l0", "weight_hh_l0"]
    output, h = gru(ms.randn(3, 7, 5))
    assert output.shape == (3, 7, 8) and h.shape == (1, 3, 8)
    output, h = ms.nn.RNN(5, 8, nonlinearity="relu")(ms.randn(7, 5))   # unbatched
    assert output.shape == (7, 8) and h.shape == (1, 8)
    h, c = ms.nn.LSTMCell(5, 8)(ms.randn(5))
    assert h.shape == c.shape == (8,)
    assert repr(ms.nn.LSTM(5, 8, num_layers=2)) == "LSTM(5, 8, num_layers=2)"


def test_dropout_acts_between_layers_only_in_training():
    ms.manual_seed(0)
    lstm = ms.nn.LSTM(3, 4, num_layers=2, dropout=0.5)
    x = ms.randn(4, 2, 3)
    lstm.eval()
    first, _ = lstm(x)
    again, _ = lstm(x)
    np.testing.assert_array_equal(first.numpy(), again.numpy())
    lstm.train()
    dropped, _ = lstm(x)
    assert not np.allclose(dropped.numpy(), first.numpy())


@pytest.mark.parametrize("call,error,match", [
    (lambda m: m(ms.randn(4, 2, 5)), ValueError, r"^LSTM: input of shape \(4, 2, 5\) must end in input_size=3"),
    (lambda m: m(ms.randn(4, 2, 3), (ms.zeros(1, 2, 4), ms.zeros(2, 2, 4))), ValueError,
     r"^LSTM: h_0 of shape \(1, 2, 4\) must be \(num_layers \* num_directions, batch, hidden_size\) = \(2, 2, 4\)"),
    (lambda m: m(ms.randn(4, 2, 3), ms.zeros(2, 2, 4)), TypeError, r"^LSTM: hx must be a pair \(h_0, c_0\)"),
    (lambda m: m(ms.randn(4, 2, 3), lengths=[5, 2]), ValueError, r"^LSTM: lengths \[5, 2\] must be from 1 to T=4"),
    (lambda m: m(ms.randn(4, 2, 3), lengths=[2, 4]), ValueError, r"^LSTM: lengths \[2, 4\] must be sorted longest first"),
    (lambda m: m(ms.randn(4, 2, 3), lengths=[2.0, 1.0]), ValueError, r"^LSTM: lengths must be 2 integers"),
    (lambda m: m(ms.tensor(np.ones((4, 2, 3), np.int64))), TypeError, r"^LSTM: input must be float32 or float64, got int64"),
    (lambda m: m(ms.randn(4, 2, 3).double()), TypeError, r"^LSTM: input is float64 but the parameters are float32"),
])
def test_bad_layer_input_names_the_module_and_shapes(call, error, match):
    with pytest.raises(error, match=match):
        call(ms.nn.LSTM(3, 4, num_layers=2))


def test_bad_layer_options_are_refused():
    with pytest.raises(ValueError, match=r"^GRU: dropout must be in \[0, 1\)"):
        ms.nn.GRU(3, 4, dropout=1.5)
    with pytest.raises(TypeError, match=r"^LSTM: takes no nonlinearity"):
        ms.nn.LSTM(3, 4, nonlinearity="relu")
    with pytest.raises(ValueError, match=r"^LSTMCell: a state of shape \(3, 4\) must be \(2, 4\)"):
        ms.nn.LSTMCell(3, 4)(ms.randn(2, 3), (ms.zeros(3, 4), ms.zeros(3, 4)))


@settings(max_examples=10, deadline=None)
@given(kind=st.sampled_from(["RNN", "LSTM", "GRU"]), steps=st.sampled_from([1, 2, 3]), batch=st.sampled_from([1, 2]),
       hidden=st.sampled_from([1, 2]), bidirectional=st.booleans(), padded=st.booleans())
def test_layers_pass_gradcheck_through_time(kind, steps, batch, hidden, bidirectional, padded):
    """Whole layers (2 of them, T = 1 included, H = 1, batch 1), their input a transposed view,
    sometimes padded: float64 finite differences agree with backward for the input, h_0 and
    every parameter."""
    ms.manual_seed(steps * 10 + batch)
    layer = getattr(ms.nn, kind)(2, hidden, num_layers=2, bidirectional=bidirectional, dtype="float64")
    lengths = list(range(steps, steps - batch, -1)) if padded and steps >= batch else None
    count = 2 * (2 if bidirectional else 1)
    rng = np.random.default_rng(steps)
    x = rng.standard_normal((batch, steps, 2))
    h0 = rng.standard_normal((count, batch, hidden))

    def run(x_batch_first, h0, *parameters):
        for (name, _), value in zip(layer.named_parameters(), parameters):
            layer._parameters[name] = value
        hx = (h0, h0 * 0.5) if kind == "LSTM" else h0
        output, final = layer(x_batch_first.transpose(0, 1), hx, lengths=lengths)   # (T, batch, 2): a view
        return ms.cat([output.reshape(-1), (final[0] if kind == "LSTM" else final).reshape(-1)])

    check_gradcheck(run, [x, h0] + [p.numpy() for p in layer.parameters()])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_a_layer_on_the_gpu_matches_the_cpu(kind, device):
    ms.manual_seed(0)
    layer = getattr(ms.nn, kind)(2, 2, bidirectional=True, dtype="float64")
    x = np.random.default_rng(0).standard_normal((3, 2, 2))
    results = {}
    for where in ("cpu", device):
        layer.to(where)
        layer.zero_grad()
        xs = ms.tensor(x, device=where, requires_grad=True)
        output, _ = layer(xs, lengths=[3, 2])
        output.backward(ms.tensor(np.ones(output.shape), device=where))
        results[where] = [output.numpy(), xs.grad.numpy()] + [p.grad.numpy() for p in layer.parameters()]
    for cpu, other in zip(results["cpu"], results[device]):
        np.testing.assert_allclose(other, cpu, rtol=1e-10, atol=1e-12)


def test_forget_gate_bias_opens_every_layer_and_direction_and_refuses_others():
    lstm = ms.nn.forget_gate_bias_(ms.nn.LSTM(2, 3, num_layers=2, bidirectional=True), 2.0)
    for name, p in lstm.named_parameters():
        if name.startswith("bias"):
            np.testing.assert_allclose(p.numpy()[3:6], 1.0, err_msg=name)
    with pytest.raises(TypeError, match="forget_gate_bias_: expected an LSTM or LSTMCell, got GRU"):
        ms.nn.forget_gate_bias_(ms.nn.GRU(2, 3))
    with pytest.raises(ValueError, match="forget_gate_bias_: this LSTM has no biases"):
        ms.nn.forget_gate_bias_(ms.nn.LSTM(2, 3, bias=False))
