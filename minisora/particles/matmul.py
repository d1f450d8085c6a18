"""Matrix products: matmul (batched, broadcast) and linear (the neuron layer).

    matmul  Y = A B             dA = dY B^T          dB = A^T dY
    linear  y = x W^T + b       dx = dy W            dW = dy^T x        db = sum over rows of dy

    C[p, i, j] = sum over t of A[p, i, t] B[p, t, j]     for every matrix p of a batch

Shapes follow PyTorch: A (..., n, k) @ B (..., k, m) -> (..., n, m), leading dims broadcast;
W is (out_features, in_features). Backward is written out by hand as two more products.

A product is computed in one of two ways, the same numbers up to rounding:
- readable: the textbook kernels below, a loop over i, j, t on the CPU and a 16x16 shared-memory
  tile kernel on the GPU. They run when ms.config.readable_kernels is on, and on the CPU when
  the JIT is off (MINISORA_JIT=0), so pdb steps into the product itself.
- fast (the default): the later version of the same product, BLAS on the CPU (the fastest
  matrix code on the machine) and minisora's register-blocked GEMM on the GPU
  (backends/gemm.py). Linear fuses its bias into it both ways: y gets b added as it is written,
  and dW's product also sums dy's rows, which is db ([dW | db] = dy^T [x | 1]): one pass over dy.
"""
import math

import numpy as np
from numba import float64

from .. import config, errors
from ..backends.gpu import cuda, gpu_kernel, launch, sized
from ..backends.kernel import kernel
from ..backends.layout import merged_leading
from .arithmetic import reference_sum_to
from .particle import Particle, describe
from .reductions import sum_over, sum_to_shape


def matmul_reference(a, b):
    return np.matmul(a, b)


# The readable kernels: a[p] @ b[p] (+ bias) for a batch of matrices, a (P, n, k), b (P, k, m),
# out (P, n, m); has_bias says whether bias (m,) is added (else it is any 1-D array of the dtype).
@kernel
def matmul_loop_kernel(a, b, bias, has_bias, out):
    for p in range(a.shape[0]):
        for i in range(a.shape[1]):
            for j in range(b.shape[2]):
                total = 0.0
                for t in range(a.shape[2]):
                    total += a[p, i, t] * b[p, t, j]
                out[p, i, j] = total + bias[j] if has_bias else total


# A block of TILE x TILE threads computes one TILE x TILE tile of out[p]. Along t, it copies a
# tile of a and a tile of b into shared memory (each thread one element of each: every number
# read from GPU memory once per block, not once per thread), waits for all, adds up their
# product from there, and waits again before the next copy overwrites them.
# (On the simulator, where every thread is a Python thread, the tile is 4 x 4.)
TILE = sized(16, on_simulator=4)


@gpu_kernel
def matmul_tile_gpu(a, b, bias, has_bias, out):
    a_tile = cuda.shared.array((TILE, TILE), float64)
    b_tile = cuda.shared.array((TILE, TILE), float64)
    tx, ty, p = cuda.threadIdx.x, cuda.threadIdx.y, cuda.blockIdx.z
    i, j = cuda.blockIdx.y * TILE + ty, cuda.blockIdx.x * TILE + tx
    n, k, m = a.shape[1], a.shape[2], b.shape[2]
    total = 0.0
    for start in range(0, k, TILE):
        a_tile[ty, tx] = a[p, i, start + tx] if i < n and start + tx < k else 0.0   # zeros past the edges
        b_tile[ty, tx] = b[p, start + ty, j] if start + ty < k and j < m else 0.0
        cuda.syncthreads()
        for t in range(TILE):
            total += a_tile[ty, t] * b_tile[t, tx]
        cuda.syncthreads()
    if i < n and j < m:
        out[p, i, j] = total + bias[j] if has_bias else total


@matmul_loop_kernel.gpu
def launch_matmul_tile(a, b, bias, has_bias, out):
    count, n, m = out.shape
    if out.size:
        launch(matmul_tile_gpu, (math.ceil(m / TILE), math.ceil(n / TILE), count), (TILE, TILE), a, b, bias,
               has_bias, out)


def readable(backend):
    """Whether products take the readable kernels here (see the module docstring)."""
    return config.readable_kernels or (backend.name == "cpu" and not config.jit)


def product(ctx, a, b, bias=None, out=None, row_sums=None):
    """a @ b [+ bias] [into out] [and the sums of a's rows into row_sums, for one matrix a], the
    readable way or the fast way (backend.matmul)."""
    backend = ctx.backend
    if not readable(backend):
        return backend.matmul(a, b, bias, out, row_sums)
    batch = tuple(np.broadcast_shapes(a.shape[:-2], b.shape[:-2]))
    n, m = a.shape[-2], b.shape[-1]
    stacks = [backend.reshape(backend.contiguous(backend.broadcast_to(x, batch + x.shape[-2:])),
                              merged_leading(batch + x.shape[-2:], 2))
              for x in (a, b)]
    y = backend.empty((math.prod(batch), n, m), a.dtype)
    ctx.run(matmul_loop_kernel, *stacks, bias if bias is not None else backend.empty((1,), a.dtype), bias is not None, y)
    y = backend.reshape(y, batch + (n, m))
    if row_sums is not None:
        backend.copy_into(row_sums, sum_over(ctx, a, (1,)))
    if out is None:
        return y
    backend.copy_into(out, y)
    return out


class Matmul(Particle):
    name = "matmul"
    formula, gradient = "Y = A @ B", "dA = dY @ B^T, dB = A^T @ dY"
    kernels = (matmul_loop_kernel,)   # the readable way; the fast way is each backend's own matmul

    @classmethod
    def forward(cls, ctx, a, b):
        cls.require_float(a, b)
        if a.ndim == 0 or b.ndim == 0:
            cls.fail(f"both operands need at least 1 dim, got {describe(a)} and {describe(b)}")
        if a.dtype != b.dtype:
            cls.fail(f"operands must share a dtype, got {describe(a)} and {describe(b)}", TypeError)
        backend = ctx.backend
        # Vectors become matrices for the product, and lose that dim again at the end.
        a2 = backend.reshape(a, (1,) + a.shape) if a.ndim == 1 else a
        b2 = backend.reshape(b, b.shape + (1,)) if b.ndim == 1 else b
        if a2.shape[-1] != b2.shape[-2]:
            cls.fail(f"inner sizes differ: {describe(a)} @ {describe(b)} ({a2.shape[-1]} != {b2.shape[-2]})", errors.ShapeError)
        try:
            batch = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
        except ValueError:
            cls.fail(f"batch dims of {describe(a)} and {describe(b)} cannot be broadcast together", errors.ShapeError)
        y = product(ctx, a2, b2)
        ctx.save(a2, b2)
        ctx.shapes, ctx.product_shape = (a.shape, b.shape), tuple(batch) + (a2.shape[-2], b2.shape[-1])
        if b.ndim == 1:   # (..., n, 1) -> (..., n)
            y = backend.reshape(y, y.shape[:-1])
        if a.ndim == 1:   # the row dim of a's one row goes too: (..., 1, m) -> (..., m); (1,) -> ()
            y = backend.reshape(y, y.shape[:-2] + y.shape[-1:] if b.ndim > 1 else y.shape[:-1])
        return y

    @staticmethod
    def backward(ctx, grad_y):
        a2, b2 = ctx.saved
        backend = ctx.backend
        grad = backend.reshape(backend.astype(grad_y, a2.dtype), ctx.product_shape)
        need_a, need_b = ctx.needs_input_grad
        grads = []
        for needed, operand, gradient in (
            (need_a, a2, lambda: product(ctx, grad, transposed(backend, b2))),
            (need_b, b2, lambda: product(ctx, transposed(backend, a2), grad)),
        ):
            grads.append(sum_to_shape(ctx, gradient(), operand.shape) if needed else None)
        shape_a, shape_b = ctx.shapes
        return (
            None if grads[0] is None else backend.reshape(grads[0], shape_a),
            None if grads[1] is None else backend.reshape(grads[1], shape_b),
        )

    reference = staticmethod(matmul_reference)

    @staticmethod
    def reference_backward(a, b, grad_y):
        a2 = a[None] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        grad = np.reshape(grad_y, np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2]) + (a2.shape[-2], b2.shape[-1]))
        grad_a = grad @ np.swapaxes(b2, -1, -2)
        grad_b = np.swapaxes(a2, -1, -2) @ grad
        grad_a = grad_a.reshape((-1,) + a2.shape).sum(0) if grad_a.ndim > a2.ndim else grad_a
        grad_b = grad_b.reshape((-1,) + b2.shape).sum(0) if grad_b.ndim > b2.ndim else grad_b
        return reference_sum_to(grad_a, a2.shape).reshape(a.shape), reference_sum_to(grad_b, b2.shape).reshape(b.shape)


def transposed(backend, x):
    """x with its last two dims swapped: a view (each matrix of a batch transposed)."""
    return backend.permute(x, tuple(range(x.ndim - 2)) + (x.ndim - 1, x.ndim - 2))


class Linear(Particle):
    name = "linear"
    formula, gradient = "y = x @ W^T + b", "dx = dy @ W, dW = dy^T @ x, db = sum of dy over rows"
    kernels = (matmul_loop_kernel,)

    @classmethod
    def forward(cls, ctx, x, weight, bias=None):
        cls.require_float(x, weight, *(() if bias is None else (bias,)))
        if weight.ndim != 2 or x.ndim == 0 or x.shape[-1] != weight.shape[1]:
            cls.fail(f"input {describe(x)} does not fit weight {describe(weight)} (weight is (out, in))")
        if bias is not None and bias.shape != (weight.shape[0],):
            cls.fail(f"bias {describe(bias)} must have shape ({weight.shape[0]},) to match weight {describe(weight)}")
        if len({x.dtype, weight.dtype} | ({bias.dtype} if bias is not None else set())) > 1:
            cls.fail(f"inputs must share a dtype: {describe(x)}, {describe(weight)}, {describe(bias)}", TypeError)
        backend = ctx.backend
        rows = backend.reshape(backend.contiguous(x), merged_leading(x.shape, 1))
        y = product(ctx, rows, backend.permute(weight, (1, 0)), bias)   # the bias added as y is written
        ctx.save(rows, weight)
        ctx.shape = x.shape
        return backend.reshape(y, x.shape[:-1] + (weight.shape[0],))

    @staticmethod
    def backward(ctx, grad_y):
        rows, weight = ctx.saved
        backend = ctx.backend
        grad = backend.contiguous(backend.reshape(backend.astype(grad_y, rows.dtype), merged_leading(grad_y.shape, 1)))
        needs = ctx.needs_input_grad
        grad_x = backend.reshape(product(ctx, grad, weight), ctx.shape) if needs[0] else None
        needs_bias = len(needs) == 3 and needs[2]
        grad_weight = grad_bias = None
        if needs[1]:   # dW = dy^T x, which also sums dy^T's rows: db
            grad_bias = backend.empty((weight.shape[0],), rows.dtype) if needs_bias else None
            grad_weight = product(ctx, backend.permute(grad, (1, 0)), rows, row_sums=grad_bias)
        elif needs_bias:
            grad_bias = sum_over(ctx, grad, (0,))
        return (grad_x, grad_weight) if len(needs) == 2 else (grad_x, grad_weight, grad_bias)

    @staticmethod
    def reference(x, weight, bias=None):
        return x @ weight.T + (0 if bias is None else bias)

    @staticmethod
    def reference_backward(x, weight, *bias_and_grad):
        grad_y = bias_and_grad[-1]
        rows = x.reshape(merged_leading(x.shape, 1))
        grad = grad_y.reshape(merged_leading(grad_y.shape, 1))
        grads = ((grad @ weight).reshape(x.shape), grad.T @ rows)
        return grads + ((grad.sum(0),) if len(bias_and_grad) == 2 else ())
