"""Walking broadcast operands by strides: the loop shape both backends hand to their kernels."""


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
