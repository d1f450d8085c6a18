"""minisora: a deep-learning engine built from hand-written particles, for teaching.

    import minisora as ms
    x = ms.tensor([[1.0, 2.0]], requires_grad=True)
    loss = (x * x).sum()
    loss.backward()          # x.grad == 2 x
"""
from . import config  # first: every layer reads its switches
from . import errors
from . import autograd  # it closes the autograd <-> tensor import cycle
from . import backends, cuda, functional, inspect, particles
from . import data, metrics, models, nn, optim, plot, quant
from .autograd import enable_grad, is_grad_enabled, no_grad
from .backends.kernel import debug
from .errors import Error
from .creation import arange, full, ones, ones_like, rand, randn, tensor, zeros, zeros_like
from .gradcheck import gradcheck
from .random import manual_seed
from .serialization import load, load_safetensors, save
from .tensor import Tensor, as_tensor

__version__ = "0.1.0"

F = functional
cat, stack, split, chunk, unbind = functional.cat, functional.stack, functional.split, functional.chunk, functional.unbind
where, matmul = functional.where, functional.matmul
exp, log, sqrt = functional.exp, functional.log, functional.sqrt
abs, sign, sin, cos, clamp = functional.abs, functional.sign, functional.sin, functional.cos, functional.clamp
maximum, minimum = functional.maximum, functional.minimum
float32, float64, int64 = "float32", "float64", "int64"

__all__ = [
    "Tensor", "Error", "errors", "config", "tensor", "as_tensor", "cuda", "zeros", "ones", "full", "zeros_like", "ones_like", "randn", "rand", "arange",
    "manual_seed", "no_grad", "enable_grad", "is_grad_enabled", "gradcheck", "debug", "functional", "F",
    "particles", "backends", "inspect", "nn", "optim", "data", "models", "plot", "quant", "save", "load", "load_safetensors", "cat", "stack", "split", "chunk", "unbind", "where", "matmul", "exp", "log", "sqrt",
    "abs", "sign", "sin", "cos", "clamp", "maximum", "minimum",
]
