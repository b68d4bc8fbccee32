"""The ``gradlab`` command line; ``gradlab <command> --help`` describes each command.

A mistake is reported as one line on stderr, ``gradlab <command>: error: <what>``, with exit
status 2 for bad arguments and 1 for bad data or files; never a traceback (set
GRADLAB_DEBUG=1 to see one).

Each command is one function ``<name>(args)`` returning the exit status, plus one block in
``build_parser`` that adds its subparser. A command imports what only it needs inside its
function (matplotlib only for ``--plot`` and ``report``), so every command starts fast.
"""
import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

from . import __version__

DATASETS = ("iris", "digits")
BENCH_SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "run.py"


class CLIError(Exception):
    """A user's mistake, reported as one line; ``status`` 2 for bad arguments, 1 otherwise."""

    def __init__(self, message, status=1):
        super().__init__(message)
        self.status = status


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _number(low=None, high=None, low_open=False, high_open=False, kind=float):
    """argparse type: a finite number within the bounds, e.g. lr > 0, a in [0, 1]."""
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {'an integer' if kind is int else 'a number'}; "
                                             f"got {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be finite; got {text}")
        if low is not None and (value <= low if low_open else value < low):
            raise argparse.ArgumentTypeError(f"must be {'>' if low_open else '>='} {low:g}; got {text}")
        if high is not None and (value >= high if high_open else value > high):
            raise argparse.ArgumentTypeError(f"must be {'<' if high_open else '<='} {high:g}; got {text}")
        return value
    return parse


def _suffix(suffix):
    """argparse type: a file path ending in ``suffix``."""
    def parse(text):
        path = Path(text)
        if path.suffix.lower() != suffix:
            raise argparse.ArgumentTypeError(f"must be a {suffix} file; got {text!r}")
        return path
    return parse


# ---------------------------------------------------------------- gradlab train


def _training_data(data, label):
    """(X, y, description) from a data set name or a CSV path."""
    from . import datasets
    from .csvdata import load_csv
    if data in DATASETS:
        if label is not None:
            raise CLIError(f"--label applies to CSV files; {data!r} is a built-in data set", 2)
        X, y = getattr(datasets, data)()
        return X, y, data
    path = Path(data)
    if not path.exists() and path.suffix.lower() != ".csv" and os.sep not in data:
        raise CLIError(f"unknown data set {data!r}: choose {' or '.join(DATASETS)}, or give a CSV file path", 2)
    X, y, _, label = load_csv(path, label)
    return X, y, f"{path} (label column {label!r})"


def _output_path(path, what):
    """Check an output path before training (a folder or an unwritable place fails now)."""
    if path is None:
        return None
    if path.is_dir():
        raise CLIError(f"{what} {path} is a folder; give a file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise CLIError(f"{what} {path}: cannot create the folder {path.parent} ({err.strerror})") from None
    if not os.access(path.parent, os.W_OK):
        raise CLIError(f"{what} {path}: cannot write into {path.parent}")
    return path


def _history_frame(hist):
    """A History as a table, one row per record."""
    import pandas as pd
    columns = {"step": hist.step, "weight_norm": hist.weight_norm}
    columns.update({f"layer{l + 1}_norm": hist.layer_norms[:, l] for l in range(hist.layer_norms.shape[1])})
    columns.update(train_loss=hist.train_loss, train_acc=hist.train_acc, test_loss=hist.test_loss,
                   test_acc=hist.test_acc, logit_gap=hist.logit_gap, past_target=hist.past_target)
    return pd.DataFrame(columns)


def _summary_table(hist):
    rows = [("train loss (against t')", "train_loss"), ("train accuracy", "train_acc"), ("test loss", "test_loss"),
            ("test accuracy", "test_acc"), ("weight norm (all weights)", "weight_norm"),
            ("logit gap (true - best other)", "logit_gap"), ("share past target t'", "past_target")]
    fmt = lambda v: "-" if not math.isfinite(v) else f"{v:.4f}" if abs(v) < 1e5 else f"{v:.4g}"
    lines = ["| measure | start | end |", "|---|---:|---:|"]
    for name, key in rows:
        values = getattr(hist, key)
        lines.append(f"| {name} | {fmt(values[0])} | {fmt(values[-1])} |")
    return "\n".join(lines)


def _plot_norms(hist, path, settings):
    """Weight norms (all weights and per layer) against updates, saved with its data and settings."""
    from .report import Context, save_figure, style
    fig, ax = style.subplots()
    ax.plot(hist.step, hist.weight_norm, color=style.BLACK, label="all weights ||W||")
    for l in range(hist.layer_norms.shape[1]):
        ax.plot(hist.step, hist.layer_norms[:, l], color=style.PALETTE[l % 7], linestyle="--",
                label=f"layer {l + 1} ||W_{l + 1}||")
    ax.set_xlabel("updates (SGD steps)")
    ax.set_ylabel("Frobenius norm of the weights")
    ax.set_title(f"{settings['data']}: {settings['loss']}, smoothing a = {settings['smoothing']:g}")
    ax.legend(loc="best")
    return save_figure(Context(out=path.parent), fig, path.stem, _history_frame(hist), settings)


def train(args):
    """``gradlab train``: train one net, print a summary table, optionally save history and plot."""
    import warnings

    import numpy as np

    from . import datasets
    from .nets import MLP
    from .training import train as run_training

    if args.nesterov and (args.optimizer != "sgd" or args.momentum == 0):
        raise CLIError("--nesterov needs --optimizer sgd and --momentum > 0", 2)
    if args.optimizer == "adam" and args.momentum:
        raise CLIError("--momentum is SGD's; Adam's first-moment decay is --betas B1 B2", 2)
    history_path = _output_path(args.history, "--history")
    plot_path = _output_path(args.plot, "--plot")
    if history_path and plot_path and history_path.resolve() in (plot_path.with_suffix(s).resolve()
                                                                 for s in (".csv", ".json")):
        raise CLIError(f"--history {history_path} would be overwritten by the data that --plot saves beside "
                       f"{plot_path}; choose another name", 2)
    X, y, source = _training_data(args.data, args.label)
    classes, y_index = np.unique(y, return_inverse=True)
    if args.test_size > 0:
        try:
            Xtr, Xte, ytr, yte = datasets.train_test_split(X, y_index, test_size=args.test_size, seed=args.seed)
        except ValueError as err:
            raise CLIError(f"--test-size {args.test_size:g} with {X.shape[0]} rows: {err}") from None
    else:
        Xtr, ytr, Xte, yte = X, y_index, None, None
    if args.standardize:
        scaler = datasets.Standardizer().fit(Xtr)
        Xtr, Xte = scaler.transform(Xtr), None if Xte is None else scaler.transform(Xte)
    K = classes.size
    sizes = [X.shape[1], *args.hidden, 1 if K == 2 else K]
    net = MLP(sizes, hidden=args.activation, output="sigmoid" if K == 2 else "softmax", seed=args.seed,
              dtype=args.dtype)
    n = ytr.shape[0]
    batch = n if args.batch_size is None else min(args.batch_size, n)
    steps_per_epoch = -(-n // batch)
    record_every = args.record_every or steps_per_epoch * max(1, -(-args.epochs // 1000))
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # divergence is reported in the summary
        hist = run_training(net, Xtr, ytr, loss=args.loss, smoothing=args.smoothing, l2=args.l2, l1=args.l1,
                            weight_decay=args.weight_decay, confidence_penalty=args.confidence_penalty,
                            lr=args.lr, momentum=args.momentum, batch_size=batch, epochs=args.epochs,
                            seed=args.seed, record_every=record_every, X_test=Xte, y_test=yte,
                            optimizer=args.optimizer, betas=tuple(args.betas), eps=args.eps, nesterov=args.nesterov)
    seconds = time.perf_counter() - start

    steps = int(hist.step[-1])
    print(f"data   {source}: {X.shape[0]} rows, {X.shape[1]} features, {K} classes; "
          f"{n} train / {0 if yte is None else yte.shape[0]} test rows"
          f"{', standardized on the training rows' if args.standardize else ''}")
    print(f"net    {sizes}, {args.activation} hidden, {net.output} output "
          f"({'one unit for 2 classes' if K == 2 else 'one unit per class'}), {args.dtype}, seed {args.seed}")
    print(f"train  loss {args.loss}, smoothing {args.smoothing:g}, l2 {args.l2:g}, l1 {args.l1:g}, "
          f"weight decay {args.weight_decay:g}, confidence penalty {args.confidence_penalty:g}, lr {args.lr:g}, "
          f"{_optimizer_text(args)}, batch {batch}, {args.epochs} epochs = {steps} updates "
          f"in {seconds:.2f} s ({steps * batch / max(seconds, 1e-9):,.0f} sample-steps/s)")
    print()
    print(_summary_table(hist))
    if hist.diverged:
        print(f"\ndiverged at update {hist.diverged_at}: the loss or the parameters became NaN or inf; "
              "the table ends at the last finite record (try a smaller --lr)")
    if hist.interrupted:
        print("\ninterrupted: the table ends at the last record before Ctrl-C")
    settings = dict(hist.settings, data=source, classes=[str(c) for c in classes], standardize=args.standardize,
                    test_size=args.test_size)
    if history_path:
        _history_frame(hist).to_csv(history_path, index=False)
        print(f"\nwrote {history_path} ({len(hist.step)} records)")
    if plot_path:
        written = _plot_norms(hist, plot_path, settings)
        print(f"wrote {', '.join(str(plot_path.parent / w) for w in written)}")
    return 0


# ---------------------------------------------------------------- gradlab claims


def _claims_table(checks):
    """Pass/fail per claim, with the first counterexample of a claim that does not hold."""
    lines = ["| claim | statement (our wording) | result | verdict | counterexample |", "|---|---|---|---|---|"]
    for c in checks:
        example = "" if c.verdict == "holds" else (c.findings[0] if c.findings else "(none recorded)")
        lines.append(f"| {c.claim} | {c.statement.replace('|', '/')} | {'pass' if c.verdict == 'holds' else 'FAIL'} | "
                     f"{c.verdict} | {example.replace('|', '/')} |")
    return "\n".join(lines)


def claims(args):
    """``gradlab claims``: check C1-C5, print a pass/fail table, write the claims report."""
    from .claims import core_checks, format_report
    checks = core_checks()
    report = format_report(checks)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "claims_report.md").write_text(report)
    (out / "claims_report.json").write_text(json.dumps(
        {"gradlab_version": __version__, "checks": [c.__dict__ for c in checks]}, indent=2, default=str))
    print(_claims_table(checks))
    print(f"\nwrote {out / 'claims_report.md'} (measurements and findings) and {out / 'claims_report.json'}")
    return 0


# ---------------------------------------------------------------- gradlab bench


def bench(args):
    """``gradlab bench``: run the repository's bench/run.py with this Python."""
    if not BENCH_SCRIPT.is_file():
        raise CLIError(f"no benchmark suite: {BENCH_SCRIPT} does not exist; gradlab bench runs from a source "
                       "checkout (git clone, then pip install -e '.[bench]')")
    command = [sys.executable, str(BENCH_SCRIPT)] + (["--quick"] if args.quick else [])
    if args.only:
        command += ["--only", args.only]
    return subprocess.run(command).returncode


# ---------------------------------------------------------------- gradlab sweep


def _optimizer_text(args):
    if args.optimizer == "adam":
        return f"adam (betas {args.betas[0]:g} {args.betas[1]:g}, eps {args.eps:g})"
    return f"{'nesterov ' if args.nesterov else ''}momentum {args.momentum:g}"


def sweep(args):
    """``gradlab sweep GRID.toml``: train every run of the grid; write final.csv and history.csv
    into --out and print the mean test metrics over seeds of each setting."""
    from .grid import KEYS, Grid
    from .sweep import sweep as run_sweep
    grid = Grid.from_toml(args.grid)
    X, y, description = _training_data(args.data, args.label)
    out = Path(args.out)
    res = run_sweep(grid, (X, y), test_size=args.test_size, record_every=args.record_every, out=out,
                    extend=args.extend, scheduler=args.scheduler, progress=args.progress)
    final, history = res.final, res.history
    final.to_csv(out / "final.csv", index=False)
    history.to_csv(out / "history.csv", index=False)
    varying = [c for c in KEYS if c != "seed" and c in final and final[c].nunique() > 1]
    table = final.groupby(varying or (lambda _: "all"), dropna=False)[["test_acc", "test_nll", "weight_norm"]]
    print(f"{len(final)} runs on {description}; mean over seeds:")
    print(table.mean().to_string(float_format=lambda v: f"{v:.4f}"))
    print(f"wrote {out / 'final.csv'} and {out / 'history.csv'}")
    return 0


# ---------------------------------------------------------------- the parser


def build_parser():
    parser = _Parser(prog="gradlab", description="Exact gradients of small nets, and the claims about label "
                     "smoothing and back-propagation put to the test.",
                     epilog="Run 'gradlab COMMAND --help' for a command's options. Errors are one line on stderr "
                            "(exit status 2: bad arguments, 1: bad data or files).")
    parser.add_argument("--version", action="version", version=f"gradlab {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("train", help="train one net on a data set or a CSV file; print a summary",
                       description="Train one net with gradlab.train and print a summary table. Two classes "
                                   "get one sigmoid output, more get one softmax output per class.")
    p.add_argument("data", help=f"a built-in data set ({', '.join(DATASETS)}) or a CSV file with a header row")
    p.add_argument("--label", help="CSV: the label column's name (default: the last column)")
    p.add_argument("--hidden", type=_number(low=1, kind=int), nargs="*", default=[7], metavar="WIDTH",
                   help="hidden layer widths, e.g. --hidden 16 8 (default: 7; none: a linear model)")
    p.add_argument("--activation", choices=("tanh", "relu", "sigmoid", "identity"), default="tanh",
                   help="hidden activation (default: tanh)")
    p.add_argument("--loss", choices=("ce", "mse"), default="ce", help="loss (default: ce)")
    p.add_argument("--smoothing", "-a", type=_number(0.0, 1.0), default=0.0, metavar="A",
                   help="label smoothing a in [0, 1]: t' = (1 - a) t + a / K (default: 0)")
    p.add_argument("--l2", type=_number(low=0.0), default=0.0, help="L2 penalty l2/2 ||W||^2 (default: 0)")
    p.add_argument("--l1", type=_number(low=0.0), default=0.0, help="L1 penalty l1 |W|_1 (default: 0)")
    p.add_argument("--weight-decay", type=_number(low=0.0), default=0.0,
                   help="decoupled weight decay: w -= lr * wd * w (default: 0)")
    p.add_argument("--confidence-penalty", type=_number(low=0.0), default=0.0, metavar="BETA",
                   help="entropy bonus -beta H(o) (default: 0)")
    p.add_argument("--lr", type=_number(low=0.0, low_open=True), default=0.01, help="learning rate > 0 (default: 0.01)")
    p.add_argument("--momentum", type=_number(0.0, 1.0, high_open=True), default=0.0,
                   help="SGD momentum in [0, 1) (default: 0)")
    p.add_argument("--nesterov", action="store_true", help="Nesterov momentum (needs --momentum > 0)")
    p.add_argument("--optimizer", choices=("sgd", "adam"), default="sgd",
                   help="sgd, or adam (AdamW with --weight-decay) (default: sgd)")
    p.add_argument("--betas", type=_number(0.0, 1.0, high_open=True), nargs=2, default=(0.9, 0.999),
                   metavar=("B1", "B2"), help="Adam's moment decays (default: 0.9 0.999)")
    p.add_argument("--eps", type=_number(low=0.0, low_open=True), default=1e-8,
                   help="Adam's eps added to sqrt(v) (default: 1e-8)")
    p.add_argument("--epochs", type=_number(low=1, kind=int), default=200, help="passes over the data (default: 200)")
    p.add_argument("--batch-size", type=lambda t: None if t == "full" else _number(low=1, kind=int)(t),
                   default=1, metavar="B", help="rows per update, or 'full' (default: 1, online SGD)")
    p.add_argument("--seed", type=_number(low=0, kind=int), default=0,
                   help="seeds the split, the initial weights and the shuffling (default: 0)")
    p.add_argument("--test-size", type=_number(0.0, 1.0, high_open=True), default=0.2, metavar="FRACTION",
                   help="share of rows held out, stratified; 0 for none (default: 0.2)")
    p.add_argument("--no-standardize", dest="standardize", action="store_false",
                   help="do not standardize the features (default: standardized with training-row statistics)")
    p.add_argument("--dtype", choices=("float64", "float32"), default="float64", help="(default: float64)")
    p.add_argument("--record-every", type=_number(low=1, kind=int), default=None, metavar="UPDATES",
                   help="record the history every this many updates (default: every epoch, at most ~1000 records)")
    p.add_argument("--history", type=_suffix(".csv"), metavar="FILE.csv", help="save the history as CSV")
    p.add_argument("--plot", type=_suffix(".png"), metavar="FILE.png",
                   help="save a weight-norm plot (with FILE.csv, its data, and FILE.json, its settings)")
    p.set_defaults(func=train)

    p = sub.add_parser("claims", help="check claims C1-C5: a pass/fail table and the claims report",
                       description="Check claims C1-C5 (CLAIMS.md) from measurements; print a pass/fail table "
                                   "with a counterexample for each claim that fails; write claims_report.md/.json.")
    p.add_argument("--out", default="figures", help="folder for the report (default: figures)")
    p.set_defaults(func=claims)

    p = sub.add_parser("bench", help="run the benchmarks (bench/run.py of a source checkout)",
                       description="Time gradlab against JAX, PyTorch and NumPy with the repository's "
                                   "bench/run.py; writes bench/RESULTS.md.")
    p.add_argument("--quick", action="store_true", help="a smoke run: 5 rounds, no fresh processes")
    p.add_argument("--only", metavar="NAME", help="only workloads whose name contains NAME")
    p.set_defaults(func=bench)

    p = sub.add_parser("sweep", help="train every run of a TOML grid of settings x seeds, resumable",
                       description="Train every run of a grid (TOML: top-level keys form one product, each "
                                   "[[grid]] table another, joined as a union) with gradlab.sweep. Finished "
                                   "runs are kept in --out; running again resumes. Writes final.csv and "
                                   "history.csv there.")
    p.add_argument("grid", help="TOML grid file; keys as gradlab.Grid (sizes, smoothing, l2, seed, ...)")
    p.add_argument("--out", required=True, help="folder for the results (created; reused to resume)")
    p.add_argument("--data", default="iris", help=f"{' or '.join(DATASETS)}, or a CSV file (default: iris)")
    p.add_argument("--label", help="CSV: the label column's name (default: the last column)")
    p.add_argument("--test-size", type=_number(0.0, 1.0, low_open=True, high_open=True), default=0.2,
                   metavar="FRACTION", help="share of rows held out, stratified (default: 0.2)")
    p.add_argument("--record-every", type=_number(low=1, kind=int), default=100, metavar="UPDATES",
                   help="record every this many updates (default: 100)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="a Dask scheduler, e.g. tcp://host:8786 (default: "
                   "train here on all cores)")
    p.add_argument("--extend", action="store_true", help="add the grid's new runs to a sweep already in --out")
    p.add_argument("--no-progress", dest="progress", action="store_false", default=None,
                   help="no progress bar")
    p.set_defaults(func=sweep)

    from .report import runner as report_runner
    p = sub.add_parser("report", help="run the analysis scripts; write REPORT.md and report.json")
    report_runner.add_arguments(p, only=True).set_defaults(func=report_runner.report_command)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (Exception, KeyboardInterrupt) as err:
        if os.environ.get("GRADLAB_DEBUG"):
            raise
        if isinstance(err, CLIError):
            status, message = err.status, str(err)
        elif isinstance(err, (ValueError, TypeError, OSError)):  # bad data, files or values
            status, message = 1, str(err)
        elif isinstance(err, KeyboardInterrupt):
            status, message = 130, "interrupted"
        else:  # a bug: still one line
            status, message = 1, f"{type(err).__name__}: {err} (internal error; GRADLAB_DEBUG=1 shows the traceback)"
    print(f"gradlab {args.command}: error: {' '.join(message.split())}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
