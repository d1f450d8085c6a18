"""Arithmetic with broadcasting: add, sub, mul, div, pow of two tensors; where; comparisons.

    add   y = a + b        da = dy               db = dy
    sub   y = a - b        da = dy               db = -dy
    mul   y = a * b        da = dy * b           db = dy * a
    div   y = a / b        da = dy / b           db = -dy * y / b
    pow   y = a ^ b        da = dy * b a^(b-1)   db = dy * y ln(a)    (0 where a = 0)
    where y = a if c else b    da = dy if c else 0   db = dy if not c else 0
    gt, lt, ge, le, eq, ne     boolean results, no gradient

Broadcasting (NumPy rules): an input of shape (3, 1) meets one of shape (4,) as if both were
(3, 4). The kernels never copy the repeated input: they step through it with stride 0.
Backward then undoes the repeat: the gradient of a broadcast input is the sum of dy over the
dims along which it was repeated (`sum_to_shape`).
"""
import numpy as np

from ..backends.cpu import advance
from ..backends.gpu import cuda, gpu_kernel, launch_elementwise, position
from ..backends.kernel import kernel, scalar
from .particle import FLOATS, Particle, describe
from .reductions import sum_to_shape

(OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_POW, OP_NEG_MUL, OP_POW_BASE_SLOPE, OP_POW_EXPONENT_SLOPE,
 OP_GT, OP_LT, OP_GE, OP_LE, OP_EQ, OP_NE) = range(14)


# 1. scalar math ----------------------------------------------------------------------------
@scalar
def binary_value(op, a, b):
    if op == OP_ADD:
        return a + b
    if op == OP_SUB:
        return a - b
    if op == OP_MUL:
        return a * b
    if op == OP_DIV:
        return a / b
    if op == OP_POW:
        return a**b
    if op == OP_NEG_MUL:
        return -(a * b)
    if op == OP_POW_BASE_SLOPE:  # d(a^b)/da
        return b * a ** (b - 1)
    # OP_POW_EXPONENT_SLOPE, called with (y, a): d(a^b)/db = a^b ln(a), taken as 0 at a = 0
    if b == 0:
        return 0 * a
    return a * np.log(b)


@scalar
def compare_value(op, a, b):
    if op == OP_GT:
        return a > b
    if op == OP_LT:
        return a < b
    if op == OP_GE:
        return a >= b
    if op == OP_LE:
        return a <= b
    if op == OP_EQ:
        return a == b
    return a != b


# 2. kernels: walk the broadcast operands with strides (see backends.cpu.strided_operands) ---
@kernel
def binary_kernel(op, a, b, strides, shape, out):
    inner = shape[shape.size - 1]
    stride_a, stride_b = strides[0, shape.size - 1], strides[1, shape.size - 1]
    index = np.zeros(shape.size, np.int64)
    position = np.zeros(2, np.int64)
    for start in range(0, out.size, inner):
        pa, pb = position[0], position[1]
        # The common cases get loops the compiler turns into vector instructions. They index
        # slices by the loop counter alone: an index like a[pa + j] might be negative as far as
        # Numba knows, and the check for that on every element blocks vectorizing (8x slower).
        if stride_a == 1 and stride_b == 1:
            a_row, b_row, out_row = a[pa:pa + inner], b[pb:pb + inner], out[start:start + inner]
            if op == OP_ADD:   # the residual connections' sum, spelled out so it needs no op test per element
                for j in range(inner):
                    out_row[j] = a_row[j] + b_row[j]
            else:
                for j in range(inner):
                    out_row[j] = binary_value(op, a_row[j], b_row[j])
        elif stride_a == 1 and stride_b == 0:
            a_row, b_value, out_row = a[pa:pa + inner], b[pb], out[start:start + inner]
            for j in range(inner):
                out_row[j] = binary_value(op, a_row[j], b_value)
        else:
            for j in range(inner):
                out[start + j] = binary_value(op, a[pa + j * stride_a], b[pb + j * stride_b])
        advance(index, shape, strides, position)


@kernel
def compare_kernel(op, a, b, strides, shape, out):
    inner = shape[shape.size - 1]
    stride_a, stride_b = strides[0, shape.size - 1], strides[1, shape.size - 1]
    index = np.zeros(shape.size, np.int64)
    position = np.zeros(2, np.int64)
    for start in range(0, out.size, inner):
        for j in range(inner):
            out[start + j] = compare_value(op, a[position[0] + j * stride_a], b[position[1] + j * stride_b])
        advance(index, shape, strides, position)


@kernel
def where_kernel(condition, a, b, strides, shape, out):
    last = shape.size - 1
    inner = shape[last]
    index = np.zeros(shape.size, np.int64)
    position = np.zeros(3, np.int64)
    for start in range(0, out.size, inner):
        for j in range(inner):
            if condition[position[0] + j * strides[0, last]]:
                out[start + j] = a[position[1] + j * strides[1, last]]
            else:
                out[start + j] = b[position[2] + j * strides[2, last]]
        advance(index, shape, strides, position)


# 2b. GPU twins: one thread per output element finds each operand's element from the strides
@gpu_kernel
def binary_gpu(op, a, b, strides, shape, out):
    start, step = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, out.size, step):
        out[i] = binary_value(op, a[position(i, shape, strides, 0)], b[position(i, shape, strides, 1)])


@gpu_kernel
def compare_gpu(op, a, b, strides, shape, out):
    start, step = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, out.size, step):
        out[i] = compare_value(op, a[position(i, shape, strides, 0)], b[position(i, shape, strides, 1)])


@gpu_kernel
def where_gpu(condition, a, b, strides, shape, out):
    start, step = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, out.size, step):
        if condition[position(i, shape, strides, 0)]:
            out[i] = a[position(i, shape, strides, 1)]
        else:
            out[i] = b[position(i, shape, strides, 2)]


@binary_kernel.gpu
def launch_binary(op, a, b, strides, shape, out):
    launch_elementwise(binary_gpu, out.size, op, a, b, strides, shape, out)


@compare_kernel.gpu
def launch_compare(op, a, b, strides, shape, out):
    launch_elementwise(compare_gpu, out.size, op, a, b, strides, shape, out)


@where_kernel.gpu
def launch_where(condition, a, b, strides, shape, out):
    launch_elementwise(where_gpu, out.size, condition, a, b, strides, shape, out)


def broadcast_shape(particle, *arrays):
    if all(a.shape == arrays[0].shape for a in arrays):
        return tuple(arrays[0].shape)
    try:
        return tuple(np.broadcast_shapes(*(a.shape for a in arrays)))
    except ValueError:
        shapes = " and ".join(str(tuple(a.shape)) for a in arrays)
        particle.fail(f"shapes {shapes} cannot be broadcast together")


def launch(ctx, kernel_, leading, operands, shape, dtype):
    """Run a strided kernel over `operands` broadcast to `shape`; returns the new output."""
    backend = ctx.backend
    out = backend.empty(shape, dtype)
    if out.size:
        storages, strides, loop_shape = backend.strided_operands(operands, shape)
        ctx.run(kernel_, *leading, *storages, strides, loop_shape, backend.flat(out))
    return out


def elementwise(ctx, op, a, b):
    """y = a (op) b with broadcasting, in the dtype of `a` (callers promote first)."""
    return launch(ctx, binary_kernel, (op,), (a, b), broadcast_shape(ctx.particle, a, b), a.dtype)


PROMOTION_RANK = {np.dtype(np.bool_): 0, np.dtype(np.int64): 1, FLOATS[0]: 2, FLOATS[1]: 3}


def promote(particle, a, b, backend):
    """Both arrays in one dtype: float64 > float32 > int64 > bool, as PyTorch promotes."""
    rank = PROMOTION_RANK
    for array in (a, b):
        if array.dtype not in rank:
            particle.fail(f"unsupported dtype {describe(array)}; use float32, float64, int64 or bool", TypeError)
    dtype = a.dtype if rank[a.dtype] >= rank[b.dtype] else b.dtype
    return backend.astype(a, dtype), backend.astype(b, dtype)


# 3. the particles --------------------------------------------------------------------------
class Binary(Particle):
    """y = a (op) b, broadcast; subclasses give the op code, the reference and the backward."""

    op = -1
    kernels = (binary_kernel,)

    @classmethod
    def forward(cls, ctx, a, b):
        shapes = (a.shape, b.shape)
        a, b = promote(cls, a, b, ctx.backend)
        if cls.op == OP_DIV and a.dtype not in FLOATS:
            a, b = ctx.backend.astype(a, np.float32), ctx.backend.astype(b, np.float32)
        y = elementwise(ctx, cls.op, a, b)
        ctx.shapes, ctx.dtypes = shapes, (a.dtype, b.dtype)
        ctx.save(a, b, y)
        return y

    @classmethod
    def backward(cls, ctx, grad_y):
        a, b, y = ctx.saved
        grad_a, grad_b = cls.full_gradients(ctx, a, b, y, ctx.backend.astype(grad_y, y.dtype))
        shape_a, shape_b = ctx.shapes
        need_a, need_b = ctx.needs_input_grad
        return (
            sum_to_shape(ctx, grad_a, shape_a) if need_a else None,
            sum_to_shape(ctx, grad_b, shape_b) if need_b else None,
        )

    @classmethod
    def reference_backward(cls, a, b, grad_y):
        grad_a, grad_b = cls.reference_gradients(a, b, cls.reference(a, b), grad_y)
        return reference_sum_to(grad_a, a.shape), reference_sum_to(grad_b, b.shape)


def reference_sum_to(grad, shape):
    lead = grad.ndim - len(shape)
    grad = grad.sum(axis=tuple(range(lead)))
    return grad.sum(axis=tuple(d for d, n in enumerate(shape) if n == 1), keepdims=True).reshape(shape)


class Add(Binary):
    name, op = "add", OP_ADD
    formula, gradient = "y = a + b", "da = dy, db = dy"
    reference = staticmethod(np.add)
    reference_gradients = staticmethod(lambda a, b, y, g: (g, g))

    @staticmethod
    def full_gradients(ctx, a, b, y, grad_y):
        return grad_y, grad_y


class Sub(Binary):
    name, op = "sub", OP_SUB
    formula, gradient = "y = a - b", "da = dy, db = -dy"
    reference = staticmethod(np.subtract)
    reference_gradients = staticmethod(lambda a, b, y, g: (g, -g))

    @staticmethod
    def full_gradients(ctx, a, b, y, grad_y):
        minus_one = ctx.backend.scalar(-1, grad_y.dtype)
        return grad_y, elementwise(ctx, OP_MUL, grad_y, minus_one)


class Mul(Binary):
    name, op = "mul", OP_MUL
    formula, gradient = "y = a * b", "da = dy * b, db = dy * a"
    reference = staticmethod(np.multiply)
    reference_gradients = staticmethod(lambda a, b, y, g: (g * b, g * a))

    @staticmethod
    def full_gradients(ctx, a, b, y, grad_y):
        return elementwise(ctx, OP_MUL, grad_y, b), elementwise(ctx, OP_MUL, grad_y, a)


class Div(Binary):
    name, op = "div", OP_DIV
    formula, gradient = "y = a / b", "da = dy / b, db = -dy * y / b"
    reference = staticmethod(np.divide)
    reference_gradients = staticmethod(lambda a, b, y, g: (g / b, -g * y / b))

    @staticmethod
    def full_gradients(ctx, a, b, y, grad_y):
        grad_a = elementwise(ctx, OP_DIV, grad_y, b)
        return grad_a, elementwise(ctx, OP_NEG_MUL, grad_a, y)


class PowTensor(Binary):
    name, op = "pow_tensor", OP_POW
    formula, gradient = "y = a ^ b", "da = dy * b a^(b-1), db = dy * y ln(a)"
    reference = staticmethod(np.power)
    reference_gradients = staticmethod(
        lambda a, b, y, g: (g * b * a ** (b - 1), g * np.where(a == 0, 0, y * np.log(np.where(a == 0, 1, a))))
    )

    @staticmethod
    def full_gradients(ctx, a, b, y, grad_y):
        slope_a = elementwise(ctx, OP_POW_BASE_SLOPE, a, b)
        slope_b = elementwise(ctx, OP_POW_EXPONENT_SLOPE, y, a)
        return elementwise(ctx, OP_MUL, grad_y, slope_a), elementwise(ctx, OP_MUL, grad_y, slope_b)


class Compare(Particle):
    """a > b (and friends): a boolean mask, no gradient; `op` picks the comparison."""

    name = "compare"
    formula, gradient = "y = a > b (or <, >=, <=, ==, !=)", "none: the result is boolean"
    kernels = (compare_kernel,)
    ops = {"gt": OP_GT, "lt": OP_LT, "ge": OP_GE, "le": OP_LE, "eq": OP_EQ, "ne": OP_NE}

    @classmethod
    def forward(cls, ctx, a, b, op="gt"):
        a, b = promote(cls, a, b, ctx.backend)
        shape = broadcast_shape(cls, a, b)
        return launch(ctx, compare_kernel, (cls.ops[op],), (a, b), shape, np.bool_)

    @staticmethod
    def backward(ctx, grad_y):
        return None, None

    @staticmethod
    def reference(a, b, op="gt"):
        return getattr(np, {"gt": "greater", "lt": "less", "ge": "greater_equal",
                            "le": "less_equal", "eq": "equal", "ne": "not_equal"}[op])(a, b)


class Where(Particle):
    name = "where"
    formula, gradient = "y = a if condition else b", "da = dy where condition, db = dy elsewhere"
    kernels = (where_kernel,)

    @classmethod
    def forward(cls, ctx, condition, a, b):
        if condition.dtype != np.bool_:
            cls.fail(f"condition must be a bool tensor, got {describe(condition)}", TypeError)
        a, b = promote(cls, a, b, ctx.backend)
        shape = broadcast_shape(cls, condition, a, b)
        ctx.save(condition)
        ctx.shapes, ctx.shape = (a.shape, b.shape), shape
        return launch(ctx, where_kernel, (), (condition, a, b), shape, a.dtype)

    @staticmethod
    def backward(ctx, grad_y):
        (condition,) = ctx.saved
        zero = ctx.backend.scalar(0, grad_y.dtype)
        _, need_a, need_b = ctx.needs_input_grad
        grads = [None]
        for needed, (when_true, when_false), shape in zip(
            (need_a, need_b), ((grad_y, zero), (zero, grad_y)), ctx.shapes
        ):
            if needed:
                full = launch(ctx, where_kernel, (), (condition, when_true, when_false), ctx.shape, grad_y.dtype)
                grads.append(sum_to_shape(ctx, full, shape))
            else:
                grads.append(None)
        return tuple(grads)

    @staticmethod
    def reference(condition, a, b):
        return np.where(condition, a, b)

    @staticmethod
    def reference_backward(condition, a, b, grad_y):
        zero = np.zeros_like(grad_y)
        return (
            None,
            reference_sum_to(np.where(condition, grad_y, zero), a.shape),
            reference_sum_to(np.where(condition, zero, grad_y), b.shape),
        )
