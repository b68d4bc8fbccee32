"""gradlab.compare: norm matching, knob sensitivity, agreement within the seed spread, logit
gaps, temperature-scaled calibration and the template-plane projection, on inputs whose answer
is known by construction."""
import numpy as np
import pytest
from scipy.special import softmax

from gradlab import compare


# ---------------------------------------------------------------- match_strength

def test_match_strength_recovers_a_power_law_exactly():
    lam = np.logspace(-5, -2, 7)
    norms = 3.0 * lam ** -0.25  # log-log straight: interpolation is exact
    for target_lam in (2e-5, 1e-4, 7e-3):
        assert compare.match_strength(lam, norms, 3.0 * target_lam ** -0.25) == pytest.approx(target_lam, rel=1e-12)
    shuffled = np.random.default_rng(0).permutation(7)
    assert compare.match_strength(lam[shuffled], norms[shuffled], 3.0 * 1e-4 ** -0.25) == pytest.approx(1e-4)


def test_match_strength_outside_the_grid_is_nan_and_takes_the_first_bracket():
    lam, norms = np.array([1e-4, 1e-3, 1e-2]), np.array([10.0, 8.0, 4.0])
    assert np.isnan(compare.match_strength(lam, norms, 11.0))
    assert np.isnan(compare.match_strength(lam, norms, 3.0))
    assert compare.match_strength(lam, norms, 8.0) == pytest.approx(1e-3)
    # a noisy rise at small lambda: the first bracketing pair (in increasing lambda) is used
    lam, norms = np.array([1e-5, 1e-4, 1e-3, 1e-2]), np.array([10.0, 10.4, 8.0, 4.0])
    assert compare.match_strength(lam, norms, 10.2) < 1e-4


@pytest.mark.parametrize("strengths, norms, target, match", [
    ([0.0, 1e-3], [2.0, 1.0], 1.5, "strengths"), ([1e-3, 1e-2], [2.0, 0.0], 1.5, "norms"),
    ([1e-3, 1e-2], [2.0], 1.5, "same length"), ([1e-3, 1e-2], [2.0, 1.0], 0.0, "target"),
    ([1e-3, np.nan], [2.0, 1.0], 1.5, "strengths")])
def test_match_strength_bad_input(strengths, norms, target, match):
    with pytest.raises(ValueError, match=match):
        compare.match_strength(strengths, norms, target)


# ---------------------------------------------------------------- knob_sensitivity

SEED_NOISE = np.array([-1.5, -0.5, 0.5, 1.5])  # SD (ddof 1) = sqrt(5/3)


def test_sensitivity_is_slope_per_decade_over_seed_sd():
    v = np.logspace(-3, 0, 7)  # half-decade steps
    slope = 0.3  # metric change per decade
    metric = slope * np.log10(v)[:, None] + 0.01 * SEED_NOISE
    acc = np.full((7, 4), 0.9)
    s = compare.knob_sensitivity(v, metric, acc, acc_drop=0.02)
    sd = 0.01 * np.std(SEED_NOISE, ddof=1)
    assert s["seed_sd"] == pytest.approx(sd)
    assert s["sensitivity"] == pytest.approx(slope / sd)
    assert s["n_useful"] == 7 and s["best"] == pytest.approx(1e-3)


def test_sensitivity_ignores_flat_extensions_and_useless_values():
    v = np.array([1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1])
    means = np.array([1.0, 1.0, 1.0, 1.2, 1.4, 3.0])  # steepest useful step: 0.2 per decade
    metric = means[:, None] + 0.1 * SEED_NOISE
    acc = np.full((6, 4), 0.95)
    acc[-1] = 0.80  # the last value costs 15 points of accuracy: outside the useful range
    s = compare.knob_sensitivity(v, metric, acc, acc_drop=0.02)
    assert (s["useful_low"], s["useful_high"], s["n_useful"]) == (1e-6, 1e-2, 5)
    assert s["sensitivity"] == pytest.approx(0.2 / (0.1 * np.std(SEED_NOISE, ddof=1)))
    flat = compare.knob_sensitivity(v[2:], metric[2:], acc[2:], acc_drop=0.02)  # fewer flat values: same number
    assert flat["sensitivity"] == pytest.approx(s["sensitivity"])
    assert np.isnan(compare.knob_sensitivity(v[-2:], metric[-2:], acc[-2:], 0.02)["sensitivity"])


def test_sensitivity_does_not_depend_on_value_order_and_keeps_inputs():
    rng = np.random.default_rng(1)
    v, metric, acc = np.logspace(-4, -1, 5), rng.normal(size=(5, 3)), rng.uniform(0.9, 1, (5, 3))
    before = metric.copy()
    order = rng.permutation(5)
    assert compare.knob_sensitivity(v[order], metric[order], acc[order], 0.05) == \
        compare.knob_sensitivity(v, metric, acc, 0.05)
    assert np.array_equal(metric, before)


def test_sensitivity_over_a_span_counts_the_window_around_the_best_value():
    v = np.logspace(-5, -2, 7)  # 3 decades, half-decade steps
    means = np.array([1.0, 0.9, 0.5, 0.4, 0.45, 0.6, 1.5])  # best at 1e-3.5; steepest step at the top end
    metric, acc = means[:, None] + 0.01 * SEED_NOISE, np.full((7, 4), 0.9)
    whole = compare.knob_sensitivity(v, metric, acc, 0.02)
    assert whole["slope"] == pytest.approx(0.9 / 0.5) and whole["span"] == pytest.approx(3.0)
    one = compare.knob_sensitivity(v, metric, acc, 0.02, span=1.0)  # 1e-4 to 1e-3, centred on the best
    assert (one["low"], one["high"], one["span"]) == (pytest.approx(1e-4), pytest.approx(1e-3), pytest.approx(1.0))
    assert one["slope"] == pytest.approx(0.1 / 0.5)
    assert one["sensitivity"] == pytest.approx(one["slope"] / one["seed_sd"])
    rising = np.arange(7.0)[:, None] + 0.01 * SEED_NOISE  # best at the grid's low end: the window is one-sided
    edge = compare.knob_sensitivity(v, rising, acc, 0.02, span=1.0)
    assert (edge["best"], edge["low"], edge["high"]) == (pytest.approx(1e-5), pytest.approx(1e-5), pytest.approx(1e-4))
    assert compare.useful_span(v, acc, 0.02) == pytest.approx(3.0)
    # two windows of the same width (up to rounding of the grid) hold the best: the one centred on it
    grid = np.array([1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2])
    dip = np.array([0.24, 0.22, 0.19, 0.14, 0.13, 0.18])[:, None] + 0.01 * SEED_NOISE
    centred = compare.knob_sensitivity(grid, dip, np.full((6, 4), 0.9), 0.02, span=2.0)
    assert (centred["low"], centred["high"]) == (pytest.approx(3e-4), pytest.approx(3e-2))


def test_paired_difference_by_hand():
    diff, se = compare.paired_difference([1.0, 2.0, 3.0], [1.5, 2.0, 4.0])  # d = 0.5, 0, 1
    assert diff == pytest.approx(0.5) and se == pytest.approx(0.5 / np.sqrt(3))
    with pytest.raises(ValueError, match="same number of seeds"):
        compare.paired_difference([1.0, 2.0], [1.0, 2.0, 3.0])


@pytest.mark.parametrize("values, metric, acc, drop, err, match", [
    ([0.0, 1.0], np.ones((2, 2)), np.ones((2, 2)), 0.0, ValueError, "values"),
    ([1.0, 1.0], np.ones((2, 2)), np.ones((2, 2)), 0.0, ValueError, "distinct"),
    ([1.0, 2.0], np.ones((3, 2)), np.ones((2, 2)), 0.0, ValueError, "metric"),
    ([1.0, 2.0], np.ones((2, 1)), np.ones((2, 1)), 0.0, ValueError, "seeds"),
    ([1.0, 2.0], np.ones((2, 2)), np.ones((2, 2)), -0.1, ValueError, "acc_drop"),
    ([1.0, 2.0], np.ones((2, 2)), np.ones((2, 2)), "x", TypeError, "acc_drop")])
def test_sensitivity_bad_input(values, metric, acc, drop, err, match):
    with pytest.raises(err, match=match):
        compare.knob_sensitivity(values, metric, acc, drop)


# ---------------------------------------------------------------- agreement

def test_spread_comparison_by_hand():
    x, y = np.array([1.0, 2.0, 3.0]), np.array([2.0, 3.0, 4.0])  # SDs 1, difference 1
    assert compare.spread_comparison(x, y) == (pytest.approx(1.0), pytest.approx(1.0), True)
    assert compare.spread_comparison(x, y + 0.01)[2] is False
    with pytest.raises(ValueError, match="2 seeds"):
        compare.spread_comparison([1.0], [1.0, 2.0])


def test_prediction_agreement_by_hand():
    X = np.array([[0, 1, 2, 3], [0, 1, 2, 0], [0, 0, 2, 3]])
    Y = np.array([[0, 1, 2, 3], [1, 1, 2, 0], [0, 0, 0, 0]])
    across, within = compare.prediction_agreement(X, Y)
    assert across.tolist() == [1.0, 0.75, 0.5]
    # seeds (0,1), (1,2), (2,0) of X, then of Y
    assert within.tolist() == [0.75, 0.5, 0.75, 0.5, 0.25, 0.25]
    with pytest.raises(ValueError, match="same shape"):
        compare.prediction_agreement(X, Y[:2])
    with pytest.raises(TypeError, match="integer"):
        compare.prediction_agreement(X.astype(float), Y)


def test_logit_gaps_against_a_loop():
    rng = np.random.default_rng(2)
    Z, y = rng.normal(size=(20, 4)), rng.integers(0, 4, 20)
    expected = [Z[n, y[n]] - max(Z[n, k] for k in range(4) if k != y[n]) for n in range(20)]
    assert np.allclose(compare.logit_gaps(Z, y), expected, rtol=0, atol=0)
    with pytest.raises(ValueError, match="2 classes"):
        compare.logit_gaps(Z[:, :1], np.zeros(20, int))


def test_calibration_recovers_a_known_temperature():
    rng = np.random.default_rng(3)
    Z = rng.normal(0, 2, (6000, 5))
    y = (rng.random((6000, 1)) > softmax(Z, axis=1).cumsum(axis=1)).sum(axis=1).clip(max=4)
    hot = 3.0 * Z  # overconfident by a factor 3: the fitted temperature is about 3
    c = compare.calibration(hot[:3000], y[:3000], hot[3000:], y[3000:])
    assert c["T"] == pytest.approx(3.0, rel=0.1)
    assert c["ece_ts"] < c["ece"] / 3 and c["nll_ts"] < c["nll"]
    assert c["acc"] == pytest.approx((hot[3000:].argmax(axis=1) == y[3000:]).mean())


# ---------------------------------------------------------------- template plane

def test_template_plane_puts_templates_at_known_coordinates():
    rng = np.random.default_rng(4)
    W = rng.normal(size=(6, 4))
    origin, basis = compare.template_plane(W, (2, 0, 3))
    assert np.allclose(basis @ basis.T, np.eye(2), atol=1e-14)
    T = compare.project(W[:, [2, 0, 3]].T, origin, basis)
    assert np.allclose(T[0], 0) and T[1, 1] == pytest.approx(0, abs=1e-14)
    assert T[1, 0] == pytest.approx(np.linalg.norm(W[:, 0] - W[:, 2]))
    # distances within the plane are kept: |t3 - t0| in 6-D equals its planar length
    assert np.linalg.norm(T[2]) == pytest.approx(np.linalg.norm(W[:, 3] - W[:, 2]))
    # a point off the plane projects to its foot: moving along the normal changes nothing
    normal = rng.normal(size=6)
    normal -= basis.T @ (basis @ normal)
    assert np.allclose(compare.project((W[:, 0] + normal)[None], origin, basis), T[1])


def test_template_plane_bad_input():
    W = np.array([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]])  # collinear columns
    with pytest.raises(ValueError, match="collinear"):
        compare.template_plane(W, (0, 1, 2))
    with pytest.raises(ValueError, match="distinct"):
        compare.template_plane(np.eye(3), (0, 0, 1))
    with pytest.raises(ValueError, match="share"):
        compare.project(np.ones((2, 3)), np.zeros(4), np.ones((2, 4)))


def test_cluster_tightness_by_hand_and_scale_free():
    P = np.array([[1.0, 0.0], [-1.0, 0.0], [10.0, 1.0], [10.0, -1.0]])
    y = np.array([0, 0, 1, 1])
    # within: every point 1 from its centre; centres (0,0), (10,0): each 5 from their mean
    assert compare.cluster_tightness(P, y) == pytest.approx(1 / 5)
    assert compare.cluster_tightness(7 * P + 3, y) == pytest.approx(1 / 5)
    with pytest.raises(ValueError, match="two classes"):
        compare.cluster_tightness(P, np.zeros(4, int))
