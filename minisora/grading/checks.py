"""What `minisora check` checks in a student's file, and how many points each check is worth.

A particle (a Particle subclass with forward and backward, NumPy inside is fine; one with several
results, such as an LSTM cell's (h', c'), is checked on all of them, end to end):

    backward's result   1 point   a tuple with one gradient per input, each shaped as its input
    gradcheck           1 point   per example shape: backward agrees with float64 finite differences
    float32             1 point   float32 input gives a float32 output (as minisora's and PyTorch's)
    stability           1 point   where minisora has a particle of that name: finite where it is
                                  finite on large and tiny inputs (x = [1000, 0] breaks an exp
                                  that does not subtract the max first)
    same as minisora's  2 points  forward and backward agree with minisora's particle of that name
    integer input       advice    a careful particle refuses it with a clear error (no points)

`example_shapes` (one shape tuple per input, a list of them) and `example_params` on the class
choose other inputs. An update rule written as a function is graded too: `adam_step(param,
grad, m, v, step, lr, beta1, beta2, eps) -> (param, m, v)` must follow minisora's (and PyTorch's)
Adam for several steps (3 points).

Each check is a Result; `say` prints it as the report line a student reads ("  ok    ...",
"  FAIL  ...", "  note  ..."). This module runs inside the child process of isolation.py.
"""
import importlib.util
import inspect as python_inspect
import os
import traceback

import numpy as np

from .. import autograd
from ..gradcheck import gradcheck
from ..particles import particle as particle_module, shape as shape_particles
from ..tensor import Tensor
from .functions import FUNCTION_EXERCISES
from .result import Result, failure, report, verdict

DEFAULT_SHAPES = [(4,), (2, 3), (1, 5), (3, 1)]


def load(path, name=None):
    """(particle classes, update functions) defined in the file at `path` (only `name`'s, when given),
    or a failed Result saying why the file does not load (its own line for a syntax error).

    Loading must not replace minisora's own particle of the same name in the catalog, so the
    registry is put back as it was afterwards.
    """
    saved = dict(particle_module._registry)
    try:
        spec = importlib.util.spec_from_file_location(f"student_{abs(hash(path))}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    except SyntaxError as error:
        line = (error.text or "").rstrip()
        pointer = " " * max((error.offset or 1) - 1 - (len(line) - len(line.lstrip())), 0) + "^"
        return Result("loads", False, f"{os.path.basename(path)}, line {error.lineno}: {error.msg}\n"
                                      f"          {line.strip()}\n          {pointer}")
    except Exception as error:   # the student's module raising at import: their lines of the traceback only
        return Result("loads", False, f"importing {os.path.basename(path)} raised {type(error).__name__}: {error}\n"
                                      + student_lines(error, path))
    finally:
        particle_module._registry.clear()
        particle_module._registry.update(saved)
    particles = [value for key, value in vars(module).items() if python_inspect.isclass(value)
                 and issubclass(value, particle_module.Particle) and value.__module__ == module.__name__
                 and (name is None or key == name or getattr(value, "name", None) == name)]
    updates = [value for key, value in vars(module).items() if key in FUNCTION_EXERCISES and (name is None or key == name)]
    if not particles and not updates:
        return Result("defines the exercise", False,
                      f"{os.path.basename(path)} defines no particle{' named ' + repr(name) if name else ''} "
                      "(a subclass of minisora.particles.Particle with forward and backward) "
                      f"and no update rule ({', '.join(FUNCTION_EXERCISES)})")
    return particles, updates


def student_lines(error, path):
    """The frames of `error`'s traceback that are in the student's file, as 'line N: code'."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if os.path.abspath(f.filename) == os.path.abspath(path)]
    return "\n".join(f"          line {f.lineno}: {f.line}" for f in frames)


def examples(particle):
    """[(arrays, params)] to call the particle with: random floats in [-2, 2] of each example's
    shapes, where an example may also give an array itself (integer ids: they get no gradient)."""
    arity = len(python_inspect.signature(particle.forward).parameters) - 1   # all but ctx
    params = getattr(particle, "example_params", {})
    arity -= len(params)
    shapes = getattr(particle, "example_shapes", None) or [(shape,) * arity for shape in DEFAULT_SHAPES]
    rng = np.random.default_rng(0)
    return [([entry if isinstance(entry, np.ndarray) else rng.uniform(-2, 2, entry) for entry in example], params)
            for example in shapes]


def joined(out):
    """A particle's result as one tensor: several results (an LSTM cell's h' and c') are flattened
    and put end to end, so that every check reads all of them."""
    if type(out) is not tuple:
        return out
    return autograd.call(shape_particles.Cat, *(o.reshape(-1) for o in out), dim=0)


def is_float(array):
    return array.dtype.kind == "f"


def as_inputs(arrays, dtype=None, requires_grad=False):
    """Tensors of `arrays`: the float ones as `dtype` (when given) and requiring grad (when asked)."""
    return [Tensor(a, dtype=dtype if is_float(a) else None, requires_grad=requires_grad and is_float(a))
            for a in arrays]


def grade_file(path, name=None, say=print):
    """Every check on every particle and update rule in the file at `path`: a list of Results."""
    loaded = load(path, name)
    if isinstance(loaded, Result):
        return [report(loaded, say)]
    particles, updates = loaded
    results = []
    for particle in particles:
        results += grade(particle, say)
    for function in updates:
        results += verdict([report(FUNCTION_EXERCISES[function.__name__](function, say), say)], say)
    return results


def grade(particle, say=print):
    """Run every check on one particle class: its Results (the report says PASSED or FAILED)."""
    say(f"checking {particle.name} ({particle.__qualname__})")
    results = [report(check_backward_result(particle), say)]
    for arrays, params in examples(particle):
        results.append(report(check_gradients(particle, arrays, params), say))
    results.append(report(check_float32(particle), say))
    own = particle_module.registry().get(particle.name)
    if own is not None:
        results.append(report(check_stability(particle, own), say))
        if all(r.passed for r in results):
            results.append(report(compare_with_own(particle, own), say))
        else:   # counted all the same, so every student's score is out of the same total
            results.append(report(Result("same as minisora's", False, f"not compared with minisora's {own.name}: "
                                                                      "the checks above fail first", 2.0), say))
    results.append(report(probe_bad_input(particle), say))
    return verdict(results, say)


def check_backward_result(particle):
    """One forward and backward by hand: what backward returns must be one gradient per input."""
    arrays, params = examples(particle)[0]
    ctx = particle_module.Context(particle, Tensor(arrays[0]).backend, as_inputs(arrays))
    ctx.params = params
    try:
        out = particle.forward(ctx, *arrays, **params)
        grads = particle.backward(ctx, tuple(np.ones_like(o) for o in out) if type(out) is tuple else np.ones_like(out))
    except Exception as error:   # the student's code raising is a result to report, not a crash
        return failure("backward's result", error, "forward and backward on one example")
    if not isinstance(grads, (tuple, list)):
        kind = "a scalar" if np.ndim(grads) == 0 else f"a {type(grads).__name__}"
        return Result("backward's result", False, f"your backward returned {kind}: return a tuple, one gradient per "
                                                  f"input, e.g. `return (dx,)`")
    if len(grads) != len(arrays):
        return Result("backward's result", False, f"your backward returned {len(grads)} gradients for "
                                                  f"{len(arrays)} input(s): one per input, None for one without")
    for i, (grad, array) in enumerate(zip(grads, arrays)):
        if grad is not None and np.shape(grad) != array.shape:
            return Result("backward's result", False, f"your backward's gradient {i} has shape {np.shape(grad)}, its "
                                                      f"input {array.shape}: a gradient is shaped as its input")
    return Result("backward's result", True, "backward returns one gradient per input, shaped as the input")


def check_gradients(particle, arrays, params):
    shapes = ", ".join(str(a.shape) for a in arrays)
    try:
        result = gradcheck(lambda *ts: joined(autograd.call(particle, *ts, **params)),
                           as_inputs(arrays, requires_grad=True))
    except Exception as error:
        return failure(f"gradcheck {shapes}", error, f"gradcheck on {shapes}")
    if result:
        return Result(f"gradcheck {shapes}", True, f"gradcheck on {shapes}: max relative error {result.max_rel_error:.1e}")
    worst = max(result.inputs, key=lambda r: r.max_rel_error)
    return Result(f"gradcheck {shapes}", False, f"gradcheck on {shapes}: input {worst.index} at {worst.worst_index}: "
                                                f"your backward says {worst.analytic:.6g}, finite differences say "
                                                f"{worst.numeric:.6g}", worst=f"input {worst.index} {worst.worst_index}")


def check_float32(particle):
    arrays, params = examples(particle)[0]
    try:
        out = joined(autograd.call(particle, *as_inputs(arrays, "float32"), **params))
        reference = joined(autograd.call(particle, *as_inputs(arrays, "float64"), **params))
    except Exception as error:
        return failure("float32", error, "float32 input")
    if out.dtype != np.float32:
        return Result("float32", False, f"float32 input gave a {out.dtype} output: keep the input's dtype (a float64 "
                                        "constant or array mixed in widens it)")
    if not np.allclose(out.numpy(), reference.numpy(), rtol=1e-4, atol=1e-5, equal_nan=True):
        return Result("float32", False, "float32 input gives numbers far from float64's: "
                                        f"largest difference {np.nanmax(np.abs(out.numpy() - reference.numpy())):.3g}")
    return Result("float32", True, "float32 input gives a float32 output within float32 rounding of float64's")


def check_stability(particle, own):
    """Finite wherever minisora's particle is finite, on inputs scaled up to 1000 and down to 1e-30."""
    for scale in (500.0, 1e-30):
        for arrays, params in examples(particle)[:2]:
            scaled = [a * scale if is_float(a) else a for a in arrays]
            try:
                with np.errstate(all="ignore"):
                    theirs = joined(autograd.call(particle, *as_inputs(scaled), **params)).numpy()
                    ours = joined(autograd.call(own, *as_inputs(scaled), **params)).numpy()
            except Exception as error:
                return failure("stability", error, f"inputs scaled by {scale:g}")
            broken = np.isfinite(ours) & ~np.isfinite(theirs)
            if broken.any():
                where = tuple(int(i) for i in np.unravel_index(np.argmax(broken), broken.shape))
                hint = " (subtract the max before exp)" if "softmax" in particle.name or "entropy" in particle.name else ""
                return Result("stability", False, f"your forward gives {theirs[where]} at {where} for inputs scaled by "
                                                  f"{scale:g} (up to {np.abs(scaled[0]).max():.3g}), where minisora's "
                                                  f"gives {ours[where]:.6g}: it overflows or divides by zero{hint}",
                              worst=str(where))
    return Result("stability", True, "finite wherever minisora's is, for inputs up to 1000 and down to 1e-30")


def compare_with_own(particle, own):
    for arrays, params in examples(particle):
        ours, theirs = as_inputs(arrays, requires_grad=True), as_inputs(arrays, requires_grad=True)
        try:
            expected = joined(autograd.call(own, *ours, **params))
            got = joined(autograd.call(particle, *theirs, **params))
        except Exception as error:
            return failure("same as minisora's", error, "forward beside minisora's", points=2.0)
        if expected.shape != got.shape or not np.allclose(got.numpy(), expected.numpy(), rtol=1e-7, atol=1e-10):
            difference = np.max(np.abs(got.numpy() - expected.numpy())) if got.shape == expected.shape else "in shape"
            return Result("same as minisora's", False, f"forward differs from minisora's {own.name} on shapes "
                                                       f"{[a.shape for a in arrays]}: largest difference {difference}", 2.0)
        weight = np.random.default_rng(1).standard_normal(expected.shape)
        (expected * Tensor(weight)).sum().backward()
        (got * Tensor(weight)).sum().backward()
        for i, (a, b) in enumerate(zip(ours, theirs)):
            if (a.grad is None) != (b.grad is None) or (
                    a.grad is not None and not np.allclose(b.grad.numpy(), a.grad.numpy(), rtol=1e-7, atol=1e-10)):
                return Result("same as minisora's", False, f"gradient of input {i} differs from minisora's {own.name}", 2.0)
    return Result("same as minisora's", True, f"matches minisora's own {own.name}, forward and backward", 2.0)


def probe_bad_input(particle):
    arrays, params = examples(particle)[0]
    try:
        autograd.call(particle, *(Tensor(np.ones(a.shape, dtype=np.int64)) for a in arrays), **params)
    except (TypeError, ValueError) as error:
        return Result("integer input", True, f"integer input refused: {error}", 0.0)
    except Exception as error:
        return Result("integer input", True, f"integer input raised {type(error).__name__} ({error}); a clear "
                                             "TypeError naming the particle is kinder", 0.0)
    return Result("integer input", True, "integer input was accepted silently; minisora's particles refuse it with a "
                                         "TypeError (see Particle.require_float)", 0.0)
