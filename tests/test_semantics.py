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
    for form in ("none", "tanh"):
        x = ms.tensor([-np.inf, -1e30, -1e6, -50.0, -20.0, 20.0, 50.0, 1e6, 1e30, np.inf], dtype=dtype,
                      device=device, requires_grad=True)
        F.gelu(x, approximate=form).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), [0, 0, 0, 0, 0, 1, 1, 1, 1, 1], atol=1e-6, err_msg=form)


def test_gelu_gradcheck_on_both_sides_of_the_cuts():
    check_gradcheck(lambda x: F.gelu(x, approximate="tanh"), [np.array([-10.5, -9.5, 9.5, 10.5])])
    check_gradcheck(F.gelu, [np.array([-40.5, -39.5, -9.5, 9.5, 39.5, 40.5])])


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


def backward_through_a_hook_giving_the_wrong_shape():
    x = ms.ones(2, requires_grad=True)
    x.register_hook(lambda grad: ms.ones(3))
    (x * 1).sum().backward()


def test_minisora_errors_are_both_the_python_error_and_a_minisora_error():
    with pytest.raises(ms.Error) as caught:
        ms.zeros(2, 3) @ ms.zeros(2, 3)
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, RuntimeError)   # PyTorch's class too
    for call, python_error in [(lambda: ms.zeros(2, 3).reshape(4), RuntimeError),
                               (lambda: ms.zeros(2, 3) + ms.zeros(4), RuntimeError),
                               (lambda: ms.zeros(2, 3).transpose(0, 5), IndexError),
                               (lambda: F.relu(ms.tensor([1, 2])), TypeError),
                               (lambda: ms.zeros(2).item(), ValueError),
                               (lambda: ms.ones(2, requires_grad=True).sum().backward(ms.ones(3)), ValueError),
                               (backward_through_a_hook_giving_the_wrong_shape, RuntimeError)]:
        with pytest.raises(python_error) as caught:
            call()
        assert isinstance(caught.value, ms.Error), type(caught.value).__mro__


@pytest.mark.parametrize("call, error, message", [
    (lambda: ms.cat([]), ValueError, r"^cat: expected at least one tensor, got none"),
    (lambda: ms.stack([]), ValueError, r"^stack: expected at least one tensor, got none"),
    (lambda: ms.cat([ms.zeros(2)], dim=0.0), TypeError, r"^cat: dim must be an integer, got 0.0"),
    (lambda: ms.zeros(2, 3).sum(1.0), TypeError, r"^sum: dim must be an integer or a tuple of integers, got 1.0"),
    (lambda: ms.zeros(2, 3).max(1.0), TypeError, r"^max: dim must be an integer or a tuple of integers, got 1.0"),
    (lambda: ms.zeros(2, 3).softmax(1.5), TypeError, r"^softmax: dim must be an integer, got 1.5"),
])
def test_empty_lists_and_float_dims_are_named(call, error, message):
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize("device", DEVICES)
def test_a_full_max_with_ties_splits_the_gradient_as_pytorch(device):
    x = ms.tensor([1.0, 3.0, 3.0, 2.0, 3.0], dtype="float64", device=device, requires_grad=True)
    x.max().backward()
    assert x.grad.tolist() == [0.0, 1 / 3, 1 / 3, 0.0, 1 / 3]
    x.grad = None
    x.max(0).values.backward()   # with a dim: the index it returns gets all of it
    assert x.grad.tolist() == [0.0, 1.0, 0.0, 0.0, 0.0]
    m = ms.tensor([[1.0, 5.0], [5.0, 0.0]], dtype="float64", device=device, requires_grad=True)
    (m.amax(0) * ms.tensor([1.0, 10.0], dtype="float64", device=device)).sum().backward()
    assert m.grad.tolist() == [[0.0, 10.0], [1.0, 0.0]]
    n = ms.tensor([2.0, -1.0, -1.0], dtype="float64", device=device, requires_grad=True)
    n.min().backward()
    assert n.grad.tolist() == [0.0, 0.5, 0.5] and n.detach().min().item() == -1.0


@pytest.mark.parametrize("device", DEVICES)
def test_argmax_argmin_and_min_with_a_dim(device):
    x = ms.tensor([[1.0, 7.0, 7.0], [4.0, -2.0, 0.0]], device=device)
    assert x.argmax().item() == 1 and x.argmin().item() == 4   # over the flat tensor, first place
    assert x.argmax(1).tolist() == [1, 0] and x.argmin(0).tolist() == [0, 1, 1]
    assert x.argmax(1, keepdim=True).shape == (2, 1) and x.argmax(1).dtype == np.int64
    values, indices = x.min(1)
    assert values.tolist() == [1.0, -2.0] and indices.tolist() == [0, 1]
    assert ms.tensor([3, 1, 2], device=device).argmin().item() == 1   # integer tensors too


def test_index_arrays_beside_an_integer_follow_pytorchs_axis_order():
    x = ms.zeros(2, 3, 4, 5)
    assert x[0, :, [0, 1]].shape == (3, 2, 5)   # NumPy: (2, 3, 5)
    assert x[[0, 1], 0, [0, 1]].shape == (2, 5)
    assert x[..., 0, [1, 2]].shape == (2, 3, 2)   # NumPy: (2, 2, 3)
    values = np.arange(120.0).reshape(2, 3, 4, 5)
    t = ms.tensor(values, dtype="float64", requires_grad=True)
    y = t[1, :, [0, 3]]
    np.testing.assert_array_equal(y.numpy(), values[1][:, [0, 3]])
    (y * ms.tensor(np.arange(30.0).reshape(3, 2, 5), dtype="float64")).sum().backward()
    expected = np.zeros_like(values)
    expected[1][:, [0, 3]] = np.arange(30.0).reshape(3, 2, 5)
    np.testing.assert_array_equal(t.grad.numpy(), expected)


@pytest.mark.parametrize("device", DEVICES)
def test_0_d_tensors_take_softmax_and_squeeze_as_pytorch(device):
    x = ms.tensor(2.0, dtype="float64", device=device, requires_grad=True)
    assert x.softmax(0).item() == 1.0 and x.log_softmax(-1).item() == 0.0
    x.softmax(-1).backward()
    assert x.grad.item() == 0.0
    assert x.squeeze().shape == () and x.squeeze(0).shape == () and x.unsqueeze(0).shape == (1,)
    with pytest.raises(IndexError, match="^softmax: dim 1 is out of range"):
        x.softmax(1)


@pytest.mark.parametrize("device", DEVICES)
def test_empty_dims_flow_through_every_layer_as_in_pytorch(device):
    def t(*shape):
        return ms.randn(*shape, dtype="float64", device=device).requires_grad_()
    assert np.isnan(t(0, 3).mean().item()) and np.isnan(t(0, 3).mean(0).numpy()).all()
    assert t(0, 3).mean(1).shape == (0,) and t(0, 3).max(1).values.shape == (0,)
    with pytest.raises(IndexError, match=r"^max: max over dims \(0,\) of a tensor of shape \(0, 3\) has no element"):
        t(0, 3).max(0)
    w, b = t(4, 0), t(4)
    y = F.linear(t(2, 0), w, b)   # no inputs: the bias alone
    np.testing.assert_array_equal(y.numpy(), np.broadcast_to(b.detach().numpy(), (2, 4)))
    y.sum().backward()
    assert w.grad.shape == (4, 0) and b.grad.tolist() == [2.0] * 4
    assert F.linear(t(2, 3), t(0, 3), t(0)).shape == (2, 0)
    assert F.layer_norm(t(0, 3), 3).shape == (0, 3) and t(0, 3).softmax(0).shape == (0, 3)
    for q, k in [((2, 0, 4), (2, 0, 4)), ((0, 3, 4), (0, 3, 4)), ((2, 3, 4), (2, 0, 4))]:
        q, k, v = t(*q), t(*k), t(*k)
        out = F.scaled_dot_product_attention(q, k, v)
        assert out.shape == q.shape and not out.numpy().any()   # no key: nothing attended, zeros
        out.sum().backward()
        assert q.grad.shape == q.shape and not q.grad.numpy().any()
    assert F.multi_head_attention(t(2, 0, 12), 2).shape == (2, 0, 4)
    assert F.positional_encoding(t(2, 0, 4)).shape == (2, 0, 4)


def test_integers_and_bools_are_typed_as_pytorch_types_them():
    ints, bools = ms.tensor([1, 2, 3]), ms.tensor([True, False])
    assert (ints ** 2).dtype == np.int64 and (ints ** 2).tolist() == [1, 4, 9]
    assert (ints ** 0.5).dtype == np.float32 and ints.exp().dtype == np.float32 and bools.sqrt().dtype == np.float32
    assert (-ints).tolist() == [-1, -2, -3] and (ints / 2).dtype == np.float32
    assert ms.where(bools, 1, 3).dtype == np.int64 and ms.where(bools, 1, 3).tolist() == [1, 3]
    assert ms.where(bools, 1.0, 3).dtype == np.float32 and ms.where(bools, True, False).dtype == np.bool_
    assert ms.full((2, 2), 4).dtype == np.int64 and ms.full((2, 2), 4.0).dtype == np.float32
    assert ms.full((2,), True).dtype == np.bool_ and ms.full((2,), 3, dtype="float64").dtype == np.float64


@pytest.mark.parametrize("device", DEVICES)
def test_setitem_writes_in_place_in_pytorchs_axis_order_and_guards_the_graph(device):
    x = ms.zeros(2, 3, 4, device=device)
    x[0, :, [0, 1]] = ms.ones(3, 2, device=device)   # the (3, 2) block PyTorch's order names
    x[1] = 7.0
    x[x > 5] = 2.0
    expected = np.zeros((2, 3, 4), np.float32)
    expected[0][:, [0, 1]] = 1.0
    expected[1] = 2.0
    np.testing.assert_array_equal(x.numpy(), expected)
    ids = ms.tensor([0, 1, 2], device=device)
    ids[2] = 9   # an id written in place is range-checked again before a kernel reads with it
    with pytest.raises(IndexError, match="embedding: id 9 is out of range"):
        F.embedding(ids, ms.zeros(3, 2, device=device))
    w = ms.ones(3, requires_grad=True, device=device)
    y = (w * w).sum()
    with pytest.raises(RuntimeError, match="^setitem: a leaf that requires grad cannot be changed in place outside"):
        w[0] = 3.0
    with ms.no_grad():
        w[0] = 3.0
    assert w.tolist() == [3.0, 1.0, 1.0] and w._version == 1
    with pytest.raises(RuntimeError, match=r"^mul: backward needs its input float32\[3\], which was changed in place"):
        y.backward()
    with pytest.raises(RuntimeError, match="^setitem: a tensor computed in a graph cannot be changed in place"):
        (w * 2)[0] = 1.0
    with pytest.raises(IndexError, match="^setitem: index 5 is out of bounds"):
        x[5] = 1.0
