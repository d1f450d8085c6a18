"""Training runs end to end: the CLI, its files, resuming bit for bit, Ctrl-C, and the digits target."""
import json
import os
import signal

import numpy as np
import pytest

from minisora.cli import main
from minisora.serialization import load
from minisora.training import ClassifierRun

QUICK = {"dataset": "moons", "hidden": [16], "epochs": 3, "batch_size": 64, "optimizer": "adam", "lr": 0.01,
         "dropout": 0.2, "scheduler": "cosine"}


def quiet(*_):
    pass


def final_state(out):
    state = load(os.path.join(out, "checkpoint.safetensors"))
    history = [{k: v for k, v in row.items() if k != "seconds"} for row in state["history"]]
    return {k: v.numpy() for k, v in state["model"].items()}, state["optimizer"], history


def assert_same_run(a, b):
    (model_a, optimizer_a, history_a), (model_b, optimizer_b, history_b) = a, b
    for name in model_a:
        np.testing.assert_array_equal(model_a[name], model_b[name], err_msg=name)
    for index, fields in optimizer_a["state"].items():
        for field, value in fields.items():
            np.testing.assert_array_equal(value, optimizer_b["state"][index][field], err_msg=f"{index}.{field}")
    assert history_a == history_b


def test_cli_train_then_eval(tmp_path, capsys):
    out = str(tmp_path / "run")
    assert main(["train", "mlp", "--dataset", "moons", "--epochs", "2", "--hidden", "8", "--out", out,
                 "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "epoch 1/2" in printed and "val acc" in printed and "done in" in printed
    rows = [json.loads(line) for line in open(os.path.join(out, "metrics.jsonl"))]
    assert [r["epoch"] for r in rows] == [1, 2]
    assert {"train_loss", "val_loss", "val_accuracy", "train_accuracy", "lr", "seconds"} <= set(rows[0])
    assert main(["eval", "--checkpoint", out]) == 0
    printed = capsys.readouterr().out
    assert "accuracy" in printed and "true \\ predicted" in printed
    accuracy = float(printed.split("accuracy ")[1].split("%")[0]) / 100
    assert accuracy == pytest.approx(rows[-1]["val_accuracy"], abs=1e-9)
    for picture, size in (("curves.png", (1000, 400)), ("confusion-val.png", None)):
        path = os.path.join(out, picture)
        assert os.path.getsize(path) > 5000
        header = open(path, "rb").read(24)
        assert header[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")
        assert size is None or (width, height) == size


def test_cli_errors_are_one_clear_line(tmp_path, capsys):
    assert main(["train", "mlp", "--dataset", "mnist", "--out", str(tmp_path / "x"), "--no-progress"]) == 2
    assert "pass --data-dir FOLDER" in capsys.readouterr().err
    assert main(["eval", "--checkpoint", str(tmp_path / "nothing")]) == 2
    assert "no checkpoint at" in capsys.readouterr().err
    assert main(["train", "mlp", "--val-split", "1.5", "--out", str(tmp_path / "y"), "--no-progress"]) == 2
    assert capsys.readouterr().err == "minisora train: argument --val-split: must be in (0.0, 1.0), got 1.5\n"


@pytest.mark.parametrize("arguments, message", [
    (["train", "mlp", "--clip", "0"], "argument --clip: must be in (0.0, inf), got 0"),
    (["train", "mlp", "--batch-size", "0"], "argument --batch-size: must be in [1, inf), got 0"),
    (["train", "gpt", "--steps", "-5"], "argument --steps: must be in [1, inf), got -5"),
    (["train", "mlp", "--epochs", "-1"], "argument --epochs: must be in [1, inf), got -1"),
    (["train", "gpt", "--eval-every", "0"], "argument --eval-every: must be in [1, inf), got 0"),
    (["train", "mlp", "--lr", "nan"], "argument --lr: must be in [0.0, inf), got nan"),
    (["train", "mlp", "--dropout", "1"], "argument --dropout: must be in [0.0, 1.0), got 1"),
    (["generate", "--checkpoint", "x", "--tokens", "-3"], "argument --tokens: must be in [0, inf), got -3"),
    (["generate", "--checkpoint", "x", "--temperature", "0"], "argument --temperature: must be in (0.0, inf), got 0"),
    (["train", "mlp", "--val-split", "0.9999"], "--val-split 0.9999 holds out all 1797 samples: none is left"),
])
def test_every_argument_is_checked_before_any_work_in_one_line(tmp_path, capsys, arguments, message):
    out = tmp_path / "run"
    with_out = arguments + (["--out", str(out)] if arguments[0] == "train" else [])
    assert main(with_out) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"minisora {arguments[0]}: ") and message in error and error.count("\n") == 1
    assert not (out / "checkpoint.safetensors").exists()


def test_the_run_folder_is_checked_before_training(tmp_path, capsys):
    out = tmp_path / "run"
    quick = ["train", "mlp", "--dataset", "moons", "--epochs", "1", "--hidden", "4", "--no-progress"]
    assert main(quick + ["--out", str(out)]) == 0
    capsys.readouterr()
    saved = (out / "checkpoint.safetensors").read_bytes()
    assert main(quick + ["--out", str(out)]) == 2   # a run is there: neither --resume nor --force
    assert "already holds a run; pass --resume to continue it or --force" in capsys.readouterr().err
    assert (out / "checkpoint.safetensors").read_bytes() == saved
    (out / ".tmp-killed.safetensors").write_bytes(b"half a checkpoint")   # what a killed save leaves
    assert main(quick + ["--out", str(out), "--force"]) == 0
    assert not (out / ".tmp-killed.safetensors").exists()
    assert main(["train", "gpt", "--resume", "--out", str(out), "--no-progress"]) == 2
    assert "holds a classifier run, not a gpt run" in capsys.readouterr().err
    (tmp_path / "a-file").write_text("")
    assert main(quick + ["--out", str(tmp_path / "a-file")]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    assert main(quick + ["--out", str(tmp_path / "a-file" / "below")]) == 2
    assert "--out: cannot write in" in capsys.readouterr().err
    assert main(quick + ["--out", str(tmp_path / "new"), "--resume"]) == 2
    assert "holds no run to continue" in capsys.readouterr().err


def test_a_corpus_without_newlines_trains_samples_and_generates(tmp_path, capsys):
    corpus = tmp_path / "one-line.txt"
    corpus.write_text("the quick brown fox jumps over the lazy dog " * 40)
    out = tmp_path / "run"
    assert main(["train", "gpt", "--corpus", str(corpus), "--steps", "2", "--eval-every", "1", "--layers", "1",
                 "--d-model", "16", "--heads", "2", "--context", "8", "--batch-size", "4", "--out", str(out),
                 "--no-progress"]) == 0
    assert "sample:" in capsys.readouterr().out and (out / "checkpoint.safetensors").exists()
    assert main(["generate", "--checkpoint", str(out), "--tokens", "5"]) == 0
    assert capsys.readouterr().out.startswith(" ")   # the first character of the vocabulary: a space


def test_ctrl_c_while_the_curves_are_drawn_costs_only_the_picture(tmp_path, monkeypatch):
    def interrupted(self):
        raise KeyboardInterrupt
    monkeypatch.setattr(ClassifierRun, "draw_curves", interrupted)
    messages = []
    run = ClassifierRun({**QUICK, "epochs": 1}, str(tmp_path / "run"), log=messages.append)
    run.fit(progress=False)
    assert any("curves.png not drawn" in m for m in messages)
    assert load(str(tmp_path / "run" / "checkpoint.safetensors"))["position"]["epoch"] == 1


def test_extending_a_finished_run_is_bit_for_bit(tmp_path):
    straight, pieces = str(tmp_path / "straight"), str(tmp_path / "pieces")
    config = {**QUICK, "scheduler": "none"}   # a schedule is planned for a fixed number of epochs
    ClassifierRun(config, straight, log=quiet).fit(progress=False)
    ClassifierRun({**config, "epochs": 1}, pieces, log=quiet).fit(progress=False)
    ClassifierRun.resume(pieces, {"epochs": 3}, log=quiet).fit(progress=False)
    assert_same_run(final_state(straight), final_state(pieces))
    assert len(open(os.path.join(pieces, "metrics.jsonl")).readlines()) == 3


def test_ctrl_c_mid_epoch_saves_and_resume_continues_bit_for_bit(tmp_path, monkeypatch):
    straight, interrupted = str(tmp_path / "straight"), str(tmp_path / "interrupted")
    ClassifierRun(QUICK, straight, log=quiet).fit(progress=False)

    original, calls = ClassifierRun.train_step, []

    def press_ctrl_c_at_step_16(self, x, y):
        calls.append(1)
        if len(calls) == 16:   # in epoch 2 (13 steps per epoch)
            signal.raise_signal(signal.SIGINT)   # to this thread: handled before the step ends
        return original(self, x, y)

    monkeypatch.setattr(ClassifierRun, "train_step", press_ctrl_c_at_step_16)
    handler_before = signal.signal(signal.SIGINT, signal.default_int_handler)   # as in a terminal, even under nohup
    messages = []
    run = ClassifierRun(QUICK, interrupted, log=messages.append)
    run.fit(progress=False)
    assert run.stop_requested and len(calls) == 16
    assert any("Ctrl-C" in m for m in messages) and any("--resume" in m for m in messages)
    position = load(os.path.join(interrupted, "checkpoint.safetensors"))["position"]
    assert position == {"epoch": 1, "batch": 3}
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler   # the run put the handler back
    signal.signal(signal.SIGINT, handler_before)
    monkeypatch.undo()

    ClassifierRun.resume(interrupted, log=quiet).fit(progress=False)
    assert_same_run(final_state(straight), final_state(interrupted))


def test_resume_refuses_a_different_configuration(tmp_path):
    out = str(tmp_path / "run")
    ClassifierRun({**QUICK, "epochs": 1}, out, log=quiet).fit(progress=False)
    with pytest.raises(ValueError, match=r"--resume: hidden was \[16\] in the saved run, got \[32\]"):
        ClassifierRun.resume(out, {"hidden": [32]})
    with pytest.raises(ValueError, match="the cosine lr schedule was planned for 1 epochs"):
        ClassifierRun.resume(out, {"epochs": 5})


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_digits_defaults_reach_97_percent(tmp_path, seed, capsys):
    out = str(tmp_path / f"digits-{seed}")
    assert main(["train", "mlp", "--dataset", "digits", "--seed", str(seed), "--out", out, "--no-progress"]) == 0
    rows = [json.loads(line) for line in open(os.path.join(out, "metrics.jsonl"))]
    assert len(rows) == 30
    assert rows[-1]["val_accuracy"] >= 0.97, capsys.readouterr().out


def test_mnist_from_idx_files_trains_and_evaluates_on_its_test_set(tmp_path, capsys):
    from test_data import write_idx
    from minisora.data.idx import FILES

    rng = np.random.default_rng(0)
    for split, count in (("train", 60), ("test", 20)):
        labels = rng.integers(0, 10, count).astype(np.uint8)
        images = (rng.random((count, 28, 28)) * 60 + labels[:, None, None] * 19).astype(np.uint8)
        write_idx(str(tmp_path / FILES[split][0]), images)
        write_idx(str(tmp_path / FILES[split][1]), labels)
    out = str(tmp_path / "run")
    assert main(["train", "mlp", "--dataset", "fashion-mnist", "--data-dir", str(tmp_path), "--epochs", "2",
                 "--batch-size", "16", "--out", out, "--no-progress"]) == 0
    assert main(["eval", "--checkpoint", out, "--split", "test"]) == 0
    printed = capsys.readouterr().out
    assert "(test, 20 samples)" in printed and "Ankle boot" in printed


@pytest.mark.slow
@pytest.mark.parametrize("stop, code, name", [(signal.SIGINT, 130, "Ctrl-C"), (signal.SIGTERM, 143, "SIGTERM")])
def test_ctrl_c_or_sigterm_on_the_command_line(tmp_path, stop, code, name):
    import subprocess
    import sys
    import time

    out = str(tmp_path / "run")
    command = [sys.executable, "-m", "minisora.cli", "train", "mlp", "--epochs", "10000", "--scheduler", "none",
               "--out", out, "--no-progress"]
    def as_in_a_terminal():   # a test run in the background inherits an ignored Ctrl-C; a terminal's has it on
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               preexec_fn=as_in_a_terminal)
    metrics = os.path.join(out, "metrics.jsonl")
    deadline = time.time() + 120
    while not os.path.exists(metrics) and time.time() < deadline and process.poll() is None:
        time.sleep(0.1)
    process.send_signal(stop)
    printed, _ = process.communicate(timeout=60)
    assert process.returncode == code, printed
    assert f"{name}: finishing this step, then saving a checkpoint" in printed and "--resume" in printed
    epoch = load(os.path.join(out, "checkpoint.safetensors"))["position"]["epoch"]
    assert epoch >= 1
    resumed = subprocess.run(command[:6] + [str(epoch + 1)] + command[7:] + ["--resume"], capture_output=True,
                             text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming {out} from epoch {epoch + 1}" in resumed.stdout
