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
