"""Where minisora once gave a silently wrong answer, it now does what PyTorch does, or names what is
wrong (issue 20). Each case failed before its fix; the oracle is PyTorch's documented behaviour,
worked out by hand."""
import numpy as np
import pytest

import minisora as ms
from minisora import F
from helpers import DEVICES, check_gradcheck


@pytest.mark.parametrize("device", DEVICES)
def test_the_sum_of_a_bool_mask_counts_it(device):
    mask = ms.tensor([True, False, True, True], device=device)
    total = mask.sum()
    assert total.dtype == np.int64 and total.item() == 3
    assert mask.reshape(2, 2).sum(0).tolist() == [2, 1]   # [[T, F], [T, T]]


@pytest.mark.parametrize("call, message", [
    (lambda x: x.squeeze(2), r"^squeeze: dim 2 is out of range for a tensor of 2 dims \(expected a dim in \[-2, 1\]\)"),
    (lambda x: x.unsqueeze(-4), r"^unsqueeze: dim -4 is out of range for a tensor of 3 dims"),
    (lambda x: x.transpose(0, 5), r"^transpose: dim 5 is out of range for a tensor of 2 dims"),
])
def test_out_of_range_dims_are_an_index_error_not_wrapped(call, message):
    with pytest.raises(IndexError, match=message):
        call(ms.zeros(1, 3))


def test_a_float_dim_is_a_type_error_naming_the_op():
    with pytest.raises(TypeError, match=r"^squeeze: dim must be an integer, got 0.5"):
        ms.zeros(1, 3).squeeze(0.5)
    assert ms.zeros(1, 3).squeeze(-2).shape == (3,) and ms.tensor(2.0).squeeze(0).shape == ()


@pytest.mark.parametrize("device", DEVICES)
def test_vector_at_vector_is_a_0_d_tensor(device):
    a, b = (ms.tensor(v, dtype="float64", device=device, requires_grad=True) for v in ([1.0, 2.0], [3.0, 4.0]))
    y = a @ b
    assert y.shape == () and y.item() == 11.0
    y.backward()
    assert a.grad.tolist() == [3.0, 4.0] and b.grad.tolist() == [1.0, 2.0]
    assert (ms.ones(2, 3) @ ms.ones(3)).shape == (2,) and (ms.ones(3) @ ms.ones(3, 2)).shape == (2,)


@pytest.mark.parametrize("device", DEVICES)
def test_the_gradient_of_x_to_the_0_is_0_also_at_0(device):
    x = ms.tensor([0.0, 2.0], dtype="float64", device=device, requires_grad=True)
    (x ** 0).sum().backward()
    assert x.grad.tolist() == [0.0, 0.0]
    x.grad = None
    (x ** ms.tensor([0.0, 0.0], dtype="float64", device=device)).sum().backward()
    assert x.grad.tolist() == [0.0, 0.0]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("device", DEVICES)
def test_gelu_gradient_is_finite_for_huge_inputs(dtype, device):
    x = ms.tensor([-1e30, -1e6, -20.0, 20.0, 1e6, 1e30], dtype=dtype, device=device, requires_grad=True)
    F.gelu(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0, 0, 0, 1, 1, 1], atol=1e-6)


def test_gelu_gradcheck_on_both_sides_of_the_cut_at_10():
    check_gradcheck(F.gelu, [np.array([-10.5, -9.5, 9.5, 10.5])])


def test_integers_to_negative_integer_powers_are_refused():
    with pytest.raises(ValueError, match=r"^pow_tensor: integers to negative integer powers are not allowed"):
        ms.tensor([2, 3]) ** ms.tensor([1, -1])
    assert (ms.tensor([2, 3]) ** ms.tensor([3, 0])).tolist() == [8, 1]


def test_an_integer_that_does_not_fit_in_int64_is_refused_not_wrapped():
    with pytest.raises(OverflowError, match=r"^tensor: 9223372036854775808 does not fit in int64"):
        ms.tensor(2**63)
    assert ms.tensor(2**63 - 1).item() == 2**63 - 1


def test_is_causal_with_an_attn_mask_is_refused_as_in_pytorch():
    q = ms.randn(1, 2, 3)
    with pytest.raises(ValueError, match=r"^scaled_dot_product_attention: is_causal=True and an attn_mask together"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=np.ones((2, 2), bool), is_causal=True)


def test_a_parameter_given_twice_to_an_optimizer_is_refused():
    x = ms.ones(2, requires_grad=True)
    with pytest.raises(ValueError, match=r"^SGD: a parameter appears twice in one group"):
        ms.optim.SGD([x, x], lr=0.1)
