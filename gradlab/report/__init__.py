"""The claims report: figure style, ``save_figure``, the result types analysis scripts return,
verdict rules (``gradlab.report.rules``) and the runner behind ``gradlab report``.

An analysis script ``analysis/cNN_<topic>.py`` defines ``CLAIMS``, ``run(ctx) -> [ClaimResult or Supporting]``
and ends with ``script_main(run, CLAIMS)``.

``style`` and ``save_figure`` need matplotlib and are imported on first use, so the command line
(which reads ``runner``'s arguments for every subcommand) starts without it.
"""
import importlib

from . import rules
from .results import CLAIM_IDS, ClaimResult, Context, Number, Supporting
from .runner import script_main


def __getattr__(name):
    """``style`` and ``save_figure``, imported on first use (they import matplotlib)."""
    if name == "style":
        return importlib.import_module(".style", __name__)
    if name == "save_figure":
        return importlib.import_module(".save", __name__).save_figure
    raise AttributeError(f"module 'gradlab.report' has no attribute {name!r}")


__all__ = ["CLAIM_IDS", "ClaimResult", "Context", "Number", "rules", "save_figure", "script_main", "style", "Supporting"]
