"""Comparing LS with the regularisers: matching a penalty strength to a weight norm, the
sensitivity of a knob, agreement within the seed spread, logit gaps, and the projection of
last-hidden-layer activations onto the plane through three class templates (Müller et al. 2019).

Index letters: ``v`` a knob value on a grid, ``s`` a seed, ``n`` a row, ``k`` a class,
``j`` a hidden unit. Results are new arrays; no argument is written to.
"""
import numpy as np
from scipy.special import softmax

from . import _checks, metrics


def _vector(name, x):
    arr = _checks.float_array(name, x, ndim=1).astype(np.float64)
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty")
    return arr


def match_strength(strengths, norms, target):
    """The penalty strength ``lam`` whose final weight norm equals ``target``, interpolated on a
    sweep: ``strengths`` (v,) > 0 and ``norms`` (v,) the mean final weight norm at each.

    Method: sort by strength; take the first neighbouring pair (i, i + 1) with ``target``
    between ``norms[i]`` and ``norms[i + 1]``, and interpolate linearly in ``(log lam,
    log norm)``: ``log lam = log lam_i + (log target - log N_i) / (log N_{i+1} - log N_i)
    (log lam_{i+1} - log lam_i)``. Norms fall roughly as a power of ``lam`` once the penalty
    bites, so both logs make the pieces nearly straight. Returns NaN when no pair brackets
    ``target`` (it lies outside the norms the grid reached)."""
    lam, N = _vector("strengths", strengths), _vector("norms", norms)
    if lam.shape != N.shape:
        raise ValueError(f"strengths and norms must have the same length; got {lam.size} and {N.size}")
    if np.any(lam <= 0):
        raise ValueError("strengths must be > 0 (the interpolation is in log strength)")
    if np.any(N <= 0):
        raise ValueError("norms must be > 0 (the interpolation is in log norm)")
    target = _checks.number("target", target, low=0.0, low_open=True)
    order = np.argsort(lam, kind="stable")
    x, logN, t = np.log(lam[order]), np.log(N[order]), np.log(target)
    for i in range(x.size - 1):
        lo, hi = sorted((logN[i], logN[i + 1]))
        if lo <= t <= hi:
            if logN[i + 1] == logN[i]:
                return float(np.exp(x[i]))
            return float(np.exp(x[i] + (t - logN[i]) / (logN[i + 1] - logN[i]) * (x[i + 1] - x[i])))
    return float("nan")


def _seed_table(name, x, n_values):
    arr = _checks.float_array(name, x, ndim=2).astype(np.float64)
    if arr.shape[0] != n_values:
        raise ValueError(f"{name} must have one row per knob value ({n_values}); got shape {arr.shape}")
    if arr.shape[1] < 2:
        raise ValueError(f"{name} needs at least 2 seeds (columns) to measure a seed spread; got {arr.shape[1]}")
    return arr


def knob_sensitivity(values, metric, accuracy, acc_drop, span=None):
    """How strongly the seed-mean of ``metric`` moves with a knob, per decade.

    ``values`` (v,) > 0 knob values; ``metric`` and ``accuracy`` (v, seeds) test measures of
    each run. The useful range is the values whose mean accuracy is at least the best mean
    accuracy minus ``acc_drop`` (settings one would actually pick). With ``span`` (decades),
    only the useful values in a window of at most ``span`` decades that holds the best value
    count: the widest such window, centred on the best value as near as the grid allows (two
    knobs measured over one span get the same number of half-decade steps to take the
    steepest of). Over neighbouring counted values (sorted), the steepest change of the mean
    metric per decade, ``slope = max_i |m_{i+1} - m_i| / (log10 v_{i+1} - log10 v_i)``, in the
    metric's unit, and divided by the seed spread ``s = sqrt(mean_v SD_v^2)`` (the RMS over
    counted values of the across-seed SD): ``sensitivity = slope / s``.

    Both knobs (LS ``a`` and a penalty ``lam``) act multiplicatively (the LS optimum's logit
    gap is ``log(1 + K (1 - a) / a)``, about ``-log a`` for small ``a``), so a decade is a
    common unit; and the steepest change does not grow when a grid is extended into a range
    where the knob has no effect. Returns a dict: ``sensitivity`` and ``slope`` (NaN if fewer
    than two values count), ``seed_sd``, ``useful_low``, ``useful_high``, ``low`` and ``high``
    (the counted window), ``best`` (the value of lowest mean metric among useful ones),
    ``n_useful`` and ``span`` (decades from ``low`` to ``high``)."""
    v = _vector("values", values)
    if np.any(v <= 0):
        raise ValueError("values must be > 0 (sensitivity is per decade of the knob)")
    if np.unique(v).size != v.size:
        raise ValueError("values must be distinct")
    M, A = _seed_table("metric", metric, v.size), _seed_table("accuracy", accuracy, v.size)
    acc_drop = _checks.number("acc_drop", acc_drop, low=0.0)
    if span is not None:
        span = _checks.number("span", span, low=0.0)
    order = np.argsort(v)
    v, M, A = v[order], M[order], A[order]
    acc_mean = A.mean(axis=1)
    useful = acc_mean >= acc_mean.max() - acc_drop
    vu, Mu = v[useful], M[useful]
    best_i = int(np.argmin(Mu.mean(axis=1)))
    lo, hi = 0, vu.size - 1
    if span is not None:
        L = np.log10(vu)
        fits = [(i, j) for i in range(best_i + 1) for j in range(best_i, vu.size) if L[j] - L[i] <= span + 1e-9]
        lo, hi = min(fits, key=lambda ij: (-round(L[ij[1]] - L[ij[0]], 6),  # widest (grid steps are not exact)
                                           round(abs((L[ij[0]] + L[ij[1]]) / 2 - L[best_i]), 6), ij[0]))
    vc, Mc = vu[lo:hi + 1], Mu[lo:hi + 1]
    means = Mc.mean(axis=1)
    seed_sd = float(np.sqrt((Mc.std(axis=1, ddof=1) ** 2).mean()))
    if vc.size < 2:
        slope = sens = float("nan")
    else:
        slope = float((np.abs(np.diff(means)) / np.diff(np.log10(vc))).max())
        sens = slope / seed_sd if seed_sd > 0 else float("inf") if slope > 0 else 0.0
    return {"sensitivity": sens, "slope": slope, "seed_sd": seed_sd, "useful_low": float(vu[0]),
            "useful_high": float(vu[-1]), "low": float(vc[0]), "high": float(vc[-1]), "best": float(vu[best_i]),
            "n_useful": int(vu.size), "span": float(np.log10(vc[-1] / vc[0]))}


def useful_span(values, accuracy, acc_drop):
    """Decades from the lowest to the highest useful value (as in `knob_sensitivity`)."""
    v = _vector("values", values)
    A = _checks.float_array("accuracy", accuracy, ndim=2).astype(np.float64)
    acc_mean = A.mean(axis=1)
    vu = v[acc_mean >= acc_mean.max() - acc_drop]
    return float(np.log10(vu.max() / vu.min()))


def paired_difference(x, y):
    """Mean and standard error of the paired differences ``d_s = y_s - x_s`` over seeds ``s``
    (``x``, ``y`` (s,), seed s of both sharing its draws): ``(mean(d), SD(d) / sqrt(s))``."""
    x, y = _vector("x", x), _vector("y", y)
    if x.size != y.size or x.size < 2:
        raise ValueError(f"x and y need the same number of seeds, at least 2; got {x.size} and {y.size}")
    d = y - x
    return float(d.mean()), float(d.std(ddof=1) / np.sqrt(d.size))


def spread_comparison(x, y):
    """Do two sets of seed results agree within the seed spread?

    ``x`` (s,), ``y`` (s',) one measure over seeds of two methods. Returns (difference of
    means ``mean(y) - mean(x)``, pooled seed SD ``sqrt((SD_x^2 + SD_y^2) / 2)``, agree), with
    agree when ``|difference| <= pooled SD``: the methods differ by no more than a change of
    seed moves one run."""
    x, y = _vector("x", x), _vector("y", y)
    if x.size < 2 or y.size < 2:
        raise ValueError("x and y need at least 2 seeds each to measure a seed spread")
    diff = float(y.mean() - x.mean())
    pooled = float(np.sqrt((x.var(ddof=1) + y.var(ddof=1)) / 2))
    return diff, pooled, bool(abs(diff) <= pooled)


def _prediction_table(name, preds):
    arr = np.asarray(preds)
    if arr.ndim != 2 or arr.shape[0] < 2 or arr.size == 0:
        raise ValueError(f"{name} must be (seeds >= 2, rows) predicted classes; got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{name} must hold integer class labels; got dtype {arr.dtype}")
    return arr


def prediction_agreement(preds_x, preds_y):
    """Agreement of predicted classes between two methods, against seed-to-seed agreement.

    ``preds_x``, ``preds_y`` (seeds, rows): row n's predicted class by seed s of each method
    (seed s of both shares its init and row order). Returns (``across`` (s,): share of rows
    where seed s of x and seed s of y agree; ``within`` (2 s,): share of rows where seeds s and
    s + 1 (cyclically) of one method agree, both methods). Methods agree as well as seeds do
    when ``mean(across) >= mean(within) - SD(within)``."""
    X, Y = _prediction_table("preds_x", preds_x), _prediction_table("preds_y", preds_y)
    if X.shape != Y.shape:
        raise ValueError(f"preds_x and preds_y must have the same shape; got {X.shape} and {Y.shape}")
    across = (X == Y).mean(axis=1)
    within = np.concatenate([(P == np.roll(P, -1, axis=0)).mean(axis=1) for P in (X, Y)])
    return across, within


def logit_gaps(Z, y):
    """Per row, the true-class logit minus the largest other logit: ``z_y - max_{k != y} z_k``
    (positive when the row is classified correctly). ``Z`` (n, K >= 2), ``y`` (n,) labels."""
    Z = _checks.float_array("Z", Z, ndim=2).astype(np.float64)
    if Z.shape[1] < 2:
        raise ValueError(f"Z needs at least 2 classes (columns); got {Z.shape[1]}")
    y = _checks.labels("y", y, Z.shape[1])
    if y.shape[0] != Z.shape[0]:
        raise ValueError(f"y has {y.shape[0]} labels but Z has {Z.shape[0]} rows")
    rows = np.arange(Z.shape[0])
    others = Z.copy()
    others[rows, y] = -np.inf
    return Z[rows, y] - others.max(axis=1)


def calibration(logits_val, y_val, logits_test, y_test, bins=15):
    """Test NLL and ECE (``bins`` equal-width bins) of ``softmax(z)`` and of ``softmax(z / T)``,
    ``T`` fitted on the validation rows (`metrics.fit_temperature`). Returns a dict: T,
    nll, ece, nll_ts, ece_ts, acc (temperature scaling leaves the predicted class unchanged)."""
    Zv = _checks.float_array("logits_val", logits_val, ndim=2).astype(np.float64)
    Zt = _checks.float_array("logits_test", logits_test, ndim=2).astype(np.float64)
    if Zv.shape[1] != Zt.shape[1]:
        raise ValueError(f"logits_val and logits_test must have the same classes; got {Zv.shape[1]} and {Zt.shape[1]}")
    T = metrics.fit_temperature(Zv, y_val)
    P, P_ts = softmax(Zt, axis=1), softmax(Zt / T, axis=1)
    y_test = _checks.labels("y_test", y_test, Zt.shape[1])
    return {"T": T, "nll": metrics.nll(P, y_test), "ece": metrics.ece(P, y_test, bins),
            "nll_ts": metrics.nll(P_ts, y_test), "ece_ts": metrics.ece(P_ts, y_test, bins),
            "acc": float((P.argmax(axis=1) == y_test).mean())}


def template_plane(W, classes):
    """Orthonormal coordinates of the plane through three class templates (Müller et al. 2019).

    ``W`` (units, K): the output layer's weights, column k the template of class k (logit
    ``z_k = h . W[:, k] + b_k``). ``classes``: three distinct class indices. Returns (origin
    (units,), basis (2, units)): origin the first template, basis Gram-Schmidt of the other
    two templates minus it."""
    W = _checks.float_array("W", W, ndim=2).astype(np.float64)
    classes = [_checks.integer("classes", c, low=0) for c in classes]
    if len(classes) != 3 or len(set(classes)) != 3 or max(classes) >= W.shape[1]:
        raise ValueError(f"classes must be three distinct columns of W (K = {W.shape[1]}); got {classes}")
    t0, t1, t2 = (W[:, c] for c in classes)
    u = t1 - t0
    v = t2 - t0
    if np.linalg.norm(u) == 0:
        raise ValueError("W: the first two templates coincide; the plane is undefined")
    u = u / np.linalg.norm(u)
    v = v - (v @ u) * u
    if np.linalg.norm(v) <= 1e-12 * np.linalg.norm(t2 - t0):
        raise ValueError("W: the three templates are collinear; the plane is undefined")
    return t0, np.stack([u, v / np.linalg.norm(v)])


def project(H, origin, basis):
    """Coordinates ``(H - origin) basis^T`` of the rows of ``H`` (n, units) in the plane."""
    H = _checks.float_array("H", H, ndim=2).astype(np.float64)
    origin = _vector("origin", origin)
    basis = _checks.float_array("basis", basis, ndim=2).astype(np.float64)
    if not H.shape[1] == origin.size == basis.shape[1]:
        raise ValueError(f"H, origin and basis must share the unit count; got {H.shape[1]}, {origin.size}, "
                         f"{basis.shape[1]}")
    return (H - origin) @ basis.T


def cluster_tightness(P, y):
    """Spread of the classes' clusters relative to their separation:
    ``sqrt(mean_n ||p_n - c_{y_n}||^2) / sqrt(mean_k ||c_k - c||^2)``, with ``c_k`` the mean of
    class k's points and ``c`` the mean of the class means. Scale-free; smaller is tighter.
    ``P`` (n, dims) points, ``y`` (n,) labels, at least two classes."""
    P = _checks.float_array("P", P, ndim=2).astype(np.float64)
    y = np.asarray(_checks.labels("y", y))
    if y.shape[0] != P.shape[0]:
        raise ValueError(f"y has {y.shape[0]} labels but P has {P.shape[0]} rows")
    classes, inv = np.unique(y, return_inverse=True)
    if classes.size < 2:
        raise ValueError("y must hold at least two classes")
    centres = np.stack([P[inv == i].mean(axis=0) for i in range(classes.size)])
    within = np.sqrt(((P - centres[inv]) ** 2).sum(axis=1).mean())
    between = np.sqrt(((centres - centres.mean(axis=0)) ** 2).sum(axis=1).mean())
    if between == 0:
        raise ValueError("P: all class means coincide; tightness is undefined")
    return float(within / between)
