"""C6, C7 and C10's verdicts from one regime map: does the weight norm keep growing late in
training, with hard targets (C6), with LS (C7), and with LS under MSE (C10), and where?

Every cell trains four conditions over the same seeds (the protocol of `gradlab.regimes`: ReLU
nets, batch 32): CE with hard targets, CE with LS at a = 0.1, and the same two with MSE on
softmax outputs. The deciding quantity is the relative growth over the last decade of training,
epochs [E/10, E], of the fastest-growing layer's weight norm (`regimes.norm_growth`, from a
record every epoch), mean over seeds with its standard error; every cell is judged by one
criterion, `rules.growth_call` (growing: >= 5% per decade by 2 SE; not growing: <= 2%). Per
layer, not the whole norm: in wide nets the whole norm is mostly the first layer's initial
weights, which barely move (64 x 256 of them at 256 units), so it grows by 3% per decade while
the output layer grows by 24%. A run of E epochs is the first E epochs of a 300-epoch run, so the
training-length axis costs one run per regime.

The cuts: every axis against training length, since growth is about how training ends: width
(5-256 units), training-set size (100 rows to all), optimizer (SGD, momentum, Adam), depth (1, 2
hidden layers) and data (Iris, digits; MNIST's 5,000-row subset to 100 epochs, since its 784
inputs make an epoch about 20x a digits epoch). Width x optimizer is left out: a 256-unit net
trained 300 epochs costs as much as the rest of a panel, and the optimizer panel at 16 units
already shows whether the optimizer changes the answer. The long-run mechanism (10^7 steps, linear models against the max-margin rate,
the logit gap LS aims at) is shown beside the map (c06_weight_growth.py, c10_mse.py).
"""
import math
from dataclasses import replace

import numpy as np
import pandas as pd

from gradlab import regimes
from gradlab.regimes import Panel, Regime
from gradlab.report import ClaimResult, Number, maps, rules, save_figure, script_main

CLAIMS = ("C6", "C7", "C10")
A = 0.1
CONDITIONS = {"hard": dict(loss="ce", smoothing=0.0), "ls": dict(loss="ce", smoothing=A),
              "mse_hard": dict(loss="mse", smoothing=0.0), "mse_ls": dict(loss="mse", smoothing=A)}
WIDTHS, EPOCHS = (5, 16, 64, 256), (10, 30, 100, 300)


FULL = dict(seeds=5, epochs=EPOCHS, panels=(
    Panel("width", WIDTHS, "epochs", EPOCHS), Panel("train_size", (100, 300, 0), "epochs", EPOCHS),
    Panel("optimizer", ("sgd", "momentum", "adam"), "epochs", EPOCHS), Panel("depth", (1, 2), "epochs", EPOCHS),
    Panel("data", ("iris", "digits"), "epochs", EPOCHS),
    Panel("data", ("digits", "mnist"), "epochs", EPOCHS[:-1])))  # MNIST to 100 epochs: 784 inputs, 3,200 rows
QUICK = dict(seeds=2, epochs=(10, 20), panels=(Panel("width", (5, 16), "epochs", (10, 20)),
                                                Panel("optimizer", ("sgd", "adam"), "epochs", (10, 20)),
                                                Panel("data", ("iris", "digits"), "epochs", (10, 20))))
STATEMENTS = {"C6": "With hard targets the true-class error term never changes sign, so the weights keep growing "
                    "and can become very large.",
              "C7": "Label smoothing keeps the weights from growing large.",
              "C10": "Label smoothing is not tied to cross-entropy: it acts the same way with MSE or any other error."}
TITLES = {"C6": "Hard targets and growing weights: a map over width, training length, data size, optimizer, depth "
                "and data",
          "C7": "Label smoothing and the size of the weights: the same map",
          "C10": "Label smoothing with MSE: the same map"}


def condition(runs):
    """Each run's condition name (a key of `CONDITIONS`)."""
    names = {(c["loss"], c["smoothing"]): name for name, c in CONDITIONS.items()}
    return [names[(loss, a)] for loss, a in zip(runs.loss, runs.smoothing)]


QUANTITY = "layer_growth"  # the fastest-growing layer's norm, per run


def cell_table(runs, keys):
    """Per cell: each condition's growth over the last decade (`QUANTITY`; mean over seeds, NaN
    if a seed diverged) and its standard error, and the whole norm's growth beside it; LS minus hard targets paired by seed, with CE
    and with MSE; the hard-target nets' lowest training accuracy over seeds; the cells'
    verdicts (`rules.c6_cell`, `rules.c7_cell`)."""
    runs = runs.assign(condition=condition(runs))
    parts = []
    for name in CONDITIONS:
        g = runs[runs.condition == name].groupby(keys)
        q = g[QUANTITY]
        parts.append(pd.DataFrame({f"{name}_growth": q.apply(lambda v: v.mean(skipna=False)),
                                   f"{name}_growth_se": q.apply(lambda v: v.std(ddof=1, skipna=False)) / np.sqrt(q.size()),
                                   f"{name}_norm_growth": g.growth.mean(), f"{name}_norm": g.norm.mean(),
                                   f"{name}_train_acc_min": g.train_acc.min(), f"{name}_test_acc": g.test_acc.mean()}))
    table = pd.concat(parts, axis=1).reset_index()
    for name, a, b in (("ls_minus_hard", "ls", "hard"), ("mse_ls_minus_hard", "mse_ls", "mse_hard")):
        d = regimes.paired(runs, keys, runs.condition == a, runs.condition == b, QUANTITY)
        table = table.merge(d.rename(columns={"diff": name, "se": f"{name}_se", "n": f"{name}_seeds"}), on=keys,
                            how="left")
        table[f"{a}_norm_ratio"] = (table.set_index(keys)[f"{a}_norm"] / table.set_index(keys)[f"{b}_norm"]).to_numpy()
    d = regimes.paired(runs, keys, runs.condition == "ls", runs.condition == "hard", "norm")
    table = table.merge(d.rename(columns={"diff": "ls_minus_hard_norm", "se": "ls_minus_hard_norm_se"})
                        .drop(columns="n"), on=keys, how="left")
    table["fitted"] = table.hard_train_acc_min == 1
    table["c6"] = [rules.c6_cell(*v) for v in table[["hard_growth", "hard_growth_se"]].to_numpy()]
    for claim, ls, hard in (("c7", "ls", "hard"), ("c10", "mse_ls", "mse_hard")):
        cols = [f"{ls}_growth", f"{ls}_growth_se", f"{hard}_growth", f"{hard}_growth_se"]
        table[claim] = [rules.c7_cell(*v) for v in table[cols].to_numpy()]
    return table


def _ratio_numbers(ratio, loss):
    note = f"{loss}: seed-mean final weight norm with LS / with hard targets, over cells"
    return [Number("norm_ratio_min", float(ratio.min()), "", f"{note}: smallest"),
            Number("norm_ratio_max", float(ratio.max()), "", f"{note}: largest")]


def numbers_of(table, panels, cfg):
    """The numbers each claim's rule judges, recomputed from the cell table."""
    seeds = Number("seeds", cfg["seeds"], "", "seeds per condition and cell")
    c6 = maps.verdict_numbers(table, "c6", panels, "hard-target norm growing (rules.c6_cell)", "hard-target norm "
                              "not growing")
    c6 += [Number("fitted_cells", int(table.fitted.sum()), "regimes", "cells where the hard-target nets classify every "
                  "training row (every seed)"),
           Number("fitted_cells_holds", int((table.fitted & (table.c6 == "holds")).sum()), "regimes",
                  "of those, cells where the norm keeps growing")]
    calls = {c: np.array([rules.growth_call(*v) for v in table[[f"{c}_growth", f"{c}_growth_se"]].to_numpy()])
             for c in CONDITIONS}
    c7 = maps.verdict_numbers(table, "c7", panels, "CE + LS norms not growing, hard targets' growing (rules.c7_cell)",
                              "CE + LS norm growing")
    c7 += [Number("no_contrast_cells", int(((calls["ls"] == "not growing") & (calls["hard"] != "growing")).sum()),
                  "regimes", "cells where the norms stop growing with LS and do not grow with hard targets either"),
           *_ratio_numbers(table.ls_norm_ratio, "CE"),
           *maps.base_norm_numbers(table, "ls_minus_hard_norm")]
    c10 = maps.verdict_numbers(table, "c10", panels, "MSE + LS norms not growing, MSE hard targets' growing "
                               "(rules.c7_cell)", "MSE + LS norm growing")
    c10 += [Number("no_contrast_cells", int(((calls["mse_ls"] == "not growing") & (calls["mse_hard"] != "growing")).sum()),
                   "regimes", "the same with MSE"),
            *_ratio_numbers(table.mse_ls_norm_ratio, "MSE"),
            Number("agrees_with_ce_cells", int((table.c10 == table.c7).sum()), "regimes",
                   "cells whose verdict equals C7's (CE + LS)")]
    return {"C6": [seeds, *c6], "C7": [seeds, *c7], "C10": [seeds, *c10]}


def figure(table, panels, claim):
    """The claim's map, each cell coloured by its growth's distance from the threshold its
    verdict turns on, in standard errors."""
    pct = "{:+.0%}"
    if claim == "C6":
        return maps.draw(table, panels, "hard_growth", "hard_growth_se", "c6",
                         "C6: growth of the fastest-growing layer's weight norm over the last decade of training, CE, hard "
                         "targets\n"
                         f"(red: above {rules.GROWING:.0%} per decade); a cell holds when it grows by at least "
                         f"{rules.GROWING:.0%} per decade (2 SE)", f"(growth - {rules.GROWING:.0%})", pct,
                         value_label=" hard", shift=rules.GROWING,
                         subtitle="each cell: verdict and growth per decade (mean over seeds)")
    ls, label = ("ls", "CE") if claim == "C7" else ("mse_ls", "MSE")
    hard = "hard" if claim == "C7" else "mse_hard"
    return maps.draw(table, panels, f"{ls}_growth", f"{ls}_growth_se", claim.lower(),
                     f"{claim}: growth of the fastest-growing layer's weight norm over the last decade of training, {label}, "
                     f"LS a = {A:g}\n"
                     f"(blue: below {rules.BOUNDED:.0%} per decade); a cell holds when the LS nets' norm grows by at "
                     f"most {rules.BOUNDED:.0%} per decade (2 SE)", f"(LS growth - {rules.BOUNDED:.0%})", pct,
                     also=((" hard", f"{hard}_growth"), (" LS-hard", f"{ls}_minus_hard")), value_label=" LS",
                     shift=rules.BOUNDED, subtitle="each cell: verdict, growth per decade with LS and with hard "
                                                   "targets, and their paired difference (means over seeds)")


def run(ctx):
    cfg = QUICK if ctx.quick else FULL
    panels = cfg["panels"]
    longest = {}  # each regime trained once, to the longest length any panel asks of it
    for c in regimes.cells(panels):
        key = replace(c, epochs=1)
        longest[key] = max(longest.get(key, 0), c.epochs)
    trained = [replace(k, epochs=e) for k, e in longest.items()]
    runs, keys = regimes.sweep_cells(ctx, "growth_map", trained, list(CONDITIONS.values()), range(cfg["seeds"]),
                                     regimes.norm_growth(cfg["epochs"]), every_epoch=True,
                                     evaluate_key=("norm_growth", list(cfg["epochs"])),
                                     evaluate_epochs=math.gcd(*cfg["epochs"]))  # accuracies are read at those only
    runs = regimes.by_epochs(runs)
    cells = set(regimes.cells(panels))
    runs = runs[[Regime(*t) in cells for t in runs[keys].itertuples(index=False)]].reset_index(drop=True)
    table = cell_table(runs, keys)
    numbers = numbers_of(table, panels, cfg)
    settings = {"protocol": {"hidden": regimes.HIDDEN, "batch_size": regimes.BATCH, "optimizers": regimes.OPTIMIZERS,
                             "split": "knobs.split (seed 0 / 1)", "output": "softmax"},
                "conditions": CONDITIONS, "seeds": cfg["seeds"], "epochs": list(cfg["epochs"]),
                "panels": [dict(rows=p.rows, row_values=list(p.row_values), cols=p.cols, col_values=list(p.col_values),
                                base=p.base.__dict__) for p in panels],
                "thresholds": {"growing": rules.GROWING, "bounded": rules.BOUNDED, "se_factor": rules.SE_FACTOR}}
    results = []
    for claim in CLAIMS:
        name = f"{claim.lower().replace('c', 'c0') if len(claim) == 2 else claim.lower()}_regimes"
        data = {"cells": table, "runs": runs} if claim == "C6" else {"cells": table}
        files = save_figure(ctx, figure(table, panels, claim), name, data, settings)
        rule = f"rule_{claim.lower()}_map"
        verdict, reason = rules.reapply(rule, numbers[claim])
        results.append(ClaimResult(claim, TITLES[claim], STATEMENTS[claim], verdict, reason, numbers[claim],
                                   [f for f in files if f.endswith(".png")], rule))
    return results


if __name__ == "__main__":
    script_main(run, CLAIMS)
