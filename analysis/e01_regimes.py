"""E1's verdict from a regime map: can a target learned from a trained net stand in for LS at
its chosen a, and where?

The map is C11's (the same cells and seeds, the protocol of `gradlab.regimes`: ReLU nets,
batch 32): LS at the a chosen on validation NLL in each cell is C11's runs, read from the cache.
Each cell adds teachers (hard targets, seeds ``TEACHER_SEED`` on, as in E1) and two students per
seed, the student of seed s learning from the teacher of seed ``TEACHER_SEED + s`` on the cell's
training rows: the teacher's class-mean output distribution as the target (distillation, ``cm``),
and hard targets with the teacher's class-mean last-hidden-layer pattern as a second target at
weight ``HIDDEN_WEIGHT`` (the reader's idea, ``hp``; the weight E1 chose on held-out rows in its
own regime). A student starts from the same weights and row order as the LS run of its seed, so
differences are paired by seed. Per cell and target, test accuracy, NLL and ECE of the student
minus LS, each called by `paired_call` with E1's margins, against the null control, hard targets
minus LS (C11's runs; `rules.e1_cell`).

Left out of the map, and why: E1's second half (the weights stop growing as with LS) is C7's
map's question, measured there per layer and decade; a second choice of the hidden weight per
cell would double the students, and E1's own held-out choice was 0.3 on all three measures.
"""
from pathlib import Path

import numpy as np
import pandas as pd

from gradlab import knobs, learned, regimes
from gradlab.report import ClaimResult, Number, maps, rules, save_figure, script_main
from gradlab.report.runner import load_script
from gradlab.students import cached_train_all

CLAIMS = ("E1",)
TEACHER_SEED = 1000
HIDDEN_WEIGHT = 0.3
TARGETS = {"cm": "class-mean output targets", "hp": "hidden-pattern targets", "hard": "hard targets (the null)"}
MEASURES = ("acc", "nll", "ece")
STATEMENT = ("A target learned from a trained net (its mean output distribution per class, or the reader's idea: its "
             "last-hidden-layer pattern per class) can stand in for LS's hand-picked a: students trained on it match "
             "or beat LS at its chosen a on test accuracy, NLL and ECE.")


def _c11():
    return load_script(Path(__file__).with_name("c11_regimes.py"))


def learned_targets(res, runs, split):
    """`evaluate` for `regimes.sweep_cells` on the teachers: per run, the class-mean output
    distribution (K, K) and last-hidden-layer pattern (K, units) on the rows it trained on."""
    out = []
    for k in runs:
        net = res.run(int(k)).net
        out.append({"cm_targets": learned.class_mean_targets(net, split.X_fit, split.y_fit),
                    "hp_targets": learned.class_patterns(net, split.X_fit, split.y_fit)})
    return out


def students(ctx, cells, teachers, seeds, bins):
    """The students of every cell, one row per cell, target (``cm``, ``hp``) and seed, with
    `regimes.net_calibration`'s measures; trained in one cached call per data set and training-set
    size (`students.cached_train_all`)."""
    keys = list(regimes.AXES)
    teacher = teachers.set_index([*keys, "seed"])
    rows = []
    for data, n in dict.fromkeys((c.data, c.train_size) for c in cells):
        split = knobs.split(data)
        X, y = regimes.training_rows(split, n)
        K = int(max(split.y_fit.max(), split.y_test.max())) + 1
        jobs, owners = [], []
        for c in (c for c in cells if (c.data, c.train_size) == (data, n)):
            settings = {k: v[0] for k, v in c.settings(X.shape[1], K).items()}
            net = dict(sizes=settings.pop("sizes"), hidden=settings.pop("hidden"))
            train = dict(settings, record_every=10 ** 9)
            for s in seeds:
                t = teacher.loc[(*(getattr(c, k) for k in keys), TEACHER_SEED + s)]
                jobs += [(dict(net, seed=s), t.cm_targets[y], train),
                         (dict(net, seed=s), y, dict(train, hidden_targets=t.hp_targets, hidden_weight=HIDDEN_WEIGHT))]
                owners += [(c, "cm", s), (c, "hp", s)]
        hists = cached_train_all(ctx, f"e01_map-{data}-{n}", X, jobs)
        for (c, target, s), h in zip(owners, hists):
            rows.append({**{k: getattr(c, k) for k in keys}, "method": target, "seed": s,
                         "diverged": bool(h.diverged), **regimes.net_calibration(h.net, split, bins)})
    return pd.DataFrame(rows)


def cell_table(runs, chosen, keys):
    """Per cell: LS's chosen a, per target and measure the paired difference student minus LS at
    that a with its standard error and its call (`rules.e1_cell`'s words), and the cell's verdict.
    ``runs``: one row per cell, method (``ls`` at the chosen a, ``cm``, ``hp``, ``hard``) and seed."""
    table = chosen.copy()
    ls = runs.method == "ls"
    for target in TARGETS:
        for m in MEASURES:
            d = regimes.paired(runs, keys, runs.method == target, ls, m)
            table = table.merge(d.rename(columns={"diff": f"{target}_{m}_diff", "se": f"{target}_{m}_se"})
                                .drop(columns="n"), on=keys, how="left")
            table[f"{target}_{m}_call"] = [rules.e1_measure_call(d, s, m) for d, s in
                                           table[[f"{target}_{m}_diff", f"{target}_{m}_se"]].to_numpy()]
    cols = [f"{t}_{m}_{v}" for t in TARGETS for m in MEASURES for v in ("diff", "se")]
    table["verdict"] = [rules.e1_cell(*v) for v in table[cols].to_numpy()]
    return table


def numbers_of(table, panels, cfg):
    """The numbers E1's map rule judges, recomputed from the cell table."""
    stands = {t: ((table[[f"{t}_{m}_call" for m in MEASURES]].isin(rules.E1_SHOWN)).all(axis=1)) for t in TARGETS}
    behind = {t: ((table[[f"{t}_{m}_call" for m in MEASURES]] == "falls behind").any(axis=1)) for t in TARGETS}
    nums = [Number("seeds", cfg["seeds"], "", "seeds per cell (C11's map), each student paired with LS's run"),
            Number("ls_a_low_edge_cells", int((table.a == min(cfg["a"])).sum()), "regimes",
                   f"LS's a chosen at its grid's smallest value, {min(cfg['a']):g}"),
            Number("hidden_weight", HIDDEN_WEIGHT, "", "weight of the hidden-pattern target (E1's choice)"),
            *maps.verdict_numbers(table, "verdict", panels, "a learned target matches or beats LS on accuracy, NLL and "
                                  "ECE where hard targets do not (rules.e1_cell)", "both learned targets fall behind LS on some measure")]
    for t in TARGETS:
        nums += [Number(f"{t}_stands_in_cells", int(stands[t].sum()), "regimes",
                        f"{TARGETS[t]} match or beat LS on all three measures"),
                 Number(f"{t}_behind_cells", int(behind[t].sum()), "regimes",
                        f"{TARGETS[t]} fall behind LS on at least one measure")]
    return nums


def map_runs(ctx):
    """The map's runs (LS at each cell's chosen a, and both students, one row per cell, method
    and seed), the chosen a per cell, the cell keys and C11's settings."""
    c11 = _c11()
    runs, keys, cfg = c11.map_runs(ctx)
    cells = regimes.cells(cfg["panels"])
    chosen = c11.cell_table(runs, keys, cfg["a"])[[*keys, "a"]]
    ls = runs.merge(chosen, on=keys)
    hard = ls[ls.smoothing == 0].drop(columns=["smoothing"]).assign(method="hard")
    ls = ls[ls.smoothing == ls.a].drop(columns=["smoothing"]).assign(method="ls")
    teachers = regimes.sweep_cells(ctx, "e01_teachers", cells, [{"smoothing": 0.0}],
                                   range(TEACHER_SEED, TEACHER_SEED + cfg["seeds"]), learned_targets,
                                   evaluate_key=("learned_targets",))[0]
    taught = students(ctx, cells, teachers, range(cfg["seeds"]), c11.BINS)
    return pd.concat([ls, taught, hard], ignore_index=True), chosen, keys, cfg


def run(ctx):
    runs, chosen, keys, cfg = map_runs(ctx)
    panels = cfg["panels"]
    table = cell_table(runs, chosen, keys)
    numbers = numbers_of(table, panels, cfg)
    verdict, reason = rules.reapply("rule_e1_map", numbers)
    fig = maps.draw(table, panels, "hp_acc_diff", "hp_acc_se", "verdict",
                    "E1: students of a teacher's learned targets minus LS at its validation-chosen a, test accuracy "
                    "(hp: hidden-pattern targets, the colour, red: above LS;\ncm: class-mean outputs). A cell holds when "
                    "either target matches or beats LS on accuracy, NLL and ECE (margins "
                    f"{rules.E1_TOL['acc']:g}, {rules.E1_TOL['nll']:g} nats, {rules.E1_TOL['ece']:g}; 2 SE)\nand hard "
                    "targets do not; it fails when both fall behind on some measure", "hp accuracy difference",
                    also=((" cm", "cm_acc_diff"),), value_label=" hp")
    files = save_figure(ctx, fig, "e01_regimes", {"cells": table, "runs": runs.drop(columns="a", errors="ignore")},
                        {"map": "C11's (analysis/c11_regimes.py: the same cells, seeds and LS runs)",
                         "ls": "a chosen per cell on seed-mean validation NLL (C11's choice)",
                         "teachers": f"hard targets, seeds {TEACHER_SEED} on; student s learns from teacher "
                                     f"{TEACHER_SEED} + s", "hidden_weight": HIDDEN_WEIGHT, "seeds": cfg["seeds"],
                         "margins": {**rules.E1_TOL, "se_factor": rules.SE_FACTOR}})
    return [ClaimResult("E1", "Targets learned from a teacher against LS at its chosen a: a map over width, training "
                        "length, data size, optimizer, depth and data", STATEMENT, verdict, reason, numbers,
                        [f for f in files if f.endswith(".png")], "rule_e1_map")]


if __name__ == "__main__":
    script_main(run, CLAIMS)
