"""Scores of what a generative model makes (written once, used by the trainer, the tests and the lessons).

    mode_coverage(samples, modes, std)   2-D mixtures: how many modes the samples cover and the
                                         share of high-quality samples (within 3 std of a mode)
    digit_score(images)                  8x8 digits: which classes minisora's own digits classifier
                                         sees in generated images, and how sure it is
"""
from .generation import DigitScore, ModeCoverage, digit_score, mode_coverage

__all__ = ["mode_coverage", "ModeCoverage", "digit_score", "DigitScore"]
