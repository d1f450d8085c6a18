# %% [markdown]
# # Lesson 07: embeddings and positional encoding
#
# A language model reads ids (a character's number in the vocabulary). An **embedding** turns
# each id into a learned vector: row `id` of a table W (vocabulary x d). Its backward adds the
# incoming gradient to the rows that were used, so an id that appears twice gets both.
#
# Attention (lesson 08) does not know the order of its inputs, so each position gets a
# vector of its own too. The **sinusoidal encoding** of Vaswani et al. uses
#
#     PE(t, 2i) = sin(t / 10000^(2i/d)),    PE(t, 2i+1) = cos(t / 10000^(2i/d))
#
# (the exponent is 2i/d, the same for the sine and the cosine of one pair): pair i turns at its
# own speed, from once every 2 pi positions (i = 0) to once every 2 pi 10000 positions.

# %%
import math

import numpy as np

import minisora as ms
from lesson_setup import FAST, figure_path

tokenizer = ms.data.CharTokenizer.from_text("hello world")
ids = ms.tensor(tokenizer.encode("hello"))
print("vocabulary:", repr(tokenizer.vocabulary), " 'hello' ->", ids.tolist())

ms.manual_seed(0)
table = ms.nn.Embedding(tokenizer.vocab_size, 4)
vectors = table(ids)
print("each character becomes a vector of 4 numbers:", vectors.shape)
vectors.sum().backward()
print("gradient rows: 'l' was used twice, so its row got 2 per entry:")
for character in sorted(set("hello")):
    print(f"   {character!r}: {table.weight.grad.numpy()[tokenizer.ids[character]].tolist()}")

# %% [markdown]
# The encoding by hand for d = 4 at position t = 1, against minisora's particle:

# %%
d = 4
by_hand = [math.sin(1 / 10000 ** (0 / d)), math.cos(1 / 10000 ** (0 / d)),
           math.sin(1 / 10000 ** (2 / d)), math.cos(1 / 10000 ** (2 / d))]
table_pe = ms.F.positional_encoding(ms.zeros(1, 3, d, dtype="float64")).numpy()[0]
print("PE(1, :) by hand:", np.round(by_hand, 6).tolist(), " minisora:", np.round(table_pe[1], 6).tolist())
np.testing.assert_allclose(table_pe[1], by_hand, rtol=1e-12)

# %%
length, width = (32, 32) if FAST else (100, 64)
pe = ms.F.positional_encoding(ms.zeros(1, length, width, dtype="float64")).numpy()[0]
figure = ms.plot.figure.new_figure(10, 4)
heat_axes, line_axes = figure.subplots(1, 2)
image = heat_axes.imshow(pe.T, aspect="auto", cmap="RdBu")
heat_axes.set_xlabel("position t")
heat_axes.set_ylabel("feature")
heat_axes.set_title("sinusoidal positional encoding")
figure.colorbar(image, ax=heat_axes)
for feature in (0, 2, 8, 20):
    line_axes.plot(pe[:, feature], label=f"feature {feature}")
line_axes.set_xlabel("position t")
line_axes.set_ylabel("PE(t, feature)")
line_axes.legend(fontsize=8)
line_axes.set_title("lower features turn faster")
ms.plot.figure.finish(figure, figure_path("07_positional_encoding.png"))
print("saved", figure_path("07_positional_encoding.png"))

# %% [markdown]
# Similar positions get similar vectors: the dot product of PE(t) with every other position
# falls off with the distance, which lets attention find "the character two places back".

# %%
similarity = pe @ pe[length // 2]
print("PE(t) . PE(middle) near the middle:", np.round(similarity[length // 2 - 3: length // 2 + 4], 2).tolist())

# %% [markdown]
# **Exercise**: write the backward of the embedding table (repeated ids add up) in `lessons/exercises/07_embedding.py`,
# then grade it: `minisora check lessons/exercises/07_embedding.py`.
