#!/usr/bin/env bash
# Every GPU figure the README quotes, in one run of under ten minutes, for a GPU machine that is
# borrowed briefly: the versions and launch overhead, the cuda tests on the real GPU (the gpu
# marker's larger sizes too), the benchmarks beside PyTorch, and the char GPT trained for 1000
# steps on the GPU (its validation loss, against the CPU's 1.3612).
#
#     benchmarks/gpu_session.sh [LOG_FOLDER]        (from the repository root; default gpu_logs)
#
# Uses the python3 on PATH and this checkout (no install). Its numba needs a numpy it supports
# (numba 0.68: numpy < 2.5). Each stage has a time limit, so that one slow stage still leaves the
# others their turn; a stage's log is LOG_FOLDER/<stage>.log, and summary.log has the lines
# that hold the figures.
set -uo pipefail
cd "$(dirname "$0")/.."
logs=${1:-gpu_logs}
mkdir -p "$logs"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

stage() {   # stage NAME SECONDS COMMAND...: run it, log it, say how it ended
    local name=$1 limit=$2
    shift 2
    local started=$SECONDS
    timeout "$limit" "$@" > "$logs/$name.log" 2>&1
    local status=$?
    echo "== $name: exit $status after $((SECONDS - started)) s (limit $limit s)" | tee -a "$logs/summary.log"
    tail -n 25 "$logs/$name.log"
}

: > "$logs/summary.log"
stage doctor 60 python3 -m minisora.cli doctor
stage tests 300 env MINISORA_TEST_GPU=1 python3 -m pytest -q -p no:cacheprovider tests/test_cuda.py tests/test_gpu_sizes.py \
    tests/test_gpu_runtime.py
stage benchmarks 120 python3 benchmarks/gpu.py --rounds 5
stage train 90 python3 -m minisora.cli train gpt --device cuda --steps 1000 --no-progress --out "$logs/run"
grep -h -E "^(CUDA|numba-cuda|GPU:|sgemm|char-GPT|nanoGPT|FAILED|ERROR|done in)|^=+ .*(passed|failed)|^[0-9]+ (passed|failed|skipped)" \
    "$logs"/{doctor,tests,benchmarks,train}.log >> "$logs/summary.log"
cat "$logs/summary.log"
