"""Grading a particle a student wrote: `minisora check PATH[:NAME]`.

The file holds a class like minisora's own particles: a subclass of minisora.particles.Particle
with a `name`, `forward(ctx, *arrays)` and `backward(ctx, grad_out)` (NumPy inside is fine):

    class Sigmoid(Particle):
        name = "sigmoid"
        @staticmethod
        def forward(ctx, x):
            y = 1 / (1 + np.exp(-x)); ctx.save(y); return y
        @staticmethod
        def backward(ctx, grad_y):
            (y,) = ctx.saved; return (grad_y * y * (1 - y),)

The grade: (1) gradcheck in float64 on several shapes, (2) agreement with minisora's particle of
the same name, when there is one, (3) a probe with integer input, which a careful particle
refuses with a clear error (advice only: it does not fail the grade). `example_shapes` (a list
of one shape tuple per input) and `example_params` on the class choose other inputs.

An optimizer update written as a function is graded too: `adam_step(param, grad, m, v, step, lr,
beta1, beta2, eps) -> (param, m, v)` must follow minisora's (and PyTorch's) Adam for several steps.
"""
import importlib.util
import inspect as python_inspect
import os

import numpy as np

from . import errors
from . import autograd
from .gradcheck import gradcheck
from .particles import particle as particle_module
from .tensor import Tensor

DEFAULT_SHAPES = [(4,), (2, 3), (1, 5)]


def load(path, name=None):
    """(particle classes, update functions) defined in the file at `path` (only `name`'s, when given).

    Loading must not replace minisora's own particle of the same name in the catalog, so the
    registry is put back as it was afterwards.
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"check: no file {path}")
    saved = dict(particle_module._registry)
    try:
        spec = importlib.util.spec_from_file_location(f"student_{abs(hash(path))}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        particle_module._registry.clear()
        particle_module._registry.update(saved)
    particles = [value for key, value in vars(module).items() if python_inspect.isclass(value)
                 and issubclass(value, particle_module.Particle) and value.__module__ == module.__name__
                 and (name is None or key == name or getattr(value, "name", None) == name)]
    updates = [value for key, value in vars(module).items() if key in UPDATE_RULES and (name is None or key == name)]
    if not particles and not updates:
        raise errors.ValueError(f"check: {path} defines no particle{' named ' + repr(name) if name else ''} "
                                "(a subclass of minisora.particles.Particle with forward and backward) "
                                f"and no update rule ({', '.join(UPDATE_RULES)})")
    return particles, updates


def examples(particle):
    arity = len(python_inspect.signature(particle.forward).parameters) - 1   # all but ctx
    params = getattr(particle, "example_params", {})
    arity -= len(params)
    shapes = getattr(particle, "example_shapes", None) or [(shape,) * arity for shape in DEFAULT_SHAPES]
    rng = np.random.default_rng(0)
    return [([rng.uniform(-2, 2, s) for s in example], params) for example in shapes]


def grade(particle, say=print):
    """Run every check on one particle class; True when it passes."""
    say(f"checking {particle.name} ({particle.__qualname__})")
    passed = True
    for arrays, params in examples(particle):
        shapes = ", ".join(str(a.shape) for a in arrays)
        try:
            report = gradcheck(lambda *ts: autograd.call(particle, *ts, **params),
                               [Tensor(a, requires_grad=True) for a in arrays])
        except Exception as error:   # the student's code raising is a result to report, not a crash
            say(f"  FAIL  gradcheck on {shapes}: {type(error).__name__}: {error}")
            passed = False
            continue
        if report:
            say(f"  ok    gradcheck on {shapes}: max relative error {report.max_rel_error:.1e}")
        else:
            worst = max(report.inputs, key=lambda r: r.max_rel_error)
            say(f"  FAIL  gradcheck on {shapes}: input {worst.index} at {worst.worst_index}: your backward says "
                f"{worst.analytic:.6g}, finite differences say {worst.numeric:.6g}")
            passed = False
    own = particle_module.registry().get(particle.name)
    if own is not None and passed:
        passed = compare_with_own(particle, own, say)
    probe_bad_input(particle, say)
    say("PASSED" if passed else "FAILED")
    return passed


def compare_with_own(particle, own, say):
    for arrays, params in examples(particle):
        ours = [Tensor(a, requires_grad=True) for a in arrays]
        theirs = [Tensor(a, requires_grad=True) for a in arrays]
        expected, got = autograd.call(own, *ours, **params), autograd.call(particle, *theirs, **params)
        if expected.shape != got.shape or not np.allclose(got.numpy(), expected.numpy(), rtol=1e-7, atol=1e-10):
            say(f"  FAIL  forward differs from minisora's {own.name} on shapes {[a.shape for a in arrays]}: "
                f"largest difference {np.max(np.abs(got.numpy() - expected.numpy())) if got.shape == expected.shape else 'in shape'}")
            return False
        weight = np.random.default_rng(1).standard_normal(expected.shape)
        (expected * Tensor(weight)).sum().backward()
        (got * Tensor(weight)).sum().backward()
        for i, (a, b) in enumerate(zip(ours, theirs)):
            if (a.grad is None) != (b.grad is None) or (a.grad is not None and
                                                        not np.allclose(b.grad.numpy(), a.grad.numpy(), rtol=1e-7, atol=1e-10)):
                say(f"  FAIL  gradient of input {i} differs from minisora's {own.name}")
                return False
    say(f"  ok    matches minisora's own {own.name}, forward and backward")
    return True


def probe_bad_input(particle, say):
    arrays, params = examples(particle)[0]
    try:
        autograd.call(particle, *(Tensor(np.ones(a.shape, dtype=np.int64)) for a in arrays), **params)
    except (TypeError, ValueError) as error:
        say(f"  ok    integer input refused: {error}")
        return
    except Exception as error:
        say(f"  note  integer input raised {type(error).__name__} ({error}); a clear TypeError naming the particle is kinder")
        return
    say("  note  integer input was accepted silently; minisora's particles refuse it with a TypeError "
        "(see Particle.require_float)")


def grade_adam_step(function, say=print, steps=6):
    """The student's adam_step against minisora's Adam optimizer (PyTorch's equations), step by step."""
    from . import nn, optim

    say("checking adam_step")
    rng = np.random.default_rng(0)
    start, grads = rng.normal(size=(3, 4)), rng.normal(size=(steps, 3, 4))
    hyper = dict(lr=0.01, beta1=0.9, beta2=0.99, eps=1e-8)
    reference = nn.Parameter(Tensor(start))
    optimizer = optim.Adam([reference], lr=hyper["lr"], betas=(hyper["beta1"], hyper["beta2"]), eps=hyper["eps"])
    param, m, v = start.copy(), np.zeros_like(start), np.zeros_like(start)
    for step, grad in enumerate(grads, 1):
        reference.grad = Tensor(grad)
        optimizer.step()
        try:
            param, m, v = (np.asarray(a, dtype=np.float64) for a in function(param, grad, m, v, step, **hyper))
        except Exception as error:   # the student's code raising is a result to report
            say(f"  FAIL  step {step}: {type(error).__name__}: {error}")
            say("FAILED")
            return False
        expected = reference.numpy()
        if param.shape != expected.shape or not np.allclose(param, expected, rtol=1e-10, atol=1e-12):
            worst = np.unravel_index(np.argmax(np.abs(param - expected)), expected.shape) if param.shape == expected.shape else ()
            say(f"  FAIL  step {step}: parameter {worst}: yours {param[worst] if worst else param.shape}, "
                f"Adam's {expected[worst] if worst else expected.shape}")
            say("FAILED")
            return False
    say(f"  ok    {steps} steps match minisora's Adam (and so PyTorch's) to 1e-10")
    say("PASSED")
    return True


UPDATE_RULES = {"adam_step": grade_adam_step}


def check(target, say=print):
    """`PATH[:NAME]` -> grade every particle and update rule found; True when all pass."""
    path, _, name = target.partition(":") if ":" in os.path.basename(target) else (target, "", "")
    particles, updates = load(path, name or None)
    results = [grade(particle, say) for particle in particles]
    results += [UPDATE_RULES[function.__name__](function, say) for function in updates]
    return all(results)
