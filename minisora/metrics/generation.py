"""Scores of generated samples: mode coverage on 2-D mixtures, a classifier's view of digits."""
from dataclasses import dataclass

import numpy as np

from .. import errors

QUALITY_STDS = 3.0     # a sample within 3 standard deviations of a mode is a high-quality one
MIN_SHARE = 0.25       # a mode is covered when it holds a quarter of its fair share of the samples


@dataclass
class ModeCoverage:
    covered: int          # modes holding at least MIN_SHARE of a fair share (n / modes) of samples
    modes: int
    high_quality: float   # the share of samples within QUALITY_STDS std of their nearest mode
    per_mode: list        # high-quality samples near each mode

    def __str__(self):
        return f"{self.covered}/{self.modes} modes, {self.high_quality:.1%} high-quality samples"


def mode_coverage(samples, modes, std):
    """How a GAN's 2-D samples (n, 2) cover a mixture's modes (k, 2) of standard deviation std:
    each sample belongs to its nearest mode; it is high-quality when within 3 std of it; a mode
    is covered when at least a quarter of n / k high-quality samples landed on it (one stray
    sample does not make a mode). The data itself scores 1 - exp(-9 / 2) = 98.9% high-quality
    (a 2-D Gaussian's share within 3 std)."""
    samples, modes = np.asarray(samples, np.float64), np.asarray(modes, np.float64)
    if samples.ndim != 2 or samples.shape[1] != modes.shape[1] or len(samples) == 0:
        raise errors.ValueError(f"mode_coverage: samples must be (n >= 1, {modes.shape[1]}), got {samples.shape}")
    distances = np.linalg.norm(samples[:, None, :] - modes[None, :, :], axis=-1)
    nearest, distance = distances.argmin(1), distances.min(1)
    good = distance <= QUALITY_STDS * std
    per_mode = np.bincount(nearest[good], minlength=len(modes))
    covered = int((per_mode >= MIN_SHARE * len(samples) / len(modes)).sum())
    return ModeCoverage(covered, len(modes), float(good.mean()), per_mode.tolist())


@dataclass
class DigitScore:
    classes_present: int   # of 0-9, how many the classifier gives to at least one image
    confidence: float      # the classifier's mean probability for the class it picks
    counts: list           # images per predicted class

    def __str__(self):
        return f"{self.classes_present}/10 classes, mean confidence {self.confidence:.1%}"


_classifier = None


def digits_classifier():
    """minisora's own digits classifier (an MLP 64-128-10 trained on all 1797 8x8 digits scaled to
    [-1, 1], seed 0; about a second), trained once per process."""
    global _classifier
    if _classifier is None:
        from .. import functional as F, optim, random as ms_random
        from ..autograd import enable_grad
        from ..data import digits
        from ..models import MLP
        from ..tensor import Tensor

        data = digits()
        images = Tensor(data.arrays[0] * 2.0 - 1.0)
        labels = Tensor(data.arrays[1])
        saved = ms_random.generator().bit_generator.state   # (training it must not move anyone's random numbers)
        ms_random.manual_seed(0)
        model = MLP(64, [128], 10)
        optimizer = optim.Adam(model.parameters(), lr=3e-3)
        with enable_grad():   # (whoever asks may be inside no_grad)
            for _ in range(300):
                optimizer.zero_grad()
                F.cross_entropy(model(images), labels).backward()
                optimizer.step()
        ms_random.generator().bit_generator.state = saved
        model.eval()
        _classifier = model
    return _classifier


def digit_score(images):
    """What the digits classifier makes of generated 8x8 images (n, 1, 8, 8) or (n, 64) in [-1, 1]."""
    from ..autograd import no_grad
    from ..functional import softmax
    from ..tensor import Tensor

    flat = np.asarray(images, np.float32).reshape(len(images), -1)
    if flat.shape[1] != 64:
        raise errors.ValueError(f"digit_score: expected 8x8 images, got shape {np.shape(images)}")
    with no_grad():
        probabilities = softmax(digits_classifier()(Tensor(flat)), -1).numpy()
    predicted = probabilities.argmax(1)
    counts = np.bincount(predicted, minlength=10)
    return DigitScore(int((counts > 0).sum()), float(probabilities.max(1).mean()), counts.tolist())
