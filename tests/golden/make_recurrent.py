"""Write recurrent.npz and lstm_state_dict.safetensors: PyTorch's recurrent layers and cells on the
cases in recurrent_cases.py (parameters, input, initial state, outputs, and the gradients of a fixed
weighted sum of the outputs), in float64.

Run once with PyTorch installed (python tests/golden/make_recurrent.py); the files are committed so
CI checks minisora's recurrent layers against PyTorch without installing it.
"""
import os

import numpy as np
import torch
from safetensors.torch import save_file

from recurrent_cases import CASES, CELLS

HERE = os.path.dirname(os.path.abspath(__file__))


def layer_case(name, kind, options, shape, hidden, lengths, arrays):
    torch.manual_seed(len(arrays))
    steps, batch, features = shape
    layer = getattr(torch.nn, kind)(features, hidden, dtype=torch.float64, **options)
    rng = np.random.default_rng(len(arrays))
    first = options.get("batch_first", False)
    x = torch.tensor(rng.standard_normal((batch, steps, features) if first else shape), requires_grad=True)
    directions = 2 if options.get("bidirectional") else 1
    states = [torch.tensor(rng.standard_normal((options.get("num_layers", 1) * directions, batch, hidden)),
                           requires_grad=True) for _ in range(2 if kind == "LSTM" else 1)]
    hx = tuple(states) if kind == "LSTM" else states[0]
    if lengths is None:
        output, final = layer(x, hx)
    else:
        packed = torch.nn.utils.rnn.pack_padded_sequence(x, torch.tensor(lengths), batch_first=first)
        output, final = layer(packed, hx)
        output, _ = torch.nn.utils.rnn.pad_packed_sequence(output, batch_first=first, total_length=steps)
    finals = list(final) if kind == "LSTM" else [final]
    weights = [rng.standard_normal(t.shape) for t in [output] + finals]
    sum(((t * torch.tensor(w)).sum() for t, w in zip([output] + finals, weights))).backward()
    arrays[f"{name}/input"], arrays[f"{name}/input_grad"] = x.detach().numpy(), x.grad.numpy()
    for k, (state, final_k, weight) in enumerate(zip(states, finals, weights[1:])):
        arrays[f"{name}/state{k}"], arrays[f"{name}/state{k}_grad"] = state.detach().numpy(), state.grad.numpy()
        arrays[f"{name}/final{k}"], arrays[f"{name}/final{k}_weight"] = final_k.detach().numpy(), weight
    arrays[f"{name}/output"], arrays[f"{name}/output_weight"] = output.detach().numpy(), weights[0]
    for key, parameter in layer.named_parameters():
        arrays[f"{name}/param/{key}"], arrays[f"{name}/grad/{key}"] = parameter.detach().numpy(), parameter.grad.numpy()


def cell_case(name, kind, batch, features, hidden, arrays):
    torch.manual_seed(len(arrays))
    cell = getattr(torch.nn, kind)(features, hidden, dtype=torch.float64)
    rng = np.random.default_rng(len(arrays))
    x = torch.tensor(rng.standard_normal((batch, features)), requires_grad=True)
    states = [torch.tensor(rng.standard_normal((batch, hidden)), requires_grad=True)
              for _ in range(2 if kind == "LSTMCell" else 1)]
    out = cell(x, tuple(states) if kind == "LSTMCell" else states[0])
    outs = list(out) if kind == "LSTMCell" else [out]
    weights = [rng.standard_normal(t.shape) for t in outs]
    sum((t * torch.tensor(w)).sum() for t, w in zip(outs, weights)).backward()
    arrays[f"{name}/input"], arrays[f"{name}/input_grad"] = x.detach().numpy(), x.grad.numpy()
    for k, (state, o, w) in enumerate(zip(states, outs, weights)):
        arrays[f"{name}/state{k}"], arrays[f"{name}/state{k}_grad"] = state.detach().numpy(), state.grad.numpy()
        arrays[f"{name}/out{k}"], arrays[f"{name}/out{k}_weight"] = o.detach().numpy(), w
    for key, parameter in cell.named_parameters():
        arrays[f"{name}/param/{key}"], arrays[f"{name}/grad/{key}"] = parameter.detach().numpy(), parameter.grad.numpy()


def main():
    arrays = {}
    for name, case in CASES.items():
        layer_case(name, *case, arrays)
    for name, case in CELLS.items():
        cell_case(name, *case, arrays)
    np.savez_compressed(os.path.join(HERE, "recurrent.npz"), **arrays)
    # a float32 2-layer LSTM's state dict, as a PyTorch user saves one, and what it computes
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(3, 4, num_layers=2)
    save_file(lstm.state_dict(), os.path.join(HERE, "lstm_state_dict.safetensors"))
    x = torch.tensor(np.random.default_rng(0).standard_normal((5, 2, 3)), dtype=torch.float32)
    with torch.no_grad():
        output, (h, c) = lstm(x)
    np.savez_compressed(os.path.join(HERE, "lstm_state_dict_outputs.npz"), input=x.numpy(), output=output.numpy(),
                        h=h.numpy(), c=c.numpy())


if __name__ == "__main__":
    main()
