"""The lessons in lessons/: list them, run one (`minisora lessons`, `minisora lesson N`)."""
import glob
import os
import runpy
import sys


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
    """Run lesson `number` top to bottom, as `python lessons/NN_name.py` would."""
    matches = [path for n, _, path in available() if n == number]
    if not matches:
        raise ValueError(f"no lesson {number}; `minisora lessons` lists them")
    sys.path.insert(0, os.path.dirname(matches[0]))
    try:
        runpy.run_path(matches[0], run_name="__main__")
    finally:
        sys.path.remove(os.path.dirname(matches[0]))
