"""C8: LS against L2, L1 and decoupled weight decay at matched final weight norm, on digits.

Figure c08_matched_regularisers: how each penalty strength is matched to an ``a`` (norm
against strength, interpolated), then the matched pairs side by side: test accuracy, NLL,
ECE, per-layer norms, logit-gap histograms and agreement of predictions.
"""
import numpy as np
import pandas as pd

from gradlab import compare, knobs
from gradlab.report import ClaimResult, Number, rules, save_figure, script_main, style

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


def compare_pairs(ls, pen, ls_pred, pen_pred, lams):
    """One row per matched (a, penalty): both methods' means and SDs per measure and whether
    they agree within the seed spread; prediction agreement across methods and across seeds."""
    rows = []
    for (a, p), lam in lams.items():
        if not np.isfinite(lam):
            continue
        x = ls[ls.smoothing == a].sort_values("seed")
        y = pen[(pen[p] == lam)].sort_values("seed")
        row = {"a": a, "penalty": p, "strength": lam, "ls_weight_norm": x.weight_norm.mean(),
               "pen_weight_norm": y.weight_norm.mean()}
        for m, (col, _) in MEASURES.items():
            diff, pooled, agree = compare.spread_comparison(x[col], y[col])
            row.update({f"{m}_ls": x[col].mean(), f"{m}_ls_sd": x[col].std(), f"{m}_pen": y[col].mean(),
                        f"{m}_pen_sd": y[col].std(), f"{m}_diff": diff, f"{m}_pooled_sd": pooled, f"{m}_agree": agree})
        across, within = compare.prediction_agreement(ls_pred[x.index], pen_pred[y.index])
        row.update(predictions_across=across.mean(), predictions_across_sd=across.std(ddof=1),
                   predictions_within=within.mean(), predictions_within_sd=within.std(ddof=1),
                   predictions_agree=bool(across.mean() >= within.mean() - within.std(ddof=1)))
        rows.append(row)
    return pd.DataFrame(rows)


def offsets(n, width=0.6):
    return (np.arange(n) - (n - 1) / 2) * width / max(n - 1, 1)


def plot(s, final, pairs, lams, gaps_by_method):
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
    off = dict(zip(("ls",) + knobs.PENALTIES, offsets(1 + len(knobs.PENALTIES))))
    ticks = (range(len(a_pos)), [f"{a:g}" for a in a_pos])
    for ax, m in [(axes[0, 1], "test_acc"), (axes[0, 2], "test_nll"), (axes[0, 3], "test_ece"),
                  (axes[1, 0], "hidden_norm"), (axes[1, 1], "output_norm")]:
        for p in knobs.PENALTIES:
            sub = pairs[pairs.penalty == p]
            ax.errorbar(sub.a.map(a_pos) + off[p], sub[f"{m}_pen"], sub[f"{m}_pen_sd"], fmt="s", ms=4,
                        color=PEN_COLOR[p], capsize=2, label=f"{PEN_LABEL[p]} at the matched lambda")
        sub = pairs.drop_duplicates("a")
        ax.errorbar(sub.a.map(a_pos) + off["ls"], sub[f"{m}_ls"], sub[f"{m}_ls_sd"], fmt="o", ms=5,
                    color=style.COLORS["ls"], capsize=2, label="LS")
        ax.set_title(f"{MEASURES[m][1].split(' (')[0]}: agree in {pairs[f'{m}_agree'].sum()}/{len(pairs)} pairs",
                     fontsize=9)
        ax.set_xticks(*ticks)
        ax.set_xlabel("LS a (and the lambdas matched to it)")
        ax.set_ylabel(MEASURES[m][1])
    handles, labels = axes[0, 1].get_legend_handles_labels()
    ax = axes[1, 2]
    edges = np.linspace(min(g.min() for g in gaps_by_method.values()), max(g.max() for g in gaps_by_method.values()),
                        40)
    for key, g in gaps_by_method.items():
        ax.hist(g, bins=edges, histtype="step", density=True, lw=1.4,
                color=style.COLORS["ls"] if key == "ls" else PEN_COLOR[key],
                ls="--" if key == "weight_decay" else "-")
    ax.set_xlabel("test logit gap z_true - max z_other")
    ax.set_ylabel("density (test rows of all seeds)")
    ax.set_title(f"logit gaps at a = {s['hist_a']:g} and its matched lambdas", fontsize=9)
    ax = axes[1, 3]
    for p in knobs.PENALTIES:
        sub = pairs[pairs.penalty == p]
        ax.errorbar(sub.a.map(a_pos) + off[p], sub.predictions_across, sub.predictions_across_sd, fmt="s", ms=4,
                    color=PEN_COLOR[p], capsize=2)
    sub = pairs[pairs.penalty == "l2"]
    within = ax.errorbar(sub.a.map(a_pos) + off["ls"], sub.predictions_within, sub.predictions_within_sd, fmt="D",
                         ms=4, color=style.COLORS["reference"], capsize=2)
    ax.set_xticks(*ticks)
    ax.set_xlabel("LS a")
    ax.set_ylabel("share of test rows predicted alike")
    ax.set_title(f"LS vs penalty, same seed: agree in {pairs.predictions_agree.sum()}/{len(pairs)} pairs", fontsize=9)
    fig.legend(handles + [within], labels + ["seed vs next seed (LS and L2 runs)"], loc="outside lower center",
               ncol=5, fontsize=8)
    fig.suptitle(f"C8 on digits ({'-'.join(map(str, s['sizes']))}, online SGD lr {s['lr']}, {s['epochs']} epochs, "
                 f"{s['seeds']} seeds): LS against L2, L1 and weight decay at equal final weight norm; bars: seed SD")
    return fig


def run(ctx):
    res, data, s = knobs.knob_sweep(ctx, DATA)
    final = res.final
    matched, lams = knobs.matched_sweep(ctx, DATA)
    s = dict(s, hist_a=min(s["matched"], key=lambda a: abs(a - 0.1)))
    ls_all, ls_pred, ls_gaps = with_test_outputs(res, final, data)
    ls = knobs.knob_table(ls_all, "smoothing")
    if matched is None:
        pairs = pd.DataFrame(columns=["a", "penalty", "strength"])
        pen, pen_pred, pen_gaps = None, None, None
    else:
        pen, pen_pred, pen_gaps = with_test_outputs(matched, matched.final, data)
        pairs = compare_pairs(ls, pen, ls_pred, pen_pred, lams)
    # L2 and decoupled decay at equal strength: the same update under plain SGD, up to rounding
    l2 = knobs.knob_table(final, "l2").query("value > 0").set_index(["value", "seed"]).weight_norm
    wd = knobs.knob_table(final, "weight_decay").query("value > 0").set_index(["value", "seed"]).weight_norm
    common = l2.index.intersection(wd.index)
    l2_wd_gap = float((abs(l2[common] - wd[common]) / l2[common]).max()) if len(common) else float("nan")

    measures = list(MEASURES) + ["predictions"]
    shares = {m: (float(pairs[f"{m}_agree"].mean()) if len(pairs) else float("nan")) for m in measures}
    norm_err = float((abs(pairs.pen_weight_norm / pairs.ls_weight_norm - 1)).max()) if len(pairs) else float("nan")
    numbers = [Number("matched_pairs", len(pairs), "pairs", "(a, penalty) pairs whose norm the lambda grid reached")]
    numbers += [Number(f"agree_{m}", shares[m], "share of pairs",
                       "difference of means <= pooled seed SD" if m != "predictions"
                       else "same-seed agreement >= seed-to-seed agreement - its SD") for m in measures]
    numbers += [Number("norm_match_max_rel_gap", norm_err, "", "largest |norm at matched lambda / LS norm - 1|"),
                Number("l2_vs_weight_decay_max_rel_norm_gap", l2_wd_gap, "",
                       "same lambda and seed; plain SGD makes L2 and decoupled decay one update")]
    for _, r in pairs.iterrows():
        numbers.append(Number(f"lambda_{r.penalty}_for_a_{r.a:g}", r.strength, "", "matched by norm"))
    if len(pairs):
        for m in MEASURES:
            r = pairs[(pairs.penalty == "l2") & (pairs.a == s["hist_a"])]
            if len(r):
                numbers += [Number(f"{m}_ls_a_{s['hist_a']:g}", float(r[f'{m}_ls'].iloc[0])),
                            Number(f"{m}_matched_l2_a_{s['hist_a']:g}", float(r[f'{m}_pen'].iloc[0]))]
    verdict, reason = rules.reapply("rule_c8", numbers)

    figures = []
    if len(pairs):
        hist_runs = {"ls": ls_gaps[ls[ls.smoothing == s["hist_a"]].index].ravel()}
        for p in knobs.PENALTIES:
            lam = lams[(s["hist_a"], p)]
            if np.isfinite(lam):
                hist_runs[p] = pen_gaps[pen[pen[p] == lam].index].ravel()
        fig = plot(s, final, pairs, lams, hist_runs)
        curves = pd.concat([knobs.knob_table(final, k).assign(knob=k) for k in ("smoothing",) + knobs.PENALTIES])
        cols = ["knob", "value", "seed", "weight_norm", "layer_norm_0", "layer_norm_1", "test_acc", "test_nll", "test_ece"]
        hist = pd.concat([pd.DataFrame({"method": k, "logit_gap": g}) for k, g in hist_runs.items()])
        figures = save_figure(ctx, fig, "c08_matched_regularisers",
                              {"pairs": pairs, "sweep": curves[cols], "logit_gaps": hist},
                              {**s, "split": "test 20 % of rows (seed 0); fit rows 80 % of the rest (seed 1)",
                               "matching": "log-log linear interpolation of mean final weight norm over the lambda grid",
                               "agreement": "|difference of seed means| <= sqrt((SD_LS^2 + SD_pen^2) / 2)"})
    return [ClaimResult("C8", "Weight decay, L1 or L2 against LS at matched weight norm",
                        "Penalising weights (L2, L1 or decoupled weight decay) has roughly the same effect as label "
                        "smoothing.", verdict, reason, numbers, [f for f in figures if f.endswith(".png")], "rule_c8")]


if __name__ == "__main__":
    script_main(run, CLAIMS)
