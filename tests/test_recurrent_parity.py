"""nn.RNN / LSTM / GRU and their cells against PyTorch in float64, without PyTorch installed:
golden/recurrent.npz holds PyTorch's parameters, inputs, outputs and every gradient (made by
golden/make_recurrent.py), including bidirectional 2-layer LSTM and GRU on padded sequences."""
import os

import numpy as np
import pytest

import minisora as ms
from golden.recurrent_cases import CASES, CELLS

HERE = os.path.join(os.path.dirname(__file__), "golden")
GOLDEN = np.load(os.path.join(HERE, "recurrent.npz"))
TOLERANCE = dict(rtol=1e-10, atol=1e-12)


def loaded(module, name):
    """`module` with the golden case's PyTorch parameters, and those parameters' gradients."""
    prefix = f"{name}/param/"
    state = {key[len(prefix):]: ms.tensor(GOLDEN[key]) for key in GOLDEN.files if key.startswith(prefix)}
    assert list(state) == list(module.state_dict()), "parameter names or order differ from PyTorch's"
    module.load_state_dict(state)
    return module


def check_gradients(module, name, tensors):
    for key, t in tensors.items():
        np.testing.assert_allclose(t.grad.numpy(), GOLDEN[f"{name}/{key}_grad"], **TOLERANCE, err_msg=f"{name}: d{key}")
    for key, parameter in module.named_parameters():
        np.testing.assert_allclose(parameter.grad.numpy(), GOLDEN[f"{name}/grad/{key}"], **TOLERANCE,
                                   err_msg=f"{name}: d{key}")


@pytest.mark.parametrize("name", sorted(CASES))
def test_layer_matches_pytorch(name):
    kind, options, (steps, batch, features), hidden, lengths = CASES[name]
    module = loaded(getattr(ms.nn, kind)(features, hidden, dtype="float64", **options), name)
    x = ms.tensor(GOLDEN[f"{name}/input"], requires_grad=True)
    states = {f"state{k}": ms.tensor(GOLDEN[f"{name}/state{k}"], requires_grad=True)
              for k in range(2 if kind == "LSTM" else 1)}
    hx = (states["state0"], states["state1"]) if kind == "LSTM" else states["state0"]
    output, final = module(x, hx, lengths=lengths)
    finals = list(final) if kind == "LSTM" else [final]
    np.testing.assert_allclose(output.numpy(), GOLDEN[f"{name}/output"], **TOLERANCE, err_msg=f"{name}: output")
    loss = (output * ms.tensor(GOLDEN[f"{name}/output_weight"])).sum()
    for k, f in enumerate(finals):
        np.testing.assert_allclose(f.numpy(), GOLDEN[f"{name}/final{k}"], **TOLERANCE, err_msg=f"{name}: final {k}")
        loss = loss + (f * ms.tensor(GOLDEN[f"{name}/final{k}_weight"])).sum()
    loss.backward()
    check_gradients(module, name, {"input": x, **states})


@pytest.mark.parametrize("name", sorted(CELLS))
def test_cell_matches_pytorch(name):
    kind, batch, features, hidden = CELLS[name]
    module = loaded(getattr(ms.nn, kind)(features, hidden, dtype="float64"), name)
    x = ms.tensor(GOLDEN[f"{name}/input"], requires_grad=True)
    states = {f"state{k}": ms.tensor(GOLDEN[f"{name}/state{k}"], requires_grad=True)
              for k in range(2 if kind == "LSTMCell" else 1)}
    out = module(x, (states["state0"], states["state1"]) if kind == "LSTMCell" else states["state0"])
    outs = list(out) if kind == "LSTMCell" else [out]
    loss = 0
    for k, o in enumerate(outs):
        np.testing.assert_allclose(o.numpy(), GOLDEN[f"{name}/out{k}"], **TOLERANCE, err_msg=f"{name}: result {k}")
        loss = loss + (o * ms.tensor(GOLDEN[f"{name}/out{k}_weight"])).sum()
    loss.backward()
    check_gradients(module, name, {"input": x, **states})


def test_a_pytorch_lstm_state_dict_saved_as_safetensors_loads_and_computes_the_same():
    lstm = ms.nn.LSTM(3, 4, num_layers=2)
    result = lstm.load_state_dict(ms.load_safetensors(os.path.join(HERE, "lstm_state_dict.safetensors")))
    assert not result.missing_keys and not result.unexpected_keys
    expected = np.load(os.path.join(HERE, "lstm_state_dict_outputs.npz"))
    with ms.no_grad():
        output, (h, c) = lstm(ms.tensor(expected["input"]))
    for got, key in ((output, "output"), (h, "h"), (c, "c")):
        np.testing.assert_allclose(got.numpy(), expected[key], rtol=1e-5, atol=1e-6, err_msg=key)
