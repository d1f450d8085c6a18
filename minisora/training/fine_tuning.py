"""Fine-tuning a pretrained encoder on a few labels (`minisora finetune`): transfer learning.

    pretrained (minisora train mlm)   encoder.*  +  the MLM head (dropped)
    classifier                        encoder.*  (loaded by name)  +  a fresh Linear head
                                      -> the mean of the states (or <cls>'s) -> logits

The classifier is TextClassifier kind "transformer" with the pretrained run's sizes, tokenizer and
positions; the labelled data is the text classifier's (pydoc topics or a CSV/TSV file), of which
--labels-fraction of the training texts keep their labels (a seeded draw, the same for every seed
and every initialisation, so runs compare on the same labels). BERT's recipe on top of the
classifier's loop (classifier.py):

    AdamW, two parameter groups    the encoder at --encoder-lr, the head at --lr (a higher one:
                                   it starts from nothing, the encoder from something worth keeping)
    --freeze embeddings | encoder  those parameters stay as pretrained (no gradient, no update)
    warm-up and linear decay       the lr of both groups climbs from 0 over the first
                                   --warmup share of the steps, then falls to 0 (WarmupLinearLR),
                                   stepped once per batch
    gradient clipping              --clip (the norm over every parameter), 1.0 by default

--init scratch trains the same classifier from random weights (the baseline pretraining must beat).
The run's configuration keeps the pretrained run's sizes and tokenizer (`encoder_source`), so
`minisora eval` and `--resume` need only the fine-tuned run's folder.
"""
import numpy as np

from .. import data, errors, optim
from ..data import Subset, TextTokenizer
from ..models import TextClassifier
from ..serialization import load
from .common import checkpoint_path
from .sequence_classifier import SequenceRun

DEFAULTS = {
    "model": "transformer", "dataset": "pydoc-topics", "pretrained": None, "init": "pretrained", "freeze": "none",
    "labels_fraction": 1.0, "window": 128, "stride": 128, "lr": 3e-3, "encoder_lr": 1e-3, "weight_decay": 0.01,
    "warmup": 0.1, "clip": 1.0, "epochs": 10, "batch_size": 32, "dropout": 0.1, "val_split": 0.1, "split_seed": 0,
    "seed": 0, "device": "cpu", "optimizer": "adamw", "scheduler": "warmup-linear", "encoder_source": None,
}
ENCODER_SIZES = ("context", "d_model", "layers", "heads", "positions", "pooling")   # what the classifier copies
FREEZE = {"none": (), "embeddings": ("token_embedding.", "position_embedding."), "encoder": ("",)}


def pretrained_state(path):
    """The checkpoint of a `minisora train mlm` run."""
    state = load(checkpoint_path(path))
    if state.get("kind") != "mlm":
        raise errors.ValueError(f"--from {path}: holds a {state.get('kind', 'unknown')} run, not a masked language "
                                "model (pretrain one with minisora train mlm)")
    return state


def encoder_weights(state, path):
    """The encoder's parameters of a pretrained model's state, named as the encoder names them."""
    weights = {name[len("encoder."):]: value for name, value in state["model"].items() if name.startswith("encoder.")}
    if not weights:
        raise errors.ValueError(f"--from {path}: the checkpoint holds no encoder.* parameters")
    return weights


class FineTuningRun(SequenceRun):
    kind, defaults = "fine-tuned-classifier", DEFAULTS
    scheduler_per_step = True

    def __init__(self, config, out, log=None):
        config = {**DEFAULTS, **config}
        if config["pretrained"] is None:
            raise errors.ValueError("finetune: --from DIR (a `minisora train mlm` run) is required: it gives the "
                                    "encoder's sizes and tokenizer, and its weights unless --init scratch")
        if config["init"] not in ("pretrained", "scratch"):
            raise errors.ValueError(f"finetune: --init must be pretrained or scratch, got {config['init']!r}")
        if config["freeze"] not in FREEZE:
            raise errors.ValueError(f"finetune: --freeze must be one of {', '.join(FREEZE)}, got {config['freeze']!r}")
        if not 0 < config["labels_fraction"] <= 1:
            raise errors.ValueError(f"finetune: --labels-fraction must be in (0, 1], got {config['labels_fraction']!r}")
        if not 0 <= config["warmup"] < 1:
            raise errors.ValueError(f"finetune: --warmup is a share of the steps in [0, 1), got {config['warmup']!r}")
        super().__init__({**config, "model": "transformer"}, out, **({} if log is None else {"log": log}))

    def build(self):
        c = self.config
        state = None
        if c["encoder_source"] is None:   # a new run: the pretrained run's sizes and tokenizer, kept in the config
            state = pretrained_state(c["pretrained"])   # so that eval and --resume no longer need its folder
            c["encoder_source"] = {"config": {key: state["config"][key] for key in ENCODER_SIZES},
                                   "tokenizer": state["tokenizer"]}
        pretrained = c["encoder_source"]["config"]
        tokenizer = TextTokenizer.from_state_dict(c["encoder_source"]["tokenizer"])
        if tokenizer.level == "char" and c["dataset"] == "pydoc-topics" and c["window"] > pretrained["context"]:
            raise errors.ValueError(f"finetune: windows of {c['window']} characters are longer than the "
                                    f"{pretrained['context']} the encoder was pretrained on; pass --window "
                                    f"{pretrained['context']} or less")
        # each text cut to the tokens the encoder reads, as BERT's fine-tuning does
        train, validation, self.test, _ = data.text_classification(
            c["dataset"], tokenizer.level, c["window"], pretrained["context"], val_fraction=c["val_split"],
            seed=c["split_seed"], stride=c["stride"], tokenizer=tokenizer)
        labelled = labelled_subset(len(train), c["labels_fraction"], c["split_seed"])
        train = Subset(train, labelled)
        self.labelled_count = len(labelled)
        model = TextClassifier(tokenizer.vocab_size, len(validation.classes), "transformer", pretrained["d_model"],
                               num_layers=pretrained["layers"], dropout=c["dropout"], heads=pretrained["heads"],
                               max_length=pretrained["context"], positions=pretrained["positions"],
                               pooling=pretrained["pooling"], cls_id=tokenizer.cls_id)
        if c["init"] == "pretrained" and state is not None:   # (a run made again loads its own weights next)
            try:
                model.encoder.load_state_dict(encoder_weights(state, c["pretrained"]))
            except errors.ValueError as error:
                raise errors.ValueError(f"finetune --from {c['pretrained']}: the pretrained encoder does not fit "
                                        f"this classifier's: {error}") from None
        frozen = FREEZE[c["freeze"]]
        for name, parameter in model.encoder.named_parameters():
            if any(name.startswith(prefix) for prefix in frozen):
                parameter.requires_grad_(False)
        return train, validation, list(validation.classes), model

    def make_optimizer(self):
        """AdamW with the encoder's trainable parameters at encoder_lr and the head's at lr; weight
        decay on matrices only (not on biases and LayerNorm, as BERT)."""
        c = self.config
        groups = []
        for part, lr in ((self.model.encoder, c["encoder_lr"]), (self.model.head, c["lr"])):
            trainable = [p for p in part.parameters() if p.requires_grad]
            groups += [{"params": [p for p in trainable if p.ndim >= 2], "lr": lr},
                       {"params": [p for p in trainable if p.ndim < 2], "lr": lr, "weight_decay": 0.0}]
        return optim.AdamW([g for g in groups if g["params"]], lr=c["lr"], weight_decay=c["weight_decay"])

    def make_scheduler(self):
        total = self.config["epochs"] * len(self.loader)
        return optim.lr_scheduler.WarmupLinearLR(self.optimizer, round(self.config["warmup"] * total), total)


def labelled_subset(count, fraction, seed):
    """Which of `count` training texts keep their label: a seeded draw of round(fraction * count), at least 1, in order."""
    kept = max(1, round(fraction * count))
    return np.sort(np.random.default_rng([seed, 27]).permutation(count)[:kept])


def describe(run):
    c = run.config
    source = "random weights" if c["init"] == "scratch" else f"the encoder of {c['pretrained']}"
    return (f"fine-tuning a transformer classifier from {source} (freeze {c['freeze']}) on {c['dataset']}: "
            f"{run.labelled_count} labelled texts ({c['labels_fraction']:.0%}), AdamW lr {c['lr']:g} (head) / "
            f"{c['encoder_lr']:g} (encoder), warm-up {c['warmup']:.0%} then linear decay, clip {c['clip']}, "
            f"{c['epochs']} epochs")
