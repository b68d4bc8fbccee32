"""Regime-map figures: one heatmap per panel of a map (`gradlab.regimes.Panel`), each cell
coloured by its effect in units of its standard error and marked with its verdict."""
import textwrap
from dataclasses import replace

import numpy as np

from .. import regimes
from . import style
from .results import Number

MARKS = {"holds": "✓", "fails": "✗", "inconclusive": "?"}
Z_CLIP = 6.0  # colours saturate at 6 standard errors


PAIRED = "each cell: verdict and paired differences (means over seeds); colour: the first / its standard error"


def draw(cells, panels, value, se, verdict, title, effect_label, fmt="{:+.3f}", also=(), value_label="",
         subtitle=PAIRED, shift=0.0):
    """``cells``: one row per regime with the `regimes.AXES` columns, ``value`` (the effect,
    coloured), ``se`` (its standard error) and ``verdict`` (keys of `MARKS`); ``also``: further
    (label, column) pairs written in each cell below ``value`` (labelled ``value_label``);
    ``subtitle`` says what a cell shows; the colour is ``(value - shift) / se`` (``shift``: a
    threshold the verdict compares the value with). Returns the figure."""
    ncols = min(3, len(panels))
    nrows = -(-len(panels) // ncols)
    fig, axes = style.subplots(nrows, ncols, squeeze=False)
    index = cells.set_index(list(regimes.AXES))
    image = None
    for ax, p in zip(axes.flat, panels):
        Z = np.full((len(p.row_values), len(p.col_values)), np.nan)
        for i, r in enumerate(p.row_values):
            for j, c in enumerate(p.col_values):
                cell = replace(p.base, **{p.rows: r, p.cols: c})
                key = tuple(getattr(cell, a) for a in regimes.AXES)
                if key not in index.index:
                    ax.text(j, i, "not\nmeasured", ha="center", va="center", fontsize=7, color="0.4")
                    continue
                row = index.loc[key]
                z = row[value] - shift
                Z[i, j] = z / row[se] if row[se] > 0 else np.sign(z) * Z_CLIP
                dark = abs(Z[i, j]) > Z_CLIP / 2
                lines = [MARKS[row[verdict]], f"{fmt.format(row[value])}{value_label}"]
                lines += [f"{fmt.format(row[v])}{label}" for label, v in also]
                ax.text(j, i, "\n".join(lines), ha="center", va="center", fontsize=7,
                        color="white" if dark else "black")
        image = ax.imshow(np.clip(Z, -Z_CLIP, Z_CLIP), cmap="RdBu_r", vmin=-Z_CLIP, vmax=Z_CLIP, aspect="auto")
        ax.set_xticks(range(len(p.col_values)), [regimes.axis_text(p.cols, v) for v in p.col_values], fontsize=7)
        ax.set_yticks(range(len(p.row_values)), [regimes.axis_text(p.rows, v) for v in p.row_values], fontsize=7)
        ax.set_xlabel(regimes.AXES[p.cols])
        ax.set_ylabel(regimes.AXES[p.rows])
        ax.set_title(textwrap.fill(p.title(), 48), fontsize=8)
        ax.grid(False)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    bar = fig.colorbar(image, ax=axes, shrink=0.8)
    bar.set_label(f"{effect_label} / its SE (clipped at ±{Z_CLIP:g})")
    fig.suptitle(f"{title}\n{MARKS['holds']} holds, {MARKS['fails']} fails, {MARKS['inconclusive']} inconclusive; "
                 f"{subtitle}")
    return fig


def verdict_numbers(cells, verdict, panels, holds_text, fails_text):
    """The counts and domains a map rule judges, from the cell table: ``cells``,
    ``cells_holds``, ``cells_fails`` and ``domain_holds`` / ``domain_fails`` (`regimes.describe`
    of the cells whose ``verdict`` column says so; 'no regime' when none)."""
    holds, fails = (cells[verdict] == "holds").to_numpy(), (cells[verdict] == "fails").to_numpy()
    return [Number("cells", len(cells), "regimes", "cells of the map"),
            Number("cells_holds", int(holds.sum()), "regimes", holds_text),
            Number("cells_fails", int(fails.sum()), "regimes", fails_text),
            Number("domain_holds", regimes.describe(cells, holds, panels) or "no regime", "", "where it holds"),
            Number("domain_fails", regimes.describe(cells, fails, panels) or "no regime", "", "where it fails")]


def base_norm_numbers(table, column):
    """The final weight norm's paired difference LS minus hard targets (``column`` of a cell
    table) in the cell `regimes.BASE`, with its standard error: the report compares C7's map with C8's there. Empty
    when the map has no such cell."""
    value, se = regimes.at(table, regimes.BASE, column), regimes.at(table, regimes.BASE, f"{column}_se")
    if not np.isfinite(value):
        return []
    cell = ", ".join(f"{regimes.AXES[a]} {regimes.axis_text(a, getattr(regimes.BASE, a))}" for a in regimes.AXES)
    return [Number("base_norm_ls_minus_hard", value, "", f"final weight norm, LS minus hard targets, paired over "
                   f"seeds, in the cell {cell}"),
            Number("base_norm_ls_minus_hard_se", se, "", "its standard error")]
