"""What is GPU-specific: the particles at a GPU's sizes (gpu marker), the GEMM's tiles and split K,
the fused attention and layer norm kernels, the optimizers' batched launches, moving tensors and
modules, sharing memory, launch counts, and the errors. Each family's own tests run every
particle on the (simulated) GPU against its NumPy reference.

By default these run on Numba's CUDA simulator with tiny shapes (see conftest.py). With a GPU,
`MINISORA_TEST_GPU=1 python -m pytest -m gpu` runs the cases at larger sizes on the real device.
Oracle: the cpu backend (itself checked against NumPy references and finite differences),
within float32 tolerances; float64 cases must agree to 1e-10.
"""
import os

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import minisora as ms
from minisora import F
from minisora.backends import gpu

REAL_GPU = os.environ.get("MINISORA_TEST_GPU") == "1"
cuda_only = pytest.mark.skipif(not ms.cuda.is_available(), reason=ms.cuda.why_not() or "cuda available")
pytestmark = cuda_only


def draw(rng, spec, scale):
    shape, kind = spec
    shape = tuple(n * scale if n > 1 else n for n in shape)
    if kind == "float":
        return rng.standard_normal(shape).astype(np.float32)
    if kind == "positive":
        return rng.uniform(0.5, 2.0, shape).astype(np.float32)
    if kind == "probability":
        return rng.uniform(0.05, 0.95, shape).astype(np.float32)
    if kind == "bool":
        return rng.random(shape) > 0.5
    return rng.integers(0, kind, shape)   # an int: ids below it


# (name, function of tensors, input specs); the first float inputs get gradients
CASES = [
    ("add broadcast", lambda a, b: a + b, [((3, 1, 4), "float"), ((5, 4), "float")]),
    ("sub", lambda a, b: a - b, [((3, 4), "float"), ((4,), "float")]),
    ("mul", lambda a, b: a * b, [((2, 3), "float"), ((2, 3), "float")]),
    ("div", lambda a, b: a / b, [((2, 3), "float"), ((2, 1), "positive")]),
    ("pow tensor", lambda a, b: a ** b, [((2, 3), "positive"), ((2, 3), "float")]),
    ("scalars", lambda a: (2.0 * a - 1.0) / 3.0, [((2, 3), "float")]),
    ("neg exp", lambda a: (-a).exp(), [((5,), "float")]),
    ("log sqrt", lambda a: a.log() + a.sqrt(), [((5,), "positive")]),
    ("pow scalar", lambda a: a ** 3, [((4,), "float")]),
    ("relu", F.relu, [((3, 5), "float")]),
    ("leaky_relu", lambda a: F.leaky_relu(a, 0.1), [((3, 5), "float")]),
    ("sigmoid", F.sigmoid, [((3, 5), "float")]),
    ("tanh", F.tanh, [((3, 5), "float")]),
    ("gelu", F.gelu, [((3, 5), "float")]),
    ("sum all", lambda a: a.sum(), [((3, 5), "float")]),
    ("sum dims keepdim", lambda a: a.sum(dim=(0, 2), keepdim=True), [((2, 3, 4), "float")]),
    ("mean", lambda a: a.mean(dim=1), [((3, 5), "float")]),
    ("max", lambda a: a.max(dim=0).values, [((4, 3), "float")]),
    ("softmax", lambda a: F.softmax(a, dim=-1), [((3, 7), "float")]),
    ("softmax dim 0", lambda a: F.softmax(a, dim=0), [((3, 7), "float")]),
    ("log_softmax", lambda a: F.log_softmax(a, dim=-1), [((3, 7), "float")]),
    ("matmul", lambda a, b: a @ b, [((3, 4), "float"), ((4, 5), "float")]),
    ("matmul batched broadcast", lambda a, b: a @ b, [((2, 3, 4), "float"), ((4, 5), "float")]),
    ("matmul transposed view", lambda a, b: a.T @ b.transpose(0, 1), [((4, 3), "float"), ((5, 4), "float")]),
    ("matmul vector", lambda a, b: a @ b, [((4,), "float"), ((4, 3), "float")]),
    ("linear", lambda x, w, b: F.linear(x, w, b), [((2, 3, 4), "float"), ((5, 4), "float"), ((5,), "float")]),
    ("cross_entropy", lambda x, t: F.cross_entropy(x, t), [((4, 6), "float"), ((4,), 6)]),
    ("cross_entropy none", lambda x, t: F.cross_entropy(x, t, reduction="none"), [((4, 6), "float"), ((4,), 6)]),
    ("mse_loss", F.mse_loss, [((3, 4), "float"), ((3, 4), "float")]),
    ("binary_cross_entropy", F.binary_cross_entropy, [((3, 4), "probability"), ((3, 4), "probability")]),
    ("bce_with_logits", F.binary_cross_entropy_with_logits, [((3, 4), "float"), ((3, 4), "probability")]),
    ("layer_norm", lambda x, w, b: F.layer_norm(x, x.shape[-1:], w, b), [((2, 3, 5), "float"), ((5,), "float"), ((5,), "float")]),
    ("embedding", lambda ids, w: F.embedding(ids, w), [((3, 4), 5), ((5, 3), "float")]),
    ("positional_encoding", lambda x: ms.nn.PositionalEncoding(x.shape[-1], x.shape[-2])(x), [((2, 4, 6), "float")]),
    ("attention causal", lambda q, k, v: F.scaled_dot_product_attention(q, k, v, causal=True),
     [((2, 5, 4), "float"), ((2, 5, 4), "float"), ((2, 5, 3), "float")]),
    ("attention bool mask", lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m),
     [((2, 3, 4), "float"), ((2, 5, 4), "float"), ((2, 5, 4), "float"), ((3, 5), "bool")]),
    ("index basic", lambda a: a[1:, ::2], [((3, 5), "float")]),
    ("index repeated", lambda a: a[[0, 2, 0]], [((3, 4), "float")]),
    ("cat stack", lambda a, b: ms.cat([a, b], dim=1) * ms.stack([a, a], dim=0).sum(0).sum(1, keepdim=True),
     [((2, 3), "float"), ((2, 2), "float")]),
    ("permute reshape", lambda a: a.permute(2, 0, 1).reshape(4, -1) * 2, [((2, 3, 4), "float")]),
    ("split", lambda a: ms.cat([p * (k + 1) for k, p in enumerate(a.split([1, 3, a.shape[-1] - 4], dim=-1))], dim=-1),
     [((2, 6), "float")]),
    ("split unused piece", lambda a: a.T.split(2)[1].reshape(-1) * 2, [((3, 5), "float")]),
    ("split side by side", lambda a: ms.cat([p.permute(1, 0, 2).reshape(3, -1) for p in a.split(2, dim=-1)], 1),
     [((2, 3, 6), "float")]),
    ("where compare", lambda a, b: ms.where(a > b, a, b * 2), [((3, 4), "float"), ((4,), "float")]),
    ("cast", lambda a: a.double() * 2, [((3,), "float")]),
]


def run_case(fn, arrays, device, dtype=None):
    tensors = []
    for array in arrays:
        floating = array.dtype.kind == "f"
        t = ms.tensor(array.astype(dtype) if floating and dtype else array, device=device, requires_grad=floating)
        tensors.append(t)
    out = fn(*tensors)
    weights = np.random.default_rng(1).standard_normal(out.shape).astype(out.dtype)
    (out * ms.tensor(weights, device=device)).sum().backward()
    return out.numpy(), [t.grad.numpy() if t.grad is not None else None for t in tensors]


def compare(fn, specs, scale, dtype=None, tol=2e-5):
    arrays = [draw(np.random.default_rng(0), spec, scale) for spec in specs]
    cpu_out, cpu_grads = run_case(fn, arrays, "cpu", dtype)
    gpu_out, gpu_grads = run_case(fn, arrays, "cuda", dtype)
    np.testing.assert_allclose(gpu_out, cpu_out, rtol=tol, atol=tol)
    for cpu_grad, gpu_grad in zip(cpu_grads, gpu_grads):
        assert (cpu_grad is None) == (gpu_grad is None)
        if cpu_grad is not None:
            np.testing.assert_allclose(gpu_grad, cpu_grad, rtol=tol, atol=tol)


@pytest.mark.gpu
@pytest.mark.parametrize("name, fn, specs", CASES, ids=[c[0] for c in CASES])
def test_particle_matches_cpu_at_size(name, fn, specs):
    compare(fn, specs, scale=37, tol=1e-3)


@pytest.mark.parametrize("m, k, n", [
    pytest.param(3, 40, 5, marks=pytest.mark.skipif(REAL_GPU, reason="the simulator's small split sizes")),
    pytest.param(64, 4096, 96, marks=pytest.mark.gpu),
])
def test_matmul_with_k_split_across_blocks(m, k, n):
    # few output tiles and a long K: the GEMM cuts K into chunks whose blocks add into C atomically
    from minisora.backends import gemm

    assert gemm.split_k(1, k) > 1
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((m, k)), rng.standard_normal((k, n))
    product = (ms.tensor(a, dtype="float32", device="cuda") @ ms.tensor(b, dtype="float32", device="cuda")).numpy()
    np.testing.assert_allclose(product, a @ b, rtol=1e-4, atol=1e-4 * np.sqrt(k))
    # into a packed part of a bigger array (the chunks zero that part only) and into a strided view
    cuda_backend = ms.backends.get("cuda")
    a_gpu, b_gpu = (cuda_backend.from_host(x.astype(np.float32)) for x in (a, b))
    rows = cuda_backend.full((m + 2, n), 7.0, np.float32)
    columns = cuda_backend.full((n + 1, m), 7.0, np.float32)
    cuda_backend.matmul(a_gpu, b_gpu, out=rows[1:m + 1])
    cuda_backend.matmul(a_gpu, b_gpu, out=cuda_backend.permute(columns, (1, 0))[:, 1:])
    got_rows, got_columns = cuda_backend.to_numpy(rows), cuda_backend.to_numpy(columns)
    np.testing.assert_allclose(got_rows[1:m + 1], a @ b, rtol=1e-4, atol=1e-4 * np.sqrt(k))
    np.testing.assert_allclose(got_columns[1:].T, a @ b, rtol=1e-4, atol=1e-4 * np.sqrt(k))
    assert (got_rows[[0, -1]] == 7.0).all() and (got_columns[0] == 7.0).all()
    # linear's bias rides in the GEMM: added by the first chunk only, so exactly once
    bias = rng.standard_normal(n) + 10.0
    y = F.linear(*(ms.tensor(v, dtype="float32", device="cuda") for v in (a, b.T, bias))).numpy()
    np.testing.assert_allclose(y, a @ b + bias, rtol=1e-4, atol=1e-4 * np.sqrt(k))


# The GEMM's edges: C ending inside a block's tile, a thread's patch or one of its squares, K
# ending inside a K step (the double-buffered slabs then load zeros), one step and many, K split
# across blocks (5 x 41 x 18 on the simulator), no K or no columns; each operand read row by row
# or through a transposed view (the slab loads' two orders); and the sums of A's rows it adds
# up on the way (linear's bias gradient). Tiles are 16 on the simulator, 128 on a GPU.
GEMM_SHAPES = [(1, 1, 1), (17, 9, 33), (16, 24, 16), (5, 41, 18), (4, 9, 0), (3, 0, 2),
               pytest.param(300, 260, 130, marks=pytest.mark.gpu), pytest.param(128, 8, 257, marks=pytest.mark.gpu)]


def upload(x, transposed):
    """x on the GPU as float32: packed, or (transposed) as the transpose of packed memory: the
    same numbers, the other order."""
    backend = ms.backends.get("cuda")
    if transposed:
        return backend.permute(backend.from_host(np.ascontiguousarray(x.T, np.float32)), (1, 0))
    return backend.from_host(x.astype(np.float32))


def check_gemm_and_row_sums(m, k, n, a_transposed, b_transposed):
    """The GEMM's A B and the sums of A's rows against NumPy's in float64, A and B drawn at random
    and uploaded packed or transposed; returns (A, B) on the GPU and the product."""
    backend = ms.backends.get("cuda")
    rng = np.random.default_rng(m * 10000 + k * 100 + n)
    a, b = rng.standard_normal((m, k)), rng.standard_normal((k, n))
    a_gpu, b_gpu = upload(a, a_transposed), upload(b, b_transposed)
    row_sums = backend.full((m,), 7.0, np.float32)
    product = backend.to_numpy(backend.matmul(a_gpu, b_gpu, row_sums=row_sums))
    np.testing.assert_allclose(product, a @ b, rtol=1e-5, atol=1e-5 * np.sqrt(k))
    np.testing.assert_allclose(backend.to_numpy(row_sums), a.sum(1), rtol=1e-6, atol=1e-6 * np.sqrt(k))
    return a_gpu, b_gpu, product


@pytest.mark.parametrize("m, k, n", GEMM_SHAPES)
@pytest.mark.parametrize("a_transposed, b_transposed", [(False, False), (True, False), (False, True), (True, True)])
def test_gemm_edges_operand_layouts_and_row_sums_match_numpy(m, k, n, a_transposed, b_transposed):
    a_gpu, b_gpu, product = check_gemm_and_row_sums(m, k, n, a_transposed, b_transposed)
    if min(m, k, n) > 1:   # (a 1-wide matrix is both orders at once)
        assert (a_gpu.strides[-1] == 1) != a_transposed and (b_gpu.strides[-1] == 1) != b_transposed
    backend = ms.backends.get("cuda")
    without_sums = backend.to_numpy(backend.matmul(a_gpu, b_gpu))
    np.testing.assert_array_equal(without_sums, product)   # asking for the sums changes nothing else


@pytest.mark.parametrize("name, fn, specs", [c for c in CASES if c[0] in ("matmul batched broadcast", "layer_norm",
                                                                          "attention causal", "softmax")],
                         ids=lambda v: v if isinstance(v, str) else "")
def test_float64_matches_cpu_closely(name, fn, specs):
    compare(fn, specs, scale=1, dtype=np.float64, tol=1e-10)


def check_layer_norm_backward_on_the_gpu(x, w, b, dy):
    """dx, dw, db of sum(layer_norm(x) * dy) on the GPU, in float64, against the NumPy reference."""
    from minisora.particles.layer_norm import layer_norm_backward_reference

    inputs = [ms.tensor(a, device="cuda", requires_grad=True) for a in (x, w, b)]
    (F.layer_norm(inputs[0], x.shape[-1], inputs[1], inputs[2]) * ms.tensor(dy, device="cuda")).sum().backward()
    for tensor, want in zip(inputs, layer_norm_backward_reference(x, w, b, dy), strict=True):
        np.testing.assert_allclose(tensor.grad.numpy(), want, rtol=1e-10, atol=1e-10)


def layer_norm_inputs(seed, rows, n):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape) for shape in ((rows, n), (n,), (n,), (rows, n))]


# layer_norm's backward in one launch: dw, db in blocks of columns over chunks of rows, the last
# block of each column block adding the chunks' partials. Rows span several chunks; more than one
# block covers a column block's chunks (narrow rows) or columns span several blocks (wide rows)
@pytest.mark.parametrize("rows, n", [(9, 5), (9, 19), pytest.param(1000, 700, marks=pytest.mark.gpu)])
def test_layer_norm_backward_in_one_launch_matches_the_reference_twice(rows, n):
    from minisora.backends import cuda as backend
    from minisora.particles.layer_norm import ROWS_PER_CHUNK

    assert rows > 2 * ROWS_PER_CHUNK or REAL_GPU
    for _ in range(2):   # (on a GPU, the second launch needs the counts set back to 0)
        before = gpu.launches["layer_norm_backward_gpu"]
        check_layer_norm_backward_on_the_gpu(*layer_norm_inputs(3, rows, n))
        assert gpu.launches["layer_norm_backward_gpu"] == before + 1
        assert not backend.to_numpy(gpu._arrivals[0]).any()   # each last block set its count back to 0


@pytest.mark.skipif(REAL_GPU, reason="a GPU's kernels cannot be stopped halfway")
def test_counts_left_by_a_simulated_kernel_stopped_halfway_do_not_spoil_the_next():
    counters = gpu.arrival_counters(1)
    counters.base.copy_to_device(np.full(counters.size, 3, np.int32))   # as a stop in pdb would leave them
    check_layer_norm_backward_on_the_gpu(*layer_norm_inputs(4, 9, 5))


# The fused attention kernels (the GPU's way for float32 without a mask) against the CPU's BLAS
# products: shapes that cross the kernels' tile edges (tiny tiles on the simulator, real ones on
# a GPU), more keys than rows and fewer, heads of up to HEAD_MAX features.
@pytest.mark.parametrize("lead, length, keys, dim, dim_v, causal", [
    ((2,), 11, 11, 5, 3, True),
    ((3,), 9, 13, 4, 6, False),
    ((1, 2), 17, 6, 3, 2, True),
    pytest.param((2, 3), 130, 130, 64, 64, True, marks=pytest.mark.gpu),
    pytest.param((4,), 100, 150, 32, 48, False, marks=pytest.mark.gpu),
    pytest.param((8,), 300, 200, 32, 32, True, marks=pytest.mark.gpu),
])
def test_fused_attention_matches_cpu(lead, length, keys, dim, dim_v, causal):
    specs = [(lead + (length, dim), "float"), (lead + (keys, dim), "float"), (lead + (keys, dim_v), "float")]
    before = dict(gpu.launches)
    compare(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, causal=causal), specs, scale=1,
            tol=2e-5 if length < 100 else 1e-4)
    launched = {name: gpu.launches[name] - before.get(name, 0) for name in gpu.launches}
    assert launched.get("attention_fused_gpu") == 1 and launched.get("attention_fused_backward_q_gpu") == 1
    assert launched.get("attention_fused_backward_kv_gpu") == 1 and not launched.get("attention_softmax_gpu")


def multi_head_attention_on(device, x, heads, need_weights=False):
    """A causal MultiHeadAttention's output [and weights], dx and dW_qkv on `device` (the same
    initial weights on every device), for the loss sum(out^2)."""
    ms.manual_seed(0)
    layer = ms.nn.MultiHeadAttention(x.shape[-1], heads, causal=True).to(device)
    inputs = ms.tensor(x, device=device, requires_grad=True)
    out, weights = layer(inputs, need_weights=True) if need_weights else (layer(inputs), None)
    (out * out).sum().backward()
    return [a.numpy() for a in (out, weights, inputs.grad, layer.qkv.weight.grad) if a is not None]


def assert_all_close(results, expected, tol=2e-5):
    for result, want in zip(results, expected, strict=True):
        np.testing.assert_allclose(result, want, rtol=tol, atol=tol)


def test_multi_head_attention_reads_its_heads_in_place_on_the_gpu():
    # q, k, v are views into the packed projection's (B, T, 3 * d) memory, and the fused kernels
    # read them, and write outputs and gradients, through strides: dq, dk, dv lie side by side
    # as q, k, v did, so split's backward joins them without a copy. No packed copy on the way:
    # the one copy is of dx into inputs.grad (a leaf's grad is never a view of another array).
    x = np.random.default_rng(0).standard_normal((2, 7, 12)).astype(np.float32)
    before = gpu.launches["strided_copy_kernel"]
    on_gpu = multi_head_attention_on("cuda", x, 3)
    assert gpu.launches["strided_copy_kernel"] == before + 1
    assert_all_close(on_gpu, multi_head_attention_on("cpu", x, 3))


def test_attention_weights_asked_for_take_the_products_way_on_the_gpu():
    q, k, v = (ms.randn(2, 5, 4, device="cuda") for _ in range(3))
    before = gpu.launches["attention_softmax_gpu"]
    out, weights = F.scaled_dot_product_attention(q, k, v, causal=True, need_weights=True)
    assert gpu.launches["attention_softmax_gpu"] == before + 1
    expected = F.scaled_dot_product_attention(q.to("cpu"), k.to("cpu"), v.to("cpu"), causal=True, need_weights=True)
    np.testing.assert_allclose(out.numpy(), expected[0].numpy(), rtol=2e-5, atol=2e-5)
    np.testing.assert_allclose(weights.numpy(), expected[1].numpy(), rtol=2e-5, atol=2e-5)
    # and from MultiHeadAttention, whose q, k, v heads are strided views of one projection
    x = np.random.default_rng(1).standard_normal((2, 5, 8)).astype(np.float32)
    assert_all_close(multi_head_attention_on("cuda", x, 2, need_weights=True),
                     multi_head_attention_on("cpu", x, 2, need_weights=True))


def test_dropout_same_noise_same_mask():
    x = np.random.default_rng(0).standard_normal((4, 6)).astype(np.float32)
    results = []
    for device in ("cpu", "cuda"):
        ms.manual_seed(3)
        t = ms.tensor(x, device=device, requires_grad=True)
        y = F.dropout(t, 0.5, training=True)
        y.sum().backward()
        results.append((y.numpy(), t.grad.numpy()))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])


@st.composite
def broadcast_layouts(draw):
    """Two shapes that broadcast (sizes 1-4, size-1 dims included), the first possibly seen through a
    transpose (non-contiguous), and dims to sum the result over."""
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
    other = tuple(1 if draw(st.booleans()) else n for n in shape[len(shape) - draw(st.integers(0, len(shape))):])
    dims = tuple(d for d in range(len(shape)) if draw(st.booleans()))
    return shape, other, draw(st.booleans()), dims or None


@settings(max_examples=6)
@given(layout=broadcast_layouts(), seed=st.integers(0, 2**16))
def test_drawn_shapes_views_and_broadcasting_match_cpu(layout, seed):
    # the GPU backend's own view arithmetic (strides, broadcasting, merging dims) against NumPy's
    shape, other, transposed, dims = layout
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(shape[::-1] if transposed else shape).astype(np.float32)
    b = rng.standard_normal(other).astype(np.float32)

    def fn(x, y):
        x = x.permute(*reversed(range(x.ndim))) if transposed else x
        return ((x * y - y) / (1.0 + y * y)).sum(dim=dims)
    results = [run_case(fn, [a, b], device) for device in ("cpu", "cuda")]
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=2e-5, atol=2e-5)
    for cpu_grad, gpu_grad in zip(results[0][1], results[1][1]):
        np.testing.assert_allclose(gpu_grad, cpu_grad, rtol=2e-5, atol=2e-5)


OPTIMIZERS = [
    ("sgd momentum nesterov", lambda p: ms.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("adam", lambda p: ms.optim.Adam(p, lr=0.01, weight_decay=0.01)),
    ("adamw", lambda p: ms.optim.AdamW(p, lr=0.01)),
    ("adadelta", lambda p: ms.optim.Adadelta(p, lr=1.0)),
    ("rmsprop centered", lambda p: ms.optim.RMSprop(p, lr=0.01, centered=True, momentum=0.5)),
]


def test_max_with_nan_and_ties_matches_cpu():
    x = np.array([[1.0, np.nan, 3.0], [np.nan, 5.0, np.nan], [4.0, 6.0, 6.0], [0.0, 6.0, 2.0]], np.float32)
    results = [[t.numpy() for t in ms.tensor(x, device=device).max(dim=0)] for device in ("cpu", "cuda")]
    for cpu_result, gpu_result in zip(*results):
        np.testing.assert_array_equal(gpu_result, cpu_result)


@pytest.mark.parametrize("name, make", OPTIMIZERS, ids=[o[0] for o in OPTIMIZERS])
def test_optimizer_matches_cpu(name, make):
    rng = np.random.default_rng(0)
    start, grads = rng.standard_normal(7).astype(np.float32), rng.standard_normal((3, 7)).astype(np.float32)
    finals = []
    for device in ("cpu", "cuda"):
        p = ms.tensor(start, device=device, requires_grad=True)
        optimizer = make([p])
        for g in grads:
            p.grad = ms.tensor(g, device=device)
            optimizer.step()
        finals.append(p.numpy())
    np.testing.assert_allclose(finals[1], finals[0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name, make", OPTIMIZERS, ids=[o[0] for o in OPTIMIZERS])
def test_optimizer_updates_many_parameters_in_few_launches(name, make):
    from minisora.backends import gpu

    rng = np.random.default_rng(1)
    # 14 parameters: more than one call's 12; several longer than one block's chunk of elements
    sizes = [1, 4 * gpu.CHUNK + 3, 3, 70, 5, 2, 9, gpu.CHUNK, 1, 8, 4, 6, 2 * gpu.CHUNK + 1, 7]
    starts = [rng.standard_normal(n).astype(np.float32) for n in sizes]
    grads = [[rng.standard_normal(n).astype(np.float32) for n in sizes] for _ in range(3)]

    def run(device, together):
        params = [ms.tensor(s, device=device, requires_grad=True) for s in starts]
        optimizers = [make(params)] if together else [make([p]) for p in params]
        launches = []
        for step, step_grads in enumerate(grads):
            for k, (p, g) in enumerate(zip(params, step_grads)):
                # parameter 3 sits out the second step, so from then on its step count differs
                p.grad = None if (k == 3 and step == 1) else ms.tensor(g, device=device)
            before = gpu.launches.total()
            for optimizer in optimizers:
                optimizer.step()
            launches.append(gpu.launches.total() - before)
        return [p.numpy() for p in params], launches

    one_by_one, _ = run("cpu", together=False)   # every call updates a single parameter
    cpu, _ = run("cpu", together=True)
    cuda, launches = run("cuda", together=True)
    for single, a, b in zip(one_by_one, cpu, cuda):
        np.testing.assert_array_equal(a, single)
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
    # (the first step also fills the new state with zeros) 13 parameters: 12 + 1; then 13 at one
    # step count (12 + 1) and parameter 3, a step behind, alone
    assert launches[1:] == [2, 3]


@pytest.mark.parametrize("norm", [2.0, float("inf")])
def test_clip_grad_norm_matches_cpu(norm):
    g = np.array([3.0, -4.0, 12.0], dtype=np.float32)
    results = []
    for device in ("cpu", "cuda"):
        p = ms.tensor(np.zeros(3, np.float32), device=device, requires_grad=True)
        p.grad = ms.tensor(g, device=device)
        total = ms.optim.clip_grad_norm_([p], 1.0, norm_type=norm)
        results.append((total.item(), p.grad.numpy()))
    assert results[1][0] == pytest.approx(results[0][0], rel=1e-6)   # 13 for the 2-norm, 12 for inf
    np.testing.assert_allclose(results[1][1], results[0][1], rtol=1e-5)


def test_clip_grad_norm_over_many_gradients_in_few_launches():
    from minisora.backends import gpu

    rng = np.random.default_rng(2)
    grads = [rng.standard_normal(n).astype(np.float32) for n in (3, 2 * gpu.CHUNK + 5, 1, 9, 4, 7, 2, 5, 8, 6, 3, 2, 11)]
    results = []
    for device in ("cpu", "cuda"):
        params = [ms.tensor(np.zeros_like(g), device=device, requires_grad=True) for g in grads]
        for p, g in zip(params, grads):
            p.grad = ms.tensor(g, device=device)
        before = gpu.launches.total()
        total = ms.optim.clip_grad_norm_(params, 1.0)
        results.append((total.item(), [p.grad.numpy() for p in params], gpu.launches.total() - before))
    everything = np.concatenate(grads).astype(np.float64)
    assert results[0][0] == pytest.approx(np.linalg.norm(everything), rel=1e-6)
    assert results[1][0] == pytest.approx(results[0][0], rel=1e-6)
    for cpu_grad, gpu_grad, g in zip(results[0][1], results[1][1], grads):
        np.testing.assert_allclose(cpu_grad, g / np.linalg.norm(everything), rtol=1e-5)
        np.testing.assert_allclose(gpu_grad, cpu_grad, rtol=1e-5)
    assert results[1][2] == 4   # 13 gradients: two calls (12 + 1) to measure, two to scale


def test_training_step_matches_cpu():
    # a 1-layer GPT: every transformer particle, both directions. (SGD, not Adam: Adam's m / sqrt(v)
    # turns float32 rounding in a gradient near 0 into a full-size step of either sign.)
    config = (11, 4, 8, 2, 1)
    rng = np.random.default_rng(0)
    ids, targets = rng.integers(0, 11, (2, 4)), rng.integers(0, 11, (2, 4))
    losses, params = [], []
    for device in ("cpu", "cuda"):
        ms.manual_seed(0)
        model = ms.models.GPT(*config).to(device)
        optimizer = ms.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        for _ in range(2):
            optimizer.zero_grad()
            loss = model.loss(ms.tensor(ids, device=device), ms.tensor(targets, device=device))
            loss.backward()
            optimizer.step()
        losses.append(loss.item())
        params.append([p.numpy() for p in model.parameters()])
    assert losses[1] == pytest.approx(losses[0], rel=1e-5)
    for cpu_value, gpu_value in zip(*params):
        np.testing.assert_allclose(gpu_value, cpu_value, rtol=1e-4, atol=1e-5)


# --- moving, sharing, errors ---------------------------------------------------------------
def test_a_scalar_stays_0_d_on_the_gpu_through_an_optimizer_step_and_clipping():
    p = ms.tensor(np.float32(1.5), device="cuda", requires_grad=True)
    assert p.shape == () and p.numpy().shape == ()
    optimizer = ms.optim.Adam([p], lr=0.1)
    p.grad = ms.tensor(np.float32(0.5), device="cuda")
    optimizer.step()
    ms.optim.clip_grad_norm_([p], 0.1)
    assert p.shape == () and p.grad.shape == () and p.item() == pytest.approx(1.4)
    assert p.grad.item() == pytest.approx(0.1, rel=1e-4)


def test_to_and_back_keeps_values_and_requires_grad():
    x = ms.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    g = x.to("cuda")
    assert g.device == "cuda" and g.requires_grad and g.is_leaf
    assert "device='cuda'" in repr(g)
    back = g.cpu()
    np.testing.assert_array_equal(back.numpy(), x.numpy())
    assert back.device == "cpu"


def test_module_to_moves_in_place_and_state_dict_round_trips(tmp_path):
    model = ms.nn.Sequential(ms.nn.Linear(3, 4), ms.nn.ReLU(), ms.nn.Linear(4, 2))
    weight = model[0].weight
    model.to("cuda")
    assert model[0].weight is weight and weight.device == "cuda"
    ms.save(model.state_dict(), tmp_path / "m.safetensors")
    fresh = ms.nn.Sequential(ms.nn.Linear(3, 4), ms.nn.ReLU(), ms.nn.Linear(4, 2)).to("cuda")
    fresh.load_state_dict(ms.load(tmp_path / "m.safetensors"))
    np.testing.assert_array_equal(fresh[0].weight.numpy(), weight.numpy())
    assert fresh[0].weight.device == "cuda"


def test_mixing_devices_names_both():
    a, b = ms.ones(2), ms.ones(2, device="cuda")
    with pytest.raises(RuntimeError, match=r"add: inputs live on different devices \(cpu, cuda\)"):
        a + b


def test_moving_a_computed_tensor_is_refused():
    y = ms.ones(2, requires_grad=True) * 2
    with pytest.raises(RuntimeError, match="gradients do not flow across devices"):
        y.to("cuda")


def test_numpy_refuses_gpu_memory_with_a_hint():
    with pytest.raises(TypeError, match=r"lives in GPU memory.*\.numpy\(\)"):
        np.asarray(ms.ones(2, device="cuda").data)


def test_out_of_range_ids_are_caught_before_the_kernel():
    table = ms.randn(4, 2, device="cuda")
    with pytest.raises(IndexError, match=r"^embedding: id 4 is out of range \[0, 4\)"):
        F.embedding(ms.tensor([0, 4], device="cuda"), table)
    with pytest.raises(IndexError, match=r"^cross_entropy: target class id -1"):
        F.cross_entropy(ms.randn(2, 3, device="cuda"), ms.tensor([0, -1], device="cuda"))


def test_ids_from_the_host_are_checked_without_a_copy_back_also_through_views(monkeypatch):
    # a copy back from the GPU would make the host wait for every kernel queued before it: ids
    # copied from the host carry their range, and so do views of them (the GPT's targets are
    # reshaped before the loss); a write into any view of the memory forgets the range
    backend = ms.backends.get("cuda")
    copies = []
    monkeypatch.setattr(backend, "to_numpy", lambda array: copies.append(array) or np.zeros(array.shape, int))
    targets = ms.tensor(np.arange(6).reshape(2, 3) % 4, device="cuda")
    F.cross_entropy(ms.randn(6, 4, device="cuda"), targets.reshape(-1))
    F.embedding(targets[:, 1:], ms.randn(4, 2, device="cuda"))
    assert copies == []
    monkeypatch.undo()
    targets.reshape(-1).data[2:3] = 9   # written through a view of a view
    assert targets.data.known_range is None
    with pytest.raises(IndexError, match=r"^embedding: id 9 is out of range \[0, 4\)"):
        F.embedding(targets, ms.randn(4, 2, device="cuda"))


@pytest.mark.parametrize("start, stop, step", [(0, 7, 1), (5, -4, -3), (3, 3, 1), (-2, 9, 4)])
def test_integer_ranges_are_made_on_the_gpu_with_their_range(monkeypatch, start, stop, step):
    backend = ms.backends.get("cuda")
    monkeypatch.setattr(backend, "from_host", lambda *args: pytest.fail("arange copied from the host"))
    before = gpu.launches["arange_kernel"]
    values = ms.arange(start, stop, step, device="cuda")
    expected = np.arange(start, stop, step)
    assert values.dtype == np.int64 and gpu.launches["arange_kernel"] == before + (len(expected) > 0)
    monkeypatch.undo()
    np.testing.assert_array_equal(values.numpy(), expected)
    np.testing.assert_array_equal(ms.arange(start, stop, step).numpy(), expected)   # the CPU's way
    assert values.data.known_range == ((expected.min(), expected.max()) if len(expected) else None)


def tiny_gpt_step():
    """A tiny GPT on the GPU, and a function making one AdamW training step of it."""
    ms.manual_seed(0)
    model = ms.models.GPT(11, 4, 8, 2, 1).to("cuda")
    optimizer = ms.optim.AdamW(model.parameters(), lr=1e-3)
    ids = ms.tensor(np.arange(8).reshape(2, 4) % 11, device="cuda")

    def step():
        optimizer.zero_grad()
        model.loss(ids, ids).backward()
        optimizer.step()
    return model, step


def test_a_gpt_training_step_on_the_gpu_copies_nothing_between_host_and_gpu(monkeypatch):
    # any such copy waits for every kernel queued before it: a step neither uploads (the position
    # ids are made on the GPU) nor reads back (the ids carry their range through views)
    backend = ms.backends.get("cuda")
    _, step = tiny_gpt_step()
    step()
    copies = []
    for name in ("from_host", "to_numpy"):
        monkeypatch.setattr(backend, name, lambda *args, name=name, original=getattr(backend, name): (
            copies.append(name), original(*args))[1])
    step()
    assert copies == []


def test_device_array_views_and_writes():
    x = ms.arange(12, device="cuda").reshape(3, 4)
    view = x.data[1:, ::2]
    assert view.shape == (2, 2) and not view.is_contiguous
    x.data[0, :] = 7
    x.data[:, 3] = ms.tensor([1, 2, 3], device="cuda").data
    expected = np.arange(12).reshape(3, 4)
    expected[0, :] = 7
    expected[:, 3] = [1, 2, 3]
    np.testing.assert_array_equal(x.numpy(), expected)
    np.testing.assert_array_equal(ms.backends.get("cuda").to_numpy(view), expected[1:, ::2])


def test_device_array_reshapes_strided_views_as_numpy_does_and_joins_pieces():
    backend = ms.backends.get("cuda")
    host = np.arange(2 * 5 * 12.0).reshape(2, 5, 12)
    memory = backend.asarray(host)
    q, k, v = (memory[..., 4 * i:4 * i + 4] for i in range(3))           # a packed projection's q, k, v
    heads = q.reshape((2, 5, 2, 2))                                      # a view: no copy
    assert heads.base is memory.base and heads.strides == (60, 12, 2, 1)
    np.testing.assert_array_equal(backend.to_numpy(heads), host[..., :4].reshape(2, 5, 2, 2))
    with pytest.raises(ValueError, match="needs a packed copy"):
        q.transpose((0, 2, 1)).reshape((2, 20))
    copied = backend.reshape(q.transpose((0, 2, 1)), (2, 20))         # the backend packs it instead
    np.testing.assert_array_equal(backend.to_numpy(copied), host[..., :4].transpose(0, 2, 1).reshape(2, 20))
    joined = backend.joined_view([q, k, v], 2)
    assert joined.base is memory.base and joined.is_contiguous
    np.testing.assert_array_equal(backend.to_numpy(joined), host)
    assert backend.joined_view([q, v], 2) is None and backend.joined_view([k, q], 2) is None


@gpu.gpu_kernel
def scaled_rows(out, rows, pair, scale, shift, flip, count):
    """out[r, j] = ±(rows[r, j] * scale + pair[0][j] + pair[1][0] + shift) for r < count: every kind of
    argument gpu.launch flattens (2-d and 0-d arrays, a tuple of arrays, float64, float32, bool, int)."""
    start, step = gpu.cuda.grid(1), gpu.cuda.gridsize(1)
    for i in range(start, count * out.shape[1], step):
        r, j = i // out.shape[1], i % out.shape[1]
        value = rows[r, j] * scale + pair[0][j] + pair[1][0] + shift
        out[r, j] = -value if flip else value


def test_launch_hands_every_argument_kind_to_the_kernel():
    """Oracle: NumPy. Launched twice with other values: on a GPU the first launch goes through
    numba.cuda and the second through the launch shortcut's flattening, which must agree with it."""
    cuda_backend = ms.backends.get("cuda")
    table = np.arange(24, dtype=np.float32).reshape(6, 4)
    rows = cuda_backend.from_host(table)[2:5]          # a view that starts 8 elements in
    column, one = cuda_backend.from_host(np.array([1, 2, 3, 4], np.float32)), cuda_backend.from_host(np.float32(0.5))
    for scale, shift, flip, count in ((2.0, np.float32(1), False, 3), (-1.0, np.float32(0.25), True, 2)):
        out = cuda_backend.zeros((3, 4), np.float32)
        gpu.launch(scaled_rows, 2, 8, out, rows, (column, one), scale, shift, flip, count)
        expected = table[2:5] * scale + np.array([1, 2, 3, 4]) + 0.5 + float(shift)
        expected = np.where(np.arange(3)[:, None] < count, -expected if flip else expected, 0)
        np.testing.assert_allclose(cuda_backend.to_numpy(out), expected, rtol=1e-6)
    # views that are not contiguous reach kernels through their strides, read and written
    for first in (0, 1):   # the second launch of a kind: the launch shortcut's flattening on a GPU
        every_other = cuda_backend.from_host(table)[first:first + 3, ::2]
        transposed = cuda_backend.zeros((2, 3), np.float32)
        gpu.launch(scaled_rows, 2, 8, cuda_backend.permute(transposed, (1, 0)), every_other, (column[::2], one),
                   1.0, np.float32(0), False, 3)
        expected = table[first:first + 3, ::2] + np.array([1, 3]) + 0.5
        np.testing.assert_allclose(cuda_backend.to_numpy(transposed), expected.T, rtol=1e-6)


def test_cuda_missing_gives_the_reason(monkeypatch):
    from minisora import backends

    monkeypatch.setattr(backends, "_backends", {"cpu": backends.cpu})
    monkeypatch.setattr(backends, "cuda_status", lambda: (False, "no CUDA driver or GPU found (libcuda.so)"))
    with pytest.raises(RuntimeError, match=r"device 'cuda' is not available: no CUDA driver or GPU found"):
        ms.zeros(2, device="cuda")


@pytest.mark.gpu
def test_torch_and_cupy_share_memory_without_copies():
    torch = pytest.importorskip("torch")
    source = torch.arange(6, dtype=torch.float32, device="cuda").reshape(2, 3)
    shared = ms.as_tensor(source)
    assert shared.device == "cuda"
    source[0, 0] = 42.0
    torch.cuda.synchronize()
    assert shared.numpy()[0, 0] == 42.0            # same memory: the write shows through
    back = torch.as_tensor(shared, device="cuda")   # and back, through __cuda_array_interface__
    assert back.data_ptr() == source.data_ptr()
    cupy = pytest.importorskip("cupy")
    c = cupy.asarray(shared)
    assert c.data.ptr == source.data_ptr()


@pytest.mark.gpu
def test_numba_device_arrays_share_memory_both_ways():
    # numba.cuda is there wherever the GPU backend is: the interface checked with no other library
    from numba import cuda

    source = cuda.to_device(np.arange(12, dtype=np.float32).reshape(3, 4))
    shared = ms.as_tensor(source)
    assert shared.device == "cuda" and shared.shape == (3, 4)
    source.copy_to_device(np.full((3, 4), 42.0, np.float32))
    assert (shared.numpy() == 42.0).all()                   # same memory: the write shows through
    source.copy_to_device(np.arange(12, dtype=np.float32).reshape(3, 4))
    columns = shared[1:, 1::2]                              # a strided view goes out as one
    seen = cuda.as_cuda_array(columns)
    assert seen.__cuda_array_interface__["data"][0] == source.__cuda_array_interface__["data"][0] + (4 + 1) * 4
    np.testing.assert_array_equal(seen.copy_to_host(), np.array([[5, 7], [9, 11]], np.float32))


def test_training_run_on_cuda_matches_cpu_and_resumes(tmp_path):
    # `minisora train --device cuda` for one epoch (one step: the simulator is slow), resumed for a
    # second, ends where the same two epochs end on the CPU
    from minisora.cli import main
    from minisora.training import ClassifierRun

    def quiet(message):
        pass

    config = {"dataset": "moons", "hidden": [8], "epochs": 2, "batch_size": 800, "scheduler": "none"}
    cpu = ClassifierRun(config, str(tmp_path / "cpu"), log=quiet)
    cpu.fit(progress=False)
    out = str(tmp_path / "gpu")
    assert main(["train", "mlp", "--dataset", "moons", "--hidden", "8", "--epochs", "1", "--batch-size", "800",
                 "--scheduler", "none", "--device", "cuda", "--out", out, "--no-progress"]) == 0
    gpu = ClassifierRun.resume(out, {"epochs": 2}, log=quiet)
    assert all(p.device == "cuda" for p in gpu.model.parameters())
    gpu.fit(progress=False)
    for cpu_param, gpu_param in zip(cpu.model.parameters(), gpu.model.parameters()):
        np.testing.assert_allclose(gpu_param.numpy(), cpu_param.numpy(), rtol=1e-5, atol=1e-6)
    assert gpu.history[-1]["val_loss"] == pytest.approx(cpu.history[-1]["val_loss"], rel=1e-5)


def test_a_dry_run_counts_the_launches_of_a_real_step(monkeypatch):
    # benchmarks/gpu_host.py times the host's work with ms.config.gpu_dry_run: its launch counts must be
    # those of the real step (the host takes the same path whether or not kernels run), and no
    # kernel runs (the optimizer leaves the weights as they were)
    counts, moved = [], []
    for dry in (False, True):
        model, step = tiny_gpt_step()
        before, weight = gpu.launches.copy(), model.head.weight.numpy()
        with ms.config.override(gpu_dry_run=dry):
            step()
        counts.append(gpu.launches - before)
        moved.append(not np.array_equal(model.head.weight.numpy(), weight))
    assert counts[0] == counts[1] and counts[0].total() > 20
    assert moved == [True, False]


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_device_array_slicing_matches_numpy(data):
    # the direct way (ints and slices) against the general one (NumPy applied to a stand-in)
    # and against NumPy itself, on a strided view
    backend = ms.backends.get("cuda")
    host = np.arange(4 * 5 * 6.0).reshape(4, 5, 6)
    view = backend.asarray(host).transpose((2, 0, 1))
    items = st.one_of(st.integers(-7, 6), st.builds(slice, st.none() | st.integers(-7, 7),
                                                    st.none() | st.integers(-7, 7), st.none() | st.integers(1, 3)))
    index = tuple(data.draw(st.lists(items, min_size=0, max_size=3)))
    try:
        expected = host.transpose(2, 0, 1)[index]
    except IndexError:
        with pytest.raises(IndexError):
            view[index]
        return
    direct, general = view.sliced(index), view.probed(index)
    assert direct is not None and direct.shape == general.shape == expected.shape
    if direct.size:   # (strides along dims of length 0 or 1, and where an empty view starts, do not matter)
        steps = [(a, b, c // 8) for a, b, c, n in zip(direct.strides, general.strides, expected.strides,
                                                      expected.shape) if n > 1]
        assert all(a == b == c for a, b, c in steps) and direct.offset == general.offset
        np.testing.assert_array_equal(backend.to_numpy(direct), expected)
