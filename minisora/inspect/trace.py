"""trace(): a profiler a student can read.

    with ms.inspect.trace() as t:
        loss = model(x).sum(); loss.backward()
    print(t)              # one row per particle call, in order, forward then backward
    print(t.slowest(3))   # where the time went

Each record holds the particle, its formula, input and output shapes and dtypes, statistics
of the output (min, max, mean, std, NaN and Inf counts) and the wall time of the call.
"""
import json
from dataclasses import asdict, dataclass

import numpy as np

from .. import autograd
from ..backends.kernel import compiles_watched, spent, time_watched


@dataclass
class Record:
    step: int
    phase: str          # "forward" or "backward"
    particle: str
    formula: str
    inputs: list        # "float32[128, 64]" per input
    output: str
    min: float
    max: float
    mean: float
    std: float
    nans: int
    infs: int
    seconds: float
    compiled: bool = False   # the call's time includes compiling a kernel (its first call in this process)
    product_seconds: float = 0.0   # of `seconds`: in matrix products (CPU; BLAS, or the readable loop's kernel)
    kernel_seconds: float = 0.0    # of `seconds`: in minisora's own loop kernels (CPU)


def describe_all(arrays):
    from ..particles.particle import describe

    return [describe(a) for a in arrays if a is not None and hasattr(a, "shape")]


def statistics(arrays):
    values = [np.asarray(a, dtype=np.float64).reshape(-1) for a in arrays
              if a is not None and hasattr(a, "dtype") and a.dtype.kind in "fiub"]
    values = np.concatenate(values) if values else np.zeros(0)
    finite = values[np.isfinite(values)]
    stats = (finite.min(), finite.max(), finite.mean(), finite.std()) if finite.size else (np.nan,) * 4
    return [float(s) for s in stats] + [int(np.isnan(values).sum()), int(np.isinf(values).sum())]


class Trace:
    def __init__(self):
        self.records = []

    def _observe(self, phase, ctx, arrays, output, seconds):
        outputs = output if isinstance(output, tuple) else (output,)
        particle = ctx.particle
        self.records.append(Record(
            len(self.records), phase, particle.name, particle.formula if phase == "forward" else particle.gradient,
            describe_all(arrays), ", ".join(describe_all(outputs)), *statistics(outputs), seconds,
            getattr(ctx, "compiled", False), ctx.spent["products"][0], ctx.spent["kernels"][0],
        ))

    def __enter__(self):
        self._watching = [compiles_watched(), time_watched()]
        for watching in self._watching:
            watching.__enter__()
        self._spent_before = spent.snapshot()
        autograd.observers.append(self._observe)
        return self

    def __exit__(self, *exc):
        autograd.observers.remove(self._observe)
        self.spent = spent.since(self._spent_before)
        for watching in reversed(self._watching):
            watching.__exit__(*exc)
        return False

    def time_shares(self, step_seconds, step_cpu_seconds=None):
        """Where a step's time went, on the CPU: {part: (seconds, share of the step, cores busy)}
        for "products" (matrix products), "kernels" (minisora's loops, the optimizer's too) and
        "python" (everything else: the particles' Python, the graph walk, NumPy calls). The
        step ran once inside this trace; `step_seconds` (and `step_cpu_seconds`, CPU time of the
        whole process) are the same step timed without one, since a trace's statistics take
        time of their own. Cores busy = CPU seconds / wall seconds."""
        parts = {name: self.spent[name] for name in ("products", "kernels")}
        wall = sum(w for w, _ in parts.values())
        cpu = sum(c for _, c in parts.values())
        parts["python"] = (max(step_seconds - wall, 0.0),
                           max((step_cpu_seconds if step_cpu_seconds is not None else step_seconds) - cpu, 0.0))
        return {name: (w, w / step_seconds, c / w if w > 0 else 0.0) for name, (w, c) in parts.items()}

    def slowest(self, count=5):
        """Total time per (phase, particle), slowest first, as a printable table."""
        totals = {}
        for r in self.records:
            key = (r.phase, r.particle)
            calls, seconds = totals.get(key, (0, 0.0))
            totals[key] = (calls + 1, seconds + r.seconds)
        rows = sorted(totals.items(), key=lambda item: -item[1][1])[:count]
        lines = [f"{'phase':<9}{'particle':<34}{'calls':>6}{'total ms':>10}"]
        lines += [f"{p:<9}{n:<34}{c:>6}{s * 1e3:>10.3f}" for (p, n), (c, s) in rows]
        return "\n".join(lines)

    def to_json(self):
        return json.dumps([asdict(r) for r in self.records], indent=1)

    def __str__(self):
        """The records as a table whose columns fit their widest entry (long shapes cut with '...');
        a '*' after the time marks a call that compiled a kernel (the first call; later ones are warm)."""
        inputs = [", ".join(r.inputs) for r in self.records]
        widths = {"particle": column(["particle"] + [r.particle for r in self.records], 34),
                  "inputs": column(["inputs"] + inputs, 44), "output": column(["output"] + [r.output for r in self.records], 24)}
        head = (f"{'#':>3} {'phase':<9}{'particle':<{widths['particle']}}{'inputs':<{widths['inputs']}}"
                f"{'output':<{widths['output']}}{'mean':>10}{'std':>10}{'nan/inf':>8}{'ms':>10}")
        lines = [head, "-" * len(head)]
        for r, shown in zip(self.records, inputs):
            time_shown = f"{r.seconds * 1e3:.3f}" + ("*" if r.compiled else " ")
            lines.append(
                f"{r.step:>3} {r.phase:<9}{r.particle:<{widths['particle']}}{cut(shown, widths['inputs'])}"
                f"{cut(r.output, widths['output'])}{r.mean:>10.4g}{r.std:>10.4g}{f'{r.nans}/{r.infs}':>8}{time_shown:>10}"
            )
        if any(r.compiled for r in self.records):
            lines.append("* includes compiling a kernel (its first call in this process; run again for warm times)")
        return "\n".join(lines)


def column(entries, widest):
    """The width of a column: its widest entry plus a space, at most `widest` characters."""
    return min(max(len(e) for e in entries) + 2, widest)


def cut(text, width):
    """`text` padded to `width`, or cut to fit with '...' (one space always before the next column)."""
    return f"{text:<{width}}" if len(text) < width else text[:width - 4] + "... "


def trace():
    """A context manager that records every particle call made inside it."""
    return Trace()
