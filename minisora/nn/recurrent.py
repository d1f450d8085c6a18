"""Recurrent layers: RNN, LSTM and GRU over whole sequences, and their one-step cells.

Names, shapes, parameter names and initial values are PyTorch's, so a state dict moves between
the two (through safetensors):
    input  (T, batch, input_size), or (batch, T, input_size) with batch_first=True, or (T, input_size)
    output (T, batch, D * hidden_size)        D = 2 when bidirectional, else 1
    h_n    (num_layers * D, batch, hidden_size)   (and c_n for the LSTM)
    weight_ih_l{k}[_reverse] (G * hidden, in_k), weight_hh_l{k}[_reverse] (G * hidden, hidden),
    bias_ih_l{k}[_reverse], bias_hh_l{k}[_reverse] (G * hidden,)    G = 1 (RNN), 4 (LSTM), 3 (GRU)
    every one drawn from U(-1/sqrt(hidden), 1/sqrt(hidden))

How a layer runs: one `linear` computes every step's input share gx = x W_ih^T + b_ih at once
(with b_hh too, for the RNN and the LSTM: their cells add it unchanged at every step);
`unbind` cuts it into steps; then one cell particle a step (rnn_cell, lstm_cell, gru_cell), in
time order (the reverse direction from the last step back); `stack` gathers the states into
the output. Backward through time is that graph walked back: inspect.trace() shows a cell call
per step, each way.

Sequences of different lengths: pass `lengths` (one per sequence, longest first, as PyTorch's
pack_padded_sequence wants them). At step t only the sequences longer than t step; the others
keep their state, so h_n holds each sequence's state at its own last step, the padding changes
neither the result nor any gradient, and the output is 0 at padded steps (as PyTorch's
pad_packed_sequence gives it).
"""
import math

import numpy as np

from .. import errors, functional as F
from ..creation import zeros
from ..tensor import Tensor
from . import init
from .module import Module, Parameter

GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}


def step(kind, gx, state, weight_hh, bias_hh, nonlinearity, active):
    """One cell call: the new state, (h, c) for the LSTM, else h."""
    if kind == "LSTM":
        return F.lstm_step(gx, state[0], state[1], weight_hh, bias_hh, active=active)
    if kind == "GRU":
        return F.gru_step(gx, state, weight_hh, bias_hh, active=active)
    return F.rnn_step(gx, state, weight_hh, bias_hh, nonlinearity=nonlinearity, active=active)


def uniform_parameters(module, hidden_size):
    """Every parameter from U(-1/sqrt(hidden), 1/sqrt(hidden)), as PyTorch's recurrent layers start."""
    bound = 1.0 / math.sqrt(hidden_size)
    for parameter in module.parameters():
        init.uniform_(parameter, -bound, bound)


def checked_input(module, x, features, dtype):
    name = type(module).__name__
    if not isinstance(x, Tensor):
        raise errors.TypeError(f"{name}: expected a Tensor input, got {type(x).__name__}")
    if x.dtype.kind != "f":
        raise errors.TypeError(f"{name}: input must be float32 or float64, got {x.dtype}{list(x.shape)} "
                               "(token ids go through an Embedding first)")
    if x.dtype != dtype:
        raise errors.TypeError(f"{name}: input is {x.dtype} but the parameters are {dtype}; convert one of them")
    if x.shape[-1:] != (features,):
        raise errors.ValueError(f"{name}: input of shape {tuple(x.shape)} must end in input_size={features}")


class RNNBase(Module):
    """What RNN, LSTM and GRU share: the parameters of every layer and direction, and the loop."""

    kind = "RNN"

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, nonlinearity=None, dtype="float32"):
        super().__init__()
        name = type(self).__name__
        if nonlinearity is not None and self.kind != "RNN":
            raise errors.TypeError(f"{name}: takes no nonlinearity (its gates are sigmoid and tanh)")
        nonlinearity = nonlinearity or "tanh"
        if input_size < 1 or hidden_size < 1 or num_layers < 1:
            raise errors.ValueError(f"{name}: input_size, hidden_size and num_layers must be positive, got "
                                    f"{input_size}, {hidden_size}, {num_layers}")
        if not 0 <= dropout < 1:
            raise errors.ValueError(f"{name}: dropout must be in [0, 1), got {dropout}")
        if nonlinearity not in ("tanh", "relu"):
            raise errors.ValueError(f"{name}: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.input_size, self.hidden_size, self.num_layers = int(input_size), int(hidden_size), int(num_layers)
        self.bias, self.batch_first, self.dropout = bool(bias), bool(batch_first), float(dropout)
        self.bidirectional, self.nonlinearity = bool(bidirectional), nonlinearity
        directions, width = 2 if bidirectional else 1, GATES[self.kind] * self.hidden_size
        for layer in range(self.num_layers):
            features = self.input_size if layer == 0 else directions * self.hidden_size
            for suffix in ("", "_reverse")[:directions]:
                setattr(self, f"weight_ih_l{layer}{suffix}", Parameter(zeros(width, features, dtype=dtype)))
                setattr(self, f"weight_hh_l{layer}{suffix}", Parameter(zeros(width, self.hidden_size, dtype=dtype)))
                if self.bias:
                    setattr(self, f"bias_ih_l{layer}{suffix}", Parameter(zeros(width, dtype=dtype)))
                    setattr(self, f"bias_hh_l{layer}{suffix}", Parameter(zeros(width, dtype=dtype)))
        self.reset_parameters()

    def reset_parameters(self):
        uniform_parameters(self, self.hidden_size)

    @property
    def directions(self):
        return 2 if self.bidirectional else 1

    def weights(self, layer, suffix):
        """W_ih, W_hh, b_ih, b_hh of one layer and direction (the biases None without bias)."""
        names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        return tuple(self._parameters.get(f"{n}_l{layer}{suffix}") for n in names)

    def forward(self, input, hx=None, lengths=None):
        """(output, h_n) — for the LSTM (output, (h_n, c_n)); hx is h_0 (the LSTM: (h_0, c_0)),
        zeros when not given; lengths: each sequence's length, longest first (see the module docstring)."""
        name = type(self).__name__
        dtype = self.weight_ih_l0.dtype
        checked_input(self, input, self.input_size, dtype)
        if input.ndim not in (2, 3):
            raise errors.ValueError(f"{name}: input of shape {tuple(input.shape)} must be (T, batch, input_size), "
                                    "(batch, T, input_size) with batch_first=True, or (T, input_size)")
        unbatched = input.ndim == 2
        x = input.unsqueeze(1) if unbatched else (input.transpose(0, 1) if self.batch_first else input)
        steps, batch = x.shape[0], x.shape[1]
        states = self.initial_states(hx, batch, unbatched, dtype, x.device)
        active = self.active_rows(lengths, steps, batch)
        finals = [[] for _ in states]
        for layer in range(self.num_layers):
            outputs = []
            for direction, suffix in enumerate(("", "_reverse")[:self.directions]):
                w_ih, w_hh, b_ih, b_hh = self.weights(layer, suffix)
                if b_hh is not None and self.kind != "GRU":
                    # b_hh joins b_ih in the one product for every step (the GRU's cannot: r scales it)
                    b_ih, b_hh = b_ih + b_hh, None
                gx = F.linear(x, w_ih, b_ih).unbind(0)
                index = layer * self.directions + direction
                state = tuple(s[index] for s in states) if self.kind == "LSTM" else states[0][index]
                order = range(steps - 1, -1, -1) if direction else range(steps)
                hs = [None] * steps
                for t in order:
                    state = step(self.kind, gx[t], state, w_hh, b_hh, self.nonlinearity, active[t])
                    hs[t] = state[0] if self.kind == "LSTM" else state
                outputs.append(F.stack(hs, 0))
                for kept, final in zip(finals, state if self.kind == "LSTM" else (state,)):
                    kept.append(final)
            x = outputs[0] if len(outputs) == 1 else F.cat(outputs, 2)
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, training=True)
        if min(active, default=batch) < batch:
            x = x * padding_mask(active, batch, dtype, x.device)
        finals = tuple(F.stack(kept, 0) for kept in finals)
        if unbatched:
            x, finals = x.squeeze(1), tuple(f.squeeze(1) for f in finals)
        elif self.batch_first:
            x = x.transpose(0, 1)
        return (x, finals) if self.kind == "LSTM" else (x, finals[0])

    def initial_states(self, hx, batch, unbatched, dtype, device):
        """h_0 (and c_0) cut into each layer's and direction's (batch, hidden) state."""
        name, count = type(self).__name__, self.num_layers * self.directions
        wanted = (count, self.hidden_size) if unbatched else (count, batch, self.hidden_size)
        kinds = ("h_0", "c_0") if self.kind == "LSTM" else ("h_0",)
        if hx is None:
            return tuple(zeros(count, batch, self.hidden_size, dtype=dtype, device=device).unbind(0) for _ in kinds)
        given = tuple(hx) if self.kind == "LSTM" else (hx,)
        if self.kind == "LSTM" and (not isinstance(hx, (tuple, list)) or len(given) != 2):
            raise errors.TypeError(f"{name}: hx must be a pair (h_0, c_0)")
        states = []
        for what, state in zip(kinds, given):
            if not isinstance(state, Tensor) or tuple(state.shape) != wanted:
                shape = tuple(state.shape) if isinstance(state, Tensor) else type(state).__name__
                raise errors.ValueError(f"{name}: {what} of shape {shape} must be (num_layers * num_directions, "
                                        f"{'' if unbatched else 'batch, '}hidden_size) = {wanted}")
            if state.dtype != dtype:
                raise errors.TypeError(f"{name}: {what} is {state.dtype} but the parameters are {dtype}")
            states.append((state.unsqueeze(1) if unbatched else state).unbind(0))
        return tuple(states)

    def active_rows(self, lengths, steps, batch):
        """For each step t, how many sequences are longer than t (they are first: sorted lengths)."""
        if lengths is None:
            return [batch] * steps
        name = type(self).__name__
        host = np.asarray(lengths.numpy() if isinstance(lengths, Tensor) else lengths)
        if host.dtype.kind not in "iu" or host.shape != (batch,):
            raise errors.ValueError(f"{name}: lengths must be {batch} integers (one per sequence), got "
                                    f"{host.dtype}{list(host.shape)}")
        if host.size and (host.min() < 1 or host.max() > steps):
            raise errors.ValueError(f"{name}: lengths {host.tolist()} must be from 1 to T={steps}, the input's steps")
        if np.any(np.diff(host) > 0):
            raise errors.ValueError(f"{name}: lengths {host.tolist()} must be sorted longest first (as "
                                    "pack_padded_sequence with enforce_sorted=True): sort the batch by length")
        return [int(np.count_nonzero(host > t)) for t in range(steps)]

    def extra_repr(self):
        parts = [f"{self.input_size}, {self.hidden_size}"]
        for option, default in (("num_layers", 1), ("bias", True), ("batch_first", False), ("dropout", 0.0),
                                ("bidirectional", False)):
            if getattr(self, option) != default:
                parts.append(f"{option}={getattr(self, option)}")
        if self.kind == "RNN" and self.nonlinearity != "tanh":
            parts.append(f"nonlinearity={self.nonlinearity!r}")
        return ", ".join(parts)


def forget_gate_bias_(lstm, value=1.0):
    """Start the forget gate of every layer and direction of an LSTM (or LSTMCell) open: its
    share of b_ih + b_hh (the second block of H, gate order i, f, g, o) set to `value`, half in
    each. At the usual start f = sigmoid(about 0) = 0.5 halves the cell every step, and the
    gradient through time with it; f = sigmoid(1) = 0.73 or more lets early steps be learned from
    (Gers et al. 2000; Jozefowicz et al. 2015). Returns the module."""
    if not getattr(lstm, "kind", None) == "LSTM":
        raise errors.TypeError(f"forget_gate_bias_: expected an LSTM or LSTMCell, got {type(lstm).__name__}")
    size = lstm.hidden_size
    biases = [p for name, p in lstm.named_parameters() if name.startswith(("bias_ih", "bias_hh"))]
    if not biases:
        raise errors.ValueError("forget_gate_bias_: this LSTM has no biases (bias=False)")
    for bias in biases:
        values = bias.numpy().copy()
        values[size:2 * size] = value / 2
        bias.backend.copy_into(bias.data, values)
    return lstm


def padding_mask(active, batch, dtype, device):
    """(T, batch, 1): 1 at a sequence's real steps, 0 at its padding (at step t the first active[t]
    sequences are real: the longest come first)."""
    return Tensor((np.arange(batch)[None, :] < np.array(active)[:, None])[..., None], dtype=dtype, device=device)


class RNN(RNNBase):
    """Elman RNN: h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh), act = tanh (or relu)."""
    kind = "RNN"


class LSTM(RNNBase):
    """Long short-term memory (Hochreiter & Schmidhuber 1997, with the forget gate of Gers et al.):
    gates i, f, g, o in that order, as PyTorch's (particles/recurrent.py has the equations)."""
    kind = "LSTM"


class GRU(RNNBase):
    """Gated recurrent unit (Cho et al. 2014): gates r, z, n in that order, as PyTorch's."""
    kind = "GRU"


class RNNCellBase(Module):
    """One step: weight_ih (G hidden, input), weight_hh (G hidden, hidden), bias_ih, bias_hh."""

    kind = "RNN"

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", dtype="float32"):
        super().__init__()
        name = type(self).__name__
        if input_size < 1 or hidden_size < 1:
            raise errors.ValueError(f"{name}: input_size and hidden_size must be positive, got {input_size}, {hidden_size}")
        if nonlinearity not in ("tanh", "relu"):
            raise errors.ValueError(f"{name}: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.input_size, self.hidden_size, self.bias, self.nonlinearity = int(input_size), int(hidden_size), bias, nonlinearity
        width = GATES[self.kind] * self.hidden_size
        self.weight_ih = Parameter(zeros(width, self.input_size, dtype=dtype))
        self.weight_hh = Parameter(zeros(width, self.hidden_size, dtype=dtype))
        if bias:
            self.bias_ih, self.bias_hh = Parameter(zeros(width, dtype=dtype)), Parameter(zeros(width, dtype=dtype))
        else:
            self.bias_ih = self.bias_hh = None
        uniform_parameters(self, self.hidden_size)

    def forward(self, input, hx=None):
        name = type(self).__name__
        checked_input(self, input, self.input_size, self.weight_ih.dtype)
        if input.ndim not in (1, 2):
            raise errors.ValueError(f"{name}: input of shape {tuple(input.shape)} must be (batch, input_size) or (input_size,)")
        unbatched = input.ndim == 1
        x = input.unsqueeze(0) if unbatched else input
        wanted = (x.shape[0], self.hidden_size)
        if hx is None:
            state = zeros(*wanted, dtype=x.dtype, device=x.device)
            hx = (state, state) if self.kind == "LSTM" else state
        else:
            hx = tuple(s.unsqueeze(0) if unbatched else s for s in hx) if self.kind == "LSTM" else (
                hx.unsqueeze(0) if unbatched else hx)
            for state in (hx if self.kind == "LSTM" else (hx,)):
                if tuple(state.shape) != wanted:
                    raise errors.ValueError(f"{name}: a state of shape {tuple(state.shape)} must be "
                                            f"{wanted[1:] if unbatched else wanted} for input {tuple(input.shape)}")
        gx = F.linear(x, self.weight_ih, self.bias_ih)
        new = step(self.kind, gx, hx, self.weight_hh, self.bias_hh, self.nonlinearity, None)
        if unbatched:
            new = tuple(s.squeeze(0) for s in new) if self.kind == "LSTM" else new.squeeze(0)
        return new

    def extra_repr(self):
        extra = "" if self.kind != "RNN" or self.nonlinearity == "tanh" else f", nonlinearity={self.nonlinearity!r}"
        return f"{self.input_size}, {self.hidden_size}{'' if self.bias else ', bias=False'}{extra}"


class RNNCell(RNNCellBase):
    kind = "RNN"


class LSTMCell(RNNCellBase):
    kind = "LSTM"

    def __init__(self, input_size, hidden_size, bias=True, dtype="float32"):
        super().__init__(input_size, hidden_size, bias, dtype=dtype)


class GRUCell(RNNCellBase):
    kind = "GRU"

    def __init__(self, input_size, hidden_size, bias=True, dtype="float32"):
        super().__init__(input_size, hidden_size, bias, dtype=dtype)
