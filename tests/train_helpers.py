"""Shared helpers for the training tests: data sets as the claims use them, a hand-written
SGD step from `gl.grad`, and weight norms read off a `History` on a log grid of steps."""
import importlib

import numpy as np

import gradlab as gl

# The training module (`gradlab.train` is the function, re-exported by gradlab/__init__).
TRAIN_MODULE = importlib.import_module("gradlab.training")


# ---------------------------------------------------------------- data


def iris_split():
    """Iris, 80/20 stratified split (seed 0), standardised with the training rows' statistics."""
    X, y = gl.datasets.iris()
    Xtr, Xte, ytr, yte = gl.datasets.train_test_split(X, y, test_size=0.2, seed=0)
    Xtr, Xte = gl.datasets.standardize(Xtr, Xte)
    return Xtr, Xte, ytr, yte


def digits_split():
    X, y = gl.datasets.digits()
    Xtr, Xte, ytr, yte = gl.datasets.train_test_split(X, y, test_size=0.2, seed=0)
    Xtr, Xte = gl.datasets.standardize(Xtr, Xte)
    return Xtr, Xte, ytr, yte


def blobs_std(separable):
    """2-class, 2-D blobs (seed 0), standardised. Standardising is an affine map of the
    inputs, so it keeps (non-)separability; it only improves the conditioning so that
    full-batch GD converges in few steps where it converges at all."""
    X, y = gl.datasets.blobs(n_samples=200, n_classes=2, n_features=2, separable=separable, seed=0)
    return gl.datasets.standardize(X), y


def iris_setosa_vs_rest():
    """All of Iris, standardised, labels 1 = setosa, 0 = the rest (linearly separable)."""
    X, y = gl.datasets.iris()
    return gl.datasets.standardize(X), (y == 0).astype(np.int64)


def tiny_problem(n=20, d=2, K=2, seed=0):
    """Random inputs in [-2, 2] and labels covering every class."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2.0, 2.0, (n, d))
    y = np.arange(n) % K
    rng.shuffle(y)
    return X, y.astype(np.int64)


# ---------------------------------------------------------------- targets


def used_targets(y, K, smoothing=0.0, variant="uniform"):
    """The training targets t' that `train` is documented to use: one-hot, then smoothed."""
    T = gl.one_hot(y, K) if np.asarray(y).ndim == 1 else np.asarray(y, np.float64)
    return gl.smooth_labels(T, smoothing, variant) if smoothing > 0 else T


# ---------------------------------------------------------------- reference SGD


def penalty_grad(params, mask, l2=0.0, l1=0.0):
    """l2 w + l1 sign(w) on the penalised entries (sign(0) = 0), zero elsewhere."""
    return mask * (l2 * params + l1 * np.sign(params))


def hand_step(net, X, T, loss, lr, l2=0.0, l1=0.0, weight_decay=0.0, momentum=0.0,
              penalize_bias=False, velocity=None):
    """One SGD step as documented in gradlab.training, in NumPy from `gl.grad`:
    g = grad + mask (l2 w + l1 sign w); v = m v + g; w <- w - lr v - lr wd mask w.
    Returns (new params, new velocity, scale) with ``scale`` a per-entry bound on the size of
    the numbers the step is computed from (for a rounding-error tolerance)."""
    w = net.params.astype(np.float64)
    mask = (net.weight_mask() | bool(penalize_bias)).astype(np.float64)
    g_data = gl.grad(net, X, T, loss=loss)
    abs_g = np.abs(gl.per_sample_grads(net, X, T, loss=loss)).mean(axis=0)
    g = g_data + penalty_grad(w, mask, l2, l1)
    v = g if velocity is None else momentum * velocity + g
    new = w - lr * v - lr * weight_decay * mask * w
    scale = np.abs(w) + lr * (abs_g + mask * (l2 * np.abs(w) + l1) + np.abs(v)
                              + weight_decay * mask * np.abs(w))
    return new, v, scale


# ---------------------------------------------------------------- histories


def norm_at(hist, step):
    """Weight norm recorded at exactly ``step`` (which must be a recorded step)."""
    hits = np.flatnonzero(hist.step == step)
    assert hits.size == 1, f"no record at step {step} (records at {hist.step[:5]}...{hist.step[-3:]})"
    return float(hist.weight_norm[hits[0]])


def decade_change(hist, step):
    """Relative change of the weight norm over the decade ending at ``step``:
    ||W||(step) / ||W||(step / 10) - 1."""
    return norm_at(hist, step) / norm_at(hist, step // 10) - 1.0


def log_grid_norms(hist, first, last):
    """Weight norms at steps ``first``, 10 first, ..., ``last`` (powers of 10)."""
    steps = [10 ** k for k in range(int(round(np.log10(first))), int(round(np.log10(last))) + 1)]
    return np.array(steps), np.array([norm_at(hist, s) for s in steps])


def full_batch_run(X, y, sizes, output, loss, lr, steps, smoothing=0.0, record_every=10, **kw):
    """`steps` full-batch GD steps from a seed-0 net (one step per epoch)."""
    net = gl.MLP(sizes, hidden="tanh", output=output, seed=0)
    return gl.train(net, X, y, loss=loss, smoothing=smoothing, lr=lr, batch_size=None,
                    epochs=steps, record_every=record_every, **kw)


def assert_rel_close(actual, expected, scale, rtol, what):
    """|actual - expected| <= rtol * scale entry by entry; the worst entry is reported."""
    actual = np.asarray(actual, np.float64)
    expected = np.asarray(expected, np.float64)
    assert actual.shape == expected.shape, (what, actual.shape, expected.shape)
    err = np.abs(actual - expected)
    bound = rtol * np.asarray(scale, np.float64)
    bad = ~(err <= bound)
    if bad.any():
        i = int(np.argmax(np.where(bad, err / np.maximum(bound, 1e-300), 0).ravel()))
        i = np.unravel_index(i, err.shape)
        raise AssertionError(f"{what}: {int(bad.sum())} of {err.size} entries off; worst at {i}: "
                             f"got {actual[i]!r}, expected {expected[i]!r}, |diff| {err[i]:.3g} > "
                             f"{rtol:g} * {np.asarray(scale)[i]:.3g}")


def max_margin_separator(X, y):
    """Hard-margin SVM on the augmented inputs [x, 1] (the bias penalised like a weight, as
    plain GD on (w, b) treats it): argmin ||v||^2 subject to s_n v.[x_n, 1] >= 1, s = 2y - 1.
    This is the direction GD on the logistic loss converges to (Soudry et al., 2018)."""
    from scipy.optimize import minimize

    A = np.column_stack([X, np.ones(len(X))])
    s = 2.0 * np.asarray(y) - 1.0
    start = np.linalg.lstsq(A, s, rcond=None)[0]
    start *= 1.0 / (s * (A @ start)).min() if (s * (A @ start)).min() > 0 else 10.0
    res = minimize(lambda v: v @ v, start, jac=lambda v: 2 * v, method="SLSQP",
                   constraints=[dict(type="ineq", fun=lambda v: s * (A @ v) - 1.0,
                                     jac=lambda v: s[:, None] * A)],
                   options=dict(ftol=1e-15, maxiter=1000))
    assert res.success, res.message
    assert (s * (A @ res.x)).min() > 1.0 - 1e-9, "SVM solution violates its constraints"
    return res.x
