"""Each graded file runs in a process of its own, under a time limit.

A student's code can do what no in-process check survives: loop forever, call sys.exit(0) in
forward (which would end the grader itself "successfully"), crash the interpreter. So the
checks run in a child (`python -m minisora.grading.child`), which prints its report lines and,
last, its Results as JSON behind a marker only the parent knows. No marker means the child did
not finish its checks: that is a failed check, whatever its exit code says.
"""
import ctypes.util
import json
import os
import secrets
import subprocess
import sys

from .result import Result, report


def run_isolated(path, name, time_limit, say=print):
    """The Results of grading the file at `path` (the particle or rule `name`, or all) in a child."""
    marker = secrets.token_hex(16)
    command = [sys.executable, "-m", "minisora.grading.child", os.path.abspath(path), name or ""]
    env = dict(os.environ, MINISORA_GRADING_MARKER=marker)
    if ctypes.util.find_library("cuda") is None:   # no GPU here: a GPU kernel exercise runs on Numba's simulator
        env.setdefault("NUMBA_ENABLE_CUDASIM", "1")
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=time_limit, env=env)
        output, code = done.stdout, done.returncode
    except subprocess.TimeoutExpired as stopped:
        output = stopped.stdout.decode() if isinstance(stopped.stdout, bytes) else (stopped.stdout or "")
        relay(output, marker, say)
        return [report(Result("finishes in time", False, f"stopped after {time_limit:g} s without finishing: an "
                                                         "infinite loop, or far too slow"), say)]
    results = relay(output, marker, say)
    if results is None:
        why = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit code {code}"
        return [report(Result("finishes", False, f"the checks never finished: the process ended early "
                                                 f"(sys.exit, os._exit or a crash in the code checked; {why})"), say)]
    return results


def relay(output, marker, say):
    """Say the child's report lines; return its Results (None when it never got to print them)."""
    results = None
    for line in output.splitlines():
        if line.startswith(marker):
            results = [Result(**fields) for fields in json.loads(line[len(marker):])]
        else:
            say(line)
    return results
