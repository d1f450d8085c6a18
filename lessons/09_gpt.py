# %% [markdown]
# # Lesson 09: the transformer block and a character GPT that writes
#
# A transformer block (pre-LayerNorm, as in GPT-2) adds two things to its input x, each
# computed from a normalized copy:
#
#     x = x + Attention(LayerNorm(x))       positions exchange information
#     x = x + FeedForward(LayerNorm(x))     each position thinks on its own: Linear, GELU, Linear
#
# The residual "x +" gives the gradient a straight road back through every block. A GPT stacks
# blocks over token + position embeddings and ends with a Linear layer scoring the next character.
# We train one on Python's own help text (bundled with Python) and let it write.

# %%
import tempfile

import numpy as np

import minisora as ms
from minisora.training import LanguageModelRun
from lesson_setup import FAST, figure_path

config = {"layers": 1 if FAST else 2, "d_model": 32 if FAST else 64, "heads": 4, "context": 32,
          "batch_size": 16, "steps": 30 if FAST else 600, "eval_every": 15 if FAST else 100,
          "eval_batches": 4, "sample_tokens": 80, "lr": 3e-3}
with tempfile.TemporaryDirectory() as folder:
    run = LanguageModelRun(config, folder)
    print(f"{sum(p.numel() for p in run.model.parameters()):,} parameters, "
          f"{run.tokenizer.vocab_size} characters in the vocabulary")
    history = run.fit(progress=False)

# %%
steps = [h["step"] for h in history]
figure = ms.plot.training_curves(history, x="step", title="a small GPT on pydoc",
                                 path=figure_path("09_gpt_loss.png"))
print("saved", figure_path("09_gpt_loss.png"))
print(f"validation loss: {history[0]['val_loss']:.3f} at step {steps[0]} -> {history[-1]['val_loss']:.3f} "
      f"at step {steps[-1]} (a model that guesses uniformly scores ln {run.tokenizer.vocab_size} = "
      f"{np.log(run.tokenizer.vocab_size):.2f})")

# %% [markdown]
# Sampling: temperature < 1 picks likely characters more often, top-k keeps only the k best.

# %%
ms.manual_seed(0)
for temperature in (0.5, 1.0):
    print(f"--- temperature {temperature} ---")
    print(run.sample("The ", tokens=120, temperature=temperature, top_k=10))

# %% [markdown]
# Where does the trained model look? The first block's attention on a line of text:

# %%
attention = run.model.blocks[0].attention
prompt = "def f(x):"[: config["context"]]
ids = ms.tensor(run.tokenizer.encode(prompt)[None, :])
with ms.no_grad():
    _, weights = attention(run.model.token_embedding(ids) + run.model.position_embedding(ms.arange(len(prompt))),
                           need_weights=True)
ms.plot.attention_heatmap(weights[0], tokens=list(prompt), path=figure_path("09_gpt_attention.png"))
print("saved", figure_path("09_gpt_attention.png"))

# %% [markdown]
# **Exercise**: write layer norm's backward in `lessons/exercises/09_layer_norm.py`,
# then grade it: `minisora check lessons/exercises/09_layer_norm.py`.
