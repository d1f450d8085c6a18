import re

import minisora as ms
from minisora import cli

def test_catalog_lists_every_particle_with_formulas_and_backends():
    entries = ms.particles.catalog()
    names = {e.name for e in entries}
    assert {"add", "matmul", "linear", "relu", "gelu", "softmax", "cross_entropy", "dropout", "where"} <= names
    for entry in entries:
        assert entry.formula and entry.gradient, entry.name
        assert entry.backends[:2] == ("reference", "cpu"), entry.name


def test_doctor_and_particles_commands(capsys):
    assert cli.main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "numba" in out and "JIT        on" in out and "kernel cache" in out and "CUDA" in out
    assert cli.main(["particles"]) == 0
    assert "cross_entropy" in capsys.readouterr().out


def test_demo_learns_and_prints_a_trace(capsys):
    assert cli.main(["demo", "--steps", "60"]) == 0
    out = capsys.readouterr().out
    losses = [float(v) for v in re.findall(r"loss (\d+\.\d+)", out)]
    assert losses[-1] < losses[0]
    assert "forward  linear" in out and "backward cross_entropy" in out
