"""Keeping freed memory for the next step, instead of handing it back to the system.

A training step allocates and frees the same large arrays (activations, gradients) every time.
By default glibc's malloc serves blocks above 128 KB-32 MB with fresh pages from the system
(mmap) and returns freed memory at once, so every step pays for the kernel to map and zero
those pages again: a third of a small GPT's step time here. Two settings of malloc (mallopt)
keep that memory in the process: blocks up to 32 MB come from the reusable heap, and the top of
the heap is not trimmed below 1 GB. Memory a run has used is then kept until the process ends.

This applies on Linux with glibc only. It changes the whole process (a library sharing it, such
as PyTorch, gets the same malloc), so `import minisora` never does it: the CLI's trainers and the
benchmarks call `keep_freed_memory()`, and so may a user's script. MINISORA_KEEP_MEMORY=0 turns
those calls off.
"""
import ctypes
import ctypes.util
import os
import sys

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3   # from glibc's malloc.h
MMAP_THRESHOLD = 32 * 1024 * 1024             # glibc's largest allowed value
TRIM_THRESHOLD = 1024 * 1024 * 1024

applied = False


def keep_freed_memory():
    """Tune glibc's malloc as described above; returns whether it applied."""
    global applied
    if applied or not sys.platform.startswith("linux") or os.environ.get("MINISORA_KEEP_MEMORY", "1") == "0":
        return applied
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):   # not glibc (musl, ...): nothing to tune
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    applied = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    return applied
