"""The GPU matrix product: C = A B, tiled in shared memory and blocked in registers.

    C[z, m, n] = sum_k A[z, m, k] B[z, k, n]       for every batch z

How it is fast (the classic SGEMM recipe):
- Each block of 256 threads computes a 128x128 tile of C. It walks K in steps of 8: the
  block copies a 128x8 slab of A and an 8x128 slab of B into shared memory (each element read
  from GPU memory once per block, not once per thread), then every thread multiplies from there.
- Each thread keeps an 8x8 patch of C in registers (`acc`) and, per k, loads 8 numbers of A
  and 8 of B into registers: 64 multiply-adds for 4 shared-memory reads of 4 numbers each.
- A thread's patch is four 4x4 squares, 64 rows and columns apart (rows 4 ty + 0..3 and
  64 + 4 ty + 0..3, likewise columns with tx): the 4 numbers of a square's side are adjacent in
  shared memory (one 16-byte read), and the 16 threads along a row of threads read and write
  neighbouring columns.
- Two pairs of slabs take turns (double buffering): while the threads multiply one pair, the
  next is on its way from GPU memory, so a K step needs one barrier and the multiply-adds do
  not wait for memory.
- Indices are written so that the compiler can see they are not negative (see gemm_tile),
  and a thread keeps to 128 registers, so two blocks share a multiprocessor (the machine code
  it compiles to: python benchmarks/gpu_sass.py; counts in benchmarks/RESULTS.md).
- Split K: when C has too few tiles to keep every multiprocessor busy (dW = dy^T x: C is small,
  K is the number of rows in the batch), K is cut into `splits` chunks, one block each, and
  the blocks add their partial tiles into C atomically.
- Linear layers pass their bias: it is added to each element of C as it is written (by the
  first K chunk only, when K is split), which saves a pass over C.
- Linear's backward asks for the sums of A's rows too: in dW = dy^T x they are the bias
  gradient db, added up by one more column of blocks of the same launch (sum_rows), which
  saves a launch and a pass over dy that read down its columns.
- A and B are read through their strides, so a transposed operand (A^T in dW = dy^T x, B^T in
  x W^T) is just another stride pattern; the loads pick the order in which neighbouring threads
  touch neighbouring memory.
"""
import math

import numpy as np
from numba import float32, float64, uint64

from .gpu import cuda, device_function, fill, gpu_kernel, launch, simulated, sized
from .layout import merged_loop

# TILE x TILE: one block's tile of C; TILE_K: the K step; PATCH x PATCH: each thread's piece of C,
# made of (PATCH / VECTOR)^2 squares of VECTOR x VECTOR neighbours, GROUP apart.
# (On the simulator, where each thread is a Python thread, the same code runs with a small tile.)
TILE, TILE_K, PATCH, VECTOR = sized((128, 8, 8, 4), on_simulator=(16, 8, 4, 2))
SPREAD = TILE // PATCH                      # threads along each side of the tile
THREADS = SPREAD * SPREAD
GROUP = SPREAD * VECTOR                     # from one of a thread's squares to the next
SLAB = TILE + 4                             # shared rows padded so column-wise stores spread over banks
PER_THREAD = TILE * TILE_K // THREADS       # elements of each slab one thread copies
ROW_PARTS = THREADS // TILE                  # threads a row in sum_rows
# a thread's elements of a slab are a fixed step apart in both of its orders (see slab_slot)
assert THREADS % TILE == 0 and THREADS % TILE_K == 0
# registers per thread: two blocks of THREADS fit a multiprocessor (float32); a float64 patch
# needs twice the registers, and gets them (one block per multiprocessor)
REGISTERS = {np.dtype(np.float32): 65536 // (2 * THREADS), np.dtype(np.float64): 255}


@device_function
def slab_slot(tid, k_contiguous):
    """This thread's share of a slab: its first element (along the tile, along k) and the step
    from one of its PER_THREAD elements to the next. Neighbouring threads take neighbouring
    memory: along k where the operand's k is contiguous (A's rows, B^T's), along the tile
    where it is not."""
    if k_contiguous:
        return tid // TILE_K, tid % TILE_K, THREADS // TILE_K, 0
    return tid % TILE, tid // TILE, 0, THREADS // TILE


@device_function
def load_slab(x, base, tile_stride, k_stride, t0, k0, t_size, k_size, slot, values):
    """values[r] = this thread's r-th element of the slab of X (TILE along the tile x TILE_K along
    k) at (t0, k0), 0 past X's edges; into registers, to be stored later (store_slab)."""
    t, kk, step_t, step_k = slot
    t, kk = t0 + t, k0 + kk
    first = base + t * tile_stride + kk * k_stride
    step = step_t * tile_stride + step_k * k_stride
    t_left, k_left = t_size - t, k_size - kk   # (two numbers kept, rather than a bound per element)
    for r in range(PER_THREAD):
        if r * step_t < t_left and r * step_k < k_left:
            # uint64: an index that is never negative, so no fix-up for Python's negative indices
            values[r] = x[uint64(first + r * step)]
        else:
            values[r] = 0


@device_function
def store_slab(slab, turn, slot, values):
    """The registers load_slab filled, into shared memory, k-major: row kk of the slab holds
    the TILE rows of A (columns of B) at that k, so a thread's VECTOR neighbours are adjacent."""
    t, kk, step_t, step_k = slot
    for r in range(PER_THREAD):
        slab[turn, kk + r * step_k, t + r * step_t] = values[r]


@device_function
def patch_offset(i, t):
    """Where element i of thread t's PATCH neighbours sits along the tile."""
    return (i // VECTOR) * GROUP + t * VECTOR + i % VECTOR


@device_function
def multiply_step(kk, tx, ty, slab_a, slab_b, turn, acc, frag_a, frag_b):
    """acc += (column kk of the A slab, this thread's rows) x (row kk of the B slab, its columns):
    PATCH^2 multiply-adds for 2 PATCH / VECTOR shared-memory reads of VECTOR numbers each."""
    for i in range(PATCH):
        frag_a[i] = slab_a[turn, kk, patch_offset(i, ty)]
    for j in range(PATCH):
        frag_b[j] = slab_b[turn, kk, patch_offset(j, tx)]
    for i in range(PATCH):
        for j in range(PATCH):
            acc[i, j] += frag_a[i] * frag_b[j]


@device_function
def multiply_slabs(tx, ty, slab_a, slab_b, turn, acc, frag_a, frag_b):
    # the 8 steps of the slab written out (TILE_K = 8): with kk a constant in each, every
    # shared-memory address is a constant offset from one register, and the compiler schedules
    # across the steps (a loop over kk compiles to a quarter more instructions a K step)
    multiply_step(0, tx, ty, slab_a, slab_b, turn, acc, frag_a, frag_b)
    multiply_step(1, tx, ty, slab_a, slab_b, turn, acc, frag_a, frag_b)
    multiply_step(2, tx, ty, slab_a, slab_b, turn, acc, frag_a, frag_b)
    multiply_step(3, tx, ty, slab_a, slab_b, turn, acc, frag_a, frag_b)
    multiply_step(4, tx, ty, slab_a, slab_b, turn, acc, frag_a, frag_b)
    multiply_step(5, tx, ty, slab_a, slab_b, turn, acc, frag_a, frag_b)
    multiply_step(6, tx, ty, slab_a, slab_b, turn, acc, frag_a, frag_b)
    multiply_step(7, tx, ty, slab_a, slab_b, turn, acc, frag_a, frag_b)


@device_function
def sum_rows(tid, a, a_base, a_row, a_col, row0, m, k_start, k_stop, splits, row_sums, row_totals):
    """row_sums[row0 + t] (+)= sum of A[row0 + t, k_start:k_stop] for the TILE rows of a block's
    tile, in float64: ROW_PARTS threads a row, each taking every ROW_PARTS-th k, then
    added in a fixed order. It runs in blocks of its own: inside the GEMM's loop (adding up
    the slabs of A there) it held registers in every product, and the loop spilled twice as
    much on sm_90. With A = dy^T, neighbouring rows of A are neighbours in memory: a warp reads
    one piece of memory."""
    t, part = tid % TILE, tid // TILE
    total = 0.0
    if row0 + t < m:
        kk = k_start + part
        while kk < k_stop:
            total += a[uint64(a_base + (row0 + t) * a_row + kk * a_col)]
            kk += ROW_PARTS
    row_totals[part, t] = total
    cuda.syncthreads()
    if part == 0 and row0 + t < m:
        for other in range(1, ROW_PARTS):
            total += row_totals[other, t]
        if splits == 1:
            row_sums[uint64(row0 + t)] = total
        else:
            cuda.atomic.add(row_sums, uint64(row0 + t), total)


@device_function
def gemm_tile(a, a_batch, a_row, a_col, b, b_batch, b_row, b_col, c, m, n, k, splits, chunk, bias, has_bias, row_sums,
              has_row_sums, slabs_a, slabs_b, row_totals, acc, frag_a, frag_b, next_a, next_b):
    # `& (THREADS - 1)` changes nothing (tid < THREADS) but tells the compiler that tid is not
    # negative: every // and % below then is a shift or a mask, and every shared-memory index
    # skips Python's negative-index fix-up (on a GPU, a third of the loop's instructions)
    tid = cuda.threadIdx.x & (THREADS - 1)
    tx, ty = tid % SPREAD, tid // SPREAD
    z, split = cuda.blockIdx.z // splits, cuda.blockIdx.z % splits
    row0, col0 = cuda.blockIdx.y * TILE, cuda.blockIdx.x * TILE
    a_base, b_base = z * a_batch, z * b_batch
    k_start, k_stop = split * chunk, min(k, (split + 1) * chunk)
    if has_row_sums and cuda.blockIdx.x == cuda.gridDim.x - 1:   # the column of blocks past C's
        sum_rows(tid, a, a_base, a_row, a_col, row0, m, k_start, k_stop, splits, row_sums, row_totals)
        return
    slot_a, slot_b = slab_slot(tid, a_col == 1), slab_slot(tid, b_col != 1)
    for i in range(PATCH):
        for j in range(PATCH):
            acc[i, j] = 0
    load_slab(a, a_base, a_row, a_col, row0, k_start, m, k_stop, slot_a, next_a)
    load_slab(b, b_base, b_col, b_row, col0, k_start, n, k_stop, slot_b, next_b)
    store_slab(slabs_a, 0, slot_a, next_a)
    store_slab(slabs_b, 0, slot_b, next_b)
    cuda.syncthreads()
    # Two pairs of slabs take turns (double buffering): while the block multiplies from one, the
    # next is on its way from GPU memory into registers and then into the other pair, so a step
    # needs one barrier and the multiply-adds do not wait for memory. The last step loads and
    # stores zeros (past K), rather than branch: a branch let the compiler sink the loads below
    # the multiply-adds. (`& 1` and `^ 1` let it see that a turn is 0 or 1, so that shared
    # memory is indexed without sign checks.)
    for step in range((k_stop - k_start + TILE_K - 1) // TILE_K):
        k_next, turn = k_start + (step + 1) * TILE_K, step & 1
        load_slab(a, a_base, a_row, a_col, row0, k_next, m, k_stop, slot_a, next_a)
        load_slab(b, b_base, b_col, b_row, col0, k_next, n, k_stop, slot_b, next_b)
        multiply_slabs(tx, ty, slabs_a, slabs_b, turn, acc, frag_a, frag_b)
        # the other pair was last read before the previous barrier: free to overwrite
        store_slab(slabs_a, turn ^ 1, slot_a, next_a)
        store_slab(slabs_b, turn ^ 1, slot_b, next_b)
        cuda.syncthreads()
    c_base, add_bias = z * m * n, has_bias and split == 0
    for i in range(PATCH):
        gm = row0 + patch_offset(i, ty)
        for j in range(PATCH):
            gn = col0 + patch_offset(j, tx)
            if gm < m and gn < n:
                value = acc[i, j] + bias[gn] if add_bias else acc[i, j]
                at = uint64(c_base + gm * n + gn)
                if splits == 1:
                    c[at] = value
                else:
                    cuda.atomic.add(c, at, value)


# 16-byte aligned slabs: a thread's VECTOR neighbours come in one shared-memory read
@gpu_kernel(max_registers=REGISTERS[np.dtype(np.float32)])
def gemm_float32(a, a_batch, a_row, a_col, b, b_batch, b_row, b_col, c, m, n, k, splits, chunk, bias, has_bias,
                 row_sums, has_row_sums):
    slabs_a = cuda.shared.array((2, TILE_K, SLAB), float32, alignment=16)
    slabs_b = cuda.shared.array((2, TILE_K, SLAB), float32, alignment=16)
    acc = cuda.local.array((PATCH, PATCH), float32)
    frag_a, frag_b = cuda.local.array(PATCH, float32), cuda.local.array(PATCH, float32)
    next_a, next_b = cuda.local.array(PER_THREAD, float32), cuda.local.array(PER_THREAD, float32)
    row_totals = cuda.shared.array((ROW_PARTS, TILE), float64)
    gemm_tile(a, a_batch, a_row, a_col, b, b_batch, b_row, b_col, c, m, n, k, splits, chunk, bias, has_bias, row_sums,
              has_row_sums, slabs_a, slabs_b, row_totals, acc, frag_a, frag_b, next_a, next_b)


@gpu_kernel(max_registers=REGISTERS[np.dtype(np.float64)])
def gemm_float64(a, a_batch, a_row, a_col, b, b_batch, b_row, b_col, c, m, n, k, splits, chunk, bias, has_bias,
                 row_sums, has_row_sums):
    slabs_a = cuda.shared.array((2, TILE_K, SLAB), float64, alignment=16)
    slabs_b = cuda.shared.array((2, TILE_K, SLAB), float64, alignment=16)
    acc = cuda.local.array((PATCH, PATCH), float64)
    frag_a, frag_b = cuda.local.array(PATCH, float64), cuda.local.array(PATCH, float64)
    next_a, next_b = cuda.local.array(PER_THREAD, float64), cuda.local.array(PER_THREAD, float64)
    row_totals = cuda.shared.array((ROW_PARTS, TILE), float64)
    gemm_tile(a, a_batch, a_row, a_col, b, b_batch, b_row, b_col, c, m, n, k, splits, chunk, bias, has_bias, row_sums,
              has_row_sums, slabs_a, slabs_b, row_totals, acc, frag_a, frag_b, next_a, next_b)


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
# K shorter than MIN_CHUNK. (Tiny on the simulator, so that its tests take the split path too,
# even at the GPU's tile sizes: a choice of how to launch, not of how the kernel indexes.)
BUSY_BLOCKS, MIN_CHUNK = (4, 8) if simulated() else (264, 256)


def split_k(blocks, k):
    """How many chunks to cut K into so that about BUSY_BLOCKS blocks run (1: no split)."""
    if blocks >= BUSY_BLOCKS:
        return 1
    return max(1, min(-(-BUSY_BLOCKS // blocks), k // MIN_CHUNK))


def matmul(a, b, empty, bias=None, row_sums=None):
    """A (..., m, k) @ B (..., k, n) [+ bias (n,)] -> C (..., m, n), batch dims broadcast (as np.matmul)
    [and, for one matrix A, the sums of its rows into the packed row_sums (m,)]."""
    batch = a.shape[:-2] if a.shape[:-2] == b.shape[:-2] else tuple(np.broadcast_shapes(a.shape[:-2], b.shape[:-2]))
    m, k, n = a.shape[-2], a.shape[-1], b.shape[-1]
    c = empty(batch + (m, n), a.dtype)
    if k == 0:
        from . import cuda as backend

        if c.size:
            backend.copy_into(c, 0 if bias is None else bias)
        if row_sums is not None and m:
            fill(row_sums, 0)
        return c
    if c.size == 0 and (row_sums is None or m == 0):
        return c
    count = math.prod(batch)
    tiles = ((n + TILE - 1) // TILE, (m + TILE - 1) // TILE)
    splits = split_k(max(1, tiles[0]) * tiles[1] * count, k)   # (n = 0: only the row sums' blocks)
    if row_sums is not None:   # one more column of blocks, summing A's rows
        tiles = (tiles[0] + 1, tiles[1])
    chunk = -(-k // (splits * TILE_K)) * TILE_K
    if splits > 1:   # the chunks add into C (and into the row sums)
        for total in (c, row_sums):
            if total is not None and total.size:
                fill(total, 0)
    flat_c = c.storage(c.size)
    # without a bias or row sums, C stands in for them (an array of the same kind: no second
    # compiled form)
    launch(KERNELS[np.dtype(a.dtype)], tiles + (count * splits,), THREADS, *batched(a, batch), *batched(b, batch),
           flat_c, m, n, k, splits, chunk, flat_c if bias is None else bias, bias is not None,
           flat_c if row_sums is None else row_sums, row_sums is not None)
    return c
