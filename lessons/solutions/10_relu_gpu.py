"""Solution (lesson 10): a GPU kernel, y = max(x, 0) element by element, with a grid-stride loop."""
from numba import cuda


@cuda.jit
def relu_forward_gpu(x, y):
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        y[i] = x[i] if x[i] > 0 else 0.0
