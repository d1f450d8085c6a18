"""Walking broadcast operands by strides: the loop shape both backends hand to their kernels
(and the one shape check their matrix products share)."""
import math

from .. import errors


def merged_leading(shape, keep):
    """`shape` with every dim before its last `keep` merged into one: (2, 3, 4, 5), 2 -> (6, 4, 5).
    The reshape target written out, because -1 cannot be worked out when a size is 0."""
    shape = tuple(shape)
    return (math.prod(shape[:len(shape) - keep]),) + shape[len(shape) - keep:]


def broadcast_strides(shape, strides, target):
    """Element strides of an array (shape, strides) broadcast to `target`: 0 along repeated dims."""
    result = [0] * len(target)
    offset = len(target) - len(shape)
    for d, (n, s) in enumerate(zip(shape, strides)):
        if n != 1:
            result[offset + d] = s
    return result


def merged_loop(shape, element_strides):
    """The fewest loop dims that walk `shape`, and each operand's element strides along them.

    Dims of size 1 are dropped, and a dim merges into the one before it wherever every operand
    steps through both as one (a contiguous same-shape case becomes a single flat loop).
    Returns (loop_shape, loop_strides, spans): spans[k] is how many elements of operand k's
    memory the loop reaches, from its first element on.
    """
    loop_shape, loop_strides = [], [[] for _ in element_strides]
    for d, size in enumerate(shape):
        if size == 1:
            continue
        if loop_shape and all(st[-1] == es[d] * size for st, es in zip(loop_strides, element_strides)):
            loop_shape[-1] *= size
            for st, es in zip(loop_strides, element_strides):
                st[-1] = es[d]
            continue
        loop_shape.append(size)
        for st, es in zip(loop_strides, element_strides):
            st.append(es[d])
    if not loop_shape:
        loop_shape = [1]
        loop_strides = [[0] for _ in element_strides]
    spans = [1 + sum((n - 1) * s for n, s in zip(loop_shape, strides)) for strides in loop_strides]
    return loop_shape, loop_strides, spans


def reshaped_strides(shape, strides, new_shape):
    """Element strides that show an array (shape, strides) as new_shape without moving an
    element, or None when only a packed copy can (NumPy's rule for when reshape is a view).

    Old dims that step through memory as one (a stride is the next one's times its length)
    form runs; each new dim, innermost first, must lie inside one run."""
    runs = []   # (length, stride of its innermost dim), outermost first
    for n, s in zip(shape, strides):
        if n == 1:
            continue
        if runs and runs[-1][1] == s * n:
            runs[-1] = (runs[-1][0] * n, s)
        else:
            runs.append((n, s))
    result, remaining, step = [], 1, 1
    for n in reversed(new_shape):
        if n != 1:
            if remaining == 1:
                if not runs:
                    return None
                remaining, step = runs.pop()
            if remaining % n:
                return None
            remaining //= n
        result.append(step)
        step *= n
    return tuple(reversed(result)) if remaining == 1 and not runs else None


def side_by_side(arrays, axis, start):
    """True when the arrays, joined along `axis`, already lie side by side in one memory: the
    same memory, dtype and strides, each starting where the one before ends (`start(array)`:
    where its first element is, in the unit of its strides). Joining them is then a view."""
    first = arrays[0]
    position = start(first)
    for array in arrays:
        if (array.base is None or array.base is not first.base or array.dtype != first.dtype
                or array.strides != first.strides or start(array) != position or not array.size
                or array.shape[:axis] + array.shape[axis + 1:] != first.shape[:axis] + first.shape[axis + 1:]):
            return False
        position += array.shape[axis] * array.strides[axis]
    return True


def joined_shape(arrays, axis):
    """The shape of the arrays joined along `axis`."""
    shape = arrays[0].shape
    return shape[:axis] + (sum(a.shape[axis] for a in arrays),) + shape[axis + 1:]


def check_row_sums(a, row_sums, packed=False):
    """matmul's row_sums (linear's bias gradient): one matrix A and one sum per row of it, in
    packed memory where the backend's kernel needs that."""
    if a.ndim != 2 or row_sums.shape != a.shape[:1] or (packed and not row_sums.is_contiguous):
        raise errors.ValueError(f"matmul: row_sums {row_sums.shape} needs one matrix A and one {'packed ' if packed else ''}"
                                f"sum per row, A is {a.shape}")
