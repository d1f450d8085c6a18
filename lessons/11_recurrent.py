# %% [markdown]
# # Lesson 11: recurrent networks, unrolled, and their gradients through time
#
# A recurrent network reads a sequence one step at a time and keeps a state h that it carries
# from each step to the next. The plain (Elman) RNN:
#
#     h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)
#
# The same weights at every step: "unrolling" it over T steps gives a deep network of T layers
# that share their weights, and backpropagation through time (BPTT) is ordinary backprop on
# that unrolled graph. minisora runs one `rnn_cell` particle per step, and its trace shows them.

# %%
import numpy as np

import minisora as ms
from lesson_setup import FAST, figure_path

ms.manual_seed(0)
rng = np.random.default_rng(0)
T, batch, inputs, hidden = 6, 2, 3, 4
x = rng.standard_normal((T, batch, inputs))
rnn = ms.nn.RNN(inputs, hidden, dtype="float64")
w_ih, w_hh, b_ih, b_hh = (p.numpy() for p in rnn.parameters())

h = np.zeros((batch, hidden))   # the loop by hand, in NumPy
states = []
for t in range(T):
    h = np.tanh(x[t] @ w_ih.T + b_ih + h @ w_hh.T + b_hh)
    states.append(h)
output, h_n = rnn(ms.tensor(x))
np.testing.assert_allclose(output.numpy(), np.stack(states), rtol=1e-12)
np.testing.assert_allclose(h_n.numpy()[0], h, rtol=1e-12)
print("the loop by hand == ms.nn.RNN: output", output.shape, "h_n", h_n.shape)

with ms.inspect.trace() as trace:
    output, _ = rnn(ms.tensor(x, requires_grad=True))
    output.sum().backward()
calls = [(r.phase, r.particle) for r in trace.records if r.particle == "rnn_cell"]
assert calls.count(("forward", "rnn_cell")) == T and calls.count(("backward", "rnn_cell")) == T
print(f"trace: {T} rnn_cell calls forward, {T} backward (one per step, walked back from the last)")

# %% [markdown]
# ## The LSTM, as it really is
#
# A source article wrote "LSTM = [sigmoid, tanh, softmax]". That is not an LSTM: there is no
# softmax inside the cell. Hochreiter & Schmidhuber's cell (with the forget gate of Gers et al.,
# in PyTorch's gate order i, f, g, o) keeps a second state, the cell c:
#
#     [i, f, g, o] = x W_ih^T + b_ih + h W_hh^T + b_hh        4 blocks of H numbers
#     i, f, o = sigmoid(.)     input, forget and output gates, each unit's own number in (0, 1)
#     g = tanh(.)              the candidate
#     c' = f c + i g           keep part of the old cell, write part of the new
#     h' = o tanh(c')
#
# A softmax would make each gate vector sum to 1, tying the units together; sigmoids let every
# unit open or close on its own. The sums below are far from 1.

# %%
cell = ms.nn.LSTMCell(inputs, hidden, dtype="float64")
w_ih, w_hh, b_ih, b_hh = (p.numpy() for p in cell.parameters())
h0, c0 = rng.standard_normal((batch, hidden)), rng.standard_normal((batch, hidden))
sigmoid = lambda z: 1 / (1 + np.exp(-z))   # noqa: E731
i, f, g, o = np.split(x[0] @ w_ih.T + b_ih + h0 @ w_hh.T + b_hh, 4, axis=1)
i, f, g, o = sigmoid(i), sigmoid(f), np.tanh(g), sigmoid(o)
c1 = f * c0 + i * g
h1 = o * np.tanh(c1)
ours_h, ours_c = cell(ms.tensor(x[0]), (ms.tensor(h0), ms.tensor(c0)))
np.testing.assert_allclose(ours_h.numpy(), h1, rtol=1e-12)
np.testing.assert_allclose(ours_c.numpy(), c1, rtol=1e-12)
sums = [float(gate.sum(1)[0]) for gate in (i, f, o)]
assert all(abs(s - 1) > 0.1 for s in sums)
print("the equations by hand == ms.nn.LSTMCell; gate sums of the first row (a softmax's would be 1):",
      [round(s, 2) for s in sums])

# %% [markdown]
# ## Vanishing gradients: how much of the loss reaches each step
#
# The loss below looks only at the last step's output. BPTT multiplies the gradient by the
# step's Jacobian dh_t / dh_{t-1} = diag(1 - h_t^2) W_hh once per step back: for a tanh RNN these
# factors are mostly below 1, and the gradient reaching early steps shrinks geometrically.
#
# The LSTM's cell path multiplies by the forget gate instead (dc = dc' f, from c' = f c + i g):
# where f is near 1 the cell keeps its memory and the gradient survives many steps. At its start
# f = sigmoid(about 0) = 0.5, so an untrained LSTM forgets fast too (its curve below); the usual
# remedy (Gers et al. 2000, Jozefowicz et al. 2015) starts the forget gate's bias high, keeping
# f near 1 until training decides otherwise (`ms.nn.forget_gate_bias_`). The third curve starts it
# at 3: f = sigmoid(3) = 0.95.

# %%
T_long = 60


def gradient_reaching_each_step(layer):
    """||dL/dx_t|| for t = 0 .. T-1, with L the sum of the last step's output."""
    xs = ms.tensor(rng.standard_normal((T_long, 1, inputs)) * 0.5, dtype="float64", requires_grad=True)
    output, _ = layer(xs)
    output[-1].sum().backward()
    return np.linalg.norm(xs.grad.numpy().reshape(T_long, -1), axis=1)


ms.manual_seed(1)
norms = {"tanh RNN": gradient_reaching_each_step(ms.nn.RNN(inputs, 32, dtype="float64")),
         "LSTM": gradient_reaching_each_step(ms.nn.LSTM(inputs, 32, dtype="float64")),
         "LSTM, forget bias 3": gradient_reaching_each_step(
             ms.nn.forget_gate_bias_(ms.nn.LSTM(inputs, 32, dtype="float64"), 3.0))}
kept = {}
for name, norm in norms.items():
    kept[name] = norm[-40] / norm[-1]
    print(f"{name:<20} |dL/dx_t| at t = T-1: {norm[-1]:.2e}, T-40: {norm[-40]:.2e}, 0: {norm[0]:.2e}   "
          f"kept over 40 steps: {kept[name]:.1e}")
assert kept["tanh RNN"] < 1e-8 and kept["LSTM"] < 1e-8   # vanished
assert kept["LSTM, forget bias 3"] > 1e-3                  # kept
ms.plot.line_plot(norms, path=figure_path("11_gradient_through_time.png"),
                  title="gradient reaching each step (loss at the last step)", xlabel="step t",
                  ylabel="|dL/dx_t|", log_y=True)
print("saved", figure_path("11_gradient_through_time.png"))

# %% [markdown]
# ## Exploding gradients, and clipping
#
# With large recurrent weights the factors are above 1 and the gradient grows with every step
# back instead: one step of gradient descent would then throw the weights far away.
# `ms.optim.clip_grad_norm_(params, max_norm)` rescales all the gradients together so that their
# joint norm is at most max_norm (the direction is kept), and returns the norm before clipping.

# %%
ms.manual_seed(2)
exploding = ms.nn.RNN(inputs, 32, nonlinearity="relu", dtype="float64")
with ms.no_grad():
    exploding.weight_hh_l0.data[...] = np.eye(32) * 1.3   # each step back multiplies by 1.3
xs = ms.tensor(np.abs(rng.standard_normal((30, 1, inputs))), dtype="float64")
output, _ = exploding(xs)
output[-1].sum().backward()
before = ms.optim.clip_grad_norm_(exploding.parameters(), max_norm=1.0)
after = np.sqrt(sum(float((p.grad.numpy() ** 2).sum()) for p in exploding.parameters()))
print(f"gradient norm before clipping {float(before):.3g}, after {after:.3g}")
assert float(before) > 1e3 and abs(after - 1.0) < 1e-9

# %% [markdown]
# ## The adding problem: memory over many steps
#
# Hochreiter & Schmidhuber's test (`ms.data.adding_problem`): T random numbers, two of them
# marked; the answer is their sum. Always answering 1 (the mean) scores an MSE of 2/12 = 0.167,
# so a network below that has learned to carry the marked numbers to the end. The LSTM learns it;
# a plain tanh RNN of the same size stays near 0.167 (at T = 100 too: `minisora train classifier
# --data adding`; this lesson uses shorter sequences to stay quick).

# %%
def train_adding(kind, length, steps, seed=0):
    ms.manual_seed(seed)
    model = ms.models.SequenceRegressor(2, kind, hidden_size=32)   # (an LSTM's forget gates start open: b_f = 1)
    optimizer = ms.optim.Adam(model.parameters(), lr=5e-3)
    data = ms.data.adding_problem(steps * 32, length, seed=seed)
    losses = []
    for step in range(steps):
        x, y = (ms.tensor(a) for a in data.batch(np.arange(step * 32, (step + 1) * 32)))
        optimizer.zero_grad()
        loss = ms.F.mse_loss(model(x), y)
        loss.backward()
        ms.optim.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        losses.append(loss.item())
    return losses


length, steps = (20, 600) if FAST else (50, 1500)
curves = {kind: train_adding(kind, length, steps) for kind in ("lstm", "rnn")}
late = {kind: float(np.mean(losses[-30:])) for kind, losses in curves.items()}
print(f"adding problem, T = {length}: mean MSE of the last 30 steps: LSTM {late['lstm']:.3f}, "
      f"tanh RNN {late['rnn']:.3f} (always 1: 0.167)")
assert late["lstm"] < 0.05 and late["rnn"] > 0.1   # learned; did not
ms.plot.line_plot(curves, path=figure_path("11_adding_problem.png"), title=f"adding problem, T = {length}",
                  xlabel="step", ylabel="MSE")
print("saved", figure_path("11_adding_problem.png"))

# %% [markdown]
# **Exercise**: write the LSTM step's backward (the gradients of gx, h, c, W and b from dh' and
# dc') in `lessons/exercises/11_lstm_cell.py`, then grade it:
# `minisora check lessons/exercises/11_lstm_cell.py`.
#
# To train the article's text classifier (Embedding -> 2-layer LSTM -> Linear on the last real
# step, gradient clipping) on Python's help text: `minisora train classifier --model lstm`.
