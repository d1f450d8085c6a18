"""Solution (lesson 16): quantize an array to int8, as PyTorch's quantize_per_tensor does.

    q = clamp(round(x / scale + zero_point), -128, 127)      as np.int8

round: to the nearest integer, ties to the even one (2.5 -> 2, 3.5 -> 4, -2.5 -> -2): IEEE's
and PyTorch's rule (np.rint). clamp: numbers beyond the range saturate at -128 or 127; an int8
must never wrap around (200 -> -56).

The clamp comes before the cast: np.int8 of 200 is -56, of 200 clamped is 127.
Graded by: minisora check lessons/solutions/16_quantize.py
"""
import numpy as np


def quantize_int8(x, scale, zero_point):
    q = np.rint(np.asarray(x, dtype=np.float64) / scale + zero_point)
    return np.clip(q, -128, 127).astype(np.int8)
