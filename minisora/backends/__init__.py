"""Backends: where a tensor's memory lives and how kernels are launched.

`get("cpu")` is always there; the GPU backend is imported only when first asked for, so
`import minisora` never needs CUDA.
"""
from . import cpu

_backends = {"cpu": cpu}


def get(device):
    """The backend module for a device name ("cpu", "cuda"), with a clear error otherwise."""
    backend = _backends.get(device)
    if backend is not None:
        return backend
    if device == "cuda":
        raise RuntimeError(
            "device 'cuda': the GPU backend is not part of this version of minisora yet; "
            "use device='cpu'"
        )
    raise ValueError(f"unknown device {device!r}: expected 'cpu' or 'cuda'")


def available():
    return tuple(_backends)
