"""C9's verdict from a regime map: is there a principled way to choose a, and where?

The map is C11's (`c11_regimes.map_runs`: the same cells, runs and seeds, read from the cache):
every cell trains hard targets and LS at each a of a grid. The principled way tested is the
routine one, choosing a (a = 0, hard targets, included) by validation NLL. Per cell the
deciding quantities are what that choice costs on the test rows against the best a in
hindsight: test NLL of the chosen a minus the best a's, and test accuracy of the most accurate
a minus the chosen a's, paired by seed with standard errors (`rules.c9_cell`). Beside them, the
sensitivity the claim talks about: the steepest change of seed-mean test NLL per decade of a
(`compare.knob_sensitivity` over the a > 0 grid). The best a in hindsight is picked on the test
rows it is scored on, so the cost is if anything overstated.
"""
from pathlib import Path

import numpy as np
import pandas as pd

from gradlab import compare, regimes
from gradlab.report import ClaimResult, Number, maps, rules, save_figure, script_main
from gradlab.report.runner import load_script

CLAIMS = ("C9",)
STATEMENT = "There is no principled way to choose the smoothing a."


def _c11():
    return load_script(Path(__file__).with_name("c11_regimes.py"))


def cell_table(runs, keys):
    """Per cell: the a chosen on seed-mean validation NLL, the a of best seed-mean test NLL and of
    best test accuracy, the paired test costs of the choice (``nll_regret``, ``acc_regret`` with
    SEs), the steepest test-NLL change per decade of a, and the cell's verdict."""
    means = runs.groupby([*keys, "smoothing"])[["val_nll", "nll", "acc"]].mean().reset_index()
    pick = lambda col, how: means.loc[getattr(means.groupby(keys)[col], how)()].set_index(keys).smoothing
    table = pd.DataFrame({"a_val": pick("val_nll", "idxmin"), "a_best_nll": pick("nll", "idxmin"),
                          "a_best_acc": pick("acc", "idxmax")}).reset_index()
    runs = runs.merge(table, on=keys)
    for name, value, a, b in (("nll_regret", "nll", "a_val", "a_best_nll"), ("acc_regret", "acc", "a_best_acc", "a_val")):
        d = regimes.paired(runs, keys, runs.smoothing == runs[a], runs.smoothing == runs[b], value)
        table = table.merge(d.rename(columns={"diff": name, "se": f"{name}_se", "n": "seeds"})
                            .drop(columns=[] if name == "nll_regret" else ["seeds"]), on=keys)
    slopes = []
    for key, cell in runs[runs.smoothing > 0].groupby(keys):
        nll = cell.pivot(index="smoothing", columns="seed", values="nll")
        acc = cell.pivot(index="smoothing", columns="seed", values="acc")
        slopes.append((*key, compare.knob_sensitivity(nll.index.to_numpy(), nll.to_numpy(), acc.to_numpy(),
                                                      acc_drop=1.0)["slope"]))
    table = table.merge(pd.DataFrame(slopes, columns=[*keys, "nll_slope"]), on=keys)
    table["verdict"] = [rules.c9_cell(*v) for v in
                        table[["nll_regret", "nll_regret_se", "acc_regret", "acc_regret_se"]].to_numpy()]
    return table


def numbers_of(table, panels, cfg):
    """The numbers C9's rule judges, recomputed from the cell table."""
    worst = table.loc[table.nll_regret.idxmax()]
    regime = ", ".join(f"{regimes.AXES[a]} {regimes.axis_text(a, worst[a])}" for a in regimes.AXES)
    return [Number("seeds", cfg["seeds"], "", "seeds per cell (C11's map)"),
            Number("a_grid", ", ".join(f"{a:g}" for a in (0.0, *cfg["a"])), "", "the a a choice picks from"),
            *maps.verdict_numbers(table, "verdict", panels, "the validation choice loses materially (rules.c9_cell)",
                                  "the validation choice does not lose materially"),
            Number("val_is_best_cells", int((table.a_val == table.a_best_nll).sum()), "regimes",
                   "cells where the a chosen on validation NLL has the best seed-mean test NLL"),
            Number("nll_regret_max", float(worst.nll_regret), "nats", "largest test-NLL cost of the validation choice"),
            Number("nll_regret_max_se", float(worst.nll_regret_se), "nats", "its standard error over seeds"),
            Number("nll_regret_max_regime", regime, "", ""),
            Number("hard_chosen_cells", int((table.a_val == 0).sum()), "regimes", "cells where validation picks a = 0"),
            Number("nll_slope_median", float(table.nll_slope.median()), "nats per decade",
                   "median over cells of the steepest change of test NLL per decade of a (a > 0)")]


def run(ctx):
    c11 = _c11()
    runs, keys, cfg = c11.map_runs(ctx)
    panels = cfg["panels"]
    table = cell_table(runs, keys)
    numbers = numbers_of(table, panels, cfg)
    verdict, reason = rules.reapply("rule_c9_map", numbers)
    fig = maps.draw(table, panels, "nll_regret", "nll_regret_se", "verdict",
                    "C9: test NLL of a chosen by validation NLL (0 included) minus the best a in hindsight (colour; "
                    "red: the choice loses)\nand the best accuracy minus the choice's (acc, a fraction); a cell holds when "
                    f"the choice loses more than {rules.C9_NLL_MARGIN:g} nats or {rules.C9_ACC_MARGIN:g} (2 SE)",
                    "NLL cost of the choice", also=((" acc", "acc_regret"),), value_label=" NLL")
    files = save_figure(ctx, fig, "c09_regimes", {"cells": table},
                        {"map": "C11's (analysis/c11_regimes.py: the same runs)", "seeds": cfg["seeds"],
                         "a": [0.0, *cfg["a"]], "margins": {"nll": rules.C9_NLL_MARGIN, "acc": rules.C9_ACC_MARGIN,
                                                            "se_factor": rules.SE_FACTOR}})
    return [ClaimResult("C9", "Can a be chosen by a routine rule? A map over width, training length, data size, "
                        "optimizer, depth and data", STATEMENT, verdict, reason, numbers,
                        [f for f in files if f.endswith(".png")], "rule_c9_map")]


if __name__ == "__main__":
    script_main(run, CLAIMS)
