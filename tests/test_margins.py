"""gradlab.margins and gradlab.curves: hard-margin separator (known cases, an optimality
certificate, refusals), linear separability, angles, the smoothed optimum's logit gap, growth
against log(steps), parameter paths, and curves of many runs (bands over seeds, growth tables)."""
import math

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize, nnls

import gradlab as gl
from gradlab import curves, margins

# ---------------------------------------------------------------- max_margin_separator


def test_separator_known_cases():
    # through the origin: (1, 1) and (-1, -1) are the support vectors of x0 + x1 = 0
    X = np.array([[1.0, 1.0], [2.0, 2.0], [-1.0, -1.0], [-2.0, -1.0]])
    np.testing.assert_allclose(margins.max_margin_separator(X, [1, 1, 0, 0], bias=False), [0.5, 0.5],
                               atol=1e-12)
    # with the bias in the norm: 3 w0 + b = 1 and w0 + b = -1 give w = (1, 0), b = -2
    X = np.array([[3.0, 0.0], [1.0, 0.0], [4.0, 1.0]])
    np.testing.assert_allclose(margins.max_margin_separator(X, [1, 0, 1]), [1.0, 0.0, -2.0], atol=1e-12)


def _certificate(X, y, v, bias):
    """KKT conditions of min ||v||^2 s.t. A v >= 1: feasible, and v = A_S^T alpha with
    alpha >= 0 on the support vectors (margin 1). For a convex QP they prove optimality."""
    s = 2.0 * np.asarray(y) - 1.0
    A = s[:, None] * (np.column_stack([X, np.ones(len(X))]) if bias else X)
    margin = A @ v
    assert margin.min() >= 1 - 1e-9
    support = margin <= 1 + 1e-6
    alpha, residual = nnls(A[support].T, v)
    assert residual <= 1e-8 * np.linalg.norm(v), residual


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("seed", range(4))
def test_separator_satisfies_kkt_on_random_separable_data(seed, bias):
    rng = np.random.default_rng(seed)
    d = 2 + seed % 3
    w_true = rng.standard_normal(d)
    X = rng.standard_normal((60, d)) * 2
    offset = 0.0 if not bias else rng.uniform(-1, 1)
    score = X @ w_true + offset
    keep = np.abs(score) > 0.3  # a gap around the true hyperplane
    X, y = X[keep], (score[keep] > 0).astype(np.int64)
    v = margins.max_margin_separator(X, y, bias=bias)
    assert v.shape == (d + bias,)
    _certificate(X, y, v, bias)


def test_separator_on_blobs_matches_the_dual_solution():
    """The dual, solved independently: max sum(alpha) - 1/2 ||A^T alpha||^2 over alpha >= 0
    (no equality constraint, since the bias is penalised), then v = A^T alpha."""
    X, y = gl.datasets.blobs(n_samples=200, n_classes=2, n_features=2, separable=True, seed=1)
    v = margins.max_margin_separator(X, y)
    A = (2.0 * y - 1.0)[:, None] * np.column_stack([X, np.ones(len(X))])
    dual = minimize(lambda al: 0.5 * np.sum((A.T @ al) ** 2) - al.sum(), np.zeros(len(A)),
                    jac=lambda al: A @ (A.T @ al) - 1.0, method="L-BFGS-B", bounds=[(0, None)] * len(A),
                    options=dict(ftol=1e-15, gtol=1e-12, maxiter=10000))
    np.testing.assert_allclose(v, A.T @ dual.x, rtol=1e-5, atol=1e-6)
    _certificate(X, y, v, True)


def test_separator_refuses_non_separable_data():
    X, y = gl.datasets.xor(n_samples=40, seed=0)
    with pytest.raises(ValueError, match="not linearly separable"):
        margins.max_margin_separator(X, y)
    X, y = gl.datasets.blobs(n_samples=40, separable=False, seed=0)
    with pytest.raises(ValueError, match="not linearly separable"):
        margins.max_margin_separator(X, y)
    # separable with a bias, but not through the origin
    X, y = np.array([[1.0], [2.0]]), np.array([1, 0])
    assert margins.max_margin_separator(X, y).shape == (2,)
    with pytest.raises(ValueError, match="through the origin"):
        margins.max_margin_separator(X, y, bias=False)


@pytest.mark.parametrize("X, y, exc, match", [
    (np.zeros((3, 2)), [0, 1, 2], ValueError, "labels 0 and 1"),
    (np.zeros((3, 2)), [1, 1, 1], ValueError, "both present"),
    (np.zeros((3, 2)), [0, 1], ValueError, "same number of rows"),
    (np.array([[0.0, np.nan], [1.0, 1.0]]), [0, 1], ValueError, "X contains NaN"),
    (np.zeros(3), [0, 1, 1], ValueError, "X must be 2-D"),
    (np.zeros((2, 2)), ["a", "b"], TypeError, "y must hold integer"),
])
def test_separator_bad_input(X, y, exc, match):
    with pytest.raises(exc, match=match):
        margins.max_margin_separator(X, y)


def test_separator_leaves_inputs_alone():
    X, y = gl.datasets.blobs(n_samples=30, separable=True, seed=2)
    X0, y0 = X.copy(), y.copy()
    margins.max_margin_separator(X, y)
    assert np.array_equal(X, X0) and np.array_equal(y, y0)


def test_linearly_separable_known_sets():
    assert margins.linearly_separable(*gl.datasets.blobs(150, 3, 4, separable=True, seed=0))
    assert margins.linearly_separable(*gl.datasets.blobs(150, 5, 2, separable=True, seed=1))  # polygon centres
    assert not margins.linearly_separable(*gl.datasets.blobs(150, 3, 4, separable=False, seed=0))
    assert not margins.linearly_separable(*gl.datasets.xor(100, seed=0))
    X, y = gl.datasets.iris()
    assert margins.linearly_separable(X[y < 2], y[y < 2])  # setosa | versicolor
    assert not margins.linearly_separable(X[y > 0], y[y > 0] - 1)  # versicolor | virginica overlap
    # agrees with the two-class separator: 1-D points 1 (class 1) and 2 (class 0)
    X, y = np.array([[1.0], [2.0]]), np.array([1, 0])
    assert margins.linearly_separable(X, y) and not margins.linearly_separable(X, y, bias=False)


# ---------------------------------------------------------------- angle


def test_angle_values():
    assert margins.angle([1.0, 0.0], [0.0, 3.0]) == pytest.approx(math.pi / 2, abs=1e-15)
    assert margins.angle([1.0, 2.0], [2.0, 4.0]) == 0.0
    assert margins.angle([1.0, 2.0], [-1.0, -2.0]) == pytest.approx(math.pi, abs=1e-15)
    assert margins.angle([1.0, 0.0, 0.0], [1.0, 1.0, 0.0]) == pytest.approx(math.pi / 4, rel=1e-15)
    # tiny angles keep full relative accuracy (arccos of the cosine would return 0)
    assert margins.angle([1.0, 0.0], [1.0, 1e-10]) == pytest.approx(1e-10, rel=1e-12)


@pytest.mark.parametrize("u, v, exc, match", [
    ([0.0, 0.0], [1.0, 0.0], ValueError, "non-zero"),
    ([1.0, 0.0], [1.0, 0.0, 0.0], ValueError, "same length"),
    ([[1.0]], [1.0], ValueError, "u must be 1-D"),
    ([1.0, np.inf], [1.0, 0.0], ValueError, "u contains NaN or inf"),
])
def test_angle_bad_input(u, v, exc, match):
    with pytest.raises(exc, match=match):
        margins.angle(u, v)


# ---------------------------------------------------------------- smoothed_logit_gap


@pytest.mark.parametrize("K", [2, 3, 10])
@pytest.mark.parametrize("a", [0.01, 0.1, 0.3, 0.9])
def test_softmax_gap_is_the_per_sample_optimum(a, K):
    """Minimise one sample's CE and MSE against t' over its logits (scipy, independent of the
    formula): the optimum's gap between the true logit and each other one is log(1 + K(1-a)/a)."""
    t = gl.smooth_labels(gl.one_hot([0], K), a)
    gap = margins.smoothed_logit_gap(a, K)
    assert gap == pytest.approx(math.log(1 + K * (1 - a) / a), rel=1e-14)
    for loss in ("ce", "mse"):
        f = lambda z: gl.logit_losses(z[None, :], t, loss=loss, output="softmax")[0]
        g = lambda z: gl.error_term(z[None, :], t, loss=loss, output="softmax")[0]
        z = minimize(f, np.zeros(K), jac=g, method="BFGS", options=dict(gtol=1e-12)).x
        assert np.abs(z[0] - z[1:] - gap).max() < 1e-5, (loss, z)


@pytest.mark.parametrize("K", [2, 3, 5])
@pytest.mark.parametrize("a", [0.05, 0.2])
def test_sigmoid_gap_zeroes_the_error_term(a, K):
    t = gl.smooth_labels(gl.one_hot([0], K), a)
    z = np.log(t / (1 - t))  # each node at o = t'
    gap = margins.smoothed_logit_gap(a, K, output="sigmoid")
    assert gap == pytest.approx(z[0, 0] - z[0, 1], rel=1e-13)
    for loss in ("ce", "mse"):
        assert np.abs(gl.error_term(z, t, loss=loss, output="sigmoid")).max() < 1e-15
    if K == 2:  # symmetric targets: twice the softmax gap
        assert gap == pytest.approx(2 * margins.smoothed_logit_gap(a, 2), rel=1e-13)


@pytest.mark.parametrize("output", ["softmax", "sigmoid"])
@pytest.mark.parametrize("loss", ["ce", "mse"])
def test_sample_optimum_gap_matches_the_formula(loss, output):
    for a, K in [(0.05, 3), (0.2, 3), (0.1, 10)]:
        numeric = margins.sample_optimum_gap(a, K, loss=loss, output=output)
        assert numeric == pytest.approx(margins.smoothed_logit_gap(a, K, output), abs=1e-6)
    with pytest.raises(ValueError, match="a must be > 0"):
        margins.sample_optimum_gap(0.0, 3, loss=loss, output=output)


def test_gap_of_hard_targets_is_infinite_and_bad_input_refused():
    assert margins.smoothed_logit_gap(0.0, 3) == math.inf
    with pytest.raises(ValueError, match="a must be"):
        margins.smoothed_logit_gap(1.5, 3)
    with pytest.raises(ValueError, match="n_classes must be >= 2"):
        margins.smoothed_logit_gap(0.1, 1)
    with pytest.raises(ValueError, match="output must be one of"):
        margins.smoothed_logit_gap(0.1, 3, output="identity")


def test_saturated_share_hand_cases():
    X = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    net = gl.MLP([2, 2, 2], hidden="tanh", seed=0)
    net.weights[0][:] = [[10.0, 0.1], [0.0, 0.0]]  # unit 0 saturates on row 0 only; unit 1 never
    net.biases[0][:] = 0.0
    assert margins.saturated_share(net, X) == pytest.approx(1 / 6)
    net.biases[0][:] = [0.0, -5.0]  # unit 1 now saturates (tanh(-5) = -0.9999) on every row
    assert margins.saturated_share(net, X) == pytest.approx(4 / 6)
    sig = gl.MLP([2, 2, 2], hidden="sigmoid", seed=0)
    sig.weights[0][:] = [[10.0, 0.0], [-10.0, 0.0]]
    sig.biases[0][:] = 0.0
    assert margins.saturated_share(sig, X) == pytest.approx(2 / 6)  # rows 0 and 1 of unit 0
    deep = gl.MLP([2, 3, 3, 2], seed=0)
    deep.params[:] = 0.0
    assert margins.saturated_share(deep, X) == 0.0
    with pytest.raises(ValueError, match="tanh or sigmoid hidden layer"):
        margins.saturated_share(gl.MLP([2, 2]), X)
    with pytest.raises(ValueError, match="tanh or sigmoid hidden layer"):
        margins.saturated_share(gl.MLP([2, 3, 2], hidden="relu"), X)
    with pytest.raises(ValueError, match="level must be"):
        margins.saturated_share(net, X, level=1.5)


# ---------------------------------------------------------------- growth against log(steps)


def test_log_slope_and_decade_tools_on_exact_curves():
    steps = np.arange(0, 10 ** 5 + 1, 100)
    log_curve = 2.5 * np.log(np.maximum(steps, 1)) + 1.0  # step 0 is ignored
    assert margins.log_slope(steps, log_curve, 1e3, 1e5) == pytest.approx(2.5, rel=1e-12)
    np.testing.assert_allclose(margins.decade_slopes(steps, log_curve, [1e3, 1e4, 1e5]), 2.5, rtol=1e-12)
    growth = margins.decade_growth(steps, log_curve, [1e4, 1e5])
    expected = [(2.5 * np.log(e) + 1) / (2.5 * np.log(e / 10) + 1) - 1 for e in (1e4, 1e5)]
    np.testing.assert_allclose(growth, expected, rtol=1e-12)
    flat = np.full(steps.shape, 3.0)
    np.testing.assert_allclose(margins.decade_growth(steps, flat, [1e4, 1e5]), 0.0, atol=1e-12)
    # record-to-record noise around a plateau: the fit averages it out (the endpoints would not)
    noisy = 3.0 + 0.1 * np.random.default_rng(0).standard_normal(steps.shape)
    assert np.abs(margins.decade_growth(steps, noisy, [1e5])).max() < 0.01
    assert margins.value_at(steps, log_curve, 1000) == pytest.approx(2.5 * np.log(1000) + 1, rel=1e-14)


@pytest.mark.parametrize("call, match", [
    (lambda: margins.log_slope([1, 3, 2], [1, 2, 3], 1, 3), "strictly increasing"),
    (lambda: margins.log_slope([1, 2, 3], [1, 2], 1, 3), "same length"),
    (lambda: margins.log_slope([10, 20, 30], [1, 2, 3], 100, 1000), "fewer than 2 records"),
    (lambda: margins.value_at([10, 20], [1, 2], 40), "outside the recorded range"),
    (lambda: margins.decade_growth([10, 100], [1, 2], [0]), "positive step counts"),
])
def test_growth_tools_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ---------------------------------------------------------------- parameter_path


def test_parameter_path_equals_one_full_batch_run():
    X, y = gl.datasets.blobs(n_samples=40, separable=True, seed=0)
    net = gl.MLP([2, 1], output="sigmoid", seed=0)
    path = margins.parameter_path(net, X, y, [0, 3, 10, 57], lr=0.5)
    assert np.array_equal(path[0], net.params)
    for i, steps in enumerate([3, 10, 57]):
        hist = gl.train(net, X, y, lr=0.5, batch_size=None, epochs=steps)
        assert np.array_equal(path[i + 1], hist.net.params)


@pytest.mark.parametrize("kw, exc, match", [
    (dict(checkpoints=[3, 2]), ValueError, "strictly increasing"),
    (dict(checkpoints=[1.5]), TypeError, "integer step counts"),
    (dict(checkpoints=[1], epochs=3), TypeError, "sets epochs itself"),
])
def test_parameter_path_bad_input(kw, exc, match):
    X, y = gl.datasets.blobs(n_samples=20, separable=True, seed=0)
    with pytest.raises(exc, match=match):
        margins.parameter_path(gl.MLP([2, 1], output="sigmoid"), X, y, **kw)


def test_gd_on_separable_data_turns_towards_the_separator():
    """Soudry et al. (2018), quickly: logistic regression by GD on separable data; d||w||/d ln t
    rises towards ||w_hat|| and the angle to w_hat shrinks, decade by decade."""
    X, y = gl.datasets.blobs(n_samples=100, n_classes=2, n_features=2, separable=True, seed=3)
    X = gl.datasets.standardize(X)
    w_hat = margins.max_margin_separator(X, y)
    steps = np.array([10, 100, 1000, 10000])
    path = margins.parameter_path(gl.MLP([2, 1], output="sigmoid", seed=0), X, y, steps, lr=1.0)
    norms = np.linalg.norm(path, axis=1)  # [w, b]: the bias counts, as in w_hat
    slopes = np.diff(norms) / np.log(10) / np.linalg.norm(w_hat)
    angles = [margins.angle(p, w_hat) for p in path]
    assert np.all(np.diff(angles) < 0), angles
    assert 0.3 < slopes[-1] < 1.05 and slopes[-1] > slopes[0], slopes


# ---------------------------------------------------------------- curves of many runs (gradlab.curves)


def _history():
    steps = np.arange(0, 10001, 50)
    frames = [pd.DataFrame({"run": r, "step": steps, "norm": (r + 1) * np.log1p(steps), "flat": 2.0 + 0 * steps})
              for r in range(4)]
    return pd.concat(frames, ignore_index=True)


def test_log_steps():
    s = curves.log_steps(100, 10 ** 6, per_decade=10)
    assert s[0] == 100 and s[-1] == 10 ** 6 and np.all(np.diff(s) > 0)
    assert 38 <= s.size <= 41
    with pytest.raises(ValueError, match="0 < first < last"):
        curves.log_steps(0, 10)


def test_seed_bands_and_values_at():
    h = _history()
    at = [100, 1000, 10000]
    bands = curves.seed_bands(h, "norm", at, {0: "a", 1: "a", 2: "b", 3: "b"})
    a = bands[bands["group"] == "a"].set_index("step")
    np.testing.assert_allclose(a["lo"], np.log1p(at), rtol=1e-12)
    np.testing.assert_allclose(a["hi"], 2 * np.log1p(at), rtol=1e-12)
    np.testing.assert_allclose(a["mean"], 1.5 * np.log1p(at), rtol=1e-12)
    assert (bands["runs"] == 2).all()
    v = curves.values_at(h, "flat", at)
    assert len(v) == 12 and (v["value"] == 2.0).all()


def test_decade_growth_table_matches_margins():
    h = _history()
    table = curves.decade_growth_table(h, ["norm", "flat"], [1000, 10000])
    run1 = h[h["run"] == 1]
    expected = margins.decade_growth(run1["step"], run1["norm"], [1000, 10000])
    got = table[(table["run"] == 1) & (table["column"] == "norm")]["growth"].to_numpy()
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_allclose(table[table["column"] == "flat"]["growth"], 0.0, atol=1e-12)


@pytest.mark.parametrize("call, exc, match", [
    (lambda h: curves.values_at(h, "nope", [10]), ValueError, "no column"),
    (lambda h: curves.values_at(h.to_dict(), "norm", [10]), TypeError, "DataFrame"),
    (lambda h: curves.seed_bands(h, "norm", [10], {}), TypeError, "non-empty dict"),
    (lambda h: curves.seed_bands(h, "norm", [10], {7: "x"}), ValueError, "none of its runs"),
])
def test_curves_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call(_history())
