"""The claims report: figure style, ``save_figure``, the result types analysis scripts return,
verdict rules (``gradlab.report.rules``) and the runner behind ``gradlab report``.

An analysis script ``analysis/cNN_<topic>.py`` defines ``CLAIMS``, ``run(ctx) -> [ClaimResult or Supporting]``
and ends with ``script_main(run, CLAIMS)``.
"""
from . import rules, style
from .results import CLAIM_IDS, ClaimResult, Context, Number, Supporting
from .runner import script_main
from .save import save_figure

__all__ = ["CLAIM_IDS", "ClaimResult", "Context", "Number", "rules", "save_figure", "script_main", "style", "Supporting"]
