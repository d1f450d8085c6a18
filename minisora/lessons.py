"""The lessons in lessons/: list them, run one (`minisora lessons`, `minisora lesson N`)."""
import glob
import os
import subprocess
import sys

from . import errors


def folder():
    """lessons/ beside the package (the repository an editable install points at)."""
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lessons")
    if not os.path.isdir(path):
        raise FileNotFoundError(f"no lessons folder at {path}: the lessons ship with the repository "
                                "(install it with pip install -e . from a clone)")
    return path


def available():
    """[(number, title, path)] in order; the title is the lesson's first heading."""
    lessons = []
    for path in sorted(glob.glob(os.path.join(folder(), "[0-9][0-9]_*.py"))):
        title = next((line[len("# # "):].strip() for line in open(path, encoding="utf-8")
                      if line.startswith("# # ")), os.path.basename(path))
        lessons.append((int(os.path.basename(path)[:2]), title, path))
    return lessons


def run(number):
    """Run lesson `number` top to bottom as `python lessons/NN_name.py` does: in a process of its
    own, so it starts as fresh as from the shell (lesson 10 turns Numba's CUDA simulator on before
    numba is imported, which this process has done already). Returns the lesson's exit code."""
    matches = [path for n, _, path in available() if n == number]
    if not matches:
        raise errors.ValueError(f"no lesson {number}; `minisora lessons` lists them")
    return subprocess.run([sys.executable, matches[0]], cwd=os.path.dirname(folder())).returncode


def to_notebook(path):
    """A lesson (jupytext percent format) as a Jupyter notebook (nbformat 4.5) dict.

    `# %%` starts a code cell, `# %% [markdown]` a markdown cell whose lines drop their `# `.
    Each cell gets an id made from the lesson's name and the cell's place (stable across builds).
    """
    cells, kind, lines = [], None, []
    stem = os.path.basename(path)[:-3]

    def close():
        while lines and not lines[-1].strip():
            lines.pop()
        if kind is not None and lines:
            cells.append(cell(kind, lines, f"{stem}-{len(cells)}"))

    for line in open(path, encoding="utf-8").read().splitlines():
        if line.startswith("# %%"):
            close()
            kind, lines = ("markdown" if "[markdown]" in line else "code"), []
        elif kind == "markdown":
            lines.append(line[2:] if line.startswith("# ") else line.lstrip("#"))
        elif kind == "code":
            lines.append(line)
    close()
    return notebook(cells)


def cell(kind, lines, cell_id):
    """One notebook cell of `kind` ("code" or "markdown") holding `lines`."""
    source = [line + "\n" for line in lines[:-1]] + lines[-1:]
    made = {"cell_type": kind, "id": cell_id, "metadata": {}, "source": source}
    if kind == "code":
        made.update(execution_count=None, outputs=[])
    return made


def notebook(cells):
    return {"cells": cells, "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                                         "language_info": {"name": "python"}},
            "nbformat": 4, "nbformat_minor": 5}


def export(folder_out, edit=None):
    """Write every lesson as an .ipynb into folder_out (with lesson_setup.py and data/ beside them); returns the
    paths. `edit(number, lesson_path, notebook)`, when given, may change each notebook before it is written."""
    import shutil

    os.makedirs(folder_out, exist_ok=True)
    shutil.copy(os.path.join(folder(), "lesson_setup.py"), folder_out)
    if os.path.isdir(os.path.join(folder(), "data")):   # what a lesson loads (lesson 12's pretrained encoder)
        shutil.copytree(os.path.join(folder(), "data"), os.path.join(folder_out, "data"), dirs_exist_ok=True)
    written = []
    for number, _, path in available():
        book = to_notebook(path)
        if edit is not None:
            edit(number, path, book)
        written.append(save_notebook(book, os.path.join(folder_out, os.path.basename(path)[:-3] + ".ipynb")))
    return written


def save_notebook(book, path):
    """Write a notebook dict as an .ipynb file; returns the path."""
    import json

    with open(path, "w", encoding="utf-8") as handle:
        json.dump(book, handle, indent=1)
    return path
