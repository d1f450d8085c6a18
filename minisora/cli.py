"""The `minisora` command: demo, doctor, warmup, particles, cache clear."""
import argparse
import os
import platform
import shutil
import sys
import time


def command_demo(args):
    from . import demo

    demo.run(steps=args.steps)


def command_doctor(args):
    import numba
    import numpy

    import minisora
    from .backends import kernel

    print(f"minisora   {minisora.__version__}  ({os.path.dirname(minisora.__file__)})")
    print(f"python     {platform.python_version()}  {platform.machine()}")
    print(f"numpy      {numpy.__version__}")
    print(f"numba      {numba.__version__}  llvmlite {__import__('llvmlite').__version__}")
    print(f"threads    numba {numba.get_num_threads()} (layer: {numba.config.THREADING_LAYER}), "
          f"cpus {os.cpu_count()}, BLAS {blas_threads()}")
    print(f"JIT        {'on' if kernel.JIT_ENABLED else 'off (MINISORA_JIT=0: kernels run as Python)'}")
    print(f"CUDA       {cuda_status()}")
    folder = kernel.cache_dir()
    files = [os.path.join(d, f) for d, _, fs in os.walk(folder) for f in fs] if os.path.isdir(folder) else []
    size = sum(os.path.getsize(f) for f in files)
    print(f"kernel cache {folder}  ({len(files)} files, {size / 1e6:.1f} MB)")


def blas_threads():
    try:
        from threadpoolctl import threadpool_info

        pools = [f"{p['internal_api']} x{p['num_threads']}" for p in threadpool_info() if p["user_api"] == "blas"]
        return ", ".join(pools) or "unknown"
    except ImportError:
        limits = [f"{v}={os.environ[v]}" for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS") if v in os.environ]
        return ", ".join(limits) or "library default (install threadpoolctl for details)"


def cuda_status():
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        return "simulator (NUMBA_ENABLE_CUDASIM=1); the minisora GPU backend is not built yet"
    try:
        from numba import cuda
    except Exception as error:  # numba without its CUDA package
        return f"not available: {error}"
    try:
        if cuda.is_available():
            return f"driver found ({cuda.get_current_device().name.decode()}); the minisora GPU backend is not built yet"
        return "not available: no CUDA driver or GPU found"
    except Exception as error:
        return f"not available: {str(error).splitlines()[0]}"


def command_warmup(args):
    from . import warmup

    start = time.perf_counter()
    count = warmup.compile_all(("float32", "float64"))
    print(f"compiled or loaded {count} kernel signatures in {time.perf_counter() - start:.1f} s")


def command_particles(args):
    from .particles import catalog

    for entry in catalog():
        print(f"{entry.name:<34}{entry.formula}")
        print(f"{'':<34}{entry.gradient}   [{', '.join(entry.backends)}]")


def command_cache(args):
    from .backends.kernel import cache_dir

    folder = cache_dir()
    if os.path.isdir(folder):
        shutil.rmtree(folder)
        print(f"removed {folder}")
    else:
        print(f"nothing to clear at {folder}")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="minisora", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="train a tiny net on two spirals, then trace one step")
    demo.add_argument("--steps", type=int, default=600)
    demo.set_defaults(run=command_demo)
    commands.add_parser("doctor", help="versions, threads, JIT, CUDA, kernel cache").set_defaults(run=command_doctor)
    commands.add_parser("warmup", help="compile every kernel now (before a class)").set_defaults(run=command_warmup)
    commands.add_parser("particles", help="list every particle with its formulas").set_defaults(run=command_particles)
    cache = commands.add_parser("cache", help="manage the compiled-kernel cache")
    cache.add_argument("action", choices=["clear"])
    cache.set_defaults(run=command_cache)
    args = parser.parse_args(argv)
    args.run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
