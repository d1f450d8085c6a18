"""Grading what a student wrote: `minisora check PATH[:NAME]` or `minisora check FOLDER --exercise NAME`.

A file holds a class like minisora's own particles: a subclass of minisora.particles.Particle with
a `name`, `forward(ctx, *arrays)` and `backward(ctx, grad_out)` (NumPy inside is fine), or an
update rule written as a function (`adam_step`). `checks.py` says what is checked and for how
many points; `isolation.py` runs each file in a process of its own under a time limit, so a
hang, a crash or a `sys.exit` inside the student's code is a failed check, never a passed one;
`gradebook.py` writes a folder's results as CSV, JSON and JUnit XML.

    minisora check lessons/exercises/04_softmax.py            one file: its report, exit code 0 or 1
    minisora check submissions/ --exercise softmax            every .py file in the folder, one
                                                              student each: a gradebook
"""
import os

from .. import errors
from .gradebook import write_gradebook
from .isolation import run_isolated

# seconds per file: minisora's own solutions take about one with compiled kernels; the first run on a
# machine also compiles them (minisora warmup does it ahead), which a slow laptop must not fail on
TIME_LIMIT = 60.0


def check(target, say=print, exercise=None, time_limit=TIME_LIMIT, gradebook=None):
    """Grade `target` (PATH, PATH:NAME or a folder of submissions); True when everything passed."""
    if os.path.isdir(target):
        return check_folder(target, exercise, say, time_limit, gradebook or os.getcwd())
    path, _, name = target.partition(":") if ":" in os.path.basename(target) else (target, "", "")
    if not os.path.exists(path):
        raise FileNotFoundError(f"check: no file {path}")
    results = run_isolated(path, name or exercise, time_limit, say)
    return all(result.passed for result in results)


def check_folder(folder, exercise, say, time_limit, out):
    """Every .py file in `folder` graded in isolation; writes gradebook.csv/.json/.xml into `out`."""
    files = sorted(f for f in os.listdir(folder) if f.endswith(".py") and not f.startswith("."))
    if not files:
        raise errors.ValueError(f"check: {folder} holds no .py files to grade")
    if exercise is None:
        raise errors.ValueError(f"check: {folder} is a folder of submissions; name the exercise to grade in "
                                "each with --exercise NAME (a particle's name, e.g. softmax, or adam_step)")
    book = {}
    for file in files:
        say(f"== {file}")
        book[os.path.splitext(file)[0]] = run_isolated(os.path.join(folder, file), exercise, time_limit, say)
    paths = write_gradebook(book, exercise, out)
    passed = sum(all(r.passed for r in results) for results in book.values())
    say(f"{passed} of {len(book)} submissions pass; gradebook: {', '.join(paths)}")
    return passed == len(book)


__all__ = ["check", "TIME_LIMIT"]
