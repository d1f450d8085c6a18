"""minisora.nn: layers built from particles, and the Module that holds their parameters."""
from . import init
from .activation import GELU, Dropout, LeakyReLU, ReLU, Sigmoid, Tanh
from .container import Sequential
from .linear import Flatten, Identity, Linear
from .module import Module, Parameter

__all__ = [
    "Module", "Parameter", "Linear", "Identity", "Flatten", "ReLU", "LeakyReLU", "Sigmoid", "Tanh",
    "GELU", "Dropout", "Sequential", "init",
]
