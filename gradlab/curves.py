"""Training curves of many runs (a sweep's ``history`` table: one row per run and record):
values at chosen steps, spread over seeds, growth per decade of steps.

Steps are compared on a log scale: values between records are interpolated linearly in
ln(step), and step 0 (the initial net) is left out.
"""
import numpy as np
import pandas as pd

from . import margins

__all__ = ["decade_growth_table", "log_steps", "seed_bands", "stitch", "values_at"]


def log_steps(first, last, per_decade=20):
    """About ``per_decade`` steps per decade from ``first`` to ``last`` (both included), as
    unique integers."""
    if not (0 < first < last):
        raise ValueError(f"first, last: need 0 < first < last; got {first}, {last}")
    n = max(2, int(round(per_decade * np.log10(last / first))) + 1)
    return np.unique(np.round(np.geomspace(first, last, n)).astype(np.int64))


def _check_history(history, columns):
    if not isinstance(history, pd.DataFrame):
        raise TypeError(f"history must be a pandas DataFrame; got {type(history).__name__}")
    missing = [c for c in ("run", "step", *columns) if c not in history.columns]
    if missing:
        raise ValueError(f"history has no column(s) {missing}; it has {list(history.columns)}")


def values_at(history, column, steps):
    """Long table (run, step, value): each run's ``column`` at ``steps`` (interpolated in ln step)."""
    _check_history(history, [column])
    steps = np.asarray(steps, dtype=np.float64)
    frames = []
    for run, h in history.groupby("run", sort=True):
        v = margins.value_at(h["step"].to_numpy(), h[column].to_numpy(), steps)
        frames.append(pd.DataFrame({"run": run, "step": steps, "value": v}))
    return pd.concat(frames, ignore_index=True)


def seed_bands(history, column, steps, groups):
    """Mean and range over the runs of each group: a table (group, step, mean, lo, hi, runs).

    ``groups`` maps run id -> group label (e.g. a configuration trained with several seeds);
    runs not in it are ignored. ``lo``/``hi`` are the smallest and largest run's value.
    """
    if not isinstance(groups, dict) or not groups:
        raise TypeError("groups must be a non-empty dict {run: group label}")
    sub = history[history["run"].isin(list(groups))]
    if sub.empty:
        raise ValueError("groups: none of its runs is in history")
    at = values_at(sub, column, steps)
    at["group"] = at["run"].map(groups)
    out = at.groupby(["group", "step"], sort=False)["value"].agg(mean="mean", lo="min", hi="max", runs="count")
    return out.reset_index()


def decade_growth_table(history, columns, ends):
    """Relative growth per decade (`margins.decade_growth`) of each run's ``columns`` over the
    decades ending at ``ends``: a table (run, column, end, growth)."""
    _check_history(history, columns)
    rows = []
    for run, h in history.groupby("run", sort=True):
        steps = h["step"].to_numpy()
        for c in columns:
            for end, g in zip(ends, margins.decade_growth(steps, h[c].to_numpy(), ends)):
                rows.append({"run": run, "column": c, "end": end, "growth": g})
    return pd.DataFrame(rows)


def stitch(early, late, runs):
    """One history per run from two recordings of the same training: ``early``, a short run
    recorded often, and ``late``, the same settings and seed trained for more epochs and
    recorded rarely (its first steps are the short run's, bit for bit). Returns ``early``'s
    records up to its last step, then ``late``'s after it, under ``late``'s run ids.

    ``runs`` maps each run id of ``late`` to the id of the same run in ``early``. Records both
    tables hold (same step) must be equal in every column, else ValueError: the two are not
    one training.
    """
    for name, h in (("early", early), ("late", late)):
        if not isinstance(h, pd.DataFrame):
            raise TypeError(f"{name} must be a pandas DataFrame; got {type(h).__name__}")
    _check_history(early, [c for c in late.columns if c not in ("run", "step")])
    _check_history(late, [c for c in early.columns if c not in ("run", "step")])
    if not isinstance(runs, dict) or not runs:
        raise TypeError("runs must be a non-empty dict {late run id: early run id}")
    columns = list(late.columns)
    values = [c for c in columns if c not in ("run", "step")]
    by_early, by_late = dict(tuple(early.groupby("run"))), dict(tuple(late.groupby("run")))
    frames = []
    for run, source in runs.items():
        if run not in by_late or source not in by_early:
            raise ValueError(f"runs: late run {run!r} or early run {source!r} is not in its history")
        e, l = by_early[source], by_late[run]
        common = e.merge(l, on="step", suffixes=("_early", "_late"))
        for c in values:
            if not np.array_equal(common[f"{c}_early"].to_numpy(), common[f"{c}_late"].to_numpy(), equal_nan=True):
                raise ValueError(f"runs: early run {source!r} and late run {run!r} differ in {c!r} at a step both "
                                 "recorded; they are not the same training")
        frames += [e.assign(run=run)[columns], l[l["step"] > e["step"].max()][columns]]
    return pd.concat(frames, ignore_index=True)
