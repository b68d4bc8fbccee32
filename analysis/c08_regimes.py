"""C8's verdict from a regime map: does an L2 penalty at LS's final weight norm do what LS does,
and where?

The map is C11's (the same cells and seeds, the protocol of `gradlab.regimes`: ReLU nets,
batch 32): hard targets and LS at a = ``A`` are C11's runs, read from the cache. Each cell adds
hard-target runs with an L2 penalty at each strength of ``LAMBDAS``; the strength whose seed-mean
final weight norm equals LS's is interpolated on them (`compare.match_strength`, log-log), and L2
at that strength is trained with the same seeds. The deciding quantities are the test NLL, ECE
and mean logit gap of the matched L2 nets minus the LS nets, paired by seed, against the null
control, hard targets without a penalty minus LS (`rules.c8_cell`). The strength is found on one
seed (the norm varies about 1% over seeds): on a coarse grid, then twice more at the strength
interpolated on every strength tried, so that the final interpolation lands within a few percent
of LS's norm (the map states the largest gap).

The cuts are C11's (width x training length, training rows x length, optimizer x width, depth x
width, and Iris and MNIST beside digits), so the two claims are read on one set of regimes.
L2 alone is mapped: it is the penalty users mean by "regularisation", and under plain SGD
decoupled weight decay is the same update; L1 and weight decay are compared with LS in one
regime in detail (`c08_matched_regularisers.py`). One a, 0.1 (C7's), since the matched strength
must be trained per a: the detail script covers a from 0.01 to 0.3. Under Adam an L2 gradient is
rescaled per weight, so the matched strength is far smaller there than with SGD; the grid spans
1e-6 to 0.1 to reach every cell's norm.
"""
from pathlib import Path

import numpy as np
import pandas as pd

from gradlab import compare, regimes
from gradlab.report import ClaimResult, Number, maps, rules, save_figure, script_main
from gradlab.report.runner import load_script

CLAIMS = ("C8",)
A = 0.1
LAMBDAS = (1e-6, 1e-4, 1e-2, 1e-1)
PROBE_SEEDS, REFINEMENTS = 1, 2
STATEMENT = "Weight decay, L1 or L2 regularisation have roughly the same effect as label smoothing."
MEASURES = {"nll": "test NLL", "ece": "test ECE", "logit_gap": "test logit gap"}


def _c11():
    return load_script(Path(__file__).with_name("c11_regimes.py"))


def matched_strengths(penalised, ls, keys):
    """Per cell (a tuple of ``keys``): the L2 strength whose final weight norm equals the LS runs'
    (``ls``), interpolated on the norms of ``penalised`` (one row per cell, strength and seed), both
    averaged over the probes' seeds (``seed < PROBE_SEEDS``, so that a seed's L2 run is matched to
    the LS run it starts like); NaN where the strengths tried do not reach it."""
    target = ls[ls.seed < PROBE_SEEDS].groupby(keys).weight_norm.mean()
    curves = penalised[penalised.seed < PROBE_SEEDS].groupby([*keys, "l2"]).weight_norm.mean()
    return {cell: compare.match_strength(curves.loc[cell].index.to_numpy(), curves.loc[cell].to_numpy(), t)
            for cell, t in target.items()}


def cell_table(runs, keys, lams):
    """Per cell: the matched strength and how it sits on its grid, the matched nets' norm over
    LS's, per measure the paired differences (matched L2 minus LS, and the null control hard
    targets minus LS) with standard errors, the logit-gap margin and the cell's verdict
    (`rules.c8_cell`). ``runs``: one row per cell, method (hard, ls, l2) and seed."""
    table = pd.DataFrame([(*cell, lam) for cell, lam in lams.items()], columns=[*keys, "lambda"])
    table["lambda_at_edge"] = [not LAMBDAS[1] <= lam <= LAMBDAS[-2] if np.isfinite(lam) else False
                               for lam in table["lambda"]]
    ls = runs.method == "ls"
    for name, method in (("", "l2"), ("null_", "hard")):
        for m in (*MEASURES, "acc"):
            d = regimes.paired(runs, keys, runs.method == method, ls, m)
            table = table.merge(d.rename(columns={"diff": f"{name}{m}_diff", "se": f"{name}{m}_se"})
                                .drop(columns="n"), on=keys, how="left")
    d = regimes.paired(runs, keys, ls, runs.method == "hard", "weight_norm")
    table = table.merge(d.rename(columns={"diff": "ls_minus_hard_norm", "se": "ls_minus_hard_norm_se"})
                        .drop(columns="n"), on=keys, how="left")
    means = runs.groupby([*keys, "method"])[["weight_norm", "logit_gap"]].mean().unstack("method")
    table = table.merge((means.weight_norm.l2 / means.weight_norm.ls - 1).rename("norm_gap").reset_index(), on=keys,
                        how="left")
    table = table.merge((rules.C8_RTOL["logit_gap"] * means.logit_gap.ls.abs()).rename("logit_gap_margin")
                        .reset_index(), on=keys)
    cols = ["nll_diff", "nll_se", "ece_diff", "ece_se", "logit_gap_diff", "logit_gap_se", "logit_gap_margin",
            "null_nll_diff", "null_nll_se", "null_ece_diff", "null_ece_se", "null_logit_gap_diff",
            "null_logit_gap_se", "norm_gap"]
    table["verdict"] = [rules.c8_cell(*v) for v in table[cols].to_numpy()]
    for m in MEASURES:
        margin = table.logit_gap_margin if m == "logit_gap" else rules.C8_TOL[f"test_{m}"]
        table[f"{m}_call"] = [rules.c8_status(d, s, g) for d, s, g in
                              zip(table[f"{m}_diff"], table[f"{m}_se"], np.broadcast_to(margin, len(table)))]
        table[f"null_{m}_call"] = [rules.c8_status(d, s, g) for d, s, g in
                                   zip(table[f"null_{m}_diff"], table[f"null_{m}_se"],
                                       np.broadcast_to(margin, len(table)))]
    return table


def numbers_of(table, panels, cfg):
    """The numbers C8's map rule judges, recomputed from the cell table."""
    matched = table["lambda"].notna() & (table.norm_gap.abs() <= rules.C8_NORM_MATCH)
    null_agrees = (table[[f"null_{m}_call" for m in MEASURES]] == "agree").all(axis=1)
    return [Number("a", A, "", "LS's smoothing in every cell (C7's)"),
            Number("seeds", cfg["seeds"], "", "seeds per cell and method (C11's map)"),
            *maps.verdict_numbers(table, "verdict", panels, "L2 at LS's norm agrees with LS on NLL, ECE and logit gap "
                                  "(rules.c8_cell)", "L2 at LS's norm differs from LS on one of them"),
            Number("unmatched_cells", int((~matched).sum()), "regimes",
                   f"no strength reached LS's norm within {rules.C8_NORM_MATCH:g} (relative)"),
            Number("null_agrees_cells", int(null_agrees.sum()), "regimes",
                   "hard targets without a penalty agree with LS on all three measures"),
            *[Number(f"differ_{m}_cells", int((table[f"{m}_call"] == "differ").sum()), "regimes",
                     f"L2 differs from LS on {MEASURES[m]} (2-SE interval beyond the margin)") for m in MEASURES],
            *[Number(name, int(((table[f"{m}_call"] == "differ") & (sign * table[f"{m}_diff"] > 0)).sum()), "regimes",
                     f"of those, where L2's {MEASURES[m]} is the {word}") for name, m, sign, word in
              (("l2_lower_nll_cells", "nll", -1, "lower"), ("l2_lower_ece_cells", "ece", -1, "lower"),
               ("l2_larger_gap_cells", "logit_gap", 1, "larger"))],
            Number("lambda_at_grid_edge_cells", int(table.lambda_at_edge.sum()), "regimes",
                   f"matched strength outside {LAMBDAS[1]:g} to {LAMBDAS[-2]:g} (interpolated from an end of the "
                   "grid)"),
            Number("norm_gap_max", float(table.norm_gap.abs().max()), "",
                   "largest |matched L2 nets' mean norm / LS nets' - 1|"),
            *maps.base_norm_numbers(table, "ls_minus_hard_norm")]


def map_runs(ctx):
    """The map's runs, one row per cell, method (``hard``, ``ls``, ``l2``) and seed, with
    `regimes.calibration`'s measures; and the per-cell matched strengths, the strength probes'
    runs, the cell keys and C11's settings.

    The strength is found on ``PROBE_SEEDS`` seed(s) (a run's norm varies by about 1% over seeds):
    the grid ``LAMBDAS`` (two decades apart, and 0.1), then ``REFINEMENTS`` times the strength
    interpolated on every strength tried so far; the strength interpolated on all of them is
    trained with every seed."""
    c11 = _c11()
    runs, keys, cfg = c11.map_runs(ctx)
    cells = regimes.cells(cfg["panels"])
    cell_key = lambda c: tuple(getattr(c, k) for k in keys)
    base = runs[runs.smoothing.isin((0.0, A))].assign(method=lambda t: np.where(t.smoothing == 0, "hard", "ls"))
    ls = base[base.method == "ls"]
    probes = regimes.sweep_cells(ctx, "c08_strengths", cells, [{"l2": lam} for lam in LAMBDAS], range(PROBE_SEEDS),
                                 regimes.final_norms, evaluate_key=("weight_norm",))[0].assign(probe=1)
    for probe in range(2, REFINEMENTS + 2):
        lams = matched_strengths(probes, ls, keys)
        reached = [c for c in cells if np.isfinite(lams[cell_key(c)])]
        if reached:
            more = regimes.sweep_cells(ctx, "c08_strengths", reached, lambda c: [{"l2": lams[cell_key(c)]}],
                                       range(PROBE_SEEDS), regimes.final_norms, evaluate_key=("weight_norm",))[0]
            probes = pd.concat([probes, more.assign(probe=probe)], ignore_index=True)
    lams = matched_strengths(probes, ls, keys)
    reached = [c for c in cells if np.isfinite(lams[cell_key(c)])]
    matched = regimes.sweep_cells(ctx, "c08_matched", reached, lambda c: [{"l2": lams[cell_key(c)]}],
                                  range(cfg["seeds"]),
                                  lambda res, ids, split: regimes.calibration(res, ids, split, c11.BINS),
                                  evaluate_key=("calibration", c11.BINS, "logit_gap", "weight_norm"))[0] \
        if reached else pd.DataFrame(columns=[*keys, "seed"])
    runs = pd.concat([base.drop(columns="smoothing"), matched.assign(method="l2")], ignore_index=True)
    return runs, lams, probes, keys, cfg


def run(ctx):
    runs, lams, probes, keys, cfg = map_runs(ctx)
    panels = cfg["panels"]
    table = cell_table(runs, keys, lams)
    numbers = numbers_of(table, panels, cfg)
    verdict, reason = rules.reapply("rule_c8_map", numbers)
    fig = maps.draw(table, panels, "nll_diff", "nll_se", "verdict",
                    f"C8: L2 at the strength giving LS's final weight norm, minus LS at a = {A:g}: test NLL (colour; "
                    "blue: lower with L2), ECE and logit gap\na cell fails when L2 differs from LS on any of them "
                    f"beyond its margin ({rules.C8_TOL['test_nll']:g} nats, {rules.C8_TOL['test_ece']:g} ECE, "
                    f"{100 * rules.C8_RTOL['logit_gap']:g}% of LS's gap; 2 SE),\nholds when it agrees on all three "
                    "where hard targets do not", "NLL difference",
                    also=((" ECE", "ece_diff"), (" gap", "logit_gap_diff")), value_label=" NLL")
    files = save_figure(ctx, fig, "c08_regimes", {"cells": table, "runs": runs, "strengths": probes},
                        {"map": "C11's (analysis/c11_regimes.py: the same cells, seeds and hard / LS runs)",
                         "a": A, "penalty": "l2 (hard targets)", "strength_grid": list(LAMBDAS),
                         "matching": f"compare.match_strength: log-log interpolation of the final weight norm "
                                     f"(seeds < {PROBE_SEEDS}, against LS's on the same seeds) over the strength grid, "
                                     f"probed {REFINEMENTS} more times at the strength interpolated on all tried, then "
                                     "trained with every seed at the strength interpolated on all of them",
                         "seeds": cfg["seeds"], "norm_match": rules.C8_NORM_MATCH,
                         "margins": {"nll": rules.C8_TOL["test_nll"], "ece": rules.C8_TOL["test_ece"],
                                     "logit_gap": f"{rules.C8_RTOL['logit_gap']:g} of LS's mean",
                                     "se_factor": rules.SE_FACTOR}})
    return [ClaimResult("C8", "L2 against LS at matched weight norm: a map over width, training length, data size, "
                        "optimizer, depth and data", STATEMENT, verdict, reason, numbers,
                        [f for f in files if f.endswith(".png")], "rule_c8_map")]


if __name__ == "__main__":
    script_main(run, CLAIMS)
