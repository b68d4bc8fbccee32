"""E1's students: nets trained on hard targets, on LS at a grid of a, on a teacher's class-mean
outputs ("cm") and on its class-mean last-hidden-layer patterns ("hp"), compared paired over
seeds on held-out-chosen settings. Shared by the digits and MNIST analyses of E1.

A runs table has one row per student: ``method`` (hard, ls, cm, hp), ``setting`` (a for LS,
hidden_weight for hp, NaN for cm, 0 for hard), ``seed``, ``{val,test}_{acc,nll,ece}``,
``weight_norm``, ``weight_norm_mid``, ``late_growth`` and ``diverged``.
"""
import concurrent.futures
import multiprocessing
import os

import numpy as np
import pandas as pd

from . import metrics
from .compare import paired_difference
from .grads import forward
from .nets import MLP
from .cache import cached, digest
from .report.results import Number
from .training import train

MEASURES = {"acc": ("accuracy", max), "nll": ("NLL (nats)", min), "ece": ("ECE (15 bins)", min)}
LABEL = {"hard": "hard targets", "ls": "LS", "cm": "class-mean teacher targets", "hp": "hidden-pattern targets"}


def scores(net, X, y, prefix):
    """Accuracy, NLL and ECE of ``net`` on (X, y), keyed ``<prefix>_acc`` etc."""
    probs = forward(net, X)
    return {f"{prefix}_acc": float((probs.argmax(axis=1) == y).mean()), f"{prefix}_nll": metrics.nll(probs, y),
            f"{prefix}_ece": metrics.ece(probs, y)}


def run_row(method, setting, seed, hist, val, test):
    """One student: its scores on the held-out and test rows and its weight norm at the end and halfway."""
    mid = np.interp(hist.step[-1] / 2, hist.step, hist.weight_norm)
    return {"method": method, "setting": setting, "seed": seed, **scores(hist.net, *val, "val"),
            **scores(hist.net, *test, "test"), "weight_norm": hist.weight_norm[-1], "weight_norm_mid": mid,
            "late_growth": hist.weight_norm[-1] / mid - 1, "diverged": hist.diverged}


def norm_rows(method, setting, seed, hist):
    """The student's weight-norm history as a long table."""
    return pd.DataFrame({"method": method, "setting": setting, "seed": seed, "step": hist.step,
                         "weight_norm": hist.weight_norm})


_FIT = {}


def _set_fit(X):
    _FIT["X"] = X


def _train_job(job):
    net_args, targets, kwargs = job
    return train(MLP(**net_args), _FIT["X"], targets, **kwargs)


def _train_one(X, job):
    net_args, targets, kwargs = job
    return train(MLP(**net_args), X, targets, **kwargs)


def train_all(X, jobs, workers=None, scheduler=None):
    """``gl.train(MLP(**net_args), X, targets, **kwargs)`` for every ``(net_args, targets, kwargs)``
    in ``jobs``, over ``workers`` processes (default: the cores; 1 trains here), or on the workers
    of ``scheduler`` (a Dask scheduler address or ``distributed.Client``). Returns the histories
    in the order of ``jobs``; each equals the one a call here gives, bit for bit (a run depends
    only on its arguments)."""
    if scheduler is not None:
        return _train_on_dask(scheduler, X, jobs)
    workers = min(os.cpu_count() or 1, len(jobs)) if workers is None else workers
    if workers <= 1:
        _set_fit(X)
        try:
            return [_train_job(job) for job in jobs]
        finally:
            _FIT.clear()
    context = multiprocessing.get_context("spawn")  # forking a process with numba threads is unsafe
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context, initializer=_set_fit,
                                                initargs=(X,)) as pool:
        return list(pool.map(_train_job, jobs))


def _train_on_dask(scheduler, X, jobs):
    try:
        from distributed import Client
    except ImportError:
        raise ImportError("scheduler= needs Dask distributed: pip install 'gradlab[dask]'") from None
    client = scheduler if isinstance(scheduler, Client) else Client(scheduler)
    try:
        [shared] = client.scatter([X], broadcast=True)
        return client.gather([client.submit(_train_one, shared, job, pure=False) for job in jobs])
    finally:
        if client is not scheduler:
            client.close()


def _jobs(X, jobs):
    return [np.asarray(X), [list(job) for job in jobs]]


def jobs_key(X, jobs):
    """The cache key of `cached_train_all`: a hex digest of ``X``, ``jobs`` and the gradlab version."""
    return digest(_jobs(X, jobs))


def cached_train_all(ctx, name, X, jobs, workers=None):
    """`train_all` with the histories kept in ``<ctx.runs>/<name>-<jobs_key[:12]>.pkl``
    (`gradlab.cache.cached`): the same jobs on the same rows load them, so a report's second run
    retrains nothing; ``ctx.fresh`` retrains; ``ctx.scheduler`` trains on that Dask cluster."""
    hists = cached(ctx, name, _jobs(X, jobs),
                   lambda: train_all(X, jobs, workers, scheduler=getattr(ctx, "scheduler", None)))
    if not isinstance(hists, list) or len(hists) != len(jobs):
        raise ValueError(f"{name}: the cached histories do not match the jobs; delete the file or use --fresh")
    return hists


def best_settings(runs, method):
    """Per measure, the setting (a or lam) whose mean over seeds is best on the held-out rows."""
    means = runs[runs.method == method].groupby("setting")[[f"val_{m}" for m in MEASURES]].mean()
    return {m: float(getattr(means[f"val_{m}"], "idxmax" if pick is max else "idxmin")()) for m, (_, pick) in
            MEASURES.items()}


def grid_of(runs, method):
    """The settings (a or lam) ``method`` was trained at, ascending."""
    return sorted(float(v) for v in runs[runs.method == method].setting.unique())


def at_grid_edge(value, grid):
    """1 when ``value`` is the smallest or largest value of ``grid`` (a grid of one value: always), else 0."""
    return int(value in (min(grid), max(grid)))


def seed_values(runs, method, setting, column):
    """One value per seed (sorted by seed) of one method at one setting."""
    part = runs[(runs.method == method) & (runs.setting.isna() if setting is None else runs.setting == setting)]
    return part.sort_values("seed")[column].to_numpy()


def paired(x, y):
    """Mean and standard error over seeds of x - y (same seeds, same order; `compare.paired_difference`);
    the standard error is NaN for one seed."""
    if len(x) < 2:
        return float(np.mean(x - y)), float("nan")
    return paired_difference(y, x)


def compare(runs, n_seeds):
    """The numbers E1's rule judges (and the report shows), and the chosen settings
    ``{"ls": {measure: a}, "hp": {measure: lam}}``."""
    best = {"ls": best_settings(runs, "ls")}
    learned_methods = ["cm"] + (["hp"] if (runs.method == "hp").any() else [])
    if "hp" in learned_methods:
        best["hp"] = best_settings(runs, "hp")
    nums = [Number("n_seeds", n_seeds)]
    nums += [Number(f"ls_best_a_{m}", best["ls"][m], "", f"a with the best mean held-out {MEASURES[m][0]}")
             for m in MEASURES]
    if "hp" in best:
        nums += [Number(f"hp_best_lam_{m}", best["hp"][m], "", "hidden_weight chosen on held-out rows") for m in MEASURES]
    for method, knob in (("ls", "a"), ("hp", "lam")):
        if method in best:
            grid = grid_of(runs, method)
            nums += [Number(f"{method}_{knob}_at_grid_edge_{m}", at_grid_edge(best[method][m], grid), "",
                            f"1 when the {knob} chosen for {MEASURES[m][0]} is an end of its grid "
                            f"({grid[0]:g} to {grid[-1]:g})") for m in MEASURES]
    setting = {"hard": lambda m: 0.0, "ls": lambda m: best["ls"][m], "cm": lambda m: None,
               "hp": lambda m: best.get("hp", {}).get(m)}
    for m, (label, _) in MEASURES.items():
        for method in ["hard", "ls", *learned_methods]:
            values = seed_values(runs, method, setting[method](m), f"test_{m}")
            note = "LS at the a chosen for this measure" if method == "ls" else LABEL[method]
            nums.append(Number(f"{method}_test_{m}", float(values.mean()), "", f"{note}, mean over seeds"))
        ls = seed_values(runs, "ls", best["ls"][m], f"test_{m}")
        d, se = paired(ls, seed_values(runs, "hard", 0.0, f"test_{m}"))
        nums += [Number(f"ls_minus_hard_{m}", d, "", f"test {label}: LS at the a chosen for it minus hard targets, "
                        "paired over seeds"), Number(f"ls_minus_hard_{m}_se", se, "", "its standard error")]
        for method in learned_methods:
            d, se = paired(seed_values(runs, method, setting[method](m), f"test_{m}"), ls)
            nums += [Number(f"{method}_minus_ls_{m}", d, "", f"test {label}: paired mean difference over seeds"),
                     Number(f"{method}_minus_ls_{m}_se", se, "", "its standard error")]
    hard_norm = seed_values(runs, "hard", 0.0, "weight_norm")
    for method in ["hard", "ls", *learned_methods]:
        s = setting[method]("acc")  # LS and hidden patterns: the setting chosen for accuracy
        nums += [Number(f"{method}_weight_norm", float(seed_values(runs, method, s, "weight_norm").mean()), "",
                        f"{LABEL[method]}: ||W||_2 at the end, mean over seeds"),
                 Number(f"{method}_late_growth", float(seed_values(runs, method, s, "late_growth").mean()), "",
                        "relative growth of ||W||_2 over the second half of training")]
        if method in learned_methods:
            d, se = paired(seed_values(runs, method, s, "weight_norm"), hard_norm)
            nums += [Number(f"{method}_minus_hard_weight_norm", d, "", "paired mean difference over seeds"),
                     Number(f"{method}_minus_hard_weight_norm_se", se, "", "its standard error")]
    nums.append(Number("diverged_runs", int(runs.diverged.sum())))
    return nums, best


def _band_of(frame, by, column):
    g = frame.groupby(by)[column]
    return g.mean(), g.std(ddof=1)


def student_figure(runs, norms, best, title, step_label):
    """Figure: test accuracy, NLL and ECE against a (LS, with hard targets at a = 0, the chosen a
    starred and the learned targets as bands), and the weight norm during training; mean +- 1 s.d."""
    from .report import style
    colors = {"hard": style.COLORS["hard"], "ls": style.COLORS["ls"], "cm": style.COLORS["teacher"],
              "hp": style.GREEN}
    fig, axes = style.subplots(2, 2)
    curve = runs[runs.method.isin(["hard", "ls"])]
    for ax, (m, (label, _)) in zip(axes.flat, MEASURES.items()):
        mu, sd = _band_of(curve, "setting", f"test_{m}")
        line = style.band(ax, mu.index, mu, mu - sd, mu + sd, colors["ls"], label="LS at a (a = 0: hard targets)")
        line.set(marker="o", markersize=2.5)
        ax.plot(0, mu.loc[0.0], "o", color=colors["hard"], label=LABEL["hard"], zorder=3)
        a = best["ls"][m]
        ax.plot(a, mu.loc[a], "*", ms=11, color=colors["ls"], mec="black", label="a chosen on held-out rows", zorder=3)
        for method in ("cm", "hp"):
            part = runs[runs.method == method]
            if method == "hp" and part.empty:
                continue
            if method == "hp":
                part = part[part.setting == best["hp"][m]]
            v = part[f"test_{m}"]
            ax.axhspan(v.mean() - v.std(ddof=1), v.mean() + v.std(ddof=1), color=colors[method], alpha=0.2, lw=0)
            ax.axhline(v.mean(), color=colors[method], ls="--",
                       label=LABEL[method] + (" (lam chosen on held-out rows)" if method == "hp" else ""))
        ax.set(xlabel="smoothing a", ylabel=f"test {label}", title=f"{label} on the test rows")
    ax = axes[1, 1]
    shown = {"hard": 0.0, "ls": best["ls"]["acc"], "cm": None}
    if "hp" in best:
        shown["hp"] = best["hp"]["acc"]
    for method, setting in shown.items():
        part = norms[(norms.method == method) & (norms.setting.isna() if setting is None else norms.setting == setting)]
        mu, sd = _band_of(part, "step", "weight_norm")
        suffix = f" ({'a' if method == 'ls' else 'lam'} = {setting:g})" if method in ("ls", "hp") else ""
        style.band(ax, mu.index, mu, mu - sd, mu + sd, colors[method], label=LABEL[method] + suffix)
    ax.set(xlabel=step_label, ylabel="||W||_2 (all weights)", title="weight norm during training")
    ax.legend(loc="upper left")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=len(labels) if len(labels) <= 4 else 3)
    fig.suptitle(title, fontsize=10)
    return fig
