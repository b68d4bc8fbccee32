"""Results of deterministic computations kept under ``ctx.runs``, keyed by their inputs.

`gl.sweep` keeps its own runs (one folder per sweep). Training a script does outside a sweep
(`gl.train` with traces, students on learned targets, a parameter path) goes through `cached`:
the result is pickled to ``<ctx.runs>/<name>-<digest of key>.pkl`` and loaded the next time the
same inputs come, so a report's second run retrains nothing. The key must hold everything the
result depends on (arrays, settings); the gradlab version is added. ``ctx.fresh`` recomputes.
"""
import hashlib
import os
import pickle
from pathlib import Path

import numpy as np


def _feed(value, h):
    """Feed ``value`` (dicts, lists, tuples, arrays, scalars, strings, None) into the hash ``h``
    in a form that is the same for equal values in any process."""
    if isinstance(value, dict):
        h.update(b"{")
        for k in sorted(value, key=str):
            _feed(str(k), h)
            _feed(value[k], h)
        h.update(b"}")
    elif isinstance(value, (list, tuple)):
        h.update(b"[")
        for v in value:
            _feed(v, h)
        h.update(b"]")
    elif isinstance(value, np.ndarray):
        a = np.ascontiguousarray(value)
        h.update(f"nd{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    else:
        if hasattr(value, "item") and getattr(value, "ndim", None) == 0:  # numpy scalar
            value = value.item()
        if not (value is None or isinstance(value, (bool, int, float, str, range))):
            raise TypeError(f"cache key: cannot hash a {type(value).__name__}")
        h.update(f"{type(value).__name__}:{value!r};".encode())


def digest(key):
    """Hex sha256 of ``key`` and the gradlab version."""
    from . import __version__
    h = hashlib.sha256(__version__.encode())
    _feed(key, h)
    return h.hexdigest()


def path_for(ctx, name, key):
    return Path(ctx.runs) / f"{name}-{digest(key)[:12]}.pkl"


def cached(ctx, name, key, compute):
    """``compute()``, or its result saved by an earlier call with the same ``name`` and ``key``
    (``ctx.fresh``: computed again and saved over the old file). Written atomically."""
    path = path_for(ctx, name, key)
    if path.exists() and not ctx.fresh:
        try:
            with open(path, "rb") as f:
                return pickle.load(f)
        except Exception:  # a damaged file is recomputed and rewritten
            pass
    result = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(f"{path.name}.{os.getpid()}.part")
    with open(part, "wb") as f:
        pickle.dump(result, f, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(part, path)
    return result
