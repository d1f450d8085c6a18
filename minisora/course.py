"""`minisora course build DIR --student|--teacher [--execute]`: a class's notebooks, from lessons/.

    DIR/lessons/NN_name.ipynb      every lesson (the teacher's open with its notes)
    DIR/exercises/NN_name.ipynb    every exercise: its instructions, a cell that writes the file
                                   (the stub for students, the solution for the teacher) and a
                                   cell that grades it with `minisora check`
    DIR/notes/NN_name.md           teacher build only: objectives, timings, expected output, the
                                   wrong answers the checker catches, questions for discussion
    DIR/lesson_setup.py            what the lessons import

The student build holds no solution and no note. With --execute every notebook is run headless
(nbclient, the optional `course` extra) in its folder, so figures and outputs are inline when it
is opened; a cell that writes to stderr (a warning) is reported.
"""
import ast
import os
import shutil

from . import errors
from .lessons import cell, export, folder, notebook, save_notebook


def build(out, teacher=False, execute=False, fast=True):
    """Write the student (or teacher) build into `out`; returns the notebooks written and, when
    executed, the warnings found [(notebook, cell id, text)]."""
    root = folder()
    written = export(os.path.join(out, "lessons"), edit=with_notes(out) if teacher else None)
    os.makedirs(os.path.join(out, "exercises"), exist_ok=True)
    for exercise in sorted(os.listdir(os.path.join(root, "exercises"))):
        if exercise.endswith(".py"):
            source_folder = "solutions" if teacher else "exercises"
            book = exercise_notebook(os.path.join(root, source_folder, exercise), exercise)
            written.append(save_notebook(book, os.path.join(out, "exercises", exercise[:-3] + ".ipynb")))
    warnings = run_all(written, fast) if execute else []
    return written, warnings


def with_notes(out):
    """An `edit` for lessons.export: the lesson's teacher notes copied into out/notes and quoted on
    top of its notebook (a lesson without notes is an error: the teacher build promises them)."""
    os.makedirs(os.path.join(out, "notes"), exist_ok=True)

    def edit(number, path, book):
        note = note_path(path)
        if not os.path.exists(note):
            raise errors.ValueError(f"course build --teacher: lesson {number} has no notes at {note}")
        shutil.copy(note, os.path.join(out, "notes"))
        text = open(note, encoding="utf-8").read().splitlines()
        book["cells"].insert(0, cell("markdown", ["> **Teacher's notes** (not in the student build)", ">"]
                                     + ["> " + line for line in text], f"{number:02d}-notes"))
    return edit


def note_path(lesson):
    return os.path.join(folder(), "notes", os.path.basename(lesson)[:-3] + ".md")


def exercise_notebook(path, filename):
    """Instructions (the file's docstring), the code written to `filename` by %%writefile, the check."""
    source = open(path, encoding="utf-8").read()
    instructions = ast.get_docstring(ast.parse(source)) or filename
    stem = filename[:-3]
    return notebook([
        cell("markdown", [f"# Exercise {stem}", ""] + instructions.splitlines(), f"{stem}-0"),
        cell("code", [f"%%writefile {filename}"] + source.rstrip("\n").splitlines(), f"{stem}-1"),
        cell("code", [f"!minisora check {filename}"], f"{stem}-2"),
    ])


def run_all(paths, fast):
    """Run each notebook in its folder with nbclient; returns [(notebook, cell id, stderr text)]."""
    try:
        import nbformat
        from nbclient import NotebookClient
    except ImportError:
        raise errors.ValueError("course build --execute needs nbclient and ipykernel: "
                                "pip install -e \".[course]\"") from None
    warnings = []
    previous = {name: os.environ.get(name) for name in ("MINISORA_FAST", "MINISORA_LESSON_OUT")}
    os.environ["MINISORA_FAST"] = "1" if fast else "0"
    try:
        for path in paths:
            book = nbformat.read(path, as_version=4)
            os.environ["MINISORA_LESSON_OUT"] = os.path.join(os.path.dirname(path), "figures")
            NotebookClient(book, timeout=1200, kernel_name="python3",
                           resources={"metadata": {"path": os.path.dirname(path)}}).execute()
            nbformat.write(book, path)
            for executed in book.cells:
                for output in executed.get("outputs", []):
                    if output.get("name") == "stderr" and output.get("text", "").strip():
                        warnings.append((os.path.basename(path), executed.get("id"), output["text"].strip()))
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return warnings
