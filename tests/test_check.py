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
    source = SIGMOID.replace('"sigmoid"', f'"{name}"').replace("1 / (1 + np.exp(-x))", "np.log1p(np.exp(x))")
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
    assert main(["check", str(empty)]) == 2
    assert "defines no particle" in capsys.readouterr().err
