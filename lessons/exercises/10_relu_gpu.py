"""Exercise (lesson 10): a GPU kernel, y = max(x, 0) element by element.

A launch kernel[blocks, threads](x, y) starts blocks * threads threads. Thread number
cuda.grid(1) takes element cuda.grid(1), then that plus cuda.gridsize(1) (the number of
threads), and so on: a "grid-stride loop", right for any launch size, smaller or larger than x.
Without a GPU it runs on Numba's CUDA simulator (the checker turns it on).

Grade it: minisora check lessons/exercises/10_relu_gpu.py
"""
from numba import cuda


@cuda.jit
def relu_forward_gpu(x, y):
    raise NotImplementedError("write the grid-stride loop: y[i] = max(x[i], 0) for i = cuda.grid(1), ...")
