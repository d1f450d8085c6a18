"""Matrix products: matmul (batched, broadcast) and linear (the neuron layer).

    matmul  Y = A B             dA = dY B^T          dB = A^T dY
    linear  y = x W^T + b       dx = dy W            dW = dy^T x        db = sum over rows of dy

Shapes follow PyTorch: A (..., n, k) @ B (..., k, m) -> (..., n, m), leading dims broadcast;
W is (out_features, in_features). The products run on BLAS (the fastest matrix code on the
machine) or, on a GPU, on minisora's GEMM (backends/gemm.py), which adds linear's bias as it
writes y; their backward is written out here, by hand, as two more products (the one for dW
also summing dy over rows: db).
"""
import numpy as np

from .arithmetic import reference_sum_to
from .particle import Particle, describe
from .reductions import sum_over, sum_to_shape


class Matmul(Particle):
    name = "matmul"
    formula, gradient = "Y = A @ B", "dA = dY @ B^T, dB = A^T @ dY"

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
            cls.fail(f"inner sizes differ: {describe(a)} @ {describe(b)} ({a2.shape[-1]} != {b2.shape[-2]})")
        try:
            batch = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
        except ValueError:
            cls.fail(f"batch dims of {describe(a)} and {describe(b)} cannot be broadcast together")
        y = backend.matmul(a2, b2)
        ctx.save(a2, b2)
        ctx.shapes, ctx.product_shape = (a.shape, b.shape), tuple(batch) + (a2.shape[-2], b2.shape[-1])
        if b.ndim == 1:
            y = backend.reshape(y, y.shape[:-1])
        if a.ndim == 1:
            y = backend.reshape(y, y.shape[:-2] + y.shape[-1:])
        return y

    @staticmethod
    def backward(ctx, grad_y):
        a2, b2 = ctx.saved
        backend = ctx.backend
        grad = backend.reshape(backend.astype(grad_y, a2.dtype), ctx.product_shape)
        need_a, need_b = ctx.needs_input_grad
        grads = []
        for needed, operand, product in (
            (need_a, a2, lambda: backend.matmul(grad, transposed(backend, b2))),
            (need_b, b2, lambda: backend.matmul(transposed(backend, a2), grad)),
        ):
            grads.append(sum_to_shape(ctx, product(), operand.shape) if needed else None)
        shape_a, shape_b = ctx.shapes
        return (
            None if grads[0] is None else backend.reshape(grads[0], shape_a),
            None if grads[1] is None else backend.reshape(grads[1], shape_b),
        )

    reference = staticmethod(np.matmul)

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
        rows = backend.reshape(backend.contiguous(x), (-1, x.shape[-1]))
        y = backend.matmul(rows, backend.permute(weight, (1, 0)), bias)   # the bias added as y is written
        ctx.save(rows, weight)
        ctx.shape = x.shape
        return backend.reshape(y, x.shape[:-1] + (weight.shape[0],))

    @staticmethod
    def backward(ctx, grad_y):
        rows, weight = ctx.saved
        backend = ctx.backend
        grad = backend.contiguous(backend.reshape(backend.astype(grad_y, rows.dtype), (-1, weight.shape[0])))
        needs = ctx.needs_input_grad
        grad_x = backend.reshape(backend.matmul(grad, weight), ctx.shape) if needs[0] else None
        needs_bias = len(needs) == 3 and needs[2]
        grad_weight = grad_bias = None
        if needs[1]:   # dW = dy^T x, which also sums dy^T's rows: db
            grad_bias = backend.empty((weight.shape[0],), rows.dtype) if needs_bias else None
            grad_weight = backend.matmul(backend.permute(grad, (1, 0)), rows, row_sums=grad_bias)
        elif needs_bias:
            grad_bias = sum_over(ctx, grad, (0,))
        return (grad_x, grad_weight) if len(needs) == 2 else (grad_x, grad_weight, grad_bias)

    @staticmethod
    def reference(x, weight, bias=None):
        return x @ weight.T + (0 if bias is None else bias)

    @staticmethod
    def reference_backward(x, weight, *bias_and_grad):
        grad_y = bias_and_grad[-1]
        rows = x.reshape(-1, x.shape[-1])
        grad = grad_y.reshape(-1, weight.shape[0])
        grads = ((grad @ weight).reshape(x.shape), grad.T @ rows)
        return grads + ((grad.sum(0),) if len(bias_and_grad) == 2 else ())
