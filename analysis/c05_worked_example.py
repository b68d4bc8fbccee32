"""C5: the worked example's four deltas, and where the true-class update flips sign under LS.

Figures: c05_worked_example (the four deltas as a table), c05_error_terms (error term of the
true class against its output, for t = 1 and smoothed t', CE and MSE, flips marked).
"""
import numpy as np
import pandas as pd

from gradlab import claims
from gradlab.report import ClaimResult, Number, rules, save_figure, script_main, style
from gradlab.targets import smoothing_of

CLAIMS = ("C5",)
LR = 0.01
PUBLISHED = [0.0025, 0.0003, 0.0005, -0.0017]  # the post's four deltas, in its order (the claim itself)
SMOOTHED = (0.95, 0.9, 0.8)  # t' values drawn; 0.8 is the worked example's
PANELS = [("ce", "sigmoid", 1, "exact", "CE (sigmoid node; softmax-CE is the same o - t)"),
          ("mse", "sigmoid", 1, "exact", "MSE, sigmoid output"),
          ("mse", "softmax", 3, "exact", "MSE, softmax K = 3 (other logits 0), exact"),
          ("mse", "softmax", 3, "diagonal", "MSE, softmax K = 3 (other logits 0), diagonal")]


def smoothing_for(target, K):
    """a that turns a one-hot row into one with t' = target on its class (K = 1: binary node)."""
    row = [[target]] if K == 1 else [[target] + [(1 - target) / (K - 1)] * (K - 1)]
    return float(smoothing_of(row)[0])


def table_figure(ctx, rows):
    fig, ax = style.subplots()
    ax.axis("off")
    cells = [[f"{r['target']:g}", f"{r['output']:g}", f"{r['gradlab delta']:+.4f}", f"{p:+.4f}"]
             for r, p in zip(rows, PUBLISHED)]
    table = ax.table(cellText=cells, colLabels=["target t", "output o", "gradlab update", "published"],
                     loc="center", cellLoc="center")
    table.auto_set_font_size(False)
    table.set_fontsize(11)
    table.scale(1, 2.2)
    ax.set_title(f"Worked example: update -lr (o - t) h, lr = {LR}, h = 1")
    frame = pd.DataFrame(rows).assign(published=PUBLISHED)
    return save_figure(ctx, fig, "c05_worked_example", frame, {"lr": LR, "hidden_activation": 1.0,
                       "loss": "per-node CE on one sigmoid output", "cases": [[r["target"], r["output"]] for r in rows]})


def curves_figure(ctx, rows, flips, grid):
    fig, axes = style.subplots(2, 2, squeeze=False)
    colors = [style.COLORS["hard"], style.BLUE, style.GREEN, style.PURPLE]
    curves = []
    for ax, (loss, output, K, variant, title) in zip(axes.flat, PANELS):
        for target, color in zip((1.0,) + SMOOTHED, colors):
            o, d, _ = claims.true_class_slice(loss, output, target, K, variant=variant, grid=grid)
            a = smoothing_for(target, K)
            label = "t = 1 (hard)" if target == 1 else f"t' = {target:g}"
            ax.plot(o, d, color=color, label=label)
            curves.append(pd.DataFrame({"loss": loss, "output": output, "K": K, "variant": variant,
                                        "target": target, "a": round(a, 12), "o": o.round(8), "delta": d.round(8)}))
            if target < 1:
                flip = claims.zero_crossings(o, d)
                ax.axvline(target, color=color, lw=0.8, ls=":")
                ax.plot(flip, np.zeros_like(flip), "o", color=color, ms=5, mfc="white")
        ax.axhline(0, color="black", lw=0.6)
        ax.set(title=title, xlabel="true-class output o (probability)", ylabel="error term δ = dL/dz (true class)",
               xlim=(0, 1))
    ce = axes[0, 0]
    example = ce.plot([r["output"] for r in rows], [r["output"] - r["target"] for r in rows], "s", color="black",
                      ms=4)[0]
    ce.text(0.03, 0.96, "δ < 0: update -lr δ h > 0\nδ > 0: update < 0", transform=ce.transAxes, ha="left",
            va="top", fontsize=8)
    handles, labels = ce.get_legend_handles_labels()
    handles += [ce.plot([], [], "o", color="grey", mfc="white")[0], example]
    fig.legend(handles, labels + ["sign change (dotted: t')", "worked example"], loc="outside lower center", ncol=6)
    fig.suptitle("With smoothed targets the error term, and so the update -lr δ h, changes sign where o passes t'",
                 fontsize=9)
    data = {"curves": pd.concat(curves, ignore_index=True), "flips": pd.DataFrame(flips)}
    return save_figure(ctx, fig, "c05_error_terms", data,
                       {"targets": [1.0, *SMOOTHED], "logit_range": [-10, 10], "grid": grid,
                        "softmax_other_logits": 0.0, "panels": [p[:4] for p in PANELS]})


def run(ctx):
    grid = 2001 if ctx.quick else 20001
    rows = claims.worked_example(LR)
    published_gap = max(abs(r["gradlab delta"] - p) for r, p in zip(rows, PUBLISHED))
    formula_gap = max(abs(r["gradlab delta"] - r["lr * (t - o)"]) for r in rows)
    # CE (either output) and element-wise MSE, hard-to-soft targets at several a and K
    settings = []
    for a in (0.05, 0.1, 0.2, 0.4):
        settings += [("ce", "sigmoid", 1, 1 - a / 2, "exact"), ("mse", "sigmoid", 1, 1 - a / 2, "exact")]
        settings += [("ce", "softmax", K, 1 - a + a / K, "exact") for K in (2, 3, 10)]
    flips = claims.flip_table(settings, grid=grid)
    one_flip = [f for f in flips if f["crossings"] == 1]
    off = max(abs(f["flip_at"] - f["target"]) for f in one_flip) if one_flip else 0.0
    mismatches = sum(f["sign_mismatches"] for f in flips)
    no_single = len(flips) - len(one_flip)
    offsets = claims.softmax_mse_flip_offsets(np.random.default_rng(5), 20 if ctx.quick else 200,
                                              grid=1001 if ctx.quick else 4001)
    verdict, reason = rules.rule_c5(published_gap, mismatches, no_single, off)
    numbers = [Number(f"update_t{r['target']:g}_o{r['output']:g}", r["gradlab delta"], "",
                      f"-lr dL/dw for target {r['target']:g}, output {r['output']:g} (published {p:+.4f})")
               for r, p in zip(rows, PUBLISHED)]
    numbers += [
        Number("max_abs_delta_minus_published", published_gap, "", "largest gap from the post's 4-decimal values"),
        Number("max_abs_delta_minus_lr_t_minus_o", formula_gap, "", "gradlab's deltas vs lr (t - o) h"),
        Number("a_of_target_0.8_binary", smoothing_for(0.8, 1), "", "t' = 0.8 on one sigmoid node is LS with this a"),
        Number("slices_checked", len(flips), "", f"CE (sigmoid, softmax K = 2, 3, 10) and sigmoid-MSE, "
               f"a in 0.05..0.4, {grid} logits each"),
        Number("sign_mismatch_points", mismatches, "grid points", "sign(update) != sign(t' - o)"),
        Number("settings_without_one_flip", no_single, "slices", "slices where the update does not change sign once"),
        Number("flip_off_target_max", off, "", "largest |o at the sign change - t'|"),
        Number("softmax_mse_flip_offset_median", float(np.nanmedian(offsets)), "",
               f"exact softmax-MSE, t' = 0.9, {offsets.size} random other logits: |o at the sign change - t'| "
               "(the coupling of C2; not part of the rule)"),
        Number("softmax_mse_flip_offset_max", float(np.nanmax(offsets)), "", "as above, the largest"),
    ]
    figures = [table_figure(ctx, rows)[0], curves_figure(ctx, rows, flips, 401)[0]]
    return [ClaimResult("C5", "The worked example, and the sign flip under label smoothing",
                        "With lr 0.01 and a hidden activation of 1, the update of a sigmoid output's weight is "
                        "+0.0025 (target 1, output 0.75), +0.0003 (target 1, output 0.97), +0.0005 (target 0.8, "
                        "output 0.75) and -0.0017 (target 0.8, output 0.97): with a smoothed target t' the update "
                        "reverses sign once the output passes t'.",
                        verdict, reason, numbers, figures, "rule_c5")]


if __name__ == "__main__":
    script_main(run, CLAIMS)
