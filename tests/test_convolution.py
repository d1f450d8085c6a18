"""conv1d, conv2d and pooling: PyTorch's numbers (golden/convolution.npz, float64, no torch needed), the
im2col/col2im kernels against the direct NumPy reference on every device, float64 gradient checks
on drawn shapes and layouts, the layers' PyTorch init and names, and clear errors.
(The catalog tests add NaN/inf propagation and the empty batch.)"""
import os

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import minisora as ms
from minisora import F
from minisora.particles import get
from golden.convolution_cases import CASES, POOL_CASES, TRANSPOSED_CASES
from helpers import DEVICES, TOLERANCE, check_gradcheck, layout_tensor

GOLDEN = np.load(os.path.join(os.path.dirname(__file__), "golden", "convolution.npz"))


def convolve(shape, name=""):
    return F.conv_transpose2d if name in TRANSPOSED_CASES else F.conv1d if len(shape) == 3 else F.conv2d


@pytest.mark.parametrize("name", sorted(CASES) + sorted(TRANSPOSED_CASES))
def test_convolution_matches_pytorch(name):
    shape, _, bias, options = {**CASES, **TRANSPOSED_CASES}[name]
    inputs = [ms.tensor(GOLDEN[f"{name}/input{i}"], requires_grad=True) for i in range(3 if bias else 2)]
    out = convolve(shape, name)(*inputs, **options)
    np.testing.assert_allclose(out.numpy(), GOLDEN[f"{name}/output"], rtol=1e-10, atol=1e-12, err_msg=name)
    out.backward(ms.tensor(GOLDEN[f"{name}/weight"]))
    for i, t in enumerate(inputs):
        np.testing.assert_allclose(t.grad.numpy(), GOLDEN[f"{name}/grad{i}"], rtol=1e-10, atol=1e-12,
                                   err_msg=f"{name} gradient of input {i}")


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", ["conv2d_stride_padding", "conv2d_dilation_groups", "conv2d_depthwise_same_even",
                                  "conv1d_stride_dilation_groups"])
def test_kernels_match_the_direct_reference(name, dtype, device):
    shape, weight_shape, bias, options = CASES[name]
    rng = np.random.default_rng(1)
    arrays = [rng.standard_normal(shape), rng.standard_normal(weight_shape)] + ([rng.standard_normal(weight_shape[0])]
                                                                              if bias else [])
    kernels_agree_with_the_reference(get("conv1d" if len(shape) == 3 else "conv2d"), convolve(shape), arrays, options,
                                     dtype, device)


def kernels_agree_with_the_reference(particle, fn, arrays, options, dtype, device):
    """fn(*arrays, **options) forward and backward on `device` in `dtype` against the particle's
    direct NumPy reference (float32: within float32 rounding of it)."""
    rng = np.random.default_rng(9)
    tensors = [ms.tensor(a, dtype=dtype, device=device, requires_grad=True) for a in arrays]
    out = fn(*tensors, **options)
    tolerance = TOLERANCE["float64"] if dtype == "float64" else dict(rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(out.numpy(), particle.reference(*arrays, **options), **tolerance)
    grad = rng.standard_normal(out.shape)
    out.backward(ms.tensor(grad, dtype=dtype, device=device))
    for i, (t, expected) in enumerate(zip(tensors, particle.reference_backward(*arrays, grad, **options))):
        np.testing.assert_allclose(t.grad.numpy(), expected, **tolerance, err_msg=f"gradient of input {i}")


@settings(max_examples=12, deadline=None)
@given(batch=st.sampled_from([1, 2]), groups=st.sampled_from([1, 2]), size=st.sampled_from([(1, 5), (4, 4), (5, 3)]),
       kernel=st.sampled_from([(1, 1), (2, 3), (3, 2)]), stride=st.sampled_from([1, 2, (2, 1)]),
       padding=st.sampled_from([0, 1, (0, 2), "same"]), dilation=st.sampled_from([1, 2]), bias=st.booleans(),
       layout=st.sampled_from(["contiguous", "transposed", "strided"]))
def test_conv2d_gradcheck_on_drawn_shapes(batch, groups, size, kernel, stride, padding, dilation, bias, layout):
    """float64 finite differences agree with backward for x (given as a non-contiguous view too),
    the weight and the bias, wherever the padded input holds the dilated kernel."""
    if padding == "same" and stride != 1:
        stride = 1
    padding_rows = {0: (0, 0), 1: (1, 1), (0, 2): (0, 2)}.get(padding, (kernel[0] - 1, kernel[1] - 1))
    if any(n + 2 * p < dilation * (k - 1) + 1 for n, p, k in zip(size, padding_rows, kernel)):
        return   # the kernel does not fit: a case for the error test below
    rng = np.random.default_rng(batch + 10 * groups)
    arrays = [rng.standard_normal((batch, 2 * groups) + size), rng.standard_normal((3 * groups, 2) + kernel)]
    arrays += [rng.standard_normal(3 * groups)] if bias else []
    options = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    x, _ = layout_tensor(arrays[0], layout, "float64")
    np.testing.assert_allclose(F.conv2d(x, *(ms.tensor(a) for a in arrays[1:]), **options).numpy(),
                               get("conv2d").reference(*arrays, **options), **TOLERANCE["float64"])
    check_gradcheck(lambda *t: F.conv2d(*t, **options), arrays)


def test_conv1d_gradcheck():
    rng = np.random.default_rng(3)
    arrays = [rng.standard_normal((2, 4, 7)), rng.standard_normal((2, 2, 3)), rng.standard_normal(2)]
    check_gradcheck(lambda *t: F.conv1d(*t, stride=2, padding=2, dilation=2, groups=2), arrays)


def test_layers_start_as_pytorchs_and_name_their_parameters_alike():
    ms.manual_seed(0)
    layer = ms.nn.Conv2d(8, 16, (3, 5), stride=2, padding=1, groups=2)
    assert [n for n, _ in layer.named_parameters()] == ["weight", "bias"]
    assert layer.weight.shape == (16, 4, 3, 5) and layer.bias.shape == (16,)
    bound = 1 / np.sqrt(4 * 3 * 5)   # kaiming_uniform_(a=sqrt(5)) and the bias: U(-1/sqrt(fan_in), ..)
    for p in (layer.weight, layer.bias):
        assert np.abs(p.numpy()).max() <= bound and np.abs(p.numpy()).max() > 0.8 * bound
    assert layer(ms.randn(2, 8, 9, 9)).shape == (2, 16, 5, 4)   # (9 + 2 - 3) // 2 + 1, (9 + 2 - 5) // 2 + 1
    assert repr(layer) == "Conv2d(8, 16, kernel_size=(3, 5), stride=2, padding=1, groups=2)"
    one = ms.nn.Conv1d(3, 4, 5, padding="same", bias=False)
    assert one(ms.randn(2, 3, 11)).shape == (2, 4, 11) and one.bias is None


@pytest.mark.parametrize("call,error,match", [
    (lambda: F.conv2d(ms.randn(1, 3, 5, 5), ms.randn(4, 2, 3, 3)), ValueError,
     r"^conv2d: input float32\[1, 3, 5, 5\] has 3 channels, weight float32\[4, 2, 3, 3\] expects 2"),
    (lambda: F.conv2d(ms.randn(1, 2, 2, 2), ms.randn(4, 2, 3, 3)), ValueError,
     r"^conv2d: the kernel \(3, 3\) \(dilation \(1, 1\)\) is larger than the padded input \(2, 2\)"),
    (lambda: F.conv2d(ms.randn(2, 5, 5), ms.randn(4, 2, 3, 3)), ValueError, r"^conv2d: input float32\[2, 5, 5\] must be \(N, C, H, W\)"),
    (lambda: F.conv1d(ms.randn(2, 3, 5, 5), ms.randn(4, 3, 3)), ValueError, r"^conv1d: input float32\[2, 3, 5, 5\] must be \(N, C, L\)"),
    (lambda: F.conv2d(ms.randn(1, 4, 5, 5), ms.randn(4, 2, 3, 3), groups=3), ValueError,
     r"^conv2d: groups=3 must divide both the input's 4 channels and the weight's 4 outputs"),
    (lambda: F.conv2d(ms.randn(1, 2, 5, 5), ms.randn(4, 2, 3, 3), stride=2, padding="same"), ValueError,
     r"^conv2d: padding='same' needs stride 1"),
    (lambda: F.conv2d(ms.randn(1, 2, 5, 5), ms.randn(4, 2, 3, 3), stride=0), ValueError,
     r"^conv2d: stride must be a positive int or a pair of them, got 0"),
    (lambda: F.conv2d(ms.randn(1, 2, 5, 5).double(), ms.randn(4, 2, 3, 3)), TypeError, r"^conv2d: inputs must share a dtype"),
    (lambda: F.conv2d(ms.tensor(np.ones((1, 2, 5, 5), np.int64)), ms.randn(4, 2, 3, 3)), TypeError,
     r"^conv2d: expected float32 or float64 input, got int64"),
    (lambda: ms.nn.Conv2d(4, 6, 3, groups=4), ValueError, r"^Conv2d: groups=4 must divide in_channels=4 and out_channels=6"),
])
def test_bad_input_names_the_particle_and_shapes(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize("name", sorted(POOL_CASES))
def test_pooling_matches_pytorch_ties_included(name):
    _, function, arguments, _ = POOL_CASES[name]
    x = ms.tensor(GOLDEN[f"{name}/input0"], requires_grad=True)
    out = getattr(F, function)(x, *arguments)
    np.testing.assert_allclose(out.numpy(), GOLDEN[f"{name}/output"], rtol=1e-12, atol=1e-14, err_msg=name)
    out.backward(ms.tensor(GOLDEN[f"{name}/weight"]))
    np.testing.assert_allclose(x.grad.numpy(), GOLDEN[f"{name}/grad0"], rtol=1e-12, atol=1e-14, err_msg=name)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", ["max_pool2d_ties", "avg_pool2d_rect_padding", "adaptive_avg_pool2d_3x4"])
def test_pooling_kernels_match_the_reference(name, dtype, device):
    shape, function, arguments, ties = POOL_CASES[name]
    rng = np.random.default_rng(2)
    x = rng.integers(-2, 3, shape).astype(np.float64) if ties else rng.standard_normal(shape)
    t = ms.tensor(x, dtype=dtype, device=device, requires_grad=True)
    out = getattr(F, function)(t, *arguments)
    particle = get(function)
    tolerance = TOLERANCE["float64"] if dtype == "float64" else dict(rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out.numpy(), particle.reference(x, *arguments), **tolerance)
    grad = rng.standard_normal(out.shape)
    out.backward(ms.tensor(grad, dtype=dtype, device=device))
    np.testing.assert_allclose(t.grad.numpy(), particle.reference_backward(x, grad, *arguments)[0], **tolerance)


@settings(max_examples=12, deadline=None)
@given(function=st.sampled_from(["max_pool2d", "avg_pool2d"]), size=st.sampled_from([(1, 3), (4, 4), (5, 3)]),
       kernel=st.sampled_from([1, 2, (2, 3)]), stride=st.sampled_from([None, 1, (2, 1)]), padding=st.sampled_from([0, 1]),
       batch=st.sampled_from([1, 2]), layout=st.sampled_from(["contiguous", "transposed", "strided"]))
def test_pooling_gradcheck_on_drawn_shapes(function, size, kernel, stride, padding, batch, layout):
    sizes = (kernel, kernel) if isinstance(kernel, int) else kernel
    if any(padding > k // 2 or n + 2 * padding < k for n, k in zip(size, sizes)):
        return   # no window fits, or the padding is more than half of one: the error test's cases
    x = np.random.default_rng(batch).permutation(batch * 2 * size[0] * size[1]).reshape((batch, 2) + size) * 0.1
    view, _ = layout_tensor(x, layout, "float64")   # distinct numbers: no ties, no kink
    args = (kernel, stride, padding)
    np.testing.assert_allclose(getattr(F, function)(view, *args).numpy(), get(function).reference(x, *args),
                               **TOLERANCE["float64"])
    check_gradcheck(lambda t: getattr(F, function)(t, *args), [x])


def test_pooling_layers_and_their_errors():
    x = ms.randn(2, 3, 6, 5)
    assert ms.nn.MaxPool2d(2)(x).shape == (2, 3, 3, 2) and ms.nn.AvgPool2d(3, 1, 1)(x).shape == (2, 3, 6, 5)
    assert ms.nn.AdaptiveAvgPool2d(1)(x).shape == (2, 3, 1, 1)
    np.testing.assert_allclose(F.adaptive_avg_pool2d(x, 1).numpy()[..., 0, 0], x.numpy().mean((2, 3)), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"^max_pool2d: input float32\[3, 6, 5\] must be \(N, C, H, W\)"):
        F.max_pool2d(ms.randn(3, 6, 5), 2)
    with pytest.raises(ValueError, match=r"^avg_pool2d: the window \(7, 7\) is larger than the padded input"):
        F.avg_pool2d(x, 7)
    with pytest.raises(ValueError, match=r"^max_pool2d: padding must be ints from 0 to half the kernel"):
        F.max_pool2d(x, 2, padding=2)
    with pytest.raises(ValueError, match=r"^adaptive_avg_pool2d: output_size 7 must be 1 to the input's size"):
        F.adaptive_avg_pool2d(x, 7)
    with pytest.raises(TypeError, match=r"^max_pool2d: expected float32 or float64 input, got int64"):
        F.max_pool2d(ms.tensor(np.ones((1, 1, 4, 4), np.int64)), 2)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", sorted(TRANSPOSED_CASES))
def test_conv_transpose2d_kernels_match_the_reference(name, dtype, device):
    shape, weight_shape, bias, options = TRANSPOSED_CASES[name]
    rng = np.random.default_rng(5)
    arrays = [rng.standard_normal(shape), rng.standard_normal(weight_shape)]
    arrays += [rng.standard_normal(weight_shape[1] * options.get("groups", 1))] if bias else []
    kernels_agree_with_the_reference(get("conv_transpose2d"), F.conv_transpose2d, arrays, options, dtype, device)


@settings(max_examples=10, deadline=None)
@given(batch=st.sampled_from([1, 2]), groups=st.sampled_from([1, 2]), size=st.sampled_from([(1, 3), (3, 2)]),
       kernel=st.sampled_from([(1, 1), (2, 3)]), stride=st.sampled_from([1, 2, (2, 1)]), padding=st.sampled_from([0, 1]),
       layout=st.sampled_from(["contiguous", "transposed", "strided"]))
def test_conv_transpose2d_gradcheck_on_drawn_shapes(batch, groups, size, kernel, stride, padding, layout):
    rng = np.random.default_rng(batch + 3 * groups)
    arrays = [rng.standard_normal((batch, 2 * groups) + size), rng.standard_normal((2 * groups, 2) + kernel),
              rng.standard_normal(2 * groups)]
    options = dict(stride=stride, padding=padding, groups=groups)
    strides = (stride, stride) if isinstance(stride, int) else stride
    if any((n - 1) * s - 2 * padding + k < 1 for n, s, k in zip(size, strides, kernel)):
        return   # an empty output: a case for the error test
    x, _ = layout_tensor(arrays[0], layout, "float64")
    np.testing.assert_allclose(F.conv_transpose2d(x, *(ms.tensor(a) for a in arrays[1:]), **options).numpy(),
                               get("conv_transpose2d").reference(*arrays, **options), **TOLERANCE["float64"])
    check_gradcheck(lambda *t: F.conv_transpose2d(*t, **options), arrays)


def test_conv_transpose2d_layer_and_errors():
    ms.manual_seed(0)
    layer = ms.nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2)
    assert layer.weight.shape == (4, 3, 3, 3) and sorted(layer.state_dict()) == ["bias", "weight"]
    bound = 1 / np.sqrt(3 * 9)   # PyTorch's fan_in of this weight: out_channels / groups * kh * kw
    assert np.abs(layer.weight.numpy()).max() <= bound and np.abs(layer.weight.numpy()).max() > 0.8 * bound
    assert layer(ms.randn(2, 4, 5, 5)).shape == (2, 6, 10, 10)
    with pytest.raises(ValueError, match=r"^conv_transpose2d: input float32\[1, 3, 2, 2\] has 3 channels, weight"):
        F.conv_transpose2d(ms.randn(1, 3, 2, 2), ms.randn(4, 2, 2, 2))
    with pytest.raises(ValueError, match=r"^conv_transpose2d: output_padding 2 must be below the stride"):
        F.conv_transpose2d(ms.randn(1, 4, 2, 2), ms.randn(4, 2, 2, 2), stride=2, output_padding=2)
    with pytest.raises(ValueError, match=r"^conv_transpose2d: input float32\[4, 2, 2\] must be \(N, C, H, W\)"):
        F.conv_transpose2d(ms.randn(4, 2, 2), ms.randn(4, 2, 2, 2))
