"""Calibration metrics: hand-computed cases, scikit-learn's calibration_curve, temperature
recovery on data drawn at a known temperature, and bad input."""
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.special import log_expit, log_softmax, softmax

from gradlab import metrics
from tolerances import EPS64

# Four 3-class rows with hand-known bins (bins=10): confidences 0.55 (correct), 0.65 (wrong),
# 0.90 (correct; exactly on the edge 0.9, so in (0.8, 0.9]) and 0.85 (wrong).
HAND_P = np.array([[0.55, 0.25, 0.20], [0.20, 0.15, 0.65], [0.05, 0.90, 0.05], [0.85, 0.10, 0.05]])
HAND_Y = np.array([0, 0, 1, 2])


def sample_labels(rng, P):
    """One label per row drawn from the row's class probabilities."""
    return (rng.random((P.shape[0], 1)) > P.cumsum(axis=1)).sum(axis=1).clip(max=P.shape[1] - 1)


def true_nll(Z, y, T):
    """Mean NLL of softmax(Z / T) (sigmoid for one column), from log-softmax: no clipping."""
    if Z.shape[1] == 1:
        return -log_expit(np.where(y == 1, Z[:, 0], -Z[:, 0]) / T).mean()
    return -log_softmax(Z / T, axis=1)[np.arange(len(y)), y].mean()


# ---------------------------------------------------------------- hand-computed

def test_hand_computed_ece_nll_and_table():
    assert np.linspace(0, 1, 11)[9] == 0.9  # the edge the third row sits on
    # bins (0.5,0.6]: 1 row, acc 1, conf .55; (0.6,0.7]: acc 0, conf .65; (0.8,0.9]: acc 1/2, conf .875
    expected_ece = (abs(1 - 0.55) + abs(0 - 0.65) + 2 * abs(0.5 - 0.875)) / 4  # = 0.4625
    assert metrics.ece(HAND_P, HAND_Y, bins=10) == pytest.approx(expected_ece, abs=4 * EPS64)
    assert metrics.nll(HAND_P, HAND_Y) == pytest.approx(-np.log([0.55, 0.20, 0.90, 0.05]).mean(),
                                                        rel=4 * EPS64)
    table = metrics.reliability(HAND_P, HAND_Y, bins=10)
    assert list(table.columns) == ["lower", "upper", "confidence", "accuracy", "count"]
    np.testing.assert_array_equal(table["count"], [0, 0, 0, 0, 0, 1, 1, 0, 2, 0])
    np.testing.assert_allclose(table["lower"], np.arange(10) / 10, atol=EPS64)
    np.testing.assert_allclose(table["upper"], np.arange(1, 11) / 10, atol=EPS64)
    filled = table["count"] > 0
    np.testing.assert_allclose(table.loc[filled, "confidence"], [0.55, 0.65, 0.875], rtol=4 * EPS64)
    np.testing.assert_array_equal(table.loc[filled, "accuracy"], [1.0, 0.0, 0.5])
    assert table.loc[~filled, ["confidence", "accuracy"]].isna().all().all()


def test_ties_go_to_the_lowest_class_and_bins_one_is_the_overall_gap():
    tie = np.array([[0.4, 0.4, 0.2]])
    assert metrics.reliability(tie, [0], bins=5)["accuracy"][1] == 1.0  # (0.2, 0.4]: predicted 0
    assert metrics.reliability(tie, [1], bins=5)["accuracy"][1] == 0.0
    P = np.array([[0.4, 0.4, 0.2], [0.6, 0.2, 0.2]])  # bins=1: |share correct - mean conf 0.5|
    assert metrics.ece(P, [0, 0], bins=1) == pytest.approx(0.5, abs=4 * EPS64)
    assert metrics.ece(P, [1, 0], bins=1) == pytest.approx(0.0, abs=4 * EPS64)
    # one bin: |overall accuracy - mean confidence|; HAND: acc 2/4, mean conf 2.95/4
    assert metrics.ece(HAND_P, HAND_Y, bins=1) == pytest.approx(abs(0.5 - 2.95 / 4), abs=4 * EPS64)


def test_nll_clips_a_zero_probability_at_the_smallest_normal_float():
    P = np.array([[1.0, 0.0], [0.5, 0.5]])
    for dtype in (np.float64, np.float32):
        got = metrics.nll(P.astype(dtype), [1, 0])
        assert np.isfinite(got)
        assert got == pytest.approx((-np.log(np.finfo(dtype).tiny) + np.log(2)) / 2, rel=1e-6)
    assert metrics.nll(np.eye(3), [0, 1, 2]) == 0.0


def test_perfect_calibration_gives_zero():
    # per bin, the share correct equals the confidence exactly: 8 of 10 at 0.8, 3 of 5 at 0.6,
    # 2 of 4 at 0.5 (three classes); plus one-hot rows that are all right
    P = np.vstack([np.tile([0.2, 0.8, 0.0], (10, 1)), np.tile([0.6, 0.4, 0.0], (5, 1)),
                   np.tile([0.25, 0.25, 0.5], (4, 1)), np.eye(3)])
    y = np.r_[[1] * 8, [0] * 2, [0] * 3, [1] * 2, [2, 2, 0, 1], [0, 1, 2]]
    # each bin sum is <= 10 roundings of numbers <= 1, then divided by n = 22: <= ~eps
    assert metrics.ece(P, y) <= 4 * EPS64
    assert metrics.ece(np.eye(4), np.arange(4)) == 0.0


def test_ece_is_the_count_weighted_gap_of_the_reliability_table():
    rng = np.random.default_rng(3)
    P = softmax(rng.normal(size=(500, 4)) * 2, axis=1)
    y = sample_labels(rng, P)
    for bins in (1, 7, 15):
        table = metrics.reliability(P, y, bins=bins)
        assert table["count"].sum() == 500 and len(table) == bins
        filled = table[table["count"] > 0]
        weighted = (filled["count"] / 500 * (filled["accuracy"] - filled["confidence"]).abs()).sum()
        assert metrics.ece(P, y, bins=bins) == pytest.approx(weighted, abs=64 * EPS64)


def test_ece_is_small_for_labels_drawn_from_the_probabilities_and_large_for_sharpened_ones():
    # E[ECE] <= sum_b n_b/n sqrt(acc_b (1 - acc_b) / n_b) <= sqrt(bins / (4 n)) (Cauchy-Schwarz)
    # for labels drawn from the probabilities: 0.0137 here.
    rng = np.random.default_rng(4)
    n, bins = 20000, 15
    P = softmax(rng.normal(size=(n, 5)) * 2, axis=1)
    y = sample_labels(rng, P)
    bound = np.sqrt(bins / (4 * n))
    assert metrics.ece(P, y, bins) < 2 * bound
    sharpened = P ** 3 / (P ** 3).sum(axis=1, keepdims=True)  # over-confident, same labels
    assert metrics.ece(sharpened, y, bins) > 5 * bound


def test_binary_forms_agree():
    rng = np.random.default_rng(5)
    p = rng.random(300)
    y = (rng.random(300) < p).astype(int)
    two = np.column_stack([1 - p, p])
    for f in (metrics.nll, metrics.ece):
        assert f(p, y) == f(p[:, None], y) == f(two, y)
    pd.testing.assert_frame_equal(metrics.reliability(p, y, 8), metrics.reliability(two, y, 8))


def test_float32_softmax_rows_pass_validation():
    rng = np.random.default_rng(6)
    P = softmax(rng.normal(size=(200, 10)).astype(np.float32) * 4, axis=1).astype(np.float32)
    y = rng.integers(0, 10, 200)
    P64 = P.astype(np.float64)  # rows sum to 1 only to float32 precision: still accepted
    assert metrics.ece(P, y) == metrics.ece(P64, y)
    assert metrics.nll(P, y) == pytest.approx(metrics.nll(P64, y), rel=4 * EPS64)


# ---------------------------------------------------------------- scikit-learn

def test_reliability_matches_sklearn_calibration_curve_for_binary_problems():
    calibration_curve = pytest.importorskip("sklearn.calibration").calibration_curve
    rng = np.random.default_rng(7)
    bins = 10
    edges = np.linspace(0, 1, bins + 1)
    # P(class 1) above 0.5: the top class is class 1 and its confidence is p itself, so bins,
    # accuracy (share of y == 1) and confidence are sklearn's prob_true / prob_pred. The edge
    # values themselves are included: both put them in the bin below, (lo, hi].
    p = np.r_[rng.uniform(0.5, 1.0, 400), edges[6:], edges[6:]]
    p = p[p > 0.5]
    y = (rng.random(p.size) < p ** 2).astype(int)  # miscalibrated, so the bins differ
    prob_true, prob_pred = calibration_curve(y, p, n_bins=bins, strategy="uniform")
    table = metrics.reliability(p, y, bins)
    filled = table[table["count"] > 0]
    assert len(filled) == len(prob_true) == 5
    np.testing.assert_array_equal(filled["accuracy"], prob_true)
    np.testing.assert_array_equal(filled["confidence"], prob_pred)
    # below 0.5 the top class is class 0 with confidence 1 - p: sklearn's bins in reverse
    # order, accuracy 1 - prob_true and confidence 1 - prob_pred (to the rounding of 1 - p).
    # Its (lo, hi] bins on p are [1 - hi, 1 - lo) on 1 - p, so no value sits on an edge here.
    q = rng.uniform(0.0, 0.5, 400)
    q = q[np.min(np.abs(q[:, None] - edges), axis=1) > 1e-9]
    yq = (rng.random(q.size) < np.sqrt(q)).astype(int)
    prob_true, prob_pred = calibration_curve(yq, q, n_bins=bins, strategy="uniform")
    table = metrics.reliability(q, yq, bins)
    filled = table[table["count"] > 0]
    assert len(filled) == len(prob_true) == 5
    np.testing.assert_allclose(filled["accuracy"], 1 - prob_true[::-1], atol=4 * EPS64)
    np.testing.assert_allclose(filled["confidence"], 1 - prob_pred[::-1], atol=4 * EPS64)


# ---------------------------------------------------------------- temperature scaling

@pytest.mark.parametrize("K, T_true, scale", [(5, 2.5, 3.0), (3, 0.6, 1.0), (1, 0.5, 1.0)])
def test_fit_temperature_recovers_the_temperature_the_labels_were_drawn_at(K, T_true, scale):
    rng = np.random.default_rng(K)
    n = 40000
    Z = rng.normal(size=(n, K)) * scale
    beta = 1 / T_true
    if K == 1:
        p1 = 1 / (1 + np.exp(-beta * Z[:, 0]))
        y = (rng.random(n) < p1).astype(int)
        info = (p1 * (1 - p1) * Z[:, 0] ** 2).mean()  # Fisher information per row for beta
    else:
        P = softmax(beta * Z, axis=1)
        y = sample_labels(rng, P)
        info = ((P * Z ** 2).sum(axis=1) - (P * Z).sum(axis=1) ** 2).mean()  # mean Var_p(z)
    T = metrics.fit_temperature(Z, y)
    # The MLE of beta has standard error 1 / sqrt(n I(beta)); 4 of them bound the error.
    se = 1 / np.sqrt(n * info)
    assert 4 * se < 0.05 * beta  # the check is sharp enough to tell a wrong T apart
    assert abs(1 / T - beta) < 4 * se
    # T is the minimiser of the NLL computed independently (log-softmax): no nearby T is better
    f = true_nll(Z, y, T)
    assert f <= min(true_nll(Z, y, T * 1.001), true_nll(Z, y, T / 1.001))
    assert metrics.fit_temperature(Z.astype(np.float32), y) == pytest.approx(
        metrics.fit_temperature(Z.astype(np.float32).astype(np.float64), y), rel=1e-12)


@given(st.integers(2, 30).flatmap(lambda n: st.integers(1, 5).flatmap(lambda K: st.tuples(
    hnp.arrays(np.float64, (n, K), elements=st.floats(-30, 30)),
    hnp.arrays(np.int64, n, elements=st.integers(0, max(K, 2) - 1))))))
def test_temperature_scaling_never_raises_nll_on_the_fitting_rows(data):
    Z, y = data
    constant = np.all(Z == 0) if Z.shape[1] == 1 else np.all(Z == Z[:, :1])
    if constant:
        with pytest.raises(ValueError, match="logits"):
            metrics.fit_temperature(Z, y)
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        T = metrics.fit_temperature(Z, y)
    if caught:
        assert T in (metrics.T_MIN, metrics.T_MAX) and caught[0].category is RuntimeWarning
    # Each log-softmax term is a few roundings of numbers of size max|z| / T, so the two NLLs
    # are each exact to ~4 eps (1 + max|z| / min(T, 1)); 16 eps of that bounds their difference.
    tol = 16 * EPS64 * (1 + np.abs(Z).max() / min(T, 1.0))
    assert true_nll(Z, y, T) <= true_nll(Z, y, 1.0) + tol


def test_fit_temperature_without_an_interior_minimum_warns_and_returns_the_bound():
    Z = np.array([[3.0, 0.0, 0.0], [0.0, 2.0, 2.0]])  # true class never outranked (a tie allowed)
    with pytest.warns(RuntimeWarning, match="no row's true class is outranked"):
        assert metrics.fit_temperature(Z, [0, 1]) == metrics.T_MIN
    with pytest.warns(RuntimeWarning, match="outranked"):
        assert metrics.fit_temperature(np.array([2.0, -1.0, 0.0]), [1, 0, 1]) == metrics.T_MIN
    rng = np.random.default_rng(8)
    Z = rng.normal(size=(100, 3))  # labels on the smallest logit: the best T is +infinity
    with pytest.warns(RuntimeWarning, match="no minimum"):
        assert metrics.fit_temperature(Z, Z.argmin(axis=1)) == metrics.T_MAX


# ---------------------------------------------------------------- bad input, inputs untouched

P3 = HAND_P
Y3 = HAND_Y


def with_value(A, index, value):
    A = np.array(A, np.float64)
    A[index] = value
    return A


BAD = [
    ("probs 3-D", lambda: metrics.ece(P3[None], Y3), ValueError, "probs must be 1-D"),
    ("probs empty", lambda: metrics.nll(np.empty((0, 3)), []), ValueError, "probs is empty"),
    ("probs no columns", lambda: metrics.nll(np.empty((4, 0)), Y3), ValueError, "probs is empty"),
    ("probs strings", lambda: metrics.nll(np.array([["a", "b"]]), [0]), TypeError, "probs must hold real"),
    ("probs NaN", lambda: metrics.ece(with_value(P3, (1, 1), np.nan), Y3), ValueError, "probs contains NaN"),
    ("probs inf", lambda: metrics.nll(with_value(P3, (0, 0), np.inf), Y3), ValueError, "probs contains NaN"),
    ("probs > 1", lambda: metrics.nll([1.2, 0.3], [1, 0]), ValueError, "probs must lie in"),
    ("probs < 0", lambda: metrics.reliability(with_value(P3, (0, 1), -0.01), Y3), ValueError,
     "probs must lie in"),
    ("rows not summing to 1", lambda: metrics.ece(P3 * 0.9, Y3), ValueError, "probs: every row"),
    ("rows off by 1e-3", lambda: metrics.nll(with_value(P3, (0, 0), 0.551), Y3), ValueError,
     "probs: every row"),
    ("label out of range", lambda: metrics.nll(P3, [0, 1, 3, 0]), ValueError, "y: labels must lie"),
    ("binary label 2", lambda: metrics.ece([0.2, 0.9], [0, 2]), ValueError, "y: labels must lie"),
    ("negative label", lambda: metrics.ece(P3, [0, -1, 1, 2]), ValueError, "y: labels must lie"),
    ("fractional label", lambda: metrics.nll(P3, [0, 0.5, 1, 2]), ValueError, "y must hold whole"),
    ("bool labels", lambda: metrics.nll([0.2, 0.9], [False, True]), TypeError, "y must hold integer"),
    ("y 2-D", lambda: metrics.nll(P3, Y3[:, None]), ValueError, "y must be 1-D"),
    ("y empty", lambda: metrics.nll(P3, []), ValueError, "y is empty"),
    ("y length", lambda: metrics.reliability(P3, Y3[:3]), ValueError, "y has 3 labels but probs has 4"),
    ("bins 0", lambda: metrics.ece(P3, Y3, bins=0), ValueError, "bins must be >= 1"),
    ("bins float", lambda: metrics.reliability(P3, Y3, bins=2.5), TypeError, "bins must be an integer"),
    ("bins bool", lambda: metrics.ece(P3, Y3, bins=True), TypeError, "bins must be an integer"),
    ("logits 3-D", lambda: metrics.fit_temperature(np.ones((2, 2, 2)), [0, 1]), ValueError,
     "logits must be 1-D"),
    ("logits NaN", lambda: metrics.fit_temperature(with_value(P3, (2, 0), np.nan), Y3), ValueError,
     "logits contains NaN"),
    ("logits empty", lambda: metrics.fit_temperature(np.empty((0, 2)), []), ValueError, "logits is empty"),
    ("logits constant rows", lambda: metrics.fit_temperature(np.ones((4, 3)), Y3), ValueError, "logits:"),
    ("logits label out of range", lambda: metrics.fit_temperature(P3, [0, 1, 2, 3]), ValueError,
     "y: labels must lie"),
    ("logits y length", lambda: metrics.fit_temperature(P3, Y3[:2]), ValueError, "y has 2 labels but logits"),
]


@pytest.mark.parametrize("call, error, message", [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_input_raises_naming_the_argument(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_inputs_are_not_modified():
    rng = np.random.default_rng(9)
    cases = [softmax(rng.normal(size=(50, 4)) * 3, axis=1), rng.random(50),
             softmax(rng.normal(size=(50, 3)) * 3, axis=1).astype(np.float32)]
    for P in cases:
        y = sample_labels(rng, np.column_stack([1 - P, P]) if P.ndim == 1 else P)
        P_copy, y_copy = P.copy(), y.copy()
        P.setflags(write=False)  # any write into the caller's arrays would raise
        y.setflags(write=False)
        metrics.nll(P, y), metrics.ece(P, y), metrics.reliability(P, y)
        Z = np.log(P) if P.ndim == 2 else np.log(P / (1 - P))
        Z.setflags(write=False)
        Z_copy = Z.copy()
        metrics.fit_temperature(Z, y)
        np.testing.assert_array_equal(P, P_copy)
        np.testing.assert_array_equal(y, y_copy)
        np.testing.assert_array_equal(Z, Z_copy)
