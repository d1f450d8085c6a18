"""Arithmetic with broadcasting: add, sub, mul, div, pow of two tensors; where; comparisons.

    add   y = a + b        da = dy               db = dy
    sub   y = a - b        da = dy               db = -dy
    mul   y = a * b        da = dy * b           db = dy * a
    div   y = a / b        da = dy / b           db = -dy * y / b
    pow   y = a ^ b        da = dy * b a^(b-1)   db = dy * y ln(a)    (0 where a = 0)
    maximum  y = max(a, b) da = dy if a > b      db = dy if b > a     (dy/2 each at a tie)
    where y = a if c else b    da = dy if c else 0   db = dy if not c else 0
    gt, lt, ge, le, eq, ne     boolean results, no gradient

Broadcasting (NumPy rules): an input of shape (3, 1) meets one of shape (4,) as if both were
(3, 4). The kernels never copy the repeated input: they step through it with stride 0.
Backward then undoes the repeat: the gradient of a broadcast input is the sum of dy over the
dims along which it was repeated (`sum_to_shape`).
"""
import numpy as np

from .. import errors
from ..backends.cpu import advance
from ..backends.gpu import cuda, gpu_kernel, position
from ..backends.kernel import kernel, scalar
from .particle import FLOATS, Particle, describe
from .reductions import sum_to_shape


# The walk every binary particle's CPU loop shares ------------------------------------------
@scalar
def broadcast_walk(value, a, b, strides, shape, out):
    """out = value(a, b) element by element, a and b walked by their strides over the loop
    `shape` (backends.cpu.strided_operands): `value` is the particle's scalar function, handed
    in by name and inlined, so each particle's kernel compiles to its own tight loop."""
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
            for j in range(inner):
                out_row[j] = value(a_row[j], b_row[j])
        elif stride_a == 1 and stride_b == 0:
            a_row, b_value, out_row = a[pa:pa + inner], b[pb], out[start:start + inner]
            for j in range(inner):
                out_row[j] = value(a_row[j], b_value)
        else:
            for j in range(inner):
                out[start + j] = value(a[pa + j * stride_a], b[pb + j * stride_b])
        advance(index, shape, strides, position)


def broadcast_shape(particle, *arrays):
    if all(a.shape == arrays[0].shape for a in arrays):
        return tuple(arrays[0].shape)
    try:
        return tuple(np.broadcast_shapes(*(a.shape for a in arrays)))
    except ValueError:
        shapes = " and ".join(str(tuple(a.shape)) for a in arrays)
        particle.fail(f"shapes {shapes} cannot be broadcast together", errors.ShapeError)


def launch(ctx, kernel_, leading, operands, shape, dtype):
    """Run a strided kernel over `operands` broadcast to `shape`; returns the new output."""
    backend = ctx.backend
    out = backend.empty(shape, dtype)
    if out.size:
        storages, strides, loop_shape = backend.strided_operands(operands, shape)
        ctx.run(kernel_, *leading, *storages, strides, loop_shape, backend.flat(out))
    return out


def elementwise(ctx, kernel_, a, b):
    """kernel_'s y = f(a, b) with broadcasting, in the dtype of `a` (callers promote first)."""
    return launch(ctx, kernel_, (), (a, b), broadcast_shape(ctx.particle, a, b), a.dtype)


PROMOTION_RANK = {np.dtype(np.bool_): 0, np.dtype(np.int64): 1, FLOATS[0]: 2, FLOATS[1]: 3}


def promote(particle, a, b, backend):
    """Both arrays in one dtype: float64 > float32 > int64 > bool, as PyTorch promotes."""
    rank = PROMOTION_RANK
    for array in (a, b):
        if array.dtype not in rank:
            particle.fail(f"unsupported dtype {describe(array)}; use float32, float64, int64 or bool", TypeError)
    dtype = a.dtype if rank[a.dtype] >= rank[b.dtype] else b.dtype
    return backend.astype(a, dtype), backend.astype(b, dtype)


def reference_sum_to(grad, shape):
    lead = grad.ndim - len(shape)
    grad = grad.sum(axis=tuple(range(lead)))
    return grad.sum(axis=tuple(d for d, n in enumerate(shape) if n == 1), keepdims=True).reshape(shape)


class Binary(Particle):
    """y = f(a, b), broadcast. A subclass gives `kernels = (its forward kernel, ...)`, its NumPy
    `reference` and `reference_gradients`, and `full_gradients`: da and db at y's full shape
    (sums over broadcast dims follow here)."""

    promote_to_float = False   # div: int / int is a float, as in PyTorch

    @classmethod
    def forward(cls, ctx, a, b):
        shapes = (a.shape, b.shape)
        a, b = promote(cls, a, b, ctx.backend)
        if cls.promote_to_float and a.dtype not in FLOATS:
            a, b = ctx.backend.astype(a, np.float32), ctx.backend.astype(b, np.float32)
        cls.check_operands(ctx.backend, a, b)
        y = elementwise(ctx, cls.kernels[0], a, b)
        ctx.shapes, ctx.dtypes = shapes, (a.dtype, b.dtype)
        ctx.save(a, b, y)
        return y

    @classmethod
    def check_operands(cls, backend, a, b):
        """Refuse operands whose result would be silently wrong (PowTensor: an integer to a negative power)."""

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


# Each particle below: its scalar math, its CPU kernel (the walk above with that math), its GPU
# kernel (a thread per output element finds each operand's element from the strides), its class.

# add ----------------------------------------------------------------------------------------
@scalar
def add_value(a, b):
    return a + b


@kernel
def add_kernel(a, b, strides, shape, out):
    broadcast_walk(add_value, a, b, strides, shape, out)


@gpu_kernel
def add_gpu(a, b, strides, shape, out):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = add_value(a[position(i, shape, strides, 0)], b[position(i, shape, strides, 1)])


class Add(Binary):
    name = "add"
    formula, gradient = "y = a + b", "da = dy, db = dy"
    kernels = (add_kernel.on_gpu(add_gpu),)
    reference = staticmethod(np.add)
    reference_gradients = staticmethod(lambda a, b, y, g: (g, g))

    @staticmethod
    def full_gradients(ctx, a, b, y, grad_y):
        return grad_y, grad_y


# sub ----------------------------------------------------------------------------------------
@scalar
def sub_value(a, b):
    return a - b


@kernel
def sub_kernel(a, b, strides, shape, out):
    broadcast_walk(sub_value, a, b, strides, shape, out)


@gpu_kernel
def sub_gpu(a, b, strides, shape, out):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = sub_value(a[position(i, shape, strides, 0)], b[position(i, shape, strides, 1)])


class Sub(Binary):
    name = "sub"
    formula, gradient = "y = a - b", "da = dy, db = -dy"
    kernels = (sub_kernel.on_gpu(sub_gpu),)
    reference = staticmethod(np.subtract)
    reference_gradients = staticmethod(lambda a, b, y, g: (g, -g))

    @staticmethod
    def full_gradients(ctx, a, b, y, grad_y):
        minus_one = ctx.backend.scalar(-1, grad_y.dtype)
        return grad_y, elementwise(ctx, mul_kernel, grad_y, minus_one)


# mul ----------------------------------------------------------------------------------------
@scalar
def mul_value(a, b):
    return a * b


@kernel
def mul_kernel(a, b, strides, shape, out):
    broadcast_walk(mul_value, a, b, strides, shape, out)


@gpu_kernel
def mul_gpu(a, b, strides, shape, out):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = mul_value(a[position(i, shape, strides, 0)], b[position(i, shape, strides, 1)])


class Mul(Binary):
    name = "mul"
    formula, gradient = "y = a * b", "da = dy * b, db = dy * a"
    kernels = (mul_kernel.on_gpu(mul_gpu),)
    reference = staticmethod(np.multiply)
    reference_gradients = staticmethod(lambda a, b, y, g: (g * b, g * a))

    @staticmethod
    def full_gradients(ctx, a, b, y, grad_y):
        return elementwise(ctx, mul_kernel, grad_y, b), elementwise(ctx, mul_kernel, grad_y, a)


# div: da = dy / b is div itself; db = -dy y / b = -(da) y, from da and y ----------------------
@scalar
def div_value(a, b):
    return a / b


@scalar
def div_grad_b_value(grad_a, y):
    return -(grad_a * y)


@kernel
def div_kernel(a, b, strides, shape, out):
    broadcast_walk(div_value, a, b, strides, shape, out)


@kernel
def div_grad_b_kernel(grad_a, y, strides, shape, out):
    broadcast_walk(div_grad_b_value, grad_a, y, strides, shape, out)


@gpu_kernel
def div_gpu(a, b, strides, shape, out):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = div_value(a[position(i, shape, strides, 0)], b[position(i, shape, strides, 1)])


@gpu_kernel
def div_grad_b_gpu(grad_a, y, strides, shape, out):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = div_grad_b_value(grad_a[position(i, shape, strides, 0)], y[position(i, shape, strides, 1)])


class Div(Binary):
    name, promote_to_float = "div", True
    formula, gradient = "y = a / b", "da = dy / b, db = -dy * y / b"
    kernels = (div_kernel.on_gpu(div_gpu), div_grad_b_kernel.on_gpu(div_grad_b_gpu))
    reference = staticmethod(np.divide)
    reference_gradients = staticmethod(lambda a, b, y, g: (g / b, -g * y / b))

    @staticmethod
    def full_gradients(ctx, a, b, y, grad_y):
        grad_a = elementwise(ctx, div_kernel, grad_y, b)
        return grad_a, elementwise(ctx, div_grad_b_kernel, grad_a, y)


# pow: the two slopes, each its own loop, then multiplied by dy -------------------------------
@scalar
def pow_value(a, b):
    return a**b


@scalar
def pow_base_slope(a, b):
    """d(a^b)/da = b a^(b-1); 0 where b = 0 (a^0 = 1 everywhere), also at a = 0, as PyTorch."""
    if b == 0:
        return 0 * a
    return b * a ** (b - 1)


@scalar
def pow_exponent_slope(a, y):
    """d(a^b)/db = a^b ln a, from y = a^b; taken as 0 at a = 0 (where ln a is -inf)."""
    if a == 0:
        return 0 * a
    return y * np.log(a)


@kernel
def pow_kernel(a, b, strides, shape, out):
    broadcast_walk(pow_value, a, b, strides, shape, out)


@kernel
def pow_base_slope_kernel(a, b, strides, shape, out):
    broadcast_walk(pow_base_slope, a, b, strides, shape, out)


@kernel
def pow_exponent_slope_kernel(a, y, strides, shape, out):
    broadcast_walk(pow_exponent_slope, a, y, strides, shape, out)


@gpu_kernel
def pow_gpu(a, b, strides, shape, out):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = pow_value(a[position(i, shape, strides, 0)], b[position(i, shape, strides, 1)])


@gpu_kernel
def pow_base_slope_gpu(a, b, strides, shape, out):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = pow_base_slope(a[position(i, shape, strides, 0)], b[position(i, shape, strides, 1)])


@gpu_kernel
def pow_exponent_slope_gpu(a, y, strides, shape, out):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = pow_exponent_slope(a[position(i, shape, strides, 0)], y[position(i, shape, strides, 1)])


class PowTensor(Binary):
    name = "pow_tensor"
    formula, gradient = "y = a ^ b", "da = dy * b a^(b-1), db = dy * y ln(a)"
    kernels = (pow_kernel.on_gpu(pow_gpu), pow_base_slope_kernel.on_gpu(pow_base_slope_gpu),
               pow_exponent_slope_kernel.on_gpu(pow_exponent_slope_gpu))

    @classmethod
    def check_operands(cls, backend, a, b):
        # an integer to a negative integer power is a fraction, which int64 rounds to 0 silently
        if a.dtype == np.int64 and b.size and backend.to_numpy(b).min() < 0:
            cls.fail("integers to negative integer powers are not allowed (PyTorch's rule); "
                     "make the base a float tensor")
    reference = staticmethod(np.power)
    reference_gradients = staticmethod(
        lambda a, b, y, g: (g * np.where(b == 0, 0, b * a ** (b - 1)), g * np.where(a == 0, 0, y * np.log(np.where(a == 0, 1, a))))
    )

    @staticmethod
    def full_gradients(ctx, a, b, y, grad_y):
        slope_a = elementwise(ctx, pow_base_slope_kernel, a, b)
        slope_b = elementwise(ctx, pow_exponent_slope_kernel, a, y)
        return elementwise(ctx, mul_kernel, grad_y, slope_a), elementwise(ctx, mul_kernel, grad_y, slope_b)


# maximum: each side's share of dy is a slope of its own loop, as pow's ------------------------
@scalar
def maximum_value(a, b):
    """The larger of a and b; a NaN on either side wins, as in PyTorch."""
    if a != a or a > b:
        return a
    return b


@scalar
def maximum_share(a, b):
    """d max(a, b)/da: 1 where a is larger, 1/2 at a tie (PyTorch splits it), 0 where b is
    larger; 1 where either is NaN (the NaN then reaches the gradient)."""
    if a > b:
        return 1.0
    if a == b:
        return 0.5
    if a < b:
        return 0.0
    return 1.0


@kernel
def maximum_kernel(a, b, strides, shape, out):
    broadcast_walk(maximum_value, a, b, strides, shape, out)


@kernel
def maximum_share_kernel(a, b, strides, shape, out):
    broadcast_walk(maximum_share, a, b, strides, shape, out)


@gpu_kernel
def maximum_gpu(a, b, strides, shape, out):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = maximum_value(a[position(i, shape, strides, 0)], b[position(i, shape, strides, 1)])


@gpu_kernel
def maximum_share_gpu(a, b, strides, shape, out):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = maximum_share(a[position(i, shape, strides, 0)], b[position(i, shape, strides, 1)])


def maximum_share_reference(a, b):
    return np.where(a > b, 1.0, np.where(a == b, 0.5, np.where(a < b, 0.0, 1.0)))


class Maximum(Binary):
    name, has_kinks = "maximum", True
    formula, gradient = "y = max(a, b) elementwise", "da = dy where a > b, dy/2 at ties; db likewise"
    kernels = (maximum_kernel.on_gpu(maximum_gpu), maximum_share_kernel.on_gpu(maximum_share_gpu))
    reference = staticmethod(lambda a, b: np.where(np.isnan(a) | (a > b), a, b))
    reference_gradients = staticmethod(lambda a, b, y, g: (g * maximum_share_reference(a, b),
                                                           g * maximum_share_reference(b, a)))

    @staticmethod
    def full_gradients(ctx, a, b, y, grad_y):
        share_a = elementwise(ctx, maximum_share_kernel, a, b)
        share_b = elementwise(ctx, maximum_share_kernel, b, a)
        return elementwise(ctx, mul_kernel, grad_y, share_a), elementwise(ctx, mul_kernel, grad_y, share_b)


# comparisons: a boolean result, no gradient; one kernel each, the same walk ------------------
@scalar
def greater(a, b):
    return a > b


@scalar
def less(a, b):
    return a < b


@scalar
def greater_equal(a, b):
    return a >= b


@scalar
def less_equal(a, b):
    return a <= b


@scalar
def equal(a, b):
    return a == b


@scalar
def not_equal(a, b):
    return a != b


@kernel
def gt_kernel(a, b, strides, shape, out):
    broadcast_walk(greater, a, b, strides, shape, out)


@kernel
def lt_kernel(a, b, strides, shape, out):
    broadcast_walk(less, a, b, strides, shape, out)


@kernel
def ge_kernel(a, b, strides, shape, out):
    broadcast_walk(greater_equal, a, b, strides, shape, out)


@kernel
def le_kernel(a, b, strides, shape, out):
    broadcast_walk(less_equal, a, b, strides, shape, out)


@kernel
def eq_kernel(a, b, strides, shape, out):
    broadcast_walk(equal, a, b, strides, shape, out)


@kernel
def ne_kernel(a, b, strides, shape, out):
    broadcast_walk(not_equal, a, b, strides, shape, out)


@gpu_kernel
def gt_gpu(a, b, strides, shape, out):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = greater(a[position(i, shape, strides, 0)], b[position(i, shape, strides, 1)])


@gpu_kernel
def lt_gpu(a, b, strides, shape, out):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = less(a[position(i, shape, strides, 0)], b[position(i, shape, strides, 1)])


@gpu_kernel
def ge_gpu(a, b, strides, shape, out):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = greater_equal(a[position(i, shape, strides, 0)], b[position(i, shape, strides, 1)])


@gpu_kernel
def le_gpu(a, b, strides, shape, out):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = less_equal(a[position(i, shape, strides, 0)], b[position(i, shape, strides, 1)])


@gpu_kernel
def eq_gpu(a, b, strides, shape, out):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = equal(a[position(i, shape, strides, 0)], b[position(i, shape, strides, 1)])


@gpu_kernel
def ne_gpu(a, b, strides, shape, out):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = not_equal(a[position(i, shape, strides, 0)], b[position(i, shape, strides, 1)])


class Compare(Particle):
    """a > b (and friends): a boolean mask, no gradient; `op` names the comparison and its kernel."""

    name = "compare"
    formula, gradient = "y = a > b (or <, >=, <=, ==, !=)", "none: the result is boolean"
    kernel_of = {"gt": gt_kernel.on_gpu(gt_gpu), "lt": lt_kernel.on_gpu(lt_gpu), "ge": ge_kernel.on_gpu(ge_gpu),
                 "le": le_kernel.on_gpu(le_gpu), "eq": eq_kernel.on_gpu(eq_gpu), "ne": ne_kernel.on_gpu(ne_gpu)}
    kernels = tuple(kernel_of.values())

    @classmethod
    def forward(cls, ctx, a, b, op="gt"):
        if op not in cls.kernel_of:
            cls.fail(f"unknown comparison {op!r}; expected one of {', '.join(cls.kernel_of)}")
        a, b = promote(cls, a, b, ctx.backend)
        shape = broadcast_shape(cls, a, b)
        return launch(ctx, cls.kernel_of[op], (), (a, b), shape, np.bool_)

    @staticmethod
    def backward(ctx, grad_y):
        return None, None

    @staticmethod
    def reference(a, b, op="gt"):
        return getattr(np, {"gt": "greater", "lt": "less", "ge": "greater_equal",
                            "le": "less_equal", "eq": "equal", "ne": "not_equal"}[op])(a, b)


# where: three operands, so a walk of its own -------------------------------------------------
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


@gpu_kernel
def where_gpu(condition, a, b, strides, shape, out):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        if condition[position(i, shape, strides, 0)]:
            out[i] = a[position(i, shape, strides, 1)]
        else:
            out[i] = b[position(i, shape, strides, 2)]


class Where(Particle):
    name = "where"
    formula, gradient = "y = a if condition else b", "da = dy where condition, db = dy elsewhere"
    kernels = (where_kernel.on_gpu(where_gpu),)

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
