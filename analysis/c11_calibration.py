"""C11: calibration of hard targets, LS, L2 and hard targets with temperature scaling, on
digits and Iris, over seeds (ECE with 15 equal-width bins; Müller, Kornblith & Hinton 2019
report LS lowering ECE; Guo et al. 2017 temperature scaling).

Held-out rows: 20 % of the training rows are kept out of training as validation rows. On them
every knob is fitted by the same criterion, the NLL: the temperature (per net; Guo et al. 2017),
and LS's ``a`` and L2's ``lambda`` (lowest seed-mean validation NLL on the sweep's grid).
Every ECE shown is on the test rows. Iris is measured on 10 splits (its study's ``splits``), each
a full repeat of the protocol (a, lambda and temperatures fitted on that split's 24 validation
rows, ECE on its 30 test rows); the numbers pool every split's runs.

Figure c11_calibration: per data set, reliability diagrams (test rows of all seeds pooled),
test ECE per method over seeds, and test ECE against ``a``. The C11 result also carries the
template-projection tightness of figure c11_geometry (drawn by analysis/c11_geometry.py).
"""
import warnings

import numpy as np
import pandas as pd
from scipy.special import softmax

from gradlab import compare, knobs, metrics
from gradlab.report import Number, Supporting, save_figure, script_main, style

CLAIMS = ("C11",)
DATASETS = ("digits", "iris")
BINS = 15
MIN_BIN_ROWS = 20  # reliability points from fewer pooled rows are noise; they still count in the ECE
METHODS = {"hard": "hard targets", "ls": "LS", "l2": "L2", "ts": "hard + temperature scaling"}
COLORS = {"hard": style.COLORS["hard"], "ls": style.COLORS["ls"], "l2": style.COLORS["l2"], "ts": style.COLORS["temp"]}


def evaluate(res, final, data):
    """Per run of hard targets, LS and L2: validation and test ECE, test NLL, the temperature
    fitted on the validation rows and the test ECE after it; and test probabilities by run."""
    rows = final[(final.l1 == 0) & (final.weight_decay == 0) & ((final.smoothing == 0) | (final.l2 == 0))]
    Zv = knobs.run_logits(res, data.X_val, rows.run)
    Zt = knobs.run_logits(res, data.X_test, rows.run)
    table, probs = [], {}
    for (_, r), zv, zt in zip(rows.iterrows(), Zv, Zt):
        with warnings.catch_warnings():  # a temperature at its bound is recorded in the table (T_at_bound)
            warnings.filterwarnings("ignore", message="fit_temperature", category=RuntimeWarning)
            cal = compare.calibration(zv, data.y_val, zt, data.y_test, BINS)
        pv = softmax(zv, axis=1)
        table.append({"run": r.run, "seed": r.seed, "smoothing": r.smoothing, "l2": r.l2,
                      "val_nll": metrics.nll(pv, data.y_val), "val_ece": metrics.ece(pv, data.y_val, BINS), **cal,
                      "T_at_bound": cal["T"] in (metrics.T_MIN, metrics.T_MAX)})
        probs[r.run] = (softmax(zt, axis=1), softmax(zt / cal["T"], axis=1))
    return pd.DataFrame(table), probs


def choose(table):
    """The methods' runs: a and lambda with the lowest seed-mean validation NLL (> 0 each)."""
    ls = table[(table.smoothing > 0)].groupby("smoothing").val_nll.mean()
    l2 = table[(table.l2 > 0)].groupby("l2").val_nll.mean()
    a, lam = float(ls.idxmin()), float(l2.idxmin())
    hard = table[(table.smoothing == 0) & (table.l2 == 0)]
    return a, lam, {"hard": hard, "ls": table[table.smoothing == a], "l2": table[table.l2 == lam], "ts": hard}


def per_method(chosen, probs, y_test):
    """Per method: test ECE per seed, and all seeds' test probabilities and labels pooled."""
    ece, pooled = {}, {}
    for m, rows in chosen.items():
        ece[m] = rows["ece_ts" if m == "ts" else "ece"].to_numpy()
        P = np.concatenate([probs[k][1 if m == "ts" else 0] for k in rows.run])
        pooled[m] = (P, np.tile(y_test, len(rows)))
    return ece, pooled


def measure(ctx, name):
    """Every split of data set ``name``: runs table (with a split column), per method the test
    ECE of every run and the reliability table of every test row pooled, and the a, lambda and
    temperatures chosen on each split's validation rows."""
    s = knobs.settings(name, ctx.quick)
    tables, ece, pooled, a, lam, T, ls_higher, diffs = [], {}, {}, [], [], [], 0, []
    for k in range(s["splits"]):
        res, data, s = knobs.knob_sweep(ctx, name, k)
        table, probs = evaluate(res, res.final, data)
        a_k, lam_k, chosen = choose(table)
        e, p = per_method(chosen, probs, data.y_test)
        tables.append(table.assign(split=k, a_chosen=a_k, lambda_chosen=lam_k))
        for m in e:
            ece.setdefault(m, []).append(e[m])
            pooled.setdefault(m, []).append(p[m])
        a.append(a_k)
        lam.append(lam_k)
        T.append(chosen["ts"]["T"].to_numpy())
        ls_higher += bool(e["ls"].mean() > e["hard"].mean())
        diffs.append(chosen["ls"].set_index("seed").ece - chosen["hard"].set_index("seed").ece)  # same seed
    rel = {m: metrics.reliability(np.concatenate([P for P, _ in v]), np.concatenate([y for _, y in v]), BINS)
           for m, v in pooled.items()}
    # LS minus hard, paired by seed and split; its standard error over the independent units: the splits
    # (seeds of one split share its test rows), or the seeds when there is one split
    units = np.array([d.mean() for d in diffs]) if len(diffs) > 1 else diffs[0].to_numpy()
    paired = (float(np.concatenate(diffs).mean()), float(units.std(ddof=1) / np.sqrt(units.size)))
    return dict(table=pd.concat(tables, ignore_index=True), ece={m: np.concatenate(v) for m, v in ece.items()},
                rel=rel, a=a, lam=lam, T=np.concatenate(T), ls_higher=ls_higher, paired=paired, settings=s)


def chosen_text(values):
    """The knob values chosen on the splits: '0.1' for one split, else '0.1 (6 of 10 splits), 0.03 (4)'."""
    if len(values) == 1:
        return values[0]
    counts = pd.Series(values).value_counts()
    return ", ".join(f"{v:g} ({c}{f' of {len(values)} splits' if i == 0 else ''})" for i, (v, c) in
                     enumerate(counts.items()))


def plot(results):
    fig, axes = style.subplots(len(DATASETS), 3)
    for row, name in enumerate(DATASETS):
        r = results[name]
        ax = axes[row, 0]
        ax.plot([0, 1], [0, 1], color=style.COLORS["reference"], lw=1, ls=":", label="perfect calibration")
        for m, rel in r["rel"].items():
            ok = rel["count"] >= MIN_BIN_ROWS
            ax.plot(rel.confidence[ok], rel.accuracy[ok], "o-", ms=3, color=COLORS[m], label=r["labels"][m])
        ax.set_xlabel("mean top-class confidence in bin")
        ax.set_ylabel("accuracy in bin")
        runs = "all seeds" + (f" and {r['splits']} splits" if r["splits"] > 1 else "")
        ax.set_title(f"{r['title']}: reliability (test rows of {runs};\nbins with >= {MIN_BIN_ROWS} rows)",
                     fontsize=9)
        ax.legend(loc="upper left", fontsize=7)
        ax = axes[row, 1]
        for i, (m, e) in enumerate(r["ece"].items()):
            ax.plot(np.full(e.size, i) + np.linspace(-0.15, 0.15, e.size), e, ".", color=COLORS[m], alpha=0.6)
            ax.errorbar(i + 0.3, e.mean(), e.std(ddof=1), fmt="s", color=COLORS[m], capsize=3)
        ax.set_xticks(range(len(r["ece"])), [r["labels"][m].replace(" (", "\n(") for m in r["ece"]], fontsize=7)
        ax.set_ylabel(f"test ECE ({BINS} bins)")
        ax.set_title(f"{r['title']}: ECE per {'run' if r['splits'] > 1 else 'seed'} (mean +- SD)")
        ax = axes[row, 2]
        curve = r["table"][(r["table"].smoothing > 0)].groupby("smoothing").ece
        m, sd = curve.mean(), curve.std()
        style.band(ax, m.index, m, m - sd, m + sd, COLORS["ls"], "LS, test ECE")
        for key, ls_ in (("hard", "--"), ("ts", "-.")):
            ax.axhline(r["ece"][key].mean(), color=COLORS[key], ls=ls_, lw=1.2, label=METHODS[key])
        a, n = pd.Series(r["a"]).value_counts().index[0], pd.Series(r["a"]).value_counts().iloc[0]
        ax.axvline(a, color=COLORS["ls"], lw=0.8, ls=":", label=f"a chosen by validation NLL ({a:g}" + (
            f", {n} of {r['splits']} splits)" if r["splits"] > 1 else ")"))
        ax.set_xscale("log")
        ax.set_xlabel("LS a")
        ax.set_ylabel(f"test ECE ({BINS} bins)")
        ax.set_title(f"{r['title']}: ECE against a")
        ax.legend(loc="upper left", fontsize=7)
    fig.suptitle("C11: calibration on the test rows; a, lambda and the temperature fitted by NLL on held-out "
                 "validation rows")
    return fig


def run(ctx):
    results, numbers, frames, settings = {}, [], {}, {}
    for name in DATASETS:
        r = measure(ctx, name)
        s, ece, table, splits = r["settings"], r["ece"], r["table"], len(r["a"])
        one = splits == 1
        labels = {"hard": "hard targets", "ls": f"LS (a = {r['a'][0]:g})" if one else "LS (a per split)",
                  "l2": f"L2 (lambda = {r['lam'][0]:g})" if one else "L2 (lambda per split)",
                  "ts": "hard + temp. scaling"}
        results[name] = dict(r, labels=labels, splits=splits, title="Iris" if name == "iris" else "digits")
        settings[name] = s
        _, pooled, _ = compare.spread_comparison(ece["hard"], ece["ls"])
        runs = f"{s['seeds']} seeds" if one else f"{s['seeds']} seeds x {splits} splits"
        over = "seeds" if one else "seeds and splits"
        numbers += [Number(f"ece_{m}_{name}", float(e.mean()), "", f"{METHODS[m]}, mean test ECE over {runs}")
                    for m, e in ece.items()]
        numbers += [Number(f"ece_seed_sd_{name}", pooled, "", f"pooled SD over {over} of hard-target and LS ECE"),
                    Number(f"ece_ls_a_0.1_{name}", float(table[table.smoothing == 0.1].ece.mean()), "",
                           "LS at the customary a = 0.1, mean test ECE"),
                    Number(f"a_chosen_{name}", chosen_text(r["a"]), "",
                           "lowest mean validation NLL" + ("" if one else ", per split")),
                    Number(f"lambda_chosen_{name}", chosen_text(r["lam"]), "",
                           "lowest mean validation NLL" + ("" if one else ", per split")),
                    Number(f"temperature_median_{name}", float(np.median(r["T"])), "",
                           "fitted on validation rows; > 1 means the hard-target net was overconfident"),
                    Number(f"temperature_at_bound_share_{name}", float(np.isin(r["T"], (metrics.T_MIN, metrics.T_MAX)).mean()),
                           "", "hard-target nets whose validation NLL has no minimum in T (every validation row "
                               "right: T goes to its bound 0.001, i.e. one-hot outputs)"),
                    Number(f"ece_ls_minus_hard_{name}", r["paired"][0], "", "test ECE, LS minus hard targets, paired "
                           "by seed" + ("" if one else " and split")),
                    Number(f"ece_ls_minus_hard_se_{name}", r["paired"][1], "", "its standard error over "
                           + ("seeds" if one else "splits (their seeds share the test rows)"))]
        if not one:
            numbers.append(Number(f"splits_ls_ece_above_hard_{name}", r["ls_higher"], "splits",
                                  f"of {splits}: splits whose seed-mean test ECE is higher with LS than with hard targets"))
        frames[f"{name}_runs"] = table.assign(data=name)
        frames[f"{name}_reliability"] = pd.concat([r["rel"][m].assign(method=m) for m in r["rel"]])
    geo, _ = knobs.geometry(ctx)
    for m, g in geo.groupby("method"):
        numbers.append(Number(f"tightness_{m}", float(g.tightness.mean()), "",
                              f"c11_geometry: within-class RMS spread / RMS spread of class means, mean of {len(g)} seeds"))
    files = save_figure(ctx, plot(results), "c11_calibration", frames,
                        {**settings, "bins": BINS, "held_out": "validation rows = 20 % of the training rows (split k: "
                         "test rows drawn with seed k, validation rows with seed k + 1), never trained on; temperature, a "
                         "and lambda fitted there by NLL, per split; ECE on the test rows",
                         "min_bin_rows_drawn": MIN_BIN_ROWS})
    return [Supporting("C11", "One regime in detail, the knob sweeps shared with C8 and C9 (digits 64-32-10 tanh, "
                       "online SGD, 60 epochs; Iris 4-7-3, 500 epochs over 10 splits): reliability diagrams, test ECE "
                       "per method and against a, with temperature scaling and L2; and the last hidden layer's class "
                       "clusters (c11_geometry).", [f for f in files if f.endswith(".png")] + ["c11_geometry.png"],
                       numbers)]

if __name__ == "__main__":
    script_main(run, CLAIMS)
