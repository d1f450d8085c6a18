"""Launching a compiled numba.cuda kernel without numba's per-call work (real GPUs only).

`kernel[grid, block](*args)` in numba.cuda does, at every launch, in Python: find each
argument's numba type (for an array, a new types.Array), pick the compiled overload, then
flatten every argument into the kernel's parameter list. For the tiny kernels of a teaching
model that costs more than the GPU's work, and a GPT step launches over a hundred of them;
through here a launch costs about 2.5x less (measured: benchmarks/RESULTS.md).

Here the first launch of a kernel with arguments of a new kind goes through numba as usual
(it compiles, or loads the compiled code from the disk cache). Then the compiled overload is
remembered under a cheap key of those argument kinds (dtype, ndim and layout of an array, the
Python type of a number), with a plan for flattening arguments of that kind, and later launches
flatten and launch directly. The flattened list is numba's own kernel ABI:

    an array      meminfo (0), parent (0), size, itemsize, data pointer, *shape, *strides in bytes
                  (for a DeviceArray, those of its kernel_view(), found without building it
                  when it is contiguous)
    an integer    a ctypes integer of the compiled width
    a float       ctypes c_float / c_double
    a boolean     the Python bool
    a tuple       its items, one after another

Kinds outside these (records, host arrays that numba would copy over, ...) keep numba's path.
"""
import ctypes

from cuda.core import LaunchConfig
from cuda.core import launch as launch_on_stream
from numba.cuda import types
from numba.cuda._compat import CUDA_CORE_GE_1_0
from numba.cuda.cudadrv.devicearray import DeviceNDArray
from numba.cuda.cudadrv.driver import _to_core_stream, device_memset

from ..device_array import DeviceArray, contiguous_strides
from ..gpu import numba_arguments

NUMBA = object()   # the plan of a kind this module does not flatten

_plans = {}     # (kernel, argument key) -> (compiled function, flatteners, stream), or NUMBA
_configs = {}   # (grid, block) -> LaunchConfig


def launch(kernel, grid, block, arguments):
    """kernel[grid, block](*arguments), with numba's per-launch work done once per argument kind."""
    key = (kernel, argument_key(arguments))
    plan = _plans.get(key)
    if plan is None or plan is NUMBA:
        as_numba = numba_arguments(arguments)
        kernel[grid, block](*as_numba)
        if plan is None:
            _plans[key] = make_plan(kernel, arguments, as_numba)
        return
    function, flatteners, stream = plan
    parameters = []
    for flatten, value in zip(flatteners, arguments):
        flatten(value, parameters)
    config = _configs.get((grid, block))
    if config is None:
        config = _configs[(grid, block)] = launch_config(grid, block)
    launch_on_stream(stream, config, function, *parameters)


def argument_key(value):
    """What decides a value's numba type, found without building that type."""
    if type(value) is DeviceArray:
        return (value.launch_parameters or describe(value))[0]
    if type(value) is DeviceNDArray:
        return numba_array_key(value)
    if type(value) is tuple:
        return tuple([argument_key(item) for item in value])
    if type(value) is int:   # numba types an int by its value: int64, or uint64 past 2**63 - 1
        return int if -2**63 <= value < 2**63 else "uint64"
    return type(value)


def numba_array_key(array):
    """What decides a numba.cuda array's numba type."""
    return array.dtype, array.ndim, layout(array)


def layout(array):
    """numba's rule: "C" or "F" when contiguous that way and not broadcast, else "A"."""
    if 0 in array.strides and array.size:
        return "A"
    flags = array.flags
    return "C" if flags["C_CONTIGUOUS"] else "F" if flags["F_CONTIGUOUS"] else "A"


def make_plan(kernel, arguments, as_numba):
    """The overload numba just launched for these arguments (`as_numba`: as numba got them) and
    how to flatten them, or NUMBA."""
    compiled = kernel.overloads.get(tuple(kernel.typeof_pyval(value) for value in as_numba))
    if (compiled is None or compiled.cooperative or compiled.debug or kernel._launch_config_sensitive
            or compiled.launch_config_sensitive):
        return NUMBA
    flatteners = [flattener(kind, value) for kind, value in zip(compiled.argument_types, arguments)]
    if None in flatteners:
        return NUMBA
    # stream 0, as numba's launches: every minisora kernel runs in order on the default stream
    return compiled._codelibrary.get_cufunc().kernel, flatteners, _to_core_stream(0)


def flattener(kind, value):
    """A function appending `value`'s kernel parameters (see the module docstring), or None."""
    if isinstance(kind, types.Array):
        return flatten_array if type(value) in (DeviceArray, DeviceNDArray) else None
    if isinstance(kind, types.Integer):
        integer = getattr(ctypes, f"c_{kind}")
        return lambda number, parameters: parameters.append(integer(number))
    if kind in (types.float32, types.float64):
        real = ctypes.c_float if kind == types.float32 else ctypes.c_double
        return lambda number, parameters: parameters.append(real(number))
    if kind == types.boolean:
        return lambda flag, parameters: parameters.append(flag)
    if isinstance(kind, types.BaseTuple) and type(value) is tuple:
        items = [flattener(item_kind, item) for item_kind, item in zip(kind, value)]
        if None in items:
            return None

        def flatten_tuple(values, parameters):
            for flatten, item in zip(items, values):
                flatten(item, parameters)
        return flatten_tuple
    return None


def flatten_array(array, parameters):
    if type(array) is DeviceArray:
        parameters += (array.launch_parameters or describe(array))[1]
        return
    parameters += numba_array_parameters(array)


def numba_array_parameters(array):
    """A numba.cuda array's kernel parameters, read off the array."""
    return ((0, 0, array.size, array.dtype.itemsize, array.device_ctypes_pointer.value or 0) + tuple(array.shape)
            + tuple(array.strides))


def describe(array):
    """A DeviceArray's key and parameters as those of its kernel_view(), kept on the array: it
    never changes shape or memory. A contiguous one is a C-contiguous numba array; a strided
    view keeps its strides, and numba's own view of it says which layout numba compiled for."""
    if array.size and not array.is_contiguous:
        view = array.kernel_view()
        array.launch_parameters = numba_array_key(view), numba_array_parameters(view)
        return array.launch_parameters
    shape, item = array.kernel_shape(), array.itemsize
    base = array.base
    address = getattr(base, "minisora_address", None)
    if address is None:   # numba's pointer lookup costs microseconds: kept on the memory itself
        address = base.minisora_address = base.device_ctypes_pointer.value or 0
    address += array.offset * item
    strides = tuple(stride * item for stride in contiguous_strides(shape))
    array.launch_parameters = ((array.dtype, len(shape), "C"), (0, 0, array.size, item, address) + shape + strides)
    return array.launch_parameters


def launch_config(grid, block):
    dims = {"grid": dims3(grid), "block": dims3(block), "shmem_size": 0}
    if CUDA_CORE_GE_1_0:
        return LaunchConfig(**dims, is_cooperative=False)
    return LaunchConfig(**dims, cooperative_launch=False)


def dims3(dims):
    dims = tuple(int(n) for n in dims) if isinstance(dims, tuple) else (int(dims),)
    return dims + (1,) * (3 - len(dims))


def memset_zero(array):
    """Zero a contiguous numba.cuda array by the driver's memset, queued on the default stream."""
    device_memset(array, 0, array.size * array.dtype.itemsize)
