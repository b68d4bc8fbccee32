"""C9: how sensitive test accuracy and NLL are to LS's ``a`` and to an L2 strength ``lambda``,
on Iris and digits, with seed bands; one sensitivity number per knob, computed the same way
(`gradlab.compare.knob_sensitivity`).

Figure c09_sensitivity: rows Iris and digits; columns accuracy and NLL against ``a``, then
against ``lambda``; the useful range shaded, the counted span (the same number of decades for
both knobs) shaded again, the hard-target level (knob 0) as a grey band.
"""
import numpy as np
import pandas as pd

from gradlab import compare, knobs
from gradlab.report import Number, Supporting, rules, save_figure, script_main, style

CLAIMS = ("C9",)
DATASETS = ("iris", "digits")
KNOBS = {"a": ("smoothing", "LS a", style.COLORS["ls"]), "lambda": ("l2", "L2 lambda", style.COLORS["l2"])}
METRICS = {"test_acc": "test accuracy", "test_nll": "test NLL (nats)"}
TITLES = {"iris": "Iris", "digits": "digits"}


def seed_table(table, column):
    """(values, (values, seeds) array) of one column, knob values > 0 only."""
    wide = table[table.value > 0].pivot(index="value", columns="seed", values=column).sort_index()
    return wide.index.to_numpy(), wide.to_numpy()


def useful_drop(n_test):
    """Accuracy below the best that still counts as useful: C9_USEFUL_ACC_DROP, or one test row
    if that is more (accuracy on a small test set moves in steps of 1 / n_test)."""
    return max(rules.C9_USEFUL_ACC_DROP, 1.0 / n_test)


def measure(final, n_test):
    """Per knob: its sensitivity (NLL and accuracy; per decade, in the metric's unit and in seed
    SDs), useful range and best value, both knobs measured over the same span of decades (the
    smaller of their useful spans) around their best values."""
    drop, tables = useful_drop(n_test), {}
    for key, (knob, _, _) in KNOBS.items():
        t = knobs.knob_table(final, knob)
        v, nll = seed_table(t, "test_nll")
        tables[key] = (v, nll, seed_table(t, "test_acc")[1])
    span = min(compare.useful_span(v, acc, drop) for v, _, acc in tables.values())
    out = {}
    for key, (v, nll, acc) in tables.items():
        out[key] = compare.knob_sensitivity(v, nll, acc, drop, span=span)
        out[key]["sensitivity_acc"] = compare.knob_sensitivity(v, acc, acc, drop, span=span)["sensitivity"]
        out[key]["useful_acc_drop"] = drop
        out[key].update(grid_low=float(v.min()), grid_high=float(v.max()),
                        at_grid_edge=int(out[key]["best"] in (v.min(), v.max())))
    return out


def plot(results, settings):
    fig, axes = style.subplots(len(DATASETS), 4)
    for row, name in enumerate(DATASETS):
        final, sens = results[name]
        for col, (key, metric) in enumerate([(k, m) for k in KNOBS for m in METRICS]):
            ax = axes[row, col]
            knob, label, color = KNOBS[key]
            t = knobs.knob_table(final, knob)
            hard = t[t.value == 0][metric]
            g = t[t.value > 0].groupby("value")[metric]
            m, sd = g.mean(), g.std()
            ax.axhspan(hard.mean() - hard.std(), hard.mean() + hard.std(), color=style.COLORS["hard"], alpha=0.15,
                       lw=0)
            ax.axhline(hard.mean(), color=style.COLORS["hard"], lw=1, ls="--", label="hard targets (knob 0)")
            style.band(ax, m.index, m, m - sd, m + sd, color, f"{label}, mean +- seed SD")
            s = sens[key]
            ax.axvspan(s["useful_low"], s["useful_high"], color=style.COLORS["reference"], alpha=0.12, lw=0,
                       label=f"useful range (acc within {100 * s['useful_acc_drop']:.2g} pts of best)")
            ax.axvspan(s["low"], s["high"], fill=False, hatch="//", ec=style.COLORS["reference"], alpha=0.35, lw=0,
                       label=f"counted: {s['span']:.2g} decades around the best")
            ax.set_xscale("log")
            ax.set_xlabel(label)
            ax.set_ylabel(METRICS[metric])
            if metric == "test_nll":
                ax.set_title(f"{TITLES[name]}: {s['slope']:.2g} nats = {s['sensitivity']:.2g} SD per decade",
                             fontsize=9)
            else:
                ax.set_title(f"{TITLES[name]}: sensitivity {s['sensitivity_acc']:.2g} SD/decade", fontsize=9)
            if row == 0 and col in (1, 3):
                ax.legend(loc="upper left", fontsize=7)
    fig.suptitle("C9: test accuracy and NLL against LS a and L2 lambda (online SGD, lr 0.01); sensitivity: steepest "
                 "change of the seed mean per decade over a common span around the best value")
    return fig


def run(ctx):
    results, settings, frames = {}, {}, []
    for name in DATASETS:
        res, data, s = knobs.knob_sweep(ctx, name)
        final = res.final
        results[name] = (final, measure(final, len(data.y_test)))
        settings[name] = s
        for key, (knob, _, _) in KNOBS.items():
            t = knobs.knob_table(final, knob)
            frames.append(t.assign(data=name, knob=key)[["data", "knob", "value", "seed", "test_acc", "test_nll",
                                                         "test_ece", "weight_norm"]])
    numbers = []
    for name in DATASETS:
        sens = results[name][1]
        for key in KNOBS:
            s = sens[key]
            numbers += [Number(f"sensitivity_{key}_{name}", s["sensitivity"], "seed SDs per decade",
                               "steepest change of mean test NLL between neighbouring counted grid values, over "
                               "the knob's seed SD"),
                        Number(f"slope_{key}_{name}", s["slope"], "nats per decade", "the same in nats"),
                        Number(f"sensitivity_acc_{key}_{name}", s["sensitivity_acc"], "seed SDs per decade",
                               "the same for test accuracy"),
                        Number(f"best_{key}_{name}", s["best"], "", "lowest mean test NLL in the useful range"),
                        Number(f"{key}_at_grid_edge_{name}", s["at_grid_edge"], "",
                               f"1 when the best value is an end of the grid ({s['grid_low']:g} to "
                               f"{s['grid_high']:g})"),
                        Number(f"useful_{key}_{name}", f"{s['useful_low']:g} to {s['useful_high']:g}", "",
                               f"mean test accuracy within {100 * s['useful_acc_drop']:.2g} points of the best"),
                        Number(f"counted_{key}_{name}", f"{s['low']:g} to {s['high']:g}", "",
                               "the useful values within the common span around the best value"),
                        Number(f"nll_seed_sd_{key}_{name}", s["seed_sd"], "nats")]
        numbers.append(Number(f"span_{name}", sens["a"]["span"], "decades",
                              "both knobs measured over this span: the smaller of their useful spans"))
    table = pd.DataFrame([{"data": n, "knob": k, **results[n][1][k]} for n in DATASETS for k in KNOBS])
    fig = plot(results, settings)
    files = save_figure(ctx, fig, "c09_sensitivity", {"runs": pd.concat(frames), "sensitivity": table},
                        {**settings, "useful_acc_drop": f"max({rules.C9_USEFUL_ACC_DROP}, 1 / test rows)",
                         "sensitivity": "max over neighbouring counted values of |delta mean test NLL| / "
                                        "delta log10(knob) (slope, nats per decade), and divided by the RMS seed SD "
                                        "over counted values; counted: the useful values within the smaller of the "
                                        "two knobs' useful spans (decades) around the knob's best value",
                         "split": "test 20 % of rows (seed 0); fit rows 80 % of the rest (seed 1)"})
    return [Supporting.judged("C9", "How sensitive are the results to a, and to an L2 lambda? Two regimes in detail "
                              "(digits 64-32-10 and Iris 4-7-3, tanh, 10 and 20 seeds)", "rule_c9", numbers,
                              [f for f in files if f.endswith(".png")])]


if __name__ == "__main__":
    script_main(run, CLAIMS)
