"""Margins and growth rates: the hard-margin separator of two classes, the angle between two
vectors, the logit gap at the label-smoothed optimum, and how a recorded quantity grows
against log(steps).

Used to put claims C6 and C7 to the test: on separable data, gradient descent on the logistic
loss sends ``w(t)`` towards ``w_hat log t`` with ``w_hat`` the hard-margin separator (Soudry et
al., 2018, JMLR), so ``||w||`` grows by ``||w_hat|| ln 10`` per decade of steps; label smoothing
gives every sample a finite optimum instead.
"""
import numpy as np
from scipy.optimize import linprog, minimize

from . import _checks

__all__ = ["angle", "decade_growth", "decade_slopes", "linearly_separable", "log_slope", "max_margin_separator",
           "parameter_path", "sample_optimum_gap", "saturated_share", "smoothed_logit_gap", "value_at"]

SEPARATOR_FEASIBILITY = 1e-9
"""`max_margin_separator`: largest constraint violation ``1 - s_n v.x_n`` accepted in the result."""
SUPPORT_SLACK = 1e-6
"""`max_margin_separator`: a point whose margin ``s_n v.x_n`` is within this of 1 is a support vector."""


def _two_class_signs(y, n):
    y = _checks.labels("y", y)
    if y.shape[0] != n:
        raise ValueError(f"X and y must have the same number of rows; got {n} and {y.shape[0]}")
    if y.max() > 1 or np.unique(y).size != 2:
        raise ValueError(f"y must hold the two labels 0 and 1, both present; got labels {np.unique(y).tolist()}")
    return 2.0 * y - 1.0


def max_margin_separator(X, y, bias=True):
    """The hard-margin separator of two classes: the shortest ``v`` with ``s_n v.x_n >= 1`` for
    every row, ``s_n = +1`` for ``y_n = 1`` and ``-1`` for ``y_n = 0``.

    ``bias=True``: rows are augmented to ``[x_n, 1]``, so ``v = [w, b]`` (length d + 1) and the
    bias counts in ``||v||``, as it does for gradient descent on ``(w, b)`` (the direction GD
    on the logistic loss converges to; Soudry et al., 2018). ``bias=False``: a separator through
    the origin, ``v = w`` (length d). The geometric margin is ``1 / ||v||``.

    Solved as a QP in the primal (SLSQP) from a feasible point found by a linear program, then
    polished on its support vectors S (the shortest ``v`` with ``A_S v = 1``).
    Raises ValueError when no such ``v`` exists (the classes are not linearly separable).
    """
    X = _checks.float_array("X", X, ndim=2, dtype=np.float64)
    s = _two_class_signs(y, X.shape[0])
    bias = _checks.flag("bias", bias)
    A = s[:, None] * (np.column_stack([X, np.ones(X.shape[0])]) if bias else X)
    n, p = A.shape
    feasible = linprog(np.zeros(p), A_ub=-A, b_ub=-np.ones(n), bounds=[(None, None)] * p, method="highs")
    if feasible.status == 2:
        raise ValueError("X, y: the two classes are not linearly separable"
                         + ("" if bias else " by a hyperplane through the origin (bias=False)"))
    if feasible.status != 0:
        raise RuntimeError(f"max_margin_separator: the feasibility LP failed: {feasible.message}")
    res = minimize(lambda v: v @ v, feasible.x, jac=lambda v: 2 * v, method="SLSQP",
                   constraints=[dict(type="ineq", fun=lambda v: A @ v - 1.0, jac=lambda v: A)],
                   options=dict(ftol=1e-16, maxiter=2000))
    v = res.x if (A @ res.x).min() >= 1 - 1e-6 else feasible.x
    v = _polish(A, v)
    if (A @ v).min() < 1 - SEPARATOR_FEASIBILITY:
        raise RuntimeError(f"max_margin_separator: no accurate solution (SLSQP: {res.message})")
    return v


def linearly_separable(X, y, bias=True):
    """Whether a linear classifier ``argmax_k (x W + b)_k`` labels every row correctly: the
    linear program ``z_{y_n} - z_k >= 1`` for all rows n and classes k != y_n is feasible
    (any strict separation scales to margin 1). ``bias=False``: ``b = 0``. Labels 0..K-1."""
    X = _checks.float_array("X", X, ndim=2, dtype=np.float64)
    y = _checks.labels("y", y)
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"X and y must have the same number of rows; got {X.shape[0]} and {y.shape[0]}")
    bias = _checks.flag("bias", bias)
    Xa = np.column_stack([X, np.ones(X.shape[0])]) if bias else X
    n, p = Xa.shape
    K = max(int(y.max()) + 1, 2)
    rows = []
    for k in range(K):
        other = y != k
        block = np.zeros((int(other.sum()), K * p))  # -(z_y - z_k) <= -1, variables W[:, k] stacked
        for c in range(K):
            sign = (y[other] == c).astype(float) - (c == k)
            block[:, c * p:(c + 1) * p] = -sign[:, None] * Xa[other]
        rows.append(block)
    A_ub = np.vstack(rows)
    res = linprog(np.zeros(K * p), A_ub=A_ub, b_ub=-np.ones(A_ub.shape[0]), bounds=[(None, None)] * (K * p),
                  method="highs")
    if res.status not in (0, 2):
        raise RuntimeError(f"linearly_separable: the LP failed: {res.message}")
    return res.status == 0


def _polish(A, v):
    """The shortest ``u`` with ``A_S u = 1`` on the support vectors S of ``v``. If it meets every
    constraint it is the optimum (its problem relaxes the QP and contains the QP's optimum);
    otherwise ``v`` is kept."""
    support = A @ v <= 1 + SUPPORT_SLACK
    exact = np.linalg.lstsq(A[support], np.ones(int(support.sum())), rcond=None)[0]
    ok = (A @ exact).min() >= 1 - SEPARATOR_FEASIBILITY and exact @ exact <= v @ v * (1 + 1e-9)
    return exact if ok else v


def angle(u, v):
    """Angle between two non-zero vectors in radians, in [0, pi]:
    ``2 atan2(||u/|u| - v/|v|||, ||u/|u| + v/|v|||)``, accurate also for tiny angles (where
    ``arccos`` of the cosine loses half the digits)."""
    u = _checks.float_array("u", u, ndim=1, dtype=np.float64)
    v = _checks.float_array("v", v, ndim=1, dtype=np.float64)
    if u.shape != v.shape:
        raise ValueError(f"u and v must have the same length; got {u.shape[0]} and {v.shape[0]}")
    nu, nv = np.linalg.norm(u), np.linalg.norm(v)
    if nu == 0 or nv == 0:
        raise ValueError("u and v must be non-zero vectors (the angle to 0 is undefined)")
    u, v = u / nu, v / nv
    return float(2 * np.arctan2(np.linalg.norm(u - v), np.linalg.norm(u + v)))


def smoothed_logit_gap(a, n_classes, output="softmax"):
    """Gap between the true-class logit and every other logit at a sample's optimum under label
    smoothing ``t' = (1 - a) t + a / K`` (CE or MSE: both are minimised at ``o = t'``).

    softmax: ``log(t'_true / t'_other) = log(1 + K (1 - a) / a)``.
    sigmoid (one binary output per class): ``logit(1 - a + a / K) - logit(a / K)``.
    ``a = 0`` gives ``inf``: hard targets are reached only at infinite logits.
    """
    a = _checks.fraction("a", a)
    K = _checks.integer("n_classes", n_classes, low=2)
    _checks.choice("output", output, ("softmax", "sigmoid"))
    if a == 0:
        return np.inf
    if output == "softmax":
        return float(np.log1p(K * (1 - a) / a))
    on, off = 1 - a + a / K, a / K
    return float(np.log(on / (1 - on)) - np.log(off / (1 - off)))


def sample_optimum_gap(a, n_classes, loss="ce", output="softmax"):
    """`smoothed_logit_gap` found numerically, independently of its formula: one sample's loss
    against ``t' = (1 - a) t + a / K`` (true class 0) minimised over its logits by BFGS from
    zero logits; returns the true logit minus the mean of the others at the minimum."""
    from .grads import error_term, logit_losses
    from .targets import one_hot, smooth_labels

    a = _checks.number("a", a, 0.0, 1.0, low_open=True)
    K = _checks.integer("n_classes", n_classes, low=2)
    t = smooth_labels(one_hot([0], K), a)
    res = minimize(lambda z: logit_losses(z[None, :], t, loss=loss, output=output)[0], np.zeros(K),
                   jac=lambda z: error_term(z[None, :], t, loss=loss, output=output)[0], method="BFGS",
                   options=dict(gtol=1e-13, maxiter=10000))
    return float(res.x[0] - res.x[1:].mean())


def saturated_share(net, X, level=0.99):
    """Share of hidden activations (all hidden layers, all rows of X) that are saturated:
    ``|h| > level`` for tanh, ``min(h, 1 - h) < 1 - level`` for sigmoid hidden units
    (activations from `gradlab.learned.hidden_activations`)."""
    from .learned import hidden_activations

    _checks.net(net)
    if net.n_layers < 2 or net.hidden not in ("tanh", "sigmoid"):
        raise ValueError(f"net: needs a tanh or sigmoid hidden layer; got sizes {list(net.sizes)}, hidden {net.hidden!r}")
    level = _checks.number("level", level, 0.0, 1.0, low_open=True)
    H = [hidden_activations(net, X, layer=l) for l in range(net.n_layers - 1)]
    if net.hidden == "tanh":
        saturated = sum(int(np.count_nonzero(np.abs(h) > level)) for h in H)
    else:
        saturated = sum(int(np.count_nonzero(np.minimum(h, 1 - h) < 1 - level)) for h in H)
    return saturated / sum(h.size for h in H)


# ---------------------------------------------------------------- quantities against log(steps)


def _curve(steps, values):
    """(ln step, value) of the records with step > 0; steps must increase."""
    steps = _checks.float_array("steps", steps, ndim=1, dtype=np.float64)
    values = _checks.float_array("values", values, ndim=1, dtype=np.float64)
    if steps.shape != values.shape:
        raise ValueError(f"steps and values must have the same length; got {steps.shape[0]} and {values.shape[0]}")
    if np.any(np.diff(steps) <= 0):
        raise ValueError("steps must be strictly increasing")
    keep = steps > 0
    return np.log(steps[keep]), values[keep]


def _positive_steps(name, at):
    at = np.atleast_1d(np.asarray(at, dtype=np.float64))
    if at.ndim != 1 or not np.all(np.isfinite(at)) or np.any(at <= 0):
        raise ValueError(f"{name} must be positive step counts; got {at!r}")
    return at


def value_at(steps, values, at):
    """``values`` at the steps ``at``, interpolated linearly in ln(step); ``at`` must lie within
    the recorded steps (> 0)."""
    log_t, v = _curve(steps, values)
    at = _positive_steps("at", at)
    if log_t.size == 0 or np.log(at).min() < log_t[0] - 1e-12 or np.log(at).max() > log_t[-1] + 1e-12:
        raise ValueError(f"at: steps {at.tolist()} lie outside the recorded range")
    return np.interp(np.log(at), log_t, v)


def decade_growth(steps, values, ends):
    """Relative growth over the decade of steps ending at each of ``ends``:
    ``ln 10 * slope / v(e / 10)``, ``slope`` the least-squares slope of ``v`` against ln(step)
    over the decade's records (`decade_slopes`). For ``v = c ln t + b`` this is exactly
    ``v(e) / v(e / 10) - 1``; the fit averages out record-to-record noise (SGD). A quantity
    growing like ``c ln t`` gains ``c ln 10`` per decade, a relative change shrinking only like
    ``1 / ln t``; one converging to a limit changes by ever less."""
    ends = _positive_steps("ends", ends)
    return np.log(10) * decade_slopes(steps, values, ends) / value_at(steps, values, ends / 10)


def log_slope(steps, values, start, stop):
    """Least-squares slope of ``values`` against ln(step) over the records with
    ``start <= step <= stop``: ``d v / d ln t``. Soudry et al. predict ``||w_hat||`` for
    ``||w||`` under GD on separable data."""
    log_t, v = _curve(steps, values)
    start, stop = _positive_steps("start", start)[0], _positive_steps("stop", stop)[0]
    window = (log_t >= np.log(start) - 1e-12) & (log_t <= np.log(stop) + 1e-12)
    if window.sum() < 2:
        raise ValueError(f"start, stop: fewer than 2 records with {start:g} <= step <= {stop:g}")
    return float(np.polyfit(log_t[window], v[window], 1)[0])


def decade_slopes(steps, values, ends):
    """`log_slope` over each decade ``[e / 10, e]`` for ``e`` in ``ends``."""
    ends = _positive_steps("ends", ends)
    return np.array([log_slope(steps, values, e / 10, e) for e in ends])


# ---------------------------------------------------------------- parameters along a run


def parameter_path(net, X, y, checkpoints, **train_kw):
    """Parameters of a full-batch gradient-descent run at the given step counts: an array
    (len(checkpoints), P), row i the flat ``params`` after ``checkpoints[i]`` steps.

    Trains with `gl.train` (``batch_size=None``: one step per epoch) in segments between the
    checkpoints, each continuing from the last; without mini-batches there is no shuffling,
    so the segments make exactly one run. ``train_kw`` goes to `gl.train` (lr, loss,
    smoothing, ...); ``epochs``, ``batch_size`` and ``record_every`` are set here.
    """
    from .training import train

    for key in ("epochs", "batch_size", "record_every"):
        if key in train_kw:
            raise TypeError(f"parameter_path sets {key} itself; do not pass it")
    checkpoints = np.asarray(checkpoints)
    if checkpoints.ndim != 1 or checkpoints.size == 0 or checkpoints.dtype.kind not in "iu":
        raise TypeError("checkpoints must be a non-empty 1-D sequence of integer step counts")
    if checkpoints[0] < 0 or np.any(np.diff(checkpoints) <= 0):
        raise ValueError("checkpoints must be non-negative and strictly increasing")
    _checks.net(net)
    out = np.empty((checkpoints.size, net.n_params), net.dtype)
    done = 0
    for i, c in enumerate(checkpoints.tolist()):
        if c > done:
            hist = train(net, X, y, batch_size=None, epochs=c - done, record_every=c - done, **train_kw)
            if hist.diverged:
                raise RuntimeError(f"parameter_path: training diverged at step {done + hist.diverged_at}")
            net, done = hist.net, c
        out[i] = net.params
    return out
