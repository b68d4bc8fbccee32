"""E1: targets learned from a trained net, measured against label smoothing at its best a.

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
from gradlab import learned, metrics
from gradlab.report import ClaimResult, Number, rules, save_figure, script_main, style

CLAIMS = ("E1",)
SIZES, HIDDEN = [64, 5, 10], "relu"
TRAINING = dict(lr=0.05, batch_size=32)
SPLIT_SEED, HELD_OUT_SEED, TEST_SIZE, HELD_OUT = 0, 1, 0.2, 0.2
TEACHER_SEED = 1000  # student seed s learns from the teacher of seed TEACHER_SEED + s
RECORDS = 30  # weight-norm records per run
FULL = dict(seeds=10, epochs=300, a=(0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3), lam=(0.001, 0.01, 0.1))
QUICK = dict(seeds=3, epochs=40, a=(0.05, 0.1, 0.2), lam=(0.01,))
MEASURES = {"acc": ("accuracy", max), "nll": ("NLL (nats)", min), "ece": ("ECE (15 bins)", min)}
COLOR = {"hard": style.COLORS["hard"], "ls": style.COLORS["ls"], "cm": style.COLORS["teacher"], "hp": style.GREEN}
LABEL = {"hard": "hard targets", "ls": "LS", "cm": "class-mean teacher targets", "hp": "hidden-pattern targets"}
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


def scores(net, X, y, prefix):
    probs = gl.forward(net, X)
    return {f"{prefix}_acc": float((probs.argmax(axis=1) == y).mean()), f"{prefix}_nll": metrics.nll(probs, y),
            f"{prefix}_ece": metrics.ece(probs, y)}


def run_row(method, setting, seed, hist, val, test):
    """One student: its scores on the held-out and test rows and its weight norm at the end and halfway."""
    mid = np.interp(hist.step[-1] / 2, hist.step, hist.weight_norm)
    return {"method": method, "setting": setting, "seed": seed, **scores(hist.net, *val, "val"),
            **scores(hist.net, *test, "test"), "weight_norm": hist.weight_norm[-1], "weight_norm_mid": mid,
            "late_growth": hist.weight_norm[-1] / mid - 1, "diverged": hist.diverged}


def norm_rows(method, setting, seed, hist):
    return pd.DataFrame({"method": method, "setting": setting, "seed": seed, "step": hist.step,
                         "weight_norm": hist.weight_norm})


def ls_sweep(ctx, cfg, fit, val, record_every):
    """Hard targets (a = 0), LS at every a and the teachers, through gl.sweep (cached under ctx.runs)."""
    common = dict(sizes=[SIZES], hidden=[HIDDEN], lr=[TRAINING["lr"]], batch_size=[TRAINING["batch_size"]],
                  epochs=[cfg["epochs"]])
    grid = (gl.Grid(smoothing=[0.0, *cfg["a"]], seed=range(cfg["seeds"]), **common)
            + gl.Grid(smoothing=[0.0], seed=range(TEACHER_SEED, TEACHER_SEED + cfg["seeds"]), **common))
    out = ctx.runs / f"e01_{hashlib.sha256(grid.to_json().encode()).hexdigest()[:10]}"
    if ctx.fresh and out.exists():
        shutil.rmtree(out)
    res = gl.sweep(grid, data=(*fit, *val), record_every=record_every, out=out, progress=ctx.progress)
    return res, {(s["smoothing"], s["seed"]): k for k, s in enumerate(res.settings)}


def students(ctx, cfg, parts):
    """Every student's row (runs table), weight-norm histories, and the seed-0 teacher."""
    fit, val, test = parts
    steps = cfg["epochs"] * -(-fit[0].shape[0] // TRAINING["batch_size"])
    record_every = max(1, steps // RECORDS)
    train_kw = dict(**TRAINING, epochs=cfg["epochs"], record_every=record_every)
    res, index = ls_sweep(ctx, cfg, fit, val, record_every)
    rows, norms = [], []
    hp = hidden_targets_available()
    for s in range(cfg["seeds"]):
        for a in (0.0, *cfg["a"]):
            hist = res.run(index[a, s])
            method = "hard" if a == 0 else "ls"
            rows.append(run_row(method, a, s, hist, val, test))
            norms.append(norm_rows(method, a, s, hist))
        teacher = res.run(index[0.0, TEACHER_SEED + s]).net
        student = gl.MLP(SIZES, hidden=HIDDEN, seed=s)
        P = learned.class_mean_targets(teacher, *fit)
        hist = gl.train(student, fit[0], P[fit[1]], **train_kw)
        rows.append(run_row("cm", np.nan, s, hist, val, test))
        norms.append(norm_rows("cm", np.nan, s, hist))
        if hp:
            H = learned.class_patterns(teacher, *fit)
            for lam in cfg["lam"]:
                hist = gl.train(student, *fit, hidden_targets=H, hidden_weight=lam, **train_kw)
                rows.append(run_row("hp", lam, s, hist, val, test))
                norms.append(norm_rows("hp", lam, s, hist))
    return pd.DataFrame(rows), pd.concat(norms, ignore_index=True), res.run(index[0.0, TEACHER_SEED]).net, train_kw


def best_settings(runs, method):
    """Per measure, the setting (a or lam) whose mean over seeds is best on the held-out rows."""
    means = runs[runs.method == method].groupby("setting")[[f"val_{m}" for m in MEASURES]].mean()
    return {m: float(getattr(means[f"val_{m}"], "idxmax" if pick is max else "idxmin")()) for m, (_, pick) in
            MEASURES.items()}


def seed_values(runs, method, setting, column):
    """One value per seed (sorted by seed) of one method at one setting."""
    part = runs[(runs.method == method) & (runs.setting.isna() if setting is None else runs.setting == setting)]
    return part.sort_values("seed")[column].to_numpy()


def paired(x, y):
    """Mean and standard error over seeds of x - y (same seeds, same order)."""
    d = x - y
    return float(d.mean()), float(d.std(ddof=1) / np.sqrt(d.size)) if d.size > 1 else float("nan")


def compare(runs, n_seeds):
    """The numbers the rule judges (and the table shows)."""
    best = {"ls": best_settings(runs, "ls")}
    learned_methods = ["cm"] + (["hp"] if (runs.method == "hp").any() else [])
    if "hp" in learned_methods:
        best["hp"] = best_settings(runs, "hp")
    nums = [Number("n_seeds", n_seeds)]
    nums += [Number(f"ls_best_a_{m}", best["ls"][m], "", f"a with the best mean held-out {MEASURES[m][0]}")
             for m in MEASURES]
    if "hp" in best:
        nums += [Number(f"hp_best_lam_{m}", best["hp"][m], "", "hidden_weight chosen on held-out rows") for m in MEASURES]
    setting = {"hard": lambda m: 0.0, "ls": lambda m: best["ls"][m], "cm": lambda m: None,
               "hp": lambda m: best.get("hp", {}).get(m)}
    for m, (label, _) in MEASURES.items():
        for method in ["hard", "ls", *learned_methods]:
            values = seed_values(runs, method, setting[method](m), f"test_{m}")
            note = "LS at the a chosen for this measure" if method == "ls" else LABEL[method]
            nums.append(Number(f"{method}_test_{m}", float(values.mean()), "", f"{note}, mean over seeds"))
        ls = seed_values(runs, "ls", best["ls"][m], f"test_{m}")
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


def band_of(frame, by, column):
    g = frame.groupby(by)[column]
    return g.mean(), g.std(ddof=1)


def student_figure(ctx, runs, norms, best, settings):
    fig, axes = style.subplots(2, 2)
    n = runs.seed.nunique()
    curve = runs[runs.method.isin(["hard", "ls"])]
    for ax, (m, (label, _)) in zip(axes.flat, MEASURES.items()):
        mu, sd = band_of(curve, "setting", f"test_{m}")
        line = style.band(ax, mu.index, mu, mu - sd, mu + sd, COLOR["ls"], label="LS at a (a = 0: hard targets)")
        line.set(marker="o", markersize=2.5)
        ax.plot(0, mu.loc[0.0], "o", color=COLOR["hard"], label=LABEL["hard"], zorder=3)
        a = best["ls"][m]
        ax.plot(a, mu.loc[a], "*", ms=11, color=COLOR["ls"], mec="black", label="a chosen on held-out rows", zorder=3)
        for method in ("cm", "hp"):
            part = runs[runs.method == method]
            if method == "hp" and part.empty:
                continue
            if method == "hp":
                part = part[part.setting == best["hp"][m]]
            v = part[f"test_{m}"]
            ax.axhspan(v.mean() - v.std(ddof=1), v.mean() + v.std(ddof=1), color=COLOR[method], alpha=0.2, lw=0)
            ax.axhline(v.mean(), color=COLOR[method], ls="--",
                       label=LABEL[method] + (" (lam chosen on held-out rows)" if method == "hp" else ""))
        ax.set(xlabel="smoothing a", ylabel=f"test {label}", title=f"{label} on the test rows")
    ax = axes[1, 1]
    shown = {"hard": 0.0, "ls": best["ls"]["acc"], "cm": None}
    if "hp" in best:
        shown["hp"] = best["hp"]["acc"]
    for method, setting in shown.items():
        part = norms[(norms.method == method) & (norms.setting.isna() if setting is None else norms.setting == setting)]
        mu, sd = band_of(part, "step", "weight_norm")
        suffix = f" ({'a' if method == 'ls' else 'lam'} = {setting:g})" if method in ("ls", "hp") else ""
        style.band(ax, mu.index, mu, mu - sd, mu + sd, COLOR[method], label=LABEL[method] + suffix)
    ax.set(xlabel="SGD step (batch 32)", ylabel="||W||_2 (all weights)", title="weight norm during training")
    ax.legend(loc="upper left")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=len(labels) if len(labels) <= 4 else 3)
    fig.suptitle(f"digits, 64-5-10 ReLU students: mean ± 1 s.d. over {n} seeds", fontsize=10)
    data = {"runs": runs, "norms": norms}
    return save_figure(ctx, fig, "e01_students", data, settings)


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
    figures += student_figure(ctx, runs, norms, best, settings)
    numbers += [Number("teacher_true_class_target", float(np.diag(learned.class_mean_targets(teacher, *parts[0])).mean()),
                       "", "class-mean target of the true class, mean over classes (teacher of seed 0)"),
                Number("ablation_knockouts", int(knocked.sum()), "", "(unit, class) pairs where zeroing the unit "
                       "lowers the class's test accuracy by 50 points or more (teacher of seed 0)"),
                Number("hidden_targets_measured", hidden_targets_available())]
    verdict, reason = rules.reapply("rule_e1", numbers)
    return [ClaimResult(claim="E1", title="targets learned from a trained net, against LS at its best a",
                        statement=STATEMENT, verdict=verdict, reason=reason, numbers=numbers,
                        figures=[f for f in figures if f.endswith(".png")], rule="rule_e1")]


if __name__ == "__main__":
    script_main(run, CLAIMS)
