"""The report checks itself: where two sections measure the same quantity in the same regime,
their numbers are compared and a disagreement is said in REPORT.md."""
import math
from dataclasses import dataclass

from . import rules


@dataclass(frozen=True)
class Check:
    """One quantity measured by two sections: ``first`` and ``second`` are (claim, number,
    number of its standard error); ``margin`` the material difference of `rules.paired_call`
    (None: the two are compared by their distance alone)."""
    quantity: str
    first: tuple
    second: tuple
    margin: float
    note: str
    settings: tuple = ()  # (claim, number, label): choices each section made, stated beside the comparison


CHECKS = (
    Check("test ECE, LS minus hard targets: digits 64-5-10 ReLU, SGD lr 0.05, batch 32, 300 epochs",
          ("C11", "e1_regime_ece_ls_minus_hard", "e1_regime_ece_ls_minus_hard_se"),
          ("E1", "ls_minus_hard_ece", "ls_minus_hard_ece_se"), rules.C11_ECE_MARGIN,
          "C11's map chooses a on validation NLL over 5 seeds, E1 on held-out ECE over 10 seeds; both paired by seed",
          (("C11", "e1_regime_a", "C11's a"), ("E1", "ls_best_a_ece", "E1's a"))),
    Check("test NLL, LS minus hard targets: digits 64-5-10 ReLU, SGD lr 0.05, batch 32, 300 epochs",
          ("C11", "e1_regime_nll_ls_minus_hard", "e1_regime_nll_ls_minus_hard_se"),
          ("E1", "ls_minus_hard_nll", "ls_minus_hard_nll_se"), rules.C11_NLL_MARGIN,
          "C11's map chooses a on validation NLL over 5 seeds, E1 on held-out NLL over 10 seeds",
          (("C11", "e1_regime_a", "C11's a"), ("E1", "ls_best_a_nll", "E1's a"))),
    Check("final weight norm, LS (a = 0.1) minus hard targets: digits 64-16-10 ReLU, SGD lr 0.05, batch 32, 100 epochs",
          ("C7", "base_norm_ls_minus_hard", "base_norm_ls_minus_hard_se"),
          ("C8", "base_norm_ls_minus_hard", "base_norm_ls_minus_hard_se"), None,
          "C7's map reads the norm at epoch 100 of runs trained 300 epochs and recorded every epoch, C8's map trains "
          "C11's runs 100 epochs; the same seeds, so the two should match to rounding"),
)
OPPOSITE = {("better", "not better"), ("not better", "better"), ("better", "worse"), ("worse", "better")}


def _value(report, claim, name):
    """The number ``name`` of ``claim``: from its verdict's numbers, else from its supporting scripts'."""
    numbers = [*report.get("claims", {}).get(claim, {}).get("numbers", []),
               *(n for entry in report.get("supporting", {}).get(claim, {}).values() for n in entry.get("numbers", []))]
    value = next((n["value"] for n in numbers if n["name"] == name), None)
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def check(report, checks=CHECKS):
    """One dict per check whose four numbers are all in ``report`` (a report.json dict):
    quantity, note, the two (value, se) pairs, their calls (`rules.paired_call`) and
    ``agree``: False when the two differ by more than 2 combined standard errors
    (``|x - y| > 2 sqrt(se_x^2 + se_y^2)``) or one section finds a material gain that the
    other excludes."""
    rows = []
    for c in checks:
        values = [(_value(report, claim, v), _value(report, claim, s)) for claim, v, s in (c.first, c.second)]
        if any(v is None for pair in values for v in pair):
            continue
        (x, sx), (y, sy) = values
        calls = tuple(rules.paired_call(v, s, c.margin, sided="no gain") for v, s in values) \
            if c.margin is not None else None
        apart = abs(x - y) > rules.SE_FACTOR * math.hypot(sx, sy)
        chosen = [(label, _value(report, claim, name)) for claim, name, label in c.settings]
        note = c.note + "".join(f"; {label} = {v:g}" for label, v in chosen if v is not None)
        rows.append(dict(quantity=c.quantity, note=note, first=(c.first[0], x, sx), second=(c.second[0], y, sy),
                         calls=calls, agree=not apart and calls not in OPPOSITE))
    return rows


def render(report, checks=CHECKS):
    """Markdown lines of the self-check: one bullet per check, a disagreement in bold."""
    rows = check(report, checks)
    if not rows:
        return []
    lines = ["## The report against itself", "",
             "Where two sections measure the same quantity in the same regime, their numbers (mean ± standard error "
             "over seeds) are compared: they disagree when they are more than 2 combined standard errors apart, or "
             "when one finds a material gain that the other excludes.", ""]
    for r in rows:
        (a, x, sx), (b, y, sy) = r["first"], r["second"]
        said = "agree" if r["agree"] else "**disagree**"
        calls = r["calls"] or ("", "")
        lines.append(f"- {r['quantity']}: {a} {x:+.4g} ± {sx:.2g}{f' ({calls[0]})' if calls[0] else ''}, {b} {y:+.4g} "
                     f"± {sy:.2g}{f' ({calls[1]})' if calls[1] else ''}: they {said}. {r['note']}.")
    return lines + [""]
