"""Sequence data (adding problem, temporal order, labelled text), the TextClassifier, and the
`minisora train classifier` run: what each computes, its padding rules, its errors, bit-exact resume."""
import json

import numpy as np
import pytest

import minisora as ms
from minisora.cli import main
from minisora.data import PYDOC_GROUPS, TextTokenizer, adding_problem, read_labelled_texts, temporal_order
from minisora.data.classification import pydoc_topic_texts
from minisora.models import SequenceRegressor, TextClassifier
from minisora.training import SequenceRun

QUIET = dict(log=lambda *a: None)


def test_adding_problem_marks_one_number_in_each_half_and_sums_them():
    data = adding_problem(2000, 30, seed=3)
    x, y = data.arrays
    assert x.shape == (2000, 30, 2) and x.dtype == np.float32 and y.shape == (2000,)
    markers = x[..., 1]
    assert (markers.sum(1) == 2).all() and (markers[:, :15].sum(1) == 1).all()
    np.testing.assert_allclose(y, (x[..., 0] * markers).sum(1), rtol=1e-6)
    # always answering 1 scores Var(U1 + U2) = 2/12 (hand-computed), within sampling error
    assert abs(float(((y - 1) ** 2).mean()) - 1 / 6) < 0.015
    np.testing.assert_array_equal(adding_problem(2000, 30, seed=3).arrays[0], x)   # seeded
    with pytest.raises(ValueError, match="adding_problem: needs count >= 1 and length >= 2"):
        adding_problem(5, 1)


def test_temporal_order_puts_two_relevant_symbols_in_their_windows():
    data = temporal_order(500, 100, seed=1)
    ids, labels = data.arrays
    assert ids.shape == (500, 100) and (ids[:, 0] == 6).all() and (ids[:, -1] == 7).all()
    relevant = ids >= 4
    relevant[:, [0, -1]] = False
    assert (relevant.sum(1) == 2).all()
    first, second = (np.nonzero(relevant)[1].reshape(500, 2).T)
    assert ((10 <= first) & (first < 20)).all() and ((50 <= second) & (second < 60)).all()
    rows = np.arange(500)
    np.testing.assert_array_equal(labels, 2 * (ids[rows, first] - 4) + (ids[rows, second] - 4))
    assert data.classes == ["XX", "XY", "YX", "YY"] and set(labels) == {0, 1, 2, 3}


def test_tokenizers_pad_with_0_and_map_unseen_tokens_to_1():
    chars = TextTokenizer.fit(["abca", "bb"])
    assert chars.tokens == ["<pad>", "<unk>", "b", "a", "c"]   # most frequent first
    ids, lengths = chars.encode_batch(["ab", "cab", "", "zz"], max_length=10)
    np.testing.assert_array_equal(ids, [[3, 2, 0], [4, 3, 2], [1, 0, 0], [1, 1, 0]])
    np.testing.assert_array_equal(lengths, [2, 3, 1, 2])
    assert chars.decode(ids[1]) == "cab"
    words = TextTokenizer.fit(["The cat sat.", "the dog"], level="word", max_tokens=5)
    assert words.tokens == ["<pad>", "<unk>", "the", ".", "cat"]
    assert words.encode("THE dog!").tolist() == [2, 1, 1]
    again = TextTokenizer.from_state_dict(json.loads(json.dumps(words.state_dict())))
    assert again.tokens == words.tokens and again.level == "word"
    with pytest.raises(ValueError, match="TextTokenizer: level must be 'char' or 'word'"):
        TextTokenizer.fit(["x"], level="byte")


def test_pydoc_topics_cover_every_topic_once_and_hold_out_whole_passages():
    from pydoc_data.topics import topics

    grouped = [t for group in PYDOC_GROUPS.values() for t in group]
    assert len(grouped) == len(set(grouped))
    covered = sum(len(topics[t]) for t in grouped if t in topics)
    assert covered / sum(len(v) for v in topics.values()) > 0.95
    train, validation, test, groups = pydoc_topic_texts(window=64)
    assert groups == list(PYDOC_GROUPS) and all(len(text) == 64 for text, _ in train + validation + test)

    def windows(topic, numbers):   # passages of 8 windows, numbered from 0; `numbers`: which, modulo 10
        text = topics[topic]
        passages = [text[start:start + 8 * 64] for start in range(0, len(text), 8 * 64)]
        return [(p[s:s + 64], 0) for n, p in enumerate(passages) if n % 10 in numbers for s in range(0, len(p) - 63, 64)]

    first = PYDOC_GROUPS["statements"][0]   # its windows come first, in order
    assert train[:len(windows(first, {0, 1, 2, 3, 5, 6, 8}))] == windows(first, {0, 1, 2, 3, 5, 6, 8})
    for part, numbers in ((test, {4, 9}), (validation, {7})):
        topic = next(t for t in PYDOC_GROUPS["statements"] if windows(t, numbers))   # the first with such passages
        assert part[:len(windows(topic, numbers))] == windows(topic, numbers)
    assert 0.15 < len(test) / (len(train) + len(validation) + len(test)) < 0.25
    overlapping = pydoc_topic_texts(window=64, stride=16)[0]   # more training windows; the others the same
    assert len(overlapping) > 3.5 * len(train)


def test_labelled_text_files_csv_and_tsv_with_their_errors(tmp_path):
    (tmp_path / "a.csv").write_text('text,label\n"good, very good",pos\nbad,neg\n\nfine,pos\n')
    assert read_labelled_texts(str(tmp_path / "a.csv")) == [("good, very good", "pos"), ("bad", "neg"),
                                                             ("fine", "pos")]
    (tmp_path / "b.tsv").write_text("one\tx\ntwo, three\ty\n")
    assert read_labelled_texts(str(tmp_path / "b.tsv")) == [("one", "x"), ("two, three", "y")]
    (tmp_path / "c.csv").write_text("a,b,c\n")
    with pytest.raises(ValueError, match=r"c.csv: row 1 has 3 fields; each row must be text,label"):
        read_labelled_texts(str(tmp_path / "c.csv"))
    (tmp_path / "d.csv").write_text("a,x\nb,x\n")
    with pytest.raises(ValueError, match="classification needs at least 2 labels"):
        read_labelled_texts(str(tmp_path / "d.csv"))
    with pytest.raises(FileNotFoundError, match="not found"):
        read_labelled_texts(str(tmp_path / "missing.csv"))


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn", "transformer", "bag"])
def test_a_padded_batch_classifies_each_text_as_it_would_alone(kind):
    ms.manual_seed(0)
    model = TextClassifier(30, 3, kind=kind, embedding_dim=8, hidden_size=6, heads=2, max_length=16)
    rng = np.random.default_rng(0)
    lengths = np.array([3, 7, 1, 5])   # in no order: the model sorts them itself
    ids = rng.integers(2, 30, (4, 7))
    for row, length in enumerate(lengths):
        ids[row, length:] = 0
    logits = model(ms.tensor(ids), lengths)
    alone = np.concatenate([model(ms.tensor(ids[row:row + 1, :length])).numpy() for row, length in enumerate(lengths)])
    np.testing.assert_allclose(logits.numpy(), alone, rtol=1e-5, atol=1e-6)
    logits.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_classifier_refuses_float_ids_and_bad_lengths():
    model = TextClassifier(10, 2, embedding_dim=4, hidden_size=4)
    with pytest.raises(TypeError, match=r"TextClassifier: ids must be integer token ids \(batch, length\), got float32"):
        model(ms.randn(2, 3))
    with pytest.raises(ValueError, match="TextClassifier: lengths must be 2 integers from 1 to 3"):
        model(ms.tensor([[1, 2, 3], [1, 2, 0]]), [3, 4])
    with pytest.raises(ValueError, match="TextClassifier: kind must be one of lstm, gru, rnn, transformer, bag"):
        TextClassifier(10, 2, kind="cnn")
    lstm = TextClassifier(10, 2, embedding_dim=4, hidden_size=4).recurrent
    np.testing.assert_allclose(lstm.bias_ih_l0.numpy()[4:8] + lstm.bias_hh_l0.numpy()[4:8], 1.0)   # forget gates open
    assert SequenceRegressor(2)(ms.randn(3, 5, 2)).shape == (3,)


def small_csv(tmp_path):
    rng = np.random.default_rng(0)
    rows = ["text,label"] + [f"{' '.join(rng.choice(['good', 'fine', 'great'], 4))},pos" for _ in range(30)] + \
        [f"{' '.join(rng.choice(['bad', 'awful', 'poor'], 3))},neg" for _ in range(30)]
    path = tmp_path / "reviews.csv"
    path.write_text("\n".join(rows) + "\n")
    return str(path)


TINY = {"embedding_dim": 8, "hidden_size": 8, "num_layers": 2, "batch_size": 8, "lr": 1e-2, "scheduler": "none",
        "dropout": 0.1, "epochs": 3}


def test_classifier_run_learns_a_small_csv_and_resumes_bit_for_bit(tmp_path):
    config = {**TINY, "dataset": small_csv(tmp_path), "level": "word"}
    straight = SequenceRun(config, str(tmp_path / "a"), **QUIET)
    history = straight.fit(progress=False)
    assert history[-1]["val_accuracy"] == 1.0 and history[-1]["train_loss"] < history[0]["train_loss"]
    SequenceRun({**config, "epochs": 1}, str(tmp_path / "b"), **QUIET).fit(progress=False)
    resumed = SequenceRun.resume(str(tmp_path / "b"), {"epochs": 3}, **QUIET)
    resumed.fit(progress=False)
    for (name, a), (_, b) in zip(straight.model.state_dict().items(), resumed.model.state_dict().items()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)
    assert [r["train_loss"] for r in resumed.history] == [r["train_loss"] for r in history]


def test_train_classifier_and_eval_from_the_command_line(tmp_path, capsys):
    out = str(tmp_path / "run")
    assert main(["train", "classifier", "--data", small_csv(tmp_path), "--level", "word", "--model", "gru",
                 "--epochs", "2", "--hidden-size", "8", "--embedding-dim", "8", "--out", out, "--no-progress"]) == 0
    assert (tmp_path / "run" / "metrics.jsonl").exists() and (tmp_path / "run" / "curves.png").exists()
    assert "training gru (2 layers, hidden 8" in capsys.readouterr().out
    assert main(["eval", "--checkpoint", out, "--split", "test"]) == 0
    printed = capsys.readouterr().out
    assert "gru on" in printed and "(test, 12 samples)" in printed and "accuracy" in printed
    assert main(["train", "classifier", "--data", "adding", "--model", "transformer", "--out", str(tmp_path / "x")]) == 2
    assert "--data adding trains a recurrent network" in capsys.readouterr().err
    assert main(["train", "classifier", "--corpus", "pydoc", "--out", str(tmp_path / "y")]) == 2
    assert "--corpus do(es) not apply to classifier" in capsys.readouterr().err


def test_the_adding_problem_trains_as_regression_and_scores_within_0_04(tmp_path, capsys):
    run = SequenceRun({"dataset": "adding", "adding_length": 8, "adding_count": 200, "epochs": 1, "hidden_size": 8},
                      str(tmp_path), **QUIET)
    assert run.config["lr"] == 5e-3 and run.config["num_layers"] == 1   # its own defaults
    loss, accuracy, predictions, targets = run.evaluate(run.validation)
    assert predictions.shape == targets.shape == (20,)
    np.testing.assert_allclose(loss, float(((predictions - targets) ** 2).mean()), rtol=1e-5)
    assert accuracy == float((np.abs(predictions - targets) < 0.04).mean())


def test_attention_with_a_key_padding_mask_ignores_the_padded_keys():
    ms.manual_seed(0)
    layer = ms.nn.MultiHeadAttention(8, 2)
    x = np.random.default_rng(0).standard_normal((2, 5, 8))
    x[1, 3:] = 100.0   # padding that would dominate if attended to
    padding = np.zeros((2, 5), dtype=bool)
    padding[1, 3:] = True
    both = layer(ms.tensor(x, dtype="float32"), key_padding_mask=padding).numpy()
    alone = layer(ms.tensor(x[1:2, :3], dtype="float32")).numpy()
    np.testing.assert_allclose(both[1, :3], alone[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(both[0], layer(ms.tensor(x[:1], dtype="float32")).numpy()[0], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"MultiHeadAttention: key_padding_mask must be bool \(2, 5\), got int64\[2, 5\]"):
        layer(ms.tensor(x, dtype="float32"), key_padding_mask=padding.astype(np.int64))
