"""`minisora check`: grading a particle a student wrote (variants of lesson 02's sigmoid solution)."""
import os

import minisora as ms
from minisora.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOLUTION = os.path.join(ROOT, "lessons", "solutions", "02_sigmoid.py")
CORRECT = "return (grad_y * y * (1 - y),)"
SIGMOID = open(SOLUTION).read().replace(CORRECT, "return (BACKWARD,)")


def write(tmp_path, backward, name="student.py"):
    path = tmp_path / name
    path.write_text(SIGMOID.replace("BACKWARD", backward))
    return str(path)


def test_a_correct_particle_passes(tmp_path, capsys):
    assert main(["check", write(tmp_path, "grad_y * y * (1 - y)")]) == 0
    out = capsys.readouterr().out
    assert "matches minisora's own sigmoid" in out and "integer input refused" in out and out.endswith("PASSED\n")
    assert ms.particles.get("sigmoid").__module__ == "minisora.particles.activations"   # the catalog is untouched


def test_a_wrong_backward_fails_with_the_worst_entry(tmp_path, capsys):
    assert main(["check", write(tmp_path, "grad_y * y") + ":Sigmoid"]) == 1
    out = capsys.readouterr().out
    assert "FAIL  gradcheck on (4,): input 0 at" in out and "your backward says" in out and out.endswith("FAILED\n")


def test_an_unfinished_exercise_fails(tmp_path, capsys):
    stub = 'raise NotImplementedError("write the backward of sigmoid")'
    path = tmp_path / "stub.py"
    path.write_text(SIGMOID.replace("return (BACKWARD,)", stub))
    assert main(["check", str(path)]) == 1
    assert "NotImplementedError: write the backward of sigmoid" in capsys.readouterr().out


def softplus_source(name):
    source = SIGMOID.replace('"sigmoid"', f'"{name}"').replace("1 / (1 + np.exp(-x))", "np.logaddexp(0, x)")
    source = source.replace("ctx.save(y)", "ctx.save(x)").replace("(y,) = ctx.saved", "(x,) = ctx.saved")
    return source.replace("BACKWARD", "grad_y / (1 + np.exp(-x))")


def test_a_particle_minisora_does_not_have_is_still_gradchecked(tmp_path, capsys):
    path = tmp_path / "smooth_relu.py"
    path.write_text(softplus_source("smooth_relu"))
    assert main(["check", str(path)]) == 0
    assert "matches minisora" not in capsys.readouterr().out


def test_a_particle_without_parameters_is_compared_with_minisoras_at_its_defaults(tmp_path, capsys):
    path = tmp_path / "softplus.py"   # minisora's softplus has beta=1 and threshold=20 by default, as PyTorch's
    path.write_text(softplus_source("softplus"))
    assert main(["check", str(path)]) == 0
    assert "matches minisora's own softplus, forward and backward" in capsys.readouterr().out


def test_bad_targets(tmp_path, capsys):
    assert main(["check", str(tmp_path / "missing.py")]) == 2
    assert "no file" in capsys.readouterr().err
    empty = tmp_path / "empty.py"
    empty.write_text("x = 1\n")
    assert main(["check", str(empty)]) == 1   # graded, and failed: a folder's gradebook lists it so
    assert "FAIL  empty.py defines no particle" in capsys.readouterr().out


SOFTMAX = '''import numpy as np
from minisora.particles import Particle


class Softmax(Particle):
    name = "softmax"

    @classmethod
    def forward(cls, ctx, x):
        cls.require_float(x)
        FORWARD
        ctx.save(y)
        return y

    @staticmethod
    def backward(ctx, grad_y):
        (y,) = ctx.saved
        BACKWARD
'''
STABLE = "e = np.exp(x - x.max(axis=-1, keepdims=True)); y = e / e.sum(axis=-1, keepdims=True)"
RIGHT = "return (y * (grad_y - (grad_y * y).sum(axis=-1, keepdims=True)),)"
SUBMISSIONS = {   # student -> (forward, backward, or the whole file), and the verdict expected
    "ada": (STABLE, RIGHT, True),
    "ben": ("e = np.exp(x); y = e / e.sum(axis=-1, keepdims=True)", RIGHT, False),          # NaN at [1000, 0]
    "cy": (STABLE, "return (y * grad_y,)", False),                                           # a wrong backward
    "dee": (STABLE, "return y * (grad_y - (grad_y * y).sum(axis=-1, keepdims=True))", False),  # not a tuple
    "eve": (STABLE, "return (grad_y.sum(),)", False),                                        # a scalar, wrong shape
    "fay": (STABLE, "import sys; sys.exit(0)", False),                                       # ends the grader
    "gus": (STABLE, "while True: pass", False),                                              # hangs
    "hal": (None, "def broken(:\n    pass\n", False),                                        # a syntax error
    "ivy": (None, "import numpy as np\nraise ValueError('half done')\n", False),              # raises at import
    "jo": (None, "x = 1\n", False),                                                          # no particle
    "kim": (STABLE + "; y = y.astype(np.float64)", RIGHT, False),                            # widens float32
    "lu": (STABLE, "raise NotImplementedError('write the backward of softmax')", False),     # the stub
}


def test_a_folder_of_submissions_gets_a_gradebook(tmp_path, capsys):
    import csv
    import json
    from xml.etree import ElementTree

    folder = tmp_path / "submissions"
    folder.mkdir()
    for student, (forward, backward, _) in SUBMISSIONS.items():
        text = backward if forward is None else SOFTMAX.replace("FORWARD", forward).replace("BACKWARD", backward)
        (folder / f"{student}.py").write_text(text)
    out = tmp_path / "grades"
    assert main(["check", str(folder), "--exercise", "softmax", "--time-limit", "15", "--gradebook", str(out)]) == 1
    printed = capsys.readouterr().out
    book = json.loads((out / "gradebook.json").read_text())["students"]
    assert {s: book[s]["passed"] for s in SUBMISSIONS} == {s: expected for s, (_, _, expected) in SUBMISSIONS.items()}
    assert book["ada"]["score"] == book["ada"]["out_of"] == 9   # 1 + 4 gradchecks + float32 + stability + 2
    assert {book[s]["out_of"] for s in SUBMISSIONS} == {9} and book["ben"]["score"] == 6 and book["gus"]["score"] == 0
    messages = {s: " | ".join(c["message"] for c in book[s]["checks"] if not c["passed"]) for s in SUBMISSIONS}
    assert "subtract the max before exp" in messages["ben"]
    assert "finite differences say" in messages["cy"]
    assert "your backward returned a ndarray: return a tuple" in messages["dee"]
    assert "your backward's gradient 0 has shape ()" in messages["eve"]
    assert "the process ended early (sys.exit" in messages["fay"]
    assert "stopped after 15 s without finishing" in messages["gus"]
    assert "hal.py, line 1: invalid syntax" in messages["hal"] and "def broken(:" in messages["hal"]
    assert "raised ValueError: half done" in messages["ivy"] and "line 2: raise ValueError" in messages["ivy"]
    assert "defines no particle named 'softmax'" in messages["jo"]
    assert "float32 input gave a float64 output" in messages["kim"]
    assert "NotImplementedError: write the backward of softmax" in messages["lu"]
    rows = list(csv.DictReader(open(out / "gradebook.csv")))
    assert {r["student"] for r in rows} == set(SUBMISSIONS) and all(r["exercise"] == "softmax" for r in rows)
    suites = ElementTree.parse(out / "gradebook.xml").getroot()
    assert len(suites) == len(SUBMISSIONS) and suites.find("testsuite[@name='ada']").get("failures") == "0"
    assert "1 of 12 submissions pass" in printed
    assert main(["check", str(folder)]) == 2   # a folder needs --exercise
    assert "name the exercise to grade in each with --exercise NAME" in capsys.readouterr().err
