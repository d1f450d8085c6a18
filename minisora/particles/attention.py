"""Scaled dot-product attention (Vaswani et al. 2017): each query takes a weighted mean of the values.

For one head, with queries Q (T, d), keys K (S, d), values V (S, dv) and c = 1 / sqrt(d):
    S_ts = c q_t . k_s + m_ts            scores; the mask m is 0 or -inf (causal: -inf where s > t)
    P_t  = softmax(S_t)                  attention weights: row t says where query t looks
    O    = P V
Backward, from dO:
    dV = P^T dO
    dP = dO V^T
    dS_ts = P_ts (dP_ts - sum_s' dP_ts' P_ts')      (the softmax Jacobian, row by row)
    dQ = c dS K,     dK = c dS^T Q

The scale is 1/sqrt(d) with d the size of a query/key vector (not of V, not of the sequence):
it keeps the scores' spread near 1 however wide the heads are, so softmax does not saturate.

Two ways to compute it, the same numbers:
- products and a softmax kernel: the products run on BLAS (the GPU's GEMM); the part between
  them (scale, mask, softmax forward; softmax Jacobian and scale backward) is one fused loop
  kernel each way. The weights P (T x S per head) are kept for backward and can be returned
  for plotting (need_weights=True). Any mask.
- fused (attention_fused.py): one kernel forward, one backward, and P never stored: forward
  keeps each row's log-sum-exp, backward rebuilds P from it (FlashAttention). 2 kernels instead
  of 6 products and 2 softmax kernels. Used where it pays (`ms.config.attention_fused`): on the
  GPU, and on the CPU in the kernels' faster form (attention_blocks.py: blocks of rows, BLAS
  products, every core).
"""
import math

import numpy as np
from numba import float64

from .. import config
from ..backends.gpu import SCRATCH, block_max, block_sum, cuda, gpu_kernel, launch_rows
from ..backends.kernel import kernel
from ..backends.layout import merged_leading
from . import attention_blocks  # noqa: F401  (gives the fused kernels their faster CPU form)
from .attention_fused import HEAD_MAX, as_batch_of_heads, attention_fused_backward_kernel, attention_fused_kernel
from .matmul import product, transposed
from .particle import Particle, describe
from .softmax import exp_nonpositive, has_nan


def attention_weights_reference(q, k, causal=False, mask=None, scale=None):
    """P = softmax(scale q k^T + mask) over the last dim, in NumPy."""
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    scores = q @ np.swapaxes(k, -1, -2) * scale
    if causal:
        scores = np.where(np.tril(np.ones(scores.shape[-2:], dtype=bool)), scores, -np.inf)
    if mask is not None:
        scores = np.where(mask, scores, -np.inf) if mask.dtype == np.bool_ else scores + mask
    with np.errstate(invalid="ignore"):
        weights = np.exp(scores - scores.max(-1, keepdims=True))
        weights = weights / weights.sum(-1, keepdims=True)
    # a row whose every score is -inf (every key hidden) gets all-zero weights, not NaN, as
    # PyTorch's attention gives (its _safe_softmax); a NaN score still makes its row NaN
    return np.where(np.all(scores == -np.inf, axis=-1, keepdims=True), 0.0, weights), scale


def attention_reference(q, k, v, causal=False, mask=None, scale=None):
    return attention_weights_reference(q, k, causal, mask, scale)[0] @ v


def attention_backward_reference(q, k, v, grad_out, causal=False, mask=None, scale=None):
    weights, scale = attention_weights_reference(q, k, causal, mask, scale)
    grad_v = np.swapaxes(weights, -1, -2) @ grad_out
    grad_weights = grad_out @ np.swapaxes(v, -1, -2)
    grad_scores = weights * (grad_weights - (grad_weights * weights).sum(-1, keepdims=True))
    return grad_scores @ k * scale, np.swapaxes(grad_scores, -1, -2) @ q * scale, grad_v


@kernel(reorder_sums=True)
def attention_softmax_kernel(scores, scale, causal, mask, has_mask, fast_exp):
    """In place: scores (batch, T, S) -> softmax(scale * scores + mask) row by row.
    mask: (batch, T, S) additive (0 or -inf) when has_mask. fast_exp (float32 scores): e^x by
    exp_nonpositive; else the library exp, exact to the last bit for float64 checks."""
    batch, rows, columns = scores.shape
    for b in range(batch):
        for t in range(rows):
            row = scores[b, t]
            visible = min(t + 1, columns) if causal else columns
            row_max = -np.inf
            for s in range(visible):
                value = row[s] * scale + (mask[b, t, s] if has_mask else 0.0)
                row[s] = value
                row_max = max(row_max, value)
            # every key hidden: all-zero weights, unless max dropped a NaN score (then NaN)
            hidden_nan = row_max == -np.inf and has_nan(row, visible)
            total = 0.0
            if row_max > -np.inf:
                for s in range(visible):
                    e = exp_nonpositive(row[s] - row_max) if fast_exp else math.exp(row[s] - row_max)
                    row[s] = e
                    total += e
            # total is 0 (every key hidden), NaN (a NaN or infinite score: the row is NaN, as in
            # PyTorch; `not total <= 0` lets NaN through) or positive
            inverse = np.nan if hidden_nan else 1.0 / total if not total <= 0.0 else 0.0
            for s in range(visible):
                row[s] = row[s] * inverse if not total <= 0.0 else inverse
            for s in range(visible, columns):
                row[s] = 0.0


@kernel(reorder_sums=True)
def attention_softmax_backward_kernel(weights, grad_weights, scale, causal):
    """In place: grad_weights (batch, T, S) -> dS * scale, with dS = P (dP - rowsum(dP P)).
    causal: the hidden entries (s > t) are 0, whatever grad_weights held there (never read)."""
    batch, rows, columns = weights.shape
    for b in range(batch):
        for t in range(rows):
            visible = min(t + 1, columns) if causal else columns
            dot = 0.0
            for s in range(visible):
                dot += grad_weights[b, t, s] * weights[b, t, s]
            for s in range(visible):
                grad_weights[b, t, s] = weights[b, t, s] * (grad_weights[b, t, s] - dot) * scale
            for s in range(visible, columns):
                grad_weights[b, t, s] = 0.0


# GPU twins: a block per score row (batch b, query t), in place as on the CPU
@gpu_kernel
def attention_softmax_gpu(scores, scale, causal, mask, has_mask):
    batch, rows, columns = scores.shape
    scratch = cuda.shared.array(SCRATCH, float64)
    for block in range(cuda.blockIdx.x, batch * rows, cuda.gridDim.x):
        b, t = block // rows, block % rows
        visible = min(t + 1, columns) if causal else columns
        row_max = -math.inf
        for s in range(cuda.threadIdx.x, visible, cuda.blockDim.x):
            value = scores[b, t, s] * scale + (mask[b, t, s] if has_mask else 0.0)
            scores[b, t, s] = value
            row_max = max(row_max, float64(value))
        row_max = block_max(row_max, scratch)
        sees_nothing = row_max == -math.inf   # every key hidden (the whole block agrees)
        total = 0.0
        if sees_nothing:   # all-zero weights, or NaN where max (C's fmax) dropped a NaN score
            for s in range(cuda.threadIdx.x, visible, cuda.blockDim.x):
                if scores[b, t, s] != scores[b, t, s]:
                    total = math.nan
        else:
            for s in range(cuda.threadIdx.x, visible, cuda.blockDim.x):
                e = math.exp(scores[b, t, s] - row_max)
                scores[b, t, s] = e
                total += e
        total = block_sum(total, scratch)
        inverse = total if sees_nothing else 1.0 / total   # (sees nothing: 0, or NaN)
        for s in range(cuda.threadIdx.x, columns, cuda.blockDim.x):
            scores[b, t, s] = inverse if sees_nothing else (scores[b, t, s] * inverse if s < visible else 0.0)


@gpu_kernel
def attention_softmax_backward_gpu(weights, grad_weights, scale, causal):
    batch, rows, columns = weights.shape
    scratch = cuda.shared.array(SCRATCH, float64)
    for block in range(cuda.blockIdx.x, batch * rows, cuda.gridDim.x):
        b, t = block // rows, block % rows
        visible = min(t + 1, columns) if causal else columns
        dot = 0.0
        for s in range(cuda.threadIdx.x, visible, cuda.blockDim.x):
            dot += grad_weights[b, t, s] * weights[b, t, s]
        dot = block_sum(dot, scratch)
        for s in range(cuda.threadIdx.x, columns, cuda.blockDim.x):
            grad_weights[b, t, s] = weights[b, t, s] * (grad_weights[b, t, s] - dot) * scale if s < visible else 0.0


@attention_softmax_kernel.gpu
def launch_attention_softmax(scores, scale, causal, mask, has_mask, fast_exp):
    # (fast_exp is the CPU's choice: the GPU's own exp is fast at every dtype)
    launch_rows(attention_softmax_gpu, scores.shape[0] * scores.shape[1], scores.shape[2], scores, scale, causal,
                mask, has_mask)


@attention_softmax_backward_kernel.gpu
def launch_attention_softmax_backward(weights, grad_weights, scale, causal):
    launch_rows(attention_softmax_backward_gpu, weights.shape[0] * weights.shape[1], weights.shape[2], weights,
                grad_weights, scale, causal)


class ScaledDotProductAttention(Particle):
    name = "scaled_dot_product_attention"
    formula = "O = softmax(Q K^T / sqrt(d) + mask) V"
    gradient = "dV = P^T dO; dS = P (dP - rowsum(dP P)) with dP = dO V^T; dQ = dS K / sqrt(d); dK = dS^T Q / sqrt(d)"
    kernels = (attention_softmax_kernel, attention_softmax_backward_kernel, attention_fused_kernel,
               attention_fused_backward_kernel)
    # Where the fused kernels can run, for which dtypes: the GPU's hold float32 tiles (a float64
    # input would lose its digits) of heads up to HEAD_MAX features, the CPU's take any float and
    # any head. ms.config.attention_fused="auto" takes them where they are the fast way: on the
    # GPU, and on the CPU in their faster form (attention_blocks.py: BLAS products per block of
    # rows, the blocks on every core). With readable kernels the CPU's is the readable loop,
    # which BLAS products outrun: "auto" then takes the products way (benchmarks/RESULTS.md).
    FUSED_CAN = {"cpu": ("float32", "float64"), "cuda": ("float32",)}
    # Causal self-attention's products skip the hidden quarter (`blocks`) on the CPU only: on the
    # GPU, where launches cost more than the work, the extra products would not pay.
    SPLIT_ON = ("cpu",)

    @classmethod
    def forward(cls, ctx, q, k, v, causal=False, mask=None, scale=None, need_weights=False):
        cls.require_float(q, k, v)
        if q.ndim < 2 or k.ndim != q.ndim or v.ndim != q.ndim:
            cls.fail(f"q, k, v must be (..., length, dim) with the same number of dims, "
                     f"got {describe(q)}, {describe(k)}, {describe(v)}")
        if q.shape[:-2] != k.shape[:-2] or k.shape[:-2] != v.shape[:-2]:
            cls.fail(f"q {describe(q)}, k {describe(k)} and v {describe(v)} must share their leading (batch, head) dims")
        if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
            cls.fail(f"q and k need the same vector size and k and v the same length: "
                     f"got q {describe(q)}, k {describe(k)}, v {describe(v)}")
        if len({q.dtype, k.dtype, v.dtype}) > 1:
            cls.fail(f"q, k, v must share a dtype: {describe(q)}, {describe(k)}, {describe(v)}", TypeError)
        out = ctx.backend.empty(q.shape[:-1] + v.shape[-1:], q.dtype)
        cls.attend(ctx, q, k, v, out, causal, mask, scale, need_weights)
        return out

    @classmethod
    def attend(cls, ctx, q, k, v, out, causal=False, mask=None, scale=None, need_weights=False):
        """out = attention(q, k, v), written into `out` (any array or view of that shape: the
        multi_head_attention fusion hands in its heads' places); saves on ctx what backward needs."""
        backend = ctx.backend
        length, keys = q.shape[-2], k.shape[-2]
        additive = cls.additive_mask(backend, mask, q.shape[:-2] + (length, keys), q.dtype)
        scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
        ctx.scale, ctx.causal = scale, bool(causal)
        ctx.empty = out.size == 0 or keys == 0 or q.shape[-1] == 0
        if ctx.empty:   # no query, no key or empty vectors: zeros, as PyTorch's products of empty matrices give
            out[...] = 0
            ctx.fused = False
            ctx.save(q, k, v, backend.zeros(q.shape[:-2] + (length, keys), q.dtype))
            return
        ctx.fused = cls.fused(backend, q, v, additive, need_weights)
        if ctx.fused:   # the kernels read and write the heads where they lie: no packed copies
            q4, k4, v4, out4 = (as_batch_of_heads(backend, x) for x in (q, k, v, out))
            q4, k4, v4 = (backend.blas_ready(x) for x in (q4, k4, v4))
            logsumexp = backend.empty(q4.shape[:-1], q.dtype)
            ctx.run(attention_fused_kernel, q4, k4, v4, scale, ctx.causal, out4, logsumexp)
            ctx.save(q4, k4, v4, out4, logsumexp)
            return
        # Packed copies first: NumPy multiplies a head-split view of a view up to 3x slower than
        # the same numbers laid out contiguously, and backward multiplies each of them twice more.
        q, k, v = backend.contiguous(q), backend.contiguous(k), backend.contiguous(v)
        ctx.rows, ctx.columns = cls.blocks(backend, length, keys, ctx.causal)
        weights = backend.empty(q.shape[:-2] + (length, keys), q.dtype)
        key_columns = transposed(backend, k)
        for rows, seen in ctx.rows:
            product(ctx, q[..., rows, :], key_columns[..., :seen], out=weights[..., rows, :seen])
        # in place: scores -> weights, zero where hidden (also where the blocks skipped)
        ctx.run(attention_softmax_kernel, backend.reshape(weights, merged_leading(weights.shape, 2)), scale, ctx.causal,
                additive if additive is not None else backend.empty((1, 1, 1), q.dtype), additive is not None,
                q.dtype == np.float32)
        for rows, seen in ctx.rows:
            product(ctx, weights[..., rows, :seen], v[..., :seen, :], out=out[..., rows, :])
        ctx.save(q, k, v, weights)

    @classmethod
    def blocks(cls, backend, length, keys, causal):
        """How the products cut the scores: ([(rows, keys they see)], [(keys, first row seeing them)]).

        Causal self-attention on the CPU, from ms.config.attention_split_from keys on, cuts its rows in two halves: the first
        half sees only the first half of the keys, so the products skip the hidden top-right
        quarter of the scores (a quarter of their work; the softmax kernels never read it)."""
        if not (causal and length == keys and length >= config.attention_split_from and backend.name in cls.SPLIT_ON):
            return [(slice(0, length), keys)], [(slice(0, keys), 0)]
        half = length // 2
        return [(slice(0, half), half), (slice(half, length), keys)], [(slice(0, half), 0), (slice(half, keys), half)]

    @classmethod
    def fused(cls, backend, q, v, mask, need_weights):
        """The fused way, when ms.config.attention_fused asks for it here ("auto": where it is the
        fast way, see FUSED_CAN), its kernels take this dtype and it applies: no mask other than
        causal, the weights not asked for (it never forms them), and on the GPU heads of at most
        HEAD_MAX features (what its kernels hold in shared memory)."""
        choice = config.attention_fused
        fast_here = backend.name == "cuda" or attention_fused_kernel.runs_faster()
        wanted = choice == "always" or (choice == "auto" and fast_here)
        return (wanted and q.dtype.name in cls.FUSED_CAN[backend.name] and mask is None and not need_weights
                and (backend.name != "cuda" or max(q.shape[-1], v.shape[-1]) <= HEAD_MAX))

    @classmethod
    def additive_mask(cls, backend, mask, shape, dtype):
        """A boolean mask (True = may attend, as in PyTorch) or an additive float mask -> additive, full shape."""
        if mask is None:
            return None
        mask = np.asarray(mask)   # a host array (F.scaled_dot_product_attention): small, shaped here once per call
        try:
            full = np.broadcast_to(mask, shape)
        except ValueError:
            cls.fail(f"mask {describe(mask)} does not broadcast to the scores' shape {shape}")
        if mask.dtype == np.bool_:
            full = np.where(full, 0.0, -np.inf)
        elif mask.dtype.kind != "f":
            cls.fail(f"mask must be bool (True = attend) or float (added to the scores), got {describe(mask)}",
                     TypeError)
        return backend.reshape(backend.asarray(full, dtype), merged_leading(full.shape, 2))

    @classmethod
    def backward(cls, ctx, grad_out):
        dtype = ctx.saved[0].dtype
        grads = tuple(ctx.backend.empty(x.shape, dtype) for x in ctx.inputs)
        cls.attend_backward(ctx, grad_out, *grads)
        return grads

    @staticmethod
    def attend_backward(ctx, grad_out, grad_q, grad_k, grad_v):
        """dq, dk, dv written into grad_q, grad_k, grad_v (any arrays or views of q's, k's, v's shapes)."""
        backend = ctx.backend
        if ctx.empty:
            for grad in (grad_q, grad_k, grad_v):
                grad[...] = 0
            return
        if ctx.fused:
            q4, k4, v4, out4, logsumexp = ctx.saved
            grad4 = backend.blas_ready(as_batch_of_heads(backend, backend.astype(grad_out, q4.dtype)))
            grads4 = (as_batch_of_heads(backend, g) for g in (grad_q, grad_k, grad_v))
            ctx.run(attention_fused_backward_kernel, q4, k4, v4, out4, logsumexp, grad4, ctx.scale, ctx.causal,
                    *grads4)
            return
        q, k, v, weights = ctx.saved
        grad = backend.astype(grad_out, q.dtype)
        grad_scores = backend.empty(weights.shape, q.dtype)
        value_columns = transposed(backend, v)
        for rows, seen in ctx.rows:
            product(ctx, grad[..., rows, :], value_columns[..., :seen], out=grad_scores[..., rows, :seen])
        by_rows = merged_leading(weights.shape, 2)
        ctx.run(attention_softmax_backward_kernel, backend.reshape(weights, by_rows),
                backend.reshape(grad_scores, by_rows), ctx.scale, ctx.causal)
        for rows, seen in ctx.rows:
            product(ctx, grad_scores[..., rows, :seen], k[..., :seen, :], out=grad_q[..., rows, :])
        for columns, first in ctx.columns:
            product(ctx, transposed(backend, grad_scores[..., first:, columns]), q[..., first:, :],
                    out=grad_k[..., columns, :])
            product(ctx, transposed(backend, weights[..., first:, columns]), grad[..., first:, :],
                    out=grad_v[..., columns, :])

    reference = staticmethod(attention_reference)
    reference_backward = staticmethod(attention_backward_reference)
