"""Modules: registration, the parameter tree, modes, dtype moves, state dicts, the layers."""
import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

import minisora as ms
from minisora import nn


class TwoLayers(nn.Module):
    def __init__(self):
        super().__init__()
        self.first = nn.Linear(3, 4)
        self.act = nn.ReLU()
        self.second = nn.Linear(4, 2)
        self.register_buffer("steps", ms.zeros(1))
        self.note = "plain attribute"

    def forward(self, x):
        return self.second(self.act(self.first(x)))


def test_parameters_children_and_names_in_definition_order():
    model = TwoLayers()
    assert [n for n, _ in model.named_parameters()] == ["first.weight", "first.bias", "second.weight", "second.bias"]
    assert [type(c).__name__ for c in model.children()] == ["Linear", "ReLU", "Linear"]
    assert [n for n, _ in model.named_buffers()] == ["steps"]
    assert list(model.state_dict()) == ["first.weight", "first.bias", "second.weight", "second.bias", "steps"]
    assert model.note == "plain attribute" and "note" not in model.state_dict()
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in model.parameters())


def test_shared_parameter_is_listed_once():
    model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    model[1].weight = model[0].weight
    assert len(list(model.parameters())) == 3


def test_train_and_eval_reach_every_child():
    model = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Dropout(0.5)))
    model.eval()
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())


def test_dropout_module_is_identity_in_eval():
    layer = nn.Dropout(0.5)
    x = ms.ones(200)
    ms.manual_seed(0)
    trained = layer(x).numpy()
    assert set(np.unique(trained)) == {0.0, 2.0}
    assert layer.eval()(x) is x


def test_linear_matches_numpy_and_starts_like_pytorch():
    ms.manual_seed(0)
    layer = nn.Linear(50, 30)
    bound = 1 / math.sqrt(50)
    w, b = layer.weight.numpy(), layer.bias.numpy()
    assert w.shape == (30, 50) and b.shape == (30,) and w.dtype == np.float32
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    assert np.abs(w).max() > 0.9 * bound   # U(-bound, bound), not a narrower range
    assert abs(w.std() - bound / math.sqrt(3)) < 0.1 * bound
    x = np.random.default_rng(0).normal(size=(7, 50)).astype(np.float32)
    np.testing.assert_allclose(layer(ms.tensor(x)).numpy(), x @ w.T + b, rtol=1e-5, atol=1e-6)


def test_linear_without_bias_and_on_batched_input():
    layer = nn.Linear(3, 2, bias=False, dtype="float64")
    assert [n for n, _ in layer.named_parameters()] == ["weight"]
    x = np.random.default_rng(0).normal(size=(2, 5, 3))
    np.testing.assert_allclose(layer(ms.tensor(x)).numpy(), x @ layer.weight.numpy().T, rtol=1e-12)


@given(sizes=st.lists(st.integers(1, 6), min_size=2, max_size=4), batch=st.integers(1, 4))
def test_sequential_gradients_pass_gradcheck(sizes, batch):
    ms.manual_seed(len(sizes))
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers += [nn.Linear(a, b, dtype="float64"), nn.Tanh()]
    model = nn.Sequential(*layers)
    x = ms.tensor(np.random.default_rng(batch).normal(size=(batch, sizes[0])), requires_grad=True)
    slots = [(module, name) for module in model.modules() for name in module._parameters]

    def forward(x, *params):
        for (module, name), value in zip(slots, params):
            module._parameters[name] = value   # run the model on gradcheck's own leaf tensors
        return model(x)

    report = ms.gradcheck(forward, [x] + [ms.tensor(m._parameters[n].numpy(), requires_grad=True) for m, n in slots])
    assert report, str(report)


def test_activation_modules_match_their_functions():
    x = ms.tensor(np.linspace(-3, 3, 13))
    for module, function in [(nn.ReLU(), ms.F.relu), (nn.Sigmoid(), ms.F.sigmoid), (nn.Tanh(), ms.F.tanh),
                             (nn.GELU(), ms.F.gelu), (nn.LeakyReLU(0.2), lambda t: ms.F.leaky_relu(t, 0.2))]:
        np.testing.assert_array_equal(module(x).numpy(), function(x).numpy())


def test_flatten_and_identity():
    x = ms.zeros(2, 3, 4)
    assert nn.Flatten()(x).shape == (2, 12)
    assert nn.Identity()(x) is x


def test_to_dtype_keeps_the_parameter_objects():
    model = TwoLayers()
    weight = model.first.weight
    model.double()
    assert model.first.weight is weight and weight.dtype == np.float64
    assert model.steps.dtype == np.float64
    assert model(ms.zeros(1, 3, dtype="float64")).dtype == np.float64


def test_to_cuda_says_why_it_cannot(monkeypatch):
    from minisora import backends

    monkeypatch.setattr(backends, "_backends", {"cpu": backends.cpu})
    monkeypatch.setattr(backends, "cuda_status", lambda: (False, "numba.cuda cannot be imported; install numba-cuda"))
    model = TwoLayers()
    with pytest.raises(RuntimeError, match="device 'cuda' is not available: numba.cuda cannot be imported"):
        model.to("cuda")
    assert all(p.device == "cpu" for p in model.parameters())   # nothing moved half-way


def test_state_dict_round_trip_and_independence():
    source, target = TwoLayers(), TwoLayers()
    state = source.state_dict()
    target.load_state_dict(state)
    for (name, a), (_, b) in zip(source.state_dict().items(), target.state_dict().items()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)
    target.first.weight.data[...] = 0   # loading copied the values; the two models do not share memory
    assert np.abs(source.first.weight.numpy()).max() > 0


def test_load_state_dict_lists_missing_unexpected_and_misshaped_keys():
    model = TwoLayers()
    state = dict(model.state_dict())
    del state["second.bias"]
    state["third.weight"] = np.zeros(3)
    state["first.weight"] = np.zeros((5, 3))
    with pytest.raises(ValueError) as error:
        model.load_state_dict(state)
    message = str(error.value)
    assert message.startswith("load_state_dict for TwoLayers:")
    assert "missing keys: second.bias" in message
    assert "unexpected keys: third.weight" in message
    assert "first.weight: checkpoint has shape (5, 3), the model has (4, 3)" in message


def test_load_state_dict_not_strict_returns_the_key_lists():
    model = TwoLayers()
    state = {k: v for k, v in model.state_dict().items() if k != "steps"}
    state["extra"] = np.zeros(1)
    result = model.load_state_dict(state, strict=False)
    assert result.missing_keys == ["steps"] and result.unexpected_keys == ["extra"]


def test_module_bad_input():
    class Forgot(nn.Module):
        def __init__(self):
            self.layer = nn.Linear(1, 1)

    with pytest.raises(AttributeError, match="call super\\(\\).__init__\\(\\) before assigning"):
        Forgot()
    with pytest.raises(ValueError, match="Linear: in_features and out_features must be positive, got 0, 3"):
        nn.Linear(0, 3)
    with pytest.raises(TypeError, match="Sequential: item 1 is a function, not a Module"):
        nn.Sequential(nn.ReLU(), ms.F.relu)
    with pytest.raises(ValueError, match=r"Dropout: p must be a probability in \[0, 1\], got 1.5"):
        nn.Dropout(1.5)
    with pytest.raises(ValueError, match="GELU: approximate must be 'none' or 'tanh', got 'fast'"):
        nn.GELU("fast")
    with pytest.raises(ValueError, match=r"linear: input float32\[2, 5\] does not fit weight float32\[4, 3\]"):
        nn.Linear(3, 4)(ms.zeros(2, 5))
    with pytest.raises(AttributeError, match="'TwoLayers' has no attribute 'third'"):
        TwoLayers().third


def test_repr_reads_like_pytorch():
    text = repr(nn.Sequential(nn.Linear(2, 3), nn.ReLU()))
    assert text == "Sequential(\n  (0): Linear(in_features=2, out_features=3, bias=True)\n  (1): ReLU()\n)"


def test_mlp_model_shapes_and_config():
    model = ms.models.MLP(64, [32, 16], 10, activation="tanh", dropout=0.1)
    assert model(ms.zeros(5, 8, 8)).shape == (5, 10)
    assert [n for n, _ in model.named_parameters()][0] == "layers.1.weight"
    with pytest.raises(ValueError, match="MLP: activation must be one of"):
        ms.models.MLP(4, 4, 2, activation="swish")


def test_full_backward_hook_sees_the_gradients_of_inputs_and_output():
    layer = nn.Linear(3, 2, dtype="float64")
    seen = []
    handle = layer.register_full_backward_hook(lambda m, grad_in, grad_out: seen.append((grad_in, grad_out)))
    x = ms.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    y = layer(x)
    (y * ms.tensor([[1.0, 2.0], [3.0, 4.0]], dtype="float64")).sum().backward()
    (grad_in,), (grad_out,) = seen[0]
    np.testing.assert_array_equal(grad_out.numpy(), [[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_allclose(grad_in.numpy(), grad_out.numpy() @ layer.weight.numpy(), rtol=1e-14)
    np.testing.assert_allclose(x.grad.numpy(), grad_in.numpy(), rtol=1e-14)
    handle.remove()
    layer(x).sum().backward()
    assert len(seen) == 1


def test_backward_hook_on_a_first_layer_gets_none_for_its_data_input():
    layer = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    seen = []
    layer.register_full_backward_hook(lambda m, grad_in, grad_out: seen.append(grad_in))
    layer(ms.ones(1, 2)).sum().backward()
    assert seen == [(None,)]
