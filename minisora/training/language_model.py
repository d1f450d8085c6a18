"""Training a character-level GPT in a folder: steps of AdamW on random windows of text, a
validation loss on fixed windows every `eval_every` steps, a generated sample at each one.

    run = LanguageModelRun({"corpus": "pydoc", "steps": 3000}, out="runs/gpt-pydoc")
    run.fit()

The folder ends up holding checkpoint.safetensors (model, optimizer, tokenizer, RNG states,
step), metrics.jsonl (one JSON object per evaluation) and curves.png (train and validation
loss against steps). Ctrl-C finishes the step, saves and stops; --resume continues exactly.
"""
import os
import time

import numpy as np

from .. import errors, optim, random as ms_random
from ..autograd import no_grad
from ..data import CharTokenizer, TextBatches, read_corpus, split_ids
from ..models import GPT
from ..plot import training_curves
from ..serialization import load, save
from .common import (CHECKPOINT, CURVES, check_overrides, checkpoint_path, load_run, say, stop_on_signals,
                     wrapped_up, write_metrics)

DEFAULTS = {
    "model": "gpt", "corpus": "pydoc", "layers": 4, "d_model": 128, "heads": 4, "context": 64, "dropout": 0.0,
    "batch_size": 32, "steps": 3000, "lr": 1e-3, "beta1": 0.9, "beta2": 0.99, "weight_decay": 0.1,
    "eval_every": 250, "eval_batches": 20, "sample_tokens": 200, "seed": 0, "device": "cpu",
}


def make_optimizer(config, model):
    """AdamW; weight decay on the matrices and embedding tables only, not on biases and LayerNorm
    (decaying a bias or a norm's scale towards 0 only fights the fit, as in GPT-2 and nanoGPT)."""
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": config["weight_decay"]}, {"params": no_decay, "weight_decay": 0.0}]
    return optim.AdamW(groups, lr=config["lr"], betas=(config["beta1"], config["beta2"]))


class LanguageModelRun:
    kind, defaults = "gpt", DEFAULTS   # (what its checkpoints are marked as; its configuration's defaults)
    tokenizer_class, title = CharTokenizer, "GPT"

    def __init__(self, config, out, log=say, tokenizer=None):
        self.config = {**self.defaults, **config}
        self.out, self.log = out, log
        config = self.config
        text = self.corpus()
        self.tokenizer = tokenizer or self.fit_tokenizer(text)
        train_ids, val_ids = split_ids(self.tokenizer.encode(text))
        self.batches = self.batches_of(train_ids, seed=[config["seed"], 1])
        # the validation windows are drawn once, from a fixed seed: the same text at every evaluation
        device = self.device = config["device"]
        self.val_batches = [(x.to(device), y.to(device))
                            for x, y in self.batches_of(val_ids, seed=12345).fixed(config["eval_batches"])]
        self.describe_data(train_ids, val_ids)
        ms_random.manual_seed(config["seed"])
        # built on the CPU, then moved: the same initial weights on every device
        self.model = self.make_model().to(device)
        self.optimizer = make_optimizer(config, self.model)
        self.step, self.history = 0, []
        self.stop_requested, self.stop_signal = False, None
        self.running = {"loss": 0.0, "steps": 0, "seconds": 0.0}

    # --- what a kind of language model chooses (the masked one, masked_language_model.py, too) ---
    def corpus(self):
        return read_corpus(self.config["corpus"])

    def fit_tokenizer(self, text):
        return CharTokenizer.from_text(text)

    def batches_of(self, ids, seed):
        return TextBatches(ids, self.config["context"], self.config["batch_size"], seed=seed)

    def describe_data(self, train_ids, val_ids):
        """Measure what the data says before training (a GPT: nothing)."""

    def extra_metrics(self):
        """What else each evaluation's row of metrics.jsonl records (a GPT: nothing)."""
        return {}

    def make_model(self):
        c = self.config
        return GPT(self.tokenizer.vocab_size, c["context"], c["d_model"], c["heads"], c["layers"], c["dropout"])

    def train_step(self):
        x, y = self.batches.sample()
        x, y = x.to(self.device), y.to(self.device)
        self.model.train()
        self.optimizer.zero_grad()
        loss = self.model.loss(x, y)
        loss.backward()
        self.optimizer.step()
        return loss.item()

    def validation_loss(self):
        self.model.eval()
        with no_grad():
            return float(np.mean([self.model.loss(x, y).item() for x, y in self.val_batches]))

    def sample(self, prompt=None, tokens=None, temperature=1.0, top_k=None):
        ids = self.tokenizer.encode(default_prompt(self.tokenizer) if prompt is None else prompt)[None, :]
        out = self.model.generate(ids, tokens or self.config["sample_tokens"], temperature, top_k)
        return self.tokenizer.decode(out.numpy()[0])

    def fit(self, progress=True):
        from tqdm import tqdm

        steps = self.config["steps"]
        bar = tqdm(total=steps, initial=self.step, desc="training", unit="step", disable=None if progress else True)
        with stop_on_signals(self):
            while self.step < steps and not self.stop_requested:
                started = time.perf_counter()
                loss = self.train_step()
                self.running["loss"] += loss
                self.running["steps"] += 1
                self.running["seconds"] += time.perf_counter() - started
                self.step += 1
                bar.update(1)
                bar.set_postfix(loss=f"{loss:.3f}")
                if self.step % self.config["eval_every"] == 0 or self.step == steps:
                    self.evaluate(bar)
            bar.close()
            self.save_checkpoint()
        return wrapped_up(self, f"step {self.step}")

    def evaluate(self, bar=None):
        val_loss = self.validation_loss()
        steps, seconds = max(self.running["steps"], 1), max(self.running["seconds"], 1e-9)
        row = {"step": self.step, "train_loss": self.running["loss"] / steps, "val_loss": val_loss,
               "ms_per_step": 1e3 * seconds / steps,
               "tokens_per_second": steps * self.config["batch_size"] * self.config["context"] / seconds,
               **self.extra_metrics()}
        self.history.append(row)
        self.running = {"loss": 0.0, "steps": 0, "seconds": 0.0}
        message = (f"step {self.step:5d}  train loss {row['train_loss']:.4f}  val loss {val_loss:.4f}  "
                   f"{row['ms_per_step']:.0f} ms/step\n  {self.sample_line()}")
        (bar.write if bar is not None and not bar.disable else self.log)(message)
        write_metrics(self.out, self.history)
        self.save_checkpoint()

    def sample_line(self):
        """What an evaluation shows of the model besides its losses: a generated sample."""
        return f"sample: {self.sample().strip()[:160]!r}"

    def draw_curves(self):
        if self.history:
            training_curves(self.history, path=os.path.join(self.out, CURVES), x="step",
                            title=f"{self.title} on {os.path.basename(str(self.config['corpus']))}")

    def save_checkpoint(self):
        state = {
            "kind": self.kind, "config": self.config, "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(), "tokenizer": self.tokenizer.state_dict(),
            "step": self.step, "running": self.running, "history": self.history,
            "batches": self.batches.state_dict(), "random": ms_random.generator().bit_generator.state,
        }
        return save(state, os.path.join(self.out, CHECKPOINT))

    @classmethod
    def resume(cls, out, overrides=None, log=say):
        state = load_run(out, cls.kind)
        config, overrides = dict(state["config"]), dict(overrides or {})
        check_overrides(config, overrides, ("steps", "eval_every", "device"))
        run = cls({**config, **overrides}, out, log, cls.tokenizer_class.from_state_dict(state["tokenizer"]))
        run.restore(state)
        return run

    def restore(self, state):
        self.model.load_state_dict(state["model"])
        renamed = sorted(set(state["model"]) - set(self.model.state_dict()))
        if renamed:   # the weights loaded once renamed (Module.upgrade_state_dict); the optimizer's are by position
            raise errors.ValueError(f"--resume: the checkpoint names its parameters as an earlier minisora did ({renamed[0]}, "
                                    "...): its weights still load (minisora generate works), but its optimizer state "
                                    "does not fit this version's parameters, so the run cannot continue; start a new one")
        self.optimizer.load_state_dict(state["optimizer"])
        self.step, self.running, self.history = state["step"], state["running"], state["history"]
        self.batches.load_state_dict(state["batches"])
        ms_random.generator().bit_generator.state = state["random"]


def default_prompt(tokenizer):
    """A newline (a fresh paragraph), or the first character of the vocabulary when the text had no newline."""
    return "\n" if "\n" in tokenizer.ids else tokenizer.vocabulary[0]


def load_for_generation(path):
    """(model, tokenizer) from a GPT checkpoint (float or quantized), ready to generate."""
    from .quantization import restore_quantized

    state = load(checkpoint_path(path))
    if state.get("kind") != "gpt":
        raise errors.ValueError(f"{path} holds a {state.get('kind', 'unknown')} run, not a GPT: generate needs a GPT checkpoint")
    config = state["config"]
    tokenizer = CharTokenizer.from_state_dict(state["tokenizer"])
    model = GPT(tokenizer.vocab_size, config["context"], config["d_model"], config["heads"], config["layers"])
    restore_quantized(model, state).load_state_dict(state["model"])
    return model, tokenizer
