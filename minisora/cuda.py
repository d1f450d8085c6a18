"""ms.cuda: is there a GPU minisora can use, and what is it.

    ms.cuda.is_available()   True with a working CUDA GPU (or Numba's CUDA simulator)
    ms.cuda.why_not()        the reason it is not available ("" when it is)
    ms.cuda.synchronize()    wait until every launched kernel has finished (for timing)
    ms.cuda.describe()       {name, compute capability, driver, numba-cuda, launch overhead...}
    ms.cuda.empty_cache()    give the memory minisora keeps for reuse back to the driver
"""
import time

from . import backends


def is_available():
    return backends.cuda_status()[0]


def why_not():
    available, reason = backends.cuda_status()
    return "" if available else reason


def synchronize():
    from numba import cuda

    cuda.synchronize()


def empty_cache():
    if is_available():
        from .backends import gpu_runtime

        if gpu_runtime.enabled():
            from .backends.gpu_runtime import memory_pool

            memory_pool.release_cached()


def launch_overhead_us(launches=200, through_numba=False):
    """Microseconds per launch of an empty kernel, from Python to the GPU and back (median of 5
    runs): through minisora's launcher (backends/gpu_runtime/launch_shortcut.py), or numba.cuda's own call."""
    from numba import cuda

    from .backends.gpu import gpu_kernel, launch

    empty = gpu_kernel(noop)
    target = cuda.device_array(1)

    def start_one():
        if through_numba:
            empty[1, 32](target)
        else:
            launch(empty, 1, 32, target)

    start_one()
    cuda.synchronize()
    times = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(launches):
            start_one()
        cuda.synchronize()
        times.append((time.perf_counter() - start) / launches * 1e6)
    return sorted(times)[2]


def noop(x):
    pass


def describe():
    """What `minisora doctor` prints about the GPU side."""
    info = {"available": is_available(), "status": backends.cuda_status()[1]}
    try:
        from importlib.metadata import version

        info["numba-cuda"] = version("numba-cuda")
    except Exception:
        info["numba-cuda"] = "not installed (numba's built-in numba.cuda is used)"
    if not info["available"]:
        return info
    from numba import config, cuda

    if config.ENABLE_CUDASIM:
        return info
    device = cuda.get_current_device()
    name = device.name.decode() if isinstance(device.name, bytes) else device.name
    info["gpu"] = name
    info["compute capability"] = ".".join(map(str, device.compute_capability))
    info["multiprocessors"] = device.MULTIPROCESSOR_COUNT
    try:
        info["driver"] = ".".join(map(str, cuda.cudadrv.driver.driver.get_version()))
    except Exception as error:
        info["driver"] = f"unknown ({error})"
    info["launch overhead"] = (f"{launch_overhead_us():.1f} us per kernel launch "
                               f"(numba.cuda's own call: {launch_overhead_us(through_numba=True):.1f} us)")
    return info
