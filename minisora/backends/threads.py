"""Threads on the CPU: minisora's parallel kernels, and the BLAS products they call.

A parallel kernel (`@kernel(parallel=True)`, or a kernel's faster form) runs its `prange` loop on
Numba's threads, one per core. When each of those threads calls a BLAS product (blas.gemm or
np.dot inside the kernel: SciPy's OpenBLAS), that product must run on the calling thread alone:
left at its default, OpenBLAS starts threads of its own for every product, and the two kinds of
threads fight over the same cores (measured on 2 cores: 10-15x slower than one thread doing all
the work).

So around each call of a parallel kernel, and only there, every BLAS library in the process is
set to one thread (threadpoolctl finds them) and set back after: NumPy's own products outside
the kernels keep all their threads, and `import minisora` changes nothing. The libraries'
own set/get calls cost about a microsecond (threadpoolctl's `limit` block, nine).
"""
import functools

_blas = None
parallel_kernel_ran = False   # whether a parallel kernel has run in this process (ms.config.cpu_products="auto")


def blas_libraries():
    """threadpoolctl's controller of each BLAS library loaded, SciPy's among them (loaded first:
    Numba's products call the ones that scipy.linalg.cython_blas exports)."""
    global _blas
    if _blas is None:
        import scipy.linalg.cython_blas  # noqa: F401  (loads the library Numba's products call)
        from threadpoolctl import ThreadpoolController

        _blas = ThreadpoolController().select(user_api="blas").lib_controllers
    return _blas


def one_blas_thread_each(compiled):
    """`compiled` (a parallel kernel), run with every BLAS library at one thread."""
    @functools.wraps(compiled)
    def run(*arguments):
        global parallel_kernel_ran
        parallel_kernel_ran = True
        libraries = blas_libraries()
        before = [library.get_num_threads() for library in libraries]
        for library, threads in zip(libraries, before):
            if threads != 1:
                library.set_num_threads(1)
        try:
            return compiled(*arguments)
        finally:
            for library, threads in zip(libraries, before):
                if threads != 1:
                    library.set_num_threads(threads)
    run.compiled = compiled
    return run
