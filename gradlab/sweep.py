"""Sweeps: every run of a `Grid` trained on one data set, many runs per kernel call, results
kept on disk as they finish.

Data path: data -> split and standardise (once) -> one `RunPlan` per run (validated as
`gl.train` validates) -> blocks of runs sharing a shape -> `training.train_block` (the online
step generated per net shape, or each run by `gl.train`'s kernel) -> one file per finished block
under ``out`` -> tables (`SweepResult`).
"""
import copy
import functools
import hashlib
import json
import os
import sys
import tempfile
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import _checks, _kernels
from .datasets import standardize, train_test_split
from .grid import Grid
from .nets import MLP
from .training import evaluate_interval, make_history, plan_run, train_block

BLOCK_RUNS = 256  # runs per kernel call and per result file
STAT_COLUMNS = ("weight_norm", "train_loss", "train_acc", "test_loss", "test_acc", "logit_gap", "past_target")
STAT_INDEX = dict(weight_norm=_kernels.WEIGHT_NORM, train_loss=_kernels.TRAIN_LOSS, train_acc=_kernels.TRAIN_ACC,
                  test_loss=_kernels.TEST_LOSS, test_acc=_kernels.TEST_ACC, logit_gap=_kernels.LOGIT_GAP,
                  past_target=_kernels.PAST_TARGET)
FORMAT = 1  # version of the files under `out`


def sweep_data(data, test_size=0.2, split_seed=0, standardize_inputs=True):
    """``(X_train, y_train, X_test, y_test)`` for a sweep.

    ``data`` is ``(X, y)``, split once by a seeded stratified ``test_size``
    (`datasets.train_test_split`) and standardised on the training rows when
    ``standardize_inputs``; or ``(X_train, y_train, X_test, y_test)`` used as given.
    1-D labels come out as int64 (`_checks.labels`: whole-number floats are accepted).
    """
    if not isinstance(data, (tuple, list)) or len(data) not in (2, 4):
        raise TypeError("data must be (X, y) or (X_train, y_train, X_test, y_test)")
    if len(data) == 4:
        Xtr, ytr, Xte, yte = (np.asarray(a) for a in data)
    else:
        X, y = np.asarray(data[0]), np.asarray(data[1])
        Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=test_size, seed=split_seed)
        if _checks.flag("standardize", standardize_inputs):
            Xtr, Xte = standardize(Xtr, Xte)
    for name, arr in (("X_train", Xtr), ("X_test", Xte)):
        _checks.float_array(name, arr, ndim=2)
    for name, arr in (("y_train", ytr), ("y_test", yte)):
        if arr.ndim not in (1, 2) or arr.size == 0:
            raise ValueError(f"data: {name} must be non-empty labels (n,) or targets (n, K); got shape {arr.shape}")
    # labels as int64 (whole-number floats too), so float and int labels are the same data on disk
    ytr, yte = (_checks.labels(f"data: {name}", y) if y.ndim == 1 else y
                for name, y in (("y_train", ytr), ("y_test", yte)))
    return Xtr, ytr, Xte, yte


def fingerprint(arrays):
    """sha256 over the shapes, dtypes and bytes of ``arrays``."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.shape}{a.dtype.str}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def run_key(settings):
    """A run's identity: its complete settings as canonical JSON."""
    return json.dumps(settings, sort_keys=True)


def _plan(settings, data, record_every, hidden_targets=None, cache=None, evaluate_every=None):
    """The run's `RunPlan`. ``cache``: a dict shared by the runs of one sweep. It holds the
    checked data, the initial net of each (seed, net) and the plan of each run's settings but
    its seed, so runs that differ only in their seed are checked once and each seed drawn once
    (`plan_run` looks at the seed only to draw the net)."""
    Xtr, ytr, Xte, yte = data
    net_args = {k: settings[k] for k in ("sizes", "hidden", "output", "dtype")}
    seed = settings["seed"]
    try:
        net = _initial_net(seed, net_args, cache)
        key = None
        if cache is not None and isinstance(seed, int):
            key = ("plan", *sorted((k, tuple(v) if isinstance(v, list) else v)  # Grid values: scalars or
                                   for k, v in settings.items() if k != "seed"))  # lists of them
            if key in cache:
                plan = copy.copy(cache[key])  # a shallow copy: the arrays are shared, never written
                plan.net, plan.seed, plan.settings = net, seed, {**plan.settings, "seed": seed}
                return plan
        train_args = {k: v for k, v in settings.items() if k not in net_args}
        plan = plan_run(net, Xtr, ytr, **train_args, record_every=record_every, X_test=Xte, y_test=yte,
                        hidden_targets=hidden_targets, evaluate_every=evaluate_every, data_cache=cache)
        if key is not None:
            cache[key] = plan
        return plan
    except (TypeError, ValueError) as err:
        raise type(err)(f"run {run_key(settings)}: {err}") from None


def _initial_net(seed, net_args, cache):
    """``MLP(seed=seed, **net_args)``; runs of one sweep with the same integer seed and net
    share the draws, so each (seed, net) is drawn once and copied."""
    if cache is None or not isinstance(seed, int):
        return MLP(seed=seed, **net_args)
    key = ("net", seed, tuple(net_args["sizes"]), net_args["hidden"], net_args["output"], net_args["dtype"])
    if key not in cache:
        cache[key] = MLP(seed=seed, **net_args)
    return cache[key].copy()


def _shape_key(plan):
    s = plan.settings
    return (tuple(s["sizes"]), s["hidden"], s["output"], s["loss"], s["dtype"], plan.batch, plan.epochs)


def _blocks(todo, plans):
    """Lists of run ids to train together: runs of one shape, BLOCK_RUNS at a time."""
    groups = {}
    for k in todo:
        groups.setdefault(_shape_key(plans[k]), []).append(k)
    return [ids[i:i + BLOCK_RUNS] for ids in groups.values() for i in range(0, len(ids), BLOCK_RUNS)]


def _train_task(plans):
    """Train a block of runs and score their final nets (`final_scores`): the unit of work
    sent to a worker (local or Dask), so `SweepResult.final` reads the scores it saved."""
    result = train_block(plans)
    result["scores"] = final_scores(plans[0], result["params"])
    return result


SCORE_COLUMNS = ("train_nll", "train_ece", "test_nll", "test_ece")


def final_scores(plan, params):
    """NLL and ECE (15 bins) on the training and test rows (`SCORE_COLUMNS`) of nets of
    ``plan``'s shape with parameters ``params`` (R, P): (R, 4). NaN where the outputs are not
    one distribution over classes (identity outputs, several sigmoid units) and for a net whose
    outputs are not finite (a diverged run's last net can overflow).

    The final nets' outputs come from gl.forward's kernel (`grads.forward_runs`), NLL and ECE
    for all runs at once (`metrics.nll_of_runs`, `metrics.ece_of_runs`); every value equals
    `gl.metrics.nll` / `ece` of `gl.forward` of the run's net, bit for bit."""
    from . import metrics
    from .grads import forward_runs
    scores = np.full((params.shape[0], len(SCORE_COLUMNS)), np.nan)
    net = plan.net
    if net.output == "identity" or (net.output == "sigmoid" and net.sizes[-1] > 1):
        return scores
    n = plan.X.shape[0]
    probs = forward_runs(net, params, np.concatenate([plan.X, plan.Xt]))
    for part, (P, labels) in enumerate(((probs[:, :n], plan.labels), (probs[:, n:], plan.labels_t))):
        finite = np.isfinite(P).all(axis=(1, 2))
        P = metrics.two_columns(P[finite]) if net.sizes[-1] == 1 else P[finite]
        scores[finite, 2 * part] = metrics.nll_of_runs(P, labels)
        scores[finite, 2 * part + 1] = metrics.ece_of_runs(P, labels)
    return scores


BLOCK_ARRAYS = ("keys", "params", "stats", "layer_norms", "n_written", "diverged_at")  # one block file's arrays
# and "scores" (`final_scores`), which files written before it lack: `SweepResult.final` computes those
# what reading a damaged block file raises: a truncated or garbled zip, a bad CRC, a bad .npy header
READ_ERRORS = (OSError, EOFError, ValueError, zipfile.BadZipFile)


class DamagedBlock(Exception):
    """A block file that reads but does not hold what `_Store.save_block` writes."""


class _Store:
    """The ``out`` folder: manifest.json and one .npz per finished block, each written to a
    temporary file, flushed to disk and renamed, so a file is either complete or absent.

    A block file that is damaged all the same (a disk or copy error: truncated, bytes
    flipped, garbage) is renamed to ``<name>.npz.damaged`` with a RuntimeWarning naming it, and
    its runs are trained again as if the file were absent."""

    def __init__(self, out):
        self.root = Path(out)
        self.blocks = self.root / "blocks"

    def manifest(self):
        path = self.root / "manifest.json"
        return json.loads(path.read_text()) if path.exists() else None

    def write_manifest(self, manifest):
        self.blocks.mkdir(parents=True, exist_ok=True)
        payload = json.dumps(manifest, indent=1).encode()
        self._atomic(self.root / "manifest.json", lambda f: f.write(payload))

    def _atomic(self, path, write):
        """``write(f)`` into a temporary file beside ``path``, flushed to disk (fsync), then
        renamed to ``path``: a reader sees the old file or the whole new one."""
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
        try:
            with os.fdopen(fd, "wb") as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def save_block(self, keys, result):
        name = hashlib.sha256("\n".join(keys).encode()).hexdigest()[:16]
        self._atomic(self.blocks / f"block-{name}.npz", lambda f: np.savez(f, keys=np.array(keys), **result))

    def load(self, fits=None):
        """{run key: (block arrays, index in block)} for every finished run. ``fits(key,
        arrays, i)``: why run ``key``'s arrays do not fit its plan, or None when they do.

        A block file that cannot be read, lacks an array or holds arrays of the wrong shapes
        (here or by ``fits``) is damaged: `_set_aside`, and its runs are left out."""
        done = {}
        if not self.blocks.exists():
            return done
        for path in sorted(self.blocks.glob("block-*.npz")):
            try:
                arrays = _read_block(path)
                block = {str(key): (arrays, i) for i, key in enumerate(arrays.pop("keys"))}
                for key, (_, i) in block.items():
                    problem = fits(key, arrays, i) if fits is not None else None
                    if problem:
                        raise DamagedBlock(f"run {i}: {problem}")
            except (DamagedBlock, *READ_ERRORS) as err:
                self._set_aside(path, err)
                continue
            done.update(block)
        return done

    def _set_aside(self, path, err):
        """Rename a damaged block file to ``<name>.damaged`` (kept for a look, never read
        again), with a RuntimeWarning naming it."""
        aside = path.with_name(path.name + ".damaged")
        try:
            os.replace(path, aside)
            where = f"renamed to {aside.name}"
        except OSError as rename_err:
            where = f"left in place (cannot rename it: {rename_err.strerror})"
        warnings.warn(f"gradlab.sweep: block file {path} is damaged ({type(err).__name__}: {err}); {where}; "
                      "its runs are trained again", RuntimeWarning, stacklevel=4)


def _read_block(path):
    """A block file's arrays, all read (so a bad CRC shows now) and checked against each other;
    raises one of READ_ERRORS or DamagedBlock."""
    with open(path, "rb") as handle:  # closed here also when np.load fails
        f = np.load(handle)
        if not isinstance(f, np.lib.npyio.NpzFile):
            raise DamagedBlock("not an .npz archive")
        missing = [k for k in BLOCK_ARRAYS if k not in f.files]
        if missing:
            raise DamagedBlock(f"no array {', '.join(missing)}")
        arrays = {k: f[k] for k in BLOCK_ARRAYS + ("scores",) if k in f.files}
    runs = arrays["keys"].shape[0] if arrays["keys"].ndim == 1 else -1
    ndims = dict(keys=1, params=2, stats=3, layer_norms=3, n_written=1, diverged_at=1, scores=2)
    for k, a in arrays.items():
        if a.ndim != ndims[k] or a.shape[0] != runs:
            raise DamagedBlock(f"array {k} has shape {a.shape}; {max(runs, 0)} runs in the block")
    if arrays["keys"].dtype.kind != "U" or arrays["stats"].shape[2] != _kernels.N_STATS:
        raise DamagedBlock("keys or stats are not as written")
    if "scores" in arrays and arrays["scores"].shape[1] != len(SCORE_COLUMNS):
        raise DamagedBlock(f"array scores has shape {arrays['scores'].shape}")
    return arrays


def _fits(plan, arrays, i):
    """Why run ``i`` of a block's ``arrays`` cannot be ``plan``'s results, or None."""
    n_records, P, L = plan.n_records, plan.net.n_params, plan.net.n_layers
    shapes = dict(params=(P,), stats=(n_records, _kernels.N_STATS), layer_norms=(n_records, L))
    for k, shape in shapes.items():
        if arrays[k].shape[1:] != shape:
            return f"{k} has shape {arrays[k].shape[1:]} per run; the run needs {shape}"
    if arrays["params"].dtype != plan.net.dtype:
        return f"params are {arrays['params'].dtype}; the run's net is {np.dtype(plan.net.dtype)}"
    if not (1 <= arrays["n_written"][i] <= n_records and 0 <= arrays["diverged_at"][i] <= plan.total_steps):
        return "n_written or diverged_at out of range"
    return None


def _check_manifest(store, manifest, extend):
    old = store.manifest()
    if old is None:
        return manifest
    same_data = all(old.get(k) == manifest.get(k) for k in ("data", "record_every", "evaluate_every", "format",
                                                              "gradlab_version"))
    if not same_data:
        raise ValueError(f"out={str(store.root)!r} holds a sweep of other data or settings (data fingerprint, "
                         "record_every, evaluate_every or gradlab version differ); use another out folder")
    if old["grid"] == manifest["grid"]:
        return manifest
    if not extend:
        raise ValueError(f"out={str(store.root)!r} holds a sweep of a different grid; pass extend=True to add "
                         "the new runs to it, or use another out folder")
    grid = Grid.from_json(old["grid"])
    new_parts = [p for p in json.loads(manifest["grid"]) if p not in json.loads(old["grid"])]
    merged = grid + Grid._of_parts(new_parts)
    return dict(manifest, grid=merged.to_json())


def sweep(grid, data, test_size=0.2, split_seed=0, standardize=True, record_every=100, out=None,
          extend=False, scheduler=None, progress=None, hidden_targets=None, evaluate_every=None):
    """Train every run of ``grid`` on ``data``; returns a `SweepResult`.

    ``data``: ``(X, y)``, split once (seeded, stratified, ``test_size``, ``split_seed``) and
    standardised on the training rows (``standardize``), or ``(X_train, y_train, X_test,
    y_test)`` used as given. ``record_every`` and ``evaluate_every`` count updates, as in
    `gl.train` (``evaluate_every``: only the records after its multiples, and the first and
    last, evaluate the nets on the data; the others hold weight norms, the rest NaN).
    ``hidden_targets``: the last-hidden-layer targets of `gl.train`, shared by every run
    (each run's ``hidden_weight`` is a grid key).

    Runs that share a shape (sizes, activations, loss, dtype, batch size, epochs) train
    together in one kernel call (`training.train_block`); each run's history equals what
    `gl.train` gives for the same settings, bit for bit.

    ``out``: a folder keeping the results. It holds a manifest (grid, data fingerprint,
    gradlab version) and one file per finished block of runs, written atomically. Running
    the same sweep again loads finished runs instead of training them; an interrupted sweep
    resumes where it stopped. A different grid on the same ``out`` is refused unless
    ``extend=True``, which adds the new runs and keeps the old.

    ``scheduler``: address of a Dask distributed scheduler (``"tcp://host:8786"``) or a
    ``distributed.Client``; blocks of runs are trained on its workers and saved here as
    they arrive. Default: train here, on all cores.
    """
    from . import __version__
    if not isinstance(grid, Grid):
        raise TypeError(f"grid must be a gradlab.Grid; got {type(grid).__name__}")
    if len(grid) == 0:
        raise ValueError("grid holds no runs")
    record_every = _checks.integer("record_every", record_every, low=1)
    evaluate_every = evaluate_interval(evaluate_every, record_every)
    extend = _checks.flag("extend", extend)
    data = sweep_data(data, test_size, split_seed, standardize)
    fingerprinted = data if hidden_targets is None else (*data, np.asarray(hidden_targets))
    manifest = dict(format=FORMAT, gradlab_version=__version__, grid=grid.to_json(),
                    data=fingerprint(fingerprinted), record_every=record_every,
                    **({} if evaluate_every is None else {"evaluate_every": evaluate_every}))
    store = None
    if out is not None:
        store = _Store(out)
        manifest = _check_manifest(store, manifest, extend)
        grid = Grid.from_json(manifest["grid"])
    runs = list(dict.fromkeys(run_key(s) for s in grid))  # unique runs, in grid order
    settings = [json.loads(k) for k in runs]
    cache = {}  # checks and draws shared by runs (`_plan`)
    plans = [_plan(s, data, record_every, hidden_targets, cache, evaluate_every) for s in settings]
    index = {key: k for k, key in enumerate(runs)}
    done = {} if store is None else store.load(
        lambda key, arrays, i: _fits(plans[index[key]], arrays, i) if key in index else None)
    results = {k: done[runs[k]] for k in range(len(runs)) if runs[k] in done}
    todo = [k for k in range(len(runs)) if k not in results]
    if store is not None:
        store.write_manifest(manifest)
    blocks = _blocks(todo, plans)
    if progress is None:
        progress = sys.stderr.isatty() and len(todo) > 64
    bar = None
    if _checks.flag("progress", progress):
        from tqdm import tqdm
        # leave=None: kept when alone, cleared when nested under another bar (gradlab report's)
        bar = tqdm(total=len(runs), initial=len(results), unit="run", desc="gradlab.sweep", leave=None)

    def finished(ids, result):
        if store is not None:
            store.save_block([runs[k] for k in ids], result)
        for i, k in enumerate(ids):
            results[k] = (result, i)
        if bar is not None:
            bar.update(len(ids))

    try:
        if scheduler is None:
            for ids in blocks:
                finished(ids, _train_task([plans[k] for k in ids]))
        else:
            _run_on_dask(scheduler, blocks, plans, finished)
    finally:
        if bar is not None:
            bar.close()
    return SweepResult(settings, plans, [results[k] for k in range(len(runs))], data)


def _run_on_dask(scheduler, blocks, plans, finished):
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise ImportError("scheduler= needs Dask distributed: pip install 'gradlab[dask]'") from None
    client = scheduler if isinstance(scheduler, Client) else Client(scheduler)
    try:
        futures = {client.submit(_train_task, [plans[k] for k in ids], pure=False): ids for ids in blocks}
        for fut in as_completed(futures):
            finished(futures[fut], fut.result())
    finally:
        if client is not scheduler:
            client.close()


@dataclass
class SweepResult:
    """The runs of a sweep: ``final`` (one row per run), ``history`` (one row per run and
    record), ``run(k)`` (run k's `History`) and ``data`` (the arrays trained and tested on)."""
    settings: list
    plans: list
    _results: list
    data: tuple

    def __len__(self):
        return len(self.settings)

    def run(self, k):
        """Run ``k``'s full `History`, as `gl.train` returns it."""
        k = _checks.integer("k", k, low=0)
        if k >= len(self):
            raise IndexError(f"run {k} out of range: the sweep has {len(self)} runs")
        arrays, i = self._results[k]
        plan = self.plans[k]
        div = int(arrays["diverged_at"][i])
        traces = np.zeros((plan.n_records, 0, 0), plan.net.dtype)
        return make_history(plan, arrays["stats"][i], arrays["layer_norms"][i], traces, arrays["params"][i],
                            arrays["n_written"][i], div if div else None, False)

    @functools.cached_property
    def _blocks(self):
        """The runs grouped by the block of results holding them, in order of each block's
        first run: [(plan of that first run, the block's arrays, run ids (ascending), their
        rows in the block)]. A block's runs trained in one `train_block` call (or were saved
        from one), so they share a shape, ``record_every`` and the data: one plan stands for all."""
        index = {}
        block = np.array([index.setdefault(id(arrays), len(index)) for arrays, _ in self._results])
        row = np.array([i for _, i in self._results])
        order = np.argsort(block, kind="stable")
        return [(self.plans[ks[0]], self._results[ks[0]][0], ks, row[ks])
                for ks in np.split(order, np.cumsum(np.bincount(block))[:-1])]

    @property
    def final(self):
        """One row per run (a copy of `_final_table`, computed once per result): every setting,
        then the last record's statistics, per-layer norms, NLL and ECE of the final nets on the
        training and test rows, and diverged_at (see `_final_table`)."""
        return self._final_table.copy()

    @functools.cached_property
    def _final_table(self):
        """One row per run: every setting, then the last record's statistics, per-layer norms,
        NLL and ECE (15 bins) of the final net on the training and test rows, and diverged_at.

        NLL and ECE need the outputs to be a distribution over classes: softmax, or one sigmoid
        unit (binary); they are NaN for identity outputs, for several sigmoid units, and for a
        diverged run whose last net's outputs are not finite.

        NLL and ECE are `final_scores`, computed where each block of runs was trained and saved
        with it (computed here for blocks saved without them); every value equals
        `gl.metrics.nll` / `ece` of `gl.forward` of `run(k).net`, bit for bit."""
        N, blocks = len(self), self._blocks
        stat_index = [STAT_INDEX[c] for c in STAT_COLUMNS]
        last_stats = np.empty((N, len(STAT_COLUMNS)))
        last_norms = np.full((N, max(plan.net.n_layers for plan, *_ in blocks)), np.nan)
        scores = np.full((N, len(SCORE_COLUMNS)), np.nan)
        steps, diverged = np.empty(N, np.int64), np.empty(N, np.int64)
        for plan, arrays, ks, rows in blocks:
            last = arrays["n_written"][rows] - 1
            last_stats[ks] = arrays["stats"][rows, last][:, stat_index]
            last_norms[ks, :plan.net.n_layers] = arrays["layer_norms"][rows, last]
            steps[ks] = np.minimum(last * plan.record_every, plan.total_steps)
            diverged[ks] = arrays["diverged_at"][rows]
            scores[ks] = arrays["scores"][rows] if "scores" in arrays else final_scores(plan, arrays["params"][rows])
        # the columns and dtypes of a frame built from one dict per run: a layer_norm column
        # that run 0 lacks comes last; diverged_at holds pd.NA for runs that did not diverge
        columns = {"run": np.arange(N)}
        columns.update({key: [s[key] for s in self.settings] for key in self.settings[0]})
        columns["sizes"] = [str(v) for v in columns["sizes"]]
        columns["betas"] = [str(tuple(v)) for v in columns["betas"]]
        columns.update(zip(STAT_COLUMNS, last_stats.T))
        first_layers = self.plans[0].net.n_layers
        norms = {f"layer_norm_{l}": last_norms[:, l] for l in range(last_norms.shape[1])}
        columns.update(list(norms.items())[:first_layers])
        columns.update(zip(SCORE_COLUMNS, scores.T))
        columns["steps"] = steps
        if (diverged == 0).any():
            columns["diverged_at"] = diverged.astype(object)
            columns["diverged_at"][diverged == 0] = pd.NA
        else:
            columns["diverged_at"] = diverged
        columns.update(list(norms.items())[first_layers:])
        return pd.DataFrame(columns, copy=False)

    @property
    def history(self):
        """Long table: run, step and every recorded statistic (per-layer norms included), one
        row per run and record, runs in order. Built a block of runs at a time from the stored
        records (no per-run History)."""
        N, blocks = len(self), self._blocks
        written = np.empty(N, np.int64)
        for _, arrays, ks, rows in blocks:
            written[ks] = arrays["n_written"][rows]
        start = np.cumsum(written) - written  # each run's first row
        total = int(written.sum())
        stat_index = [STAT_INDEX[c] for c in STAT_COLUMNS]
        step = np.empty(total, np.int64)
        stats = np.empty((len(STAT_COLUMNS), total))
        norms = np.full((max(plan.net.n_layers for plan, *_ in blocks), total), np.nan)
        for plan, arrays, ks, rows in blocks:
            records = np.arange(plan.n_records)
            kept = records < written[ks][:, None]  # (runs, records): the records each run wrote
            into = (start[ks][:, None] + records)[kept]
            step[into] = np.broadcast_to(np.minimum(records * plan.record_every, plan.total_steps), kept.shape)[kept]
            stats[:, into] = arrays["stats"][rows][kept][:, stat_index].T
            norms[:plan.net.n_layers, into] = arrays["layer_norms"][rows][kept].T
        columns = {"run": np.repeat(np.arange(N), written), "step": step, **dict(zip(STAT_COLUMNS, stats))}
        columns.update({f"layer_norm_{l}": norm for l, norm in enumerate(norms)})
        return pd.DataFrame(columns, copy=False)  # the frame takes these arrays (no second copy)
