"""C6 against the literature (Soudry et al., 2018, JMLR): logistic regression trained by full-batch
gradient descent on linearly separable data. ``w(t)`` should turn towards the hard-margin separator
``w_hat`` and ``||w(t)||`` grow like ``||w_hat|| ln t``; both approaches are slow, O(1 / ln t),
so the figure follows them decade by decade.

The bias is part of the separator: GD trains ``[w, b]`` on inputs ``[x, 1]``, so ``w_hat`` is the
hard-margin separator of the augmented inputs with the bias in its norm, and every norm and angle
here is taken over ``[w, b]``.

Figure: c06_max_margin. C6's verdict is given by c06_weight_growth.py, which calls `figure` from
here; run on its own, this script redraws the figure and leaves the report as it is.
"""
import numpy as np
import pandas as pd
from matplotlib import ticker

import gradlab as gl
from gradlab import cache, curves, margins
from gradlab.report import script_main, style, save_figure

CLAIMS = ("C6",)
LR = 1.0  # below 2 / (beta sigma_max^2) = 8 / lambda_max(X^T X / n) (logistic beta = 1/4) on these inputs
DATA = dict(n_samples=200, n_classes=2, n_features=2, separable=True, seed=0)
NET_SEED = 0
FULL_STEPS, QUICK_STEPS = 10 ** 6, 10 ** 4
FIRST_DECADE_END = 10 ** 3  # decades [10^2, 10^3], ..., up to the last step
PER_DECADE = 10


def compute(quick, ctx=None):
    """Checkpoints of the GD run with norm, per-decade slope and angle to w_hat; and w_hat. The
    path is cached under ``ctx.runs`` when ``ctx`` is given (`gradlab.cache`)."""
    X, y = gl.datasets.blobs(**DATA)
    X = gl.datasets.standardize(X)  # affine: keeps separability, improves the conditioning
    w_hat = margins.max_margin_separator(X, y, bias=True)
    steps = QUICK_STEPS if quick else FULL_STEPS
    checkpoints = np.concatenate([[0], curves.log_steps(1, steps, PER_DECADE)])
    net = gl.MLP([2, 1], output="sigmoid", seed=NET_SEED)
    key = [X, y, checkpoints, net.sizes, net.output, net.params, LR, "ce"]
    train = lambda: margins.parameter_path(net, X, y, checkpoints, lr=LR, loss="ce")  # noqa: E731
    path = train() if ctx is None else cache.cached(ctx, "c06_max_margin_path", key, train)  # rows [w_0, w_1, b]
    path_table = pd.DataFrame({"step": checkpoints, "w0": path[:, 0], "w1": path[:, 1], "b": path[:, 2],
                               "norm_wb": np.linalg.norm(path, axis=1),
                               "angle_deg": [np.degrees(margins.angle(p, w_hat)) for p in path]})
    ends = 10.0 ** np.arange(np.log10(FIRST_DECADE_END), np.log10(steps) + 0.5)
    slopes = margins.decade_slopes(checkpoints, path_table["norm_wb"], ends)
    decades = pd.DataFrame({"decade_end": ends.astype(np.int64), "slope": slopes,
                            "slope_over_norm_w_hat": slopes / np.linalg.norm(w_hat),
                            "angle_deg_at_end": margins.value_at(checkpoints, path_table["angle_deg"], ends)})
    return X, y, w_hat, path_table, decades


def _boundary(ax, v, xlim, **kw):
    """The line v0 x0 + v1 x1 + v2 = 0 across xlim."""
    x0 = np.array(xlim)
    return ax.plot(x0, -(v[0] * x0 + v[2]) / v[1], **kw)[0]


def _support(X, y, w_hat):
    """The rows on the margin of the separator w_hat (its support vectors)."""
    return np.column_stack([X, np.ones(len(X))]) @ w_hat * (2 * y - 1) <= 1 + 1e-6


def numbers(ctx):
    """The figure's numbers (dict) without drawing it: c06_weight_growth reports them."""
    X, y, w_hat, path, decades = compute(ctx.quick, ctx)
    ratio = decades["slope_over_norm_w_hat"].to_numpy()
    angles = decades["angle_deg_at_end"].to_numpy()
    return dict(
        soudry_norm_w_hat=float(np.linalg.norm(w_hat)),
        soudry_support_vectors=int(_support(X, y, w_hat).sum()),
        soudry_slope_ratio_first=float(ratio[0]),
        soudry_slope_ratio_last=float(ratio[-1]),
        soudry_angle_first_deg=float(angles[0]),
        soudry_angle_last_deg=float(angles[-1]),
        soudry_ratio_approaching=bool(np.all(np.diff(np.abs(1 - ratio)) < 0)),
        soudry_angle_decreasing=bool(np.all(np.diff(angles) < 0)),
        soudry_decades=len(ratio),
    )


def figure(ctx):
    """Draw and save c06_max_margin; returns the file names."""
    X, y, w_hat, path, decades = compute(ctx.quick, ctx)
    norm_hat = float(np.linalg.norm(w_hat))
    fig, axes = style.subplots(2, 2)
    ax = axes[0, 0]
    lim = (X[:, 0].min() - 0.3, X[:, 0].max() + 0.3)
    for label, color, marker in ((0, style.ORANGE, "o"), (1, style.BLUE, "^")):
        ax.scatter(*X[y == label].T, s=10, color=color, marker=marker, alpha=0.7, label=f"class {label}")
    support = _support(X, y, w_hat)
    ax.scatter(*X[support].T, s=60, facecolors="none", edgecolors="black", linewidths=0.8,
               label=f"support vectors ({support.sum()})")
    _boundary(ax, w_hat, lim, color="black", label="max-margin separator")
    for v, label in ((w_hat - np.r_[0, 0, 1], "margin: w_hat.[x, 1] = +-1"), (w_hat + np.r_[0, 0, 1], None)):
        _boundary(ax, v, lim, color=style.GREY, ls="--", lw=0.8, label=label)
    shown = [s for s in (10, 10 ** 3, path["step"].iloc[-1]) if s <= path["step"].iloc[-1]]
    for s, color in zip(shown, (style.GREEN, style.PURPLE, style.VERMILLION)):
        row = path[path["step"] == s].iloc[0]
        _boundary(ax, row[["w0", "w1", "b"]].to_numpy(float), lim, color=color, ls=":", lw=1.4,
                  label=f"GD at step {s:,}")
    # room below the data for the legend (the boundaries leave the panel on the left there)
    ax.set(xlim=lim, ylim=(X[:, 1].min() - 2.6, X[:, 1].max() + 0.3), xlabel="x0 (standardised)",
           ylabel="x1 (standardised)", title="Data and decision boundaries")
    ax.legend(loc="lower right", fontsize=7, ncol=2)

    ax = axes[0, 1]
    p = path[path["step"] > 0]
    ax.plot(p["step"], p["norm_wb"], color=style.BLACK, label="GD: ||[w, b]||")
    last = p.iloc[-1]
    ref = last["norm_wb"] + norm_hat * (np.log(p["step"]) - np.log(last["step"]))
    ax.plot(p["step"], ref, color=style.GREY, ls="--", label=f"slope ||w_hat|| = {norm_hat:.3f} per unit ln t")
    ax.set(xscale="log", xlabel="steps t (full-batch GD)", ylabel="||[w, b]||", title="Norm against ln t")
    ax.legend(loc="upper left")

    ax = axes[1, 0]
    ax.plot(decades["decade_end"], decades["slope_over_norm_w_hat"], "o-", color=style.BLUE,
            label="d||[w, b]|| / d ln t over the decade ending here")
    ax.axhline(1.0, color=style.GREY, ls="--", label="||w_hat|| (Soudry et al. 2018)")
    ax.set(xscale="log", xlabel="end of decade (steps)", ylabel="slope / ||w_hat||", ylim=(0, 1.15),
           title="Growth rate per decade")
    ax.legend(loc="lower right")

    ax = axes[1, 1]
    ax.plot(p["step"], p["angle_deg"], color=style.VERMILLION)
    ax.set(xscale="log", yscale="log", xlabel="steps t", ylabel="angle to w_hat (degrees)",
           title="Direction: angle between [w, b](t) and w_hat")
    ax.yaxis.set_major_formatter(ticker.ScalarFormatter())
    ax.yaxis.set_minor_formatter(ticker.NullFormatter())
    ax.set_yticks([2, 3, 5, 10, 20, 40])
    fig.suptitle(f"C6: logistic regression by full-batch GD (lr {LR:g}) on separable blobs (n = {len(y)}), "
                 "against the max-margin separator w_hat", fontsize=9)

    settings = dict(data=dict(name="gl.datasets.blobs", **DATA, standardized=True), net=dict(sizes=[2, 1],
                    output="sigmoid", loss="ce", seed=NET_SEED), lr=LR, batch="full", steps=int(path["step"].iloc[-1]),
                    bias="in the separator: hard-margin SVM on [x, 1] with b in the norm; norms and angles over [w, b]",
                    w_hat=w_hat, checkpoints_per_decade=PER_DECADE)
    return save_figure(ctx, fig, "c06_max_margin", {"path": path, "decades": decades}, settings)


def run(ctx):
    figure(ctx)
    return []


if __name__ == "__main__":
    script_main(run, CLAIMS)
