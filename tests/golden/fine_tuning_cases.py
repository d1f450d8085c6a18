"""The fine-tuning step's golden case, shared by make_fine_tuning.py (PyTorch) and the tests.

A two-layer net y = tanh(x W^T) V^T on fixed data, squared error: W plays the pretrained encoder
(a lower lr, the first parameter group), V the fresh head. AdamW, the gradient clipped to norm
MAX_NORM over both, the lr warmed up over WARMUP steps and decayed linearly to 0 at STEPS.
"""
import numpy as np

STEPS, WARMUP, MAX_NORM = 10, 3, 0.5
ENCODER_LR, HEAD_LR, WEIGHT_DECAY = 0.01, 0.05, 0.01


def data():
    """(W0, V0, x, y) in float64, from a fixed seed."""
    rng = np.random.default_rng(27)
    return rng.normal(size=(4, 3)), rng.normal(size=(2, 4)), rng.normal(size=(6, 3)), rng.normal(size=(6, 2))


def warmup_linear(step):
    """Hugging Face's get_linear_schedule_with_warmup factor, the oracle for WarmupLinearLR."""
    if step < WARMUP:
        return step / WARMUP
    return max(0.0, (STEPS - step) / (STEPS - WARMUP))
