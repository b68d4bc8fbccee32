"""Verdict rules for C1-C5 on synthetic numbers whose answer is known (each verdict reached and
flipped), and the library measurements behind them on cases with known results."""
import numpy as np
import pytest

from gradlab import claims, error_term
from gradlab.report import rules, style
from gradlab.targets import one_hot, smooth_labels, smoothing_of

# ---------------------------------------------------------------- rules


@pytest.mark.parametrize("formula,fd,verdict", [
    (0.0, 1e-9, "holds"), (2e-16, 5e-7, "holds"),
    (1e-3, 1e-9, "does not hold"), (0.0, 1e-2, "does not hold"),
    (1e-8, 1e-9, "inconclusive"), (0.0, 1e-5, "inconclusive"),
])
def test_rule_c1(formula, fd, verdict):
    assert rules.rule_c1(formula, fd)[0] == verdict


C2_GOOD = dict(max_linearity_defect=1e-15, max_abs_delta_at_target=0.0, max_rel_err_vs_fd=1e-9,
               elementwise_sign_mismatch_share=0.0, softmax_sign_mismatch_share=0.0, documented_example_mismatches=0)


@pytest.mark.parametrize("change,verdict", [
    ({}, "holds"),
    ({"softmax_sign_mismatch_share": 0.4}, "holds in part"),
    ({"documented_example_mismatches": 1}, "holds in part"),
    ({"elementwise_sign_mismatch_share": 1e-4, "softmax_sign_mismatch_share": 0.4}, "does not hold"),
    ({"max_linearity_defect": 0.1}, "does not hold"),
    ({"max_rel_err_vs_fd": 1e-2}, "does not hold"),
    ({"max_abs_delta_at_target": 1e-9}, "inconclusive"),
])
def test_rule_c2(change, verdict):
    v, reason = rules.rule_c2(**{**C2_GOOD, **change})
    assert v == verdict and reason


@pytest.mark.parametrize("smoothed,binary,verdict", [
    (0.0, 0.0, "holds"), (0.0, 0.1, "does not hold"), (1e-2, 0.0, "does not hold"), (1e-9, 0.0, "inconclusive")])
def test_rule_c3(smoothed, binary, verdict):
    v, reason = rules.rule_c3(smoothed, binary, 0.3)
    assert v == verdict and "a = 0.3" in reason


@pytest.mark.parametrize("defect,modified,verdict", [
    (1e-16, 0, "holds"), (1e-16, 1, "does not hold"), (0.5, 0, "does not hold"), (1e-8, 0, "inconclusive")])
def test_rule_c4(defect, modified, verdict):
    assert rules.rule_c4(defect, modified)[0] == verdict


@pytest.mark.parametrize("published,mismatches,no_flip,offset,verdict", [
    (1e-18, 0, 0, 1e-15, "holds"),
    (1e-3, 0, 0, 1e-15, "holds in part"),  # a published number off in its 4th decimal
    (1e-18, 3, 0, 1e-15, "holds in part"),
    (1e-18, 0, 1, 1e-15, "holds in part"),
    (1e-18, 0, 0, 0.02, "holds in part"),  # flips, but away from t'
    (1e-3, 2, 0, 0.02, "does not hold"),
])
def test_rule_c5(published, mismatches, no_flip, offset, verdict):
    assert rules.rule_c5(published, mismatches, no_flip, offset)[0] == verdict


def test_every_rule_returns_a_known_verdict_and_reapply_ignores_extra_numbers():
    numbers = [{"name": k, "value": v} for k, v in C2_GOOD.items()] + [{"name": "note_only", "value": "x"}]
    assert rules.reapply(rules.rule_c2, numbers) == rules.rule_c2(**C2_GOOD)
    with pytest.raises(TypeError):
        rules.reapply("rule_c2", numbers[:2])  # a missing number is an error, not a default


# ---------------------------------------------------------------- smoothing_of


def test_smoothing_of_inverts_smooth_labels():
    rng = np.random.default_rng(0)
    for K in (2, 3, 10):
        a = rng.uniform(0, 1, 20)
        T = np.array([smooth_labels(one_hot([i % K], K), ai)[0] for i, ai in enumerate(a)])
        np.testing.assert_allclose(smoothing_of(T), a, atol=1e-12)
        a_off = rng.uniform(0, (K - 1) / K, 20)
        T = np.array([smooth_labels(one_hot([0], K), ai, variant="off_class")[0] for ai in a_off])
        np.testing.assert_allclose(smoothing_of(T, variant="off_class"), a_off, atol=1e-12)


def test_smoothing_of_the_posts_and_the_binary_examples():
    assert smoothing_of([0.1, 0.8, 0.1]) == pytest.approx(0.3, abs=1e-12)
    assert smoothing_of([0.1, 0.8, 0.1], variant="off_class") == pytest.approx(0.2, abs=1e-12)
    np.testing.assert_allclose(smoothing_of([[0.9], [0.1], [0.8]]), [0.2, 0.2, 0.4], atol=1e-12)
    assert smoothing_of([0.0, 1.0]) == 0.0 and smoothing_of([0.5, 0.5]) == pytest.approx(1.0)


@pytest.mark.parametrize("T,match", [
    ([0.2, 0.3, 0.5], "not a smoothed one-hot"), ([0.1, 0.8, 0.2], "not a smoothed one-hot"),
    ([1.2, -0.2], r"\[0, 1\]"), ([[np.nan, 1.0]], "NaN"), ([["a", "b"]], None)])
def test_smoothing_of_rejects_rows_that_are_not_smoothed_one_hot(T, match):
    with pytest.raises((ValueError, TypeError), match=match):
        smoothing_of(T)


def test_smoothing_of_does_not_modify_its_input():
    T = smooth_labels(one_hot([0, 1], 3), 0.2)
    before = T.copy()
    smoothing_of(T)
    np.testing.assert_array_equal(T, before)


# ---------------------------------------------------------------- measurements behind C2 and C5


def test_zero_crossings_by_interpolation():
    x = np.arange(11) / 10
    np.testing.assert_allclose(claims.zero_crossings(x, x - 0.35), [0.35])
    np.testing.assert_allclose(claims.zero_crossings(x, np.abs(x - 0.5) - 0.25), [0.25, 0.75])  # linear pieces
    np.testing.assert_array_equal(claims.zero_crossings(x, x - 0.3), [0.3])  # a sample exactly at 0
    assert claims.zero_crossings(x, x + 1).size == 0


def test_flip_output_lies_at_t_for_ce_and_off_t_for_skewed_softmax_mse():
    count, flip = claims.flip_output("ce", "softmax", 0.8, K=3, grid=2001)
    assert count == 1 and abs(flip - 0.8) < rules.FLIP_ATOL
    count, flip = claims.flip_output("mse", "sigmoid", 0.9, K=1, grid=2001)
    assert count == 1 and abs(flip - 0.9) < rules.FLIP_ATOL
    # exact softmax-MSE couples the classes: with unequal other logits the flip moves away from t'
    count, flip = claims.flip_output("mse", "softmax", 0.9, K=3, rest=[0.0, 2.0, -2.0], grid=2001)
    assert count == 1 and abs(flip - 0.9) > 1e-3
    # hard target: the CE error term o - 1 never changes sign
    assert claims.flip_output("ce", "sigmoid", 1.0, K=1, grid=2001) == (0, pytest.approx(np.nan, nan_ok=True))


def test_sign_mismatch_finds_the_claims_md_example_and_none_for_the_diagonal():
    z = np.log([[0.01, 0.01, 0.98]])
    t = [[1.0, 0.0, 0.0]]
    np.testing.assert_array_equal(claims.sign_mismatch(z, t), [[False, True, False]])
    rng = np.random.default_rng(0)
    z = rng.normal(0, 3, (2000, 4))
    T = one_hot(rng.integers(0, 4, 2000), 4)
    assert not claims.sign_mismatch(z, T, variant="diagonal").any()  # o(1 - o) > 0 keeps the sign
    share, example = claims.sign_mismatch_search(rng, [1.0, 0.0, 0.0], tries=2000)
    assert 0 < share < 1 and claims.sign_mismatch(example[None], t).any()


def test_diagonal_vs_exact_is_zero_only_where_they_agree():
    z = np.array([[0.3, -1.0, 2.0]])
    o = claims.outputs(z, "softmax")
    same = claims.diagonal_vs_exact(z, o)  # t = o: both error terms are 0
    assert np.isnan(same["rel_l1"][0])
    gap = claims.diagonal_vs_exact(z, [[1.0, 0.0, 0.0]])
    exact = error_term(z, [[1.0, 0.0, 0.0]], "mse", "softmax")
    diag = error_term(z, [[1.0, 0.0, 0.0]], "mse", "softmax", variant="diagonal")
    assert gap["rel_l1"][0] == pytest.approx(np.abs(diag - exact).sum() / np.abs(exact).sum())
    assert -1 <= gap["cosine"][0] <= 1


def test_mismatch_share_on_simplex_matches_a_raster_estimate():
    P, inside, _ = style.ternary_raster(200)
    o = P[inside]
    raster = claims.sign_mismatch(np.log(o), np.tile([1.0, 0, 0], (o.shape[0], 1))).any(axis=1).mean()
    mc = claims.mismatch_share_on_simplex(np.random.default_rng(0), [1.0, 0.0, 0.0], n=40000)
    assert abs(mc - raster) < 0.02 and 0.1 < mc < 0.9


def test_ternary_geometry_round_trip():
    P, inside, extent = style.ternary_raster(50)
    assert np.allclose(P.sum(axis=-1), 1) and inside.any() and not inside.all()
    x, y = style.ternary_xy(np.eye(3))
    np.testing.assert_allclose(x, [0, 1, 0.5])
    np.testing.assert_allclose(y, [0, 0, np.sqrt(3) / 2])


def test_training_with_smoothing_writes_no_caller_array():
    assert claims.training_modifies_inputs(epochs=1) == 0
