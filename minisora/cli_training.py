"""The training commands of `minisora` (cli.py builds the command and its other subcommands):
`train` (mlp, cnn, classifier, gnn, gan, gpt, mlm), `eval`, `generate` and `sample`, their options,
and the runs they start (minisora.training). `finetune` and `fill` are in cli_pretraining.py."""
import os
import time

from . import errors
from .cli import COUNT, NON_NEGATIVE, POSITIVE, SEED, number


def add_training_commands(commands):
    add_train_parser(commands)
    add_eval_parser(commands)
    add_generate_parser(commands)
    add_sample_parser(commands)


# Which `minisora train` options each model takes (argparse leaves the others None).
MODEL_OPTIONS = {
    "mlp": ("dataset", "data_dir", "hidden", "activation", "dropout", "optimizer", "lr", "momentum", "weight_decay",
            "scheduler", "clip", "epochs", "batch_size", "val_split", "split_seed", "seed", "device"),
    "cnn": ("dataset", "data_dir", "optimizer", "lr", "momentum", "weight_decay", "scheduler", "clip", "epochs",
            "batch_size", "val_split", "split_seed", "seed", "device", "augment"),
    "gpt": ("corpus", "layers", "d_model", "heads", "context", "dropout", "batch_size", "steps", "lr",
            "weight_decay", "eval_every", "seed", "device"),
    "mlm": ("corpus", "level", "window", "layers", "d_model", "heads", "context", "dropout", "positions", "pooling",
            "mask_probability", "batch_size", "steps", "lr", "weight_decay", "eval_every", "seed", "device"),
    "gan": ("data", "sequence_model", "latent", "hidden", "loss", "lr", "batch_size", "steps", "d_steps", "label_smoothing",
            "eval_every", "seed", "device"),
    "gnn": ("sequence_model", "data", "data_dir", "nodes", "hidden", "heads", "dropout", "optimizer", "lr", "momentum",
            "weight_decay", "epochs", "seed", "device"),
    "classifier": ("sequence_model", "data", "level", "window", "stride", "max_length", "embedding_dim", "hidden_size",
                   "num_layers", "heads", "dropout", "optimizer", "lr", "momentum", "weight_decay", "scheduler", "clip",
                   "epochs", "batch_size", "val_split", "split_seed", "seed", "device", "adding_length"),
}
CONFIG_NAMES = {"sequence_model": "model", "data": "dataset"}   # option -> the run configuration's key


def run_class_for(model):
    from .training import ClassifierRun, GANRun, LanguageModelRun, MaskedLanguageModelRun, NodeRun, SequenceRun

    return {"mlp": ClassifierRun, "cnn": ClassifierRun, "gpt": LanguageModelRun, "classifier": SequenceRun,
            "gnn": NodeRun, "gan": GANRun, "mlm": MaskedLanguageModelRun}[model]


def default_out(model, given):
    if model in ("mlp", "cnn"):
        return f"runs/{model}-{given.get('dataset', 'digits')}"
    if model == "gnn":
        return f"runs/{given.get('model', 'gcn')}-{given.get('dataset', 'karate')}"
    if model == "gan":
        return f"runs/gan-{given.get('dataset', 'ring8')}"
    if model == "classifier":
        data = os.path.splitext(os.path.basename(str(given.get("dataset", "pydoc-topics"))))[0]
        return f"runs/{given.get('model', 'lstm')}-{data}"
    return f"runs/{model}-{os.path.splitext(os.path.basename(str(given.get('corpus', 'pydoc'))))[0]}"


def command_train(args):
    from .backends.memory import keep_freed_memory
    from .training.common import prepare_run_folder, say

    keep_freed_memory()   # a step's arrays reuse the last step's memory (backends/memory.py)

    allowed = MODEL_OPTIONS[args.model]
    given = {name: getattr(args, name) for name in set().union(*MODEL_OPTIONS.values())
             if getattr(args, name) is not None}
    foreign = sorted(set(given) - set(allowed))
    if foreign:
        raise errors.ValueError(f"{', '.join('--' + f.replace('_', '-') for f in foreign)} do(es) not apply to {args.model}")
    given = {CONFIG_NAMES.get(name, name): value for name, value in given.items()}
    if args.model == "gnn":
        given = graph_options(given)
    elif given.get("model") in GRAPH_MODELS:
        raise errors.ValueError(f"--model {given['model']} is a graph network: "
                                f"minisora train gnn --model {given['model']}")
    if args.model == "gan" and given.get("model", "mlp") not in ("mlp", "dcgan"):
        raise errors.ValueError(f"train gan: --model must be mlp or dcgan, got {given['model']!r}")
    run_class = run_class_for(args.model)
    out = args.out or default_out(args.model, given)
    prepare_run_folder(out, resume=args.resume, force=args.force)
    by_epochs = args.model not in ("gpt", "gan", "mlm")
    if args.resume:
        run = run_class.resume(out, overrides=given)
        say(f"resuming {out} from " + (f"epoch {run.epoch + 1}" + ("" if args.model == "gnn" else f", step {run.batch}")
                                       if by_epochs else f"step {run.step}"))
    else:
        run = run_class(given if args.model in ("classifier", "gnn", "gan") else {"model": args.model, **given}, out)
        say(describe_run(run))
    return fit_and_report(run, out, args.no_progress)


def fit_and_report(run, out, no_progress):
    """Train the run to its end (or a signal), say where it got; the exit code."""
    start = time.perf_counter()
    history = run.fit(progress=not no_progress)
    if history:
        last = history[-1]
        if "val_accuracy" in last:
            result = f"final val acc {last['val_accuracy']:.2%} (best {max(r['val_accuracy'] for r in history):.2%})"
        elif run.kind == "gan":
            result = run.summary(last)
        else:
            result = f"final val loss {last['val_loss']:.4f}" + (
                f" (unigram entropy {last['unigram_entropy']:.4f})" if "unigram_entropy" in last else "")
        extra = ", samples.png" if run.kind == "gan" else ""
        print(f"done in {time.perf_counter() - start:.1f} s: {result}; wrote {out}/checkpoint.safetensors, "
              f"metrics.jsonl, curves.png{extra}")
    return 128 + run.stop_signal if run.stop_requested else 0   # 130 after Ctrl-C, 143 after SIGTERM, as shells report


GRAPH_MODELS = ("gcn", "gat", "sage")


def graph_options(given):
    """`train gnn`'s options as its run takes them: --model gcn|gat|sage; --data karate, sbm, cora
    (with --data-dir) or the folder holding Cora's files; one --hidden size."""
    given = dict(given)
    if given.get("model", "gcn") not in GRAPH_MODELS:
        raise errors.ValueError(f"train gnn: --model must be one of {', '.join(GRAPH_MODELS)}, got {given['model']!r}")
    data = given.get("dataset")
    if data is not None and data not in ("karate", "sbm", "cora"):
        if not os.path.isdir(data):
            raise errors.ValueError(f"train gnn: --data must be karate, sbm, cora or a folder with cora.content and "
                                    f"cora.cites, got {data!r}")
        given["dataset"], given["data_dir"] = "cora", data
    if "hidden" in given:
        if len(given["hidden"]) != 1:
            raise errors.ValueError(f"train gnn: --hidden takes one size (the hidden layer), got {given['hidden']}")
        given["hidden"] = given["hidden"][0]
    return given


def describe_run(run):
    c = run.config
    if run.kind == "gan":
        from .training.gan import describe

        return describe(run)
    if run.kind == "node-classifier":
        from .training.node_classifier import describe

        return describe(run)
    if run.kind == "fine-tuned-classifier":
        from .training.fine_tuning import describe

        return describe(run)
    if run.kind == "sequence-classifier":
        parameters = sum(p.numel() for p in run.model.parameters())
        data = ("the adding problem, T " + str(c["adding_length"]) if c["dataset"] == "adding" else
                f"{c['dataset']} ({c['level']} level, {len(run.class_names)} classes)")
        return (f"training {c['model']} ({c['num_layers']} layers, hidden {c['hidden_size']}, {parameters:,} parameters) "
                f"on {data} ({len(run.loader.dataset)} train / {len(run.validation)} val), {c['optimizer']} lr {c['lr']}, "
                f"clip {c['clip']}, batch {c['batch_size']}, {c['epochs']} epochs, seed {c['seed']}, on {c['device']}")
    if c["model"] == "cnn":
        return (f"training cnn (LeNet, {sum(p.numel() for p in run.model.parameters()):,} parameters) on {c['dataset']} "
                f"({len(run.loader.dataset)} train / {len(run.validation)} val), {c['optimizer']} lr {c['lr']}, "
                f"batch {c['batch_size']}, {c['epochs']} epochs, seed {c['seed']}, on {c['device']}")
    if c["model"] == "mlp":
        return (f"training mlp {c['hidden']} on {c['dataset']} ({len(run.loader.dataset)} train / {len(run.validation)} "
                f"val), {c['optimizer']} lr {c['lr']}, batch {c['batch_size']}, {c['epochs']} epochs, seed {c['seed']}, "
                f"on {c['device']}")
    parameters = sum(p.numel() for p in run.model.parameters())
    what = "gpt (" if run.kind == "gpt" else f"a {c['level']}-level masked language model ({c['positions']} positions, "
    return (f"training {what}{c['layers']} layers, d_model {c['d_model']}, {c['heads']} heads, context {c['context']}, "
            f"{parameters:,} parameters) on {c['corpus']} ({run.tokenizer.vocab_size} symbols, "
            f"{len(run.batches.ids):,} train tokens), AdamW lr {c['lr']}, batch {c['batch_size']}, {c['steps']} steps, "
            f"on {c['device']}")


def command_generate(args):
    from . import random as ms_random
    from .training import load_for_generation
    from .training.language_model import default_prompt

    model, tokenizer = load_for_generation(args.checkpoint)
    ms_random.manual_seed(args.seed)
    ids = tokenizer.encode(default_prompt(tokenizer) if args.prompt is None else args.prompt)[None, :]
    if ids.size == 0:
        raise errors.ValueError("--prompt must hold at least one character")
    out = model.generate(ids, args.tokens, temperature=args.temperature, top_k=args.top_k)
    print(tokenizer.decode(out.numpy()[0]))


def command_sample(args):
    from .training import GANRun, checkpoint_path

    path = checkpoint_path(args.checkpoint)
    run = GANRun.resume(os.path.dirname(path), log=lambda message: None)
    picture = args.out or os.path.join(os.path.dirname(path), f"sample-{args.n}.png")
    run.draw_samples(picture, n=args.n)
    kind = "points over the modes" if run.images is None else "images"
    print(f"{args.n} generated {kind} from {path} (step {run.step}) saved to {picture}")


def command_eval(args):
    from .plot import confusion_matrix, plot_confusion_matrix
    from .serialization import load
    from .training import ClassifierRun, FineTuningRun, NodeRun, SequenceRun, checkpoint_path
    from .training.classifier import accuracy_table
    from .training.data_setup import test_set
    from .training.quantization import restore_quantized

    path = checkpoint_path(args.checkpoint)
    state = load(path)
    run_class = {"classifier": ClassifierRun, "sequence-classifier": SequenceRun, "node-classifier": NodeRun,
                 "fine-tuned-classifier": FineTuningRun}.get(state.get("kind"))
    if run_class is None:
        raise errors.ValueError(f"{path} holds a {state.get('kind')} run; eval scores classifiers (for a GPT: minisora generate)")
    # scored on the CPU, wherever it was trained
    config = {**state["config"], "device": "cpu", **({"data_dir": args.data_dir} if args.data_dir else {})}
    run = run_class(config, os.path.dirname(path))
    restore_quantized(run.model, state).load_state_dict(state["model"])
    # the run already holds the train/validation split (and a sequence run its test set, a graph its node
    # splits); MNIST's test files are read anew
    if run_class is NodeRun:
        dataset = args.split
    elif args.split == "test":
        dataset = run.test if isinstance(run, SequenceRun) else test_set(config)
    else:
        dataset = {"train": run.loader.dataset, "val": run.validation}[args.split]
    loss, accuracy, predictions, targets = run.evaluate(dataset)
    names = state["classes"]
    print(f"{path}: {config['model']} on {config['dataset']} ({args.split}, {len(targets)} samples)")
    if isinstance(run, SequenceRun) and run.regression:
        print(f"MSE {loss:.4f}   answered within 0.04: {accuracy:.2%}   (always answering 1 scores an MSE of 0.167)")
        return
    counts = confusion_matrix(targets, predictions, len(names))
    print(f"accuracy {accuracy:.2%}   loss {loss:.4f}\n")
    print(accuracy_table(counts, names))
    picture = args.out or os.path.join(os.path.dirname(path), f"confusion-{args.split}.png")
    plot_confusion_matrix(counts, names, path=picture, title=f"{config['dataset']} {args.split}: {accuracy:.2%}")
    print(f"\nconfusion matrix saved to {picture}")


def add_train_parser(commands):
    train = commands.add_parser("train", help="train a model; writes a checkpoint, metrics.jsonl and curves.png")
    train.add_argument("model", choices=sorted(MODEL_OPTIONS),
                       help="mlp (digits, moons, MNIST), cnn (LeNet on digits or MNIST), classifier (text or "
                            "sequences: LSTM, GRU, RNN, transformer), gnn (a graph network classifying nodes: GCN, "
                            "GAT, GraphSAGE), gan, gpt (a character model) or mlm (a masked language model to "
                            "pretrain an encoder for minisora finetune)")
    sequences = train.add_argument_group("classifier and gnn")
    sequences.add_argument("--model", dest="sequence_model",
                           choices=["lstm", "gru", "rnn", "transformer", "bag"] + list(GRAPH_MODELS) + ["mlp", "dcgan"],
                           help="classifier: default lstm (Embedding -> 2-layer LSTM -> Linear on the last real step); "
                                "bag: the bag-of-tokens logistic regression baseline. gnn: gcn (default), gat or sage. "
                                "gan: mlp (the 2-D sets' default) or dcgan (the digits')")
    sequences.add_argument("--data", help="classifier: pydoc-topics (the default: Python's help text by topic group), "
                                          "adding (the adding problem) or the path of a CSV/TSV file of text,label "
                                          "rows. gnn: karate (the default), sbm, cora (with --data-dir) or "
                                          "Cora's folder")
    sequences.add_argument("--nodes", type=COUNT, help="gnn: nodes of the sbm graph (default 10000)")
    sequences.add_argument("--level", choices=["char", "word"], help="tokens: words (default; mlm: characters) or characters")
    sequences.add_argument("--window", type=COUNT, help="characters per pydoc-topics text (default 128; mlm: the "
                                                        "windows whose held-out passages it leaves out)")
    sequences.add_argument("--stride", type=COUNT, help="characters between pydoc-topics training windows "
                                                        "(default 32: overlapping; test windows never overlap)")
    sequences.add_argument("--max-length", type=COUNT, help="tokens kept per text (default 256)")
    sequences.add_argument("--embedding-dim", type=COUNT, help="default 64")
    sequences.add_argument("--hidden-size", type=COUNT, help="default 128")
    sequences.add_argument("--num-layers", type=COUNT, help="default 2")
    sequences.add_argument("--adding-length", type=COUNT, help="steps T of the adding problem (default 100)")
    mlp = train.add_argument_group("mlp (and classifier)")
    mlp.add_argument("--dataset", choices=["digits", "moons", "circles", "spiral", "mnist", "fashion-mnist"],
                     help="default digits (scikit-learn's 8x8 digits, bundled)")
    mlp.add_argument("--data-dir", help="folder with the IDX files (mnist, fashion-mnist), or with cora.content "
                                         "and cora.cites (gnn --data cora)")
    mlp.add_argument("--hidden", type=COUNT, nargs="+",
                     help="hidden layer sizes (default 64; gnn: one size, default 16, gat 8 per head)")
    mlp.add_argument("--activation", choices=["relu", "tanh", "sigmoid", "gelu", "leaky_relu"])
    mlp.add_argument("--optimizer", choices=["sgd", "adam", "adamw", "rmsprop", "adadelta"],
                     help="default sgd (gnn: adam)")
    mlp.add_argument("--momentum", type=number(float, 0.0, 1.0, high_open=True),
                     help="for sgd and rmsprop (default 0.9)")
    mlp.add_argument("--scheduler", choices=["none", "cosine", "step"], help="lr schedule over the epochs (default cosine)")
    mlp.add_argument("--clip", type=POSITIVE, help="clip the gradient norm to this value")
    mlp.add_argument("--augment", action="store_true", default=None,
                     help="cnn: shift each training image by up to a pixel each way (seeded)")
    mlp.add_argument("--epochs", type=COUNT, help="default 30 (gnn: 200 full-graph steps)")
    mlp.add_argument("--val-split", type=number(float, 0.0, 1.0, low_open=True, high_open=True),
                     help="fraction held out for validation (default 0.2)")
    mlp.add_argument("--split-seed", type=SEED, help="which samples are held out (default 0; fixed across seeds)")
    gan = train.add_argument_group("gan")
    gan.add_argument("--latent", type=COUNT, help="noise dimensions (default 2 for ring8 and grid25, 32 for digits)")
    gan.add_argument("--loss", choices=["ns", "saturating", "hinge", "lsgan"],
                     help="ns (default: non-saturating), saturating (the minimax game as written), hinge, lsgan")
    gan.add_argument("--d-steps", type=COUNT, help="discriminator updates per generator update (default 1)")
    gan.add_argument("--label-smoothing", type=number(float, 0.0, 0.5, high_open=True),
                     help="aim D's real targets at 1 - this (ns and saturating; default 0)")
    mlm = train.add_argument_group("mlm (a masked language model; also --corpus, --level, --window and gpt's sizes)")
    mlm.add_argument("--positions", choices=["learned", "sinusoidal"], help="position vectors (default learned)")
    mlm.add_argument("--pooling", choices=["mean", "cls"],
                     help="a text's vector when fine-tuned: the mean of its states (default) or a <cls> token's")
    mlm.add_argument("--mask-probability", type=number(float, 0.0, 1.0, low_open=True),
                     help="share of the tokens chosen to guess (default 0.15, BERT's)")
    gpt = train.add_argument_group("gpt")
    gpt.add_argument("--corpus", help="pydoc (Python's bundled help text, the default; mlm: less the passages "
                                      "pydoc-topics holds out) or the path of a UTF-8 file")
    gpt.add_argument("--layers", type=COUNT, help="transformer blocks (default 4)")
    gpt.add_argument("--d-model", type=COUNT, help="vector size (default 128)")
    gpt.add_argument("--heads", type=COUNT, help="attention heads (default 4; also the classifier's transformer; "
                                                       "gnn gat: 8)")
    gpt.add_argument("--context", type=COUNT, help="tokens the model sees at once (default 64; mlm 128)")
    gpt.add_argument("--steps", type=COUNT, help="training steps (default 3000; gan: 20000 on ring8, 8000 on "
                                                 "grid25, 3000 on digits)")
    gpt.add_argument("--eval-every", type=COUNT, help="steps between validation losses and samples (default 250; "
                                                      "gan: scores and pictures, 2000 / 1000 / 500)")
    both = train.add_argument_group("both")
    both.add_argument("--lr", type=NON_NEGATIVE, help="learning rate (default 0.1 for mlp, 1e-3 for gpt, "
                                                               "0.01 for gnn, 0.005 for its gat)")
    both.add_argument("--batch-size", type=COUNT, help="default 128 for mlp, 32 for gpt")
    both.add_argument("--weight-decay", type=NON_NEGATIVE, help="default 0 for mlp, 0.1 for gpt (AdamW), 5e-4 for gnn")
    both.add_argument("--dropout", type=number(float, 0.0, 1.0, high_open=True), help="default 0 (gnn: 0.5, gat 0.6)")
    both.add_argument("--seed", type=SEED, help="initial weights, data order and dropout (default 0)")
    both.add_argument("--device", choices=["cpu", "cuda"], help="where to train (default cpu; cuda needs a GPU)")
    add_run_folder_options(both, "runs/MODEL-DATASET")
    train.set_defaults(run=command_train)


def add_run_folder_options(group, default):
    """--out, --resume, --force, --no-progress: where a run lives, as every training command takes them."""
    group.add_argument("--out", help=f"run folder (default {default})")
    group.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    group.add_argument("--force", action="store_true", help="start over in an --out folder that holds a run")
    group.add_argument("--no-progress", action="store_true", help="no progress bar")


def add_generate_parser(commands):
    generate = commands.add_parser("generate", help="write text with a trained GPT")
    generate.add_argument("--checkpoint", required=True, help="run folder or checkpoint file")
    generate.add_argument("--prompt", help="text to continue (default a newline, if the text had one)")
    generate.add_argument("--tokens", type=number(int, 0), default=300, help="characters to generate")
    generate.add_argument("--temperature", type=POSITIVE, default=0.8, help="< 1 safer, > 1 wilder (default 0.8)")
    generate.add_argument("--top-k", type=COUNT, help="sample only among the k most likely characters")
    generate.add_argument("--seed", type=SEED, default=0)
    generate.set_defaults(run=command_generate)


def add_sample_parser(commands):
    sample = commands.add_parser("sample", help="draw what a trained GAN generates (an image grid or a scatter plot)")
    sample.add_argument("--checkpoint", required=True, help="run folder or checkpoint file")
    sample.add_argument("--n", type=COUNT, default=64, help="how many samples (default 64)")
    sample.add_argument("--out", help="where to save the picture (default sample-N.png in the run folder)")
    sample.set_defaults(run=command_sample)


def add_eval_parser(commands):
    evaluate = commands.add_parser("eval", help="accuracy and confusion matrix of a trained checkpoint")
    evaluate.add_argument("--checkpoint", required=True, help="run folder or checkpoint file")
    evaluate.add_argument("--split", choices=["val", "train", "test"], default="val")
    evaluate.add_argument("--data-dir", help="folder with the IDX files, if it moved since training")
    evaluate.add_argument("--out", help="where to save the confusion matrix picture (.png)")
    evaluate.set_defaults(run=command_eval)
