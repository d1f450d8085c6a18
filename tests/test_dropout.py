import numpy as np
import pytest
from hypothesis import given, strategies as st

import minisora as ms
from minisora import F
from minisora.particles import get
from minisora.particles.dropout import Dropout
from helpers import DEVICES, LAYOUTS, check_against_reference, check_gradcheck, shapes, values


@pytest.mark.parametrize("device", DEVICES)
@given(shape=shapes(), seed=st.integers(0, 2**16), p=st.sampled_from([0.0, 0.3, 0.5, 1.0]),
       layout=st.sampled_from(LAYOUTS), dtype=st.sampled_from(["float32", "float64"]))
def test_kernel_matches_reference_with_the_same_noise(device, shape, seed, p, layout, dtype):
    noise = np.random.default_rng(seed).random(shape)
    call = lambda x, u: ms.autograd.call(Dropout, x, u, p=p)  # noqa: E731
    check_against_reference(get("dropout"), call, [values(seed, shape), noise], {"p": p}, dtype, [layout, "contiguous"],
                            differentiable=[True, False], device=device)


def test_gradcheck_with_fixed_noise():
    noise = ms.tensor(np.random.default_rng(0).random((3, 4)), dtype="float64")
    check_gradcheck(lambda x: ms.autograd.call(Dropout, x, noise, p=0.4), [values(0, (3, 4))])


def test_keeps_about_one_minus_p_and_preserves_the_mean():
    ms.manual_seed(0)
    y = F.dropout(ms.ones(200_000), p=0.25)
    assert (y.numpy() > 0).mean() == pytest.approx(0.75, abs=0.01)
    assert y.numpy().mean() == pytest.approx(1.0, abs=0.01)


def test_identity_in_eval_and_reproducible_under_a_seed():
    x = ms.randn(4, 5)
    assert F.dropout(x, 0.5, training=False) is x
    ms.manual_seed(3)
    first = F.dropout(x, 0.5).numpy()
    ms.manual_seed(3)
    np.testing.assert_array_equal(first, F.dropout(x, 0.5).numpy())


def test_bad_probability():
    with pytest.raises(ValueError, match=r"^dropout: p must be a probability in \[0, 1\], got 1.5"):
        F.dropout(ms.ones(3), p=1.5)
