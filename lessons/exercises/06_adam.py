"""Exercise (lesson 06): one step of Adam, as PyTorch and minisora take it.

    g is the gradient, t the step number (1, 2, ...):
    m = beta1 m + (1 - beta1) g              a running mean of g
    v = beta2 v + (1 - beta2) g^2            a running mean of g^2
    m_hat = m / (1 - beta1^t),  v_hat = v / (1 - beta2^t)      undo the pull towards the zero start
    param = param - lr m_hat / (sqrt(v_hat) + eps)

Grade it: minisora check lessons/exercises/06_adam.py
"""
import numpy as np


def adam_step(param, grad, m, v, step, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    """Return the new (param, m, v) as NumPy arrays."""
    raise NotImplementedError("write one Adam step: return param, m, v")
