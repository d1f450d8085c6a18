"""Every lesson runs top to bottom in fast mode and saves its figures; exercises fail, solutions pass."""
import glob
import os
import subprocess
import sys

import pytest

from minisora.cli import main
from minisora.lessons import available

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIGURES = {1: {"01_neuron.png": (500, 350)}, 2: {"02_activations.png": (1000, 400)},
           3: {"03_descent.png": (500, 350)}, 4: {"04_eps.png": (550, 400)},
           5: {"05_sgd_vs_adam.png": (1000, 400)}, 6: {"06_optimizers.png": (700, 550)},
           7: {"07_positional_encoding.png": (1000, 400)},
           8: {"08_attention_weights.png": (400, 340), "08_heads.png": (1360, 340)},
           9: {"09_gpt_loss.png": (500, 400), "09_gpt_attention.png": (1360, 340)},
           10: {"10_threads.png": (800, 220)},
           11: {"11_gradient_through_time.png": (600, 400), "11_adding_problem.png": (600, 400)},
           12: {"12_mlm_loss.png": (600, 400), "12_schedule.png": (600, 400)},
           13: {"13_feature_maps.png": (1800, 430)}, 14: {"14_karate.png": (700, 600), "14_deepwalk.png": (600, 500)},
           15: {"15_gradients.png": (600, 400), "15_ring_good.png": (500, 500), "15_ring_collapse.png": (500, 500)},
           16: {"16_quantization.png": (1000, 400)}, 17: {}}


def png_size(path):
    header = open(path, "rb").read(24)
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")


@pytest.mark.parametrize("number, title, path", available(), ids=[os.path.basename(p) for _, _, p in available()])
def test_lesson_runs_in_fast_mode_and_saves_its_figures(number, title, path, tmp_path):
    env = dict(os.environ, MINISORA_FAST="1", MINISORA_LESSON_OUT=str(tmp_path), MPLBACKEND="Agg",
               MINISORA_CHECK_FIGURES="1")   # every axis labelled, every set of curves with a legend
    done = subprocess.run([sys.executable, path], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    for name, size in FIGURES[number].items():
        assert os.path.getsize(tmp_path / name) > 5000
        assert png_size(tmp_path / name) == size


def test_lessons_are_listed(capsys):
    assert main(["lessons"]) == 0
    out = capsys.readouterr().out
    assert "01  Lesson 01: the neuron" in out and "04  Lesson 04: gradient checking" in out


@pytest.mark.parametrize("exercise", sorted(glob.glob(os.path.join(ROOT, "lessons", "exercises", "*.py"))),
                         ids=os.path.basename)
def test_every_exercise_stub_fails_and_its_solution_passes(exercise, capsys):
    assert main(["check", exercise]) == 1
    solution = exercise.replace(os.sep + "exercises" + os.sep, os.sep + "solutions" + os.sep)
    assert main(["check", solution]) == 0, capsys.readouterr().out


def test_lessons_export_as_notebooks_that_run(tmp_path, monkeypatch):
    import json

    assert main(["lessons", "--export", str(tmp_path)]) == 0
    notebooks = sorted(p.name for p in tmp_path.glob("*.ipynb"))
    assert notebooks[0] == "01_neuron.ipynb" and len(notebooks) == len(available())
    notebook = json.loads((tmp_path / "01_neuron.ipynb").read_text())
    assert notebook["nbformat"] == 4 and notebook["cells"][0]["cell_type"] == "markdown"
    assert notebook["cells"][0]["source"][0] == "# Lesson 01: the neuron\n"
    monkeypatch.setenv("MINISORA_FAST", "1")
    monkeypatch.setenv("MINISORA_LESSON_OUT", str(tmp_path / "figures"))
    monkeypatch.syspath_prepend(str(tmp_path))   # lesson_setup.py was exported beside the notebooks
    namespace = {}
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            exec("".join(cell["source"]), namespace)   # the cells, in order, as Jupyter would run them
    assert namespace["y"].item() == 2.0 and (tmp_path / "figures" / "01_neuron.png").exists()


def test_a_lesson_runs_through_the_cli_as_through_python_even_lesson_10_without_a_gpu(tmp_path):
    """`minisora lesson N` runs the lesson in a process of its own: lesson 10 turns the simulator on
    before numba is imported, which the CLI's own process has done already."""
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    env.update(MINISORA_FAST="1", MINISORA_LESSON_OUT=str(tmp_path), MPLBACKEND="Agg")
    done = subprocess.run([sys.executable, "-m", "minisora.cli", "lesson", "10"], cwd=str(tmp_path), env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "10_threads.png").exists()
    failing = subprocess.run([sys.executable, "-m", "minisora.cli", "lesson", "99"], env=env, capture_output=True,
                             text=True, timeout=60)
    assert failing.returncode == 2 and "no lesson 99" in failing.stderr


def test_every_exercise_is_linked_from_its_lesson():
    lessons = {number: open(path, encoding="utf-8").read() for number, _, path in available()}
    for exercise in glob.glob(os.path.join(ROOT, "lessons", "exercises", "*.py")):
        name = os.path.basename(exercise)
        assert f"minisora check lessons/exercises/{name}" in lessons[int(name[:2])], name
    assert {int(os.path.basename(e)[:2]) for e in glob.glob(os.path.join(ROOT, "lessons", "exercises", "*.py"))} >= \
        {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}   # a lesson without an exercise is the exception (17: errata)
