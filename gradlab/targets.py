"""Targets: one-hot encoding and label smoothing, pure functions applied before any loss."""
import numpy as np

from . import _checks

SMOOTHING_VARIANTS = ("uniform", "off_class")


def one_hot(y, n_classes=None, dtype=np.float64):
    """(n, K) matrix with ``T[n, y[n]] = 1``; ``n_classes`` defaults to ``max(y) + 1``."""
    y = _checks.labels("y", y, n_classes)
    K = int(y.max()) + 1 if n_classes is None else n_classes
    T = np.zeros((y.shape[0], K), _checks.float_dtype("dtype", dtype))
    T[np.arange(y.shape[0]), y] = 1
    return T


def smooth_labels(T, a, variant="uniform"):
    """Smoothed targets, a new array; ``T`` is left as it is.

    ``uniform`` (the default): ``t' = (1 - a) t + a / K``.
    ``off_class``: ``t' = (1 - a) t + a (1 - t) / (K - 1)``, so a one-hot row becomes
    ``1 - a`` on its class and ``a / (K - 1)`` elsewhere. Both keep rows summing to 1.
    For ``K = 2, a = 0.2`` uniform smoothing gives the classic (0.9, 0.1) targets.
    """
    T = _checks.float_array("T", T, ndim=2)
    a = _checks.fraction("a", a)
    variant = _checks.choice("variant", variant, SMOOTHING_VARIANTS)
    K = T.shape[1]
    if variant == "uniform" or K == 1:
        return (1 - a) * T + a / max(K, 2)
    return (1 - a) * T + a * (1 - T) / (K - 1)


def smoothing_of(T, variant="uniform"):
    """The smoothing ``a`` that `smooth_labels` turns a one-hot row into the row of ``T``.

    ``T`` is one row (1-D, K entries; a float is returned) or an (n, K) matrix (an array of n
    values). Its class is its largest entry and every other entry must be equal (rows summing to
    1), so ``uniform``: ``a = 1 - (max - min)``; ``off_class``: ``a = 1 - max``. A single column
    is a binary target smoothed as K = 2: ``a = 2 min(t, 1 - t)`` (0.9 or 0.1 give 0.2).
    Example: (0.1, 0.8, 0.1) is uniform smoothing with a = 0.3.
    """
    variant = _checks.choice("variant", variant, SMOOTHING_VARIANTS)
    arr = np.asarray(T)
    one_row = arr.ndim == 1
    T = _checks.float_array("T", arr[None, :] if one_row else arr, ndim=2)
    tol = 64 * np.finfo(T.dtype).eps
    if T.min() < 0 or T.max() > 1:
        raise ValueError(f"T: smoothed targets lie in [0, 1]; got values in [{T.min():g}, {T.max():g}]")
    if T.shape[1] == 1:
        a = 2 * np.minimum(T[:, 0], 1 - T[:, 0])
    else:
        hi = T.max(axis=1)
        rest = np.where(np.arange(T.shape[1]) == T.argmax(axis=1)[:, None], np.nan, T)
        lo, lo_max = np.nanmin(rest, axis=1), np.nanmax(rest, axis=1)
        bad = np.flatnonzero((np.abs(T.sum(axis=1) - 1) > tol) | (lo_max - lo > tol))
        if bad.size:
            raise ValueError(f"T: row {bad[0]} ({T[bad[0]]}) is not a smoothed one-hot row (rows must sum "
                             "to 1, with every entry but the largest equal)")
        a = 1 - (hi - lo) if variant == "uniform" else 1 - hi
    a = np.clip(a, 0.0, 1.0)
    return float(a[0]) if one_row else a
