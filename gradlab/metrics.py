"""Calibration metrics: NLL, expected calibration error, reliability tables, temperature scaling.

``probs`` is an (n, K) matrix of class probabilities (rows on the simplex, K >= 2), or, for a
binary problem, (n,) or (n, 1) holding P(class 1). ``y`` holds integer labels in [0, K)
(in {0, 1} for binary ``probs``). A binary ``probs`` is read as the two columns
``(1 - p, p)``, so everything below (top-class confidence, prediction, NLL) is the same for
``p`` and for ``[1 - p, p]``. Binary confidences are thus ``max(p, 1 - p) >= 0.5``, unlike
scikit-learn's ``calibration_curve``, which bins ``p`` itself.

Validation: probabilities must be finite and lie in [0, 1] exactly (softmax and sigmoid
outputs computed in floating point never leave [0, 1]); rows of an (n, K >= 2) matrix must
sum to 1 to within ``ROW_SUM_TOL = sqrt(eps of float32) = 3.5e-4``, whatever their dtype. A
float32 softmax row sums to 1 within about (K + 1) eps32 / 2, inside that for K < 5000, and
stays so when cast to float64; unnormalised scores or a dropped column are far outside it.
A row-sum error d moves the ECE and the NLL by at most about d, far below their sampling error.
"""
import warnings

import numpy as np
import pandas as pd
from scipy.special import expit, softmax

from . import _checks

# fit_temperature solves for log T in [log T_MIN, log T_MAX] to within LOG_T_XTOL.
T_MIN, T_MAX = 1e-3, 1e3
LOG_T_XTOL = 1e-12
ROW_SUM_TOL = float(np.sqrt(np.finfo(np.float32).eps))


def two_columns(p):
    """A binary ``p`` (..., n, 1) holding P(class 1) as the two columns ``(1 - p, p)``, in p's dtype."""
    return np.concatenate([1 - p, p], axis=-1)


def _probs_labels(probs, y):
    """``probs`` as an (n, K >= 2) float matrix (binary input becomes ``(1 - p, p)``) and
    ``y`` as int64 labels in [0, K), both validated; the caller's arrays are not written."""
    arr = np.asarray(probs)
    if arr.ndim not in (1, 2):
        raise ValueError(f"probs must be 1-D (binary: P(class 1)) or 2-D (n, K); got shape {arr.shape}")
    binary = arr.ndim == 1 or arr.shape[1] == 1
    P = _checks.float_array("probs", arr.reshape(arr.shape[0], -1) if arr.ndim == 1 else arr, ndim=2)
    lo, hi = P.min(), P.max()
    if lo < 0 or hi > 1:
        raise ValueError(f"probs must lie in [0, 1]; got range [{lo}, {hi}]")
    if binary:
        P = two_columns(P)
    else:
        row_dev = np.abs(P.sum(axis=1, dtype=np.float64) - 1).max()
        if row_dev > ROW_SUM_TOL:
            raise ValueError(f"probs: every row must sum to 1 (to {ROW_SUM_TOL:.2g}); "
                             f"worst row is off by {row_dev:.3g}")
    y = _checks.labels("y", y, P.shape[1])
    if y.shape[0] != P.shape[0]:
        raise ValueError(f"y has {y.shape[0]} labels but probs has {P.shape[0]} rows")
    return P, y


def nll(probs, y):
    """Mean negative log-likelihood of the true class, ``-1/n sum_n log p_n[y_n]``.

    A probability is clipped below at ``np.finfo(dtype).tiny``, the smallest positive normal
    float of ``probs``' dtype, so a zero probability of the true class costs a large finite
    amount (708.4 in float64, 87.3 in float32) instead of inf. (Subnormals are skipped: they
    carry fewer significant bits and some hardware flushes them to zero.)
    """
    return float(nll_of_runs(*_probs_labels(probs, y)))


def nll_of_runs(P, y):
    """`nll` of many runs at once: ``P`` (..., n, K >= 2) valid probabilities (unchecked),
    ``y`` (n,) int64 labels shared by the runs; float64 (...). Each run's value equals `nll`
    of its ``P`` bit for bit: the same operations, each run's mean taken over its own row."""
    p_true = np.maximum(P[..., np.arange(y.shape[0]), y], np.finfo(P.dtype).tiny)
    # each run's row contiguous, so its mean is NumPy's pairwise sum of one run's (n,) values
    return -np.log(np.ascontiguousarray(p_true, np.float64)).mean(axis=-1)


def _bin_sums(probs, y, bins):
    """Per bin of the top-class confidence: (edges, count, sum of confidences, sum correct)."""
    P, y = _probs_labels(probs, y)
    return bin_sums_of_runs(P, y, _checks.integer("bins", bins, low=1))


def bin_sums_of_runs(P, y, bins):
    """`_bin_sums` of many runs at once (``P`` (..., n, K) unchecked, ``y`` (n,)): edges and
    (..., bins) count, sum of confidences and sum correct. A run's sums add its rows in
    order, as `np.bincount` does for one run, so they equal that run's bit for bit."""
    pred = P.argmax(axis=-1)  # ties go to the lowest class index
    conf = np.take_along_axis(P, pred[..., None], axis=-1)[..., 0].astype(np.float64)
    correct = (pred == y).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    b = np.searchsorted(edges[1:-1], conf, side="left")  # (lo, hi]; 0 falls in the first bin
    runs = conf.size // y.shape[0]
    b = (b.reshape(runs, y.shape[0]) + bins * np.arange(runs)[:, None]).ravel()  # run r's bins: r * bins + b
    lead = P.shape[:-2] + (bins,)
    return (edges, *(np.bincount(b, w, minlength=runs * bins).reshape(lead)
                     for w in (None, conf.ravel(), correct.ravel())))


def ece(probs, y, bins=15):
    """Expected calibration error (Guo et al. 2017), ``sum_b |B_b| / n |acc(B_b) - conf(B_b)|``.

    Rows are binned by their top-class confidence ``max_k p_n[k]`` into ``bins`` equal-width
    bins over [0, 1]: bin b is ``(b / bins, (b + 1) / bins]``, and the first bin also holds 0
    (the edges are ``np.linspace(0, 1, bins + 1)``, the convention of scikit-learn's
    ``calibration_curve``). ``acc`` is the share of rows whose top class (ties: the lowest
    index) is ``y``; ``conf`` the mean confidence. Empty bins contribute 0. Computed as
    ``1/n sum_b |sum_{B_b} correct - sum_{B_b} conf|``.
    """
    P, y = _probs_labels(probs, y)
    return float(ece_of_runs(P, y, _checks.integer("bins", bins, low=1)))


def ece_of_runs(P, y, bins=15):
    """`ece` of many runs at once (``P`` (..., n, K >= 2) unchecked, ``y`` (n,)); float64
    (...), each run's equal to `ece` of its ``P`` bit for bit."""
    _, count, conf_sum, correct_sum = bin_sums_of_runs(P, y, bins)
    return np.abs(correct_sum - conf_sum).sum(axis=-1) / count.sum(axis=-1)


def reliability(probs, y, bins=15):
    """Reliability table: one row per bin of `ece` (same bins, same edges), as a DataFrame
    with columns ``lower``, ``upper`` (bin edges, the bin is ``(lower, upper]``),
    ``confidence`` (mean top-class confidence), ``accuracy`` (share correct) and ``count``
    (rows in the bin). Empty bins have NaN confidence and accuracy and count 0.
    """
    edges, count, conf_sum, correct_sum = _bin_sums(probs, y, bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        confidence = np.where(count > 0, conf_sum / count, np.nan)
        accuracy = np.where(count > 0, correct_sum / count, np.nan)
    return pd.DataFrame({"lower": edges[:-1], "upper": edges[1:], "confidence": confidence,
                         "accuracy": accuracy, "count": count.astype(np.int64)})


def _dnll_dbeta(beta, Z, y, sigmoid):
    """``d/d beta`` of the mean NLL of ``softmax(beta Z)`` (``sigmoid(beta Z)`` for one column):
    ``1/n sum_n (E_{p_n}[z_n] - z_n[y_n])``, resp. ``-1/n sum_n s_n sigmoid(-beta s_n)`` with
    ``s_n = +-z_n`` the logit signed towards the true class. Increasing in beta (the NLL is convex)."""
    if sigmoid:
        s = np.where(y == 1, Z[:, 0], -Z[:, 0])
        return -(s * expit(-beta * s)).mean()
    P = softmax(beta * Z, axis=1)
    return ((P * Z).sum(axis=1) - Z[np.arange(y.shape[0]), y]).mean()


def fit_temperature(logits, y):
    """Temperature scaling (Guo et al. 2017): the ``T > 0`` minimising the mean NLL of
    ``softmax(logits / T)`` on these (held-out) rows; ``sigmoid(logits / T)`` when ``logits``
    is (n,) or (n, 1). Returns ``T`` as a float.

    The NLL is convex in ``beta = 1 / T``, so its minimiser is the one root of
    ``dNLL/dbeta = 1/n sum_n (E_{softmax(beta z_n)}[z_n] - z_n[y_n])``, found for ``log T`` in
    ``[log 1e-3, log 1e3]`` by `scipy.optimize.brentq` to ``LOG_T_XTOL = 1e-12`` (``T`` to a
    relative 1e-12, beyond which the rounding of the derivative decides). If the derivative
    does not change sign on that range, the NLL's minimum lies outside it and the nearer bound
    is returned with a RuntimeWarning; in particular, when no row's true class is outranked
    (its logit is the row's largest; for one column, the logit's sign agrees with the label)
    the NLL falls all the way to ``T -> 0`` and ``T = 1e-3`` is returned.
    Apply ``T`` as ``scipy.special.softmax(logits / T, axis=1)`` (or ``expit(logits / T)``).
    """
    arr = np.asarray(logits)
    if arr.ndim not in (1, 2):
        raise ValueError(f"logits must be 1-D (binary) or 2-D (n, K); got shape {arr.shape}")
    Z = _checks.float_array("logits", arr.reshape(arr.shape[0], -1) if arr.ndim == 1 else arr,
                            ndim=2).astype(np.float64)
    sigmoid = Z.shape[1] == 1
    y = _checks.labels("y", y, 2 if sigmoid else Z.shape[1])
    if y.shape[0] != Z.shape[0]:
        raise ValueError(f"y has {y.shape[0]} labels but logits has {Z.shape[0]} rows")
    if np.all(Z == 0) if sigmoid else np.all(Z == Z[:, :1]):
        raise ValueError("logits: every row gives uniform probabilities at any T, so the NLL does "
                         "not depend on T and no temperature can be fitted")
    if sigmoid:
        unbeaten = np.all(np.where(y == 1, Z[:, 0], -Z[:, 0]) >= 0)
    else:
        unbeaten = np.all(Z[np.arange(y.shape[0]), y] == Z.max(axis=1))

    def slope(log_t):  # dNLL/dbeta at beta = exp(-log_t); decreasing in log_t
        return _dnll_dbeta(np.exp(-log_t), Z, y, sigmoid)

    lo, hi = np.log(T_MIN), np.log(T_MAX)
    if unbeaten or slope(lo) <= 0:
        bound = T_MIN
    elif slope(hi) >= 0:
        bound = T_MAX
    else:
        from scipy.optimize import brentq  # 0.4 s to import; only temperature fits need it
        return float(np.exp(brentq(slope, lo, hi, xtol=LOG_T_XTOL)))
    reason = "no row's true class is outranked, so " if unbeaten else ""
    warnings.warn(f"fit_temperature: {reason}the NLL has no minimum for T in [{T_MIN:g}, {T_MAX:g}]; "
                  f"returning the bound T = {bound:g}", RuntimeWarning, stacklevel=2)
    return bound
