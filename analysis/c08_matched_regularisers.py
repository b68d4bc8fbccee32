"""C8 in one regime in detail (the verdict comes from the map, `c08_regimes.py`): LS against L2,
L1 and decoupled weight decay at matched final weight norm, on digits.

Figure c08_matched_regularisers: how each penalty strength is matched to an ``a`` (norm
against strength, interpolated), then the matched pairs side by side with hard targets (no
penalty) as the null control: test accuracy, NLL, ECE, per-layer norms, logit-gap histograms
and agreement of predictions. Pairs are judged on paired differences over seeds
(`rules.c8_status`); the per-seed values are saved as ``__seeds.csv``.
"""
import numpy as np
import pandas as pd

from gradlab import compare, knobs
from gradlab.report import Number, Supporting, rules, save_figure, script_main, style

CLAIMS = ("C8",)
DATA = "digits"
PEN_LABEL = {"l2": "L2", "l1": "L1", "weight_decay": "weight decay"}
PEN_COLOR = {"l2": style.COLORS["l2"], "l1": style.COLORS["l1"], "weight_decay": style.COLORS["wd"]}
MEASURES = {  # measure -> (column, axis label)
    "test_acc": ("test_acc", "test accuracy"),
    "test_nll": ("test_nll", "test NLL (nats)"),
    "test_ece": ("test_ece", "test ECE (15 bins)"),
    "logit_gap": ("test_logit_gap", "mean test logit gap (true - best other)"),
    "hidden_norm": ("layer_norm_0", "hidden-layer norm ||W_1||"),
    "output_norm": ("layer_norm_1", "output-layer norm ||W_2||"),
}


def with_test_outputs(res, final, data):
    """``final`` plus each run's mean test logit gap; and its test predictions and gaps by run."""
    Z = knobs.run_logits(res, data.X_test)
    gaps = np.stack([compare.logit_gaps(z, data.y_test) for z in Z])
    return final.assign(test_logit_gap=gaps.mean(axis=1)), Z.argmax(axis=2), gaps


def seed_table(ls, hard, pen, ls_pred, hard_pred, pen_pred, lams):
    """Per-seed values of every matched run, one row per (a, method, seed): LS at ``a``, hard
    targets (the null control, repeated for each ``a``) and each penalty at the lambda matched to
    ``a``; the measures, ``pred_alike_ls`` (share of test rows predicted as LS at ``a`` with the
    same seed) and ``pred_alike_next`` (as this method's next seed, cyclically)."""
    rows = []
    for a in sorted({a for a, _ in lams}):
        x = ls[ls.smoothing == a].sort_values("seed")
        runs = {"ls": (x, ls_pred, 0.0), "hard": (hard.sort_values("seed"), hard_pred, 0.0)}
        for p in knobs.PENALTIES:
            lam = lams[(a, p)]
            if np.isfinite(lam):
                runs[p] = (pen[pen[p] == lam].sort_values("seed"), pen_pred, lam)
        for method, (y, pred, lam) in runs.items():
            if not np.array_equal(y.seed.to_numpy(), x.seed.to_numpy()):
                raise ValueError(f"C8: {method} runs at a = {a:g} do not share LS's seeds")
            across, within = compare.prediction_agreement(ls_pred[x.index], pred[y.index])
            frame = pd.DataFrame({"a": a, "method": method, "strength": lam, "seed": y.seed.to_numpy(),
                                  **{m: y[col].to_numpy() for m, (col, _) in MEASURES.items()},
                                  "weight_norm": y.weight_norm.to_numpy(), "pred_alike_ls": across,
                                  "pred_alike_next": within[len(across):]})
            rows.append(frame)
    return pd.concat(rows, ignore_index=True)


def pair_table(seeds, repeated):
    """One row per (a, method other than LS): per measure the paired difference method - LS over
    seeds, its standard error, the margin and the call (`rules.c8_status`). Predictions: per seed,
    the share of rows predicted as LS minus the mean of the two methods' seed-to-next-seed shares.
    ``counted``: False for the null control (hard targets) and, when ``repeated``, weight decay."""
    rows = []
    for (a, method), y in seeds[seeds.method != "ls"].groupby(["a", "method"], sort=False):
        x = seeds[(seeds.a == a) & (seeds.method == "ls")]
        row = {"a": a, "method": method, "strength": y.strength.iloc[0],
               "counted": method != "hard" and not (repeated and method == "weight_decay")}
        for m in MEASURES:
            diff, se = compare.paired_difference(x[m], y[m])
            margin = rules.C8_TOL.get(m, rules.C8_RTOL.get(m, 0.0) * abs(x[m].mean()))
            row.update({f"{m}_ls": x[m].mean(), f"{m}_other": y[m].mean(), f"{m}_diff": diff, f"{m}_se": se,
                        f"{m}_margin": margin, f"{m}_status": rules.c8_status(diff, se, margin)})
        within = (x.pred_alike_next.to_numpy() + y.pred_alike_next.to_numpy()) / 2
        diff, se = compare.paired_difference(within, y.pred_alike_ls)
        margin = rules.C8_TOL["predictions"]
        row.update({"predictions_other": y.pred_alike_ls.mean(), "predictions_ls": within.mean(),
                    "predictions_diff": diff, "predictions_se": se, "predictions_margin": margin,
                    "predictions_status": rules.c8_status(diff, se, margin, one_sided=True)})
        rows.append(row)
    return pd.DataFrame(rows)


def shares(pairs):
    """Per measure: share of counted pairs that agree where the null does not, that differ, and
    share of a values at which the null (hard targets) agrees with LS."""
    counted, null = pairs[pairs.counted], pairs[pairs.method == "hard"].set_index("a")
    out = {}
    for m in rules.C8_MEASURES:
        null_agrees = null[f"{m}_status"] == "agree"
        judged = ~counted.a.map(null_agrees).fillna(False).astype(bool)
        out[m] = (float(((counted[f"{m}_status"] == "agree") & judged).mean()),
                  float((counted[f"{m}_status"] == "differ").mean()),
                  float(null_agrees.loc[sorted(set(counted.a))].mean()))
    return out


def at_grid_edge(lam, grid):
    """1 when the matched ``lam`` lies outside the second to the second-last value of ``grid``: its
    interpolation leans on an end of the grid, past which the norm curve is unseen."""
    grid = sorted(grid)
    return int(not grid[1] <= lam <= grid[-2]) if len(grid) > 2 else 1


def offsets(n, width=0.6):
    return (np.arange(n) - (n - 1) / 2) * width / max(n - 1, 1)


def plot(s, final, seeds, pairs, lams, gaps_by_method):
    fig, axes = style.subplots(2, 4)
    ax = axes[0, 0]
    for p in knobs.PENALTIES:
        t = knobs.knob_table(final, p)
        g = t[t.value > 0].groupby("value").weight_norm
        m, sd = g.mean(), g.std()
        line = style.band(ax, m.index, m, m - sd, m + sd, PEN_COLOR[p], PEN_LABEL[p])
        if p == "weight_decay":  # drawn over L2, which it equals under plain SGD
            line.set_linestyle((0, (4, 3)))
    ls = knobs.knob_table(final, "smoothing").groupby("value").weight_norm.mean()
    for a in s["matched"]:
        ax.axhline(ls.loc[a], color=style.COLORS["ls"], lw=0.8, ls=":")
        ax.text(1.0, ls.loc[a], f" a={a:g}", transform=ax.get_yaxis_transform(), fontsize=7,
                color=style.COLORS["ls"], va="center", ha="left")
        for p in knobs.PENALTIES:
            if np.isfinite(lams[(a, p)]):
                ax.plot(lams[(a, p)], ls.loc[a], "o", ms=5, mfc="white", color=PEN_COLOR[p])
    ax.set_xscale("log")
    ax.set_xlabel("penalty strength lambda")
    ax.set_ylabel("final weight norm ||W|| (mean over seeds)")
    ax.set_title("matching: LS norms (dotted), matched lambdas (circles)", fontsize=9)
    ax.legend(loc="lower left", fontsize=7)
    a_pos = {a: i for i, a in enumerate(s["matched"])}
    methods = ("ls", "hard") + knobs.PENALTIES
    color = {"ls": style.COLORS["ls"], "hard": style.COLORS["hard"], **PEN_COLOR}
    label = {"ls": "LS", "hard": "hard targets, no penalty (null control)",
             **{p: f"{PEN_LABEL[p]} at the matched lambda" for p in knobs.PENALTIES}}
    off = dict(zip(methods, offsets(len(methods))))
    ticks = (range(len(a_pos)), [f"{a:g}" for a in a_pos])
    counted = pairs[pairs.counted]

    def title(m, name):
        null = pairs[pairs.method == "hard"]
        null_agrees = counted.a.isin(null.a[null[f"{m}_status"] == "agree"])
        return (f"{name}: {((counted[f'{m}_status'] == 'agree') & ~null_agrees).sum()} of {len(counted)} pairs agree, "
                f"{(counted[f'{m}_status'] == 'differ').sum()} differ\nnull (hard targets) agrees with LS at "
                f"{(null[f'{m}_status'] == 'agree').sum()} of {len(null)} a")

    for ax, m in [(axes[0, 1], "test_acc"), (axes[0, 2], "test_nll"), (axes[0, 3], "test_ece"),
                  (axes[1, 0], "hidden_norm"), (axes[1, 1], "output_norm")]:
        for method in methods:
            g = seeds[seeds.method == method].groupby("a")[m]
            ax.errorbar(g.mean().index.map(a_pos) + off[method], g.mean(), g.std(), fmt="o" if method == "ls" else "s",
                        ms=4, color=color[method], capsize=2, label=label[method])
        ax.set_title(title(m, MEASURES[m][1].split(" (")[0]), fontsize=8)
        ax.set_xticks(*ticks)
        ax.set_xlabel("LS a (and the lambdas matched to it)")
        ax.set_ylabel(MEASURES[m][1])
    handles, labels = axes[0, 1].get_legend_handles_labels()
    ax = axes[1, 2]
    edges = np.linspace(min(g.min() for g in gaps_by_method.values()), max(g.max() for g in gaps_by_method.values()),
                        40)
    for key, g in gaps_by_method.items():
        ax.hist(g, bins=edges, histtype="step", density=True, lw=1.4, color=color[key],
                ls="--" if key == "weight_decay" else "-")
    ax.set_xlabel("test logit gap z_true - max z_other")
    ax.set_ylabel("density (test rows of all seeds)")
    ax.set_title(f"logit gaps at a = {s['hist_a']:g} and its matched lambdas", fontsize=9)
    ax = axes[1, 3]
    for method in methods[1:]:
        g = seeds[seeds.method == method].groupby("a").pred_alike_ls
        ax.errorbar(g.mean().index.map(a_pos) + off[method], g.mean(), g.std(), fmt="s", ms=4, color=color[method],
                    capsize=2)
    g = seeds[seeds.method == "ls"].groupby("a").pred_alike_next
    within = ax.errorbar(g.mean().index.map(a_pos) + off["ls"], g.mean(), g.std(), fmt="D", ms=4,
                         color=style.COLORS["reference"], capsize=2)
    ax.set_xticks(*ticks)
    ax.set_xlabel("LS a")
    ax.set_ylabel("share of test rows predicted as LS, same seed")
    ax.set_title(title("predictions", "predictions"), fontsize=8)
    fig.legend(handles + [within], labels + ["LS seed vs next LS seed"], loc="outside lower center", ncol=6, fontsize=8)
    fig.suptitle(f"C8 on digits ({'-'.join(map(str, s['sizes']))}, online SGD lr {s['lr']}, {s['epochs']} epochs, "
                 f"{s['seeds']} seeds): LS against L2, L1 and weight decay at equal final weight norm, and hard targets "
                 f"as the null control; bars: seed SD; calls: paired 2-SE intervals")
    return fig


def run(ctx):
    res, data, s = knobs.knob_sweep(ctx, DATA)
    final = res.final
    matched, lams = knobs.matched_sweep(ctx, DATA)
    s = dict(s, hist_a=min(s["matched"], key=lambda a: abs(a - 0.1)))
    ls_all, ls_pred, ls_gaps = with_test_outputs(res, final, data)
    ls = knobs.knob_table(ls_all, "smoothing")
    # L2 and decoupled decay at equal strength: the same update under plain SGD, up to rounding
    l2 = knobs.knob_table(final, "l2").query("value > 0").set_index(["value", "seed"]).weight_norm
    wd = knobs.knob_table(final, "weight_decay").query("value > 0").set_index(["value", "seed"]).weight_norm
    common = l2.index.intersection(wd.index)
    l2_wd_gap = float((abs(l2[common] - wd[common]) / l2[common]).max()) if len(common) else float("nan")
    repeated = bool(l2_wd_gap <= rules.C8_SAME_UPDATE)
    if matched is None:
        seeds, pairs = None, pd.DataFrame(columns=["a", "method", "strength", "counted"])
        pen, pen_gaps = None, None
    else:
        pen, pen_pred, pen_gaps = with_test_outputs(matched, matched.final, data)
        seeds = seed_table(ls, ls[ls.value == 0], pen, ls_pred, ls_pred, pen_pred, lams)
        pairs = pair_table(seeds, repeated)
    counted = pairs[pairs.counted.astype(bool)]
    share = shares(pairs) if len(counted) else {m: (float("nan"),) * 3 for m in rules.C8_MEASURES}
    norm_err = (float((abs(seeds.groupby(["a", "method"]).weight_norm.mean().unstack().drop(columns=["ls", "hard"])
                            .div(seeds[seeds.method == "ls"].groupby("a").weight_norm.mean(), axis=0) - 1)).max().max())
                if seeds is not None else float("nan"))
    n_repeated = int(((pairs.method == "weight_decay") & ~pairs.counted.astype(bool)).sum())
    edge = [at_grid_edge(r.strength, s[r.method]) for _, r in counted.iterrows()]
    counted_pens = [p for p in knobs.PENALTIES if not (repeated and p == "weight_decay")]
    unmatched = sum(not np.isfinite(lams[(a, p)]) for a in s["matched"] for p in counted_pens)
    numbers = [Number("matched_pairs", len(counted), "pairs",
                      "independent (a, penalty) pairs whose norm the lambda grid reached"),
               Number("repeated_pairs", n_repeated, "pairs", "weight-decay pairs equal to the L2 pairs, not counted"),
               Number("l2_vs_weight_decay_max_rel_norm_gap", l2_wd_gap, "",
                      "same lambda and seed; plain SGD makes L2 and decoupled decay one update"),
               Number("lambda_at_grid_edge", int(sum(edge)), "pairs",
                      "counted pairs whose matched lambda is interpolated from an end of its grid (outside the "
                      "second to the second-last value)"),
               Number("unmatched_pairs", int(unmatched), "pairs", "(a, penalty) pairs whose norm the grid did not "
                      "reach (not counted)")]
    for m in rules.C8_MEASURES:
        agree, differ, null = share[m]
        numbers += [Number(f"agree_{m}", agree, "share of pairs", "2-SE interval of the paired difference within "
                           "the margin, at an a where hard targets do not agree with LS"),
                    Number(f"differ_{m}", differ, "share of pairs", "2-SE interval of the paired difference excludes 0"),
                    Number(f"null_agree_{m}", null, "share of a values", "hard targets, no penalty, agree with LS")]
    numbers.append(Number("norm_match_max_rel_gap", norm_err, "", "largest |mean norm at matched lambda / LS norm - 1|"))
    for _, r in counted.iterrows():
        numbers.append(Number(f"lambda_{r.method}_for_a_{r.a:g}", r.strength, "", "matched by norm"))
    r = pairs[(pairs.method == "l2") & (pairs.a == s["hist_a"])]
    for m in MEASURES if len(r) else ():
        numbers += [Number(f"{m}_ls_a_{s['hist_a']:g}", float(r[f'{m}_ls'].iloc[0])),
                    Number(f"{m}_matched_l2_minus_ls_a_{s['hist_a']:g}", float(r[f'{m}_diff'].iloc[0]), "",
                           f"paired over seeds, standard error {float(r[f'{m}_se'].iloc[0]):.2g}")]
    figures = []
    if len(counted):
        hist_runs = {"ls": ls_gaps[ls[ls.smoothing == s["hist_a"]].index].ravel()}
        for p in knobs.PENALTIES:
            lam = lams[(s["hist_a"], p)]
            if np.isfinite(lam):
                hist_runs[p] = pen_gaps[pen[pen[p] == lam].index].ravel()
        fig = plot(s, final, seeds, pairs, lams, hist_runs)
        curves = pd.concat([knobs.knob_table(final, k).assign(knob=k) for k in ("smoothing",) + knobs.PENALTIES])
        cols = ["knob", "value", "seed", "weight_norm", "layer_norm_0", "layer_norm_1", "test_acc", "test_nll", "test_ece"]
        hist = pd.concat([pd.DataFrame({"method": k, "logit_gap": g}) for k, g in hist_runs.items()])
        figures = save_figure(ctx, fig, "c08_matched_regularisers",
                              {"pairs": pairs, "seeds": seeds, "sweep": curves[cols], "logit_gaps": hist},
                              {**s, "split": "test 20 % of rows (seed 0); fit rows 80 % of the rest (seed 1)",
                               "matching": "log-log linear interpolation of mean final weight norm over the lambda grid",
                               "agreement": f"paired over seeds (rules.paired_call): agree when the {rules.SE_FACTOR:g}-SE "
                                            "interval lies within +-margin; differ when |mean d| > margin and the "
                                            "interval excludes 0 (predictions: one-sided, only a shortfall counts)",
                               "margins": {**rules.C8_TOL, **{m: f"{r:g} of LS's mean" for m, r in
                                                              rules.C8_RTOL.items()}},
                               "null control": "hard targets without any penalty against LS at each a",
                               "weight decay": "not counted: equal to L2 under plain SGD" if repeated else "counted"})
    return [Supporting.judged("C8", "One regime in detail (digits 64-32-10 tanh, online SGD, the knob sweeps shared "
                              "with C9 and C11): LS at a from 0.01 to 0.3 against L2, L1 and decoupled weight decay at "
                              "matched final weight norm, with hard targets as the null control; test accuracy, NLL, "
                              "ECE, layer norms, logit-gap histograms and agreement of predictions", "rule_c8", numbers,
                              [f for f in figures if f.endswith(".png")])]

if __name__ == "__main__":
    script_main(run, CLAIMS)
