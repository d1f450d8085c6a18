"""Masked-language-model pretraining and fine-tuning (issue 27): BERT's masking rule, the encoder
and its tied MLM head, loading a pretrained encoder by name into a classifier, the pretraining
and fine-tuning runs (bit-exact resume), `minisora train mlm`, `finetune`, `fill`.

Oracles: the masking rule's proportions against binomial bounds (a fixed seed); the tied weight's
gradient against the sum of the gradients of its two uses computed apart; the classifier's
weights against the checkpoint's, name by name; an uninterrupted run against a resumed one.
(The ignore_index gradient is in test_losses.py, the parameter groups and the warm-up schedule
against PyTorch's golden trajectory in test_optim.py.)
"""
import json
import os

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import minisora as ms
from minisora.cli import main
from minisora.data import IGNORE_INDEX, MLM_SPECIALS, TextTokenizer, mask_tokens, pydoc_pretraining_text
from minisora.data.classification import pydoc_topic_texts
from minisora.models import MaskedLanguageModel, TextClassifier, TransformerEncoder
from minisora.serialization import load
from minisora.training import FineTuningRun, MaskedLanguageModelRun, fill, load_for_filling

QUIET = dict(log=lambda *a: None)
TINY_MLM = {"layers": 1, "d_model": 16, "heads": 2, "context": 24, "batch_size": 4, "steps": 6, "eval_every": 3,
            "eval_batches": 2, "dropout": 0.1}


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("def f(x): return x\nclass A: pass\n" * 30 + "while True: break\n" * 20, encoding="utf-8")
    return str(path)


def small_csv(tmp_path):
    rng = np.random.default_rng(0)
    rows = ["text,label"] + [f"return {' '.join(rng.choice(['x', 'y', 'f(x)'], 3))},return" for _ in range(30)] + \
        [f"class {' '.join(rng.choice(['A', 'B', 'C'], 2))}: pass,class" for _ in range(30)]
    path = tmp_path / "code.csv"
    path.write_text("\n".join(rows) + "\n")
    return str(path)


def tokenizer_for(text="abcdefgh"):
    return TextTokenizer.fit([text], "char", specials=MLM_SPECIALS)


# --- the masking rule -------------------------------------------------------------------------
def test_masking_rule_proportions_follow_bert():
    tokenizer = tokenizer_for("abcdefghijklmnopqrstuvwxyz")
    rng = np.random.default_rng(0)
    ids = rng.integers(4, tokenizer.vocab_size, (200, 250))
    ids[:, -10:] = 0   # padding is never chosen
    inputs, labels = mask_tokens(ids, tokenizer.vocab_size, tokenizer.mask_id, tokenizer.special_ids,
                                 np.random.default_rng(1))
    chosen = labels != IGNORE_INDEX
    ordinary = ids != 0
    n = ordinary.sum()   # 48,000 ordinary positions; 5 standard deviations of each binomial share
    assert not chosen[~ordinary].any() and (inputs[~ordinary] == 0).all()
    assert abs(chosen.sum() / n - 0.15) < 5 * np.sqrt(0.15 * 0.85 / n)
    k = chosen.sum()
    masked = (inputs == tokenizer.mask_id) & chosen
    kept = (inputs == ids) & chosen
    changed = chosen & ~masked & ~kept   # a random token that differs from the original
    assert abs(masked.sum() / k - 0.8) < 5 * np.sqrt(0.8 * 0.2 / k)
    # the 10% kept, plus the random 10% that drew the original token again (1 in 26)
    assert abs(kept.sum() / k - (0.1 + 0.1 / 26)) < 5 * np.sqrt(0.1 * 0.9 / k)
    assert abs(changed.sum() / k - 0.1 * 25 / 26) < 5 * np.sqrt(0.1 * 0.9 / k)
    assert (labels[chosen] == ids[chosen]).all()
    assert (inputs[~chosen] == ids[~chosen]).all()
    assert not np.isin(inputs[changed], tokenizer.special_ids).any()   # random tokens are ordinary ones


@settings(max_examples=25, deadline=None)
@given(batch=st.integers(1, 3), length=st.integers(1, 6), seed=st.integers(0, 2**16))
def test_every_batch_has_a_chosen_position_and_keeps_its_shape(batch, length, seed):
    tokenizer = tokenizer_for()
    ids = np.random.default_rng(seed).integers(4, tokenizer.vocab_size, (batch, length))
    inputs, labels = mask_tokens(ids, tokenizer.vocab_size, tokenizer.mask_id, tokenizer.special_ids,
                                 np.random.default_rng(seed), probability=0.01)
    assert inputs.shape == labels.shape == ids.shape and inputs.dtype == labels.dtype == np.int64
    assert (labels != IGNORE_INDEX).sum() >= 1   # never a mean over no positions


def test_masking_bad_input():
    tokenizer = tokenizer_for()
    rng = np.random.default_rng(0)
    with pytest.raises(IndexError, match=r"mask_tokens: token id 99 is out of range \[0, 12\)"):
        mask_tokens([[4, 99]], tokenizer.vocab_size, tokenizer.mask_id, tokenizer.special_ids, rng)
    with pytest.raises(ValueError, match=r"mask_tokens: probability must be in \(0, 1\], got 1.5"):
        mask_tokens([[4]], tokenizer.vocab_size, tokenizer.mask_id, tokenizer.special_ids, rng, probability=1.5)
    with pytest.raises(ValueError, match=r"mask_tokens: mask_id 7 must be one of the special ids"):
        mask_tokens([[4]], tokenizer.vocab_size, 7, tokenizer.special_ids, rng)


def test_tokenizer_special_tokens_round_trip():
    tokenizer = tokenizer_for("hello")
    assert tokenizer.tokens[:4] == ["<pad>", "<unk>", "<mask>", "<cls>"]
    assert (tokenizer.mask_id, tokenizer.cls_id, tokenizer.special_ids.tolist()) == (2, 3, [0, 1, 2, 3])
    again = TextTokenizer.from_state_dict(tokenizer.state_dict())
    assert again.tokens == tokenizer.tokens and again.mask_id == 2
    plain = TextTokenizer.fit(["hello"])
    assert plain.mask_id is None and plain.special_ids.tolist() == [0, 1]
    with pytest.raises(ValueError, match="specials must be"):
        TextTokenizer.fit(["x"], specials=("<cls>",))


def test_pretraining_text_leaves_out_every_held_out_passage():
    text = pydoc_pretraining_text(128)
    _, validation, test, _ = pydoc_topic_texts(128)
    assert not any(window in text for window, _ in validation + test)
    train, _, _, _ = pydoc_topic_texts(128)   # the training windows stay, but where they repeat a held-out one
    assert np.mean([window in text for window, _ in train[::10]]) > 0.8


# --- the models -------------------------------------------------------------------------------
def test_mlm_head_is_tied_and_its_gradient_adds_both_uses():
    ms.manual_seed(0)
    model = MaskedLanguageModel(TransformerEncoder(10, 6, 8, 2, 1))
    names = [name for name, _ in model.named_parameters()]
    assert "encoder.token_embedding.weight" in names and not any(n.startswith("decoder.weight") for n in names)
    ids = ms.tensor([[4, 5, 2, 7, 8]])
    labels = ms.tensor([[IGNORE_INDEX, IGNORE_INDEX, 6, IGNORE_INDEX, 9]])
    model.loss(ids, labels).backward()
    tied = model.encoder.token_embedding.weight.grad.numpy().copy()
    # the same computation with the output layer given a copy of E: its gradient plus the input's
    embedding = model.encoder.token_embedding.weight
    copy = ms.tensor(embedding.numpy(), requires_grad=True)
    model.zero_grad()
    hidden = model.encoder(ids)
    h = model.transform_norm(ms.F.gelu(model.transform(hidden)))
    logits = ms.F.linear(h, copy, model.decoder_bias)
    ms.F.cross_entropy(logits.reshape(-1, 10), labels.reshape(-1)).backward()
    np.testing.assert_allclose(tied, embedding.grad.numpy() + copy.grad.numpy(), rtol=1e-5, atol=1e-7)


def test_mlm_starts_near_the_uniform_guess():
    # embedding vectors of length ~1: the first loss is about ln(vocab), not many times it
    ms.manual_seed(0)
    model = MaskedLanguageModel(TransformerEncoder(100, 16, 32, 2, 1))
    ids = ms.tensor(np.random.default_rng(0).integers(4, 100, (8, 16)))
    loss = model.loss(ids, ids).item()
    assert abs(loss - np.log(100)) < 1.0


def test_cls_pooling_prepends_the_token_and_mean_pooling_skips_padding():
    ms.manual_seed(0)
    encoder = TransformerEncoder(10, 7, 8, 2, 1, pooling="cls", cls_id=3)
    hidden = encoder(ms.tensor([[4, 5, 6]]))
    assert hidden.shape == (1, 4, 8)
    np.testing.assert_array_equal(encoder.pooled(hidden).numpy(), hidden.numpy()[:, 0])
    mean = TransformerEncoder(10, 6, 8, 2, 1)
    padded = mean(ms.tensor([[4, 5, 0, 0]]), np.array([2]))
    np.testing.assert_allclose(mean.pooled(padded, np.array([2])).numpy(), padded.numpy()[:, :2].mean(1), rtol=1e-6)
    sinusoidal = TransformerEncoder(10, 6, 8, 2, 1, positions="sinusoidal")
    assert not any("position_embedding" in name for name, _ in sinusoidal.named_parameters())
    first, second = sinusoidal(ms.tensor([[4, 4]])).numpy()[0]   # one token, two places: two states
    assert not np.allclose(first, second)
    with pytest.raises(ValueError, match="pooling 'cls' needs the tokenizer's <cls> id"):
        TransformerEncoder(10, 6, 8, 2, 1, pooling="cls")
    with pytest.raises(ValueError, match="TransformerEncoder: 7 tokens exceed max_length=6"):
        mean(ms.tensor(np.ones((1, 7), dtype=np.int64)))


def test_an_older_transformer_classifier_checkpoint_still_loads():
    ms.manual_seed(0)
    model = TextClassifier(12, 3, "transformer", 8, num_layers=1, heads=2, max_length=10)
    old = {name.replace("encoder.token_embedding.", "embedding.").replace("encoder.", ""): value
           for name, value in model.state_dict().items()}   # as a transformer classifier named them before
    fresh = TextClassifier(12, 3, "transformer", 8, num_layers=1, heads=2, max_length=10)
    fresh.load_state_dict(old)
    for (name, a), (_, b) in zip(model.state_dict().items(), fresh.state_dict().items()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)


# --- the runs ---------------------------------------------------------------------------------
def comparable(history):
    return [{k: v for k, v in row.items() if k in ("step", "train_loss", "val_loss", "unigram_entropy")}
            for row in history]


def test_mlm_run_learns_and_resumes_bit_for_bit(tmp_path, corpus):
    config = {**TINY_MLM, "corpus": corpus}
    straight = MaskedLanguageModelRun(config, str(tmp_path / "a"), **QUIET)
    straight.fit(progress=False)
    assert 0 < straight.history[-1]["unigram_entropy"] < np.log(straight.tokenizer.vocab_size)
    MaskedLanguageModelRun({**config, "steps": 3}, str(tmp_path / "b"), **QUIET).fit(progress=False)
    resumed = MaskedLanguageModelRun.resume(str(tmp_path / "b"), {"steps": 6}, **QUIET)
    resumed.fit(progress=False)
    for (name, a), (_, b) in zip(straight.model.state_dict().items(), resumed.model.state_dict().items()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)
    assert comparable(straight.history) == comparable(resumed.history)
    state = load(str(tmp_path / "a" / "checkpoint.safetensors"))
    assert state["kind"] == "mlm" and state["tokenizer"]["tokens"][:4] == ["<pad>", "<unk>", "<mask>", "<cls>"]


def test_a_context_shorter_than_the_probe_says_so_instead_of_failing(tmp_path, corpus):
    run = MaskedLanguageModelRun({**TINY_MLM, "corpus": corpus, "context": 12, "steps": 2, "eval_every": 2},
                                 str(tmp_path), **QUIET)
    run.fit(progress=False)
    assert run.sample_line() == "fill: the probe 'def f(x): ret[MASK]rn x' is longer than the context of 12 tokens"


@pytest.fixture
def pretrained(tmp_path, corpus):
    out = str(tmp_path / "mlm")
    MaskedLanguageModelRun({**TINY_MLM, "corpus": corpus}, out, **QUIET).fit(progress=False)
    return out


TINY_TUNE = {"epochs": 3, "batch_size": 8, "window": 20, "lr": 1e-2, "encoder_lr": 3e-3}


def test_fine_tuning_loads_the_encoder_by_name_and_starts_a_fresh_head(tmp_path, pretrained):
    config = {**TINY_TUNE, "pretrained": pretrained, "dataset": small_csv(tmp_path)}
    run = FineTuningRun(config, str(tmp_path / "tune"), **QUIET)
    saved = load(os.path.join(pretrained, "checkpoint.safetensors"))["model"]
    encoder = run.model.encoder.state_dict()
    assert set("encoder." + name for name in encoder) == {n for n in saved if n.startswith("encoder.")}
    for name, value in encoder.items():
        np.testing.assert_array_equal(value.numpy(), saved["encoder." + name].numpy(), err_msg=name)
    assert not any(name.startswith("head.") for name in saved)   # the head is new: the MLM had none
    scratch = FineTuningRun({**config, "init": "scratch"}, str(tmp_path / "scratch"), **QUIET)
    assert not np.array_equal(scratch.model.encoder.token_embedding.weight.numpy(),
                              saved["encoder.token_embedding.weight"].numpy())
    # two parameter groups each (matrices with weight decay, vectors without), at their own lr
    lrs = sorted({(g["initial_lr"], g["weight_decay"]) for g in run.optimizer.param_groups})
    assert lrs == [(3e-3, 0.0), (3e-3, 0.01), (1e-2, 0.0), (1e-2, 0.01)]
    assert all(g["lr"] == 0.0 for g in run.optimizer.param_groups)   # the warm-up starts from 0


def test_freezing_keeps_the_pretrained_weights(tmp_path, pretrained):
    config = {**TINY_TUNE, "epochs": 1, "pretrained": pretrained, "dataset": small_csv(tmp_path)}
    run = FineTuningRun({**config, "freeze": "encoder"}, str(tmp_path / "frozen"), **QUIET)
    before = {name: value.numpy().copy() for name, value in run.model.state_dict().items()}
    run.fit(progress=False)
    after = run.model.state_dict()
    assert all(np.array_equal(before[n], after[n].numpy()) for n in before if n.startswith("encoder."))
    assert not np.array_equal(before["head.weight"], after["head.weight"].numpy())
    embeddings = FineTuningRun({**config, "freeze": "embeddings"}, str(tmp_path / "embeddings"), **QUIET)
    trainable = {name for name, p in embeddings.model.named_parameters() if p.requires_grad}
    assert "encoder.token_embedding.weight" not in trainable and "encoder.blocks.0.norm1.weight" in trainable


def test_fine_tuning_learns_and_resumes_bit_for_bit(tmp_path, pretrained):
    config = {**TINY_TUNE, "pretrained": pretrained, "dataset": small_csv(tmp_path)}
    straight = FineTuningRun(config, str(tmp_path / "a"), **QUIET)
    history = straight.fit(progress=False)
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert [r["lr"] for r in history][-1] == 0.0   # decayed to 0 at the last step
    stopped = FineTuningRun(config, str(tmp_path / "b"), **QUIET)
    step, steps = stopped.train_step, []

    def then_stop(*batch):   # as Ctrl-C does: after the 5th step (mid-epoch) the run saves and stops
        steps.append(1)
        stopped.stop_requested = len(steps) == 5
        return step(*batch)
    stopped.train_step = then_stop
    stopped.fit(progress=False)
    assert (stopped.epoch, stopped.batch) == (0, 5)
    resumed = FineTuningRun.resume(str(tmp_path / "b"), {}, **QUIET)
    resumed.fit(progress=False)
    for (name, a), (_, b) in zip(straight.model.state_dict().items(), resumed.model.state_dict().items()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)
    assert [r["train_loss"] for r in resumed.history] == [r["train_loss"] for r in history]


def test_a_fine_tuned_run_evaluates_and_resumes_without_the_pretrained_folder(tmp_path, pretrained, capsys):
    import shutil

    out = str(tmp_path / "tuned")
    run = FineTuningRun({**TINY_TUNE, "epochs": 1, "pretrained": pretrained, "dataset": small_csv(tmp_path)}, out,
                        **QUIET)
    run.fit(progress=False)
    shutil.rmtree(pretrained)
    assert main(["eval", "--checkpoint", out, "--split", "test"]) == 0
    assert "accuracy" in capsys.readouterr().out
    resumed = FineTuningRun.resume(out, {}, **QUIET)
    for (name, a), (_, b) in zip(run.model.state_dict().items(), resumed.model.state_dict().items()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)


def test_fine_tuning_bad_input(tmp_path, pretrained, corpus):
    data = small_csv(tmp_path)
    with pytest.raises(ValueError, match=r"--from DIR \(a `minisora train mlm` run\) is required"):
        FineTuningRun({"dataset": data}, str(tmp_path / "x"), **QUIET)
    with pytest.raises(ValueError, match=r"--labels-fraction must be in \(0, 1\], got 0"):
        FineTuningRun({"pretrained": pretrained, "labels_fraction": 0}, str(tmp_path / "x"), **QUIET)
    with pytest.raises(ValueError, match="windows of 200 characters are longer than the 24 the encoder was "
                                         "pretrained on; pass --window 24 or less"):
        FineTuningRun({"pretrained": pretrained, "window": 200}, str(tmp_path / "x"), **QUIET)
    other = str(tmp_path / "gpt")
    ms.training.LanguageModelRun({"corpus": corpus, "layers": 1, "d_model": 8, "heads": 2, "context": 8, "steps": 1,
                                  "batch_size": 2, "eval_batches": 1, "sample_tokens": 1}, other, **QUIET).fit(progress=False)
    with pytest.raises(ValueError, match=r"--from .*gpt: holds a gpt run, not a masked language model"):
        FineTuningRun({"pretrained": other, "dataset": data}, str(tmp_path / "x"), **QUIET)
    path = os.path.join(pretrained, "checkpoint.safetensors")
    state = load(path)
    state["model"] = {name: value for name, value in state["model"].items() if "blocks.0.norm1" not in name}
    ms.save(state, path)
    with pytest.raises(ValueError, match=r"the pretrained encoder does not fit this classifier's: .*missing keys: "
                                         r"blocks\.0\.norm1\.weight"):
        FineTuningRun({"pretrained": pretrained, "dataset": data, "window": 20}, str(tmp_path / "x"), **QUIET)


def test_fill_guesses_with_probabilities(pretrained):
    model, tokenizer = load_for_filling(pretrained)
    guesses = fill(model, tokenizer, "def f(x): ret[MASK]rn <mask>", top_k=3)
    assert [place for place, _ in guesses] == [13, 17]
    for _, ranked in guesses:
        probabilities = [p for _, p in ranked]
        assert len(ranked) == 3 and probabilities == sorted(probabilities, reverse=True) and sum(probabilities) <= 1
        assert not any(token.startswith("<") and token.endswith(">") for token, _ in ranked)
    with pytest.raises(ValueError, match="has no \\[MASK\\] to fill in"):
        fill(model, tokenizer, "no mask here")


def test_cli_train_mlm_finetune_fill_and_eval(tmp_path, corpus, capsys):
    mlm = str(tmp_path / "mlm")
    assert main(["train", "mlm", "--corpus", corpus, "--layers", "1", "--d-model", "16", "--heads", "2", "--context",
                 "24", "--batch-size", "4", "--steps", "4", "--eval-every", "2", "--out", mlm, "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "unigram entropy of the training text" in printed and "fill: 'def f(x): ret[MASK]rn x' ->" in printed
    rows = [json.loads(line) for line in open(os.path.join(mlm, "metrics.jsonl"))]
    assert [r["step"] for r in rows] == [2, 4] and all("unigram_entropy" in r for r in rows)
    assert main(["fill", "--checkpoint", mlm, "--text", "ret[MASK]rn", "--top-k", "2"]) == 0
    printed = capsys.readouterr().out
    assert "'ret[MASK]rn' -> 'ret" in printed and "[MASK] 1 (token 3):" in printed and "%" in printed
    tuned = str(tmp_path / "tuned")
    assert main(["finetune", "--from", mlm, "--data", small_csv(tmp_path), "--window", "20", "--epochs", "2",
                 "--labels-fraction", "0.5", "--freeze", "embeddings", "--out", tuned, "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "fine-tuning a transformer classifier from the encoder of" in printed and "(freeze embeddings)" in printed
    assert "labelled texts (50%)" in printed and "final val acc" in printed
    assert main(["eval", "--checkpoint", tuned, "--split", "test"]) == 0
    assert "accuracy" in capsys.readouterr().out
    assert main(["fill", "--checkpoint", tuned, "--text", "[MASK]"]) == 2
    assert "not a masked language model" in capsys.readouterr().err


def test_the_lessons_pretrained_encoder_is_the_documented_run_without_its_optimizer():
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lessons", "data",
                        "pretrained_pydoc_words.safetensors")
    state = load(path)
    assert sorted(state) == ["config", "history", "kind", "model", "tokenizer"] and state["kind"] == "mlm"
    c = state["config"]   # minisora train mlm --level word --context 32 --layers 2 --d-model 64 --heads 2 --steps 2500
    assert (c["level"], c["context"], c["layers"], c["d_model"], c["heads"], c["steps"]) == ("word", 32, 2, 64, 2, 2500)
    assert state["history"][-1]["step"] == 2500
    assert state["history"][-1]["val_loss"] < state["history"][-1]["unigram_entropy"] - 2
    model, tokenizer = load_for_filling(path)
    assert tokenizer.level == "word" and tokenizer.mask_id == 2
