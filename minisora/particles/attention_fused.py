"""The fused way of scaled dot-product attention (attention.py has the math and the particle).

One kernel forward, one backward, and the T x S weights P never stored (Dao et al. 2022,
FlashAttention). Forward keeps only each row's log-sum-exp
    L_t = log sum_s e^{S_ts}
and backward rebuilds P_ts = e^{S_ts - L_t} from Q and K, with rowsum(dP P) = rowsum(dO O):
    D_t = dO_t . O_t,    dS_ts = P_ts (dO_t . v_s - D_t)
Memory O(T) instead of O(T S); a causal mask skips the hidden half of the work.

The CPU loops below read the way the math does, row by row: the reference (they run with
ms.config.readable_kernels, and pdb steps through them). The CPU runs their faster form
(attention_blocks.py: blocks of rows, BLAS products, every core); their GPU twins tile the same
loops through shared memory.
"""
import math

import numpy as np
from numba import float32

from ..backends.gpu import MAX_BLOCKS, cuda, device_function, gpu_kernel, launch, sized
from ..backends.kernel import kernel
from ..backends.layout import merged_leading


@kernel(reorder_sums=True)
def attention_fused_kernel(q, k, v, scale, causal, out, logsumexp):
    """out (batch, heads, T, dv) = softmax(scale q k^T [causal]) v, head by head and row by row,
    never holding more than one row of scores; logsumexp (batch, heads, T) = L_t for backward.
    Any strides: the heads of multi_head_attention are views into (batch, T, 3, heads, d) memory."""
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
# Their loops over a length known only at run time (features, keys, rows of a tile, a thread's
# share of a tile) are `while` loops: numba.cuda compiles `for j in range(d)` with its
# iterator's bookkeeping in every step (numba/numba#4647), a `while` to what CUDA C would give
# (a quarter of the instructions: benchmarks/RESULTS.md).
HEAD_MAX = 64
FUSED_THREADS = sized(128, on_simulator=16)
ROW_TILE, KEY_TILE = sized((16, 64), on_simulator=(4, 8))            # forward, and dQ's rows
KV_KEY_TILE, KV_ROW_TILE = sized((16, 32), on_simulator=(4, 8))      # dK, dV
DQ_KEY_TILE = sized(32, on_simulator=8)
# Tiles read down a column get one spare column, so that a warp's reads of it hit distinct
# memory banks. Shared array sizes must be constants when compiled: computed here, not in kernels.
HEAD_PADDED = HEAD_MAX + 1
KEY_TILE_PADDED, KV_KEY_TILE_PADDED, DQ_KEY_TILE_PADDED = KEY_TILE + 1, KV_KEY_TILE + 1, DQ_KEY_TILE + 1
# Register blocking: a thread computes several results that share one operand, reading that
# operand once for all of them (1 + R shared-memory reads for R multiply-adds, not 2 R). A
# thread's scores (P and dS in backward) are one key against every *_SCORE_STEP-th row of the
# tile; its outputs one feature column (of COLUMNS) for every OUTPUT_STEP-th row (forward, dQ)
# or key (dK, dV). The tile sizes are multiples of these steps.
SCORE_STEP, KV_SCORE_STEP, DQ_SCORE_STEP = (FUSED_THREADS // tile for tile in (KEY_TILE, KV_KEY_TILE, DQ_KEY_TILE))
# (on the simulator too, COLUMNS is less than the block's threads: its tests cover every step > 1)
COLUMNS = sized(HEAD_MAX, on_simulator=8)
OUTPUT_STEP = FUSED_THREADS // COLUMNS
SCORES_PER_THREAD, KV_SCORES_PER_THREAD, DQ_SCORES_PER_THREAD = (
    ROW_TILE // SCORE_STEP, KV_ROW_TILE // KV_SCORE_STEP, ROW_TILE // DQ_SCORE_STEP)
OUTPUTS_PER_THREAD, KV_OUTPUTS_PER_THREAD = ROW_TILE // OUTPUT_STEP, KV_KEY_TILE // OUTPUT_STEP
# threads a row in the forward's softmax
SOFTMAX_SPREAD = FUSED_THREADS // ROW_TILE
# at most 128 registers a thread, so that four blocks of FUSED_THREADS share a multiprocessor
# (left to itself, the compiler takes 168 for the unrolled blocking loops: three blocks). On
# sm_90 the kernels then spill a little, outside their inner loops (gpu_sass.py: no LDL there).
FUSED_REGISTERS = 65536 // (4 * FUSED_THREADS)
assert all(n % step == 0 for n, step in ((FUSED_THREADS, KEY_TILE), (FUSED_THREADS, KV_KEY_TILE),
                                          (FUSED_THREADS, DQ_KEY_TILE), (ROW_TILE, SCORE_STEP),
                                          (KV_ROW_TILE, KV_SCORE_STEP), (ROW_TILE, DQ_SCORE_STEP),
                                          (ROW_TILE, OUTPUT_STEP), (KV_KEY_TILE, OUTPUT_STEP),
                                          (FUSED_THREADS, ROW_TILE)))


@device_function
def load_rows(x, b, h, first, count, width, tile):
    """tile[r, j] = x[b, h, first + r, j] for r < count and j < width, 0 in the rest of the tile."""
    columns = tile.shape[1]
    i = cuda.threadIdx.x
    while i < tile.shape[0] * columns:
        r, j = i // columns, i % columns
        tile[r, j] = x[b, h, first + r, j] if r < count and j < width else float32(0.0)
        i += cuda.blockDim.x


@device_function
def blocked_sums(x, x_transposed, first_row, step, y, y_transposed, column, length, sums):
    """sums[s] = sum over i < length of X[first_row + s step, i] Y[i, column] for every s, where
    X is the tile x (or, if x_transposed, its transpose) and Y likewise: one thread's products
    of several rows of X with one column of Y, each number of that column read once for all
    of them. (The flags are constants where it is called: compiled, the tests fold away.)"""
    for s in range(sums.shape[0]):
        sums[s] = 0.0
    i = 0
    while i < length:
        y_value = y[column, i] if y_transposed else y[i, column]
        for s in range(sums.shape[0]):
            row = first_row + s * step
            sums[s] += (x[i, row] if x_transposed else x[row, i]) * y_value
        i += 1


@device_function
def tile_at(block, heads, tiles, tile):
    """(batch, head, first row) of the block-th tile of `tile` rows, counting `tiles` tiles per head."""
    return block // (heads * tiles), block // tiles % heads, block % tiles * tile


@device_function
def clear(tile):
    columns = tile.shape[1]
    i = cuda.threadIdx.x
    while i < tile.shape[0] * columns:
        tile[i // columns, i % columns] = 0.0
        i += cuda.blockDim.x


@gpu_kernel(max_registers=FUSED_REGISTERS)
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
    partial = cuda.shared.array((ROW_TILE, SOFTMAX_SPREAD), float32)
    sums, outputs = cuda.local.array(SCORES_PER_THREAD, float32), cuda.local.array(OUTPUTS_PER_THREAD, float32)
    tid, threads = cuda.threadIdx.x, cuda.blockDim.x
    scale32 = float32(scale)
    tiles = (rows + ROW_TILE - 1) // ROW_TILE
    for block in range(cuda.blockIdx.x, batch * heads * tiles, cuda.gridDim.x):
        b, h, first = tile_at(block, heads, tiles, ROW_TILE)
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
            # scores (hidden ones -inf): key c against rows r0, r0 + SCORE_STEP, ...
            c, r0 = tid % KEY_TILE, tid // KEY_TILE
            blocked_sums(q_tile, False, r0, SCORE_STEP, k_tile, True, c, d, sums)
            for s in range(SCORES_PER_THREAD):
                r = r0 + s * SCORE_STEP
                t = first + r
                hidden = c >= n or t >= rows or (causal and start + c > t)
                p_tile[r, c] = -math.inf if hidden else sums[s] * scale32
            cuda.syncthreads()
            # online softmax: SOFTMAX_SPREAD threads a row, each over every SOFTMAX_SPREAD-th key,
            # combining their maxima and sums through shared memory (in a fixed order)
            r, part = tid // SOFTMAX_SPREAD, tid % SOFTMAX_SPREAD
            new_max = -math.inf
            c = part
            while c < n:
                new_max = max(new_max, p_tile[r, c])
                c += SOFTMAX_SPREAD
            partial[r, part] = new_max
            cuda.syncthreads()
            old_max = row_max[r]
            new_max = old_max
            for other in range(SOFTMAX_SPREAD):
                new_max = max(new_max, partial[r, other])
            cuda.syncthreads()   # every thread has read partial and row_max before they change
            total = float32(0.0)
            c = part
            while c < n:   # (a padding row sees nothing: new_max is -inf, its weights 0)
                e = float32(0.0) if new_max == -math.inf else math.exp(p_tile[r, c] - new_max)
                p_tile[r, c] = e
                total += e
                c += SOFTMAX_SPREAD
            partial[r, part] = total
            cuda.syncthreads()
            if part == 0:
                if new_max == -math.inf:
                    rescale[r] = 1.0
                else:
                    total = float32(0.0)
                    for other in range(SOFTMAX_SPREAD):
                        total += partial[r, other]
                    factor = math.exp(old_max - new_max)
                    rescale[r] = factor
                    row_sum[r] = row_sum[r] * factor + total
                    row_max[r] = new_max
            cuda.syncthreads()
            # outputs: feature column j of rows r0, r0 + OUTPUT_STEP, ...
            j, r0 = tid % COLUMNS, tid // COLUMNS
            while j < dv:
                blocked_sums(p_tile, False, r0, OUTPUT_STEP, v_tile, False, j, n, outputs)
                for s in range(OUTPUTS_PER_THREAD):
                    r = r0 + s * OUTPUT_STEP
                    o_tile[r, j] = o_tile[r, j] * rescale[r] + outputs[s]
                j += COLUMNS
            cuda.syncthreads()
        i = tid
        while i < ROW_TILE * dv:
            r, j = i // dv, i % dv
            if first + r < rows:
                # a real row sees key 0 at least: its sum is >= 1, or NaN (0 / 0 too, where the GPU's
                # max, C's fmax, dropped a NaN score and left -inf)
                out[b, h, first + r, j] = o_tile[r, j] / row_sum[r]
            i += threads
        if tid < ROW_TILE and first + tid < rows:
            total = row_sum[tid]
            # (total is 0 or NaN only where a NaN score was met: NaN, as the row's outputs)
            logsumexp[b, h, first + tid] = row_max[tid] + math.log(total) if total > 0.0 else math.nan
        cuda.syncthreads()   # the next tile overwrites shared memory


@device_function
def load_row_statistics(out, grad_out, logsumexp, b, h, first, m, dv, row_lse, row_dot):
    """L_t and D_t = dO_t . O_t (= rowsum(dP P)) of rows first.. first + m - 1, into shared memory."""
    r = cuda.threadIdx.x
    while r < m:
        dot = float32(0.0)
        j = 0
        while j < dv:
            dot += grad_out[b, h, first + r, j] * out[b, h, first + r, j]
            j += 1
        row_lse[r], row_dot[r] = logsumexp[b, h, first + r], dot
        r += cuda.blockDim.x


@device_function
def rebuilt_weights_and_grads(q_tile, k_tile, do_tile, v_tile, r0, step, c, d, dv, scale, row_lse, row_dot, first,
                              start, m, n, causal, weights, grads):
    """(P, dS) of key c of the tiles and rows r0, r0 + step, ... into weights[s], grads[s]:
    P = e^{scale q.k - L}, dS = P (dO.v - D) scale; 0 where the row (of m, the first at
    `first`) does not see the key (of n, the first at `start`)."""
    blocked_sums(q_tile, False, r0, step, k_tile, True, c, d, weights)
    blocked_sums(do_tile, False, r0, step, v_tile, True, c, dv, grads)
    for s in range(weights.shape[0]):
        r = r0 + s * step
        if r < m and c < n and not (causal and start + c > first + r):
            weight = math.exp(weights[s] * scale - row_lse[r])
            weights[s], grads[s] = weight, weight * (grads[s] - row_dot[r]) * scale
        else:
            weights[s], grads[s] = 0.0, 0.0


@gpu_kernel(max_registers=FUSED_REGISTERS)
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
    weights, grads = cuda.local.array(KV_SCORES_PER_THREAD, float32), cuda.local.array(KV_SCORES_PER_THREAD, float32)
    key_sums = cuda.local.array(KV_OUTPUTS_PER_THREAD, float32)
    tid, threads = cuda.threadIdx.x, cuda.blockDim.x
    scale32 = float32(scale)
    tiles = (keys + KV_KEY_TILE - 1) // KV_KEY_TILE
    for block in range(cuda.blockIdx.x, batch * heads * tiles, cuda.gridDim.x):
        b, h, start = tile_at(block, heads, tiles, KV_KEY_TILE)
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
            c, r0 = tid % KV_KEY_TILE, tid // KV_KEY_TILE   # P and dS: key c, rows r0, r0 + KV_SCORE_STEP, ...
            rebuilt_weights_and_grads(q_tile, k_tile, do_tile, v_tile, r0, KV_SCORE_STEP, c, d, dv, scale32, row_lse,
                                      row_dot, first, start, m, n, causal, weights, grads)
            for s in range(KV_SCORES_PER_THREAD):
                p_tile[r0 + s * KV_SCORE_STEP, c], ds_tile[r0 + s * KV_SCORE_STEP, c] = weights[s], grads[s]
            cuda.syncthreads()
            j, c0 = tid % COLUMNS, tid // COLUMNS   # dV, dK: column j of keys c0, c0 + OUTPUT_STEP, ...
            while j < max(d, dv):
                blocked_sums(p_tile, True, c0, OUTPUT_STEP, do_tile, False, j, m, key_sums)
                for s in range(KV_OUTPUTS_PER_THREAD):
                    dv_tile[c0 + s * OUTPUT_STEP, j] += key_sums[s]
                blocked_sums(ds_tile, True, c0, OUTPUT_STEP, q_tile, False, j, m, key_sums)
                for s in range(KV_OUTPUTS_PER_THREAD):
                    dk_tile[c0 + s * OUTPUT_STEP, j] += key_sums[s]
                j += COLUMNS
            cuda.syncthreads()
        i = tid
        while i < n * HEAD_MAX:
            c, j = i // HEAD_MAX, i % HEAD_MAX
            if j < d:
                grad_k[b, h, start + c, j] = dk_tile[c, j]
            if j < dv:
                grad_v[b, h, start + c, j] = dv_tile[c, j]
            i += threads
        cuda.syncthreads()


@gpu_kernel(max_registers=FUSED_REGISTERS)
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
    weights, grads = cuda.local.array(DQ_SCORES_PER_THREAD, float32), cuda.local.array(DQ_SCORES_PER_THREAD, float32)
    outputs = cuda.local.array(OUTPUTS_PER_THREAD, float32)
    tid, threads = cuda.threadIdx.x, cuda.blockDim.x
    scale32 = float32(scale)
    tiles = (rows + ROW_TILE - 1) // ROW_TILE
    for block in range(cuda.blockIdx.x, batch * heads * tiles, cuda.gridDim.x):
        b, h, first = tile_at(block, heads, tiles, ROW_TILE)
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
            c, r0 = tid % DQ_KEY_TILE, tid // DQ_KEY_TILE   # dS: key c, rows r0, r0 + DQ_SCORE_STEP, ...
            rebuilt_weights_and_grads(q_tile, k_tile, do_tile, v_tile, r0, DQ_SCORE_STEP, c, d, dv, scale32, row_lse,
                                      row_dot, first, start, m, n, causal, weights, grads)
            for s in range(DQ_SCORES_PER_THREAD):
                ds_tile[r0 + s * DQ_SCORE_STEP, c] = grads[s]
            cuda.syncthreads()
            j, r0 = tid % COLUMNS, tid // COLUMNS   # dQ: column j of rows r0, r0 + OUTPUT_STEP, ...
            while j < d:
                blocked_sums(ds_tile, False, r0, OUTPUT_STEP, k_tile, False, j, n, outputs)
                for s in range(OUTPUTS_PER_THREAD):
                    dq_tile[r0 + s * OUTPUT_STEP, j] += outputs[s]
                j += COLUMNS
            cuda.syncthreads()
        i = tid
        while i < m * d:
            r, j = i // d, i % d
            grad_q[b, h, first + r, j] = dq_tile[r, j]
            i += threads
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
    if x.ndim == 4:
        return x
    if x.ndim < 4:
        return x[(None,) * (4 - x.ndim)]
    return backend.reshape(x, merged_leading(x.shape, 3))
