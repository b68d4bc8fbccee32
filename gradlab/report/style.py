"""One look for every figure: the Okabe-Ito palette (colour-blind-safe), font sizes, grid,
150 dpi, and a standard panel size of 4.2 x 3.2 in (630 x 480 px per panel at 150 dpi).

Figures are ``matplotlib.figure.Figure`` objects made without pyplot, so scripts run headless
and leave no global figure state behind.
"""
import matplotlib
import numpy as np
from cycler import cycler
from matplotlib.figure import Figure

# Okabe & Ito (2008), "Color universal design": distinguishable with every common colour-vision deficiency
BLUE, VERMILLION, GREEN, ORANGE, PURPLE, SKY, YELLOW, BLACK = (
    "#0072B2", "#D55E00", "#009E73", "#E69F00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
GREY = "#8C8C8C"
PALETTE = [BLUE, VERMILLION, GREEN, ORANGE, PURPLE, SKY, YELLOW, BLACK]

# recurring series keep their colour across figures
COLORS = {
    "hard": VERMILLION, "ls": BLUE, "l2": GREEN, "l1": ORANGE, "wd": PURPLE, "temp": SKY,
    "mse": BLACK, "ce": BLUE, "exact": BLACK, "diagonal": ORANGE, "sigmoid": GREEN,
    "softmax": BLUE, "teacher": PURPLE, "reference": GREY,
}

DPI = 150
PANEL_SIZE = (4.2, 3.2)  # inches per panel (width, height)

RC = {
    "figure.dpi": DPI, "savefig.dpi": DPI, "font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9,
    "xtick.labelsize": 8, "ytick.labelsize": 8, "legend.fontsize": 8, "legend.framealpha": 0.85,
    "axes.grid": True, "grid.alpha": 0.3, "grid.linewidth": 0.6, "axes.spines.top": False,
    "axes.spines.right": False, "lines.linewidth": 1.6, "axes.prop_cycle": cycler(color=PALETTE),
    "image.cmap": "cividis",
}


def apply():
    """Set the report's rcParams (global to matplotlib)."""
    matplotlib.rcParams.update(RC)


def pixel_size(nrows=1, ncols=1):
    """(width, height) in pixels of a figure from ``subplots(nrows, ncols)``."""
    return round(ncols * PANEL_SIZE[0] * DPI), round(nrows * PANEL_SIZE[1] * DPI)


def subplots(nrows=1, ncols=1, **kw):
    """(fig, axes) with the standard size per panel and constrained layout; ``kw`` goes to
    ``Figure.subplots`` (sharex, squeeze, subplot_kw, ...)."""
    apply()
    fig = Figure(figsize=(ncols * PANEL_SIZE[0], nrows * PANEL_SIZE[1]), dpi=DPI, layout="constrained")
    return fig, fig.subplots(nrows, ncols, **kw)


def band(ax, x, mean, lo, hi, color, label=None, alpha=0.25):
    """Mean line with a shaded spread band from ``lo`` to ``hi``."""
    ax.fill_between(x, lo, hi, color=color, alpha=alpha, linewidth=0)
    return ax.plot(x, mean, color=color, label=label)[0]


SQRT3_2 = np.sqrt(3) / 2  # height of the unit equilateral triangle


def ternary_xy(P):
    """Barycentric rows (p1, p2, p3) -> plane (x, y): p1 at (0, 0), p2 at (1, 0), p3 at the apex."""
    P = np.asarray(P, dtype=float)
    return P[..., 1] + P[..., 2] / 2, P[..., 2] * SQRT3_2


def ternary_raster(width=300):
    """Pixel centres of the triangle's bounding box as barycentric points: (P (h, w, 3), inside
    (h, w) mask of points strictly inside the simplex, extent for ``imshow(origin="lower")``)."""
    height = int(round(width * SQRT3_2))
    x = (np.arange(width) + 0.5) / width
    y = (np.arange(height) + 0.5) / height * SQRT3_2
    X, Y = np.meshgrid(x, y)
    p3 = Y / SQRT3_2
    p2 = X - p3 / 2
    P = np.stack([1 - p2 - p3, p2, p3], axis=-1)
    return P, (P > 0).all(axis=-1), (0.0, 1.0, 0.0, float(SQRT3_2))


def ternary_frame(ax, labels):
    """Triangle outline with vertex ``labels`` (class 1, 2, 3); no ticks, equal aspect."""
    ax.plot([0, 1, 0.5, 0], [0, 0, SQRT3_2, 0], color="black", lw=0.8)
    for (x, y), label, ha, va in zip([(0, 0), (1, 0), (0.5, SQRT3_2)], labels,
                                     ["right", "left", "center"], ["top", "top", "bottom"]):
        ax.text(x, y, label, ha=ha, va=va, fontsize=8)
    ax.set_aspect("equal")
    ax.set_xlim(-0.12, 1.12)
    ax.set_ylim(-0.1, SQRT3_2 + 0.08)
    ax.axis("off")
