# %% [markdown]
# # Lesson 08: self-attention, step by step
#
# Each position t asks a question (query q_t), every position s offers a key k_s and a value
# v_s. Query t scores each key, softmax turns the scores into weights, and t takes the
# weighted mean of the values:
#
#     scores = Q K^T / sqrt(d_k)          d_k: the size of a query/key vector (not of V!)
#     P = softmax(scores + mask)          causal mask: -inf where s > t, so t sees only the past
#     out = P V
#
# Dividing by sqrt(d_k) keeps the scores' spread near 1 whatever d_k is: without it, wide
# heads would push softmax to a single 1 and many 0s, and its gradient to nothing.

# %%
import math

import numpy as np

import minisora as ms
from lesson_setup import figure_path

rng = np.random.default_rng(0)
text = "attention"
T, d_k = len(text), 8
q, k, v = (rng.normal(size=(T, d_k)) for _ in range(3))

scores = q @ k.T / math.sqrt(d_k)                       # step 1: scaled scores
mask = np.triu(np.ones((T, T), dtype=bool), 1)          # step 2: hide the future
scores[mask] = -np.inf
weights = np.exp(scores - scores.max(1, keepdims=True))  # step 3: softmax, row by row
weights /= weights.sum(1, keepdims=True)
out = weights @ v                                        # step 4: weighted mean of the values

ours, ours_weights = ms.F.scaled_dot_product_attention(ms.tensor(q), ms.tensor(k), ms.tensor(v), causal=True,
                                                       need_weights=True)
np.testing.assert_allclose(ours.numpy(), out, rtol=1e-12)
np.testing.assert_allclose(ours_weights.numpy(), weights, rtol=1e-12)
print("by hand == minisora's fused particle; every row of P sums to", weights.sum(1).round(12).tolist()[:3], "...")

# %% [markdown]
# Why sqrt(d_k): the spread of q . k grows like sqrt(d_k) for random vectors.

# %%
for width in (4, 64, 1024):
    a, b = rng.normal(size=(2000, width)), rng.normal(size=(2000, width))
    dots = (a * b).sum(1)
    print(f"d_k = {width:<5} std of q.k = {dots.std():7.2f}   after / sqrt(d_k): {(dots / math.sqrt(width)).std():.2f}")

# %%
ms.plot.attention_heatmap(ours_weights, tokens=list(text), path=figure_path("08_attention_weights.png"),
                          title="causal self-attention")
print("saved", figure_path("08_attention_weights.png"))

# %% [markdown]
# Multi-head attention runs several of these side by side on slices of the features, each free
# to look for something else; `ms.nn.MultiHeadAttention` returns every head's weights. It makes
# q, k and v for all heads with one product (`layer.qkv`, its weight Wq, Wk, Wv stacked) and
# cuts the result with `split` into the query, key and value heads: views, no copies.

# %%
ms.manual_seed(0)
layer = ms.nn.MultiHeadAttention(d_model=16, heads=4, causal=True)
x = ms.randn(1, T, 16)
_, head_weights = layer(x, need_weights=True)
print("qkv weight", layer.qkv.weight.shape, "->", [tuple(p.shape) for p in layer.qkv(x).split(16, dim=-1)])
ms.plot.attention_heatmap(head_weights[0], tokens=list(text), path=figure_path("08_heads.png"))
print("saved", figure_path("08_heads.png"), "with", head_weights.shape[1], "heads")

# %% [markdown]
# **Exercise**: write attention's backward (dS, dQ, dK) in `lessons/exercises/08_attention.py`,
# then grade it: `minisora check lessons/exercises/08_attention.py`.
