"""`minisora quantize`: a trained MLP, CNN or GPT run made int8 (minisora.training.quantization),
with its report table; `minisora eval` and `minisora generate` read the result."""
import os

from .cli import COUNT, number


def command_quantize(args):
    from .quant import sparsity_table
    from .training.quantization import quantize_run, report_table

    run_folder = args.checkpoint if os.path.isdir(args.checkpoint) else os.path.dirname(args.checkpoint) or "."
    out = args.out or os.path.normpath(run_folder) + "-int8"   # beside the run, whether a folder or its file was given
    rows, sparsity, written = quantize_run(args.checkpoint, out, calibrate=args.calibrate, qat_steps=args.qat_steps,
                                  observer=args.observer, prune=args.prune, per_row=args.per_row, force=args.force)
    if sparsity:
        print(sparsity_table(sparsity) + "\n")
    print(report_table(rows))
    follow = "generate" if rows[0]["val_accuracy"] is None else "eval"
    print(f"\nwrote {out}/checkpoint.safetensors ({written['model']}); try: minisora {follow} --checkpoint {out}")


def add_quantize_parser(commands):
    quantize = commands.add_parser("quantize", help="make a trained mlp, cnn or gpt run int8 (post-training "
                                                    "quantization, optionally QAT and pruning) and compare")
    quantize.add_argument("--checkpoint", required=True, help="the run folder (or checkpoint) of `minisora train "
                                                              "mlp`, `train cnn` or `train gpt`")
    quantize.add_argument("--calibrate", type=COUNT, default=512,
                          help="training samples (a GPT: windows) run through the model to set each layer's input "
                               "range (default 512)")
    quantize.add_argument("--qat-steps", type=number(int, 0), default=0,
                          help="then train this many steps with fake quantization at a tenth of the run's lr, "
                               "and keep that model (default 0: post-training quantization only)")
    quantize.add_argument("--observer", choices=["minmax", "percentile"], default="minmax",
                          help="how a calibration sets a range: the extremes seen (default), or the 0.01st and "
                               "99.99th percentiles")
    quantize.add_argument("--prune", type=number(float, 0.0, 1.0, high_open=True), default=0.0,
                          help="first zero this fraction of each layer's smallest weights (magnitude pruning)")
    quantize.add_argument("--per-row", action="store_true", help="--prune within each output neuron's weights")
    quantize.add_argument("--out", help="where to write the int8 run (default: beside the run, its folder + -int8)")
    quantize.add_argument("--force", action="store_true", help="overwrite an --out folder that holds a run")
    quantize.set_defaults(run=command_quantize)
