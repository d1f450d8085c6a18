"""What every GPU kernel shares: numba.cuda itself, launch sizes, and block-wide sums and maxima.

A particle file writes its GPU kernels with `@gpu_kernel` (numba.cuda.jit, cached on disk) and
launches them through `launch_elementwise` (a thread per element) or `launch_rows` (a block per
row), so a reader sees one way of choosing grid and block sizes everywhere.

Nothing here touches a GPU when imported: numba compiles a CUDA kernel at its first launch.
On a machine without a GPU, NUMBA_ENABLE_CUDASIM=1 (set before minisora is imported) runs the
same kernels on Numba's CUDA simulator, thread by thread in Python: slow, but steppable in pdb.
"""
import collections
import functools
import math
import os
import types

import numpy as np
from numba import config as numba_config, cuda

from .. import config
from . import gpu_runtime

WARP = 32


def simulated():
    return bool(numba_config.ENABLE_CUDASIM)


def sized(on_gpu, on_simulator):
    """A GPU's tile and block sizes, or on the simulator (a Python thread per GPU thread) small
    ones, so that tests stay quick and their small shapes still cross tile edges.
    MINISORA_GPU_SIZES=1 gives the simulator the GPU's sizes: slow, but it runs the very index
    arithmetic of a GPU's launches (tests/test_gpu_sizes.py). Read once, at import."""
    if simulated() and os.environ.get("MINISORA_GPU_SIZES") != "1":
        return on_simulator
    return on_gpu


# On the simulator the kernels see numba.cuda through the simulator repairs of the optional
# layer (gpu_runtime/simulator.py); elsewhere `cuda` is numba.cuda itself.
if simulated():
    from .gpu_runtime.simulator import repaired_cuda, with_warning_registry

    cuda = repaired_cuda()


def simulator_ready(fn):
    """`fn` as the simulator's threads can share it (gpu_runtime/simulator.py); itself on a GPU."""
    return with_warning_registry(fn) if simulated() and gpu_runtime.enabled() else fn


# Threads per block (at most, and at least) and blocks per launch; grid-stride loops cover the
# rest. The simulator runs every thread as a Python thread, so there blocks stay tiny: the
# kernels are written for any power-of-two block size and give the same results.
THREADS, MIN_THREADS, MAX_BLOCKS = sized((256, WARP, 65535), on_simulator=(8, 1, 4))


def gpu_kernel(fn=None, *, max_registers=None):
    """A CUDA kernel compiled at its first launch and cached on disk (a plain function on the simulator).

    The scalar math it calls (functions marked by backends.kernel.scalar, shared with the CPU
    loops) is swapped for GPU twins compiled from the same source: see `for_gpu`.
    max_registers caps registers per thread, so that blocks of many threads can launch at all."""
    if fn is None:
        return lambda f: gpu_kernel(f, max_registers=max_registers)
    if simulated():
        return cuda.jit(simulator_ready(for_gpu(fn)))
    options = {"max_registers": max_registers} if max_registers else {}
    return cuda.jit(cache=True, **options)(for_gpu(fn))


_twins = {}


def gpu_twin(fn):
    """The `cuda.jit(device=True)` compilation of a scalar function (one per function)."""
    twin = _twins.get(fn)
    if twin is None:
        source = getattr(fn, "minisora_gpu", fn)   # kernel.float32_faster: the exact form
        twin = _twins[fn] = cuda.jit(device=True, inline=fn.minisora_scalar == "always")(
            simulator_ready(for_gpu(source)))
    return twin


# NumPy's scalar math as numba.cuda compiles it: np.exp(x) in shared scalar code becomes math.exp
# (expf for float32) on the GPU, where numba-cuda has no NumPy ufuncs.
numpy_on_gpu = types.ModuleType("numpy_on_gpu")
for _name in ("exp", "log", "log1p", "expm1", "sqrt", "tanh", "sin", "cos", "isnan", "isinf", "isfinite", "inf",
              "nan", "pi"):
    setattr(numpy_on_gpu, _name, getattr(math, _name))


def for_gpu(fn):
    """`fn` with every scalar function it calls by name replaced by its GPU twin, and `np` by
    numpy_on_gpu (same code object, a namespace of its own): numba.cuda cannot inline functions
    registered for the CPU compiler."""
    names = [name for name in fn.__code__.co_names if hasattr(fn.__globals__.get(name), "minisora_scalar")]
    uses_numpy = "np" in fn.__code__.co_names and not simulated()   # the simulator runs NumPy itself
    if not names and not uses_numpy:
        return fn
    namespace = dict(fn.__globals__)
    for name in names:
        namespace[name] = gpu_twin(namespace[name])
    if uses_numpy:
        namespace["np"] = numpy_on_gpu
    return types.FunctionType(fn.__code__, namespace, fn.__name__, fn.__defaults__, fn.__closure__)


def device_function(fn):
    """A helper that GPU kernels call (compiled into each of them; not launchable on its own)."""
    return cuda.jit(device=True, inline=True)(simulator_ready(fn))


def blocks_for(n, threads):
    """Enough blocks of `threads` to give each of n elements a thread (grid-stride beyond MAX_BLOCKS)."""
    return max(1, min(MAX_BLOCKS, math.ceil(n / threads)))


def threads_for(n):
    """A block size for n elements: a power of two from MIN_THREADS to THREADS."""
    threads = MIN_THREADS
    while threads < THREADS and threads < n:
        threads *= 2
    return threads


# kernels launched (and memsets) so far in this process, by name: benchmarks count them per step.
# With ms.config.gpu_dry_run they are counted but not run (on the simulator, benchmarks/gpu_host.py
# times what the host does for a training step at real sizes; the numbers stay unwritten).
launches = collections.Counter()


def launch(kernel, grid, block, *arguments):
    """kernel[grid, block](*arguments): every GPU launch of minisora goes through here (one place
    to count them). On a real GPU the optional runtime layer's shortcut does numba's per-launch
    argument work once per kind of arguments (gpu_runtime/launch_shortcut.py)."""
    launches[kernel.py_func.__name__] += 1
    if config.gpu_dry_run:
        return
    if not simulated() and config.gpu_launch_shortcut and gpu_runtime.enabled():
        from .gpu_runtime import launch_shortcut

        launch_shortcut.launch(kernel, grid, block, arguments)
    else:
        kernel[grid, block](*numba_arguments(arguments))   # numba.cuda's public launch


def numba_arguments(arguments):
    """The arguments as numba.cuda takes them: each DeviceArray (also inside tuples) as its kernel_view()."""
    return tuple(numba_arguments(value) if type(value) is tuple
                 else value.kernel_view() if hasattr(value, "kernel_view") else value for value in arguments)


def launch_elementwise(kernel, n, *arguments):
    """Launch `kernel` with one thread per element (grid-stride), for n elements."""
    if n:
        threads = threads_for(n)
        launch(kernel, blocks_for(n, threads), threads, *arguments)


def launch_rows(kernel, rows, width, *arguments):
    """One block per row (grid-stride over rows), its threads sharing the row's `width` elements."""
    if rows:
        launch(kernel, min(rows, MAX_BLOCKS), threads_for(width), *arguments)


CHUNK = 4 * THREADS   # elements one block updates in launch_over_tensors


@functools.lru_cache(maxsize=256)
def chunk_table(sizes):
    """(tensor, first, stop) for every CHUNK-long piece of arrays of these sizes, on the GPU. Kept
    for the next step: a model's parameters keep their sizes, so it is uploaded once."""
    rows = [(t, first, min(first + CHUNK, size)) for t, size in enumerate(sizes) for first in range(0, size, CHUNK)]
    return cuda.to_device(np.array(rows, dtype=np.int64).reshape(-1, 3))


def launch_over_tensors(kernel, count, tensors, *arguments):
    """One launch over the first `count` arrays of the tuple `tensors` (the optimizers' many
    parameters): a block per CHUNK elements of one array, listed in a table the kernel gets in
    place of `count`. Further tuples in `arguments` are indexed alongside."""
    table = chunk_table(tuple(tensors[t].size for t in range(count)))
    if table.shape[0]:
        launch(kernel, min(table.shape[0], MAX_BLOCKS), THREADS, table, tensors, *arguments)


_arrivals = []   # [the counters], once made


def arrival_counters(count):
    """At least `count` int32 counters on the GPU, all 0, for a kernel whose blocks count their
    arrivals so that the last to arrive finishes the work (layer_norm's backward): that block sets
    its counter back to 0, so they are all 0 again for the next launch. Kernels run one after
    another on the one stream, so they can all share these. On the simulator they are also set
    to 0 from the host before each launch: a simulated kernel can be stopped halfway (pdb,
    Ctrl-C) and leave counts behind; a GPU's kernel always runs to its end."""
    if not _arrivals or _arrivals[0].size < count:
        from . import cuda as backend

        _arrivals[:] = [backend.zeros((max(count, 64),), np.int32)]
    counters = _arrivals[0]
    if simulated():
        counters.base.copy_to_device(np.zeros(counters.size, np.int32))
    return counters


@device_function
def warp_combine(value, take_max):
    """Sum (or maximum) of `value` over the 32 lanes of a warp, every lane getting it: a butterfly
    of shuffles."""
    offset = 16
    while offset > 0:
        other = cuda.shfl_xor_sync(0xFFFFFFFF, value, offset)
        value = max(value, other) if take_max else value + other
        offset //= 2
    return value


@device_function
def block_combine_shuffled(value, scratch, take_max):
    """Sum (or maximum) of `value` over the block, every thread getting it. scratch: a shared
    float64 array.

    Each warp combines its 32 values with shuffles; warp leaders write to shared memory; the
    first warp combines those. Two barriers: the block may call this again right after."""
    lane, warp = cuda.threadIdx.x % WARP, cuda.threadIdx.x // WARP
    value = warp_combine(value, take_max)
    if lane == 0:
        scratch[warp] = value
    cuda.syncthreads()
    warps = (cuda.blockDim.x + WARP - 1) // WARP
    identity = -math.inf if take_max else 0.0
    result = scratch[lane] if lane < warps else identity
    result = warp_combine(result, take_max)
    cuda.syncthreads()
    return result


@device_function
def block_combine_shared(value, scratch, take_max):
    """The same results by halving in shared memory (blockDim a power of two): the simulator's way,
    as it has no warp shuffles."""
    tid = cuda.threadIdx.x
    scratch[tid] = value
    cuda.syncthreads()
    half = cuda.blockDim.x // 2
    while half > 0:
        if tid < half:
            other = scratch[tid + half]
            scratch[tid] = max(scratch[tid], other) if take_max else scratch[tid] + other
        cuda.syncthreads()
        half //= 2
    result = scratch[0]
    cuda.syncthreads()
    return result


# Kernels call block_sum(value, scratch) / block_max with scratch = cuda.shared.array(SCRATCH, float64).
SCRATCH = THREADS
block_combine = block_combine_shared if simulated() else block_combine_shuffled


@device_function
def block_sum(value, scratch):
    return block_combine(value, scratch, False)


@device_function
def block_max(value, scratch):
    return block_combine(value, scratch, True)


# Kernels of the backend itself: fill, copy through strides, cast, count ---------------------
@gpu_kernel
def fill_kernel(out, value):
    start, step = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, out.size, step):
        out[i] = value


@gpu_kernel
def strided_copy_kernel(source, shape, strides, out, out_strides):
    """out[index] = source[index] for every multi-index of `shape`, each side walked by its strides
    (elements; 0 repeats, as broadcasting does). Also casts when the dtypes differ."""
    start, step = cuda.grid(1), cuda.gridsize(1)
    total = 1
    for d in range(len(shape)):
        total *= shape[d]
    for i in range(start, total, step):
        rest, p, q = i, 0, 0
        for d in range(len(shape) - 1, -1, -1):
            index = rest % shape[d]
            rest //= shape[d]
            p += index * strides[d]
            q += index * out_strides[d]
        out[q] = source[p]


@gpu_kernel
def arange_kernel(out, start, step):
    """out[i] = start + i * step."""
    begin, stride = cuda.grid(1), cuda.gridsize(1)
    for i in range(begin, out.size, stride):
        out[i] = start + i * step


@gpu_kernel
def add_arrays_kernel(a, b, out):
    start, step = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, out.size, step):
        out[i] = a[i] + b[i]


@device_function
def position(i, shape, strides, k):
    """Where element i (C order over `shape`) of operand k sits in its storage: strides is the flat
    tuple from cuda.strided_operands (operand k's stride along dim d at k * len(shape) + d)."""
    ndim = len(shape)
    rest, p = i, 0
    for d in range(ndim - 1, -1, -1):
        p += (rest % shape[d]) * strides[k * ndim + d]
        rest //= shape[d]
    return p


def fill(array, value):
    """Set every element of a contiguous array (a DeviceArray or numba.cuda's) to `value`, on the
    GPU: fill_kernel, or zeros by the driver's memset through the runtime layer (no kernel launch,
    but counted in `launches` as one, since it is queued on the GPU in the same way)."""
    if value == 0 and not simulated() and gpu_runtime.enabled():
        from .gpu_runtime import launch_shortcut

        launches["memset"] += 1
        launch_shortcut.memset_zero(numba_arguments((array,))[0])
    else:
        launch_elementwise(fill_kernel, array.size, array.reshape(array.size), value)
