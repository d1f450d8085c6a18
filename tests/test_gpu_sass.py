"""benchmarks/gpu_sass.py reads machine code: its loop finder and its ptxas report reader on
hand-written SASS (what nvdisasm -c prints), where the answer is known by construction."""
import importlib.util
from pathlib import Path

import pytest

spec = importlib.util.spec_from_file_location("gpu_sass", Path(__file__).parents[1] / "benchmarks" / "gpu_sass.py")
gpu_sass = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gpu_sass)

# An outer loop (0x0030-0x00c0, a branch to a label) around an inner one (0x0040-0x0080, a branch
# to an address), then a branch forward and the idle spin at a kernel's end (one instruction).
SASS = """
        /*0000*/                   MOV R1, c[0x0][0x28] ;
        /*0010*/                   S2R R0, SR_TID.X ;
        /*0020*/                   CS2R R4, SRZ ;
.L_x_3:
        /*0030*/                   LDG.E R6, desc[UR4][R2.64] ;
        /*0040*/                   LDS.128 R8, [R0] ;
        /*0050*/                   FFMA R4, R8, R9, R4 ;
        /*0060*/                   FFMA R5, R10, R11, R5 ;
        /*0070*/                   ISETP.GE.AND P0, PT, R0, 0x10, PT ;
        /*0080*/              @!P0 BRA 0x40 ;
        /*0090*/                   STS [R0], R6 ;
        /*00a0*/                   BAR.SYNC.DEFER_BLOCKING 0x0 ;
        /*00b0*/                   ISETP.NE.AND P1, PT, R7, RZ, PT ;
        /*00c0*/               @P1 BRA `(.L_x_3) ;
        /*00d0*/                   BRA `(.L_x_4) ;
.L_x_4:
        /*00e0*/                   EXIT ;
.L_x_5:
        /*00f0*/                   BRA `(.L_x_5);
"""


def test_innermost_loops_are_found_with_their_instructions():
    loops = gpu_sass.innermost_loops(SASS)
    assert [(first, last) for first, last, _ in loops] == [(0x40, 0x80), (0xf0, 0xf0)]
    inner = gpu_sass.loop_summary(loops[0][2])
    assert inner == dict(instructions=5, ffma=2, lds=1, ldg=0, ldl=0, per_ffma=2.5)
    assert gpu_sass.loop_summary(loops[1][2])["per_ffma"] is None


def test_the_report_skips_the_idle_spin_and_reads_ptxas():
    log = ("ptxas info    : Compiling entry function 'k' for 'sm_90'\n"
           "    16 bytes stack frame, 12 bytes spill stores, 20 bytes spill loads\n"
           "ptxas info    : Used 128 registers, used 1 barriers, 16896 bytes smem\n")
    assert gpu_sass.resources(log) == (128, 32, 16896)
    lines = gpu_sass.report("k", log, SASS).splitlines()
    assert len(lines) == 2 and "128 registers" in lines[0] and "32 B spilled" in lines[0]
    assert "FFMA   2" in lines[1] and "2.5 per FFMA" in lines[1]


@pytest.mark.parametrize("name", ["int64", "float64", "boolean"])
def test_argument_types_survive_the_trip_from_the_recording_process(name):
    from numba import types

    for numba_type in (getattr(types, name), types.Array(types.float32, 4, "A"), types.Array(types.int64, 1, "C"),
                       types.Tuple([types.Array(types.float32, 1, "C"), getattr(types, name)])):
        assert gpu_sass.numba_type(gpu_sass.described(numba_type)) == numba_type


def test_compiling_every_kernel_reports_each_failure_and_fails(monkeypatch, capsys):
    # the compiler stands in here (CI has no CUDA compiler): what is checked is the reporting
    from numba import types

    log = "ptxas info    : Used 40 registers, 8 bytes spill stores\n"

    def compiled(kernel, signature, arch):
        if signature == [types.int64]:
            raise TypeError("No implementation of function <built-in> found for int64")
        return b"", log

    monkeypatch.setattr(gpu_sass, "compiled", compiled)
    kernels = [("good_gpu", None, [["float64"], ["boolean"]]), ("bad_gpu", None, [["float64"], ["int64"]])]
    assert gpu_sass.compile_all(kernels, "sm_90") == 1
    out = capsys.readouterr().out
    assert "FAILED bad_gpu('int64',)" in out and "No implementation" in out
    assert "good_gpu" in out and "2 compiled" in out and "3 of 4 compiled, 1 FAILED" in out
    assert gpu_sass.compile_all(kernels[:1], "sm_90") == 0
