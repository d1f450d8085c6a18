"""`minisora quantize`: a trained MLP, CNN or GPT run made int8, measured before and after.

    float32      the run's own model
    int8 PTQ     post-training quantization: weights per output channel, each layer's input
                 per tensor from a calibration pass over `calibrate` training samples
    int8 QAT     (qat_steps > 0) the float model trained on a few more steps through fake
                 quantization (at a tenth of its learning rate), then converted; beside it the
                 float model trained on the same steps without it (the control: what the
                 extra training alone gives)

Each row says: the model's size on disk (its weights alone, as ms.save writes them), its
validation accuracy (MLP, CNN) or loss (GPT), and the time one pass over the validation set
takes on this CPU (the best of two, after a first pass that compiles). The int8 model (QAT's if
any, else PTQ's) is written to `out`, a checkpoint that `minisora eval` or `minisora generate`
reads like any other (the layout of its int8 layers travels with it).
"""
import os
import tempfile
import time

import numpy as np

from .. import errors, quant
from ..serialization import load, save
from ..tensor import Tensor
from .common import CHECKPOINT, checkpoint_path, prepare_run_folder, say


def load_float_run(path, log):
    """(checkpoint state, run) of a trained MLP/CNN classifier or GPT, rebuilt on the CPU."""
    from .classifier import ClassifierRun
    from .language_model import LanguageModelRun
    from ..data import CharTokenizer

    state = load(checkpoint_path(path))
    kind = state.get("kind")
    if kind not in ("classifier", "gpt") or (kind == "classifier" and state["config"].get("model") not in ("mlp", "cnn")):
        raise errors.ValueError(f"quantize: {path} holds a {state['config'].get('model', kind)} run; quantize takes "
                                "the checkpoints of `minisora train mlp`, `train cnn` and `train gpt`")
    if "quantization" in state:
        raise errors.ValueError(f"quantize: {path} is already quantized; pass the float run it came from "
                                f"({state['quantization']['source']})")
    config = {**state["config"], "device": "cpu"}
    with tempfile.TemporaryDirectory() as scratch:   # the run's own folder stays untouched
        if kind == "gpt":
            run = LanguageModelRun(config, scratch, log, CharTokenizer.from_state_dict(state["tokenizer"]))
        else:
            run = ClassifierRun(config, scratch, log)
    run.model.load_state_dict(state["model"])
    return state, run


def fresh_model(run, state):
    """Another copy of the run's float model, with the checkpoint's weights (a classifier's sizes
    read from the run's data, not split again)."""
    from .classifier import make_model
    from .data_setup import shape_of

    model = run.make_model() if run.kind == "gpt" else make_model(run.config, *shape_of(run.loader.dataset)[:2])
    model.load_state_dict(state["model"])
    return model


def calibration_inputs(run, count):
    """`count` training samples (a GPT: windows of `context` tokens), in batches: the first ones of
    the training set, or a GPT's seeded draw, so the same command calibrates the same way."""
    if run.kind == "gpt":
        batches = -(-count // run.config["batch_size"])
        return [run.batches.sample()[0] for _ in range(batches)]
    train = run.loader.dataset
    count = min(count, len(train))
    return [Tensor(train.batch(np.arange(start, min(start + 128, count)))[0]) for start in range(0, count, 128)]


def measure(name, run, model):
    """A row of the report: size on disk, validation score, time of one validation pass."""
    run.model = model
    with tempfile.TemporaryDirectory() as scratch:
        weights = os.path.join(scratch, "weights.safetensors")
        save({"model": model.state_dict()}, weights)
        size = os.path.getsize(weights)
    times = []
    for _ in range(3):   # the first pass compiles what it needs: the best of the next two is the speed
        started = time.perf_counter()
        if run.kind == "gpt":
            loss, accuracy = run.validation_loss(), None
        else:
            loss, accuracy = run.evaluate(run.validation)[:2]
        times.append(time.perf_counter() - started)
    return {"model": name, "bytes": size, "val_loss": float(loss), "val_accuracy": accuracy, "seconds": min(times[1:])}


def train_with_fake_quantization(run, model, steps, lr_scale=0.1):
    """`steps` training steps of `model` (prepared for QAT, or the float control) at lr_scale times
    the run's learning rate."""
    from .classifier import make_optimizer as classifier_optimizer
    from .language_model import make_optimizer as gpt_optimizer

    config = {**run.config, "lr": run.config["lr"] * lr_scale}
    run.model = model
    if run.kind == "gpt":
        run.optimizer = gpt_optimizer(config, model)
        for _ in range(steps):
            run.train_step()
        return
    run.optimizer, run.scheduler = classifier_optimizer(config, model.parameters()), None
    done = 0
    while done < steps:
        for batch in run.loader:
            run.train_step(*batch)
            done += 1
            if done == steps:
                return


def quantize_run(checkpoint, out, calibrate=512, qat_steps=0, observer="minmax", prune=0.0, per_row=False,
                 force=False, log=say):
    """Quantize the run in `checkpoint`, write the int8 one (the QAT model if any, else PTQ's) to
    `out`; returns (the report's rows, the sparsity report or None, the written model's row)."""
    state, run = load_float_run(checkpoint, log)
    if os.path.abspath(out) == os.path.dirname(os.path.abspath(checkpoint_path(checkpoint))):
        raise errors.ValueError(f"quantize: --out {out} is the float run's own folder; the int8 run goes beside it")
    if os.path.exists(os.path.join(out, CHECKPOINT)) and not force:
        raise errors.ValueError(f"quantize: --out {out} already holds a run; pass --force to replace it")
    prepare_run_folder(out, force=force)
    rows = [measure("float32", run, run.model)]
    sparsity = None
    pruned_note = f", {prune:.0%} pruned{' per row' if per_row else ''}" if prune else ""
    if prune:
        pruned = fresh_model(run, state)
        sparsity = quant.prune_magnitude(pruned, prune, per_row=per_row)
        rows.append(measure(f"float32{pruned_note}", run, pruned))
    inputs = calibration_inputs(run, calibrate)
    model = quant.quantize_model(start_from(run, state, prune, per_row), inputs, observer=observer)
    rows.append(measure(f"int8 PTQ{pruned_note}", run, model))
    written = rows[-1]
    if qat_steps:
        model = quant.prepare_qat(start_from(run, state, prune, per_row))
        train_with_fake_quantization(run, model, qat_steps)
        model = quant.convert(model)
        rows.append(measure(f"int8 QAT ({qat_steps} steps){pruned_note}", run, model))
        written = rows[-1]
        # the control: the same steps without fake quantization, so the table tells what QAT
        # recovered from what any further training would have given
        control = start_from(run, state, prune, per_row)
        train_with_fake_quantization(run, control, qat_steps)
        rows.append(measure(f"float32 + the same {qat_steps} steps", run, control))
    saved = {key: state[key] for key in ("kind", "config", "tokenizer", "classes") if key in state}
    saved.update({"model": model.state_dict(),
                  "quantization": {"layout": quant.layout(model), "source": os.path.abspath(checkpoint_path(checkpoint)),
                                   "calibrate": calibrate, "observer": observer, "qat_steps": qat_steps, "prune": prune,
                                   "per_row": per_row, "report": rows}})
    save(saved, os.path.join(out, CHECKPOINT))
    return rows, sparsity, written


def start_from(run, state, prune, per_row):
    """The float model a quantization starts from: the run's, pruned as asked."""
    model = fresh_model(run, state)
    if prune:
        quant.prune_magnitude(model, prune, per_row=per_row)
    return model


def report_table(rows):
    """The rows as a text table, each compared with the float32 model's."""
    base = rows[0]
    scored = "val_accuracy" if base["val_accuracy"] is not None else "val_loss"
    title = "val accuracy" if scored == "val_accuracy" else "val loss"
    header = f"{'model':<28} {'size on disk':>13} {'smaller':>8} {title:>12} {'change':>9} {'eval time':>11}"
    lines = [header]
    for row in rows:
        score = row[scored]
        shown = f"{score:.2%}" if scored == "val_accuracy" else f"{score:.4f}"
        change = (f"{100 * (score - base[scored]):+.2f} pt" if scored == "val_accuracy"
                  else f"{score - base[scored]:+.4f}")
        lines.append(f"{row['model']:<28} {row['bytes'] / 1e6:>10.3f} MB {base['bytes'] / row['bytes']:>7.2f}x "
                     f"{shown:>12} {change:>9} {1e3 * row['seconds']:>8.1f} ms")
    return "\n".join(lines)


def restore_quantized(model, state):
    """The float model built from a checkpoint's configuration, turned into its int8 layout when the
    checkpoint is a quantized one (before load_state_dict)."""
    if "quantization" in state:
        quant.restore_layout(model, state["quantization"]["layout"])
    return model
