"""The pretraining commands of `minisora` beside `train mlm` (cli_training.py): `finetune` (a
pretrained encoder on a few labels, or the same classifier from scratch) and `fill` (a masked
language model's guesses for the [MASK]s of a text)."""

from .cli import COUNT, NON_NEGATIVE, POSITIVE, SEED, number

FINETUNE_OPTIONS = ("pretrained", "data", "labels_fraction", "freeze", "init", "lr", "encoder_lr", "warmup", "clip",
                    "weight_decay", "epochs", "batch_size", "dropout", "window", "stride", "val_split", "split_seed",
                    "seed", "device")
CONFIG_NAMES = {"data": "dataset"}


def add_pretraining_commands(commands):
    add_finetune_parser(commands)
    add_fill_parser(commands)


def command_finetune(args):
    from .backends.memory import keep_freed_memory
    from .cli_training import describe_run, fit_and_report
    from .training import FineTuningRun
    from .training.common import prepare_run_folder, say

    keep_freed_memory()
    given = {CONFIG_NAMES.get(name, name): getattr(args, name) for name in FINETUNE_OPTIONS
             if getattr(args, name) is not None}
    out = args.out or default_out(given)
    prepare_run_folder(out, resume=args.resume, force=args.force)
    if args.resume:
        run = FineTuningRun.resume(out, overrides={k: v for k, v in given.items() if k != "pretrained"})
        say(f"resuming {out} from epoch {run.epoch + 1}, step {run.batch}")
    else:
        run = FineTuningRun(given, out)
        say(describe_run(run))
    return fit_and_report(run, out, args.no_progress)


def default_out(given):
    fraction = given.get("labels_fraction", 1.0)
    return f"runs/finetune-{given.get('init', 'pretrained')}-{round(100 * fraction):g}pct"


def command_fill(args):
    from .training import fill, load_for_filling
    from .training.masked_language_model import filled_text

    model, tokenizer = load_for_filling(args.checkpoint)
    guesses = fill(model, tokenizer, args.text, top_k=args.top_k)
    print(f"{args.text!r} -> {filled_text(tokenizer, args.text, guesses)!r}")
    for number_, (place, ranked) in enumerate(guesses, start=1):
        shown = "  ".join(f"{token!r} {probability:.1%}" for token, probability in ranked)
        print(f"[MASK] {number_} (token {place}): {shown}")


def add_finetune_parser(commands):
    from .cli_training import add_run_folder_options

    tune = commands.add_parser("finetune", help="fine-tune a pretrained encoder (minisora train mlm) on a few labels")
    tune.add_argument("--from", dest="pretrained", metavar="DIR",
                      help="the `minisora train mlm` run folder (or checkpoint); its sizes and tokenizer are used, "
                           "and its weights unless --init scratch")
    tune.add_argument("--data", help="pydoc-topics (the default) or the path of a CSV/TSV file of text,label rows")
    tune.add_argument("--labels-fraction", type=number(float, 0.0, 1.0, low_open=True),
                      help="share of the training texts that keep their label (default 1; a seeded draw, fixed by "
                           "--split-seed)")
    tune.add_argument("--freeze", choices=["none", "embeddings", "encoder"],
                      help="keep these pretrained parameters as they are (default none)")
    tune.add_argument("--init", choices=["pretrained", "scratch"],
                      help="start the encoder from --from's weights (default) or from random ones (the baseline)")
    tune.add_argument("--lr", type=NON_NEGATIVE, help="the head's learning rate (default 3e-3)")
    tune.add_argument("--encoder-lr", type=NON_NEGATIVE, help="the encoder's learning rate (default 1e-3)")
    tune.add_argument("--warmup", type=number(float, 0.0, 1.0, high_open=True),
                      help="share of the steps over which the lr climbs from 0 (default 0.1); then it falls to 0")
    tune.add_argument("--clip", type=POSITIVE, help="clip the gradient norm to this value (default 1.0)")
    tune.add_argument("--weight-decay", type=NON_NEGATIVE, help="AdamW's, on matrices only (default 0.01)")
    tune.add_argument("--epochs", type=COUNT, help="default 10")
    tune.add_argument("--batch-size", type=COUNT, help="default 32")
    tune.add_argument("--dropout", type=number(float, 0.0, 1.0, high_open=True), help="default 0.1")
    tune.add_argument("--window", type=COUNT, help="characters per pydoc-topics text (default 128)")
    tune.add_argument("--stride", type=COUNT, help="characters between training windows (default 128)")
    tune.add_argument("--val-split", type=number(float, 0.0, 1.0, low_open=True, high_open=True),
                      help="a CSV's share held out for validation (default 0.1)")
    tune.add_argument("--split-seed", type=SEED, help="which texts are held out and which keep labels (default 0)")
    tune.add_argument("--seed", type=SEED, help="the head's initial weights, data order and dropout (default 0)")
    tune.add_argument("--device", choices=["cpu", "cuda"], help="where to train (default cpu)")
    add_run_folder_options(tune, "runs/finetune-INIT-PERCENTpct")
    tune.set_defaults(run=command_finetune)


def add_fill_parser(commands):
    fill = commands.add_parser("fill", help="a masked language model's guesses for each [MASK] of a text")
    fill.add_argument("--checkpoint", required=True, help="a `minisora train mlm` run folder or checkpoint file")
    fill.add_argument("--text", required=True, help='the text, each token to guess written [MASK]: '
                                                    '"def f(x): ret[MASK]rn x"')
    fill.add_argument("--top-k", type=COUNT, default=5, help="guesses shown per mask (default 5)")
    fill.set_defaults(run=command_fill)
