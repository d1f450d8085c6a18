"""The particles: every differentiable building block, forward and backward, one family a file.

`catalog()` lists them all (name, formula, gradient, where it runs) so tools can list, check
and benchmark every particle.
"""
from dataclasses import dataclass

from .. import backends, errors
from . import activations, arithmetic, attention, batch_norm, conv_transpose, convolution, dropout  # noqa: F401
from . import embedding, graph, indexing, layer_norm, losses, pooling  # noqa: F401
from . import matmul, multi_head_attention, pointwise, positional, quantization, quantized_linear  # noqa: F401
from . import recurrent, reductions, shape, softmax  # noqa: F401
from .particle import Context, Particle, registry


@dataclass(frozen=True)
class Entry:
    name: str
    formula: str
    gradient: str
    family: str
    backends: tuple
    particle: type


def catalog():
    """Every registered particle with its formulas and the backends it runs on."""
    entries = []
    for name, particle in sorted(registry().items()):
        entries.append(
            Entry(name, particle.formula, particle.gradient, particle.__module__.rsplit(".", 1)[-1],
                  ("reference",) + targets(particle), particle)
        )
    return entries


def targets(particle):
    """The backends a particle runs on: those every one of its kernels has, or, for a particle with
    no loop of its own (views, copies, BLAS), the backends whose operations it calls (`runs_on`)."""
    kernels = particle.every_kernel()
    if not kernels:
        return tuple(particle.runs_on)
    return tuple(b for b in backends.NAMES if all(k.has(b) for k in kernels))


def get(name):
    """The particle class registered under `name`."""
    try:
        return registry()[name]
    except KeyError:
        raise errors.KeyError(f"no particle named {name!r}; see minisora.particles.catalog()") from None


__all__ = ["Context", "Particle", "catalog", "get"]
