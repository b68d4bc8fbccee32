"""Verdict rules of C8, C9 and C11 on synthetic numbers: each verdict a rule can return is reached, and flipped."""
import pytest

from gradlab.report import Number, rules

MEASURES = list(rules.C8_MEASURES)
# every measure agrees in every pair, where hard targets do not; the weight-decay pairs repeat L2's
C8 = dict(matched_pairs=8, repeated_pairs=4, l2_vs_weight_decay_max_rel_norm_gap=1.5e-15,
          **{f"agree_{m}": 1.0 for m in MEASURES}, **{f"differ_{m}": 0.0 for m in MEASURES},
          **{f"null_agree_{m}": 0.0 for m in MEASURES})
DIFFER_ALL = {**{f"agree_{m}": 0.0 for m in MEASURES}, **{f"differ_{m}": 1.0 for m in MEASURES}}
NULL_AGREES = {**{f"agree_{m}": 0.0 for m in MEASURES}, **{f"null_agree_{m}": 1.0 for m in MEASURES}}


@pytest.mark.parametrize("change, verdict, phrase", [
    ({}, "holds", "agree on test accuracy, test NLL"),
    ({"agree_test_nll": rules.C8_SHARE}, "holds", "they differ on none"),  # the share's edge counts
    ({"agree_test_nll": 0.0, "differ_test_nll": 1.0}, "holds in part", "they differ on test NLL (100% of pairs)"),
    ({"agree_test_acc": 0.0, "null_agree_test_acc": 1.0}, "holds in part",
     "cannot tell on test accuracy (hard targets without any penalty agree with LS at 100% of a values)"),
    ({"agree_test_ece": 0.5, "differ_test_ece": 0.25}, "holds in part", "mixed on ECE (50% agree, 25% differ)"),
    (DIFFER_ALL, "does not hold", "LS and the penalty agree on none"),
    (dict(DIFFER_ALL, agree_test_acc=0.0, differ_test_acc=0.0, null_agree_test_acc=1.0), "does not hold",
     "cannot tell on test accuracy"),
    (NULL_AGREES, "inconclusive", "cannot tell"),  # the null passes every test: nothing can be claimed
    ({"matched_pairs": 0}, "inconclusive", "no pair could be compared"),
    ({"agree_test_nll": float("nan")}, "inconclusive", "agree_test_nll"),
])
def test_c8_reaches_each_verdict(change, verdict, phrase):
    got, reason = rules.rule_c8(**{**C8, **change})
    assert got == verdict, reason
    assert phrase in reason


@pytest.mark.parametrize("edge, verdict", [(0, "holds"), (2, "holds"), (3, "inconclusive")])
def test_c8_matched_lambdas_at_an_end_of_their_grid(edge, verdict):
    got, reason = rules.rule_c8(**dict(C8, lambda_at_grid_edge=edge, unmatched_pairs=1))
    assert got == verdict, reason
    if edge:
        assert f"{edge} of the 8 matched lambdas lean on an end of their grid (1 pair(s) the grid could not match)" \
            in reason
    else:
        assert "every matched lambda lies inside its grid" in reason
    assert ("so the verdict (holds on this grid) is inconclusive" in reason) == (verdict == "inconclusive")
    assert rules.rule_c8(**dict(C8, lambda_at_grid_edge=None))[0] == "inconclusive"


def test_c8_says_which_pairs_were_not_counted():
    _, reason = rules.rule_c8(**C8)
    assert "over 8 independent (a, penalty) pairs" in reason and "the 4 weight-decay pairs repeat the L2 pairs" in reason
    assert "repeat" not in rules.rule_c8(**dict(C8, repeated_pairs=0))[1]


@pytest.mark.parametrize("diff, se, one_sided, status", [
    (0.001, 0.001, False, "agree"),  # 0.001 + 2 * 0.001 <= 0.005
    (-0.003, 0.001, False, "agree"),  # the interval's edge counts
    (0.008, 0.001, False, "differ"),  # beyond the margin and beyond 2 SE
    (-0.008, 0.001, False, "differ"),
    (0.004, 0.001, False, "inconclusive"),  # off 0 by 4 SE but inside the margin: it does not matter, nor is it shown to
    (0.001, 0.004, False, "inconclusive"),  # neither within the margin nor away from 0
    (0.01, 0.001, True, "agree"),  # one-sided: more alike than seeds is no shortfall
    (-0.004, 0.0005, True, "agree"),
    (-0.02, 0.001, True, "differ"),
    (-0.004, 0.003, True, "inconclusive"),
    (-0.004, 0.001, True, "inconclusive"),  # a shortfall beyond 2 SE but inside the margin, not excluded past it
    (-0.008, 0.001, True, "differ"),
    (float("nan"), 0.001, False, "inconclusive"),
    (0.001, None, True, "inconclusive"),
])
def test_c8_status_of_one_pair(diff, se, one_sided, status):
    assert rules.c8_status(diff, se, 0.005, one_sided=one_sided) == status


def c9(**change):
    base = dict(sensitivity_a_iris=8.0, sensitivity_lambda_iris=2.0, sensitivity_a_digits=8.0,
                sensitivity_lambda_digits=1.0, slope_a_iris=0.2, slope_lambda_iris=0.05, slope_a_digits=0.3,
                slope_lambda_digits=0.03, span_iris=2.0, span_digits=2.0)
    return rules.rule_c9(**{**base, **change})


@pytest.mark.parametrize("change, verdict", [
    ({}, "holds"),
    (dict(sensitivity_lambda_iris=8.0 / rules.C9_RATIO), "holds"),  # the ratio's edge counts
    (dict(sensitivity_lambda_iris=8.0 / rules.C9_RATIO * 1.01), "inconclusive"),  # Iris: alike in seed SDs only
    (dict(sensitivity_lambda_iris=6.0, slope_lambda_iris=0.15, sensitivity_lambda_digits=6.0,
          slope_lambda_digits=0.2), "holds in part"),
    (dict(sensitivity_lambda_iris=20.0, slope_lambda_iris=0.5, sensitivity_lambda_digits=20.0,
          slope_lambda_digits=0.9), "does not hold"),
    (dict(slope_a_iris=float("nan")), "inconclusive"),
    (dict(span_digits=None), "inconclusive"),
    (dict(a_at_grid_edge_digits=float("inf")), "inconclusive"),
    (dict(lambda_at_grid_edge_iris="nan"), "inconclusive"),
])
def test_c9_reaches_each_verdict(change, verdict):
    got, reason = c9(**change)
    assert got == verdict, reason
    assert "every best value lies inside its grid" in reason or "not measured" in reason


ALIKE = dict(sensitivity_lambda_iris=6.0, slope_lambda_iris=0.15, sensitivity_lambda_digits=6.0,
             slope_lambda_digits=0.2)
LESS = dict(sensitivity_lambda_iris=20.0, slope_lambda_iris=0.5, sensitivity_lambda_digits=20.0,
            slope_lambda_digits=0.9)


@pytest.mark.parametrize("change, was", [({}, "holds"), (ALIKE, "holds in part"), (LESS, "does not hold")])
@pytest.mark.parametrize("edge", ["a_at_grid_edge_digits", "lambda_at_grid_edge_iris"])
def test_c9_a_best_value_at_an_end_of_its_grid_makes_a_decided_verdict_inconclusive(change, was, edge):
    verdict, reason = c9(**change, **{edge: 1})
    knob, data = edge.split("_at_grid_edge_")
    assert verdict == "inconclusive"
    assert f"the best {knob} on {'digits' if data == 'digits' else 'Iris'} is at an end of its grid" in reason
    assert f"the verdict ({was} on these grids) rests on that data set's call" in reason


def test_c9_an_edge_is_named_when_the_verdict_is_inconclusive_anyway():
    verdict, reason = c9(sensitivity_lambda_iris=8.0 / rules.C9_RATIO * 1.01, a_at_grid_edge_digits=1,
                         lambda_at_grid_edge_digits=1)
    assert verdict == "inconclusive" and "the calls disagree" in reason
    assert "the best a and lambda on digits is at an end of its grid" in reason


def test_c9_needs_both_units_to_agree():
    # Iris as measured before the mend: alike in each knob's own seed SDs (17.2 vs 12.9), a more
    # sensitive in nats (0.253 vs 0.115): the call turns on the unit, so it is not made
    verdict, reason = c9(sensitivity_a_iris=17.2, sensitivity_lambda_iris=12.9, slope_a_iris=0.253,
                         slope_lambda_iris=0.115)
    assert verdict == "inconclusive"
    assert "a against lambda: unit-dependent (alike in seed SDs, more in nats) on Iris, more on digits" in reason
    assert "over 2 decades around each best value" in reason


C11 = dict(cells=12, cells_holds=8, cells_fails=3, domain_fails="hidden width 5 and epochs 100-300 (2 of 16 cells)",
           domain_holds="hidden width 16-256", ece_gain_best=-0.03, ece_gain_best_se=0.004,
           ece_gain_best_regime="data digits, hidden width 5", fails_ts_as_good=2, a_at_grid_edge_cells=1,
           a_at_low_edge_cells=1)


@pytest.mark.parametrize("diff, se, sided, call", [
    (-0.02, 0.004, "no gain", "better"),  # beyond the margin and 2 SE below 0 (lower is better)
    (-0.02, 0.011, "no gain", "undecided"),  # beyond the margin, but within 2 SE of 0
    (-0.005, 0.002, "no gain", "not better"),  # -0.005 - 0.004 > -0.01: a material gain is excluded
    (0.03, 0.001, "no gain", "worse"),
    (0.03, 0.001, "both", "worse"),
    (-0.008, 0.002, "no gain", "undecided"),  # a gain of the margin's size is not excluded
    (-0.002, 0.002, "both", "equivalent"),  # the interval [-0.006, 0.002] inside +-0.01
    (0.005, 0.002, "both", "equivalent"),  # [0.001, 0.009]: off 0, but inside the margin
    (0.008, 0.002, "both", "undecided"),  # a loss reaching past the margin is not excluded
    (0.008, 0.002, "no loss", "undecided"),
    (-0.008, 0.002, "no loss", "not worse"),  # a material loss is excluded; a gain does not count against
    (0.005, 0.0001, "no gain", "not better"),  # worse beyond noise but inside the margin: not "worse"
    (float("nan"), 0.001, "both", "undecided"),
    (-0.02, float("nan"), "no gain", "undecided"),
    (-0.02, None, "both", "undecided"),
    (-0.02, float("inf"), "both", "undecided"),
    (-0.02, -0.001, "both", "undecided"),  # a negative standard error is not a measurement
])
def test_paired_call_on_one_difference(diff, se, sided, call):
    assert rules.paired_call(diff, se, 0.01, sided=sided) == call


def test_paired_call_reaches_each_call_and_mirrors_with_the_direction():
    got = {rules.paired_call(d, se, 0.01, sided=sd) for d, se, sd in [
        (-0.05, 0.001, "both"), (0.05, 0.001, "both"), (0.0, 0.001, "both"), (0.0, 0.001, "no loss"),
        (0.0, 0.001, "no gain"), (0.0, 0.1, "both")]}
    assert got == set(rules.PAIRED_CALLS)
    for d, se in [(-0.05, 0.001), (0.003, 0.004), (0.02, 0.02)]:
        for sided, mirror in [("both", "both"), ("no loss", "no gain"), ("no gain", "no loss")]:
            low = rules.paired_call(d, se, 0.01, sided=sided)
            high = rules.paired_call(-d, se, 0.01, higher_is_better=True, sided=sided)
            assert low == high
    with pytest.raises(ValueError, match="sided"):
        rules.paired_call(0.0, 0.01, 0.01, sided="left")


@pytest.mark.parametrize("ece, nll, verdict", [
    ((-0.03, 0.003), (0.0, 0.001), "fails"),  # LS lowers ECE
    ((0.0, 0.001), (-0.1, 0.01), "fails"),  # LS lowers NLL
    ((0.01, 0.002), (0.02, 0.005), "holds"),  # LS raises both
    ((-0.008, 0.002), (0.0, 0.001), "inconclusive"),  # an ECE gain near the margin is not excluded
    ((float("nan"), 0.0), (0.0, 0.001), "inconclusive"),
])
def test_c11_cell_reaches_each_verdict(ece, nll, verdict):
    assert rules.c11_cell(*ece, *nll) == verdict


@pytest.mark.parametrize("change, verdict", [
    ({}, "holds in part"),
    (dict(cells_holds=11, cells_fails=0), "holds"),
    (dict(cells_holds=7, cells_fails=0), "inconclusive"),  # 7 of 12 < 2/3: too many cells undecided
    (dict(cells_holds=0, cells_fails=9), "does not hold"),
    (dict(cells_holds=0, cells_fails=2), "inconclusive"),
    (dict(cells=0, cells_holds=0, cells_fails=0), "inconclusive"),
    (dict(cells_fails=float("nan")), "inconclusive"),
])
def test_c11_map_verdict_reaches_each_verdict(change, verdict):
    got, reason = rules.rule_c11(**{**C11, **change})
    assert got == verdict, reason


def test_c11_reason_names_where_it_fails_and_the_reference():
    _, reason = rules.rule_c11(**C11)
    assert "holds in 8 of 12 regimes, fails in 3, inconclusive in 1" in reason
    assert C11["domain_fails"] in reason and C11["domain_holds"] in reason
    assert "0.03 ± 0.004" in reason and "as well as LS in 2 of those 3 regimes" in reason
    assert "In 1 regimes the chosen a is at an end of its grid (1 at the smallest a" in reason


def test_reapply_reads_the_rules_numbers_by_name():
    numbers = [Number(k, v) for k, v in C8.items()] + [Number("unrelated", 1.0)]
    assert rules.reapply("rule_c8", numbers) == rules.rule_c8(**C8)
