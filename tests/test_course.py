"""The class materials: every wrong answer the teacher's notes say the checker catches is caught,
with the message the notes quote; the notes have their sections; the student and teacher builds
hold what they should (and run headless where nbclient is installed)."""
import json
import os
import re

import pytest

from minisora.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTES = os.path.join(ROOT, "lessons", "notes")
SOLUTIONS = os.path.join(ROOT, "lessons", "solutions")

# (notes file, the solution file, the edit that makes the notes' wrong answer)
WRONG_ANSWERS = {
    ("01_neuron", "01_linear.py"): [("return x @ weight.T + bias", "return x @ weight + bias"),
                                    ("return x @ weight.T + bias", "return x @ weight.T")],
    ("02_activations", "02_sigmoid.py"): [("return (grad_y * y * (1 - y),)", "return (grad_y * y,)"),
                                          ("return (grad_y * y * (1 - y),)", "return grad_y * y * (1 - y)")],
    ("03_backprop", "03_gradient_step.py"): [("return slope, w - lr * slope", "return slope, w - slope"),
                                             ("return slope, w - lr * slope", "return slope, t - lr * slope"),
                                             ("slope = e * 1 * x", "slope = e")],
    ("04_gradcheck", "04_softmax.py"): [("np.exp(x - x.max(axis=-1, keepdims=True))", "np.exp(x)"),
                                        ("return (y * (grad_y - (grad_y * y).sum(axis=-1, keepdims=True)),)",
                                         "return (y * grad_y,)")],
    ("05_mlp_digits", "05_train_epoch.py"): [("optimizer.zero_grad()", "pass"), ("optimizer.step()", "pass")],
    ("06_optimizers", "06_adam.py"): [("m_hat = m / (1 - beta1 ** step)", "m_hat = m"), ("grad * grad", "grad")],
    ("07_embeddings", "07_embedding.py"): [("np.add.at(grad_weight, ids, grad_y)", "grad_weight[ids] += grad_y"),
                                           ("return None, grad_weight", "return None, grad_y")],
    ("08_attention", "08_attention.py"): [("return grad_s @ k * ctx.scale,", "return grad_s @ k,")],
    ("09_gpt", "09_layer_norm.py"): [("grad_bias = rows.sum(axis=0)", "grad_bias = rows.sum(axis=1)")],
    ("10_gpu", "10_relu_gpu.py"): [("for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):",
                                    "i = cuda.grid(1)\n    if i < x.size:")],
    ("11_recurrent", "11_lstm_cell.py"): [("dc = grad_c + grad_h * o * (1 - t * t)", "dc = grad_c"),
                                          ("dc * i * (1 - g * g)", "dc * i"),
                                          ("dz.sum(axis=0)", "dz.sum(axis=1)")],
    ("12_pretraining", "12_masking.py"): [("labels = np.where(chosen, ids, -100)", "labels = ids.copy()"),
                                          ("inputs[chosen & (action < 0.8)] = mask_id", "inputs[chosen] = mask_id"),
                                          ("chosen = (generator.random(ids.shape) < 0.15) & ordinary",
                                           "chosen = generator.random(ids.shape) < 0.15")],
    ("13_convolution", "13_conv2d.py"): [("grad_x[:, :, i:i + out_h, j:j + out_w]", "grad_x[:, :, j:j + out_h, i:i + out_w]"),
                                         ("weight[:, :, i, j])", "weight[:, :, j, i])"),
                                         ("grad_y.sum(axis=(0, 2, 3))", "grad_y.sum(axis=(0, 2))")],
    ("14_graphs", "14_segment_softmax.py"): [
        ("return weights * (grad_weights - totals[index]), None", "return weights * grad_weights, None"),
        ("np.add.at(totals, index, weights * grad_weights)", "np.add.at(totals, index, grad_weights)"),
        ("return weights * (grad_weights - totals[index]), None", "return weights * (grad_weights - totals[index])")],
    ("15_gans", "15_gan_losses.py"): [
        ("discriminator(fake.detach()), zeros)", "discriminator(fake), zeros)"),
        ("g_loss = F.binary_cross_entropy_with_logits(discriminator(fake), ones)",
         "g_loss = -F.binary_cross_entropy_with_logits(discriminator(fake), zeros)"),
        ("g_loss = F.binary_cross_entropy_with_logits(discriminator(fake), ones)",
         "g_loss = F.binary_cross_entropy_with_logits(discriminator(fake.detach()), ones)")],
    ("16_quantization", "16_quantize.py"): [
        ("np.rint(np.asarray(x, dtype=np.float64) / scale + zero_point)",
         "np.floor(np.asarray(x, dtype=np.float64) / scale + zero_point + 0.5)"),
        ("np.clip(q, -128, 127).astype(np.int8)", "q.astype(np.int8)"),
        ("dtype=np.float64) / scale + zero_point)", "dtype=np.float64) / scale)"),
        ("np.rint(np.asarray(x, dtype=np.float64) / scale + zero_point)",
         "(np.asarray(x, dtype=np.float64) / scale + zero_point).astype(int)"),
        ("np.rint(np.asarray(x, dtype=np.float64) / scale + zero_point)",
         "np.rint(np.asarray(x, dtype=np.float64) / scale) + zero_point")],
}
CASES = [(notes, solution, edit, index) for (notes, solution), edits in WRONG_ANSWERS.items()
         for index, edit in enumerate(edits)]


def quoted_messages(notes):
    text = open(os.path.join(NOTES, f"{notes}.md"), encoding="utf-8").read()
    section = text.split("## What the checker catches")[1].split("##")[0]
    return re.findall(r'^- .*: "(.*)"', section, re.M)


@pytest.mark.parametrize("notes, solution, edit, index", CASES, ids=[f"{c[0]}-{c[3]}" for c in CASES])
def test_each_wrong_answer_in_the_notes_is_caught_with_the_quoted_message(notes, solution, edit, index, tmp_path,
                                                                           capsys):
    source = open(os.path.join(SOLUTIONS, solution), encoding="utf-8").read()
    old, new = edit
    assert old in source, f"{solution} no longer holds {old!r}"
    wrong = tmp_path / solution
    wrong.write_text(source.replace(old, new, 1))
    assert main(["check", str(wrong)]) == 1
    message = quoted_messages(notes)[index]
    assert message in capsys.readouterr().out, message


def test_every_lesson_has_notes_with_their_sections():
    from minisora.lessons import available

    for _, _, path in available():
        text = open(os.path.join(NOTES, os.path.basename(path)[:-3] + ".md"), encoding="utf-8").read()
        for section in ("## Objectives", "## Timings", "## Expected output", "## What the checker catches",
                        "## Discussion questions"):
            assert section in text, (path, section)
    assert sorted(n for n, _ in WRONG_ANSWERS) == sorted(f[:-3] for f in os.listdir(NOTES) if f != "17_errata.md")
    for notes, _ in WRONG_ANSWERS:
        assert len(quoted_messages(notes)) == len(WRONG_ANSWERS[next(k for k in WRONG_ANSWERS if k[0] == notes)])


def test_the_student_build_has_no_solutions_and_the_teacher_build_has_them_with_notes(tmp_path, capsys):
    assert main(["course", "build", str(tmp_path / "student"), "--student"]) == 0
    assert main(["course", "build", str(tmp_path / "teacher"), "--teacher"]) == 0
    student = json.loads((tmp_path / "student" / "exercises" / "02_sigmoid.ipynb").read_text())
    teacher = json.loads((tmp_path / "teacher" / "exercises" / "02_sigmoid.ipynb").read_text())
    assert "raise NotImplementedError" in "".join(student["cells"][1]["source"])
    assert "return (grad_y * y * (1 - y),)" in "".join(teacher["cells"][1]["source"])
    assert "".join(student["cells"][1]["source"]).startswith("%%writefile 02_sigmoid.py")
    assert student["cells"][2]["source"] == ["!minisora check 02_sigmoid.py"]
    lesson = json.loads((tmp_path / "teacher" / "lessons" / "03_backprop.ipynb").read_text())
    assert lesson["cells"][0]["source"][0].startswith("> **Teacher's notes**")
    assert not (tmp_path / "student" / "notes").exists() and (tmp_path / "teacher" / "notes" / "03_backprop.md").exists()
    ids = [c["id"] for c in lesson["cells"]]
    assert len(set(ids)) == len(ids) and all(re.fullmatch(r"[A-Za-z0-9_-]{1,64}", i) for i in ids)
    for exercise in sorted(os.listdir(os.path.join(ROOT, "lessons", "exercises"))):
        for built, folder in (("student", "exercises"), ("teacher", "solutions")):
            book = json.loads((tmp_path / built / "exercises" / exercise.replace(".py", ".ipynb")).read_text())
            written = "".join(book["cells"][1]["source"]).split("\n", 1)[1]   # below the %%writefile line
            expected = open(os.path.join(ROOT, "lessons", folder, exercise), encoding="utf-8").read().rstrip("\n")
            assert written == expected, (built, exercise)


@pytest.mark.slow
def test_both_builds_run_headless_without_warnings(tmp_path):
    pytest.importorskip("nbclient")
    from minisora.course import build

    for teacher in (False, True):
        written, warnings = build(str(tmp_path / ("teacher" if teacher else "student")), teacher=teacher,
                                  execute=True, fast=True)
        assert warnings == [], warnings
        executed = json.load(open(next(p for p in written if p.endswith("02_activations.ipynb"))))
        outputs = [o for c in executed["cells"] for o in c.get("outputs", [])]
        assert any("image/png" in o.get("data", {}) for o in outputs)   # the figure, inline
        check = json.load(open(next(p for p in written if p.endswith("02_sigmoid.ipynb"))))
        printed = "".join("".join(o.get("text", "")) for o in check["cells"][2]["outputs"])   # (text may be lines)
        assert printed.rstrip().endswith("PASSED" if teacher else "FAILED"), printed
