"""C10: label smoothing with MSE (sigmoid and softmax outputs), measured as C6/C7 measure it with CE.

Runs (gl.sweep, cached under ctx.runs beside c06_weight_growth.py's, whose CE runs serve as the
baseline): the Iris 4-7-3 net (tanh, batch 1, lr 0.1) and a linear model on separable blobs, each
with MSE and sigmoid or softmax outputs, hard targets and LS at two a. With MSE a sample's loss
against t' is also minimised at o = t', a finite logit (sigmoid: logit(t'_k) per node), so LS should
stop the growth where the model is linear, as it does with CE; hard targets (o -> 1) are reached only
at infinite logits.

Figure: c10_mse.
"""
from pathlib import Path

import numpy as np
import pandas as pd

import gradlab as gl
from gradlab import curves, margins
from gradlab.report import Number, Supporting, save_figure, script_main, style
from gradlab.report.runner import load_script

CLAIMS = ("C10",)
SMOOTHING = (0.1, 0.2)
OUTPUTS = ("sigmoid", "softmax")
CE_BASELINE = 0.1  # CE runs with LS at this a (and hard) come from c06_weight_growth's sweeps
LS_STYLES = dict(zip(SMOOTHING, ("--", "-")))
MODELS = {"Iris": "Iris", "separable blobs": "separable blobs"}  # c06 data set names: net 4-7-3 / linear


def _c06():
    return load_script(Path(__file__).with_name("c06_weight_growth.py"))


def measure(ctx):
    c06 = _c06()
    st = c06.settings(ctx)
    ends = [st["steps"] // 10, st["steps"]]
    histories, tables = {}, []
    for name in MODELS:
        data, sizes = {**c06.NETS, **c06.LINEAR}[name]
        X, y = data()
        n = c06.n_train(y)
        base = dict(sizes=[sizes], lr=[c06.LR], batch_size=[1], epochs=[-(-st["steps"] // n)], seed=range(st["seeds"]))
        grid = gl.Grid(loss=["mse"], output=list(OUTPUTS), smoothing=[0.0, *SMOOTHING], **base)
        grid = grid + gl.Grid(smoothing=[0.0, CE_BASELINE], **base)  # the CE baseline (cached by c06)
        history, table, _ = c06.sweep(ctx, name, grid, (X, y))
        columns = [c for c in history.columns if c == "weight_norm" or c.startswith("layer_norm")]
        growth = curves.decade_growth_table(history, columns, ends)
        growth["key"] = "growth_" + growth["column"] + "_" + growth["end"].astype(str)
        table = table.merge(growth.pivot(index="run", columns="key", values="growth").reset_index(), on="run")
        table["setting"] = [f"{'MSE' if r.loss == 'mse' else 'CE'} {r.output}, {r.label}" for r in table.itertuples()]
        histories[name] = history
        tables.append(table)
    return histories, pd.concat(tables, ignore_index=True), ends


def _group(table, dataset, loss, output, kind, value=None):
    sel = (table["dataset"] == dataset) & (table["loss"] == loss) & (table["output"] == output) & (table["kind"] == kind)
    if value is not None:
        sel &= np.isclose(table["value"], value)
    return table[sel]


def figure(ctx, histories, table):
    c06 = _c06()
    st = c06.settings(ctx)
    steps = c06.figure_steps(ctx)
    fig, axes = style.subplots(2, 4)
    parts = []
    for row, output in enumerate(OUTPUTS):
        panels = (("Iris", "layer_norm_0", f"Iris 4-7-3, MSE-{output}: hidden layer W1"),
                  ("Iris", "layer_norm_1", f"Iris 4-7-3, MSE-{output}: output layer W2"),
                  ("separable blobs", "weight_norm", f"Linear model, separable blobs, MSE-{output}"))
        for ax, (name, column, title) in zip(axes[row, :3], panels):
            sub = table[(table["dataset"] == name) & (table["loss"] == "mse") & (table["output"] == output)]
            groups = {int(r.run): r.label for r in sub.itertuples()}
            bands = curves.seed_bands(histories[name], column, steps, groups)
            parts.append(bands.assign(dataset=name, column=column, loss="mse", output=output))
            end = f"growth_{column}_{st['steps']}"
            for lab, color, ls in [("hard targets", style.COLORS["hard"], "-")] + [
                    (c06.label("ls", a), style.COLORS["ls"], LS_STYLES[a]) for a in SMOOTHING]:
                b = bands[bands["group"] == lab]
                g = sub[sub["label"] == lab][end].mean()
                line = style.band(ax, b["step"], b["mean"], b["lo"], b["hi"], color, f"{lab} ({int(round(100 * g)):+d}% last decade)",
                                  alpha=0.15)
                line.set_linestyle(ls)
            ax.set(xscale="log", title=title, ylabel="norm ||W||" if column == "weight_norm" else "layer norm ||W_l||")
            ax.legend(loc="upper left", fontsize=7)
        ax = axes[row, 3]
        order = [("mse", output, "hard targets"), *[("mse", output, c06.label("ls", a)) for a in SMOOTHING],
                 ("ce", "softmax", "hard targets"), ("ce", "softmax", c06.label("ls", CE_BASELINE))]
        iris = table[table["dataset"] == "Iris"]
        stats = [iris[(iris["loss"] == l) & (iris["output"] == o) & (iris["label"] == lab)]["test_acc"] for l, o, lab in order]
        x = np.arange(len(order))
        mean = np.array([s.mean() for s in stats])
        err = c06.spread(mean, [s.min() for s in stats], [s.max() for s in stats])
        for i, (l, o, lab) in enumerate(order):
            ax.errorbar(x[i], mean[i], yerr=[[err[0][i]], [err[1][i]]], fmt="o" if l == "mse" else "s", capsize=3,
                        color=style.COLORS["hard" if lab == "hard targets" else "ls"])
        ax.set_xticks(x, [f"{l.upper()} {'hard' if lab == 'hard targets' else lab.replace('LS ', 'LS, ')}"
                          for l, o, lab in order], rotation=35, ha="right", fontsize=7)
        ax.set(ylabel="Iris test accuracy at the end", title=f"Iris accuracy: MSE-{output} vs CE-softmax", ylim=(0.75, 1.01))
    for ax in axes[1, :3]:
        ax.set(xlabel="SGD steps (batch 1)")
    fig.suptitle(f"C10: weight norms and accuracy with MSE, hard targets and LS (lr {c06.LR:g}, batch 1; mean and range "
                 f"over {st['seeds']} seeds)",
                 fontsize=9)
    settings = dict(c06._settings(ctx), loss=["mse", "ce (baseline)"], outputs=OUTPUTS, smoothing=SMOOTHING,
                    ce_baseline_smoothing=CE_BASELINE, models={"Iris": "4-7-3 tanh net", "separable blobs": "linear [4, 3]"})
    for key in ("l2", "l1", "weight_decay", "linear_smoothing"):
        settings.pop(key)
    return save_figure(ctx, fig, "c10_mse", {"bands": pd.concat(parts, ignore_index=True), "runs": table}, settings)


def result(table, ends, figures):
    numbers = []
    last = ends[-1]
    lin_ls, lin_hard, acc_drop, out_g, hid_g, gap_err = [], [], [], [], [], []
    for output in OUTPUTS:
        hard = _group(table, "separable blobs", "mse", output, "hard")
        g_hard = hard[[f"growth_weight_norm_{e}" for e in ends]].mean().min()
        lin_hard.append(g_hard)
        numbers.append(Number(f"mse_{output}_linear_hard_growth", float(g_hard), "per decade",
                              f"linear model, MSE-{output}, hard targets: smallest seed-mean growth of ||W|| over the "
                              f"last {len(ends)} decades"))
        iris_hard = _group(table, "Iris", "mse", output, "hard")["test_acc"].mean()
        ce_ls = _group(table, "Iris", "ce", "softmax", "ls", CE_BASELINE)["test_acc"].mean()
        for a in SMOOTHING:
            ls = _group(table, "separable blobs", "mse", output, "ls", a)
            change = abs(ls[f"growth_weight_norm_{last}"].mean())
            lin_ls.append(change)
            numbers.append(Number(f"mse_{output}_linear_ls{a:g}_change", float(change), "per decade",
                                  f"the same with LS a = {a:g}: |seed-mean change| over the last decade"))
            net = _group(table, "Iris", "mse", output, "ls", a)
            acc = net["test_acc"].mean()
            acc_drop.append(max(iris_hard, ce_ls) - acc)
            out_g.append(net[f"growth_layer_norm_1_{last}"].mean())
            hid_g.append(net[f"growth_layer_norm_0_{last}"].mean())
            formula = margins.smoothed_logit_gap(a, 3, output)
            gap_err.append(abs(net["logit_gap"].mean() - formula) / formula)
            numbers.append(Number(f"iris_mse_{output}_ls{a:g}_test_acc", float(acc), "",
                                  f"Iris 4-7-3, MSE-{output}, LS a = {a:g}: seed-mean test accuracy (MSE hard "
                                  f"{iris_hard:.3f}, CE LS a = {CE_BASELINE:g} {ce_ls:.3f})"))
    numbers += [
        Number("mse_hard_linear_growth_min", float(min(lin_hard)), "per decade",
               "linear model, MSE (both outputs), hard targets: smallest growth over the last decades"),
        Number("mse_ls_linear_change_max", float(max(lin_ls)), "per decade",
               "linear model, MSE (both outputs, every a) with LS: largest |change| over the last decade"),
        Number("mse_ls_acc_drop_max", float(max(acc_drop)), "",
               "Iris: largest drop of MSE+LS test accuracy below the better of MSE hard and CE+LS (seed means)"),
        Number("mse_ls_output_growth_max", float(max(out_g)), "per decade",
               "Iris 4-7-3, MSE+LS: largest growth of the output layer, last decade"),
        Number("mse_ls_hidden_growth_max", float(max(hid_g)), "per decade", "the same for the hidden layer"),
        Number("mse_ls_gap_rel_err_max", float(max(gap_err)), "",
               "Iris 4-7-3, MSE+LS: |mean logit gap at the end - optimum's gap| / optimum's gap (sigmoid: "
               "logit(1 - a + a/K) - logit(a/K)), largest"),
        Number("mse_gap_formula_vs_optimizer_max", float(max(
            abs(margins.smoothed_logit_gap(a, 3, o) - margins.sample_optimum_gap(a, 3, loss="mse", output=o))
            for a in SMOOTHING for o in OUTPUTS)), "logits", "the optimum's gap: formula vs BFGS on one sample's MSE"),
    ]
    return Supporting.judged("C10", "The mechanism in long runs with MSE (sigmoid and softmax outputs): each sample's "
                             "optimum under LS, linear models and 4-7-3 tanh nets on Iris, online SGD, 10^7 steps",
                             "rule_c10", numbers, figures)


def run(ctx):
    histories, table, ends = measure(ctx)
    files = figure(ctx, histories, table)
    return [result(table, ends, [files[0]])]


if __name__ == "__main__":
    script_main(run, CLAIMS)
