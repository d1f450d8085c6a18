"""The transformer's particles: embedding, positional encoding, layer norm, scaled dot-product
attention; each against its NumPy reference, finite differences, and bad input."""
import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

import minisora as ms
from minisora import F
from minisora.particles import get
from minisora.particles.attention import ScaledDotProductAttention
from minisora.particles.positional import positional_table_reference
from helpers import DEVICES, LAYOUTS, check_against_reference, check_gradcheck, values

DTYPES = st.sampled_from(["float32", "float64"])
SIDES = st.sampled_from([1, 2, 3, 5, 7])   # T = 1 and sizes that are not powers of two


# --- embedding ------------------------------------------------------------------------------
@pytest.mark.parametrize("device", DEVICES)
@given(rows=SIDES, dim=SIDES, ids_shape=st.lists(SIDES, min_size=1, max_size=3).map(tuple),
       seed=st.integers(0, 2**16), layout=st.sampled_from(LAYOUTS), dtype=DTYPES)
def test_embedding_matches_reference(device, rows, dim, ids_shape, seed, layout, dtype):
    ids = np.random.default_rng(seed).integers(0, rows, ids_shape)   # repeats likely: backward must add
    check_against_reference(get("embedding"), F.embedding, [ids, values(seed, (rows, dim))], {}, dtype,
                            ["contiguous", layout], device=device)


@given(rows=SIDES, dim=SIDES, count=SIDES, seed=st.integers(0, 2**16))
def test_embedding_gradcheck(rows, dim, count, seed):
    ids = np.random.default_rng(seed).integers(0, rows, count)
    check_gradcheck(lambda table: F.embedding(ms.tensor(ids), table), [values(seed, (rows, dim))])


def test_embedding_adds_repeated_ids_by_hand():
    table = ms.zeros(3, 2, requires_grad=True)
    F.embedding(ms.tensor([[2, 0, 2]]), table).sum().backward()
    assert table.grad.tolist() == [[1.0, 1.0], [0.0, 0.0], [2.0, 2.0]]


def test_embedding_bad_input():
    table = ms.zeros(4, 2)
    with pytest.raises(IndexError, match=r"^embedding: id 4 is out of range \[0, 4\) for the table float32\[4, 2\]"):
        F.embedding(ms.tensor([0, 4]), table)
    with pytest.raises(IndexError, match=r"id -1 is out of range"):
        F.embedding(ms.tensor([-1]), table)
    with pytest.raises(TypeError, match=r"^embedding: ids must be integers, got float32\[2\]"):
        F.embedding(ms.tensor([0.0, 1.0]), table)
    with pytest.raises(ValueError, match=r"^embedding: weight must be a table \(num_embeddings, dim\), got float32\[4\]"):
        F.embedding(ms.tensor([0]), ms.zeros(4))


# --- positional encoding --------------------------------------------------------------------
def test_positional_table_by_hand():
    table = positional_table_reference(3, 4)
    # PE(t, 2i) = sin(t / 10000^(2i/d)), PE(t, 2i+1) = cos(t / 10000^(2i/d)), d = 4
    expected = [[math.sin(t), math.cos(t), math.sin(t / 100), math.cos(t / 100)] for t in range(3)]
    np.testing.assert_allclose(table, expected, rtol=1e-15)
    out = F.positional_encoding(ms.zeros(1, 3, 4, dtype="float64")).numpy()[0]
    np.testing.assert_allclose(out, expected, rtol=1e-13)


@pytest.mark.parametrize("device", DEVICES)
@given(shape=st.lists(SIDES, min_size=2, max_size=4).map(tuple), seed=st.integers(0, 2**16),
       layout=st.sampled_from(LAYOUTS), dtype=DTYPES)
def test_positional_encoding_matches_reference(device, shape, seed, layout, dtype):
    check_against_reference(get("positional_encoding"), F.positional_encoding, [values(seed, shape)], {}, dtype, [layout], device=device)


def test_positional_encoding_gradcheck_and_bad_input():
    check_gradcheck(F.positional_encoding, [values(0, (2, 3, 5))])
    with pytest.raises(ValueError, match=r"^positional_encoding: input must be \(\.\.\., length, dim\), got float32\[4\]"):
        F.positional_encoding(ms.zeros(4))
    with pytest.raises(ValueError, match=r"PositionalEncoding\(d_model=4, max_len=2\)"):
        ms.nn.PositionalEncoding(4, max_len=2)(ms.zeros(1, 3, 4))


# --- layer norm -----------------------------------------------------------------------------
@pytest.mark.parametrize("device", DEVICES)
@given(shape=st.lists(SIDES, min_size=1, max_size=3).map(tuple), seed=st.integers(0, 2**16),
       layout=st.sampled_from(LAYOUTS), dtype=DTYPES)
def test_layer_norm_matches_reference(device, shape, seed, layout, dtype):
    n = shape[-1]
    fn = lambda x, w, b: F.layer_norm(x, n, w, b)   # noqa: E731
    check_against_reference(get("layer_norm"), fn, [values(seed, shape), values(seed + 1, (n,)), values(seed + 2, (n,))],
                            {}, dtype, [layout, "contiguous", "strided"], device=device)


@given(shape=st.lists(SIDES, min_size=1, max_size=3).map(tuple), seed=st.integers(0, 2**16))
def test_layer_norm_gradcheck(shape, seed):
    n = shape[-1]
    check_gradcheck(lambda x, w, b: F.layer_norm(x, n, w, b, eps=1e-3),
                    [values(seed, shape), values(seed + 1, (n,)), values(seed + 2, (n,))])


def test_layer_norm_output_is_normalized_and_nan_is_seen():
    x = ms.tensor(np.random.default_rng(0).normal(3.0, 5.0, (4, 64)))
    y = F.layer_norm(x, 64).numpy()
    np.testing.assert_allclose(y.mean(-1), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(-1), 1, rtol=1e-4)
    bad = np.ones((2, 8), np.float32)
    bad[1, 3] = np.nan   # the sums may be reordered for speed, but NaN must still come out
    out = F.layer_norm(ms.tensor(bad), 8).numpy()
    assert np.isnan(out[1]).all() and np.isfinite(out[0]).all()


def test_layer_norm_bad_input():
    with pytest.raises(ValueError, match=r"^layer_norm: weight float32\[3\] and bias float32\[4\] must both be \(4,\)"):
        F.layer_norm(ms.zeros(2, 4), 4, ms.ones(3), ms.zeros(4))
    with pytest.raises(TypeError, match=r"^layer_norm: inputs must share a dtype"):
        F.layer_norm(ms.zeros(2, 4), 4, ms.ones(4, dtype="float64"), ms.zeros(4))
    with pytest.raises(ValueError, match="normalizes the last dim only"):
        F.layer_norm(ms.zeros(2, 4), (2, 4))


# --- scaled dot-product attention ----------------------------------------------------------
# Every way runs on the CPU here: BLAS products + softmax kernels (with a mask or the weights
# asked for), the same with causal self-attention's rows cut in two halves at any length (on the
# CPU from T = 128 on), the fused kernels in their faster CPU form (the default: blocks of rows,
# BLAS products, every core; attention_blocks.py) and the fused kernels' readable loops (the
# reference the faster form and the GPU's tiles follow).
WAYS = ["products", "halves", "fused", "fused_loop"]


def attention_way(way):
    return ms.config.override(attention_fused="always" if way.startswith("fused") else "never",
                              attention_split_from=2 if way == "halves" else 10**9,
                              readable_kernels=way == "fused_loop")


def attention_inputs(seed, lead, length, keys, dim, dim_v):
    return [values(seed, lead + (length, dim)), values(seed + 1, lead + (keys, dim)), values(seed + 2, lead + (keys, dim_v))]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("way", WAYS)
@given(lead=st.lists(SIDES, max_size=2).map(tuple), length=SIDES, keys=SIDES, dim=SIDES, dim_v=SIDES,
       causal=st.booleans(), seed=st.integers(0, 2**16), layout=st.sampled_from(LAYOUTS), dtype=DTYPES)
def test_attention_matches_reference(device, way, lead, length, keys, dim, dim_v, causal, seed, layout, dtype):
    fn = lambda q, k, v: F.scaled_dot_product_attention(q, k, v, causal=causal)   # noqa: E731
    with attention_way(way):
        check_against_reference(get("scaled_dot_product_attention"), fn,
                                attention_inputs(seed, lead, length, keys, dim, dim_v), {"causal": causal}, dtype,
                                [layout, "contiguous", layout], device=device)


@pytest.mark.parametrize("way", WAYS)
@given(length=SIDES, keys=SIDES, dim=SIDES, causal=st.booleans(), seed=st.integers(0, 2**16))
def test_attention_gradcheck(way, length, keys, dim, causal, seed):
    with attention_way(way):
        check_gradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, causal=causal),
                        attention_inputs(seed, (2,), length, keys, dim, 3))


def test_fused_way_keeps_one_number_per_row_and_only_when_it_applies():
    q, k, v = (ms.randn(2, 5, 4, requires_grad=True) for _ in range(3))
    call = ms.autograd.call_with_context
    with attention_way("fused"):
        out, ctx = call(ScaledDotProductAttention, q, k, v, causal=True)
        # q, k, v, out as (batch, heads, T, d) and one L per row: nothing T x S
        assert ctx.fused and [a.shape for a in ctx.saved] == [(1, 2, 5, 4)] * 4 + [(1, 2, 5)]
        logsumexp = ctx.saved[-1][0]
        scores = q.numpy() @ k.numpy().transpose(0, 2, 1) / 2 + np.triu(np.full((5, 5), -np.inf), 1)
        np.testing.assert_allclose(logsumexp, np.log(np.exp(scores).sum(-1)), rtol=1e-5)
        for params in ({"need_weights": True}, {"mask": np.ones((5, 5), bool)}):
            assert not call(ScaledDotProductAttention, q, k, v, **params)[1].fused
        # heads wider than HEAD_MAX (what the GPU's tiles hold): the CPU's fused kernels take them
        assert call(ScaledDotProductAttention, *(ms.randn(1, 2, 65) for _ in range(3)))[1].fused
    assert call(ScaledDotProductAttention, q, k, v)[1].fused   # the CPU's default: the fused kernels' faster form
    with ms.config.override(readable_kernels=True):   # ... but not their readable loop: BLAS products outrun it
        assert not call(ScaledDotProductAttention, q, k, v)[1].fused


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("kind", ["bool", "float"])
def test_attention_masks_match_reference(device, kind):
    q, k, v = attention_inputs(3, (2, 2), 4, 5, 3, 2)
    allowed = np.random.default_rng(0).random((4, 5)) > 0.4
    allowed[:, 0] = True
    mask = allowed if kind == "bool" else np.where(allowed, 0.0, -np.inf)
    fn = lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=mask)   # noqa: E731
    check_against_reference(get("scaled_dot_product_attention"), fn, [q, k, v], {"mask": mask}, "float64", device=device)


def test_attention_scale_is_one_over_sqrt_of_the_key_size():
    # two keys; the query matches the first: score gap sqrt(d) d / sqrt(d) ... by hand for d = 4
    q = ms.tensor([[[1.0, 1.0, 1.0, 1.0]]], dtype="float64")
    k = ms.tensor([[[1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0]]], dtype="float64")
    v = ms.tensor([[[1.0], [0.0]]], dtype="float64")
    out, weights = F.scaled_dot_product_attention(q, k, v, need_weights=True)
    first = math.exp(4 / 2) / (math.exp(4 / 2) + 1)   # scores 4/sqrt(4) = 2 and 0, divided by sqrt(d_k), not by |V|
    np.testing.assert_allclose(weights.numpy()[0, 0], [first, 1 - first], rtol=1e-14)
    np.testing.assert_allclose(out.numpy()[0, 0, 0], first, rtol=1e-14)


@pytest.mark.parametrize("way", WAYS)
def test_causal_output_at_t_ignores_later_inputs(way):
    with attention_way(way):
        check_causal_output_ignores_later_inputs()


def check_causal_output_ignores_later_inputs():
    rng = np.random.default_rng(0)
    q, k, v = (rng.normal(size=(1, 2, 6, 4)) for _ in range(3))
    before = F.scaled_dot_product_attention(*(ms.tensor(a) for a in (q, k, v)), causal=True).numpy()
    k2, v2 = k.copy(), v.copy()
    k2[..., 4:, :] += 10.0
    v2[..., 4:, :] -= 7.0
    after = F.scaled_dot_product_attention(*(ms.tensor(a) for a in (q, k2, v2)), causal=True).numpy()
    np.testing.assert_array_equal(before[..., :4, :], after[..., :4, :])
    assert not np.allclose(before[..., 4:, :], after[..., 4:, :])
    q_t = ms.tensor(q, requires_grad=True)
    k_t, v_t = ms.tensor(k, requires_grad=True), ms.tensor(v, requires_grad=True)
    F.scaled_dot_product_attention(q_t, k_t, v_t, causal=True)[..., 2, :].sum().backward()
    assert np.abs(k_t.grad.numpy()[..., 3:, :]).max() == 0 and np.abs(v_t.grad.numpy()[..., 3:, :]).max() == 0


def test_attention_weights_rows_sum_to_one_and_masked_rows_are_zero():
    q, k, v = (ms.randn(2, 3, 4) for _ in range(3))
    _, weights = F.scaled_dot_product_attention(q, k, v, causal=True, need_weights=True)
    np.testing.assert_allclose(weights.numpy().sum(-1), 1, rtol=1e-6)
    assert np.triu(weights.numpy()[0], 1).max() == 0
    nothing = np.zeros((3, 3), bool)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=nothing).numpy()
    assert np.isfinite(out).all() and np.abs(out).max() == 0


def test_attention_bad_input():
    q = ms.zeros(2, 3, 4)
    with pytest.raises(ValueError, match=r"^scaled_dot_product_attention: q and k need the same vector size"):
        F.scaled_dot_product_attention(q, ms.zeros(2, 3, 5), ms.zeros(2, 3, 4))
    with pytest.raises(ValueError, match=r"must share their leading \(batch, head\) dims"):
        F.scaled_dot_product_attention(q, ms.zeros(3, 3, 4), ms.zeros(3, 3, 4))
    with pytest.raises(TypeError, match=r"q, k, v must share a dtype"):
        F.scaled_dot_product_attention(q, q, ms.zeros(2, 3, 4, dtype="float64"))
    with pytest.raises(ValueError, match=r"mask bool\[2, 2\] does not broadcast to the scores' shape \(2, 3, 3\)"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=np.ones((2, 2), bool))


@pytest.mark.parametrize("length, keys", [(130, 130), (150, 70), (70, 150)])
def test_long_causal_attention_matches_reference(length, keys):
    # long and non-square causal attention (more rows than the short hypothesis shapes reach)
    inputs = attention_inputs(5, (2,), length, keys, 3, 2)
    for way in WAYS:
        with attention_way(way):
            check_against_reference(get("scaled_dot_product_attention"),
                                    lambda q, k, v: F.scaled_dot_product_attention(q, k, v, causal=True), inputs,
                                    {"causal": True}, "float64")
    q, k, v = (ms.tensor(a) for a in inputs)
    _, weights = F.scaled_dot_product_attention(q, k, v, causal=True, need_weights=True)
    assert weights.shape == (2, length, keys)
    np.testing.assert_allclose(weights.numpy().sum(-1), 1, rtol=1e-12)
    assert np.triu(weights.numpy()[0], 1).max() == 0


# --- multi_head_attention: split into heads, attend, merge, fused ---------------------------
@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("device", DEVICES)
@given(batch=SIDES, length=SIDES, heads=st.sampled_from([1, 2, 3]), head_size=SIDES, causal=st.booleans(),
       seed=st.integers(0, 2**16), dtype=DTYPES)
def test_multi_head_attention_matches_reference(device, way, batch, length, heads, head_size, causal, seed, dtype):
    qkv = values(seed, (batch, length, 3 * heads * head_size))
    with attention_way(way):
        check_against_reference(get("multi_head_attention"), lambda t: F.multi_head_attention(t, heads, causal), [qkv],
                                {"heads": heads, "causal": causal}, dtype, ["strided"], device=device)


@pytest.mark.parametrize("way", WAYS)
def test_multi_head_attention_is_the_unfused_steps_and_passes_gradcheck(way):
    qkv = values(3, (2, 5, 12))
    with attention_way(way):
        check_gradcheck(lambda t: F.multi_head_attention(t, 2, causal=True), [qkv])
        fused = F.multi_head_attention(ms.tensor(qkv), 2, causal=True).numpy()
        heads = ms.tensor(qkv).reshape(2, 5, 6, 2).permute(0, 2, 1, 3)
        q, k, v = heads.split(2, dim=1)
        steps = F.scaled_dot_product_attention(q, k, v, causal=True).permute(0, 2, 1, 3).reshape(2, 5, 4)
    np.testing.assert_allclose(fused, steps.numpy(), rtol=1e-12)


def test_multi_head_attention_bad_input():
    with pytest.raises(ValueError, match=r"^multi_head_attention: qkv must be \(batch, length, 3 \* heads \* "
                                         r"head_size\) with heads=2, got float32\[2, 5, 8\]"):
        F.multi_head_attention(ms.zeros(2, 5, 8), 2)
    with pytest.raises(TypeError, match=r"^multi_head_attention: expected float32 or float64 input, got int64"):
        F.multi_head_attention(ms.tensor(np.zeros((1, 2, 6), np.int64)), 1)


@pytest.mark.parametrize("device", DEVICES)
def test_a_nan_weight_makes_the_gpt_loss_nan_and_anomaly_detection_names_a_particle(device):
    # attention's softmax once took a row whose scores were all NaN for a row that sees nothing,
    # and gave it zero weights: a finite loss from a broken model
    ms.manual_seed(0)
    model = ms.models.GPT(11, 6, 8, 2, 1)
    weight = dict(model.named_parameters())["blocks.0.attention.qkv.weight"]
    broken = weight.numpy().copy()
    broken[0, 0] = np.nan
    weight.data = ms.tensor(broken).data
    model.to(device)
    ids = ms.tensor(np.random.default_rng(0).integers(0, 11, (2, 6)), device=device)
    assert np.isnan(model.loss(ids, ids).item())
    with pytest.raises(FloatingPointError, match=r"produced \d+ NaN"):
        with ms.inspect.detect_anomaly():
            model.loss(ids, ids)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("causal", [False, True])
def test_a_float_attn_mask_that_requires_grad_gets_its_gradient(device, causal):
    rng = np.random.default_rng(11)
    q, k, v = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3, 2))
    bias = rng.standard_normal((3, 3))   # a learned additive bias, broadcast over the batch

    def attention(q, k, v, bias):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=bias, causal=causal)
    check_gradcheck(attention, [q, k, v, bias])
    tensors = [ms.tensor(a, dtype="float64", device=device) for a in (q, k, v)]
    learned = attention(*tensors, ms.tensor(bias, dtype="float64", device=device, requires_grad=True))
    constant = attention(*tensors, ms.tensor(bias, dtype="float64", device=device))   # the particle's path
    np.testing.assert_allclose(learned.numpy(), constant.numpy(), rtol=1e-12)
