"""minisora.optim: update rules (each one fused kernel per parameter), clipping and lr schedules."""
from . import lr_scheduler
from .adadelta import Adadelta
from .adam import Adam, AdamW
from .clip import clip_grad_norm_
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "Adadelta", "RMSprop", "clip_grad_norm_", "lr_scheduler"]
