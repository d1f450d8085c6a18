# %% [markdown]
# # Lesson 17: errata of the source articles, each correction proved
#
# minisora's lessons follow a series of articles on the "basic particles" of neural networks.
# They are good reading, and they hold five slips. Each one below has the article's statement,
# the right one, and a cell that computes the difference and asserts it.

# %%
import numpy as np

import minisora as ms
from minisora import F

# %% [markdown]
# ## 1. One gradient-descent step: 1.95, not 1.45
#
# w = 2, x = 1, target t = 1.5, L = (w x - t)^2 / 2, learning rate 0.1. The article prints the
# new weight as 1.45. The right value is w - lr dL/dw = 2 - 0.1 * 0.5 = 1.95. Where 1.45 comes
# from: the step was taken from the target instead of the weight (1.5 - 0.05). Forgetting the
# learning rate would give 1.5 instead.

# %%
w = ms.nn.Parameter(ms.tensor(2.0, dtype="float64"))
x, t, lr = 1.0, 1.5, 0.1
((w * x - t) ** 2 / 2).backward()
slope = w.grad.item()
ms.optim.SGD([w], lr=lr).step()
print(f"dL/dw = {slope}, new w = {w.item()}; t - lr dL/dw = {t - lr * slope:.2f}; w - dL/dw = {2.0 - slope}")
assert slope == 0.5 and abs(w.item() - 1.95) < 1e-12
assert abs((t - lr * slope) - 1.45) < 1e-12 and 2.0 - slope == 1.5

# %% [markdown]
# ## 2. Attention divides the scores by sqrt(d_k), not by V
#
# The article writes the scores as divided by V. Attention is softmax(Q K^T / sqrt(d_k)) V:
# the scores are scaled by the square root of the key size (so their spread does not grow
# with d_k and the softmax does not saturate), turned into weights, and the weights then
# *multiply* V. Dividing by V is not even defined: V is a matrix of values.

# %%
rng = np.random.default_rng(0)
q, k, v = rng.standard_normal((3, 8)), rng.standard_normal((5, 8)), rng.standard_normal((5, 4))
scores = q @ k.T / np.sqrt(q.shape[-1])
weights = np.exp(scores - scores.max(-1, keepdims=True))
weights /= weights.sum(-1, keepdims=True)
ours = F.scaled_dot_product_attention(ms.tensor(q[None]), ms.tensor(k[None]), ms.tensor(v[None])).numpy()[0]
np.testing.assert_allclose(ours, weights @ v, rtol=1e-12)
spread = [np.std(rng.standard_normal((500, d)) @ rng.standard_normal((d, 500))) for d in (4, 64)]
print(f"score spread without the scale: d=4: {spread[0]:.1f}, d=64: {spread[1]:.1f} (grows as sqrt(d))")
assert 3 < spread[1] / spread[0] < 5   # sqrt(64 / 4) = 4

# %% [markdown]
# ## 3. Positional encoding: the formula, and its numbers
#
# The article's worked example does not follow its own formula. The formula (Vaswani et al.,
# 2017) for position t and dimension pair i of a d-dimensional encoding:
#
#     PE(t, 2i) = sin(t / 10000^(2i/d))      PE(t, 2i+1) = cos(t / 10000^(2i/d))
#
# For d = 4 the frequencies are 1 and 1/100, so position 1 is [sin 1, cos 1, sin 0.01,
# cos 0.01] = [0.8415, 0.5403, 0.0100, 1.0000], and position 0 is [0, 1, 0, 1].

# %%
table = F.positional_encoding(ms.zeros(1, 3, 4, dtype="float64")).numpy()[0]   # PE added to zeros: PE itself
print(np.round(table, 4))
np.testing.assert_allclose(table[0], [0, 1, 0, 1], atol=1e-15)
np.testing.assert_allclose(table[1], [np.sin(1), np.cos(1), np.sin(0.01), np.cos(0.01)], rtol=1e-12)
np.testing.assert_allclose(np.round(table[1], 4), [0.8415, 0.5403, 0.0100, 1.0000])

# %% [markdown]
# ## 4. Adadelta is not "an improved Adam"
#
# Adadelta (Zeiler, 2012) extends Adagrad: it replaces Adagrad's ever-growing sum of squared
# gradients by a decaying average, and its step divides a running RMS of past *updates* by
# the RMS of the gradients (no learning rate is needed). Adam (Kingma and Ba, 2014) came two
# years later and adds what Adadelta lacks: a first moment, momentum. The cell shows the
# difference: after a gradient of 1, a gradient of 0 moves Adam on (its momentum remembers
# the first gradient) but not Adadelta.

# %%
def two_steps(make):
    p = ms.nn.Parameter(ms.tensor([0.0], dtype="float64"))
    optimizer = make([p])
    moves = []
    for grad in (1.0, 0.0):
        before = p.item()
        p.grad = ms.tensor([grad], dtype="float64")
        optimizer.step()
        moves.append(p.item() - before)
    return moves


adadelta = two_steps(lambda p: ms.optim.Adadelta(p, lr=1.0, rho=0.9, eps=1e-6))
adam = two_steps(lambda p: ms.optim.Adam(p, lr=0.1))
print(f"second step (gradient 0): Adadelta {adadelta[1]:.2e}, Adam {adam[1]:.2e}")
assert adadelta[1] == 0.0 and adam[1] < -0.01
# Adadelta's first step by hand: E[g^2] = 0.1 g^2, step = -sqrt(0 + eps) / sqrt(E[g^2] + eps) * g
assert abs(adadelta[0] - (-np.sqrt(1e-6) / np.sqrt(0.1 + 1e-6))) < 1e-15

# %% [markdown]
# ## 5. An LSTM is sigmoid gates and tanh, no softmax
#
# The article lists an LSTM's activations as [sigmoid, tanh, softmax]. Inside an LSTM cell there
# is no softmax: the input, forget and output gates are sigmoids (each unit's gate between 0
# and 1, on its own), the candidate and the cell's output squashing are tanh. A softmax would
# tie the units together, making each gate vector sum to 1; a language model may put one on
# top of the LSTM, to turn its output into next-token probabilities, but that is not the cell.
#
#     i, f, o = sigmoid(W_i [h, x]), sigmoid(W_f [h, x]), sigmoid(W_o [h, x])
#     g = tanh(W_g [h, x]);   c' = f c + i g;   h' = o tanh(c')

# %%
units, inputs = 6, 3
weights = {gate: ms.tensor(rng.standard_normal((units, units + inputs)), dtype="float64") for gate in "ifog"}
h, c = ms.zeros(1, units, dtype="float64"), ms.zeros(1, units, dtype="float64")
hx = ms.cat([h, ms.tensor(rng.standard_normal((1, inputs)), dtype="float64")], dim=1)
i, f, o = (F.linear(hx, weights[gate]).sigmoid() for gate in "ifo")
g = F.linear(hx, weights["g"]).tanh()
c = f * c + i * g
h = o * c.tanh()
for name, gate in (("input", i), ("forget", f), ("output", o)):
    values = gate.numpy()
    assert ((values > 0) & (values < 1)).all() and abs(values.sum() - 1) > 0.1, name   # not a softmax
print("gate sums (a softmax's would be 1):", [round(float(gate.numpy().sum()), 2) for gate in (i, f, o)])
assert (np.abs(h.numpy()) < 1).all()
