import numpy as np
import pytest

import minisora as ms
from minisora.autograd import call
from minisora.particles import Particle


class WrongSquare(Particle):
    """y = x^2 with a backward that forgets the factor 2 (what gradcheck must catch)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save(x)
        return x * x

    @staticmethod
    def backward(ctx, grad_y):
        (x,) = ctx.saved
        return (grad_y * x,)


def test_catches_a_wrong_backward_and_names_the_worst_entry():
    x = ms.tensor(np.array([[0.5, -3.0], [1.0, 2.0]]), requires_grad=True)
    report = ms.gradcheck(lambda t: call(WrongSquare, t), [x])
    assert not report
    weight = np.random.default_rng(0).standard_normal((2, 2))  # gradcheck's g for seed=0
    error = np.abs(weight * x.numpy())  # analytic g x versus the true 2 g x
    assert report.inputs[0].worst_index == np.unravel_index(error.argmax(), error.shape)
    assert report.max_rel_error == pytest.approx(0.5, rel=1e-6)
    assert "FAILED" in str(report) and "mismatch" in str(report)


def test_weighted_sum_catches_a_softmax_backward_of_zeros():
    class ZeroSoftmax(Particle):
        forward = staticmethod(lambda ctx, x: ms.particles.get("softmax").reference(x))
        backward = staticmethod(lambda ctx, grad_y: (grad_y * 0,))

    report = ms.gradcheck(lambda t: call(ZeroSoftmax, t), [ms.randn(2, 3, dtype="float64", requires_grad=True)])
    assert not report


def test_refuses_float32_and_nothing_to_check():
    with pytest.raises(TypeError, match="finite differences need float64"):
        ms.gradcheck(lambda t: t * 2, [ms.ones(2, requires_grad=True)])
    with pytest.raises(ValueError, match="no input requires grad"):
        ms.gradcheck(lambda t: t * 2, [ms.ones(2, dtype="float64")])


def test_warns_at_a_kink():
    x = ms.tensor(np.array([0.0, 1.0]), requires_grad=True)
    report = ms.gradcheck(ms.F.relu, [x])
    assert any("kink" in w for w in report.warnings), str(report)
