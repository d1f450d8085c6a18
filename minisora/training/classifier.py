"""Training a classifier in a folder: epochs of mini-batch steps, validation, checkpoints, curves.

    run = ClassifierRun(config, out="runs/mlp-digits")      # or ClassifierRun.resume(out)
    run.fit()

The folder ends up holding
    checkpoint.safetensors   model, optimizer, schedule, RNG states and position (resumable)
    metrics.jsonl            one JSON object per epoch
    curves.png               loss and accuracy per epoch
    filters.png              (a CNN's) the first layer's filters and the maps of one validation image

A checkpoint records where the run stands down to the batch, the state of the data order and
of the random numbers, so a resumed run computes exactly what the uninterrupted run would
have. Ctrl-C finishes the current step, saves, and exits; a second Ctrl-C stops at once.
"""
import os
import time

import numpy as np

from .. import errors, functional as F
from .. import optim, random as ms_random
from ..autograd import no_grad
from ..data import DataLoader, transforms
from ..models import MLP, LeNet
from ..models.lenet import image_side
from ..plot import filters_and_feature_maps, training_curves
from ..serialization import save
from ..tensor import Tensor
from .common import CHECKPOINT, CURVES, draw_curves_or_skip, resumed, say, stop_on_signals, write_metrics
from .data_setup import shape_of, train_val_split

DEFAULTS = {
    "model": "mlp", "dataset": "digits", "data_dir": None, "hidden": [64], "activation": "relu", "dropout": 0.0,
    "optimizer": "sgd", "lr": 0.1, "momentum": 0.9, "weight_decay": 0.0, "scheduler": "cosine", "clip": None,
    "epochs": 30, "batch_size": 128, "val_split": 0.2, "split_seed": 0, "seed": 0, "device": "cpu", "augment": False,
}

FILTERS = "filters.png"

# The CNN's own defaults (where the options do not say): smaller batches, a lower lr, weight decay.
# On the digits' held-out 20% LeNet then scores 99.16 / 99.72 / 98.61% for seeds 0 / 1 / 2 (with
# the MLP's batch 128 and lr 0.1: 98.61 / 96.66 / 98.89%; benchmarks/RESULTS.md).
CNN_DEFAULTS = {"batch_size": 32, "lr": 0.05, "weight_decay": 5e-4}


def make_optimizer(config, parameters):
    name, lr, decay = config["optimizer"], config["lr"], config["weight_decay"]
    if name == "sgd":
        return optim.SGD(parameters, lr=lr, momentum=config["momentum"], weight_decay=decay)
    if name == "adam":
        return optim.Adam(parameters, lr=lr, weight_decay=decay)
    if name == "adamw":
        return optim.AdamW(parameters, lr=lr, weight_decay=decay)
    if name == "rmsprop":
        return optim.RMSprop(parameters, lr=lr, momentum=config["momentum"], weight_decay=decay)
    if name == "adadelta":
        return optim.Adadelta(parameters, lr=lr, weight_decay=decay)
    raise errors.ValueError(f"unknown optimizer {name!r}; choose sgd, adam, adamw, rmsprop or adadelta")


def make_scheduler(config, optimizer):
    name = config["scheduler"]
    if name == "none":
        return None
    if name == "cosine":
        return optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config["epochs"])
    if name == "step":
        return optim.lr_scheduler.StepLR(optimizer, step_size=max(1, config["epochs"] // 3), gamma=0.1)
    raise errors.ValueError(f"unknown scheduler {name!r}; choose none, cosine or step")


def make_model(config, features, classes):
    if config["model"] == "cnn":
        return LeNet(classes, image_side(features))
    if config["model"] != "mlp":
        raise errors.ValueError(f"unknown classifier model {config['model']!r}")
    return MLP(features, config["hidden"], classes, activation=config["activation"], dropout=config["dropout"])


class ClassifierRun:
    kind, defaults = "classifier", DEFAULTS   # (what its checkpoints are marked as; its configuration's defaults)

    def __init__(self, config, out, log=say):
        self.config = {**self.defaults, **(CNN_DEFAULTS if config.get("model") == "cnn" else {}), **config}
        self.out, self.log = out, log
        ms_random.manual_seed(self.config["seed"])
        self.device = self.config["device"]
        train, validation, self.class_names, model = self.build()
        self.model = model.to(self.device)   # built on the CPU: the same initial weights on any device
        self.loader = DataLoader(train, self.config["batch_size"], shuffle=True, seed=[self.config["seed"], 1],
                                 transform=self.augmentation(train))
        self.optimizer = self.make_optimizer()
        self.scheduler = self.make_scheduler()
        self.validation = validation
        self.epoch, self.batch = 0, 0            # completed epochs; steps done in the current one
        self.running = {"loss": 0.0, "correct": 0, "seen": 0}
        self.epoch_start_order = self.loader.state_dict()
        self.history = []
        self.stop_requested, self.stop_signal = False, None

    scheduler_per_step = False   # the lr schedule steps once an epoch (a fine-tuning run's: once a batch)

    def make_optimizer(self):
        return make_optimizer(self.config, self.model.parameters())

    def make_scheduler(self):
        return make_scheduler(self.config, self.optimizer)

    def build(self):
        """(train set, validation set, class names, model) for this run's configuration."""
        train, validation = train_val_split(self.config)
        features, classes, class_names = shape_of(train)
        return train, validation, class_names, make_model(self.config, features, classes)

    # --- one step and one evaluation --------------------------------------------------------
    def augmentation(self, train):
        """--augment (a CNN's): every training image shifted by up to one pixel each way (RandomCrop of
        its own size with padding 1), drawn from the loader's generator; no flips (a mirrored 2 is no 2)."""
        if not self.config.get("augment"):
            return None
        if self.config["model"] != "cnn":
            raise errors.ValueError("--augment shifts images: it applies to the cnn")
        side = image_side(shape_of(train)[0])
        return transforms.Compose([transforms.AsImages(1, side, side), transforms.RandomShift(1)])

    # A batch is (inputs..., targets); a model takes the inputs. What a run scores its outputs by:
    @staticmethod
    def loss(outputs, targets, reduction="mean"):
        return F.cross_entropy(outputs, targets, reduction=reduction)

    @staticmethod
    def predicted(outputs):
        """What the model answers, from its outputs (NumPy): the class with the largest logit."""
        return outputs.argmax(1)

    @staticmethod
    def hits(predictions, targets):
        """Which answers count as right (accuracy is their share)."""
        return predictions == targets

    def train_step(self, *batch):
        *inputs, y = (t.to(self.device) for t in batch)
        self.model.train()
        self.optimizer.zero_grad()
        outputs = self.model(*inputs)
        loss = self.loss(outputs, y)
        loss.backward()
        if self.config["clip"]:
            optim.clip_grad_norm_(self.model.parameters(), self.config["clip"])
        self.optimizer.step()
        if self.scheduler_per_step:
            self.scheduler.step()
        correct = int(self.hits(self.predicted(outputs.numpy()), y.numpy()).sum())
        return loss.item(), correct

    def evaluate(self, dataset, batch_size=1024):
        """(mean loss, accuracy, predictions, targets) over `dataset`, in eval mode."""
        self.model.eval()
        total, predictions, targets = 0.0, [], []
        with no_grad():
            for batch in DataLoader(dataset, batch_size):
                *inputs, y = (t.to(self.device) for t in batch)
                outputs = self.model(*inputs)
                total += self.loss(outputs, y, reduction="sum").item()
                predictions.append(self.predicted(outputs.numpy()))
                targets.append(y.numpy())
        predictions, targets = np.concatenate(predictions), np.concatenate(targets)
        return total / len(targets), float(self.hits(predictions, targets).mean()), predictions, targets

    # --- the loop ---------------------------------------------------------------------------
    def fit(self, progress=True):
        """Train until config["epochs"]; returns the history (one dict per epoch)."""
        from tqdm import tqdm

        with stop_on_signals(self):
            while self.epoch < self.config["epochs"] and not self.stop_requested:
                self._run_epoch(tqdm, progress)
            self.save_checkpoint()
        draw_curves_or_skip(self)
        if self.stop_requested:
            self.log(f"stopped: saved epoch {self.epoch + 1}, step {self.batch} to {self.out}; "
                     f"continue with --resume --out {self.out}")
        return self.history

    def _run_epoch(self, tqdm, progress):
        if self.batch == 0:
            self.running = {"loss": 0.0, "correct": 0, "seen": 0}
        self.loader.load_state_dict(self.epoch_start_order)   # mid-epoch: replay this epoch's order, skip what was done
        started = time.perf_counter()
        label = f"epoch {self.epoch + 1}/{self.config['epochs']}"
        bar = tqdm(total=len(self.loader), desc=label, leave=False, disable=None if progress else True,
                   initial=self.batch, unit="step")
        for index, batch in enumerate(self.loader):
            if index < self.batch:
                continue
            loss, correct = self.train_step(*batch)
            self.running["loss"] += loss * len(batch[-1])   # (the targets come last)
            self.running["correct"] += correct
            self.running["seen"] += len(batch[-1])
            self.batch = index + 1
            bar.update(1)
            if self.stop_requested:
                bar.close()
                return
        bar.close()
        val_loss, val_accuracy, _, _ = self.evaluate(self.validation)
        seen = self.running["seen"]
        row = {"epoch": self.epoch + 1, "train_loss": self.running["loss"] / seen,
               "train_accuracy": self.running["correct"] / seen, "val_loss": val_loss,
               "val_accuracy": val_accuracy, "lr": self.optimizer.param_groups[0]["lr"],
               "seconds": round(time.perf_counter() - started, 4)}
        self.history.append(row)
        if self.scheduler is not None and not self.scheduler_per_step:
            self.scheduler.step()
        self.epoch, self.batch = self.epoch + 1, 0
        self.epoch_start_order = self.loader.state_dict()   # where the next epoch's shuffle starts
        self.log(f"{label:>12}  loss {row['train_loss']:.4f}  val loss {val_loss:.4f}  "
                 f"val acc {val_accuracy:6.2%}  lr {row['lr']:.3g}  {row['seconds']:.2f} s")
        write_metrics(self.out, self.history)
        self.save_checkpoint()

    # --- files -------------------------------------------------------------------------------
    def draw_curves(self):
        if self.history:
            title = f"{self.config['model']} on {self.config['dataset']}"
            training_curves(self.history, path=os.path.join(self.out, CURVES), title=title)
        if self.config["model"] == "cnn":   # what the first layer looks for, and what it sees in one image
            image = self.validation.batch([0])[0]
            self.model.eval()
            with no_grad():
                filters_and_feature_maps(self.model, Tensor(image, device=self.device), os.path.join(self.out, FILTERS))

    def save_checkpoint(self):
        state = {
            "kind": self.kind, "config": self.config, "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
            "position": {"epoch": self.epoch, "batch": self.batch}, "running": self.running,
            "data_order": self.epoch_start_order, "random": ms_random.generator().bit_generator.state,
            "history": self.history, "classes": self.class_names,
        }
        return save(state, os.path.join(self.out, CHECKPOINT))

    @classmethod
    def resume(cls, out, overrides=None, log=say):
        """The run saved in `out`, ready to continue; `overrides` may raise the epoch count."""
        run, state = resumed(cls, out, overrides, log, check=keeps_the_schedule)
        if run.scheduler is not None:
            run.scheduler.load_state_dict(state["scheduler"])
        run.epoch, run.batch = state["position"]["epoch"], state["position"]["batch"]
        run.running, run.history = state["running"], state["history"]
        run.epoch_start_order = state["data_order"]
        run.loader.load_state_dict(state["data_order"])
        ms_random.generator().bit_generator.state = state["random"]
        return run


def keeps_the_schedule(config, overrides):
    """--resume may not change --epochs under an lr schedule planned for them."""
    if config["scheduler"] != "none" and overrides.get("epochs", config["epochs"]) != config["epochs"]:
        raise errors.ValueError(f"--resume: the {config['scheduler']} lr schedule was planned for {config['epochs']} "
                                "epochs; keep --epochs, or train with --scheduler none to extend a run")


def accuracy_table(counts, names):
    """The confusion matrix as text: rows true class, columns predicted."""
    width = max(5, max(len(n) for n in names) + 1, len(str(counts.max())) + 1)
    head = " " * width + "".join(f"{n[:width - 1]:>{width}}" for n in names)
    rows = [f"{n[:width - 1]:>{width}}" + "".join(f"{c:>{width}}" for c in row) for n, row in zip(names, counts)]
    return "\n".join(["true \\ predicted", head, *rows])
