# %% [markdown]
# # Lesson 12: self-supervised pretraining, then fine-tuning on a few labels
#
# Labels are expensive; text is not. A masked language model (BERT, Devlin et al. 2019) learns
# from text alone: hide some of its tokens and train a bidirectional encoder to guess them from
# both sides. Then keep the encoder, put a small fresh head on it, and fine-tune on the few
# labelled texts there are. Our text: Python's help (the pydoc topics), our labels: which group
# of the manual a window of it comes from (statements, expressions, data model, built-in types).

# %%
import numpy as np

import minisora as ms
from lesson_setup import FAST, data_path, figure_path
from minisora.data import IGNORE_INDEX, mask_tokens
from minisora.plot.figure import finish, new_figure
from minisora.training import FineTuningRun, MaskedLanguageModelRun, fill, load_for_filling

# %% [markdown]
# ## The masking rule
#
# Of the ordinary tokens (never <pad>, <unk>, <mask>, <cls>) 15% are chosen. Of those, 80%
# become <mask>, 10% a random token, 10% stay as they are; the label is the original token at the
# chosen positions and -100 elsewhere, so `cross_entropy(..., ignore_index=-100)` scores only
# those. Why not mask them all? When the model is used no token is ever masked: it must not learn
# that an unmasked token is always right.

# %%
tokenizer = ms.data.TextTokenizer.fit(["the statement returns the value of an expression"], "word",
                                      specials=ms.data.MLM_SPECIALS)
ids = tokenizer.encode("the statement returns the value of an expression")[None, :]
inputs, labels = mask_tokens(ids, tokenizer.vocab_size, tokenizer.mask_id, tokenizer.special_ids,
                             np.random.default_rng(3), probability=0.3)
print("inputs:", tokenizer.decode(inputs))
print("labels:", [tokenizer.tokens[i] if i != IGNORE_INDEX else "-" for i in labels[0]])

many = np.random.default_rng(0).integers(4, 1000, (400, 250))
inputs, labels = mask_tokens(many, 1000, 2, np.arange(4), np.random.default_rng(1))
chosen = labels != IGNORE_INDEX
shares = {"chosen": chosen.mean(), "masked": (inputs[chosen] == 2).mean(),
          "random": (inputs[chosen] != many[chosen]).mean() - (inputs[chosen] == 2).mean(),
          "kept": (inputs[chosen] == many[chosen]).mean()}
print("of 100,000 tokens: " + ", ".join(f"{k} {v:.1%}" for k, v in shares.items()))
assert abs(shares["chosen"] - 0.15) < 0.005 and abs(shares["masked"] - 0.8) < 0.01
assert abs(shares["random"] - 0.1) < 0.01 and abs(shares["kept"] - 0.1) < 0.01

# %% [markdown]
# ## Pretraining: the loss against the unigram entropy
#
# A model that knew only how often each word occurs would pay the unigram entropy
# H = -sum p log p on every guess. The encoder sees the words around each hidden one; its
# held-out loss falling well below H is what it learned from context. A small encoder (2 blocks
# of 48) on the help text, word by word, with the text pydoc-topics holds out left out of it.

# %%
pretraining = {"level": "word", "context": 32, "layers": 2, "d_model": 48, "heads": 2, "batch_size": 32,
               "steps": 300 if FAST else 1200, "eval_every": 100 if FAST else 300, "eval_batches": 8, "lr": 2e-3}
run = MaskedLanguageModelRun(pretraining, out=figure_path("12_mlm"), log=lambda message: None)
run.fit(progress=False)
steps = [row["step"] for row in run.history]
losses = [row["val_loss"] for row in run.history]
print(f"unigram entropy {run.unigram_entropy:.3f} nats; held-out MLM loss after {steps[-1]} steps {losses[-1]:.3f}")
assert losses[-1] < run.unigram_entropy - 1.0
figure = new_figure(6, 4)
axes = figure.subplots()
axes.plot(steps, losses, "o-", label="held-out MLM loss")
axes.axhline(run.unigram_entropy, color="tab:red", linestyle="--", label="unigram entropy (counts alone)")
axes.set_xlabel("pretraining step")
axes.set_ylabel("cross-entropy on the masked words (nats)")
axes.legend()
finish(figure, figure_path("12_mlm_loss.png"))


# %% [markdown]
# ## Fine-tuning: the same encoder, a fresh head, two learning rates
#
# `FineTuningRun` (`minisora finetune`) builds the text classifier with the pretrained run's sizes
# and tokenizer and loads its `encoder.*` parameters by name; the MLM head is left behind and a
# new Linear head starts from random weights. The head learns at a higher rate than the encoder
# (parameter groups: each has its own lr, as in PyTorch), and both rates climb from 0 over the
# first 10% of the steps and then fall linearly to 0 (warm-up keeps Adam's first, noisiest
# updates from wrecking what pretraining learned).

# %%
tuning = {"pretrained": figure_path("12_mlm"), "labels_fraction": 0.1, "epochs": 8, "lr": 3e-3, "encoder_lr": 1e-3}
tuned = FineTuningRun(tuning, out=figure_path("12_tuned"), log=lambda message: None)
saved = ms.load(figure_path("12_mlm/checkpoint.safetensors"))["model"]
for name, value in tuned.model.encoder.state_dict().items():
    assert np.array_equal(value.numpy(), saved["encoder." + name].numpy())
print(f"{len(tuned.model.encoder.state_dict())} encoder tensors loaded by name; the head is new: "
      f"{[name for name in tuned.model.state_dict() if not name.startswith('encoder.')]}")
for group in tuned.optimizer.param_groups:
    print(f"  group of {len(group['params'])} tensors: lr {group['initial_lr']:g}, weight decay {group['weight_decay']}")

schedule = []
for step in range(len(tuned.loader) * tuning["epochs"]):
    schedule.append([group["lr"] for group in tuned.optimizer.param_groups][::2])
    tuned.scheduler.step()
schedule = np.array(schedule)
total, warmup = len(schedule), round(0.1 * len(schedule))
assert schedule[0].tolist() == [0.0, 0.0] and np.allclose(schedule[warmup], [1e-3, 3e-3])
assert np.allclose(schedule[-1], np.array([1e-3, 3e-3]) / (total - warmup))
figure = new_figure(6, 4)
axes = figure.subplots()
axes.plot(schedule[:, 1], label="head (lr 3e-3)")
axes.plot(schedule[:, 0], label="encoder (lr 1e-3)")
axes.set_xlabel("fine-tuning step")
axes.set_ylabel("learning rate")
axes.legend()
finish(figure, figure_path("12_schedule.png"))

# %% [markdown]
# ## Does pretraining pay?
#
# The encoder above had seconds of pretraining. `lessons/data/pretrained_pydoc_words.safetensors`
# is a small encoder (2 blocks of 64, a little wider than the one above) after 2500 steps, about
# two minutes on two cores:
#
#     minisora train mlm --level word --context 32 --layers 2 --d-model 64 --heads 2 --steps 2500
#
# (its weights, tokenizer and configuration; the optimizer's state left out). The same classifier,
# the same 10% of the labels, the same seed: once from that encoder, once from random weights,
# scored on the held-out test passages (text the pretraining never read).
# `benchmarks/pretraining.py` does this with a larger encoder, three seeds and 5/10/25/100% of
# the labels.

# %%
shipped = data_path("pretrained_pydoc_words.safetensors")
print(f"the shipped encoder's held-out MLM loss: {ms.load(shipped)['history'][-1]['val_loss']:.3f} nats")
model, words = load_for_filling(shipped)
guesses = fill(model, words, "a [MASK] is a sequence of characters", top_k=3)[0][1]
print("a [MASK] is a sequence of characters ->", [(token, f"{p:.1%}") for token, p in guesses])
assert guesses[0][0] == "string"
accuracy = {}
for init in ("pretrained", "scratch"):
    run = FineTuningRun({**tuning, "pretrained": shipped, "init": init}, out=figure_path(f"12_{init}"),
                        log=lambda message: None)
    run.fit(progress=False)
    accuracy[init] = run.evaluate(run.test)[1]
    print(f"{init:>10}: test accuracy {accuracy[init]:.1%} on {len(run.test)} windows "
          f"({len(run.loader.dataset)} labelled for training)")
majority = np.bincount(run.test.arrays[-1]).max() / len(run.test)
print(f"always answering the commonest group: {majority:.1%}")
assert accuracy["pretrained"] > accuracy["scratch"] + 0.05 and accuracy["scratch"] < majority + 0.05

# %% [markdown]
# Freezing is the other knob: `--freeze encoder` trains the head alone (a linear probe of what
# pretraining learned), `--freeze embeddings` keeps only the word vectors. With very few labels,
# fewer free parameters overfit less; with many, letting the encoder move pays.
#
# **Exercise**: write BERT's masking rule in `lessons/exercises/12_masking.py`, then grade it:
# `minisora check lessons/exercises/12_masking.py`.
