"""The optional layer beneath the GPU backend: what minisora does under numba.cuda's public API.

No particle and no kernel depends on it: read the kernels without it. It makes the GPU fast for
small teaching models and the simulator faithful, by reaching into numba.cuda's private parts:

    launch_shortcut.py  launches a compiled kernel with numba's per-launch argument work done once
                        per kind of arguments (numba's private kernel ABI: launches cost 2.5x less)
    memory_pool.py      a caching allocator: freed GPU memory is reused, not given back
    simulator.py        repairs two races of Numba's CUDA simulator

Private parts change between releases, so the layer runs only on the versions it was tested with
(TESTED). On any other, minisora warns once and takes numba.cuda's public path instead:
`kernel[grid, block](...)` launches and `cuda.device_array` memory. The results are the same
(tests/test_gpu_runtime.py); only launches and allocation are slower.
"""
import functools
import importlib.metadata
import warnings

# numba.cuda comes from numba-cuda where that is installed, else from numba itself (deprecated there)
TESTED = {"numba-cuda": ("0.30",), "numba": ("0.68",)}


def provider():
    """(package, version) of the numba.cuda this process imports."""
    try:
        return "numba-cuda", importlib.metadata.version("numba-cuda")
    except importlib.metadata.PackageNotFoundError:
        import numba

        return "numba", numba.__version__


@functools.cache
def enabled():
    """Whether this layer runs: numba.cuda comes from a tested version (else one warning, and False)."""
    package, version = provider()
    if any(version == tested or version.startswith(tested + ".") for tested in TESTED[package]):
        return True
    warnings.warn(f"minisora: {package} {version} is not a version its GPU runtime layer was tested with "
                  f"({package} {', '.join(TESTED[package])}): GPU launches and memory take numba.cuda's public path "
                  "(same results; slower launches, no memory pool)", RuntimeWarning, stacklevel=2)
    return False
