"""What every training run shares: its files, stopping cleanly on Ctrl-C, resuming."""
import contextlib
import json
import os
import signal
from .. import errors

CHECKPOINT, METRICS, CURVES = "checkpoint.safetensors", "metrics.jsonl", "curves.png"


def say(message):
    """Print a progress line at once, even when the output goes to a file or a pipe."""
    print(message, flush=True)


@contextlib.contextmanager
def stop_on_ctrl_c(run):
    """First Ctrl-C sets run.stop_requested (the loop finishes its step, saves and stops);
    a second one raises KeyboardInterrupt as usual."""
    def request_stop(signum, frame):
        if run.stop_requested:
            raise KeyboardInterrupt
        run.stop_requested = True
        run.log("\nCtrl-C: finishing this step, then saving a checkpoint (Ctrl-C again to abort)")

    try:
        if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:   # started with Ctrl-C ignored (nohup, &): keep it so
            previous = None
        else:
            previous = signal.signal(signal.SIGINT, request_stop)
    except ValueError:   # not the main thread: Ctrl-C is not ours to catch
        previous = None
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def write_metrics(out, history):
    """metrics.jsonl: one JSON object per row of history, rewritten whole (so a resumed run has no duplicates)."""
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, METRICS)
    with open(path + ".tmp", "w") as handle:
        handle.write("".join(json.dumps(row) + "\n" for row in history))
    os.replace(path + ".tmp", path)


def check_overrides(saved, overrides, changeable):
    """--resume keeps the saved configuration: only the options in `changeable` may differ."""
    for key, value in overrides.items():
        if key not in changeable and value != saved.get(key):
            raise errors.ValueError(f"--resume: {key} was {saved.get(key)!r} in the saved run, got {value!r}; "
                             f"only {', '.join('--' + c.replace('_', '-') for c in changeable)} can change when resuming")


def checkpoint_path(path):
    """A run folder or a checkpoint file -> the checkpoint file."""
    candidate = os.path.join(path, CHECKPOINT) if os.path.isdir(path) else path
    if not os.path.exists(candidate):
        raise FileNotFoundError(f"no checkpoint at {candidate} (train first, or pass the run folder)")
    return candidate
