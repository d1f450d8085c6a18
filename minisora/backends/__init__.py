"""Backends: where a tensor's memory lives and how kernels are launched.

`get("cpu")` is always there; the GPU backend is imported only when first asked for, so
`import minisora` never needs CUDA, a driver or numba-cuda.
"""
from .. import errors
from . import cpu

_backends = {"cpu": cpu}


def get(device):
    """The backend module for a device name ("cpu", "cuda"), with a clear error otherwise."""
    backend = _backends.get(device)
    if backend is not None:
        return backend
    if device == "cuda":
        available, reason = cuda_status()
        if not available:
            raise errors.RuntimeError(f"device 'cuda' is not available: {reason}")
        from . import cuda

        _backends["cuda"] = cuda
        return cuda
    raise errors.ValueError(f"unknown device {device!r}: expected 'cpu' or 'cuda'")


def cuda_status():
    """(True, description) when CUDA kernels can run here (a GPU or Numba's simulator), else (False, why)."""
    try:
        from numba import config, cuda
    except ImportError as error:   # numba without its CUDA part
        return False, f"numba.cuda cannot be imported ({error}); install numba-cuda"
    if config.ENABLE_CUDASIM:
        return True, "Numba's CUDA simulator (NUMBA_ENABLE_CUDASIM=1): kernels run as Python, slowly"
    try:
        if cuda.is_available():
            name = cuda.get_current_device().name
            return True, f"GPU {name.decode() if isinstance(name, bytes) else name}"
    except Exception as error:  # a driver that loads but fails: report it, do not crash the caller
        return False, f"the CUDA driver failed to start ({str(error).strip().splitlines()[0]})"
    try:
        from numba.cuda.cudadrv.driver import driver

        driver.get_device_count()
    except Exception as error:
        detail = " ".join(line.strip() for line in str(error).splitlines() if line.strip())
        return False, f"no CUDA driver or GPU found ({detail or type(error).__name__})"
    return False, "numba.cuda sees no usable GPU"


NAMES = ("cpu", "cuda")
