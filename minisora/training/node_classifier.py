"""Training a graph network to classify nodes, in a folder: full-graph steps, checkpoints, pictures.

    run = NodeRun({"model": "gcn", "dataset": "karate"}, out="runs/gcn-karate")   # or NodeRun.resume(out)
    run.fit()

One step is the whole graph: every node's logits, the loss on the train nodes only (the labels a
semi-supervised run knows), one optimizer step. Each epoch is one step and a look at the val
nodes. The folder ends up holding checkpoint.safetensors (resumable: model, optimizer, random
state, position), metrics.jsonl, curves.png, graph.png (the graph coloured by predicted class,
wrong nodes ringed) and embeddings.png (the hidden layer's node vectors on their two principal
directions). Ctrl-C finishes the step, saves and stops.
"""
import os
import time

from .. import errors, functional as F, random as ms_random
from ..autograd import no_grad
from ..data import cora, karate_club, sbm
from ..models import NodeClassifier
from ..plot import embedding_projection, graph_classes, training_curves
from ..serialization import save
from ..tensor import Tensor
from .classifier import make_optimizer
from .common import CHECKPOINT, CURVES, layered, resumed, say, stop_on_signals, wrapped_up, write_metrics

DEFAULTS = {"model": "gcn", "dataset": "karate", "data_dir": None, "nodes": 10_000, "hidden": None, "heads": 8,
            "dropout": None, "optimizer": "adam", "lr": None, "momentum": 0.9, "weight_decay": 5e-4, "epochs": 200,
            "seed": 0, "device": "cpu"}
# Kipf & Welling's GCN recipe (hidden 16, Adam lr 0.01) and Velickovic et al.'s GAT one (8 heads of 8, lr 0.005)
MODEL_DEFAULTS = {"gcn": {"hidden": 16, "lr": 0.01}, "sage": {"hidden": 16, "lr": 0.01}, "gat": {"hidden": 8, "lr": 0.005}}
GRAPH_PICTURE, EMBEDDINGS_PICTURE = "graph.png", "embeddings.png"


def node_data(config):
    name = config["dataset"]
    if name == "karate":
        return karate_club()
    if name == "sbm":
        return sbm(config["nodes"], seed=0)
    if name == "cora":
        if not config["data_dir"]:
            raise errors.ValueError("--data cora needs --data-dir: the folder with cora.content and cora.cites")
        return cora(config["data_dir"])
    raise errors.ValueError(f"unknown graph dataset {name!r}; choose karate, sbm or cora")


class NodeRun:
    kind = "node-classifier"

    def __init__(self, config, out, log=say):
        self.config = layered(config, DEFAULTS, MODEL_DEFAULTS, "model", "graph model")
        self.out, self.log = out, log
        ms_random.manual_seed(self.config["seed"])
        self.device = self.config["device"]
        self.data = node_data(self.config)
        self.class_names = self.data.class_names
        model = NodeClassifier(self.config["model"], self.data.x.shape[1], self.config["hidden"],
                               self.data.num_classes, heads=self.config["heads"], dropout=self.config["dropout"])
        self.model = model.to(self.device)
        self.optimizer = make_optimizer(self.config, self.model.parameters())
        self.graph = self.data.graph.to(self.device)
        self.x = Tensor(self.data.x, device=self.device)
        empty = [split for split, ids in self.splits().items() if split != "test" and len(ids) == 0]
        if empty:
            raise errors.ValueError(f"{self.data.name}: no nodes in its {' and '.join(empty)} split")
        self.labels = {split: (Tensor(ids, device=self.device), Tensor(self.data.y[ids], device=self.device))
                       for split, ids in self.splits().items()}
        self.epoch, self.history = 0, []
        self.stop_requested, self.stop_signal = False, None

    def splits(self):
        return {"train": self.data.train, "val": self.data.val, "test": self.data.test}

    def train_step(self):
        """One full-graph step; (loss, accuracy) on the train nodes."""
        ids, y = self.labels["train"]
        self.model.train()
        self.optimizer.zero_grad()
        logits = F.gather_rows(self.model(self.x, self.graph), ids)
        loss = F.cross_entropy(logits, y)
        loss.backward()
        self.optimizer.step()
        return loss.item(), float((logits.numpy().argmax(1) == y.numpy()).mean())

    def evaluate(self, split):
        """(mean loss, accuracy, predictions, targets) on one split's nodes, in eval mode."""
        ids, y = self.labels[split]
        self.model.eval()
        with no_grad():
            logits = F.gather_rows(self.model(self.x, self.graph), ids)
            loss = F.cross_entropy(logits, y).item()
        predictions = logits.numpy().argmax(1)
        return loss, float((predictions == y.numpy()).mean()), predictions, y.numpy()

    def fit(self, progress=True):
        from tqdm import tqdm

        epochs = self.config["epochs"]
        every = max(1, epochs // 10)
        with stop_on_signals(self):
            bar = tqdm(total=epochs, initial=self.epoch, desc="epochs", leave=False, disable=None if progress else True)
            while self.epoch < epochs and not self.stop_requested:
                started = time.perf_counter()
                loss, accuracy = self.train_step()
                val_loss, val_accuracy, _, _ = self.evaluate("val")
                self.epoch += 1
                self.history.append({"epoch": self.epoch, "train_loss": loss, "train_accuracy": accuracy,
                                     "val_loss": val_loss, "val_accuracy": val_accuracy,
                                     "lr": self.optimizer.param_groups[0]["lr"],
                                     "seconds": round(time.perf_counter() - started, 4)})
                bar.update(1)
                if self.epoch % every == 0 or self.epoch == epochs:
                    self.log(f"epoch {self.epoch:>4}/{epochs}  loss {loss:.4f}  train acc {accuracy:6.2%}  "
                             f"val loss {val_loss:.4f}  val acc {val_accuracy:6.2%}")
                    write_metrics(self.out, self.history)
                    self.save_checkpoint()
            bar.close()
            write_metrics(self.out, self.history)
            self.save_checkpoint()
        return wrapped_up(self, f"epoch {self.epoch}")

    def draw_curves(self):
        c = self.config
        if self.history:
            training_curves(self.history, path=os.path.join(self.out, CURVES), title=f"{c['model']} on {c['dataset']}")
        self.model.eval()
        with no_grad():
            logits = self.model(self.x, self.graph).numpy()
            hidden = self.model.embed(self.x, self.graph).numpy()
        graph_classes(self.data.graph, logits.argmax(1), self.data.y, os.path.join(self.out, GRAPH_PICTURE),
                      title=f"{c['model']} on {c['dataset']}: predicted classes", class_names=self.class_names)
        embedding_projection(hidden, self.data.y, os.path.join(self.out, EMBEDDINGS_PICTURE),
                             title=f"{c['model']}'s hidden layer, coloured by true class", class_names=self.class_names)

    def save_checkpoint(self):
        state = {"kind": self.kind, "config": self.config, "model": self.model.state_dict(),
                 "optimizer": self.optimizer.state_dict(), "position": {"epoch": self.epoch},
                 "random": ms_random.generator().bit_generator.state, "history": self.history,
                 "classes": self.class_names}
        return save(state, os.path.join(self.out, CHECKPOINT))

    @classmethod
    def resume(cls, out, overrides=None, log=say):
        run, state = resumed(cls, out, overrides, log)
        run.epoch, run.history = state["position"]["epoch"], state["history"]
        ms_random.generator().bit_generator.state = state["random"]
        return run


def describe(run):
    c, d = run.config, run.data
    parameters = sum(p.numel() for p in run.model.parameters())
    heads = f" x {c['heads']} heads" if c["model"] == "gat" else ""
    return (f"training {c['model']} (hidden {c['hidden']}{heads}, {parameters:,} parameters) on {d.name} "
            f"({d.graph.num_nodes:,} nodes, {d.graph.num_edges:,} edges, {len(d.train)} labelled / {len(d.val)} val / "
            f"{len(d.test)} test), {c['optimizer']} lr {c['lr']}, weight decay {c['weight_decay']}, {c['epochs']} epochs, "
            f"seed {c['seed']}, on {c['device']}")


def accuracy_over_seeds(config, seeds, split="test"):
    """{seed: accuracy on `split`} of a run per seed, trained without files or pictures (the learning
    tests, lesson 14 and RESULTS use it)."""
    scores = {}
    for seed in seeds:
        run = NodeRun({**config, "seed": seed}, os.devnull, log=lambda message: None)
        for _ in range(run.config["epochs"]):
            run.train_step()
        scores[seed] = run.evaluate(split)[1]
    return scores

