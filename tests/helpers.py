"""Shared test machinery: draw inputs in several memory layouts, run a particle through the
public API on any device, and compare against the particle's NumPy reference and against finite
differences. Every family's tests run the reference, the CPU and the (simulated) GPU through
these, each against the NumPy reference."""
import numpy as np
import pytest
from hypothesis import strategies as st

import minisora as ms

# Tolerances: float64 agrees to rounding; float32 kernels accumulate some rounding differently.
TOLERANCE = {"float64": dict(rtol=1e-9, atol=1e-11), "float32": dict(rtol=2e-4, atol=2e-5)}
LAYOUTS = ("contiguous", "transposed", "strided")
# The devices every family's tests run on: the GPU is Numba's simulator unless MINISORA_TEST_GPU=1.
DEVICES = ("cpu", pytest.param("cuda", marks=pytest.mark.skipif(not ms.cuda.is_available(),
                                                                reason=ms.cuda.why_not() or "cuda available")))


def shapes(min_dims=1, max_dims=3, max_side=5):
    """Shapes with size-1 dims likely (edge cases) and non-power-of-two sides."""
    return st.lists(st.sampled_from([1, 1, 2, 3, 5, max_side]), min_size=min_dims, max_size=max_dims).map(tuple)


def values(seed, shape, low=-2.0, high=2.0):
    return np.random.default_rng(seed).uniform(low, high, shape)


def layout_tensor(array, layout, dtype, requires_grad=True, device="cpu"):
    """A tensor holding `array`'s values whose memory is laid out as `layout` says.

    The non-contiguous ones are views made by minisora's own particles, so the particle under
    test really receives strided memory. Returns (view, numpy values it holds).
    """
    array = np.asarray(array, dtype=dtype)
    if layout == "transposed" and array.ndim >= 2:
        base = ms.tensor(np.ascontiguousarray(np.swapaxes(array, -1, -2)), dtype=dtype, requires_grad=requires_grad,
                         device=device)
        view = base.transpose(-1, -2)
    elif layout == "strided" and array.ndim >= 1:
        padded = np.zeros(array.shape[:-1] + (2 * array.shape[-1],), dtype)
        padded[..., ::2] = array
        view = ms.tensor(padded, dtype=dtype, requires_grad=requires_grad, device=device)[..., ::2]
    else:
        view = ms.tensor(array, dtype=dtype, requires_grad=requires_grad, device=device)
    if requires_grad:
        view.retain_grad()
    return view, array


def check_against_reference(particle, fn, arrays, params=None, dtype="float64", layouts=None, differentiable=None,
                            device="cpu"):
    """Forward and backward through the public API `fn`, on `device`, agree with the particle's reference."""
    params = params or {}
    layouts = layouts or ["contiguous"] * len(arrays)
    differentiable = differentiable or [np.asarray(a).dtype.kind == "f" for a in arrays]
    tensors, plain = [], []
    for array, layout, grad in zip(arrays, layouts, differentiable):
        if grad:
            t, a = layout_tensor(array, layout, dtype, device=device)
        else:
            t, a = ms.tensor(array, device=device), np.asarray(array)
        tensors.append(t)
        plain.append(a)
    out = fn(*tensors)
    expected = particle.reference(*plain, **params)
    tol = TOLERANCE[dtype]
    np.testing.assert_allclose(out.numpy(), expected, **tol, err_msg=f"{particle.name} forward")
    assert out.dtype == np.dtype(dtype), f"{particle.name}: output dtype {out.dtype}, expected {dtype}"
    grad_out = np.random.default_rng(1).standard_normal(out.shape).astype(dtype)
    assert out.device == device, f"{particle.name}: output on {out.device}, expected {device}"
    out.backward(ms.tensor(grad_out, device=device))
    expected_grads = particle.reference_backward(*plain, grad_out, **params)
    for i, (t, g) in enumerate(zip(tensors, expected_grads)):
        if g is None or not differentiable[i]:
            continue
        assert t.grad is not None, f"{particle.name}: input {i} got no gradient"
        assert t.grad.shape == t.shape and t.grad.dtype == t.dtype
        np.testing.assert_allclose(t.grad.numpy(), g, **tol, err_msg=f"{particle.name} grad of input {i}")
    return out


def check_integer_input_rule(particle, params):
    """A pointwise particle on int64 input does what its `on_integers` says, as PyTorch's op does:
    refuses it by name, keeps it int64 (neg, abs, ...), or computes it as float32 (exp, sin, ...)."""
    name, integers = particle.name, ms.tensor([1, 2])
    if particle.on_integers == "refuse":
        with pytest.raises(TypeError, match=rf"^{name}: expected float32 or float64 input, got int64\[2\]"):
            ms.autograd.call(particle, integers, **params)
        return
    got = ms.autograd.call(particle, integers, **params)
    assert got.dtype == (np.int64 if particle.on_integers == "keep" else np.float32), name
    np.testing.assert_allclose(got.numpy(), particle.reference(np.array([1.0, 2.0]), **params), rtol=1e-6)


def check_gradcheck(fn, arrays, differentiable=None):
    """float64 finite differences agree with backward() for every element."""
    differentiable = differentiable or [np.asarray(a).dtype.kind == "f" for a in arrays]
    inputs = [ms.tensor(np.asarray(a, dtype=np.float64), requires_grad=True) if d else ms.tensor(a)
              for a, d in zip(arrays, differentiable)]
    report = ms.gradcheck(fn, inputs, atol=1e-6, rtol=1e-4)
    assert report, str(report)
    return report


def away_from_kinks(array, kinks=(0.0,), margin=1e-2):
    """Nudge values off non-differentiable points so finite differences are meaningful there."""
    array = np.array(array, dtype=np.float64)
    for kink in kinks:
        close = np.abs(array - kink) < margin
        array[close] = kink + margin * np.where(array[close] >= kink, 2, -2)
    return array
