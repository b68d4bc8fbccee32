"""C6 / C7: weight norms over 10^7 steps of online SGD with hard targets, label smoothing (LS) and
penalties; the logit gap LS aims at; and (from c06_max_margin.py) the growth rate a linear model
is known to follow.

Runs (gl.sweep, cached under ctx.runs): 4-7-3 nets (tanh, softmax, CE, batch 1, lr 0.1) on Iris
and on separable blobs, with hard targets, LS at three a, L2 at three lambda, L1 and decoupled
weight decay, 5 seeds each; linear models (no hidden layer) on separable blobs (hard and LS),
overlapping blobs and XOR (hard), the last two not linearly separable (an LP on the training
rows confirms it). Growth is measured per decade of steps over the last two decades.

Records on a roughly log-spaced schedule: each run is trained twice, to 10^7 steps recorded every
10^4 steps and to 10^5 steps recorded every 100 (the same training, whose first records agree bit
for bit; `curves.stitch` checks it), and its history is the short run's records followed by the
long run's.

Figures: c06_weight_norms (hard targets), c07_layer_norms (hard vs LS per layer; penalties),
c07_gap_accuracy (logit gap at the end vs log(1 + K(1 - a)/a); test accuracy), c06_max_margin.
"""
from pathlib import Path

import numpy as np
import pandas as pd

import gradlab as gl
from gradlab import curves, knobs, margins
from gradlab.report import Number, Supporting, save_figure, script_main, style
from gradlab.report.runner import load_script
from gradlab.sweep import run_key

CLAIMS = ("C6", "C7")
LR = 0.1
SMOOTHING = (0.05, 0.1, 0.2)
L2 = (1e-4, 1e-3, 1e-2)
L1 = (1e-3,)
WEIGHT_DECAY = (3e-3,)
LINEAR_SMOOTHING = 0.1
# steps and record_every: the long runs; early_*: the short companion run giving the early records
FULL = dict(steps=10 ** 7, seeds=5, record_every=10 ** 4, early_steps=10 ** 5, early_record_every=100)
QUICK = dict(steps=10 ** 4, seeds=2, record_every=100, early_steps=10 ** 3, early_record_every=10)
TEST_SIZE = 0.2

# name -> (data, layer sizes); the nets' data are separable by the net (train accuracy 1 is checked)
NETS = {"Iris": (gl.datasets.iris, [4, 7, 3]),
        "blobs": (lambda: gl.datasets.blobs(150, 3, 4, separable=True, seed=0), [4, 7, 3])}
LINEAR = {"separable blobs": (lambda: gl.datasets.blobs(150, 3, 4, separable=True, seed=0), [4, 3]),
          "overlapping blobs": (lambda: gl.datasets.blobs(150, 3, 4, separable=False, seed=0), [4, 3]),
          "XOR": (lambda: gl.datasets.xor(200, seed=0), [2, 2])}
NON_SEPARABLE = ("overlapping blobs", "XOR")
LAYER = {"weight_norm": "all weights", "layer_norm_0": "hidden layer W1 (4x7)", "layer_norm_1": "output layer W2 (7x3)"}
LS_STYLES = dict(zip(SMOOTHING, (":", "--", "-")))
PEN_STYLES = dict(zip(L2, (":", "--", "-")))


def settings(ctx):
    return QUICK if ctx.quick else FULL


def config(s):
    """(kind, value) of a run's settings: hard, ls, l2, l1 or wd."""
    if s["smoothing"] > 0:
        return "ls", s["smoothing"]
    for key, kind in (("l2", "l2"), ("l1", "l1"), ("weight_decay", "wd")):
        if s[key] > 0:
            return kind, s[key]
    return "hard", 0.0


def label(kind, value):
    return {"hard": "hard targets", "ls": f"LS a = {value:g}", "l2": f"L2 λ = {value:g}", "l1": f"L1 λ = {value:g}",
            "wd": f"weight decay λ = {value:g}"}[kind]


def _cached(ctx, folder, grid, data, record_every):
    out = knobs.clear_if_fresh(ctx, Path(ctx.runs) / f"{folder}-every{record_every}")
    return gl.sweep(grid, data=data, test_size=TEST_SIZE, record_every=record_every, out=out, extend=True,
                    progress=ctx.progress, scheduler=ctx.scheduler)


def with_epochs(grid, epochs):
    """``grid`` with every run trained for ``epochs`` epochs instead."""
    return sum((gl.Grid(**{**part, "epochs": [epochs]}) for part in grid.parts), gl.Grid())


def sweep(ctx, name, grid, data):
    """Run (or load from ctx.runs) ``grid`` on ``data`` (its epochs: the long runs), with a short
    companion of each run for the early records. Returns the stitched history of the grid's runs,
    a table with one row per run (settings, last record, saturated share of hidden activations)
    and the arrays trained on (X_train, y_train, X_test, y_test)."""
    st = settings(ctx)
    folder = f"c06_{name.replace(' ', '_').lower()}"
    res = _cached(ctx, folder, grid, data, st["record_every"])
    early_epochs = -(-st["early_steps"] // n_train(data[1]))
    early = _cached(ctx, f"{folder}_early", with_epochs(grid, early_epochs), data, st["early_record_every"])
    early_ids = {run_key({**s, "epochs": early_epochs}): k for k, s in enumerate(early.settings)}
    wanted = {run_key(s) for s in grid}
    ids = [k for k, s in enumerate(res.settings) if run_key(s) in wanted]
    runs = {k: early_ids[run_key({**res.settings[k], "epochs": early_epochs})] for k in ids}
    history = curves.stitch(early.history, res.history, runs)
    last = history.groupby("run").tail(1).set_index("run")
    rows = []
    for k in ids:
        kind, value = config(res.settings[k])
        net = res.run(k).net
        saturated = margins.saturated_share(net, res.data[0]) if net.n_layers > 1 else np.nan
        rows.append(dict(dataset=name, run=k, kind=kind, value=value, label=label(kind, value),
                         loss=res.settings[k]["loss"], output=res.settings[k]["output"], seed=res.settings[k]["seed"],
                         saturated_share=saturated, **last.loc[k].to_dict()))
    return history, pd.DataFrame(rows), res.data


def grid_for(sizes, n_train, kinds, ctx):
    st = settings(ctx)
    base = dict(sizes=[sizes], lr=[LR], batch_size=[1], epochs=[-(-st["steps"] // n_train)], seed=range(st["seeds"]))
    grid = gl.Grid(**base)
    if "ls" in kinds:
        grid = grid + gl.Grid(smoothing=kinds["ls"], **base)
    for key in ("l2", "l1", "weight_decay"):
        if key in kinds:
            grid = grid + gl.Grid(**{key: kinds[key]}, **base)
    return grid


def n_train(y):
    return len(y) - round(TEST_SIZE * len(y))


def measure(ctx):
    """Every run: histories, per-run table with final values and growth per decade, data checks."""
    st = settings(ctx)
    ends = [st["steps"] // 10, st["steps"]]
    histories, tables, separable_lp = {}, [], {}
    for name, (data, sizes) in {**NETS, **LINEAR}.items():
        X, y = data()
        if name in NETS:
            kinds = dict(ls=SMOOTHING, l2=L2, l1=L1, weight_decay=WEIGHT_DECAY)
        else:
            kinds = dict(ls=(LINEAR_SMOOTHING,)) if name not in NON_SEPARABLE else {}
        history, table, used = sweep(ctx, name, grid_for(sizes, n_train(y), kinds, ctx), (X, y))
        columns = [c for c in history.columns if c == "weight_norm" or c.startswith("layer_norm")]
        growth = curves.decade_growth_table(history, columns, ends)
        growth["key"] = "growth_" + growth["column"] + "_" + growth["end"].astype(str)
        table = table.merge(growth.pivot(index="run", columns="key", values="growth").reset_index(), on="run")
        histories[name] = history
        tables.append(table)
        separable_lp[name] = margins.linearly_separable(used[0], used[1])
    return histories, pd.concat(tables, ignore_index=True), separable_lp, ends


def mean_of(table, dataset, kind, column, value=None):
    sel = (table["dataset"] == dataset) & (table["kind"] == kind)
    if value is not None:
        sel &= np.isclose(table["value"], value)
    return float(table.loc[sel, column].mean())


# ---------------------------------------------------------------- figures


def figure_steps(ctx):
    """Log-spaced steps at which the figures show the runs: from the first record to the end."""
    st = settings(ctx)
    return curves.log_steps(st["early_record_every"], st["steps"])


def _bands(history, table, dataset, column, labels, steps):
    groups = {int(r.run): r.label for r in table.itertuples() if r.dataset == dataset and r.label in labels}
    bands = curves.seed_bands(history, column, steps, groups)
    return bands.assign(dataset=dataset, column=column)


def _draw(ax, bands, label_, color, ls="-", text=None):
    b = bands[bands["group"] == label_]
    line = style.band(ax, b["step"], b["mean"], b["lo"], b["hi"], color, text or label_, alpha=0.15)
    line.set_linestyle(ls)


def _growth_text(table, dataset, kind, column, end, value=None):
    return f"{int(round(100 * mean_of(table, dataset, kind, f'growth_{column}_{end}', value))):+d}%"


def figure_c6(ctx, histories, table, ends):
    st = settings(ctx)
    steps = figure_steps(ctx)
    fig, axes = style.subplots(1, 3)
    parts = []
    for ax, name in zip(axes[:2], NETS):
        for column, ls in (("weight_norm", "-"), ("layer_norm_0", "--"), ("layer_norm_1", ":")):
            bands = _bands(histories[name], table, name, column, ["hard targets"], steps)
            parts.append(bands)
            text = f"{LAYER[column]} ({_growth_text(table, name, 'hard', column, ends[-1])} in the last decade)"
            _draw(ax, bands, "hard targets", style.COLORS["hard"], ls, text)
        ax.set(title=f"{name}, 4-7-3 net, hard targets")
    ax = axes[2]
    for name, ls in zip(LINEAR, ("-", "--", ":")):
        wanted = ["hard targets"] + ([f"LS a = {LINEAR_SMOOTHING:g}"] if name not in NON_SEPARABLE else [])
        bands = _bands(histories[name], table, name, "weight_norm", wanted, steps)
        parts.append(bands)
        for lab in wanted:
            kind = "hard" if lab == "hard targets" else "ls"
            color = style.COLORS[kind]
            text = f"{name}, {'hard' if kind == 'hard' else lab} ({_growth_text(table, name, kind, 'weight_norm', ends[-1])})"
            _draw(ax, bands, lab, color, ls, text)
    ax.set(title="Linear models (no hidden layer)")
    for ax in axes:
        ax.set(xscale="log", xlabel="SGD steps (batch 1)", ylabel="weight norm ||W||")
        ax.legend(loc="upper left", fontsize=7)
    fig.suptitle("C6: weight norms with hard targets on data the model separates (Iris and blobs nets; linear: separable "
                 f"blobs) and on data it cannot (linear: overlapping blobs, XOR); mean and range over {st['seeds']} seeds",
                 fontsize=9)
    return save_figure(ctx, fig, "c06_weight_norms", {"bands": pd.concat(parts, ignore_index=True), "runs": table},
                       _settings(ctx))


def figure_c7(ctx, histories, table):
    st = settings(ctx)
    steps = figure_steps(ctx)
    fig, axes = style.subplots(2, 3, sharex=True)
    parts = []
    ls_labels = [label("ls", a) for a in SMOOTHING]
    pen = [label("l2", v) for v in L2] + [label("l1", v) for v in L1] + [label("wd", v) for v in WEIGHT_DECAY]
    for row, name in enumerate(NETS):
        for col, column in enumerate(("layer_norm_0", "layer_norm_1")):
            ax = axes[row, col]
            bands = _bands(histories[name], table, name, column, ["hard targets"] + ls_labels, steps)
            parts.append(bands)
            _draw(ax, bands, "hard targets", style.COLORS["hard"])
            for a in SMOOTHING:
                _draw(ax, bands, label("ls", a), style.COLORS["ls"], LS_STYLES[a])
            ax.set(title=f"{name}: {LAYER[column]}", ylabel="layer norm ||W_l||")
        ax = axes[row, 2]
        bands = _bands(histories[name], table, name, "weight_norm", ["hard targets"] + pen, steps)
        parts.append(bands)
        _draw(ax, bands, "hard targets", style.COLORS["hard"])
        for v in L2:
            _draw(ax, bands, label("l2", v), style.COLORS["l2"], PEN_STYLES[v])
        for v in L1:
            _draw(ax, bands, label("l1", v), style.COLORS["l1"])
        for v in WEIGHT_DECAY:
            _draw(ax, bands, label("wd", v), style.COLORS["wd"])
        ax.set(title=f"{name}: all weights, penalties", ylabel="weight norm ||W||")
    for ax in axes.flat:
        ax.set(xscale="log")
    for ax in axes[1]:
        ax.set(xlabel="SGD steps (batch 1)")
    axes[0, 0].legend(loc="upper left", fontsize=7)
    axes[0, 2].legend(loc="upper left", fontsize=7)
    fig.suptitle(f"C7: 4-7-3 nets, online SGD (lr {LR:g}): norms per layer with hard targets and LS, and with "
                 f"penalties (mean and range over {st['seeds']} seeds)", fontsize=9)
    return save_figure(ctx, fig, "c07_layer_norms", {"bands": pd.concat(parts, ignore_index=True), "runs": table},
                       _settings(ctx))


def spread(mean, lo, hi):
    """Error-bar lengths below and above the mean (>= 0: a mean of equal values may round past them)."""
    mean, lo, hi = (np.asarray(v, dtype=float) for v in (mean, lo, hi))
    return [np.maximum(mean - lo, 0), np.maximum(hi - mean, 0)]


def figure_gap_accuracy(ctx, table, optimum):
    fig, axes = style.subplots(1, 2)
    ax = axes[0]
    a_grid = np.linspace(0.02, 0.3, 200)
    ax.plot(a_grid, [margins.smoothed_logit_gap(a, 3) for a in a_grid], color=style.GREY,
            label="per-sample optimum log(1 + K(1 - a)/a), K = 3")
    rows = []
    for name, marker, color in zip(NETS, ("o", "^"), (style.BLUE, style.ORANGE)):
        for a in SMOOTHING:
            sel = table[(table["dataset"] == name) & (table["kind"] == "ls") & np.isclose(table["value"], a)]
            g = sel["logit_gap"]
            rows.append(dict(dataset=name, a=a, gap_mean=g.mean(), gap_lo=g.min(), gap_hi=g.max(),
                             formula=margins.smoothed_logit_gap(a, 3), optimizer=optimum[a]))
        r = pd.DataFrame(rows[-len(SMOOTHING):])
        ax.errorbar(r["a"], r["gap_mean"], yerr=spread(r["gap_mean"], r["gap_lo"], r["gap_hi"]),
                    fmt=marker, color=color, ms=5, capsize=3, label=f"{name}: mean logit gap at the end")
    ax.set(xlabel="smoothing a", ylabel="true-class logit minus largest other",
           title="Logit gap: measured at the end vs per-sample optimum")
    ax.legend(loc="upper right", fontsize=7)
    ax = axes[1]
    order = (["hard targets"] + [label("ls", a) for a in SMOOTHING] + [label("l2", v) for v in L2]
             + [label("l1", v) for v in L1] + [label("wd", v) for v in WEIGHT_DECAY])
    x = np.arange(len(order))
    for i, (name, marker, color) in enumerate(zip(NETS, ("o", "^"), (style.BLUE, style.ORANGE))):
        sub = table[table["dataset"] == name].groupby("label")["test_acc"].agg(["mean", "min", "max"]).reindex(order)
        ax.errorbar(x + (i - 0.5) * 0.25, sub["mean"], yerr=spread(sub["mean"], sub["min"], sub["max"]),
                    fmt=marker, color=color, ms=5, capsize=3, label=name)
    ax.set_xticks(x, order, rotation=40, ha="right", fontsize=7)
    ax.set(ylabel="test accuracy at the end", title="Test accuracy (mean and range over seeds)", ylim=(0.75, 1.01))
    ax.legend(loc="lower left")
    fig.suptitle("C7: logit gap at the last step against the per-sample optimum under LS; test accuracy of every "
                 "setting", fontsize=9)
    return save_figure(ctx, fig, "c07_gap_accuracy", {"gaps": pd.DataFrame(rows), "runs": table}, _settings(ctx))


def _settings(ctx):
    st = settings(ctx)
    return dict(steps=st["steps"], seeds=list(range(st["seeds"])), record_every=st["record_every"],
                early_steps=st["early_steps"], early_record_every=st["early_record_every"],
                records="the early run's records up to its last step, then the long run's (the same training)", lr=LR,
                batch_size=1, loss="ce", hidden="tanh", output="softmax", test_size=TEST_SIZE, split_seed=0,
                standardized="on the training rows", smoothing=SMOOTHING, l2=L2, l1=L1, weight_decay=WEIGHT_DECAY,
                linear_smoothing=LINEAR_SMOOTHING,
                data={"Iris": "gl.datasets.iris()", "blobs": "gl.datasets.blobs(150, 3, 4, separable=True, seed=0)",
                      "separable blobs": "gl.datasets.blobs(150, 3, 4, separable=True, seed=0), net [4, 3]",
                      "overlapping blobs": "gl.datasets.blobs(150, 3, 4, separable=False, seed=0), net [4, 3]",
                      "XOR": "gl.datasets.xor(200, seed=0), net [2, 2]"},
                growth="ln 10 x least-squares slope of the norm against ln(step) over the decade / norm at its start")


# ---------------------------------------------------------------- numbers and verdicts


def c6_result(table, separable_lp, ends, soudry, figures):
    hard = table[table["kind"] == "hard"]
    separable = list(NETS) + ["separable blobs"]
    growth_cols = [f"growth_weight_norm_{e}" for e in ends]
    seed_mean = hard.groupby("dataset")[growth_cols].mean()
    numbers = [Number(f"growth_last_decade_{name.replace(' ', '_').lower()}_hard", seed_mean.loc[name, growth_cols[-1]],
                      "per decade", f"relative growth of ||W|| from step {ends[-1] // 10:,} to {ends[-1]:,}, "
                                    "mean over seeds") for name in [*separable, *NON_SEPARABLE]]
    numbers += [
        Number("separable_growth_min", float(seed_mean.loc[separable, growth_cols].min().min()), "per decade",
               f"smallest seed-mean growth over the last {len(ends)} decades: {', '.join(separable)}, hard targets"),
        Number("nonseparable_change_max", float(seed_mean.loc[list(NON_SEPARABLE), growth_cols[-1]].abs().max()),
               "per decade", "largest |seed-mean change| over the last decade: linear models on overlapping blobs, XOR"),
        Number("separated_share_min", float(hard[hard["dataset"].isin(separable)]["train_acc"].min()), "",
               "smallest final training accuracy of those runs (1: every run separates its data)"),
        Number("nonseparable_sets_linearly_separable", sum(separable_lp[n] for n in NON_SEPARABLE), "sets",
               "training sets of the 'not separable' cases that an LP finds linearly separable (must be 0)"),
    ]
    units = dict(soudry_angle_first_deg="degrees", soudry_angle_last_deg="degrees")
    notes = dict(soudry_norm_w_hat="||w_hat||, hard-margin separator of [x, 1] (bias included)",
                 soudry_slope_ratio_first="d||[w, b]||/d ln t over the first decade (ends 10^3), / ||w_hat||",
                 soudry_slope_ratio_last="the same over the last decade", soudry_angle_first_deg="angle to w_hat at 10^3",
                 soudry_angle_last_deg="angle at the last step", soudry_ratio_approaching="|1 - ratio| fell every decade",
                 soudry_angle_decreasing="the angle fell every decade")
    numbers += [Number(k, v, units.get(k, ""), notes.get(k, "")) for k, v in soudry.items()]
    return Supporting.judged("C6", "The mechanism in long runs: 4-7-3 tanh nets and linear models, online SGD, 10^7 "
                             "steps; on data a model separates and data it cannot", "rule_c6", numbers, figures)


def c7_result(table, ends, optimum, figures):
    last = f"_{ends[-1]}"
    ls = table[(table["kind"] == "ls") & table["dataset"].isin(list(NETS))]
    by = ls.groupby(["dataset", "value"])
    out_g = by[f"growth_layer_norm_1{last}"].mean()
    hid_g = by[f"growth_layer_norm_0{last}"].mean()
    gap = by["logit_gap"].mean()
    formula = pd.Series({k: margins.smoothed_logit_gap(k[1], 3) for k in gap.index})
    ratio = by["weight_norm"].mean() / pd.Series({k: mean_of(table, k[0], "hard", "weight_norm") for k in gap.index})
    hard = table[(table["kind"] == "hard") & table["dataset"].isin(list(NETS))]
    lin = table[(table["dataset"] == "separable blobs") & (table["kind"] == "ls")]
    lin_growth = abs(lin[f"growth_weight_norm_{ends[-1]}"].mean())
    numbers = [
        Number("ls_linear_growth_max", float(lin_growth), "per decade",
               f"linear model, separable blobs, LS a = {LINEAR_SMOOTHING:g}: |seed-mean change| over the last decade"),
        Number("ls_output_growth_max", float(out_g.max()), "per decade",
               "4-7-3 nets with LS (Iris, blobs; every a): largest seed-mean growth of the output layer, last decade"),
        Number("ls_output_growth_min", float(out_g.min()), "per decade", "the smallest of the same"),
        Number("ls_hidden_growth_max", float(hid_g.max()), "per decade", "the same for the hidden layer: largest"),
        Number("ls_hidden_growth_min", float(hid_g.min()), "per decade", "hidden layer: smallest"),
        Number("ls_to_hard_norm_ratio_min", float(ratio.min()), "", "final ||W|| with LS / with hard targets "
               "(seed means, per data set and a): smallest"),
        Number("ls_to_hard_norm_ratio_max", float(ratio.max()), "", "the same: largest"),
        Number("saturated_share_ls", float(ls["saturated_share"].mean()), "",
               "share of hidden activations with |h| > 0.99 on the training rows at the end, LS runs of both nets"),
        Number("saturated_share_hard", float(hard["saturated_share"].mean()), "", "the same for hard targets"),
        Number("gap_rel_err_max", float(((gap - formula).abs() / formula).max()), "",
               "|mean logit gap at the end - log(1 + K(1 - a)/a)| / formula, largest over data sets and a"),
        Number("gap_formula_vs_optimizer_max", float(max(abs(margins.smoothed_logit_gap(a, 3) - optimum[a])
                                                         for a in SMOOTHING)), "logits",
               "formula vs the optimum of one sample's CE found by BFGS (K = 3)"),
    ]
    for (name, a), g in out_g.items():
        numbers.append(Number(f"output_growth_{name.lower()}_ls{a:g}", float(g), "per decade",
                              f"{name}, LS a = {a:g}: output layer, last decade (hidden: {hid_g[(name, a)]:+.3f})"))
    return Supporting.judged("C7", "The mechanism in long runs: with LS every sample's CE has a finite optimum (o = t', "
                             "a logit gap of log(1 + K(1 - a)/a)); 4-7-3 tanh nets and linear models, online SGD, 10^7 "
                             "steps", "rule_c7", numbers, figures)


def run(ctx):
    histories, table, separable_lp, ends = measure(ctx)
    optimum = {a: margins.sample_optimum_gap(a, 3) for a in SMOOTHING}
    max_margin = load_script(Path(__file__).with_name("c06_max_margin.py"))
    soudry = max_margin.numbers(ctx)  # its figure is drawn by c06_max_margin.py, which reports on C6 too
    f6 = figure_c6(ctx, histories, table, ends)[0]
    f7 = [figure_c7(ctx, histories, table)[0], figure_gap_accuracy(ctx, table, optimum)[0]]
    c6 = c6_result(table, separable_lp, ends, soudry, [f6, "c06_max_margin.png"])
    c7 = c7_result(table, ends, optimum, f7 + [f6])
    return [c6, c7]


if __name__ == "__main__":
    script_main(run, CLAIMS)
