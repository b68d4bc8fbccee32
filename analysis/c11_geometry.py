"""C7/C11 geometry, after Müller, Kornblith & Hinton (2019), Fig. 1: the last-hidden-layer
activations of three digit classes projected onto the plane through those classes' output
templates (columns of the output weights), for hard targets, LS and L2 at LS's weight norm.

Figure c11_geometry: one panel per method (seed 0; digits fit rows), the templates marked, and
the tightness (within-class RMS spread / RMS spread of the class means; smaller is tighter)
over all seeds in each title. This script returns no verdict of its own: its numbers enter the
C11 result of analysis/c11_calibration.py, which runs the same library call
(`gradlab.knobs.geometry`) on the same cached sweeps.
"""
import numpy as np
import pandas as pd

from gradlab import knobs
from gradlab.report import save_figure, script_main, style

CLAIMS = ("C11",)
CLASSES = knobs.GEOMETRY_CLASSES
TITLES = {"hard": "hard targets", "ls": f"LS a = {knobs.GEOMETRY_A:g}", "l2": "L2"}
MARKERS = ("o", "s", "^")


def plot(table, points, settings):
    fig, axes = style.subplots(1, 3)
    for ax, method in zip(axes, TITLES):
        P, y, T = points[(method, 0)]
        for c, color, marker in zip(CLASSES, style.PALETTE, MARKERS):
            ax.scatter(*P[y == c].T, s=7, alpha=0.55, color=color, marker=marker, lw=0, label=f"digit {c}")
        ax.scatter(*T.T, s=90, marker="*", color=style.BLACK, label="class templates")
        g = table[table.method == method]
        lam = g.strength.iloc[0]
        title = TITLES[method] + (f" (lambda = {lam:.2g}, matched norm)" if method == "l2" else "")
        ax.set_title(f"{title}\ntightness {g.tightness.mean():.3f} +- {g.tightness.std(ddof=1):.3f} "
                     f"({len(g)} seeds)", fontsize=9)
        ax.set_xlabel("coordinate 1 in the template plane")
        ax.set_ylabel("coordinate 2 in the template plane")
        ax.set_aspect("equal", adjustable="datalim")
    axes[0].legend(loc="best", fontsize=7)
    fig.suptitle(f"Last hidden layer (digits {'-'.join(map(str, settings['sizes']))}, seed 0, training rows) projected "
                 f"onto the plane through the templates of digits {', '.join(map(str, CLASSES))}")
    return fig


def run(ctx):
    table, points = knobs.geometry(ctx, CLASSES)
    settings = knobs.settings("digits", ctx.quick)
    frames = {"tightness": table,
              "points": pd.concat([pd.DataFrame({"method": m, "seed": s, "x": P[:, 0], "y": P[:, 1], "label": y})
                                   for (m, s), (P, y, _) in points.items() if s == 0])}
    save_figure(ctx, plot(table, points, settings), "c11_geometry", frames,
                {**settings, "classes": CLASSES, "ls_a": knobs.GEOMETRY_A, "rows": "fit (training) rows of the classes",
                 "tightness": "sqrt(mean ||p - c_y||^2) / sqrt(mean_k ||c_k - mean c||^2) in the 2-D projection",
                 "plane": "origin: template of the first class; basis: Gram-Schmidt of the other two minus it"})
    return []


if __name__ == "__main__":
    script_main(run, CLAIMS)
