"""Transformer modules, the GPT, text data, and the `train gpt` / `generate` commands."""
import json
import os

import numpy as np
import pytest

import minisora as ms
from minisora import nn
from minisora.cli import main
from minisora.data import CharTokenizer, TextBatches, pydoc_corpus, read_corpus, split_ids
from minisora.serialization import load
from minisora.training import LanguageModelRun

TINY = {"layers": 1, "d_model": 16, "heads": 2, "context": 8, "batch_size": 4, "steps": 6, "eval_every": 3,
        "eval_batches": 2, "sample_tokens": 5}


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("the cat sat on the mat. " * 40 + "é, ünïcode ok\n", encoding="utf-8")
    return str(path)


# --- modules ---------------------------------------------------------------------------------
def test_multi_head_attention_equals_per_head_attention_by_hand():
    ms.manual_seed(0)
    layer = nn.MultiHeadAttention(6, heads=2, causal=True).double()
    x = np.random.default_rng(0).normal(size=(2, 4, 6))
    out, weights = layer(ms.tensor(x), need_weights=True)
    project = lambda lin, v: v @ lin.weight.numpy().T + lin.bias.numpy()   # noqa: E731
    q, k, v = np.split(project(layer.qkv, x), 3, axis=-1)   # Wq, Wk, Wv stacked in that order
    heads = []
    for h in range(2):
        part = slice(3 * h, 3 * h + 3)
        scores = q[..., part] @ np.swapaxes(k[..., part], -1, -2) / np.sqrt(3)
        scores = np.where(np.tril(np.ones((4, 4), bool)), scores, -np.inf)
        p = np.exp(scores - scores.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
        np.testing.assert_allclose(weights.numpy()[:, h], p, rtol=1e-12)
        heads.append(p @ v[..., part])
    np.testing.assert_allclose(out.numpy(), project(layer.out, np.concatenate(heads, -1)), rtol=1e-12, atol=1e-14)


def test_checkpoints_with_separate_query_key_value_still_load():
    # before the projections were packed, a checkpoint held query., key. and value. Linears
    ms.manual_seed(0)
    layer = nn.MultiHeadAttention(6, heads=2)
    state = {name: value.numpy() for name, value in layer.state_dict().items()}
    old = {"out.weight": state["out.weight"], "out.bias": state["out.bias"]}
    for kind in ("weight", "bias"):
        for name, part in zip(("query", "key", "value"), np.split(state[f"qkv.{kind}"], 3)):
            old[f"{name}.{kind}"] = part
    fresh = nn.MultiHeadAttention(6, heads=2)
    fresh.load_state_dict(old)
    for name, value in fresh.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), state[name], err_msg=name)
    nested = nn.TransformerBlock(6, heads=2)
    nested.load_state_dict({**{k: v.numpy() for k, v in nested.state_dict().items() if ".qkv." not in k},
                            **{f"attention.{name}": value for name, value in old.items() if "out." not in name}})
    np.testing.assert_array_equal(nested.attention.qkv.weight.numpy(), state["qkv.weight"])


def test_transformer_block_gradcheck_and_residual_path():
    ms.manual_seed(1)
    block = nn.TransformerBlock(4, heads=2).double()
    slots = [(m, name) for m in block.modules() for name in m._parameters]

    def forward(x, *params):
        for (module, name), value in zip(slots, params):
            module._parameters[name] = value
        return block(x)

    x = ms.tensor(np.random.default_rng(2).normal(size=(1, 3, 4)), requires_grad=True)
    report = ms.gradcheck(forward, [x] + [ms.tensor(m._parameters[n].numpy(), requires_grad=True) for m, n in slots])
    assert report, str(report)


def test_module_shapes_and_bad_input():
    assert nn.FeedForward(8)(ms.zeros(2, 3, 8)).shape == (2, 3, 8)
    assert nn.FeedForward(8).up.out_features == 32
    assert nn.LayerNorm(8)(ms.randn(2, 8)).shape == (2, 8)
    assert nn.Embedding(10, 4)(ms.tensor([[1, 2, 3]])).shape == (1, 3, 4)
    assert nn.PositionalEncoding(4)(ms.zeros(2, 3, 4)).shape == (2, 3, 4)
    with pytest.raises(ValueError, match="d_model 6 must be divisible by heads 4"):
        nn.MultiHeadAttention(6, 4)
    with pytest.raises(ValueError, match=r"MultiHeadAttention\(d_model=8\): input must be \(batch, length, 8\)"):
        nn.MultiHeadAttention(8, 2)(ms.zeros(3, 8))
    with pytest.raises(ValueError, match=r"GPT: ids must be \(batch, length <= 4\)"):
        ms.models.GPT(5, 4, 8, 2, 1)(ms.tensor([[0, 1, 2, 3, 4]]))


def test_embedding_module_starts_as_standard_normal():
    ms.manual_seed(0)
    weights = nn.Embedding(500, 40).weight.numpy()
    assert abs(weights.mean()) < 0.02 and abs(weights.std() - 1) < 0.02


# --- GPT ---------------------------------------------------------------------------------------
def test_gpt_is_causal_and_learns_a_pattern():
    ms.manual_seed(0)
    model = ms.models.GPT(vocab_size=5, context=8, d_model=16, heads=2, layers=2)
    ids = np.array([[0, 1, 2, 3, 4, 0, 1, 2]])
    changed = ids.copy()
    changed[0, 5:] = [4, 4, 4]
    a, b = model(ms.tensor(ids)).numpy(), model(ms.tensor(changed)).numpy()
    np.testing.assert_allclose(a[:, :5], b[:, :5], rtol=1e-6)   # positions 0..4 never see 5..7
    optimizer = ms.optim.AdamW(model.parameters(), lr=3e-3)
    sequence = ms.tensor(np.tile([0, 1, 2, 3, 4], 4)[None, :9])
    for _ in range(150):
        optimizer.zero_grad()
        loss = model.loss(sequence[:, :-1], sequence[:, 1:])
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.05
    ms.manual_seed(3)
    assert model.generate(ms.tensor([[0, 1]]), 6, temperature=0.5).tolist() == [[0, 1, 2, 3, 4, 0, 1, 2]]


def test_generate_is_reproducible_and_respects_top_k_and_temperature():
    ms.manual_seed(0)
    model = ms.models.GPT(vocab_size=7, context=4, d_model=8, heads=2, layers=1)
    prompt = np.zeros((3, 1), np.int64)
    ms.manual_seed(11)
    first = model.generate(prompt, 30).numpy()
    ms.manual_seed(11)
    np.testing.assert_array_equal(model.generate(prompt, 30).numpy(), first)
    assert first.shape == (3, 31)   # longer than the context: the window slides
    with ms.no_grad():
        logits = model(ms.tensor(prompt)).numpy()[:, -1]
    top2 = set(np.argsort(logits[0])[-2:].tolist())
    ms.manual_seed(5)
    picks = model.generate(prompt[:1], 1, top_k=2)
    samples = {int(model.generate(prompt[:1], 1, top_k=2).numpy()[0, 1]) for _ in range(40)} | {int(picks.numpy()[0, 1])}
    assert samples <= top2
    greedy = int(np.argmax(logits[0]))
    cold = {int(model.generate(prompt[:1], 1, temperature=1e-4).numpy()[0, 1]) for _ in range(20)}
    assert cold == {greedy}
    with pytest.raises(ValueError, match="temperature must be > 0"):
        model.generate(prompt, 1, temperature=0)


# --- text data ---------------------------------------------------------------------------------
def test_tokenizer_round_trip_and_unknown_characters():
    tokenizer = CharTokenizer.from_text("hello, world")
    assert tokenizer.vocab_size == len(set("hello, world"))
    assert tokenizer.decode(tokenizer.encode("low, hero")) == "low, hero"
    with pytest.raises(ValueError, match="character 'z' is not in the vocabulary"):
        tokenizer.encode("zoo")
    assert CharTokenizer.from_state_dict(tokenizer.state_dict()).vocabulary == tokenizer.vocabulary


def test_pydoc_corpus_is_bundled():
    text = pydoc_corpus()
    assert 400_000 < len(text) < 600_000 and 90 <= len(set(text)) <= 110
    assert read_corpus("pydoc") == text


def test_batches_are_contiguous_windows_shifted_by_one():
    ids = np.arange(100)
    train, val = split_ids(ids)
    assert len(train) == 90 and val[0] == 90
    batches = TextBatches(train, context=7, batch_size=5, seed=3)
    x, y = batches.sample()
    assert x.shape == (5, 7) and x.dtype == np.int64
    np.testing.assert_array_equal(x.numpy()[:, 1:], y.numpy()[:, :-1])
    np.testing.assert_array_equal(np.diff(x.numpy(), axis=1), 1)   # contiguous text
    assert y.numpy().max() < 90
    state = batches.state_dict()
    again = TextBatches(train, 7, 5, seed=99)
    again.load_state_dict(state)
    np.testing.assert_array_equal(again.sample()[0].numpy(), batches.sample()[0].numpy())
    with pytest.raises(ValueError, match="cannot fill a window of context 200"):
        TextBatches(train, 200, 1)


def test_read_corpus_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="corpus file"):
        read_corpus(str(tmp_path / "missing.txt"))
    (tmp_path / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    with pytest.raises(ValueError, match="is not UTF-8 text"):
        read_corpus(str(tmp_path / "latin1.txt"))


# --- runs and the command line -----------------------------------------------------------------
def comparable(history):
    return [{k: v for k, v in row.items() if k in ("step", "train_loss", "val_loss")} for row in history]


def test_gpt_resume_is_bit_for_bit(tmp_path, corpus):
    config = {**TINY, "corpus": corpus, "dropout": 0.1}
    straight = LanguageModelRun(config, str(tmp_path / "a"), log=lambda *a: None)
    straight.fit(progress=False)
    LanguageModelRun({**config, "steps": 3}, str(tmp_path / "b"), log=lambda *a: None).fit(progress=False)
    resumed = LanguageModelRun.resume(str(tmp_path / "b"), {"steps": 6}, log=lambda *a: None)
    resumed.fit(progress=False)
    for (name, a), (_, b) in zip(straight.model.state_dict().items(), resumed.model.state_dict().items()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)
    assert comparable(straight.history) == comparable(resumed.history)
    with pytest.raises(ValueError, match="--resume: d_model was 16 in the saved run, got 32"):
        LanguageModelRun.resume(str(tmp_path / "b"), {"d_model": 32})


def test_a_run_saved_with_separate_query_key_value_generates_but_says_why_it_cannot_resume(tmp_path, corpus):
    LanguageModelRun({**TINY, "corpus": corpus}, str(tmp_path), log=lambda *a: None).fit(progress=False)
    path = str(tmp_path / "checkpoint.safetensors")
    state = load(path)
    model = {}
    for name, value in state["model"].items():   # as the checkpoint of an earlier minisora held them
        if ".qkv." in name:
            for part, piece in zip(("query", "key", "value"), np.split(value.numpy(), 3)):
                model[name.replace("qkv", part)] = piece
        else:
            model[name] = value
    ms.save({**state, "model": model}, path)
    with pytest.raises(ValueError, match=r"--resume: the checkpoint names its parameters as an earlier minisora "
                                         r"did \(blocks\.0\.attention\.key\.bias, \.\.\.\): its weights still load"):
        LanguageModelRun.resume(str(tmp_path), {"steps": 9}, log=lambda *a: None)
    assert main(["generate", "--checkpoint", str(tmp_path), "--tokens", "5"]) == 0


def test_cli_train_gpt_then_generate(tmp_path, corpus, capsys):
    out = str(tmp_path / "gpt")
    args = ["train", "gpt", "--corpus", corpus, "--layers", "1", "--d-model", "16", "--heads", "2", "--context", "8",
            "--batch-size", "4", "--steps", "4", "--eval-every", "2", "--out", out, "--no-progress"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "val loss" in printed and "sample:" in printed and "done in" in printed
    rows = [json.loads(line) for line in open(os.path.join(out, "metrics.jsonl"))]
    assert [r["step"] for r in rows] == [2, 4] and all(r["val_loss"] > 0 for r in rows)
    assert os.path.getsize(os.path.join(out, "curves.png")) > 5000
    state = load(os.path.join(out, "checkpoint.safetensors"))
    assert state["tokenizer"]["vocabulary"] == "".join(sorted(set(open(corpus, encoding="utf-8").read())))
    assert main(["generate", "--checkpoint", out, "--prompt", "the ", "--tokens", "12", "--seed", "1"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("the ") and len(text.rstrip("\n")) >= 16
    assert main(["generate", "--checkpoint", out, "--prompt", "the ", "--tokens", "12", "--seed", "1"]) == 0
    assert capsys.readouterr().out == text
    assert main(["generate", "--checkpoint", out, "--prompt", "Q"]) == 2
    assert "character 'Q' is not in the vocabulary" in capsys.readouterr().err
    assert main(["eval", "--checkpoint", out]) == 2
    assert "eval scores classifiers" in capsys.readouterr().err
    assert main(["train", "gpt", "--dataset", "digits", "--out", out]) == 2
    assert "--dataset do(es) not apply to gpt" in capsys.readouterr().err
