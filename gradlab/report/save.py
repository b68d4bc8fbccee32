"""``save_figure``: the one helper that writes a figure together with its data and settings."""
import functools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from .paths import ROOT


@functools.lru_cache(maxsize=1)
def git_commit():
    """HEAD of the repository the package lives in, or None outside a git checkout."""
    try:
        done = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def gradlab_version():
    from .. import __version__
    return __version__


def to_json(obj):
    """``json.dumps`` default: numpy scalars and arrays, paths, sets, tuples."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (Path, type)):
        return str(obj)
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    raise TypeError(f"settings: {type(obj).__name__} is not JSON-serialisable ({obj!r})")


def _check_name(name):
    if not isinstance(name, str) or not name or any(c in name for c in '/\\:*?"<>| ') or name.startswith("."):
        raise ValueError(f"name: a plain file stem (no folders, spaces or extension dots first) is needed; got {name!r}")


def save_figure(ctx, fig, name, data, settings):
    """Write ``<ctx.out>/<name>.png`` (150 dpi), its data (a DataFrame -> ``<name>.csv``, or a
    dict {part: DataFrame} -> ``<name>__<part>.csv``) and ``<name>.json`` (``settings`` plus
    gradlab version, git commit and the quick flag). Closes ``fig``. Returns the file names
    written, relative to ``ctx.out``.
    """
    _check_name(name)
    if isinstance(data, pd.DataFrame):
        parts = {None: data}
    elif isinstance(data, dict) and data and all(isinstance(v, pd.DataFrame) for v in data.values()):
        for part in data:
            _check_name(part)
        parts = dict(data)
    else:
        raise TypeError(f"data: a pandas DataFrame or a non-empty dict of DataFrames is needed; got {type(data).__name__}")
    if not isinstance(settings, dict):
        raise TypeError(f"settings: a dict is needed; got {type(settings).__name__}")
    meta = json.dumps({"figure": f"{name}.png", "settings": settings, "gradlab_version": gradlab_version(),
                       "git_commit": git_commit(), "quick": bool(ctx.quick)},
                      indent=2, default=to_json, allow_nan=False)  # fails before any file is written
    out = Path(ctx.out)
    out.mkdir(parents=True, exist_ok=True)
    written = [f"{name}.png"]
    from .style import DPI  # matplotlib, only when a figure is written
    fig.savefig(out / written[0], dpi=DPI)
    for part, frame in parts.items():
        fname = f"{name}.csv" if part is None else f"{name}__{part}.csv"
        frame.to_csv(out / fname, index=False)
        written.append(fname)
    (out / f"{name}.json").write_text(meta + "\n")
    written.append(f"{name}.json")
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close(fig)
    return written
