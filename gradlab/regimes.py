"""Regime maps: a claim's deciding quantity measured over a grid of training regimes, so that
a verdict can say where it holds (the form of Nakkiran et al. 2019, test error over model
width x epochs).

A regime is a data set, a net (hidden width and depth), a training length, a training-set
size and an optimizer. A map is a list of `Panel`s, each crossing two axes with the others
fixed; cells shared by panels are trained once. Every cell trains the same conditions (e.g.
hard targets and LS at each a) over the same seeds, so differences between conditions are
paired by seed.

Data: `knobs.split` (test rows 20 %, validation rows 20 % of the rest, standardised on the
fit rows); a smaller training set is a stratified draw of the fit rows (seed 0). Nets: ReLU
hidden units, softmax outputs, cross-entropy, minibatches of 32 (the protocol of E1's
students, so E1's regime is a cell of the maps).
"""
import hashlib
import shutil
from dataclasses import asdict, dataclass, fields, replace

import numpy as np
import pandas as pd

from . import _checks, datasets, knobs
from .grid import Grid
from .sweep import run_key, sweep

HIDDEN, BATCH = "relu", 32
# lr per optimizer: SGD at E1's 0.05; momentum 0.9 at lr 0.005, the same step size once the
# velocity settles (lr / (1 - momentum)); Adam at its customary 0.001
OPTIMIZERS = {"sgd": dict(lr=0.05), "momentum": dict(lr=0.005, momentum=0.9),
              "adam": dict(lr=0.001, optimizer="adam")}
AXES = {"data": "data", "width": "hidden width", "depth": "hidden layers", "epochs": "epochs",
        "train_size": "training rows", "optimizer": "optimizer"}
SUBSET_SEED = 0


@dataclass(frozen=True)
class Regime:
    """One cell of a map. ``train_size`` 0 means every fit row."""
    data: str = "digits"
    width: int = 16
    depth: int = 1
    epochs: int = 100
    train_size: int = 0
    optimizer: str = "sgd"

    def __post_init__(self):
        if self.data not in knobs.LOADERS:
            raise ValueError(f"data must be one of {sorted(knobs.LOADERS)}; got {self.data!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)}; got {self.optimizer!r}")
        for name in ("width", "depth", "epochs"):
            _checks.integer(name, getattr(self, name), low=1)
        _checks.integer("train_size", self.train_size, low=0)

    def settings(self, n_in, n_classes):
        """The `Grid` keys of this regime (one value each)."""
        return dict(sizes=[[n_in, *[self.width] * self.depth, n_classes]], hidden=[HIDDEN], batch_size=[BATCH],
                    epochs=[self.epochs], **{k: [v] for k, v in OPTIMIZERS[self.optimizer].items()})


BASE = Regime()  # digits 64-16-10, 100 epochs, SGD: a cell of every map, where the report compares maps


def at(table, regime, column):
    """``column`` of the row of ``table`` (one row per cell) for ``regime``; NaN when the map has
    no such cell."""
    row = table[(table[list(AXES)] == pd.Series(asdict(regime))[list(AXES)]).all(axis=1)]
    return float(row[column].iloc[0]) if len(row) else float("nan")


def axis_text(axis, value):
    """A value as the report names it: 'all' training rows, 'momentum 0.9', '2 layers'."""
    if axis == "train_size":
        return "all" if value == 0 else str(value)
    if axis == "optimizer":
        return {"sgd": "SGD", "momentum": "SGD + momentum 0.9", "adam": "Adam"}[value]
    return str(value)


@dataclass(frozen=True)
class Panel:
    """Two axes crossed (``rows`` x ``cols``), every other axis at ``base``'s value."""
    rows: str
    row_values: tuple
    cols: str
    col_values: tuple
    base: Regime = Regime()

    def __post_init__(self):
        for axis in (self.rows, self.cols):
            if axis not in AXES:
                raise ValueError(f"panel axis must be one of {sorted(AXES)}; got {axis!r}")
        if self.rows == self.cols:
            raise ValueError("a panel needs two different axes")

    def cells(self):
        return [replace(self.base, **{self.rows: r, self.cols: c}) for r in self.row_values for c in self.col_values]

    def title(self):
        fixed = [f"{AXES[a]} {axis_text(a, getattr(self.base, a))}" for a in AXES if a not in (self.rows, self.cols)]
        return ", ".join(fixed)


def cells(panels):
    """Every distinct regime of ``panels``, in order of first appearance."""
    return list(dict.fromkeys(c for p in panels for c in p.cells()))


def training_rows(split, n):
    """The fit rows of ``split``, or a stratified draw of ``n`` of them (``n`` 0: all)."""
    if n == 0 or n >= split.y_fit.size:
        return split.X_fit, split.y_fit
    X, _, y, _ = datasets.train_test_split(split.X_fit, split.y_fit, split.y_fit.size - n, seed=SUBSET_SEED)
    return X, y


def sweep_cells(ctx, name, regimes, conditions, seeds, evaluate, every_epoch=False, evaluate_key=None,
                evaluate_epochs=1):
    """Train every regime under every condition and seed; one table row per run.

    ``conditions``: dicts of extra `Grid` keys (one value each), e.g. ``{"smoothing": 0.1}``, the
    same for every regime; or a function of a `Regime` returning its own list of them (e.g. a
    penalty strength matched per cell). ``evaluate(res, runs, split)`` returns one dict per run id
    of ``runs`` (the run's final measures; ``split`` the `knobs.Split`, its fit rows those the runs
    trained on). The runs of one data set and training-set size
    train in one `gl.sweep` (so a net's runs under every condition share a kernel call, and its
    threads), cached under ``ctx.runs / <name>-<data>-<rows>-<grid hash>``. ``every_epoch``: record
    each run once an epoch (for `norm_growth`), evaluating it on the data every
    ``evaluate_epochs`` epochs (`gl.train`'s ``evaluate_every``; the other records hold only
    weight norms); otherwise only at its end. ``evaluate_key``
    (what ``evaluate`` computes, e.g. ``("calibration", 15)``): the measures are cached beside
    the sweep too (`gradlab.cache`), so a second report does not evaluate again."""
    regimes, keys = list(regimes), [f.name for f in fields(Regime)]
    of = conditions if callable(conditions) else (lambda r: conditions)
    tables = []
    for data, n in dict.fromkeys((r.data, r.train_size) for r in regimes):
        split = knobs.split(data)
        X, y = training_rows(split, n)
        trained = replace(split, X_fit=X, y_fit=y)  # what `evaluate` sees: the rows the runs trained on
        K = int(max(split.y_fit.max(), split.y_test.max())) + 1
        record_every = -(-y.size // BATCH) if every_epoch else 10 ** 9  # steps per epoch
        evaluate_every = record_every * evaluate_epochs if every_epoch and evaluate_epochs > 1 else None
        here = [r for r in regimes if (r.data, r.train_size) == (data, n)]
        order = [(r, c) for c in conditions for r in here] if not callable(conditions) else \
            [(r, c) for r in here for c in of(r)]
        parts = [(r, cond, Grid(seed=list(seeds), **r.settings(X.shape[1], K), **{k: [v] for k, v in cond.items()}))
                 for r, cond in order]
        grid = sum((g for _, _, g in parts[1:]), parts[0][2])
        spec = grid.to_json() + ("" if evaluate_every is None else f"|evaluate_every={evaluate_every}")
        out = ctx.runs / f"{name}-{data}-{n}-{hashlib.sha256(spec.encode()).hexdigest()[:10]}"
        if ctx.fresh and out.exists():
            shutil.rmtree(out)
        res = sweep(grid, (X, y, split.X_test, split.y_test), record_every=record_every, out=out,
                    progress=ctx.progress, scheduler=ctx.scheduler, evaluate_every=evaluate_every)
        index = {run_key(s): k for k, s in enumerate(res.settings)}
        owner = {index[run_key(s)]: (r, cond, s["seed"]) for r, cond, g in parts for s in g}
        final = res.final
        runs = final.run.to_numpy()  # condition by condition, each regime's seeds together
        if evaluate_key is None:
            measured = evaluate(res, runs, trained)
        else:
            from . import cache
            key = {"sweep": out.name, "evaluate": evaluate_key, "runs": runs,
                   "data": [split.X_val, split.y_val, split.X_test, split.y_test]}
            measured = cache.cached(ctx, f"{name}-measures", key, lambda: evaluate(res, runs, trained))
        for k, measures in zip(runs, measured):
            r, cond, seed = owner[k]
            tables.append({**asdict(r), **cond, "seed": seed, "train_acc": float(final.train_acc[k]),
                           "diverged": not pd.isna(final.diverged_at[k]), **measures})
    return pd.DataFrame(tables), keys


def paired(table, keys, a, b, value, value_b=None):
    """Per cell (``keys``), the mean over seeds of ``value`` in rows ``a`` minus ``value_b``
    (default ``value``) in rows ``b`` (boolean masks of ``table``, one row per cell and seed
    each), and its standard error ``SD / sqrt(seeds)``. Returns a frame: keys, ``diff``,
    ``se``, ``n``."""
    x = table[a].set_index([*keys, "seed"])[value]
    y = table[b].set_index([*keys, "seed"])[value if value_b is None else value_b]
    d = (x - y).dropna()
    g = d.groupby(level=list(range(len(keys))))
    out = pd.DataFrame({"diff": g.mean(), "se": g.std(ddof=1) / np.sqrt(g.count()), "n": g.count()})
    return out.reset_index()


def net_calibration(net, split, bins=15):
    """One net's validation NLL and the test measures of `compare.calibration` (NLL, ECE,
    accuracy; the same after temperature scaling fitted on the validation rows of ``split``), its
    mean test logit gap (`compare.logit_gaps`) and whether the temperature sits at a bound."""
    import warnings

    from scipy.special import softmax

    from . import compare, metrics
    from .grads import logits
    zv, zt = logits(net, split.X_val), logits(net, split.X_test)
    with warnings.catch_warnings():  # a temperature at its bound is kept (T_at_bound)
        warnings.filterwarnings("ignore", message="fit_temperature", category=RuntimeWarning)
        cal = compare.calibration(zv, split.y_val, zt, split.y_test, bins)
    return {"val_nll": metrics.nll(softmax(zv, axis=1), split.y_val), **cal,
            "T_at_bound": cal["T"] in (metrics.T_MIN, metrics.T_MAX),
            "logit_gap": float(compare.logit_gaps(zt, split.y_test).mean())}


def calibration(res, runs, split, bins=15):
    """`evaluate` for `sweep_cells`: per run, `net_calibration` of its final net and its final
    weight norm."""
    norms = res.final.set_index("run").weight_norm
    return [{**net_calibration(res.run(int(k)).net, split, bins), "weight_norm": float(norms[k])} for k in runs]


def final_norms(res, runs, split):
    """`evaluate` for `sweep_cells`: per run, its final weight norm alone (``weight_norm``)."""
    norms = res.final.set_index("run").weight_norm
    return [{"weight_norm": float(norms[k])} for k in runs]


def norm_growth(epochs):
    """`evaluate` for `sweep_cells` with ``every_epoch``: per run and training length E of
    ``epochs``, the growth over the decade of epochs [E/10, E] (`margins.decade_growth`:
    ``ln 10 * d||W|| / d ln t / ||W||(E/10)``, from every epoch's record) of the whole weight
    norm (``growth``), of each layer's norm (first: ``hidden_growth``, last: ``output_growth``,
    largest: ``layer_growth``), and the weight norm and the training / test accuracy at epoch E;
    columns ``<measure>@<E>`` (`by_epochs` makes them rows). A run of E epochs is the first E
    epochs of the same run trained longer (the rows' order is drawn epoch by epoch from the
    seed), so one run to ``max(epochs)`` serves every E. NaN where a run diverged before epoch E."""
    from . import margins
    epochs = sorted(_checks.integer("epochs", E, low=10) for E in epochs)  # a decade of whole epochs

    def evaluate(res, runs, split):
        rows = []
        for k in runs:
            h = res.run(int(k))
            out = {}
            for E in epochs:
                ok = E < h.step.size and np.all(np.isfinite(h.weight_norm[:E + 1]))
                grow = (lambda v: float(margins.decade_growth(h.step[:E + 1], v[:E + 1], [h.step[E]])[0])) if ok \
                    else (lambda v: np.nan)
                layers = [grow(h.layer_norms[:, layer]) for layer in range(h.layer_norms.shape[1])]
                out.update({f"growth@{E}": grow(h.weight_norm), f"hidden_growth@{E}": layers[0],
                            f"output_growth@{E}": layers[-1], f"layer_growth@{E}": max(layers)})
                for name, values in (("norm", h.weight_norm), ("train_acc", h.train_acc), ("test_acc", h.test_acc)):
                    out[f"{name}@{E}"] = float(values[E]) if ok else np.nan
            rows.append(out)
        return rows
    return evaluate


def by_epochs(table):
    """`norm_growth`'s columns ``<measure>@<E>`` as rows: one row per run and E, ``epochs`` set
    to E and the run's own length kept as ``trained_epochs`` (its final ``train_acc`` replaced
    by the one at E)."""
    at = [c for c in table.columns if "@" in c]
    lengths = sorted({int(c.split("@")[1]) for c in at})
    base = table.drop(columns=[*at, "train_acc"]).assign(trained_epochs=table.epochs)
    parts = []
    for E in lengths:
        cols = {c: c.split("@")[0] for c in at if int(c.split("@")[1]) == E}
        parts.append(base.assign(epochs=E).join(table[list(cols)].rename(columns=cols)))
    return pd.concat(parts, ignore_index=True)


def describe(table, mask, panels):
    """Where ``mask`` holds, in words, panel by panel: 'width 5-16, epochs 100-300 (3 of 16
    cells; data digits, ...)'. Empty string when it holds nowhere."""
    parts = []
    for p in panels:
        cell = table.set_index(list(AXES)).index
        inside = np.array([c in set(p.cells()) for c in (Regime(*t) for t in cell)])
        sel = table[inside & mask]
        if sel.empty:
            continue
        ranges = []
        for axis, values in ((p.rows, p.row_values), (p.cols, p.col_values)):
            hit = [v for v in values if v in set(sel[axis])]
            text = [axis_text(axis, v) for v in hit]
            numeric = axis not in ("data", "optimizer")
            span = text[0] if len(text) == 1 else (f"{text[0]}-{text[-1]}" if numeric and _consecutive(values, hit)
                                                   else ", ".join(text))
            ranges.append(f"{AXES[axis]} {span}")
        parts.append(f"{' and '.join(ranges)} ({len(sel)} of {inside.sum()} cells; {p.title()})")
    return "; ".join(parts)


def _consecutive(values, hit):
    idx = [list(values).index(v) for v in hit]
    return idx == list(range(idx[0], idx[0] + len(idx)))
