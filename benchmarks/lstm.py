"""A 2-layer LSTM, forward + backward, side by side: minisora vs PyTorch CPU eager vs plain NumPy.

    python benchmarks/lstm.py [--rounds N] [--startup]

batch 64, T 64, input 128, hidden 256, float32, the loss the sum of the last layer's outputs.
Each side runs in a process of its own, interleaved rounds, medians (common.py); ratios > 1 mean
minisora is faster. Two PyTorch columns: `torch` as a user gets it (on x86 its CPU LSTM runs the
whole layer as one oneDNN primitive, mkldnn_rnn_layer) and `torch_native` with oneDNN switched
off (ATen's LSTM: the same per-step products and gate ops as minisora's cells). `numpy` is the
same forward and backward written directly in NumPy, no graph. benchmarks/shares.py splits
minisora's step into products, kernels and Python.
"""
import argparse

import numpy as np

from common import Worker, have_torch, machine, measure_rounds, startup_times, summary

BATCH, STEPS, INPUT, HIDDEN, LAYERS = 64, 64, 128, 256, 2


def inputs(case):
    """Fixed input (T, batch, input) and LSTM parameters, PyTorch's names and init bound."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((case.get("steps", STEPS), BATCH, INPUT)).astype(np.float32)
    bound = 1 / np.sqrt(HIDDEN)
    params = {}
    for layer in range(LAYERS):
        features = INPUT if layer == 0 else HIDDEN
        for name, shape in (("weight_ih", (4 * HIDDEN, features)), ("weight_hh", (4 * HIDDEN, HIDDEN)),
                            ("bias_ih", (4 * HIDDEN,)), ("bias_hh", (4 * HIDDEN,))):
            params[f"{name}_l{layer}"] = rng.uniform(-bound, bound, shape).astype(np.float32)
    return x, params


def minisora_lstm(x, params):
    import minisora as ms

    lstm = ms.nn.LSTM(INPUT, HIDDEN, num_layers=LAYERS)
    lstm.load_state_dict({k: ms.tensor(v) for k, v in params.items()})
    xs = ms.tensor(x)

    def step():
        lstm.zero_grad()
        output, _ = lstm(xs)
        output.sum().backward()
    return step


def torch_lstm(x, params, native=False):
    import torch

    lstm = torch.nn.LSTM(INPUT, HIDDEN, num_layers=LAYERS)
    lstm.load_state_dict({k: torch.tensor(v) for k, v in params.items()})
    xs = torch.tensor(x)

    def step():
        with torch.backends.mkldnn.flags(enabled=not native):
            lstm.zero_grad()
            output, _ = lstm(xs)
            output.sum().backward()
    return step


def torch_native_lstm(x, params):
    return torch_lstm(x, params, native=True)


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def numpy_lstm(x, params):
    """The forward and backward through time written directly in NumPy (no graph, no framework)."""
    def layer_forward(x, w_ih, w_hh, b_ih, b_hh):
        steps, batch, hidden = x.shape[0], x.shape[1], w_hh.shape[1]
        gx = (x.reshape(steps * batch, -1) @ w_ih.T + b_ih + b_hh).reshape(steps, batch, -1)
        h, c = np.zeros((batch, hidden), np.float32), np.zeros((batch, hidden), np.float32)
        hs, cs, gates = [h], [c], []
        for t in range(steps):
            z = gx[t] + h @ w_hh.T
            i, f, o = sigmoid(z[:, :hidden]), sigmoid(z[:, hidden:2 * hidden]), sigmoid(z[:, 3 * hidden:])
            g = np.tanh(z[:, 2 * hidden:3 * hidden])
            c = f * c + i * g
            h = o * np.tanh(c)
            hs.append(h), cs.append(c), gates.append((i, f, g, o))
        return np.stack(hs[1:]), (hs, cs, gates)

    def layer_backward(x, grad_out, w_ih, w_hh, saved):
        hs, cs, gates = saved
        steps, batch = x.shape[:2]
        dh, dc = np.zeros_like(hs[0]), np.zeros_like(cs[0])
        grad_gates = np.empty((steps, batch, w_hh.shape[0]), np.float32)
        for t in reversed(range(steps)):
            i, f, g, o = gates[t]
            dh = dh + grad_out[t]
            tc = np.tanh(cs[t + 1])
            dc = dc + dh * o * (1 - tc * tc)
            grad_gates[t] = np.concatenate([dc * g * i * (1 - i), dc * cs[t] * f * (1 - f), dc * i * (1 - g * g),
                                            dh * tc * o * (1 - o)], axis=1)
            dh, dc = grad_gates[t] @ w_hh, dc * f
        rows = grad_gates.reshape(steps * batch, -1)
        grad_w_hh = rows.T @ np.stack(hs[:-1]).reshape(steps * batch, -1)
        return (rows @ w_ih).reshape(x.shape), rows.T @ x.reshape(steps * batch, -1), grad_w_hh, rows.sum(0)

    weights = [[params[f"{n}_l{k}"] for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")] for k in range(LAYERS)]

    def step():
        inputs, saved, h = [], [], x
        for w in weights:
            inputs.append(h)
            h, state = layer_forward(h, *w)
            saved.append(state)
        grad = np.ones_like(h)
        for k in reversed(range(LAYERS)):
            grad = layer_backward(inputs[k], grad, weights[k][0], weights[k][1], saved[k])[0]
    return step


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--startup", action="store_true", help="also time a cold and a warm start (T 8)")
    args = parser.parse_args()
    print(machine())
    print(f"2-layer LSTM forward+backward, batch {BATCH}, T {STEPS}, input {INPUT}, hidden {HIDDEN}, float32, "
          f"median [lowest-highest] of {args.rounds} interleaved rounds, one process each; vs X > 1: minisora is faster")
    builders = ["minisora_lstm", "numpy_lstm"] + (["torch_lstm", "torch_native_lstm"] if have_torch() else [])
    workers = {name.rsplit("_lstm", 1)[0]: Worker("lstm", name, {}) for name in builders}
    print(summary("2-layer LSTM", measure_rounds(workers, args.rounds)), flush=True)
    if args.startup:
        cold, warm = startup_times("lstm", "minisora_lstm", case={"steps": 8})
        print(f"start-up, import to the end of the first minisora step (T 8): cold {cold:.2f} s (empty kernel cache), "
              f"warm {warm:.2f} s")


if __name__ == "__main__":
    main()
