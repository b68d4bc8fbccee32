"""C5 in training: per-sample deltas of hidden-to-true-class weights recorded over online SGD on
Iris (gl.train(trace=...)), hard targets against smoothed ones: when each sample's update flips
sign, and the share of rows past t' per record (History.past_target).

The net has sigmoid hidden units, so every hidden activation h_j is > 0 and the traced delta
-lr delta_k h_j has the sign of t'_k - o_k: a negative trace is exactly a sample whose true-class
output has passed its target (with tanh units the sign of h_j would mix in). The share of negative
traces is therefore checked against History.past_target, which the training kernel computes from
the outputs independently.

Figure: c05_delta_traces. The C5 verdict comes from c05_worked_example.py (the formula-level
checks); this script adds the training view and leaves the report as it is (`figure` returns its
numbers for a caller that wants them).
"""
import numpy as np
import pandas as pd

import gradlab as gl
from gradlab import cache, curves, students
from gradlab.report import Number, Supporting, script_main, save_figure, style

CLAIMS = ("C5",)
LR = 0.1
SMOOTHING = (0.0, 0.05, 0.1, 0.2)
HIDDEN_UNIT = 0  # traced weights (1, HIDDEN_UNIT, k) for every class k; each row uses its true class
SHOWN_ROWS = 3  # versicolor rows whose traces are saved (the first is drawn)
FULL = dict(steps=10 ** 5, seeds=3, record_every=50)
QUICK = dict(steps=10 ** 4, seeds=2, record_every=20)
COLORS = {0.0: style.COLORS["hard"], 0.05: style.SKY, 0.1: style.BLUE, 0.2: style.PURPLE}


def runs(ctx):
    """One gl.train run per (a, seed) (cached under ctx.runs); per record: past_target and the share of negative
    true-class traces; per row: first record with a negative trace and number of sign changes."""
    st = QUICK if ctx.quick else FULL
    X, y = gl.datasets.iris()
    Xtr, Xte, ytr, yte = gl.datasets.train_test_split(X, y, test_size=0.2, seed=0)
    Xtr, Xte = gl.datasets.standardize(Xtr, Xte)
    trace = [(1, HIDDEN_UNIT, k) for k in range(3)]
    settings = [(a, seed) for a in SMOOTHING for seed in range(st["seeds"])]
    jobs = [(dict(sizes=[4, 7, 3], hidden="sigmoid", output="softmax", seed=seed), ytr,
             dict(smoothing=a, lr=LR, batch_size=1, epochs=-(-st["steps"] // len(ytr)), seed=seed,
                  record_every=st["record_every"], trace=trace)) for a, seed in settings]

    def train():  # per run: steps, past_target and the true-class traces (records, rows): -lr delta_y h_j
        return [(h.step, h.past_target, h.traces[:, np.arange(len(ytr)), ytr])
                for h in students.train_all(Xtr, jobs, workers=1, scheduler=ctx.scheduler)]

    records, rows, shown = [], [], []
    traced = cache.cached(ctx, "c05_delta_traces", [Xtr, jobs], train)
    for (a, seed), (step, past_target, true_trace) in zip(settings, traced):
        negative = true_trace < 0
        records.append(pd.DataFrame({"a": a, "seed": seed, "step": step, "past_target": past_target,
                                     "negative_trace_share": negative.mean(axis=1),
                                     "ever_flipped_share": np.maximum.accumulate(negative, axis=0).mean(axis=1)}))
        first = np.where(negative.any(axis=0), step[np.argmax(negative, axis=0)], -1)
        changes = (np.diff(np.sign(true_trace), axis=0) != 0).sum(axis=0)
        rows.append(pd.DataFrame({"a": a, "seed": seed, "row": np.arange(len(ytr)), "label": ytr,
                                  "first_flip_step": first, "sign_changes": changes}))
        if seed == 0:
            for n in np.flatnonzero(ytr == 1)[:SHOWN_ROWS]:
                shown.append(pd.DataFrame({"a": a, "row": n, "step": step, "delta": true_trace[:, n]}))
    return st, pd.concat(records, ignore_index=True), pd.concat(rows, ignore_index=True), pd.concat(shown, ignore_index=True)


def figure(ctx):
    """Draw and save c05_delta_traces; returns (file names, numbers dict)."""
    st, records, rows, shown = runs(ctx)
    fig, axes = style.subplots(1, 3)
    ax = axes[0]
    n_shown = shown["row"].iloc[0]
    for a, z, alpha in ((0.1, 2, 0.75), (0.0, 3, 1.0)):
        d = shown[(shown["a"] == a) & (shown["row"] == n_shown) & (shown["step"] > 0)]
        ax.plot(d["step"], d["delta"], color=COLORS[a], lw=0.8, alpha=alpha, zorder=z,
                label="hard targets" if a == 0 else f"LS a = {a:g}")
    ax.axhline(0, color=style.BLACK, lw=0.6)
    ax.set(xscale="log", xlabel="SGD steps (batch 1)", ylabel=f"delta of w[{HIDDEN_UNIT}, true class] (symlog)",
           title="Per-sample delta of one versicolor row (seed 0)")
    ax.set_yscale("symlog", linthresh=1e-5)
    ax.legend(loc="lower left", title="> 0 pushes o up; < 0: o is past t'", title_fontsize=7)

    ax = axes[1]
    mean = records.groupby(["a", "step"]).mean(numeric_only=True).reset_index()
    lo = records.groupby(["a", "step"]).min(numeric_only=True).reset_index()
    hi = records.groupby(["a", "step"]).max(numeric_only=True).reset_index()
    for a in SMOOTHING:
        sel = (mean["a"] == a) & (mean["step"] > 0)
        lab = "hard targets" if a == 0 else f"LS a = {a:g}"
        style.band(ax, mean["step"][sel], mean["past_target"][sel], lo["past_target"][sel], hi["past_target"][sel],
                   COLORS[a], f"{lab}: past t' now", alpha=0.15)
        ax.plot(mean["step"][sel], mean["ever_flipped_share"][sel], color=COLORS[a], ls="--", lw=1.0)
    ax.plot([], [], color=style.GREY, ls="--", label="dashed: flipped at least once")
    ax.set(xscale="log", xlabel="SGD steps (batch 1)", ylabel="share of training rows", ylim=(-0.02, 1.02),
           title="Rows whose true-class output is past t'")
    ax.legend(loc="upper left", fontsize=7)

    ax = axes[2]
    for a in SMOOTHING[1:]:
        first = np.sort(rows[(rows["a"] == a) & (rows["first_flip_step"] >= 0)]["first_flip_step"].to_numpy())
        total = (rows["a"] == a).sum()
        ax.step(np.maximum(first, 1), np.arange(1, first.size + 1) / total, where="post", color=COLORS[a],
                label=f"LS a = {a:g}")
    ax.set(xscale="log", xlabel="step of the first sign flip", ylabel="share of rows flipped by then",
           ylim=(-0.02, 1.02), title="When each row's update first flips")
    ax.text(0.03, 0.97, "hard targets: no row ever flips", transform=ax.transAxes, va="top", fontsize=8,
            color=COLORS[0.0])
    ax.legend(loc="lower right")
    fig.suptitle(f"C5 in training: Iris 4-7-3 (sigmoid hidden units, softmax, CE), online SGD lr {LR:g}; "
                 f"{st['seeds']} seeds", fontsize=9)
    settings = dict(data="gl.datasets.iris(), 80/20 split seed 0, standardised", sizes=[4, 7, 3], hidden="sigmoid",
                    output="softmax", loss="ce", lr=LR, batch_size=1, steps=st["steps"], seeds=list(range(st["seeds"])),
                    record_every=st["record_every"], smoothing=SMOOTHING,
                    traced=[[1, HIDDEN_UNIT, k] for k in range(3)])
    steps = np.sort(mean["step"].unique())
    kept = steps[np.unique(np.searchsorted(steps, curves.log_steps(st["record_every"], steps[-1], per_decade=40)))]
    data = {"records": mean[mean["step"].isin(kept)], "rows": rows, "traces": shown[shown["step"].isin(kept)]}
    files = save_figure(ctx, fig, "c05_delta_traces", data, settings)
    end = records[records["step"] == records["step"].max()]
    numbers = dict(
        trace_vs_past_target_max=float((records["negative_trace_share"] - records["past_target"]).abs().max()),
        hard_rows_ever_flipped=int((rows[rows["a"] == 0]["first_flip_step"] >= 0).sum()))
    for a in SMOOTHING[1:]:
        r = rows[rows["a"] == a]
        numbers[f"ls{a:g}_median_first_flip_step"] = float(r[r["first_flip_step"] >= 0]["first_flip_step"].median())
        numbers[f"ls{a:g}_share_flipped_by_end"] = float((r["first_flip_step"] >= 0).mean())
        numbers[f"ls{a:g}_share_past_target_at_end"] = float(end[end["a"] == a]["past_target"].mean())
        numbers[f"ls{a:g}_sign_changes_per_row"] = float(r["sign_changes"].mean())
    return files, numbers


def run(ctx):
    files, numbers = figure(ctx)
    return [Supporting("C5", "per-sample delta traces of hidden-to-true-class weights during training, hard vs "
                       "smoothed targets: when each row's update flips sign, and the share of rows past t'.",
                       [f for f in files if f.endswith(".png")], [Number(k, v) for k, v in numbers.items()])]


if __name__ == "__main__":
    script_main(run, CLAIMS)
