"""The GPU matrix product: C = A B, tiled in shared memory and blocked in registers.

    C[z, m, n] = sum_k A[z, m, k] B[z, k, n]       for every batch z

How it is fast (the classic SGEMM recipe):
- Each block of 1024 threads computes a 128x128 tile of C. It walks K in steps of 8: the
  block copies a 128x8 slab of A and an 8x128 slab of B into shared memory (each element read
  from GPU memory once per block, not once per thread), then every thread multiplies from there.
- Each thread keeps a 4x4 patch of C in registers (`acc`) and, per k, loads 4 numbers of A
  and 4 of B into registers: 16 multiply-adds for 8 shared-memory reads.
- A thread's patch is strided (rows ty + 32 i, columns tx + 32 j; 32 = SPREAD), so the 32 threads of a warp
  read neighbouring shared-memory words (no bank conflicts) and write neighbouring columns of C.
- While the threads multiply one pair of slabs, the next pair is already on its way from
  GPU memory into registers (prefetching), so the multiply-adds do not wait for memory.
- Split K: when C has too few tiles to keep every multiprocessor busy (dW = dy^T x: C is small,
  K is the number of rows in the batch), K is cut into `splits` chunks, one block each, and
  the blocks add their partial tiles into C atomically.
- Linear layers pass their bias: it is added to each element of C as it is written (by the
  first K chunk only, when K is split), which saves a pass over C.
- A and B are read through their strides, so a transposed operand (A^T in dW = dy^T x, B^T in
  x W^T) is just another stride pattern; the loads pick the order in which neighbouring threads
  touch neighbouring memory.
"""
import math

import numpy as np
from numba import float32, float64

from .gpu import cuda, device_function, fill, gpu_kernel, launch, simulated
from .layout import merged_loop

# TILE x TILE: one block's tile of C; TILE_K: the K step; PATCH x PATCH: each thread's piece of C.
# (On the simulator, where each thread is a Python thread, the same code runs with a small tile.)
TILE, TILE_K, PATCH = (16, 8, 4) if simulated() else (128, 8, 4)
SPREAD = TILE // PATCH                      # threads along each side of the tile
THREADS = SPREAD * SPREAD
SLAB = TILE + 4                             # shared rows padded so column-wise stores spread over banks
PER_THREAD = TILE * TILE_K // THREADS       # elements of each slab one thread copies
REGISTERS = 65536 // THREADS                # a multiprocessor's registers shared by one block's threads


@device_function
def load_slabs(a, a_base, a_row, a_col, b, b_base, b_row, b_col, m, n, k, row0, col0, k0, next_a, next_b):
    """This thread's share of the next slabs of A (TILE x TILE_K) and B (TILE_K x TILE), into registers.
    Neighbouring threads take neighbouring memory: along k where A's rows are contiguous, along m
    where its columns are (a transposed A); likewise for B."""
    tid = cuda.threadIdx.x
    for r in range(PER_THREAD):
        index = tid + r * THREADS
        if a_col == 1:
            mm, kk = index // TILE_K, index % TILE_K
        else:
            mm, kk = index % TILE, index // TILE
        gm, gk = row0 + mm, k0 + kk
        next_a[r] = a[a_base + gm * a_row + gk * a_col] if gm < m and gk < k else 0
        if b_col == 1:
            kk, nn = index // TILE, index % TILE
        else:
            kk, nn = index % TILE_K, index // TILE_K
        gk, gn = k0 + kk, col0 + nn
        next_b[r] = b[b_base + gk * b_row + gn * b_col] if gk < k and gn < n else 0


@device_function
def store_slabs(a_col, b_col, next_a, next_b, slab_a, slab_b):
    tid = cuda.threadIdx.x
    for r in range(PER_THREAD):
        index = tid + r * THREADS
        if a_col == 1:
            slab_a[index % TILE_K, index // TILE_K] = next_a[r]
        else:
            slab_a[index // TILE, index % TILE] = next_a[r]
        if b_col == 1:
            slab_b[index // TILE, index % TILE] = next_b[r]
        else:
            slab_b[index % TILE_K, index // TILE_K] = next_b[r]


@device_function
def multiply_step(kk, tx, ty, slab_a, slab_b, acc, frag_a, frag_b):
    """acc += (column kk of the A slab, this thread's rows) x (row kk of the B slab, its columns)."""
    for i in range(PATCH):
        frag_a[i] = slab_a[kk, ty + SPREAD * i]
    for j in range(PATCH):
        frag_b[j] = slab_b[kk, tx + SPREAD * j]
    for i in range(PATCH):
        for j in range(PATCH):
            acc[i, j] += frag_a[i] * frag_b[j]


@device_function
def gemm_tile(a, a_batch, a_row, a_col, b, b_batch, b_row, b_col, c, m, n, k, splits, chunk, bias, has_bias, slab_a,
              slab_b, acc, frag_a, frag_b, next_a, next_b):
    tid = cuda.threadIdx.x
    tx, ty = tid % SPREAD, tid // SPREAD
    z, split = cuda.blockIdx.z // splits, cuda.blockIdx.z % splits
    row0, col0 = cuda.blockIdx.y * TILE, cuda.blockIdx.x * TILE
    a_base, b_base = z * a_batch, z * b_batch
    k_start, k_stop = split * chunk, min(k, (split + 1) * chunk)
    for i in range(PATCH):
        for j in range(PATCH):
            acc[i, j] = 0
    load_slabs(a, a_base, a_row, a_col, b, b_base, b_row, b_col, m, n, k_stop, row0, col0, k_start, next_a, next_b)
    for k0 in range(k_start, k_stop, TILE_K):
        store_slabs(a_col, b_col, next_a, next_b, slab_a, slab_b)
        cuda.syncthreads()
        # Ask for the next slabs now: the loads travel while this thread multiplies (prefetching).
        if k0 + TILE_K < k_stop:
            load_slabs(a, a_base, a_row, a_col, b, b_base, b_row, b_col, m, n, k_stop, row0, col0, k0 + TILE_K,
                       next_a, next_b)
        # the 8 steps of the slab written out (TILE_K = 8): with kk a constant in each, every
        # shared-memory address is known at compile time (a loop over kk ran 20% slower)
        multiply_step(0, tx, ty, slab_a, slab_b, acc, frag_a, frag_b)
        multiply_step(1, tx, ty, slab_a, slab_b, acc, frag_a, frag_b)
        multiply_step(2, tx, ty, slab_a, slab_b, acc, frag_a, frag_b)
        multiply_step(3, tx, ty, slab_a, slab_b, acc, frag_a, frag_b)
        multiply_step(4, tx, ty, slab_a, slab_b, acc, frag_a, frag_b)
        multiply_step(5, tx, ty, slab_a, slab_b, acc, frag_a, frag_b)
        multiply_step(6, tx, ty, slab_a, slab_b, acc, frag_a, frag_b)
        multiply_step(7, tx, ty, slab_a, slab_b, acc, frag_a, frag_b)
        cuda.syncthreads()
    c_base = z * m * n
    for i in range(PATCH):
        gm = row0 + ty + SPREAD * i
        if gm < m:
            for j in range(PATCH):
                gn = col0 + tx + SPREAD * j
                if gn < n:
                    value = acc[i, j] + bias[gn] if has_bias and split == 0 else acc[i, j]
                    if splits == 1:
                        c[c_base + gm * n + gn] = value
                    else:
                        cuda.atomic.add(c, c_base + gm * n + gn, value)


@gpu_kernel(max_registers=REGISTERS)
def gemm_float32(a, a_batch, a_row, a_col, b, b_batch, b_row, b_col, c, m, n, k, splits, chunk, bias, has_bias):
    slab_a = cuda.shared.array((TILE_K, SLAB), float32)
    slab_b = cuda.shared.array((TILE_K, SLAB), float32)
    acc = cuda.local.array((PATCH, PATCH), float32)
    frag_a, frag_b = cuda.local.array(PATCH, float32), cuda.local.array(PATCH, float32)
    next_a, next_b = cuda.local.array(PER_THREAD, float32), cuda.local.array(PER_THREAD, float32)
    gemm_tile(a, a_batch, a_row, a_col, b, b_batch, b_row, b_col, c, m, n, k, splits, chunk, bias, has_bias, slab_a,
              slab_b, acc, frag_a, frag_b, next_a, next_b)


@gpu_kernel(max_registers=REGISTERS)
def gemm_float64(a, a_batch, a_row, a_col, b, b_batch, b_row, b_col, c, m, n, k, splits, chunk, bias, has_bias):
    slab_a = cuda.shared.array((TILE_K, SLAB), float64)
    slab_b = cuda.shared.array((TILE_K, SLAB), float64)
    acc = cuda.local.array((PATCH, PATCH), float64)
    frag_a, frag_b = cuda.local.array(PATCH, float64), cuda.local.array(PATCH, float64)
    next_a, next_b = cuda.local.array(PER_THREAD, float64), cuda.local.array(PER_THREAD, float64)
    gemm_tile(a, a_batch, a_row, a_col, b, b_batch, b_row, b_col, c, m, n, k, splits, chunk, bias, has_bias, slab_a,
              slab_b, acc, frag_a, frag_b, next_a, next_b)


KERNELS = {np.dtype(np.float32): gemm_float32, np.dtype(np.float64): gemm_float64}


def batched(array, batch):
    """`array` broadcast to batch + its last two dims, as (storage, batch stride, row stride, column stride).

    The batch dims must be walkable with one stride; when they are not (a broadcast over
    several dims, say), a packed copy of the broadcast operand is made first."""
    from . import cuda as backend

    if not batch:   # one matrix (most products): nothing to broadcast or walk
        rows, columns = array.strides
        return array.storage(1 + (array.shape[0] - 1) * rows + (array.shape[1] - 1) * columns), 0, rows, columns
    full = backend.broadcast_to(array, tuple(batch) + array.shape[-2:])
    loop_shape, (strides,), _ = merged_loop(tuple(batch) or (1,), [list(full.strides[:-2]) or [0]])
    if len(loop_shape) > 1:
        full = backend.contiguous(full)
        strides = [full.strides[-3] if full.ndim > 2 else 0]
    span = 1 + sum((n - 1) * s for n, s in zip(full.shape, full.strides))
    return full.storage(span), strides[0], full.strides[-2], full.strides[-1]


# About two blocks per multiprocessor of an H100 (132) fill it; no split makes a block's share of
# K shorter than MIN_CHUNK. (Tiny on the simulator, so that its tests take the split path too.)
BUSY_BLOCKS, MIN_CHUNK = (4, 8) if simulated() else (264, 256)


def split_k(blocks, k):
    """How many chunks to cut K into so that about BUSY_BLOCKS blocks run (1: no split)."""
    if blocks >= BUSY_BLOCKS:
        return 1
    return max(1, min(-(-BUSY_BLOCKS // blocks), k // MIN_CHUNK))


def matmul(a, b, empty, bias=None):
    """A (..., m, k) @ B (..., k, n) [+ bias (n,)] -> C (..., m, n), batch dims broadcast (as np.matmul)."""
    batch = a.shape[:-2] if a.shape[:-2] == b.shape[:-2] else tuple(np.broadcast_shapes(a.shape[:-2], b.shape[:-2]))
    m, k, n = a.shape[-2], a.shape[-1], b.shape[-1]
    c = empty(batch + (m, n), a.dtype)
    if c.size == 0:
        return c
    if k == 0:
        from . import cuda as backend

        backend.copy_into(c, 0 if bias is None else bias)
        return c
    count = math.prod(batch)
    tiles = ((n + TILE - 1) // TILE, (m + TILE - 1) // TILE)
    splits = split_k(tiles[0] * tiles[1] * count, k)
    chunk = -(-k // (splits * TILE_K)) * TILE_K
    if splits > 1:
        fill(c, 0)   # the chunks add into C
    flat_c = c.storage(c.size)
    # without a bias, C stands in for it (an array of the same kind: no second compiled form)
    launch(KERNELS[np.dtype(a.dtype)], tiles + (count * splits,), THREADS, *batched(a, batch), *batched(b, batch),
           flat_c, m, n, k, splits, chunk, flat_c if bias is None else bias, bias is not None)
    return c

