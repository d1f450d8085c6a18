"""ms.config: every switch that changes how minisora computes, in one place.

    import minisora as ms
    ms.config.readable_kernels              # read a switch
    with ms.config.override(readable_kernels=True):
        y = x @ w                           # the plain loop kernels inside the block
    ms.config.set(attention_fused="never")  # for the rest of the process

Each switch also has an environment variable, read once when minisora is imported:

    switch                 environment                 default  what it does
    jit                    MINISORA_JIT                1        0: CPU kernels not yet built run as plain
                                                                Python (pdb steps into them); minisora.debug()
    readable_kernels       MINISORA_READABLE_KERNELS   0        1: matrix products by the textbook loop (CPU)
                                                                and 16x16 tile kernel (GPU), not BLAS / GEMM;
                                                                kernels' readable loops, not their faster forms
    attention_fused        MINISORA_ATTENTION_FUSED    auto     attention in one fused kernel each way:
                                                                auto = where it pays (float32 on the GPU; the
                                                                CPU's faster form, not its readable loop),
                                                                always = wherever it can (the GPU's: float32), never
    attention_split_from   MINISORA_ATTENTION_SPLIT    128      causal self-attention on the CPU from this
                                                                length on skips the masked quarter of scores
    cpu_products           MINISORA_CPU_PRODUCTS       auto     where the CPU's large matrix products run:
                                                                numpy = NumPy's threaded BLAS, every_core =
                                                                minisora's products kernel on Numba's threads
                                                                (backends/cpu.py), auto = NumPy's until a
                                                                kernel has run on every core, then every_core
    gpu_launch_shortcut    MINISORA_GPU_LAUNCH_SHORTCUT 1       0: every GPU launch through numba.cuda's
                                                                public kernel[grid, block](...) path
    gpu_dry_run            MINISORA_GPU_DRY_RUN        0        1: GPU launches are counted, not run (times
                                                                the host's work alone: benchmarks/gpu_host.py)

The jit switch acts when a kernel is first built: turn it off before the first run. Importing
minisora changes nothing process-wide; the one process-wide tuning, keeping freed memory for
reuse, is an explicit call (`minisora.backends.memory.keep_freed_memory()`) that the CLI's
trainers and the benchmarks make.
"""
import contextlib
import dataclasses
import os
from . import errors

FUSED_CHOICES = ("auto", "always", "never")
PRODUCTS_CHOICES = ("auto", "numpy", "every_core")


@dataclasses.dataclass
class Settings:
    jit: bool = True
    readable_kernels: bool = False
    attention_fused: str = "auto"
    attention_split_from: int = 128
    cpu_products: str = "auto"
    gpu_launch_shortcut: bool = True
    gpu_dry_run: bool = False


ENVIRONMENT = {
    "jit": "MINISORA_JIT", "readable_kernels": "MINISORA_READABLE_KERNELS",
    "attention_fused": "MINISORA_ATTENTION_FUSED", "attention_split_from": "MINISORA_ATTENTION_SPLIT",
    "cpu_products": "MINISORA_CPU_PRODUCTS",
    "gpu_launch_shortcut": "MINISORA_GPU_LAUNCH_SHORTCUT", "gpu_dry_run": "MINISORA_GPU_DRY_RUN",
}
FIELDS = {field.name: field for field in dataclasses.fields(Settings)}


def checked(name, value):
    """`value` as switch `name` takes it, or a ValueError/TypeError naming the switch."""
    if name not in FIELDS:
        raise AttributeError(f"ms.config has no switch {name!r}; the switches are {', '.join(FIELDS)}")
    default = FIELDS[name].default
    if isinstance(default, bool):
        if isinstance(value, str):
            words = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False,
                     "off": False}
            if value.strip().lower() not in words:
                raise errors.ValueError(f"ms.config.{name}: expected on/off (1/0, true/false), got {value!r}")
            return words[value.strip().lower()]
        if not isinstance(value, (bool, int)):
            raise errors.TypeError(f"ms.config.{name}: expected a bool, got {value!r}")
        return bool(value)
    if isinstance(default, int):
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise errors.ValueError(f"ms.config.{name}: expected a whole number, got {value!r}") from None
        if number < 1:
            raise errors.ValueError(f"ms.config.{name}: expected a positive length, got {value!r}")
        return number
    choices = PRODUCTS_CHOICES if name == "cpu_products" else FUSED_CHOICES
    if value not in choices:
        raise errors.ValueError(f"ms.config.{name}: expected one of {', '.join(choices)}, got {value!r}")
    return value


def from_environment(environment=os.environ):
    """The settings the environment variables ask for (defaults where unset)."""
    return Settings(**{name: checked(name, environment[variable])
                       for name, variable in ENVIRONMENT.items() if environment.get(variable, "") != ""})


def set(**switches):   # noqa: A001 (ms.config.set reads as it should)
    """Change switches for the rest of the process: ms.config.set(readable_kernels=True).
    All are checked before any changes."""
    values = {name: checked(name, value) for name, value in switches.items()}
    globals().update(values)   # the switches are this module's attributes: read at the cost of any global


@contextlib.contextmanager
def override(**switches):
    """Change switches inside a `with` block only; they are restored on leaving it, also on error."""
    saved = as_dict()
    set(**switches)
    try:
        yield
    finally:
        globals().update({name: saved[name] for name in switches})


def as_dict():
    """Every switch and its value now."""
    return {name: globals()[name] for name in FIELDS}


def __getattr__(name):   # only reached for a name that is not a switch
    raise AttributeError(f"ms.config has no switch {name!r}; the switches are {', '.join(FIELDS)}")


set(**dataclasses.asdict(from_environment()))
