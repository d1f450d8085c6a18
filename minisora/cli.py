"""The `minisora` command: train, eval, generate, sample (their options and runs in cli_training.py),
finetune, fill (cli_pretraining.py), step, check, course, lessons, lesson, demo, doctor, warmup, particles, cache clear."""
import argparse
import os
import platform
import shutil
import sys
import time
from . import errors


class Parser(argparse.ArgumentParser):
    """argparse, with its errors as one line (`minisora train: argument --clip: ...`), exit code 2,
    like every other refusal of the command; --help still shows the usage."""

    def error(self, message):
        self.exit(2, f"{self.prog}: {message}\n")


def number(kind, low=None, high=None, low_open=False, high_open=False):
    """An argparse type: a `kind` (int or float) within [low, high] (an open end where asked), finite."""
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {'an integer' if kind is int else 'a number'}, got {text!r}")
        too_low = low is not None and (value <= low if low_open else value < low)
        too_high = high is not None and (value >= high if high_open else value > high)
        if too_low or too_high or value != value or abs(value) == float("inf"):
            bounds = (f"{'(' if low_open else '['}{low if low is not None else '-inf'}, "
                      f"{high if high is not None else 'inf'}{')' if high_open or high is None else ']'}")
            raise argparse.ArgumentTypeError(f"must be in {bounds}, got {text}")
        return value
    parse.__name__ = kind.__name__   # what argparse names in its messages
    return parse


COUNT = number(int, 1)                          # steps, epochs, sizes: at least 1
NON_NEGATIVE = number(float, 0.0)               # learning rate, weight decay
POSITIVE = number(float, 0.0, low_open=True)    # clip norm, temperature
SEED = number(int, 0)


def command_demo(args):
    from . import demo
    from .backends.memory import keep_freed_memory

    keep_freed_memory()   # a step's arrays reuse the last step's memory (backends/memory.py)
    demo.run(steps=args.steps)


def command_step(args):
    from .inspect.stepper import step_neuron

    step_neuron(script=args.script)


def command_lessons(args):
    from .lessons import available, export

    if args.export:
        for path in export(args.export):
            print(f"wrote {path}")
        return
    for number, title, path in available():
        print(f"{number:02d}  {title}   ({os.path.relpath(path)})")


def command_lesson(args):
    from .lessons import run

    return run(args.number)


def command_course(args):
    from .course import build

    written, warnings = build(args.folder, teacher=args.teacher, execute=args.execute, fast=not args.full)
    kind = "teacher" if args.teacher else "student"
    print(f"wrote the {kind} build: {len(written)} notebooks in {args.folder}"
          + (" (executed)" if args.execute else ""))
    for notebook, cell_id, text in warnings:
        print(f"warning in {notebook}, cell {cell_id}: {text.splitlines()[0]}")
    return 1 if warnings else 0


def command_check(args):
    from .grading import check

    return 0 if check(args.target, exercise=args.exercise, time_limit=args.time_limit, gradebook=args.gradebook) else 1


def command_doctor(args):
    import numba
    import numpy

    import minisora
    from . import config
    from .backends import kernel

    print(f"minisora   {minisora.__version__}  ({os.path.dirname(minisora.__file__)})")
    print(f"python     {platform.python_version()}  {platform.machine()}")
    print(f"numpy      {numpy.__version__}")
    print(f"numba      {numba.__version__}  llvmlite {__import__('llvmlite').__version__}")
    print(f"threads    numba {numba.get_num_threads()} (layer: {numba.config.THREADING_LAYER}), "
          f"cpus {os.cpu_count()}, BLAS {blas_threads()}")
    print(f"JIT        {'on' if config.jit else 'off (MINISORA_JIT=0: kernels run as Python)'}")
    print("switches   " + ", ".join(f"{name}={value}" for name, value in config.as_dict().items()) + "  (ms.config)")
    print("memory     `minisora train` and `demo` keep freed memory for reuse (MINISORA_KEEP_MEMORY=0 turns it off)")
    gpu = minisora.cuda.describe()
    print(f"CUDA       {'available' if gpu['available'] else 'not available'}: {gpu['status']}")
    print(f"numba-cuda {gpu['numba-cuda']}")
    for key in ("compute capability", "multiprocessors", "driver", "launch overhead"):
        if key in gpu:
            print(f"  {key:<19}{gpu[key]}")
    folder = kernel.cache_dir()
    files = [os.path.join(d, f) for d, _, fs in os.walk(folder) for f in fs] if os.path.isdir(folder) else []
    size = sum(os.path.getsize(f) for f in files)
    print(f"kernel cache {folder}  ({len(files)} files, {size / 1e6:.1f} MB)")


def blas_threads():
    try:
        from threadpoolctl import threadpool_info

        pools = [f"{p['internal_api']} x{p['num_threads']}" for p in threadpool_info() if p["user_api"] == "blas"]
        return ", ".join(pools) or "unknown"
    except ImportError:
        limits = [f"{v}={os.environ[v]}" for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS") if v in os.environ]
        return ", ".join(limits) or "library default (install threadpoolctl for details)"


def command_warmup(args):
    from . import warmup

    start = time.perf_counter()
    count = warmup.compile_all(("float32", "float64"))
    print(f"compiled or loaded {count} kernel signatures in {time.perf_counter() - start:.1f} s")


def command_particles(args):
    from .particles import catalog

    for entry in catalog():
        print(f"{entry.name:<34}{entry.formula}")
        print(f"{'':<34}{entry.gradient}   [{', '.join(entry.backends)}]")


def command_cache(args):
    from .backends.kernel import cache_dir

    folder = cache_dir()
    if os.path.isdir(folder):
        shutil.rmtree(folder)
        print(f"removed {folder}")
    else:
        print(f"nothing to clear at {folder}")


def main(argv=None):
    parser = Parser(prog="minisora", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="train a tiny net on two spirals, then trace one step")
    demo.add_argument("--steps", type=COUNT, default=600)
    demo.set_defaults(run=command_demo)
    commands.add_parser("doctor", help="versions, threads, JIT, CUDA, kernel cache").set_defaults(run=command_doctor)
    commands.add_parser("warmup", help="compile every kernel now (before a class)").set_defaults(run=command_warmup)
    commands.add_parser("particles", help="list every particle with its formulas").set_defaults(run=command_particles)
    cache = commands.add_parser("cache", help="manage the compiled-kernel cache")
    cache.add_argument("action", choices=["clear"])
    cache.set_defaults(run=command_cache)
    from .cli_pretraining import add_pretraining_commands
    from .cli_quantize import add_quantize_parser
    from .cli_training import add_training_commands

    add_training_commands(commands)
    add_pretraining_commands(commands)
    add_quantize_parser(commands)
    step = commands.add_parser("step", help="walk the neuron y = ReLU(w.x + b) forward and backward, particle by particle")
    step.add_argument("--script", help='keys to press, e.g. "n; n; k; q" (default: read the keyboard)')
    step.set_defaults(run=command_step)
    lessons = commands.add_parser("lessons", help="list the lessons (or --export DIR: write them as notebooks)")
    lessons.add_argument("--export", metavar="DIR", help="write every lesson as a Jupyter notebook (.ipynb) into DIR")
    lessons.set_defaults(run=command_lessons)
    lesson = commands.add_parser("lesson", help="run one lesson top to bottom (MINISORA_FAST=1: quick)")
    lesson.add_argument("number", type=COUNT)
    lesson.set_defaults(run=command_lesson)
    course = commands.add_parser("course", help="build a class's notebooks: student (stubs) or teacher (solutions, notes)")
    course.add_argument("action", choices=["build"])
    course.add_argument("folder", help="where to write the build")
    audience = course.add_mutually_exclusive_group(required=True)
    audience.add_argument("--student", action="store_true", help="lessons and exercise stubs, no solutions")
    audience.add_argument("--teacher", action="store_true", help="lessons with notes, exercises with solutions")
    course.add_argument("--execute", action="store_true", help="run every notebook (needs the course extra), so "
                                                               "outputs and figures are inline")
    course.add_argument("--full", action="store_true", help="with --execute: full lessons, not MINISORA_FAST ones")
    course.set_defaults(run=command_course)
    from .grading import TIME_LIMIT

    grade = commands.add_parser("check", help="grade a particle you wrote (or a folder of students' files)")
    grade.add_argument("target", help="PATH or PATH:NAME of a file with a Particle subclass, or a folder of them")
    grade.add_argument("--exercise", help="the particle (or rule) to grade in each file, e.g. softmax; needed "
                                          "for a folder")
    grade.add_argument("--time-limit", type=POSITIVE, default=TIME_LIMIT, help="seconds per file (default 60)")
    grade.add_argument("--gradebook", help="folder for gradebook.csv/.json/.xml of a folder's grades "
                                           "(default: here)")
    grade.set_defaults(run=command_check)
    try:
        args = parser.parse_args(argv)
    except SystemExit as done:   # --help, or a refused argument (one line already printed): its exit code
        return done.code
    try:
        return args.run(args) or 0
    except (errors.Error, ValueError, FileNotFoundError, IsADirectoryError) as error:   # refused, with a reason
        print(f"minisora {args.command}: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:   # a second Ctrl-C: the run saved what it had at its last checkpoint
        print(f"minisora {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
