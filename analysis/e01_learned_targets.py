"""E1 in its own regime in detail (the verdict comes from the map, `e01_regimes.py`): targets
learned from a trained net, measured against label smoothing at its best a.

Digits (standardised on the training rows; 20% of them held out to choose LS's a), 64-5-10 ReLU
nets, SGD with batch 32. A teacher trained with hard targets gives the reader's two tables
(figure e01_patterns: which hidden units are on for each class, and which classes fail when a
unit is zeroed) and the class-mean targets ``P[c]`` = its mean output distribution over the
training rows of class c. Students of the same shape are trained with hard targets, LS at every
a of a grid, ``P[y]``, and (when gl.train accepts ``hidden_targets``) the teacher's class-mean
hidden pattern at a few weights lam; figure e01_students compares them on the test rows.
"""
import hashlib
import inspect
import shutil

import numpy as np
import pandas as pd

import gradlab as gl
from gradlab import learned
from gradlab.students import cached_train_all, compare, norm_rows, run_row, student_figure
from gradlab.report import Number, Supporting, save_figure, script_main, style

CLAIMS = ("E1",)
SIZES, HIDDEN = [64, 5, 10], "relu"
TRAINING = dict(lr=0.05, batch_size=32)
SPLIT_SEED, HELD_OUT_SEED, TEST_SIZE, HELD_OUT = 0, 1, 0.2, 0.2
TEACHER_SEED = 1000  # student seed s learns from the teacher of seed TEACHER_SEED + s
RECORDS = 30  # weight-norm records per run
# Grids: a from 0.003 and lam to 3, each a step or two beyond where the first grids' choice sat at an end
# (a 0.01 for ECE; lam 0.1 for all three measures): the rule flags any choice still at an end.
FULL = dict(seeds=10, epochs=300, a=(0.003, 0.005, 0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3),
            lam=(0.001, 0.01, 0.1, 0.3, 1.0, 3.0))
QUICK = dict(seeds=3, epochs=40, a=(0.05, 0.1, 0.2), lam=(0.01,))
STATEMENT = ("A target learned from a trained net (its mean output distribution per class, or the reader's idea: its "
             "last-hidden-layer pattern per class) can stand in for LS's hand-picked a: students trained on it match "
             "or beat LS at its best a on test accuracy, NLL and ECE, and their weights stop growing as with LS.")


def hidden_targets_available():
    """True once gl.train takes hidden_targets= and hidden_weight= (the lead's kernel change)."""
    return {"hidden_targets", "hidden_weight"} <= set(inspect.signature(gl.train).parameters)


def digits_parts():
    """(fit, held-out, test) parts of digits, each (X, y); standardised on the training rows."""
    X, y = gl.datasets.digits()
    Xtr, Xte, ytr, yte = gl.datasets.train_test_split(X, y, test_size=TEST_SIZE, seed=SPLIT_SEED)
    Xtr, Xte = gl.datasets.standardize(Xtr, Xte)
    Xfit, Xval, yfit, yval = gl.datasets.train_test_split(Xtr, ytr, test_size=HELD_OUT, seed=HELD_OUT_SEED)
    return (Xfit, yfit), (Xval, yval), (Xte, yte)


def ls_sweep(ctx, cfg, fit, val, record_every):
    """Hard targets (a = 0), LS at every a and the teachers, through gl.sweep (cached under ctx.runs)."""
    common = dict(sizes=[SIZES], hidden=[HIDDEN], lr=[TRAINING["lr"]], batch_size=[TRAINING["batch_size"]],
                  epochs=[cfg["epochs"]])
    grid = (gl.Grid(smoothing=[0.0, *cfg["a"]], seed=range(cfg["seeds"]), **common)
            + gl.Grid(smoothing=[0.0], seed=range(TEACHER_SEED, TEACHER_SEED + cfg["seeds"]), **common))
    out = ctx.runs / f"e01_{hashlib.sha256(grid.to_json().encode()).hexdigest()[:10]}"
    if ctx.fresh and out.exists():
        shutil.rmtree(out)
    res = gl.sweep(grid, data=(*fit, *val), record_every=record_every, out=out, progress=ctx.progress,
                   scheduler=ctx.scheduler)
    return res, {(s["smoothing"], s["seed"]): k for k, s in enumerate(res.settings)}


def students(ctx, cfg, parts):
    """Every student's row (runs table), weight-norm histories, and the seed-0 teacher."""
    fit, val, test = parts
    steps = cfg["epochs"] * -(-fit[0].shape[0] // TRAINING["batch_size"])
    record_every = max(1, steps // RECORDS)
    train_kw = dict(**TRAINING, epochs=cfg["epochs"], record_every=record_every)
    res, index = ls_sweep(ctx, cfg, fit, val, record_every)
    hp = hidden_targets_available()
    jobs, learned_keys = [], []  # the students of learned targets, trained (or loaded) in one cached call
    for s in range(cfg["seeds"]):
        teacher = res.run(index[0.0, TEACHER_SEED + s]).net
        student = dict(sizes=SIZES, hidden=HIDDEN, seed=s)
        jobs.append((student, learned.class_mean_targets(teacher, *fit)[fit[1]], train_kw))
        learned_keys.append([("cm", np.nan)])
        if hp:
            H = learned.class_patterns(teacher, *fit)
            jobs += [(student, fit[1], {**train_kw, "hidden_targets": H, "hidden_weight": lam}) for lam in cfg["lam"]]
            learned_keys[-1] += [("hp", lam) for lam in cfg["lam"]]
    hists = iter(cached_train_all(ctx, "e01_students", fit[0], jobs, workers=1))
    rows, norms = [], []
    for s in range(cfg["seeds"]):
        for a in (0.0, *cfg["a"]):
            hist = res.run(index[a, s])
            method = "hard" if a == 0 else "ls"
            rows.append(run_row(method, a, s, hist, val, test))
            norms.append(norm_rows(method, a, s, hist))
        for method, setting in learned_keys[s]:
            hist = next(hists)
            rows.append(run_row(method, setting, s, hist, val, test))
            norms.append(norm_rows(method, setting, s, hist))
    return pd.DataFrame(rows), pd.concat(norms, ignore_index=True), res.run(index[0.0, TEACHER_SEED]).net, train_kw


def heatmap(ax, values, rows, cols, title, xlabel, ylabel, fmt):
    shown = ax.imshow(values, cmap="cividis", vmin=0, vmax=1, aspect="auto")
    for (i, j), v in np.ndenumerate(values):
        ax.text(j, i, format(v, fmt), ha="center", va="center", fontsize=6.5, color="black" if v > 0.55 else "white")
    ax.set_xticks(range(len(cols)), cols)
    ax.set_yticks(range(len(rows)), rows)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(False)
    return shown


def pattern_figure(ctx, teacher, parts, settings):
    (Xfit, yfit), _, (Xte, yte) = parts
    on = learned.class_patterns(teacher, Xfit, yfit, threshold=0.0)
    mean = learned.class_patterns(teacher, Xfit, yfit)
    ablation = learned.ablate_units(teacher, Xte, yte)
    units, classes = [f"h{j}" for j in range(SIZES[1])], [str(c) for c in range(SIZES[-1])]
    fig, axes = style.subplots(1, 2)
    heatmap(axes[0], on, classes, units, "teacher: share of rows with unit active (h > 0)",
            "hidden unit", "class (training rows)", ".2f")
    table = np.vstack([ablation.intact, ablation.accuracy])
    shown = heatmap(axes[1], table, ["none"] + units, classes, "teacher: class accuracy with one unit zeroed",
                    "class (test rows)", "unit zeroed", ".2f")
    axes[1].axhline(0.5, color="white", linewidth=1.5)
    fig.colorbar(shown, ax=axes, shrink=0.85, label="share of rows")
    data = {"patterns": pd.DataFrame([{"class": c, "unit": j, "share_active": on[c, j], "mean_activation": mean[c, j]}
                                      for c in range(on.shape[0]) for j in range(on.shape[1])]),
            "ablation": pd.DataFrame([{"unit_zeroed": j, "class": c, "accuracy": ablation.accuracy[j, c],
                                       "intact_accuracy": ablation.intact[c]}
                                      for j in range(ablation.accuracy.shape[0]) for c in range(on.shape[0])])}
    knocked = ablation.intact[None, :] - ablation.accuracy >= 0.5
    return save_figure(ctx, fig, "e01_patterns", data, settings), knocked


def run(ctx):
    cfg = QUICK if ctx.quick else FULL
    parts = digits_parts()
    runs, norms, teacher, train_kw = students(ctx, cfg, parts)
    settings = {"data": "digits", "split": {"test_size": TEST_SIZE, "split_seed": SPLIT_SEED, "held_out": HELD_OUT,
                                           "held_out_seed": HELD_OUT_SEED, "standardised_on": "training rows"},
                "sizes": SIZES, "hidden": HIDDEN, "output": "softmax", "loss": "ce", **train_kw,
                "seeds": list(range(cfg["seeds"])), "teacher_seeds": list(range(TEACHER_SEED, TEACHER_SEED + cfg["seeds"])),
                "smoothing_grid": list(cfg["a"]), "hidden_weight_grid": list(cfg["lam"]),
                "hidden_targets_measured": hidden_targets_available()}
    numbers, best = compare(runs, cfg["seeds"])
    figures, knocked = pattern_figure(ctx, teacher, parts, {**settings, "teacher_seed": TEACHER_SEED})
    fig = student_figure(runs, norms, best, f"digits, 64-5-10 ReLU students: mean ± 1 s.d. over {cfg['seeds']} seeds",
                         "SGD step (batch 32)")
    figures += save_figure(ctx, fig, "e01_students", {"runs": runs, "norms": norms}, settings)
    numbers += [Number("teacher_true_class_target", float(np.diag(learned.class_mean_targets(teacher, *parts[0])).mean()),
                       "", "class-mean target of the true class, mean over classes (teacher of seed 0)"),
                Number("ablation_knockouts", int(knocked.sum()), "", "(unit, class) pairs where zeroing the unit "
                       "lowers the class's test accuracy by 50 points or more (teacher of seed 0)"),
                Number("hidden_targets_measured", hidden_targets_available())]
    return [Supporting.judged("E1", "E1's own regime in detail (digits 64-5-10 ReLU, SGD lr 0.05, batch 32, 300 "
                              "epochs, 10 seeds; teachers of their own seeds; a and the hidden weight chosen per "
                              "measure on held-out rows): the reader's two tables for one teacher, and the students "
                              "against LS at its best a, with their weight norms over training", "rule_e1", numbers,
                              [f for f in figures if f.endswith(".png")])]

if __name__ == "__main__":
    script_main(run, CLAIMS)
