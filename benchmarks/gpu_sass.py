"""The GPU kernels of a training step as the GPU would run them, read without a GPU (SASS).

    python -m pip install -e ".[sass]"
    python benchmarks/gpu_sass.py [--arch sm_90] [--only NAME[,NAME]] [--show NAME]

What a GPU kernel costs is mostly decided by the compiler: how many registers a thread needs
(which decides how many threads share a multiprocessor), whether values spill to memory, and how
many instructions the innermost loops take for each multiply-add. All of that can be read off
the machine code, here for the H100's architecture (sm_90) by default:

1. a tiny GPT training step (AdamW) runs on Numba's CUDA simulator in a child process, which
   records every kernel it launches with the numba types of its arguments: the signature the
   kernel is compiled for at a real launch (types do not depend on sizes);
2. each kernel is compiled by numba-cuda to PTX with the tile sizes of a real GPU, assembled by
   nvJitLink (the ptxas a real launch uses, with the kernel's register cap) and disassembled by
   nvdisasm.

For each kernel: registers a thread, spilled bytes, shared memory; for each innermost loop:
its instructions, FP32 multiply-adds (FFMA), shared and global loads, reloads of spilled
values (LDL), and instructions per FFMA (a multiprocessor issues 4 instructions a cycle and
has 128 FP32 lanes: a loop of mostly FFMA can run near the GPU's peak, one of 5 instructions
per FFMA at a fifth of it at best).
`--show NAME` prints that kernel's SASS. Numbers only: no kernel runs, nothing is timed.

`--tests` compiles instead every kernel that tests/test_cuda.py launches on the simulator, for
each kind of arguments it is launched with: the simulator runs a kernel as Python, so only this
(or a GPU) finds what numba.cuda cannot compile. It prints each kernel's register and spill
figures and every failure, and exits with 1 if any kernel failed to compile.
"""
import argparse
import contextlib
import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
TINY_GPT = dict(vocab=11, context=8, d_model=16, heads=2, layers=1, batch=2)


# 1. the signatures, from a step (or the cuda tests) on the simulator -----------------------
def record_signatures(what):
    """{kernel module:name: [each distinct list of argument types, as JSON]} for every kernel
    that one GPT step (what="step") or tests/test_cuda.py (what="tests") launches."""
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"
    sys.path.insert(0, str(HERE))
    import numba
    from minisora.backends import gpu

    seen = {}
    launch = gpu.launch

    def recording(kernel, grid, block, *arguments):
        function = kernel.py_func
        if not function.__module__.startswith("minisora"):   # (a test's own kernel)
            return launch(kernel, grid, block, *arguments)
        signature = [described(numba.typeof(value)) for value in gpu.numba_arguments(arguments)]
        signatures = seen.setdefault(f"{function.__module__}:{function.__name__}", [])
        if signature not in signatures:
            signatures.append(signature)
        return launch(kernel, grid, block, *arguments)

    gpu.launch = recording
    for module in list(sys.modules.values()):   # the particle files took `launch` by name
        if getattr(module, "launch", None) is launch and module.__name__.startswith("minisora"):
            module.launch = recording
    if what == "step":
        from gpu import minisora_gpt_step

        minisora_gpt_step(TINY_GPT)()
    else:
        import pytest

        with contextlib.redirect_stdout(sys.stderr):   # stdout carries the result
            status = pytest.main(["-q", "-p", "no:cacheprovider", str(HERE.parent / "tests" / "test_cuda.py")])
        if status:
            sys.exit(f"tests/test_cuda.py failed on the simulator (pytest exit status {status})")
    return seen


def described(numba_type):
    """A numba type as JSON: arrays by dtype, ndim and layout; tuples by their items; else its name."""
    from numba import types

    if isinstance(numba_type, types.Array):
        return ["array", str(numba_type.dtype), numba_type.ndim, numba_type.layout]
    if isinstance(numba_type, types.BaseTuple):
        return ["tuple", [described(item) for item in numba_type]]
    return str(numba_type)


def numba_type(description):
    from numba import types

    if isinstance(description, str):
        return getattr(types, description)
    if description[0] == "array":
        return types.Array(getattr(types, description[1]), description[2], description[3])
    return types.Tuple([numba_type(item) for item in description[1]])


# 2. compile, assemble, disassemble ---------------------------------------------------------
def compiled(kernel, signature, arch):
    """(cubin bytes, ptxas's report) of `kernel` for `arch` (like "sm_90")."""
    from cuda.bindings import nvjitlink
    from numba import cuda, types

    cc = (int(arch[3:-1]), int(arch[-1]))
    without_a_gpu(cc)
    ptx, _ = cuda.compile_ptx(kernel.py_func, types.void(*signature), cc=cc)
    options = [f"-arch={arch}", "-verbose"]
    if kernel.targetoptions.get("max_registers"):
        options.append(f"-maxrregcount={kernel.targetoptions['max_registers']}")
    handle = nvjitlink.create(len(options), options)
    data = ptx.encode()
    nvjitlink.add_data(handle, nvjitlink.InputType.PTX, data, len(data), kernel.py_func.__name__)
    nvjitlink.complete(handle)
    cubin = bytearray(nvjitlink.get_linked_cubin_size(handle))
    nvjitlink.get_linked_cubin(handle, cubin)
    log = bytearray(nvjitlink.get_info_log_size(handle))
    nvjitlink.get_info_log(handle, log)
    nvjitlink.destroy(handle)
    return bytes(cubin), log.decode(errors="replace")


def without_a_gpu(cc):
    """numba-cuda compiles a device function that is not inlined (the scalar math twins) for
    the current GPU's compute capability, which it asks the driver for: with no GPU here, it is
    told the one this report is for."""
    from types import SimpleNamespace

    from numba.cuda import dispatcher

    dispatcher.get_current_device = lambda: SimpleNamespace(compute_capability=cc)


def nvdisasm():
    """The nvdisasm program (from the nvidia-cuda-nvdisasm wheel, or on PATH)."""
    try:
        import nvidia
        for folder in nvidia.__path__:
            for candidate in Path(folder).glob("*/bin/nvdisasm"):
                return str(candidate)
    except ImportError:
        pass
    return "nvdisasm"


def disassembled(cubin):
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".cubin") as file:
        file.write(cubin)
        file.flush()
        return subprocess.run([nvdisasm(), "-c", file.name], capture_output=True, text=True, check=True).stdout


def resources(log):
    """(registers, spilled bytes (stores + loads), shared memory bytes) from ptxas's report."""
    def number(pattern):
        found = re.search(pattern, log)
        return int(found.group(1)) if found else 0
    spills = number(r"(\d+) bytes spill stores") + number(r"(\d+) bytes spill loads")
    return number(r"Used (\d+) registers"), spills, number(r"(\d+) bytes smem")


# 3. reading the machine code ---------------------------------------------------------------
INSTRUCTION = re.compile(r"/\*([0-9a-f]{4,})\*/\s+(?:@!?U?P[T0-9]+\s+)?([A-Z][A-Z0-9_.]*)([^;]*);")
LABEL = re.compile(r"^\s*(\.L_x_\d+):")


def instructions(sass):
    """[(address, opcode, operands)] and {label: address of the instruction after it}."""
    listing, labels, pending = [], {}, []
    for line in sass.splitlines():
        label = LABEL.match(line)
        if label:
            pending.append(label.group(1))
            continue
        found = INSTRUCTION.search(line)
        if found:
            address = int(found.group(1), 16)
            for name in pending:
                labels[name] = address
            pending = []
            listing.append((address, found.group(2), found.group(3)))
    return listing, labels


def innermost_loops(sass):
    """Each innermost loop (a backward branch whose body holds no other loop) as a Counter of
    opcodes, with its first and last address."""
    listing, labels = instructions(sass)
    index = {address: i for i, (address, _, _) in enumerate(listing)}
    spans = []
    for i, (address, opcode, operands) in enumerate(listing):
        if not opcode.startswith("BRA"):
            continue
        target = re.search(r"(\.L_x_\d+)", operands)
        start = labels.get(target.group(1)) if target else None
        if start is None:
            hexadecimal = re.search(r"0x([0-9a-f]+)", operands)
            start = int(hexadecimal.group(1), 16) if hexadecimal else None
        if start is not None and start <= address and start in index:
            spans.append((index[start], i))
    inner = [(a, b) for a, b in spans if not any(a <= c and d <= b and (c, d) != (a, b) for c, d in spans)]
    return [(listing[a][0], listing[b][0], Counter(opcode for _, opcode, _ in listing[a:b + 1])) for a, b in inner]


def loop_summary(counts):
    total = sum(counts.values())
    def kind(prefix):
        return sum(n for opcode, n in counts.items() if opcode.startswith(prefix))
    ffma = counts["FFMA"]
    return dict(instructions=total, ffma=ffma, lds=kind("LDS"), ldg=kind("LDG"), ldl=kind("LDL"),
                per_ffma=total / ffma if ffma else None)


# 4. the report -----------------------------------------------------------------------------
def report(name, log, sass):
    registers, spills, shared = resources(log)
    lines = [f"{name:<36} {registers:>4} registers  {spills:>5} B spilled  {shared:>6} B shared"]
    for first, last, counts in innermost_loops(sass):
        summary = loop_summary(counts)
        if not summary["ffma"] and summary["instructions"] < 8:
            continue   # an idle spin (the end of a kernel), not work
        ratio = f"{summary['per_ffma']:5.1f} per FFMA" if summary["per_ffma"] else "   no FFMA    "
        lines.append(f"    loop {first:#07x}-{last:#07x}  {summary['instructions']:>4} instructions  "
                     f"FFMA {summary['ffma']:>3}  LDS {summary['lds']:>3}  LDG {summary['ldg']:>3}  "
                     f"LDL {summary['ldl']:>2}  {ratio}")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="sm_90", help="GPU architecture (sm_90: H100)")
    parser.add_argument("--only", help="kernels whose names contain one of these (comma-separated)")
    parser.add_argument("--show", help="print the SASS of this kernel")
    parser.add_argument("--tests", action="store_true",
                        help="compile every kernel tests/test_cuda.py launches, with each kind of arguments")
    parser.add_argument("--record", choices=("step", "tests"), help=argparse.SUPPRESS)   # the child's job
    args = parser.parse_args()
    if args.record:
        print(json.dumps(record_signatures(args.record)))
        return
    what = "tests" if args.tests else "step"
    child = subprocess.run([sys.executable, __file__, "--record", what], capture_output=True, text=True)
    if child.returncode:
        sys.exit(f"recording the kernels failed:\n{child.stderr[-6000:]}")
    signatures = json.loads(child.stdout.splitlines()[-1])
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        sys.exit("unset NUMBA_ENABLE_CUDASIM: the kernels must be compiled with a real GPU's tile sizes")
    import importlib

    wanted = args.only.split(",") if args.only else None
    kernels = []
    for key, found in sorted(signatures.items(), key=lambda item: item[0].split(":")[1]):
        module, name = key.split(":")
        if not wanted or any(w in name for w in wanted) or name == args.show:
            kernels.append((name, getattr(importlib.import_module(module), name), found))
    if args.tests:
        sys.exit(compile_all(kernels, args.arch))
    print(f"{len(signatures)} kernels of a GPT training step, compiled for {args.arch} (no GPU used)")
    for name, kernel, found in kernels:
        cubin, log = compiled(kernel, [numba_type(a) for a in found[0]], args.arch)
        sass = disassembled(cubin)
        print(sass if name == args.show else report(name, log, sass), flush=True)


def compile_all(kernels, arch):
    """Compile each kernel for each of its signatures; print a line a kernel and every failure.
    The exit status: 1 if any failed."""
    total = sum(len(found) for _, _, found in kernels)
    print(f"{len(kernels)} kernels launched by tests/test_cuda.py, {total} kinds of arguments, compiled for {arch}")
    failures = 0
    for name, kernel, found in kernels:
        figures = []
        for arguments in found:
            try:
                registers, spills, _ = resources(compiled(kernel, [numba_type(a) for a in arguments], arch)[1])
            except Exception as error:   # any compiler error is the finding
                failures += 1
                print(f"FAILED {name}{tuple(arguments)}:\n    {type(error).__name__}: {error}", flush=True)
                continue
            figures.append((registers, spills))
        if figures:
            print(f"{name:<40} {len(figures):>3} compiled   registers {max(r for r, _ in figures):>3}   "
                  f"spilled {max(s for _, s in figures):>4} B at most", flush=True)
    print(f"{total - failures} of {total} compiled" + (f", {failures} FAILED" if failures else ""))
    return 1 if failures else 0


if __name__ == "__main__":
    main()
