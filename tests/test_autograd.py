import numpy as np
import pytest

import minisora as ms
from minisora import F
from helpers import DEVICES


def test_gradients_accumulate_over_uses_and_over_backward_calls():
    x = ms.tensor([1.0, 2.0], requires_grad=True)
    (x * x + x).sum().backward()
    assert x.grad.tolist() == [3.0, 5.0]
    (x * 3).sum().backward()
    assert x.grad.tolist() == [6.0, 8.0]


def test_shared_gradient_arrays_are_not_aliased_between_leaves():
    a, b = ms.ones(3, requires_grad=True), ms.ones(3, requires_grad=True)
    (a + b).sum().backward()
    a.grad.numpy()[0] = 100.0
    assert b.grad.tolist() == [1.0, 1.0, 1.0]


def test_no_grad_and_detach_record_no_graph():
    x = ms.ones(2, requires_grad=True)
    with ms.no_grad():
        y = x * 2
    assert not y.requires_grad and y.grad_fn is None
    z = (x * 2).detach()
    assert z.is_leaf and not z.requires_grad


def test_second_backward_through_a_freed_graph_is_a_clear_error():
    x = ms.ones(2, requires_grad=True)
    y = (x.exp() * 2).sum()
    y.backward()
    with pytest.raises(RuntimeError, match=r"second time.*retain_graph=True"):
        y.backward()
    z = (x.exp() * 2).sum()
    z.backward(retain_graph=True)
    z.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * 2 * 2 * np.e * np.ones(2) / 2 + 2 * np.e, rtol=1e-6)


def test_hooks_see_and_may_replace_the_gradient_and_can_be_removed():
    x = ms.ones(2, requires_grad=True)
    y = x * 3
    seen = []
    handle = y.register_hook(lambda g: seen.append(g.tolist()) or g * 10)
    y.sum().backward()
    assert seen == [[1.0, 1.0]] and x.grad.tolist() == [30.0, 30.0]
    handle.remove()
    x.grad = None
    (x * 3).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]


def test_retain_grad_keeps_a_non_leaf_gradient():
    x = ms.ones(2, requires_grad=True)
    y = x * 2
    y.retain_grad()
    (y * y).sum().backward()
    assert y.grad.tolist() == [4.0, 4.0]


def test_a_particle_with_several_results_runs_its_backward_once_with_all_their_gradients():
    # split's three results are used far apart in the graph, one not at all; hooks and
    # retain_grad work on each; the graph can be walked twice with retain_graph
    x = ms.tensor(np.arange(6.0), requires_grad=True)
    a, b, c = x.split(2)
    seen = []
    b.register_hook(lambda g: seen.append(g.tolist()) or g * 10)
    a.retain_grad()
    late = ((a * 2).exp().log() + b).sum() * (a.sum() + 1)   # a reached before and after b
    with ms.inspect.trace() as trace:
        late.backward(retain_graph=True)
    calls = [r for r in trace.records if r.particle == "split" and r.phase == "backward"]
    assert len(calls) == 1 and calls[0].inputs == ["float64[2]", "float64[2]"]   # c got no gradient
    s = a.numpy().sum() + 1
    expected_a = np.full(2, 2 * s + (2 * a.numpy() + b.numpy()).sum())
    np.testing.assert_allclose(a.grad.numpy(), expected_a)
    assert seen == [[s, s]]
    np.testing.assert_allclose(x.grad.numpy(), np.concatenate([expected_a, [10 * s] * 2, [0, 0]]))
    late.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.concatenate([expected_a, [10 * s] * 2, [0, 0]]))
    assert c.requires_grad and c.grad_fn is a.grad_fn


def test_backward_needs_a_gradient_for_non_scalars_and_a_graph():
    with pytest.raises(RuntimeError, match="single-number output"):
        (ms.ones(2, requires_grad=True) * 2).backward()
    with pytest.raises(RuntimeError, match="does not require grad"):
        ms.ones(2).sum().backward()
    with pytest.raises(TypeError, match="only float tensors can require gradients"):
        ms.tensor([1, 2], requires_grad=True)


def test_dtypes_and_creation_follow_pytorch():
    assert ms.tensor([1.0]).dtype == np.float32
    assert ms.tensor(np.array([1.0])).dtype == np.float64
    assert ms.tensor([1, 2]).dtype == np.int64
    assert ms.zeros(2, 3).shape == (2, 3) and ms.arange(4).tolist() == [0, 1, 2, 3]
    ms.manual_seed(5)
    first = ms.randn(3).tolist()
    ms.manual_seed(5)
    assert ms.randn(3).tolist() == first
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        ms.tensor([1.0], device="tpu")
    for device in ("gpu", "cuda:0"):   # .to() takes dtypes too: the message names both
        with pytest.raises(ValueError, match=rf"to\('{device}'\): unknown device or dtype; devices are 'cpu' and"):
            ms.tensor([1.0]).to(device)
        with pytest.raises(ValueError, match=rf"to\('{device}'\)"):
            ms.nn.Linear(2, 2).to(device)
    with pytest.raises(TypeError, match="unsupported dtype 'float16'"):
        ms.tensor([1.0]).to("float16")


def test_float_to_double_is_differentiable():
    x = ms.tensor([1.5], requires_grad=True)
    (x.double() * 2).sum().backward()
    assert x.grad.dtype == np.float32 and x.grad.tolist() == [2.0]


def test_a_deep_chain_does_not_hit_the_recursion_limit():
    x = ms.ones(1, requires_grad=True)
    y = x
    for _ in range(5000):
        y = y * 1.0
    y.sum().backward()
    assert x.grad.tolist() == [1.0]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("replacement, error, message", [
    (lambda g: ms.ones(1, device=g.device), RuntimeError, r"gave a gradient of shape \(1,\) for a tensor of shape \(1000,\)"),
    (lambda g: ms.ones(2000, device=g.device), RuntimeError,
     r"gave a gradient of shape \(2000,\) for a tensor of shape \(1000,\)"),
    (lambda g: [1.0] * 1000, TypeError, r"gave list as a gradient; expected a tensor on"),
    (lambda g: ms.ones(1000, dtype="int64", device=g.device), TypeError,
     r"gave a gradient of dtype int64 for a float32 tensor"),
    (lambda g: ms.ones(1000, device="cpu" if g.device == "cuda" else "cuda"), RuntimeError,
     r"gave a gradient on c\w+ for a tensor on c\w+"),
])
def test_a_hook_returning_a_wrong_gradient_is_refused_before_any_kernel_reads_it(device, replacement, error, message):
    # a hook's smaller gradient once made relu's backward loop read past its memory (a crash at
    # 30M elements, garbage below); a larger one was cut short
    x = ms.ones(1000, requires_grad=True, device=device)
    y = F.relu(x)
    y.register_hook(replacement)
    with pytest.raises(error, match=message):
        (y * 2).sum().backward()
    assert x.grad is None


def test_a_hook_may_return_a_float_gradient_of_the_right_shape_and_a_leaf_grad_keeps_its_shape():
    x = ms.ones(3, requires_grad=True)
    y = x * 3
    y.register_hook(lambda g: g.double() * 2)   # float64 for a float32 tensor: cast, as PyTorch's engine does
    y.sum().backward()
    assert x.grad.dtype == np.float32 and x.grad.tolist() == [6.0, 6.0, 6.0]


def test_backward_grad_is_checked_for_shape_and_device():
    x = ms.ones(3, requires_grad=True)
    with pytest.raises(ValueError, match=r"backward\(grad\): gave a gradient of shape \(2,\) for a tensor of shape \(3,\)"):
        (x * 2).backward([1.0, 2.0])
    (x * 2).backward([1, 2, 3])   # integers are numbers like any other
    assert x.grad.tolist() == [2.0, 4.0, 6.0]


@pytest.mark.parametrize("device", DEVICES)
def test_backward_after_an_in_place_change_of_a_saved_input_is_refused(device):
    # the gradient once silently used the weights the optimizer had just written
    ms.manual_seed(0)
    layer = ms.nn.Linear(3, 2).to(device)
    optimizer = ms.optim.SGD(layer.parameters(), lr=0.1)
    loss = layer(ms.randn(4, 3, device=device)).sum()
    loss.backward(retain_graph=True)
    optimizer.step()
    with pytest.raises(RuntimeError, match=r"^linear: backward needs its input float32\[2, 3\], which was changed in "
                                           r"place after the forward \(it is at version 1 now"):
        loss.backward()
    loss = layer(ms.randn(4, 3, device=device)).sum()
    layer.load_state_dict(layer.state_dict())
    with pytest.raises(RuntimeError, match=r"at version 2 now: an optimizer step, load_state_dict or x\[\.\.\.\] = "):
        loss.backward()


def test_a_change_to_an_input_that_backward_does_not_need_is_fine():
    w = ms.ones(3, requires_grad=True)
    total = w.sum()                       # sum's backward needs no input values
    w.grad = ms.ones(3)
    ms.optim.SGD([w], lr=0.5).step()
    total.backward()
    assert w.grad.tolist() == [2.0, 2.0, 2.0] and w._version == 1
