"""BLAS's matrix product, called from inside CPU kernels on views of any matrix layout BLAS reads.

    gemm(a, b, c, beta):    c = a @ b + beta c      a (m, k), b (k, n), c (m, n), 2-D views

Inside a compiled kernel this is one call of BLAS's sgemm/dgemm (through the binding Numba's own
np.dot uses: SciPy's BLAS) on the views as they lie in memory: a head of packed q, k, v
memory, a block of its rows, a transposed view, the rows of a bigger output. No copy, no
temporary, and beta = 1 adds the product into c (dK += dS^T Q). np.dot inside a kernel takes
only packed arrays and always returns a new one. Called from Python (or with the JIT off) it
is the same arithmetic in NumPy.

What BLAS can read: a matrix whose rows lie one after another with unit steps along each
(row stride >= its width: "row-major", ld = the row stride) or whose columns do ("column-major",
the transposed view of a row-major one). `readable_by_blas` says whether a view is one of
those; callers copy any other (a broadcast or a doubly strided view) before the kernel runs:
compiled code cannot check, and BLAS would read the wrong numbers. c must be row-major.

BLAS is column-major; a row-major c (m, n) is the column-major c^T (n, m), so the call made is
c^T = b^T a^T: the operands swap places, and each is passed "as is" ('N') when row-major and
transposed ('T') when column-major.
"""
import numpy as np
from numba import types
from numba.extending import overload, register_jitable
from numba.np.linalg import _BLAS


def gemm(a, b, c, beta):
    """c = a @ b + beta c, in place (NumPy's arithmetic; compiled kernels call BLAS directly)."""
    c[...] = a @ b + beta * c if beta else a @ b


@overload(gemm)
def gemm_compiled(a, b, c, beta):
    blas_gemm = _BLAS().numba_xxgemm(a.dtype)   # int numba_xxgemm(kind, transa, transb, m, n, k, ...)
    kind = ord("s" if a.dtype == types.float32 else "d")
    dtype = np.float32 if a.dtype == types.float32 else np.float64

    def compiled(a, b, c, beta):
        rows, inner = a.shape
        columns = b.shape[1]
        if rows == 0 or columns == 0:
            return
        if inner == 0:   # an empty sum: c = beta c
            for i in range(rows):
                for j in range(columns):
                    c[i, j] = beta * c[i, j] if beta else 0.0
            return
        size = a.itemsize
        if row_major(rows, inner, a.strides[0], a.strides[1], size):
            a_order, a_step = ord("N"), max(a.strides[0] // size, inner, 1)
        else:
            a_order, a_step = ord("T"), max(a.strides[1] // size, rows, 1)
        if row_major(inner, columns, b.strides[0], b.strides[1], size):
            b_order, b_step = ord("N"), max(b.strides[0] // size, columns, 1)
        else:
            b_order, b_step = ord("T"), max(b.strides[1] // size, inner, 1)
        c_step = max(c.strides[0] // size, columns, 1)
        alpha_value, beta_value = np.ones(1, dtype), np.full(1, beta, dtype)
        blas_gemm(kind, b_order, a_order, columns, rows, inner, alpha_value.ctypes, b.ctypes, b_step,
                  a.ctypes, a_step, beta_value.ctypes, c.ctypes, c_step)
    return compiled


@register_jitable
def row_major(rows, columns, row_step, column_step, size):
    """Whether a (rows, columns) matrix with these strides (bytes) is row-major as BLAS reads it."""
    return (column_step == size or columns == 1) and (row_step >= columns * size or rows == 1)


def readable_by_blas(x):
    """Whether gemm can read every matrix of x (..., rows, columns) where it lies (see above)."""
    if x.ndim < 2 or x.size == 0:
        return True
    rows, columns = x.shape[-2:]
    row_step, column_step = x.strides[-2:]
    return (row_major(rows, columns, row_step, column_step, x.itemsize)
            or row_major(columns, rows, column_step, row_step, x.itemsize))   # column-major: x^T row-major


def blas_ready(x):
    """x itself when gemm can read it, else a packed copy."""
    return x if readable_by_blas(x) else np.ascontiguousarray(x)
