"""Dim arguments: PyTorch's `dim`/`keepdim` or NumPy's `axis`/`keepdims`, checked as PyTorch checks them."""
import numpy as np

from . import errors


def dim_alias(dim, keepdim, axis, keepdims):
    """(dim, keepdim) from PyTorch's names or NumPy's (axis, keepdims), for a dim that defaults to None."""
    dim = dim_or_axis(dim, axis, None)
    if keepdims is not None:
        keepdim = keepdims
    return (tuple(dim) if isinstance(dim, list) else dim), bool(keepdim)


def checked_dim(op, dim, ndim):
    """`dim` counted from 0 (a negative dim counts from the end), or an error naming `op`:
    PyTorch's rule, dims in [-ndim, ndim), a 0-d tensor taking 0 and -1."""
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise errors.TypeError(f"{op}: dim must be an integer, got {dim!r}")
    size = max(ndim, 1)
    if not -size <= dim < size:
        raise errors.IndexError(f"{op}: dim {dim} is out of range for a tensor of {ndim} dims "
                                f"(expected a dim in [{-size}, {size - 1}])")
    return int(dim) % size


def dim_or_axis(dim, axis, default):
    """`dim`, or NumPy's name for it, `axis`, where that is given instead (not both)."""
    if axis is None:
        return dim
    if dim != default:
        raise errors.TypeError(f"give dim or axis, not both (dim={dim}, axis={axis})")
    return axis
