"""What an analysis script hands back: its settings (`Context`), its measured `Number`s and
one `ClaimResult` per claim, each checked on construction."""
import math
import numbers
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import rules
from .paths import ROOT

# the claims of CLAIMS.md, in its order, with a short title in our words (shown before a claim is measured)
CLAIM_TITLES = {
    "C1": "softmax + cross-entropy: the error term is o - t",
    "C2": "MSE: the update also carries (t - o)",
    "C3": "smoothed targets are (1 - a) t + a / K; 0.9 / 0.1 is K = 2, a = 0.2",
    "C4": "label smoothing acts only through the target",
    "C5": "the worked example; with LS the update flips sign once o passes t'",
    "C6": "with hard targets the weights keep growing",
    "C7": "label smoothing keeps the weights from growing large",
    "C8": "weight decay, L1 or L2 have roughly the same effect as LS",
    "C9": "there is no principled way to choose a",
    "C10": "LS is not tied to cross-entropy",
    "C11": "LS does not help confidence or calibration",
    "E1": "class-mean hidden patterns of a teacher as learned targets",
}
CLAIM_IDS = tuple(CLAIM_TITLES)


def claim_id(value, name="claim"):
    """The canonical claim id ("c6" -> "C6"); ValueError naming ``name`` if unknown."""
    if not isinstance(value, str) or value.strip().upper() not in CLAIM_TITLES:
        raise ValueError(f"{name}: unknown claim {value!r}; claims are {', '.join(CLAIM_IDS)}")
    return value.strip().upper()


@dataclass
class Context:
    """Where and how a script runs: ``out`` figures folder (created), ``quick`` small settings,
    ``fresh`` ignore cached sweep results, ``runs`` cache folder (default ``runs/`` or
    ``runs/quick`` at the repository root), ``progress`` show progress bars, ``scheduler`` where
    the sweeps train: None (here), a Dask scheduler address or a ``distributed.Client``, passed
    as ``scheduler=`` to every `gl.sweep` a script makes (results are the same bit for bit)."""
    out: Path
    quick: bool = False
    fresh: bool = False
    runs: Path = None
    progress: bool = False
    scheduler: object = None

    def __post_init__(self):
        self.out = Path(self.out)
        self.out.mkdir(parents=True, exist_ok=True)
        if self.runs is None:
            self.runs = ROOT / "runs" / "quick" if self.quick else ROOT / "runs"
        self.runs = Path(self.runs)


@dataclass
class Number:
    """A measured number as the report shows it. Rules read numbers by ``name``, so a rule's
    parameters are named like the numbers it judges (see ``rules.reapply``)."""
    name: str
    value: object
    unit: str = ""
    note: str = ""

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name: a non-empty string is needed; got {self.name!r}")
        v = self.value
        if hasattr(v, "item") and getattr(v, "ndim", 0) == 0:  # numpy scalar
            v = v.item()
        if isinstance(v, bool) or isinstance(v, str):
            pass
        elif isinstance(v, numbers.Integral):
            v = int(v)
        elif isinstance(v, numbers.Real):
            v = float(v)
        else:
            raise TypeError(f"value: {self.name}: a float, int, bool or str is needed; got {type(v).__name__}")
        self.value = v

    def to_dict(self):
        v = self.value
        if isinstance(v, float) and not math.isfinite(v):
            v = str(v)  # JSON has no nan / inf
        return {"name": self.name, "value": v, "unit": self.unit, "note": self.note}


@dataclass
class ClaimResult:
    """A claim's result: verdict and reason come from ``rules.<rule>`` applied to ``numbers``."""
    claim: str
    title: str
    statement: str
    verdict: str
    reason: str
    numbers: list = field(default_factory=list)
    figures: list = field(default_factory=list)
    rule: str = ""

    def __post_init__(self):
        self.claim = claim_id(self.claim)
        if self.verdict not in rules.VERDICTS:
            raise ValueError(f"verdict: one of {rules.VERDICTS} is needed; got {self.verdict!r}")
        if not callable(getattr(rules, self.rule, None)) or not self.rule.startswith("rule_"):
            raise ValueError(f"rule: the name of a rule function in gradlab.report.rules is needed; got {self.rule!r}")
        bad = [n for n in self.numbers if not isinstance(n, Number)]
        if bad:
            raise TypeError(f"numbers: Number objects are needed; got {type(bad[0]).__name__}")
        names = [n.name for n in self.numbers]
        if len(set(names)) != len(names):
            raise ValueError(f"numbers: names must be unique; got {names}")
        if not all(isinstance(f, str) and f.endswith(".png") for f in self.figures):
            raise ValueError(f"figures: png file names are needed; got {self.figures!r}")

    def to_dict(self):
        d = asdict(self)
        d["numbers"] = [n.to_dict() for n in self.numbers]
        return d


@dataclass
class Supporting:
    """Figures and numbers that inform a claim without being inputs to its verdict rule (for
    instance a second view drawn by another script). Shown in the claim's section under
    "Also measured"; ``caption`` says what they show; ``tables`` are ``{"title", "text"}``
    dicts shown as preformatted text (tables in a layout of their own, such as the reader's)."""
    claim: str
    caption: str
    figures: list = field(default_factory=list)
    numbers: list = field(default_factory=list)
    tables: list = field(default_factory=list)

    def __post_init__(self):
        self.claim = claim_id(self.claim)
        if not isinstance(self.caption, str) or not self.caption:
            raise ValueError("caption: a non-empty string is needed")
        if not all(isinstance(n, Number) for n in self.numbers):
            raise TypeError("numbers: Number objects are needed")
        if not all(isinstance(f, str) and f.endswith(".png") for f in self.figures):
            raise ValueError(f"figures: png file names are needed; got {self.figures!r}")
        if not all(isinstance(t, dict) and set(t) == {"title", "text"} and all(isinstance(v, str) for v in t.values())
                   for t in self.tables):
            raise ValueError("tables: dicts with a 'title' and a 'text' string are needed")

    @classmethod
    def judged(cls, claim, what, rule, numbers, figures):
        """A supporting result whose numbers a rule can judge on their own (e.g. one regime's
        mechanism beside a claim's map): the caption is ``what`` followed by the rule's verdict
        and reason on ``numbers``."""
        verdict, reason = rules.reapply(rule, numbers)
        return cls(claim, f"{what}. Judged alone by rules.{rule}: {verdict}; {reason}.", figures, numbers)

    def to_dict(self):
        return {"caption": self.caption, "figures": list(self.figures), "numbers": [n.to_dict() for n in self.numbers],
                "tables": [dict(t) for t in self.tables]}
