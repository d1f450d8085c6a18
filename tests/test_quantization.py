"""The quantization particles: quantize, dequantize and fake_quantize bit for bit against PyTorch's
(tests/golden/quantization.npz: ties, saturation, NaN and infinities, per-channel axes, int8 and
uint8), the int8 product against an exact integer product, fake_quantize's straight-through
gradient against finite differences of the function it stands for, and their bad inputs."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import minisora as ms
from minisora import autograd, quant
from minisora.particles import get
from minisora.particles.quantized_linear import INT32_SAFE_DEPTH
from minisora.backends.gpu import simulated
from helpers import DEVICES, LAYOUTS, check_against_reference, layout_tensor, shapes, values

GOLDEN = np.load(__import__("os").path.join(__import__("os").path.dirname(__file__), "golden", "quantization.npz"))
CASES = sorted({name.split("/")[0] for name in GOLDEN.files if "/" in name})
RANGES = {"int8": (-128, 127), "uint8": (0, 255)}


def case(name):
    get_ = lambda key: GOLDEN[f"{name}/{key}"]   # noqa: E731
    axis = int(get_("axis")) if f"{name}/axis" in GOLDEN.files else None
    return get_("x"), get_("scale"), get_("zero_point"), axis, str(get_("dtype")), get_


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", CASES)
def test_quantize_dequantize_and_fake_quantize_are_pytorchs_to_the_bit(name, device):
    x, scale, zero_point, axis, dtype, golden = case(name)
    qmin, qmax = RANGES[dtype]
    q = get("quantize")
    got = autograd.call(q, ms.tensor(x, device=device), scale=scale, zero_point=zero_point, axis=axis, dtype=dtype)
    assert got.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(got.numpy(), golden("q"))
    np.testing.assert_array_equal(q.reference(x, scale, zero_point, axis, dtype), golden("q"))
    stored = ms.tensor(golden("q"), dtype=dtype, device=device)
    back = autograd.call(get("dequantize"), stored, scale=scale, zero_point=zero_point, axis=axis)
    np.testing.assert_array_equal(back.numpy(), golden("dequantized"))
    np.testing.assert_array_equal(get("dequantize").reference(golden("q"), scale, zero_point, axis), golden("dequantized"))
    leaf = ms.tensor(x, device=device, requires_grad=True)
    fake = quant.fake_quantize(leaf, scale, zero_point, qmin, qmax, axis)
    fake.backward(ms.ones(*x.shape, device=device))
    np.testing.assert_array_equal(fake.numpy(), golden("fake"))
    np.testing.assert_array_equal(leaf.grad.numpy(), golden("fake_grad"))


def test_the_goldens_hold_the_hard_cases():
    """What the PyTorch file must contain for the test above to mean something."""
    x, scale, zero_point, _, _, golden = case("tensor0")
    with np.errstate(invalid="ignore"):
        ties = np.isclose((x / scale) % 1, 0.5, atol=1e-6)
    assert ties.sum() > 100 and np.isnan(x).any() and np.isinf(x).any()
    assert (golden("q") == 127).any() and (golden("q") == -128).any()     # saturation both ways
    assert (golden("fake_grad") == 0).any() and (golden("fake_grad") == 1).any()
    assert {int(case(n)[3]) for n in CASES if n.startswith("channel")} == {0, 1, 2}


def drawn_parameters(seed, shape, per_channel, zero_points):
    """(scales, zero points in the closed range `zero_points`, axis): one pair per tensor, or one per
    slice along the last axis."""
    rng = np.random.default_rng(seed)
    count = shape[-1] if per_channel else 1
    return (rng.uniform(0.01, 0.5, count), rng.integers(zero_points[0], zero_points[1] + 1, count),
            len(shape) - 1 if per_channel else None)


@pytest.mark.parametrize("device", DEVICES)
@given(shape=shapes(), seed=st.integers(0, 2**16), layout=st.sampled_from(LAYOUTS),
       dtype=st.sampled_from(["int8", "uint8"]), per_channel=st.booleans())
def test_quantize_and_dequantize_kernels_match_their_references(device, shape, seed, layout, dtype, per_channel):
    """Drawn shapes (size-1 dims among them), strided float input, per tensor and along the last axis."""
    scale, zero_point, axis = drawn_parameters(seed, shape, per_channel, RANGES[dtype])
    x, held = layout_tensor(values(seed, shape, -40, 40), layout, "float32", requires_grad=False, device=device)
    q = autograd.call(get("quantize"), x, scale=scale, zero_point=zero_point, axis=axis, dtype=dtype)
    np.testing.assert_array_equal(q.numpy(), get("quantize").reference(held, scale, zero_point, axis, dtype))
    back = quant.dequantize(q, scale, zero_point, axis)
    np.testing.assert_array_equal(back.numpy(), get("dequantize").reference(q.numpy(), scale, zero_point, axis))


@pytest.mark.parametrize("device", DEVICES)
def test_an_empty_batch_quantizes_to_an_empty_batch(device):
    empty = ms.zeros(0, 3, device=device)
    q = quant.quantize_per_channel(empty, [0.1] * 3, [0] * 3, axis=1)
    assert q.shape == (0, 3) and quant.dequantize(q, [0.1] * 3, [0] * 3, axis=1).shape == (0, 3)
    w = ms.tensor(np.ones((2, 3), np.int8), dtype="int8", device=device)
    y = quant.quantized_linear(q, w, ms.ones(2, device=device))
    assert y.shape == (0, 2)


@pytest.mark.parametrize("device", DEVICES)
@given(shape=shapes(), seed=st.integers(0, 2**16), layout=st.sampled_from(LAYOUTS),
       dtype=st.sampled_from(["float32", "float64"]), per_channel=st.booleans())
def test_fake_quantize_kernel_matches_reference(device, shape, seed, layout, dtype, per_channel):
    scale, zero_point, axis = drawn_parameters(seed, shape, per_channel, (-5, 5))
    params = {"scale": scale, "zero_point": zero_point, "qmin": -128, "qmax": 127, "axis": axis}
    call = lambda x: autograd.call(get("fake_quantize"), x, **params)   # noqa: E731
    check_against_reference(get("fake_quantize"), call, [values(seed, shape, -40, 40)], params, dtype, [layout],
                            device=device)


@given(seed=st.integers(0, 2**16), zero_point=st.integers(-8, 7))
def test_straight_through_gradient_is_the_derivative_of_the_clamp_it_stands_for(seed, zero_point):
    """Away from the rounding steps' edges the fake-quantized function is the clamp of x to
    [(qmin - z - 1/2) s, (qmax - z + 1/2) s] plus a sawtooth of zero slope on average: its
    straight-through gradient is the clamp's derivative, measured here by finite differences."""
    scale, qmin, qmax, h = 0.05, -8, 7, 1e-6
    lo, hi = (qmin - zero_point - 0.5) * scale, (qmax - zero_point + 0.5) * scale
    x = np.random.default_rng(seed).uniform(lo - 0.3, hi + 0.3, 64)
    x = x[np.minimum(np.abs(x - lo), np.abs(x - hi)) > 1e-3]                   # not on the clamp's corners
    leaf = ms.tensor(x, dtype="float64", requires_grad=True)
    quant.fake_quantize(leaf, scale, zero_point, qmin, qmax).sum().backward()
    numeric = (np.clip(x + h, lo, hi) - np.clip(x - h, lo, hi)) / (2 * h)
    np.testing.assert_allclose(leaf.grad.numpy(), numeric, atol=1e-6)


def integer_inputs(rng, m, k, n, x_dtype):
    x = rng.integers(*((-128, 128) if x_dtype == "int8" else (0, 256)), (m, k)).astype(x_dtype)
    return x, rng.integers(-128, 128, (n, k)).astype(np.int8)


@pytest.mark.parametrize("device", DEVICES)
@settings(max_examples=20)
@given(m=st.sampled_from([1, 2, 7]), k=st.sampled_from([1, 3, 64]), n=st.sampled_from([1, 5, 16]),
       x_dtype=st.sampled_from(["int8", "uint8"]), seed=st.integers(0, 2**16), transposed=st.booleans())
def test_int8_product_is_the_exact_integer_product(device, m, k, n, x_dtype, seed, transposed):
    rng = np.random.default_rng(seed)
    x, w = integer_inputs(rng, m, k, n, x_dtype)
    zero_point = int(rng.integers(*RANGES[x_dtype]))
    multiplier, bias = rng.uniform(1e-4, 1e-2, n).astype(np.float32), rng.standard_normal(n).astype(np.float32)
    tx = ms.tensor(np.ascontiguousarray(x.T), dtype=x_dtype, device=device).transpose(0, 1) if transposed \
        else ms.tensor(x, dtype=x_dtype, device=device)
    tensors = [tx, ms.tensor(w, dtype="int8", device=device), ms.tensor(multiplier, device=device),
               ms.tensor(bias, device=device)]
    exact = (x.astype(np.int64) - zero_point) @ w.astype(np.int64).T
    acc = quant.quantized_linear(*tensors, x_zero_point=zero_point, output="int32")
    assert acc.dtype == np.int32
    np.testing.assert_array_equal(acc.numpy(), exact)
    particle = get("quantized_linear")
    for output in ("float32", "int8", "uint8"):   # the fused epilogues, as the reference computes them
        got = quant.quantized_linear(*tensors, x_zero_point=zero_point, output=output, out_scale=0.05, out_zero_point=3)
        expected = particle.reference(x, w, multiplier, bias, zero_point, output, 0.05, 3)
        if device == "cpu" or simulated():
            np.testing.assert_array_equal(got.numpy(), expected)
        elif output == "float32":   # a GPU fuses s acc + b into one multiply-add: one rounding, not two,
            # so the two differ by at most the rounding of the product (half an ulp of |s acc|, or of |b|)
            bound = 2.0 ** -24 * (np.abs(exact * multiplier.astype(np.float64)) + np.abs(bias)) * 2
            assert (np.abs(got.numpy().astype(np.float64) - expected) <= bound).all()
        else:                       # ... and that last bit may decide a tie of the requantizing round
            assert np.abs(got.numpy().astype(np.int64) - expected).max() <= 1
    y = quant.quantized_linear(*tensors, x_zero_point=zero_point).numpy()
    np.testing.assert_allclose(y, exact * multiplier.astype(np.float64) + bias, rtol=1e-5, atol=1e-5)


def test_the_faster_int8_kernel_matches_the_readable_one():
    rng = np.random.default_rng(1)
    x, w = integer_inputs(rng, 37, 129, 33, "int8")
    tensors = [ms.tensor(x, dtype="int8"), ms.tensor(w, dtype="int8"), ms.ones(33), ms.zeros(33)]
    fast = quant.quantized_linear(*tensors, x_zero_point=-3, output="int32").numpy()
    with ms.config.override(readable_kernels=True):
        readable = quant.quantized_linear(*tensors, x_zero_point=-3, output="int32").numpy()
    np.testing.assert_array_equal(fast, readable)


def test_the_largest_sums_do_not_overflow():
    k = 4096
    x, w = np.full((2, k), -128, np.int8), np.full((3, k), -128, np.int8)
    got = quant.quantized_linear(ms.tensor(x, dtype="int8"), ms.tensor(w, dtype="int8"), ms.ones(3), ms.zeros(3),
                                 x_zero_point=127, output="int32")
    assert (got.numpy() == k * 255 * 128).all() and k * 255 * 128 < 2**31 and INT32_SAFE_DEPTH > k


def test_bad_inputs_name_the_particle_and_what_is_wrong():
    x = ms.randn(2, 3)
    with pytest.raises(TypeError, match=r"^quantize: expected float32 or float64 input, got int64\[2, 3\]"):
        quant.quantize_per_tensor(ms.tensor(np.zeros((2, 3), np.int64)), 0.1, 0)
    with pytest.raises(ValueError, match=r"^quantize: per-channel quantization along axis 1 needs 3 scales"):
        quant.quantize_per_channel(x, [0.1, 0.2], [0, 0], axis=1)
    with pytest.raises(IndexError, match=r"^quantize: axis 2 is out of range"):
        quant.quantize_per_channel(x, [0.1] * 3, [0] * 3, axis=2)
    with pytest.raises(ValueError, match=r"^quantize: scale must be positive and finite, got \[0.0\]"):
        quant.quantize_per_tensor(x, 0.0, 0)
    with pytest.raises(ValueError, match=r"^quantize: zero_point \[200\] lies outside \[-128, 127\]"):
        quant.quantize_per_tensor(x, 0.1, 200)
    with pytest.raises(TypeError, match=r"^quantize: dtype must be 'int8' or 'uint8', got 'int16'"):
        quant.quantize_per_tensor(x, 0.1, 0, dtype="int16")
    with pytest.raises(TypeError, match=r"^dequantize: expected an int8 or uint8 input, got float32\[2, 3\]"):
        quant.dequantize(x, 0.1, 0)
    with pytest.raises(ValueError, match=r"^fake_quantize: qmin and qmax must be integers with qmin < qmax"):
        quant.fake_quantize(x, 0.1, 0, qmin=5, qmax=5)
    q, w = ms.tensor(np.zeros((2, 3), np.int8), dtype="int8"), ms.tensor(np.zeros((4, 5), np.int8), dtype="int8")
    with pytest.raises(ValueError, match=r"^quantized_linear: expected x \(M, K\) and w \(N, K\), got x int8\[2, 3\] "
                                         r"and w int8\[4, 5\]"):
        quant.quantized_linear(q, w, ms.ones(4), ms.zeros(4))
    with pytest.raises(TypeError, match=r"^quantized_linear: expected x int8 or uint8 and w int8"):
        quant.quantized_linear(x, w, ms.ones(4), ms.zeros(4))
    with pytest.raises(ValueError, match=r"^quantized_linear: multiplier and bias must be float32 of shape \(5,\)"):
        quant.quantized_linear(q, ms.tensor(np.zeros((5, 3), np.int8), dtype="int8"), ms.ones(4), ms.zeros(5))
