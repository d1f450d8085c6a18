"""The fused attention's faster CPU form: rows in blocks, products on BLAS, blocks on every core.

The same numbers as the readable fused loops (attention_fused.py, where the math is), computed
the way PyTorch's CPU flash attention divides the work:
- a task is one head, taken in blocks of ROW_BLOCK query rows; Numba's `prange` hands the
  batch x heads tasks out to every core (backward: every block of a head adds into the same dK
  and dV; forward: K^T is packed once per head);
- a block's products are BLAS calls made by its own thread (blas.gemm, one BLAS thread each:
  backends/threads.py): S = Q_b K^T, O_b = P V, and backward's S again, dP = dO_b V^T,
  dQ_b = dS K, dK += dS^T Q_b, dV += P^T dO_b;
- causal attention's block of rows t0..t1 only multiplies by the keys 0..t1 it can see: the
  hidden upper triangle of the scores is never computed, but for its share of each diagonal block;
- the softmax of a block's rows runs between its two products, while they are in the cache, and
  only each row's log-sum-exp L_t is kept: backward rebuilds P_ts = e^{scale S_ts - L_t}.
The heads are read and written where they lie (views into the packed q, k, v memory): BLAS
reads them through their strides (backends/blas.py). The particle hands in views BLAS can read
(backend.blas_ready). What a task computes is the same whatever the number of threads: the
results do not depend on NUMBA_NUM_THREADS.
"""
import math

import numpy as np
from numba import prange, types
from numba.extending import overload

from ..backends.blas import gemm
from ..backends.kernel import scalar
from .attention_fused import attention_fused_backward_kernel, attention_fused_kernel
from .softmax import exp_float32, has_nan

ROW_BLOCK = 64   # rows a task: 32-128 ran within 10% at T 64-1024 (2 cores); 64 was fastest
LANES = 16       # running maxima kept side by side: one vector instruction's worth of float32


@scalar(inline=False)
def largest(row, count, lanes):
    """max(row[:count]) ignoring NaN (-inf for none), kept in LANES running maxima: `x if x > m`
    compiles to vector max instructions, where `max(m, x)` (which must keep NaN) runs one by one."""
    for lane in range(LANES):
        lanes[lane] = -np.inf
    whole = count - count % LANES
    for start in range(0, whole, LANES):
        for lane in range(LANES):
            x = row[start + lane]
            lanes[lane] = x if x > lanes[lane] else lanes[lane]
    best = -np.inf
    for lane in range(LANES):
        best = lanes[lane] if lanes[lane] > best else best
    for s in range(whole, count):
        best = row[s] if row[s] > best else best
    return best


@scalar(inline=False)
def exp_shifted_float32(row, count, scale, shift):
    """row[:count] -> e^{scale row_s - shift} in float32 vector arithmetic (softmax.exp_float32); returns their sum."""
    scale32, shift32, total = np.float32(scale), np.float32(shift), np.float32(0.0)
    for s in range(count):
        row[s] = exp_float32(row[s] * scale32 - shift32)
        total += row[s]
    return float(total)


@scalar(inline=False)
def exp_shifted_exact(row, count, scale, shift):
    """The same by the library exp, exact to the last bit (float64 gradient checks)."""
    total = 0.0
    for s in range(count):
        row[s] = math.exp(row[s] * scale - shift)
        total += row[s]
    return total


def exp_shifted(row, count, scale, shift):
    """In place: row[:count] -> e^{scale row_s - shift}; returns their sum. Float32 rows take
    exp_shifted_float32, others exp_shifted_exact, chosen by the dtype when a kernel compiles
    (a run-time test beside the loops kept the compiler from making them vector instructions:
    1.7x slower)."""
    return (exp_shifted_float32 if row.dtype == np.float32 else exp_shifted_exact)(row, count, scale, shift)


@overload(exp_shifted)
def exp_shifted_compiled(row, count, scale, shift):
    return exp_shifted_float32 if row.dtype == types.float32 else exp_shifted_exact


@scalar(inline=False)
def softmax_row(row, visible, seen, scale, lanes):
    """In place: row[:visible] -> softmax(scale row[:visible]), row[visible:seen] -> 0; returns
    L = log sum_s e^{scale row_s}. A NaN score makes the row NaN (e^(NaN - m) is NaN); a row whose
    every score is -inf gets zeros and L = -inf, as in attention.py's softmax kernel."""
    row_max = largest(row, visible, lanes) * scale
    for s in range(visible, seen):
        row[s] = 0.0
    if row_max == -np.inf:
        blank = np.nan if has_nan(row, visible) else 0.0
        for s in range(visible):
            row[s] = blank
        return row_max
    total = exp_shifted(row, visible, scale, row_max)
    inverse = 1.0 / total
    for s in range(visible):
        row[s] *= inverse
    return row_max + math.log(total)


@scalar(inline=False)
def softmax_backward_row(scores, grad_weights, visible, seen, scale, row_logsumexp, dot):
    """In place, for one row: scores -> P_s = e^{scale S_s - L}, grad_weights (dP) ->
    dS_s scale = P_s (dP_s - dot) scale, with dot = rowsum(dP P); both 0 past `visible`."""
    if row_logsumexp == -np.inf:   # every key hidden: P is 0 (softmax_row)
        visible = 0
    exp_shifted(scores, visible, scale, row_logsumexp)
    for s in range(visible):
        grad_weights[s] = scores[s] * (grad_weights[s] - dot) * scale
    for s in range(visible, seen):
        scores[s] = 0.0
        grad_weights[s] = 0.0


@scalar
def packed_transpose(x):
    """x^T as a packed array of its own: BLAS multiplies by a packed K^T a third faster than by
    K^T read as a transposed view (at these shapes: 64 rows times keys of 32 features)."""
    columns = np.empty((x.shape[1], x.shape[0]), x.dtype)
    for j in range(x.shape[1]):   # (writing along rows of the result: its columns lie a power of two apart)
        for i in range(x.shape[0]):
            columns[j, i] = x[i, j]
    return columns


@scalar
def block_rows(block, rows, keys, causal):
    """(first row, end row, keys seen) of a block: causal rows t0..t1 - 1 see keys 0..t1 - 1."""
    first = block * ROW_BLOCK
    end = min(rows, first + ROW_BLOCK)
    return first, end, min(end, keys) if causal else keys


@scalar(inline=False)
def attend_head(q, k, v, scale, causal, out, logsumexp):
    """Forward for one head: q (T, d), k (S, d), v (S, dv), out (T, dv), logsumexp (T,)."""
    rows, keys = q.shape[0], k.shape[0]
    key_columns = packed_transpose(k)
    lanes = np.empty(LANES, q.dtype)
    for block in range((rows + ROW_BLOCK - 1) // ROW_BLOCK):
        first, end, seen = block_rows(block, rows, keys, causal)
        weights = np.empty((end - first, seen), q.dtype)
        gemm(q[first:end], key_columns[:, :seen], weights, 0.0)   # the block's scores S
        for t in range(end - first):
            visible = min(first + t + 1, keys) if causal else keys
            logsumexp[first + t] = softmax_row(weights[t], visible, seen, scale, lanes)
        gemm(weights, v[:seen], out[first:end], 0.0)


@scalar(inline=False)
def attend_head_backward(q, k, v, out, logsumexp, grad_out, scale, causal, grad_q, grad_k, grad_v):
    """Backward for one head (shapes as attend_head's; the gradients as their inputs')."""
    rows, keys, d, dv = q.shape[0], k.shape[0], q.shape[1], v.shape[1]
    key_columns, value_columns = packed_transpose(k), packed_transpose(v)
    grad_keys, grad_values = np.zeros((keys, d), q.dtype), np.zeros((keys, dv), q.dtype)
    for block in range((rows + ROW_BLOCK - 1) // ROW_BLOCK):
        first, end, seen = block_rows(block, rows, keys, causal)
        queries, grads = q[first:end], grad_out[first:end]
        # packed blocks of their own (views of one (ROW_BLOCK, keys) array would put rows a
        # power of two apart at T 1024: they then share cache sets, and backward ran 1.5x slower)
        weights, grad_scores = np.empty((end - first, seen), q.dtype), np.empty((end - first, seen), q.dtype)
        gemm(queries, key_columns[:, :seen], weights, 0.0)       # S again
        gemm(grads, value_columns[:, :seen], grad_scores, 0.0)   # dP
        for t in range(end - first):
            visible = min(first + t + 1, keys) if causal else keys
            dot = 0.0   # rowsum(dP P) = dO_t . O_t
            for j in range(dv):
                dot += grads[t, j] * out[first + t, j]
            softmax_backward_row(weights[t], grad_scores[t], visible, seen, scale, logsumexp[first + t], dot)
        gemm(grad_scores, k[:seen], grad_q[first:end], 0.0)     # dQ_b = dS K
        gemm(grad_scores.T, queries, grad_keys[:seen], 1.0)     # dK += dS^T Q_b
        gemm(weights.T, grads, grad_values[:seen], 1.0)         # dV += P^T dO_b
    # summed in packed arrays of the head's own, written into its place once (a loop: `grad_k[:] =
    # grad_keys` would compile Numba's shape-mismatch error message, 2.5 s at a cold start)
    for s in range(keys):
        for j in range(d):
            grad_k[s, j] = grad_keys[s, j]
        for j in range(dv):
            grad_v[s, j] = grad_values[s, j]


# The kernels hand a head to each task; the work is in the functions above. (A prange body of
# one call also compiles faster: Numba's parallel passes then have nothing else to analyse.)
@attention_fused_kernel.faster
def attention_blocks_kernel(q, k, v, scale, causal, out, logsumexp):
    batch, heads = q.shape[0], q.shape[1]
    for head in prange(batch * heads):
        b, h = head // heads, head % heads
        attend_head(q[b, h], k[b, h], v[b, h], scale, causal, out[b, h], logsumexp[b, h])


@attention_fused_backward_kernel.faster
def attention_blocks_backward_kernel(q, k, v, out, logsumexp, grad_out, scale, causal, grad_q, grad_k, grad_v):
    batch, heads = q.shape[0], q.shape[1]
    for head in prange(batch * heads):
        b, h = head // heads, head % heads
        attend_head_backward(q[b, h], k[b, h], v[b, h], out[b, h], logsumexp[b, h], grad_out[b, h], scale, causal,
                             grad_q[b, h], grad_k[b, h], grad_v[b, h])
