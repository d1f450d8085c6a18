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
- fused: one kernel forward, one backward, and P never stored. Forward keeps only each row's
  log-sum-exp L_t = log sum_s e^{S_ts}; backward rebuilds P_ts = e^{S_ts - L_t} from Q and K and
  uses rowsum(dP P) = rowsum(dO O) (Dao et al. 2022, FlashAttention). Memory O(T) instead of
  O(T S), a causal mask skips the hidden half of the work, and 2 kernels instead of 6 products
  and 2 softmax kernels. Used where it pays (`ScaledDotProductAttention.fused_on`).
"""
import math

import numpy as np
from numba import float32, float64

from ..backends.gpu import (MAX_BLOCKS, SCRATCH, block_max, block_sum, cuda, device_function, gpu_kernel, launch,
                            launch_rows, simulated)
from ..backends.kernel import kernel
from .matmul import swap_last
from .particle import Particle, describe
from .softmax import exp_nonpositive


def attention_weights_reference(q, k, causal=False, mask=None, scale=None):
    """P = softmax(scale q k^T + mask) over the last dim, in NumPy."""
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    scores = q @ np.swapaxes(k, -1, -2) * scale
    if causal:
        scores = np.where(np.tril(np.ones(scores.shape[-2:], dtype=bool)), scores, -np.inf)
    if mask is not None:
        scores = np.where(mask, scores, -np.inf) if mask.dtype == np.bool_ else scores + mask
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    return weights / weights.sum(-1, keepdims=True), scale


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
            total = 0.0
            if row_max > -np.inf:   # a row that sees nothing gets all-zero weights, not NaN
                for s in range(visible):
                    e = exp_nonpositive(row[s] - row_max) if fast_exp else math.exp(row[s] - row_max)
                    row[s] = e
                    total += e
            inverse = 1.0 / total if total > 0.0 else 0.0
            for s in range(visible):
                row[s] = row[s] * inverse if total > 0.0 else 0.0
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
def attention_softmax_gpu(scores, scale, causal, mask, has_mask, fast_exp):
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
        total = 0.0
        if row_max > -math.inf:
            for s in range(cuda.threadIdx.x, visible, cuda.blockDim.x):
                e = math.exp(scores[b, t, s] - row_max)
                scores[b, t, s] = e
                total += e
        total = block_sum(total, scratch)
        inverse = 1.0 / total if total > 0.0 else 0.0
        for s in range(cuda.threadIdx.x, columns, cuda.blockDim.x):
            scores[b, t, s] = scores[b, t, s] * inverse if s < visible else 0.0


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
    launch_rows(attention_softmax_gpu, scores.shape[0] * scores.shape[1], scores.shape[2], scores, scale, causal,
                mask, has_mask, fast_exp)


@attention_softmax_backward_kernel.gpu
def launch_attention_softmax_backward(weights, grad_weights, scale, causal):
    launch_rows(attention_softmax_backward_gpu, weights.shape[0] * weights.shape[1], weights.shape[2], weights,
                grad_weights, scale, causal)


# The fused way ------------------------------------------------------------------------------
@kernel(reorder_sums=True)
def attention_fused_kernel(q, k, v, scale, causal, out, logsumexp):
    """out (batch, heads, T, dv) = softmax(scale q k^T [causal]) v, head by head and row by row,
    never holding more than one row of scores; logsumexp (batch, heads, T) = L_t for backward.
    Any strides: the heads of MultiHeadAttention are views into (batch, T, heads, d) memory."""
    batch, heads, rows, d = q.shape
    keys, dv = v.shape[2], v.shape[3]
    key_columns = np.empty((d, keys), q.dtype)   # K^T: the score loop then walks keys in memory order
    row = np.empty(keys, q.dtype)
    for b, h in np.ndindex(batch, heads):
        for s in range(keys):
            for j in range(d):
                key_columns[j, s] = k[b, h, s, j]
        for t in range(rows):
            visible = min(t + 1, keys) if causal else keys
            for s in range(visible):
                row[s] = 0.0
            for j in range(d):
                query = q[b, h, t, j] * scale
                for s in range(visible):
                    row[s] += query * key_columns[j, s]
            row_max = -np.inf
            for s in range(visible):
                row_max = max(row_max, row[s])
            total = 0.0
            for s in range(visible):
                row[s] = math.exp(row[s] - row_max)
                total += row[s]
            for j in range(dv):
                out[b, h, t, j] = 0.0
            for s in range(visible):
                weight = row[s] / total
                for j in range(dv):
                    out[b, h, t, j] += weight * v[b, h, s, j]
            logsumexp[b, h, t] = row_max + math.log(total) if visible > 0 else -np.inf


@kernel(reorder_sums=True)
def attention_fused_backward_kernel(q, k, v, out, logsumexp, grad_out, scale, causal, grad_q, grad_k, grad_v):
    """dQ, dK, dV from dO, rebuilding each row of P from L_t: P_ts = e^{scale q_t.k_s - L_t}."""
    batch, heads, rows, d = q.shape
    keys, dv = v.shape[2], v.shape[3]
    key_columns, value_columns = np.empty((d, keys), q.dtype), np.empty((dv, keys), q.dtype)
    weights, grad_scores = np.empty(keys, q.dtype), np.empty(keys, q.dtype)
    for b, h in np.ndindex(batch, heads):
        for s in range(keys):
            for j in range(d):
                key_columns[j, s] = k[b, h, s, j]
                grad_k[b, h, s, j] = 0.0
            for j in range(dv):
                value_columns[j, s] = v[b, h, s, j]
                grad_v[b, h, s, j] = 0.0
        for t in range(rows):
            visible = min(t + 1, keys) if causal else keys
            for s in range(visible):
                weights[s] = 0.0
                grad_scores[s] = 0.0
            for j in range(d):
                query = q[b, h, t, j] * scale
                for s in range(visible):
                    weights[s] += query * key_columns[j, s]
            for j in range(dv):       # dP_t = dO_t V^T
                g = grad_out[b, h, t, j]
                for s in range(visible):
                    grad_scores[s] += g * value_columns[j, s]
            dot = 0.0                 # rowsum(dP P) = dO_t . O_t
            for j in range(dv):
                dot += grad_out[b, h, t, j] * out[b, h, t, j]
            for s in range(visible):
                weights[s] = math.exp(weights[s] - logsumexp[b, h, t])
                grad_scores[s] = weights[s] * (grad_scores[s] - dot) * scale
            for j in range(d):
                grad_q[b, h, t, j] = 0.0
            for s in range(visible):
                for j in range(d):
                    grad_q[b, h, t, j] += grad_scores[s] * k[b, h, s, j]
                    grad_k[b, h, s, j] += grad_scores[s] * q[b, h, t, j]
                for j in range(dv):
                    grad_v[b, h, s, j] += weights[s] * grad_out[b, h, t, j]


# Their GPU twins: a block per tile of rows (or of keys) of one head; the tiles it reads stream
# through shared memory, float32 only (a shared array's type is fixed when compiled). Heads of
# up to HEAD_MAX features. Forward keeps a running max and sum per row while key tiles stream
# by (online softmax: when the max grows, what was summed is rescaled by e^{old max - new max}).
# Backward is two kernels, one per key tile (dK, dV) and one per row tile (dQ), each rebuilding
# P and dS for itself: no atomics, the same bits at every run. Tiles are tiny on the simulator,
# so its small test shapes still cross tile edges.
HEAD_MAX = 64
FUSED_THREADS = 16 if simulated() else 128
ROW_TILE, KEY_TILE = (4, 8) if simulated() else (16, 64)                    # forward, and dQ's rows
KV_KEY_TILE, KV_ROW_TILE = (4, 8) if simulated() else (16, 32)              # dK, dV
DQ_KEY_TILE = 8 if simulated() else 32
# Tiles read down a column get one spare column, so that a warp's reads of it hit distinct
# memory banks. Shared array sizes must be constants when compiled: computed here, not in kernels.
HEAD_PADDED = HEAD_MAX + 1
KEY_TILE_PADDED, KV_KEY_TILE_PADDED, DQ_KEY_TILE_PADDED = KEY_TILE + 1, KV_KEY_TILE + 1, DQ_KEY_TILE + 1


@device_function
def load_rows(x, b, h, first, count, width, tile):
    """tile[r, j] = x[b, h, first + r, j] for r < count and j < width, 0 in the rest of the tile."""
    columns = tile.shape[1]
    for i in range(cuda.threadIdx.x, tile.shape[0] * columns, cuda.blockDim.x):
        r, j = i // columns, i % columns
        tile[r, j] = x[b, h, first + r, j] if r < count and j < width else float32(0.0)


@device_function
def clear(tile):
    columns = tile.shape[1]
    for i in range(cuda.threadIdx.x, tile.shape[0] * columns, cuda.blockDim.x):
        tile[i // columns, i % columns] = 0.0


@gpu_kernel
def attention_fused_gpu(q, k, v, scale, causal, out, logsumexp):
    batch, heads, rows, d = q.shape
    keys, dv = v.shape[2], v.shape[3]
    q_tile = cuda.shared.array((ROW_TILE, HEAD_MAX), float32)
    k_tile = cuda.shared.array((KEY_TILE, HEAD_PADDED), float32)
    v_tile = cuda.shared.array((KEY_TILE, HEAD_MAX), float32)
    p_tile = cuda.shared.array((ROW_TILE, KEY_TILE_PADDED), float32)
    o_tile = cuda.shared.array((ROW_TILE, HEAD_MAX), float32)
    row_max = cuda.shared.array(ROW_TILE, float32)
    row_sum = cuda.shared.array(ROW_TILE, float32)
    rescale = cuda.shared.array(ROW_TILE, float32)
    tid, threads = cuda.threadIdx.x, cuda.blockDim.x
    scale32 = float32(scale)
    tiles = (rows + ROW_TILE - 1) // ROW_TILE
    for block in range(cuda.blockIdx.x, batch * heads * tiles, cuda.gridDim.x):
        b, h, first = block // (heads * tiles), block // tiles % heads, block % tiles * ROW_TILE
        load_rows(q, b, h, first, min(ROW_TILE, rows - first), d, q_tile)
        clear(o_tile)
        if tid < ROW_TILE:
            row_max[tid], row_sum[tid] = -math.inf, 0.0
        seen = min(first + ROW_TILE, rows, keys) if causal else keys   # the keys any row of this tile sees
        cuda.syncthreads()
        for start in range(0, seen, KEY_TILE):
            n = min(KEY_TILE, seen - start)
            load_rows(k, b, h, start, n, d, k_tile)
            load_rows(v, b, h, start, n, dv, v_tile)
            cuda.syncthreads()
            for i in range(tid, ROW_TILE * KEY_TILE, threads):   # scores; hidden ones -inf
                r, c = i // KEY_TILE, i % KEY_TILE
                score = float32(0.0)
                for j in range(d):
                    score += q_tile[r, j] * k_tile[c, j]
                t = first + r
                hidden = c >= n or t >= rows or (causal and start + c > t)
                p_tile[r, c] = -math.inf if hidden else score * scale32
            cuda.syncthreads()
            if tid < ROW_TILE:   # online softmax, a thread per row
                old_max = row_max[tid]
                new_max = old_max
                for c in range(n):
                    new_max = max(new_max, p_tile[tid, c])
                if new_max == -math.inf:   # a padding row: sees nothing
                    rescale[tid] = 1.0
                    for c in range(n):
                        p_tile[tid, c] = 0.0
                else:
                    factor = math.exp(old_max - new_max)
                    total = float32(0.0)
                    for c in range(n):
                        e = math.exp(p_tile[tid, c] - new_max)
                        p_tile[tid, c] = e
                        total += e
                    rescale[tid] = factor
                    row_sum[tid] = row_sum[tid] * factor + total
                    row_max[tid] = new_max
            cuda.syncthreads()
            for i in range(tid, ROW_TILE * dv, threads):
                r, j = i // dv, i % dv
                total = float32(0.0)
                for c in range(n):
                    total += p_tile[r, c] * v_tile[c, j]
                o_tile[r, j] = o_tile[r, j] * rescale[r] + total
            cuda.syncthreads()
        for i in range(tid, ROW_TILE * dv, threads):
            r, j = i // dv, i % dv
            if first + r < rows:
                out[b, h, first + r, j] = o_tile[r, j] / row_sum[r] if row_sum[r] > 0.0 else float32(0.0)
        if tid < ROW_TILE and first + tid < rows:
            total = row_sum[tid]
            logsumexp[b, h, first + tid] = row_max[tid] + math.log(total) if total > 0.0 else -math.inf
        cuda.syncthreads()   # the next tile overwrites shared memory


@device_function
def load_row_statistics(out, grad_out, logsumexp, b, h, first, m, dv, row_lse, row_dot):
    """L_t and D_t = dO_t . O_t (= rowsum(dP P)) of rows first.. first + m - 1, into shared memory."""
    for r in range(cuda.threadIdx.x, m, cuda.blockDim.x):
        dot = float32(0.0)
        for j in range(dv):
            dot += grad_out[b, h, first + r, j] * out[b, h, first + r, j]
        row_lse[r], row_dot[r] = logsumexp[b, h, first + r], dot


@device_function
def rebuilt_weight_and_grad(q_tile, k_tile, do_tile, v_tile, r, c, d, dv, scale, row_lse, row_dot):
    """(P, dS) of row r and key c of the tiles: P = e^{scale q.k - L}, dS = P (dO.v - D) scale."""
    score, grad_weight = float32(0.0), float32(0.0)
    for j in range(d):
        score += q_tile[r, j] * k_tile[c, j]
    for j in range(dv):
        grad_weight += do_tile[r, j] * v_tile[c, j]
    weight = math.exp(score * scale - row_lse[r])
    return weight, weight * (grad_weight - row_dot[r]) * scale


@gpu_kernel
def attention_fused_backward_kv_gpu(q, k, v, out, logsumexp, grad_out, scale, causal, grad_k, grad_v):
    """A block per tile of keys: dV_s = sum_t P_ts dO_t and dK_s = sum_t dS_ts q_t over the rows that see them."""
    batch, heads, rows, d = q.shape
    keys, dv = v.shape[2], v.shape[3]
    k_tile = cuda.shared.array((KV_KEY_TILE, HEAD_PADDED), float32)
    v_tile = cuda.shared.array((KV_KEY_TILE, HEAD_PADDED), float32)
    dk_tile = cuda.shared.array((KV_KEY_TILE, HEAD_MAX), float32)
    dv_tile = cuda.shared.array((KV_KEY_TILE, HEAD_MAX), float32)
    q_tile = cuda.shared.array((KV_ROW_TILE, HEAD_MAX), float32)
    do_tile = cuda.shared.array((KV_ROW_TILE, HEAD_MAX), float32)
    p_tile = cuda.shared.array((KV_ROW_TILE, KV_KEY_TILE_PADDED), float32)
    ds_tile = cuda.shared.array((KV_ROW_TILE, KV_KEY_TILE_PADDED), float32)
    row_lse = cuda.shared.array(KV_ROW_TILE, float32)
    row_dot = cuda.shared.array(KV_ROW_TILE, float32)
    tid, threads = cuda.threadIdx.x, cuda.blockDim.x
    scale32 = float32(scale)
    tiles = (keys + KV_KEY_TILE - 1) // KV_KEY_TILE
    for block in range(cuda.blockIdx.x, batch * heads * tiles, cuda.gridDim.x):
        b, h, start = block // (heads * tiles), block // tiles % heads, block % tiles * KV_KEY_TILE
        n = min(KV_KEY_TILE, keys - start)
        load_rows(k, b, h, start, n, d, k_tile)
        load_rows(v, b, h, start, n, dv, v_tile)
        clear(dk_tile)
        clear(dv_tile)
        cuda.syncthreads()
        for first in range(start if causal else 0, rows, KV_ROW_TILE):   # earlier rows never see these keys
            m = min(KV_ROW_TILE, rows - first)
            load_rows(q, b, h, first, m, d, q_tile)
            load_rows(grad_out, b, h, first, m, dv, do_tile)
            load_row_statistics(out, grad_out, logsumexp, b, h, first, m, dv, row_lse, row_dot)
            cuda.syncthreads()
            for i in range(tid, KV_ROW_TILE * KV_KEY_TILE, threads):
                r, c = i // KV_KEY_TILE, i % KV_KEY_TILE
                weight, grad_score = float32(0.0), float32(0.0)
                if r < m and c < n and not (causal and start + c > first + r):
                    weight, grad_score = rebuilt_weight_and_grad(q_tile, k_tile, do_tile, v_tile, r, c, d, dv,
                                                                 scale32, row_lse, row_dot)
                p_tile[r, c], ds_tile[r, c] = weight, grad_score
            cuda.syncthreads()
            for i in range(tid, n * HEAD_MAX, threads):
                c, j = i // HEAD_MAX, i % HEAD_MAX
                grad_value, grad_key = float32(0.0), float32(0.0)
                for r in range(m):
                    grad_value += p_tile[r, c] * do_tile[r, j]
                    grad_key += ds_tile[r, c] * q_tile[r, j]
                dv_tile[c, j] += grad_value
                dk_tile[c, j] += grad_key
            cuda.syncthreads()
        for i in range(tid, n * HEAD_MAX, threads):
            c, j = i // HEAD_MAX, i % HEAD_MAX
            if j < d:
                grad_k[b, h, start + c, j] = dk_tile[c, j]
            if j < dv:
                grad_v[b, h, start + c, j] = dv_tile[c, j]
        cuda.syncthreads()


@gpu_kernel
def attention_fused_backward_q_gpu(q, k, v, out, logsumexp, grad_out, scale, causal, grad_q):
    """A block per tile of rows: dQ_t = sum_s dS_ts k_s over the keys row t sees."""
    batch, heads, rows, d = q.shape
    keys, dv = v.shape[2], v.shape[3]
    q_tile = cuda.shared.array((ROW_TILE, HEAD_MAX), float32)
    do_tile = cuda.shared.array((ROW_TILE, HEAD_MAX), float32)
    dq_tile = cuda.shared.array((ROW_TILE, HEAD_MAX), float32)
    k_tile = cuda.shared.array((DQ_KEY_TILE, HEAD_PADDED), float32)
    v_tile = cuda.shared.array((DQ_KEY_TILE, HEAD_PADDED), float32)
    ds_tile = cuda.shared.array((ROW_TILE, DQ_KEY_TILE_PADDED), float32)
    row_lse = cuda.shared.array(ROW_TILE, float32)
    row_dot = cuda.shared.array(ROW_TILE, float32)
    tid, threads = cuda.threadIdx.x, cuda.blockDim.x
    scale32 = float32(scale)
    tiles = (rows + ROW_TILE - 1) // ROW_TILE
    for block in range(cuda.blockIdx.x, batch * heads * tiles, cuda.gridDim.x):
        b, h, first = block // (heads * tiles), block // tiles % heads, block % tiles * ROW_TILE
        m = min(ROW_TILE, rows - first)
        load_rows(q, b, h, first, m, d, q_tile)
        load_rows(grad_out, b, h, first, m, dv, do_tile)
        clear(dq_tile)
        load_row_statistics(out, grad_out, logsumexp, b, h, first, m, dv, row_lse, row_dot)
        seen = min(first + m, keys) if causal else keys
        cuda.syncthreads()
        for start in range(0, seen, DQ_KEY_TILE):
            n = min(DQ_KEY_TILE, seen - start)
            load_rows(k, b, h, start, n, d, k_tile)
            load_rows(v, b, h, start, n, dv, v_tile)
            cuda.syncthreads()
            for i in range(tid, ROW_TILE * DQ_KEY_TILE, threads):
                r, c = i // DQ_KEY_TILE, i % DQ_KEY_TILE
                grad_score = float32(0.0)
                if r < m and c < n and not (causal and start + c > first + r):
                    grad_score = rebuilt_weight_and_grad(q_tile, k_tile, do_tile, v_tile, r, c, d, dv, scale32,
                                                         row_lse, row_dot)[1]
                ds_tile[r, c] = grad_score
            cuda.syncthreads()
            for i in range(tid, m * d, threads):
                r, j = i // d, i % d
                total = float32(0.0)
                for c in range(n):
                    total += ds_tile[r, c] * k_tile[c, j]
                dq_tile[r, j] += total
            cuda.syncthreads()
        for i in range(tid, m * d, threads):
            r, j = i // d, i % d
            grad_q[b, h, first + r, j] = dq_tile[r, j]
        cuda.syncthreads()


def tiles_of(array, tile):
    """Blocks for one per tile of `tile` rows of every head of a (batch, heads, rows, d) array."""
    batch, heads, rows = array.shape[:3]
    return max(1, min(batch * heads * ((rows + tile - 1) // tile), MAX_BLOCKS))


@attention_fused_kernel.gpu
def launch_attention_fused(q, k, v, scale, causal, out, logsumexp):
    launch(attention_fused_gpu, tiles_of(q, ROW_TILE), FUSED_THREADS, q, k, v, scale, causal, out, logsumexp)


@attention_fused_backward_kernel.gpu
def launch_attention_fused_backward(q, k, v, out, logsumexp, grad_out, scale, causal, grad_q, grad_k, grad_v):
    saved = (q, k, v, out, logsumexp, grad_out, scale, causal)
    launch(attention_fused_backward_kv_gpu, tiles_of(k, KV_KEY_TILE), FUSED_THREADS, *saved, grad_k, grad_v)
    launch(attention_fused_backward_q_gpu, tiles_of(q, ROW_TILE), FUSED_THREADS, *saved, grad_q)


def as_batch_of_heads(backend, x):
    """(..., T, d) as the fused kernels take it, (batch, heads, T, d): a view for up to two
    leading dims (more are merged, with a packed copy when their memory needs one)."""
    if x.ndim <= 4:
        return x[(None,) * (4 - x.ndim)]
    return backend.reshape(x, (-1,) + x.shape[-3:])


def empty_by_heads(backend, shape, dtype):
    """A new array of `shape` (..., T, d) and its (batch, heads, T, d) view for a kernel to fill.
    With two leading dims (batch, heads) its memory is laid out as (batch, T, heads, d): joining
    the heads back into (batch, T, heads * d), MultiHeadAttention's next step, is then a view,
    not a copy (and so is splitting the gradient into heads on the way back)."""
    if len(shape) == 4:
        batch, heads, rows, d = shape
        array = backend.permute(backend.empty((batch, rows, heads, d), dtype), (0, 2, 1, 3))
        return array, array
    array = backend.empty(shape, dtype)
    return array, as_batch_of_heads(backend, array)


class ScaledDotProductAttention(Particle):
    name = "scaled_dot_product_attention"
    formula = "O = softmax(Q K^T / sqrt(d) + mask) V"
    gradient = "dV = P^T dO; dS = P (dP - rowsum(dP P)) with dP = dO V^T; dQ = dS K / sqrt(d); dK = dS^T Q / sqrt(d)"
    kernels = (attention_softmax_kernel, attention_softmax_backward_kernel, attention_fused_kernel,
               attention_fused_backward_kernel)
    # The devices that take the fused way where it applies (see `fused`), and for which dtypes:
    # the GPU kernels hold float32 tiles. Not the CPU: there the fused loop (any float dtype) ran
    # 3-4x slower than BLAS products + softmax kernels (14.3 vs 4.4 ms forward + backward at 128
    # heads x T64 x 32, 2 cores): BLAS multiplies far faster than a loop does.
    fused_on = {"cuda": ("float32",)}
    # Where causal self-attention's products skip the hidden quarter (`blocks`), from which length
    # on: on the CPU forward + backward at T 256 took 11% less time, at T 64 4% (noise); on the
    # GPU, where launches cost more than the work, the 6 extra products would not pay.
    split_on, split_from = ("cpu",), 128

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
        backend = ctx.backend
        length, keys = q.shape[-2], k.shape[-2]
        additive = cls.additive_mask(backend, mask, q.shape[:-2] + (length, keys), q.dtype)
        scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
        ctx.scale, ctx.causal = scale, bool(causal)
        ctx.fused = cls.fused(backend, q, v, additive, need_weights)
        if ctx.fused:   # the kernels read any strides: no packed copies
            q4, k4, v4 = (as_batch_of_heads(backend, x) for x in (q, k, v))
            out, out4 = empty_by_heads(backend, q.shape[:-1] + v.shape[-1:], q.dtype)
            logsumexp = backend.empty(q4.shape[:-1], q.dtype)
            ctx.run(attention_fused_kernel, q4, k4, v4, scale, ctx.causal, out4, logsumexp)
            ctx.save(q4, k4, v4, out4, logsumexp)
            ctx.shapes = q.shape, k.shape, v.shape
            return out
        # Packed copies first: NumPy multiplies a head-split view of a view up to 3x slower than
        # the same numbers laid out contiguously, and backward multiplies each of them twice more.
        q, k, v = backend.contiguous(q), backend.contiguous(k), backend.contiguous(v)
        ctx.rows, ctx.columns = cls.blocks(backend, length, keys, ctx.causal)
        weights = backend.empty(q.shape[:-2] + (length, keys), q.dtype)
        key_columns = backend.permute(k, swap_last(k.ndim))
        for rows, seen in ctx.rows:
            backend.matmul(q[..., rows, :], key_columns[..., :seen], out=weights[..., rows, :seen])
        # in place: scores -> weights, zero where hidden (also where the blocks skipped)
        ctx.run(attention_softmax_kernel, backend.reshape(weights, (-1, length, keys)), scale, ctx.causal,
                additive if additive is not None else backend.empty((1, 1, 1), q.dtype), additive is not None,
                q.dtype == np.float32)
        out = backend.empty(q.shape[:-1] + v.shape[-1:], q.dtype)
        for rows, seen in ctx.rows:
            backend.matmul(weights[..., rows, :seen], v[..., :seen, :], out=out[..., rows, :])
        ctx.save(q, k, v, weights)
        return out

    @classmethod
    def blocks(cls, backend, length, keys, causal):
        """How the products cut the scores: ([(rows, keys they see)], [(keys, first row seeing them)]).

        Causal self-attention on a device in `split_on` cuts its rows in two halves: the first
        half sees only the first half of the keys, so the products skip the hidden top-right
        quarter of the scores (a quarter of their work; the softmax kernels never read it)."""
        if not (causal and length == keys and length >= cls.split_from and backend.name in cls.split_on):
            return [(slice(0, length), keys)], [(slice(0, keys), 0)]
        half = length // 2
        return [(slice(0, half), half), (slice(half, length), keys)], [(slice(0, half), 0), (slice(half, keys), half)]

    @classmethod
    def fused(cls, backend, q, v, mask, need_weights):
        """The fused way, when this device takes it for this dtype and it applies: no mask other
        than causal, the weights not asked for (it never forms them), and heads of at most
        HEAD_MAX features (what the GPU kernels hold in shared memory)."""
        return (q.dtype.name in cls.fused_on.get(backend.name, ()) and mask is None and not need_weights
                and max(q.shape[-1], v.shape[-1]) <= HEAD_MAX)

    @classmethod
    def additive_mask(cls, backend, mask, shape, dtype):
        """A boolean mask (True = may attend, as in PyTorch) or an additive float mask -> additive, full shape."""
        if mask is None:
            return None
        mask = backend.to_numpy(mask)   # small, and built once per call: shaped on the host
        try:
            full = np.broadcast_to(mask, shape)
        except ValueError:
            cls.fail(f"mask {describe(mask)} does not broadcast to the scores' shape {shape}")
        if mask.dtype == np.bool_:
            full = np.where(full, 0.0, -np.inf)
        elif mask.dtype.kind != "f":
            cls.fail(f"mask must be bool (True = attend) or float (added to the scores), got {describe(mask)}",
                     TypeError)
        return backend.reshape(backend.asarray(full, dtype), (-1,) + shape[-2:])

    @staticmethod
    def backward(ctx, grad_out):
        backend = ctx.backend
        if ctx.fused:
            q4, k4, v4, out4, logsumexp = ctx.saved
            grad4 = as_batch_of_heads(backend, backend.astype(grad_out, q4.dtype))
            grads, grads4 = zip(*(empty_by_heads(backend, shape, q4.dtype) for shape in ctx.shapes))
            ctx.run(attention_fused_backward_kernel, q4, k4, v4, out4, logsumexp, grad4, ctx.scale, ctx.causal,
                    *grads4)
            return grads
        q, k, v, weights = ctx.saved
        grad = backend.astype(grad_out, q.dtype)
        grad_scores = backend.empty(weights.shape, q.dtype)
        value_columns = backend.permute(v, swap_last(v.ndim))
        for rows, seen in ctx.rows:
            backend.matmul(grad[..., rows, :], value_columns[..., :seen], out=grad_scores[..., rows, :seen])
        by_rows = (-1,) + weights.shape[-2:]
        ctx.run(attention_softmax_backward_kernel, backend.reshape(weights, by_rows),
                backend.reshape(grad_scores, by_rows), ctx.scale, ctx.causal)
        grad_q, grad_k, grad_v = (backend.empty(x.shape, q.dtype) for x in (q, k, v))
        for rows, seen in ctx.rows:
            backend.matmul(grad_scores[..., rows, :seen], k[..., :seen, :], out=grad_q[..., rows, :])
        for columns, first in ctx.columns:
            seen_by = (backend.permute(x[..., first:, columns], swap_last(x.ndim)) for x in (grad_scores, weights))
            backend.matmul(next(seen_by), q[..., first:, :], out=grad_k[..., columns, :])
            backend.matmul(next(seen_by), grad[..., first:, :], out=grad_v[..., columns, :])
        return grad_q, grad_k, grad_v

    reference = staticmethod(attention_reference)
    reference_backward = staticmethod(attention_backward_reference)
