"""What every training run shares: its folder and files, stopping cleanly on Ctrl-C or SIGTERM, resuming."""
import contextlib
import json
import os
import signal
import tempfile

from .. import errors

CHECKPOINT, METRICS, CURVES = "checkpoint.safetensors", "metrics.jsonl", "curves.png"


def say(message):
    """Print a progress line at once, even when the output goes to a file or a pipe."""
    print(message, flush=True)


STOP_SIGNALS = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM"}   # SIGTERM: what a scheduler or `kill` sends


@contextlib.contextmanager
def stop_on_signals(run):
    """The first Ctrl-C or SIGTERM sets run.stop_requested (the loop finishes its step, saves and
    stops; run.stop_signal says which signal); a second one raises KeyboardInterrupt as usual."""
    def request_stop(signum, frame):
        if run.stop_requested:
            raise KeyboardInterrupt
        run.stop_requested, run.stop_signal = True, signum
        run.log(f"\n{STOP_SIGNALS[signum]}: finishing this step, then saving a checkpoint (Ctrl-C again to abort)")

    previous = {}
    for signum in STOP_SIGNALS:
        try:
            if signal.getsignal(signum) is signal.SIG_IGN:   # started with it ignored (nohup, &): keep it so
                continue
            previous[signum] = signal.signal(signum, request_stop)
        except ValueError:   # not the main thread: signals are not ours to catch
            break
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def layered(config, defaults, presets, key, what):
    """A run's configuration: `defaults`, then the presets that the choice of config[key] brings,
    then what was given (a None is an option not given)."""
    chosen = {k: v for k, v in config.items() if v is not None}
    choice = chosen.get(key, defaults[key])
    if choice not in presets:
        raise errors.ValueError(f"unknown {what} {choice!r}; choose {', '.join(presets)}")
    return {**defaults, **presets[choice], **chosen}


def wrapped_up(run, position):
    """The end of a run's fit, after its last checkpoint: the curves drawn (a Ctrl-C costs only the
    picture) and, when a signal stopped it, where it stands and how to go on. Returns its history."""
    draw_curves_or_skip(run)
    if run.stop_requested:
        run.log(f"stopped: saved {position} to {run.out}; continue with --resume --out {run.out}")
    return run.history


def draw_curves_or_skip(run):
    """run.draw_curves(), where a Ctrl-C costs only the picture: the checkpoint is already saved."""
    try:
        run.draw_curves()
    except KeyboardInterrupt:
        run.log(f"Ctrl-C: {CURVES} not drawn; the checkpoint in {run.out} is saved")


def load_run(out, kind):
    """The saved state of the run in `out`, which must be a run of `kind` ("classifier" or "gpt")."""
    from ..serialization import load

    state = load(checkpoint_path(out))
    if state.get("kind") != kind:
        raise errors.ValueError(f"--resume: {out} holds a {state.get('kind', 'unknown')} run, not a {kind} run")
    if "quantization" in state:
        raise errors.ValueError(f"--resume: {out} holds an int8 model made by `minisora quantize`, which evaluates "
                                f"and generates but does not train; resume the float run "
                                f"({state['quantization']['source']})")
    return state


def resumed(cls, out, overrides, log, changeable=("epochs", "device"), check=None):
    """(run, checkpoint state): the run of class `cls` saved in `out`, made again from its saved
    configuration with the `overrides` it allows (`changeable`; `check(config, overrides)` may
    refuse more), its model's and optimizer's state loaded. The caller restores the rest of its
    position."""
    state = load_run(out, cls.kind)
    config, overrides = dict(state["config"]), dict(overrides or {})
    check_overrides(config, overrides, changeable)
    if check is not None:
        check(config, overrides)
    run = cls({**config, **overrides}, out, log)
    run.model.load_state_dict(state["model"])
    run.optimizer.load_state_dict(state["optimizer"])
    return run, state


def prepare_run_folder(out, resume=False, force=False):
    """Check the run folder before any work: a folder (made if missing) that can be written, not
    holding another run unless resumed or forced; then clear what a killed save left (.tmp-* files)."""
    if os.path.exists(out) and not os.path.isdir(out):
        raise errors.ValueError(f"--out: {out} is a file, not a folder")
    try:
        os.makedirs(out, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as error:
        raise errors.ValueError(f"--out: cannot write in {out} ({error.strerror})") from None
    holds_run = os.path.exists(os.path.join(out, CHECKPOINT))
    if resume and not holds_run:
        raise errors.ValueError(f"--resume: {out} holds no run to continue (no {CHECKPOINT})")
    if holds_run and not (resume or force):
        raise errors.ValueError(f"--out: {out} already holds a run; pass --resume to continue it or --force to "
                                "start over in its place")
    for name in os.listdir(out):
        if name.startswith(".tmp-") or name == METRICS + ".tmp":   # only a save killed mid-write leaves these
            os.remove(os.path.join(out, name))


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
