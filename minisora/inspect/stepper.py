"""`minisora step`: walk through a network's forward and backward pass one particle at a time.

At every particle call the stepper stops and shows the particle, its formula, the numbers that
went in and the numbers that came out (in backward: the gradient that arrived and the gradients
it sends back). Keys:
    Enter / n   next particle           k   the source of the loops this call ran
    d           replay this call with those loops as plain Python, stopping inside the first (pdb, JIT off)
    c           run to the end           q   quit
Inputs are named: the network's own (w, x, b), or the particle call that made them (linear[1]).
`--script "n; n; k; q"` feeds the keys from a string instead of the keyboard (for tests and
demos); after `d`, the following entries go to pdb until one of them continues it (`c`).

The default network is the neuron y = ReLU(w . x + b) with w = (2, 3), x = (1, 0), b = 0, so y = 2,
then one SGD step with lr 0.1.
"""
import bdb
import dis
import inspect as python_inspect
import pdb
import sys

import numpy as np

from .. import autograd
from ..backends.kernel import as_python

LABEL = 14   # the width of the names column: "dL/d linear[1]"
PROMPT = "(Enter next, k kernel source, d debug the kernel, c continue, q quit) > "


class Quit(Exception):
    """The user pressed q."""


class Keys:
    """Where the keys come from: a script (entries split on ';', or on spaces without one) or input()."""

    def __init__(self, script=None):
        if script is None:
            self.queue = None
        else:
            parts = script.split(";") if ";" in script else script.split()
            self.queue = [p.strip() for p in parts]

    def next(self, prompt, out):
        if self.queue is None:
            try:
                return input(prompt).strip()
            except EOFError:
                return "q"
        key = self.queue.pop(0) if self.queue else "q"
        out(prompt + key)
        return key

    def readline(self):   # pdb reads its commands through this when scripted
        return (self.queue.pop(0) if self.queue else "c") + "\n"


def numbers(array):
    return np.array2string(np.asarray(array), precision=4, suppress_small=True, separator=", ").replace("\n", "\n" + " " * (LABEL + 5))


def labelled(results, name):
    """(label, array) for one result, or for each of a particle's several results (name1, ...)."""
    if isinstance(results, tuple):
        return [(f"{name}{k + 1}", result) for k, result in enumerate(results)]
    return [(name, results)]


class Stepper:
    def __init__(self, names=None, script=None, out=print):
        self.names = names or {}          # {id(tensor or array): "w"} labels for the inputs shown
        self.keys, self.out = Keys(script), out
        self.count, self.running = 0, False
        self.forward_launches = {}        # id(ctx) -> how many kernels its forward ran (backward's come after)

    def input_label(self, ctx, index):
        tensor = ctx.inputs[index]
        return self.names.get(id(tensor)) or self.names.get(id(tensor.data)) or f"input {index}"

    def __call__(self, phase, ctx, arrays, output, seconds):
        self.count += 1
        particle = ctx.particle
        say = self.out
        say(f"\n[{self.count}] {phase:<8} {particle.name}     "
            f"{particle.formula if phase == 'forward' else particle.gradient}")
        if phase == "forward":
            self.forward_launches[id(ctx)] = len(ctx.launched)
            ran = ctx.launched[:]
            for i, array in enumerate(arrays):
                say(f"    {self.input_label(ctx, i):<{LABEL}} {numbers(array)}")
            for k, (label, result) in enumerate(labelled(output, "output")):
                say(f"    {label:<{LABEL}} {numbers(result)}")
                # later calls name this input by its maker (relu[3], or split[3].2 for its second result)
                maker = f"{particle.name}[{self.count}]" + (f".{k + 1}" if isinstance(output, tuple) else "")
                self.names.setdefault(id(result), maker)
        else:
            ran = ctx.launched[self.forward_launches.get(id(ctx), 0):]
            for label, grad in labelled(tuple(arrays) if len(arrays) > 1 else arrays[0], "out"):
                say(f"    {'dL/d ' + label:<{LABEL}} {'(none: unused)' if grad is None else numbers(grad)}")
            for i, grad in enumerate(output):
                if grad is not None:
                    say(f"    {'dL/d ' + self.input_label(ctx, i):<{LABEL}} {numbers(grad)}")
        while not self.running:
            key = self.keys.next(PROMPT, say).lower()
            if key in ("", "n"):
                return
            if key == "c":
                self.running = True
            elif key == "q":
                raise Quit
            elif key == "k":
                for kernel in dict.fromkeys(ran):   # each loop once, in the order it ran
                    say(python_inspect.getsource(kernel.python))
                if not ran:
                    say(f"    ({particle.name}'s {phase} ran no loop of its own: it called BLAS or made NumPy views)")
            elif key == "d":
                self.debug(phase, ctx, arrays, list(dict.fromkeys(ran)))
            else:
                say(f"    unknown key {key!r}")

    def debug(self, phase, ctx, arrays, ran):
        """Replay this particle call with the kernels it ran as plain Python, stopping inside each."""
        particle = ctx.particle
        if not ran:
            self.out(f"    ({particle.name}'s {phase} ran no loop of its own to step into: it called BLAS or made "
                     "NumPy views)")
            return
        debugger = pdb.Pdb(stdin=self.keys if self.keys.queue is not None else None)
        if self.keys.queue is not None:
            debugger.use_rawinput = False
        for kernel in ran:
            debugger.set_break(kernel.python.__code__.co_filename, first_body_line(kernel.python))
        self.out(f"    replaying {particle.name} {phase} under pdb, stopping in {', '.join(k.name for k in ran)} "
                 "('c' to continue)")
        with as_python(ran):
            if phase == "forward":
                replay = type(ctx)(particle, ctx.backend, ctx.inputs)
                run_to_breakpoints(debugger, particle.forward, replay, *[np.array(a) for a in arrays], **ctx.params)
            else:
                run_to_breakpoints(debugger, particle.backward, ctx, np.array(arrays[0]))


def run_to_breakpoints(debugger, function, *args, **kwargs):
    """function(*args, **kwargs) under `debugger`, stopping at its breakpoints only (pdb's runcall
    would stop first at the particle's own first line, its input checks)."""
    debugger.reset()
    debugger._set_stopinfo(sys._getframe(), None, -1)   # a frame no line of `function` runs in: no stop but breaks
    sys.settrace(debugger.trace_dispatch)
    try:
        function(*args, **kwargs)
    except bdb.BdbQuit:   # q in pdb ends the replay, not the walk
        pass
    finally:
        sys.settrace(None)


def first_body_line(function):
    """The line number of the first statement inside `function` (below its decorators and def)."""
    lines, start = python_inspect.getsourcelines(function)
    definition = start + next(i for i, line in enumerate(lines) if line.lstrip().startswith("def "))
    return min(line for _, line in dis.findlinestarts(function.__code__) if line and line > definition)


def step_neuron(script=None, out=print, lr=0.1):
    """The default walk: forward and backward of y = ReLU(w . x + b), then one SGD step."""
    from ..creation import tensor
    from .. import functional as F

    x = tensor([[1.0, 0.0]], dtype="float64")
    w = tensor([[2.0, 3.0]], dtype="float64", requires_grad=True)
    b = tensor([0.0], dtype="float64", requires_grad=True)
    stepper = Stepper({id(x): "x", id(w): "w", id(b): "b"}, script, out)
    out("The neuron y = ReLU(w . x + b) with w = (2, 3), x = (1, 0), b = 0, then one SGD step (lr 0.1).")
    autograd.observers.append(stepper)
    try:
        y = F.relu(F.linear(x, w, b))
        y.backward(tensor([[1.0]], dtype="float64"))   # dL/dy = 1: the gradients are dy/dw and dy/db
    except Quit:
        out("quit")
        return None
    finally:
        autograd.observers.remove(stepper)
    out(f"\ny = {y.item():g}.  Gradients: dL/dw = {w.grad.tolist()}, dL/db = {b.grad.tolist()}")
    new_w, new_b = w.numpy() - lr * w.grad.numpy(), b.numpy() - lr * b.grad.numpy()
    out(f"SGD step, w <- w - lr dL/dw:  {w.tolist()} - {lr} * {w.grad.tolist()} = {new_w.tolist()}")
    out(f"                b <- b - lr dL/db:  {b.tolist()} - {lr} * {b.grad.tolist()} = {new_b.tolist()}")
    return new_w, new_b
