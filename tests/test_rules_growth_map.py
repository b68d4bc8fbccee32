"""C6, C7 and C10 judged over their regime map: the one growth criterion (`growth_call`) at its
edges, the cell rules, and each map rule reaching each verdict it can reach."""
import math

import pytest

from gradlab.report import rules

G, B, F = rules.GROWING, rules.BOUNDED, rules.SE_FACTOR
MAP = dict(cells=20, cells_holds=15, cells_fails=0, domain_holds="hidden width 5-256 and epochs 10-300",
           domain_fails="no regime")
C6_MAP = dict(MAP, fitted_cells=8, fitted_cells_holds=8)
C7_MAP = dict(MAP, no_contrast_cells=3, norm_ratio_min=0.6, norm_ratio_max=0.95)
C10_MAP = dict(C7_MAP, agrees_with_ce_cells=18)


@pytest.mark.parametrize("growth, se, call", [
    (0.30, 0.01, "growing"),
    (G + F * 0.01, 0.01, "growing"),  # the lower bound exactly at GROWING counts
    (G + F * 0.01 - 1e-9, 0.01, "unclear"),
    (0.0, 0.005, "not growing"),
    (B - F * 0.005, 0.005, "not growing"),  # upper bound exactly at BOUNDED
    (-0.2, 0.01, "not growing"),  # shrinking is not growing
    (0.03, 0.0, "unclear"),  # between the thresholds
    (0.30, 0.2, "unclear"),  # large but noisy
    (math.nan, 0.01, "unclear"), (0.3, math.nan, "unclear"), (0.3, -0.01, "unclear"),
])
def test_growth_call(growth, se, call):
    assert rules.growth_call(growth, se) == call


def test_c6_cell_reads_the_growth_call():
    assert [rules.c6_cell(g, 0.001) for g in (0.3, 0.0, 0.03)] == ["holds", "fails", "inconclusive"]


@pytest.mark.parametrize("ls, hard, verdict", [
    (0.0, 0.3, "holds"),  # LS stops what hard targets keep growing
    (0.3, 0.3, "fails"), (0.3, 0.0, "fails"),  # LS keeps growing
    (0.0, 0.0, "inconclusive"),  # nothing grows: nothing for LS to stop
    (0.0, 0.03, "inconclusive"), (0.03, 0.3, "inconclusive"),  # a call between the thresholds
    (0.0, float("nan"), "inconclusive"),
])
def test_c7_cell_needs_the_contrast(ls, hard, verdict):
    assert rules.c7_cell(ls, 0.001, hard, 0.001) == verdict


@pytest.mark.parametrize("rule, base", [("rule_c6_map", C6_MAP), ("rule_c7_map", C7_MAP), ("rule_c10_map", C10_MAP)])
@pytest.mark.parametrize("change, verdict", [
    ({}, "holds"),  # 15 of 20 (>= 2/3), none fails
    (dict(cells_holds=12), "inconclusive"),  # under 2/3 and nothing fails
    (dict(cells_fails=2, domain_fails="epochs 10"), "holds in part"),
    (dict(cells_holds=0, cells_fails=15, domain_holds="no regime", domain_fails="everywhere"), "does not hold"),
    (dict(cells=0, cells_holds=0), "inconclusive"),
    (dict(domain_holds=""), "inconclusive"),  # a domain text missing
    (dict(cells_holds=21), "inconclusive"),  # counts that cannot be
])
def test_map_rules_reach_each_verdict(rule, base, change, verdict):
    got, reason = getattr(rules, rule)(**{**base, **change})
    assert got == verdict, reason
    assert reason


def test_map_rule_reasons_name_the_domains_and_the_contrast():
    _, reason = rules.rule_c6_map(**dict(C6_MAP, cells_fails=2, domain_fails="data iris and epochs 300"))
    assert "hidden width 5-256" in reason and "data iris and epochs 300" in reason
    assert "(8 regimes) it keeps growing in 8" in reason
    _, reason = rules.rule_c7_map(**C7_MAP)
    assert "while with hard targets some layer's keeps growing" in reason and "CE and LS" in reason
    assert "In 3 regimes the norms stop growing with LS but do not grow with hard targets either" in reason
    assert "0.6 to 0.95 times the hard-target nets'" in reason
    _, reason = rules.rule_c10_map(**C10_MAP)
    assert "MSE and LS" in reason and "equal CE's (C7) in 18 of 20" in reason


@pytest.mark.parametrize("rule, base", [("rule_c6_map", C6_MAP), ("rule_c7_map", C7_MAP), ("rule_c10_map", C10_MAP)])
def test_reapply_from_recorded_numbers(rule, base):
    recorded = [{"name": k, "value": v} for k, v in base.items()]
    assert rules.reapply(rule, recorded) == getattr(rules, rule)(**base)


C9_MAP = dict(MAP, val_is_best_cells=10, nll_regret_max=0.03, nll_regret_max_se=0.01,
              nll_regret_max_regime="data digits, hidden width 5", hard_chosen_cells=7)


@pytest.mark.parametrize("nll, nll_se, acc, acc_se, verdict", [
    (0.0, 0.0, 0.0, 0.0, "fails"),  # the validation choice is the best a: a routine choice works
    (0.01, 0.004, 0.002, 0.001, "fails"),  # both losses excluded beyond their margins
    (0.05, 0.01, 0.0, 0.0, "holds"),  # loses 0.05 nats, beyond 0.02 by 2 SE
    (0.0, 0.0, 0.02, 0.004, "holds"),  # loses 2 points of accuracy
    (0.015, 0.01, 0.0, 0.0, "inconclusive"),  # could be more than the margin
    (float("nan"), 0.0, 0.0, 0.0, "inconclusive"),
])
def test_c9_cell(nll, nll_se, acc, acc_se, verdict):
    assert rules.c9_cell(nll, nll_se, acc, acc_se) == verdict


@pytest.mark.parametrize("change, verdict", [
    ({}, "holds"), (dict(cells_holds=12), "inconclusive"),
    (dict(cells_fails=2, domain_fails="epochs 10"), "holds in part"),
    (dict(cells_holds=0, cells_fails=15, domain_holds="no regime", domain_fails="everywhere"), "does not hold"),
    (dict(nll_regret_max_regime=None), "inconclusive"),
])
def test_rule_c9_map_reaches_each_verdict(change, verdict):
    got, reason = rules.rule_c9_map(**{**C9_MAP, **change})
    assert got == verdict, reason
    if verdict != "inconclusive":
        assert "0.03 ± 0.01 (data digits, hidden width 5)" in reason and "a = 0 (hard targets) in 7" in reason


C8_MAP = dict(MAP, unmatched_cells=1, null_agrees_cells=2, differ_nll_cells=0, differ_ece_cells=0,
              differ_logit_gap_cells=0, l2_lower_nll_cells=0, l2_lower_ece_cells=0, l2_larger_gap_cells=0, a=0.1)
# one regime of C8's map: L2 minus LS on NLL, ECE, logit gap (diff, se), the gap's margin; hard minus LS
AGREE = (0.005, 0.002, 0.002, 0.001, 0.05, 0.02)  # every 2-SE interval inside its margin (0.02, 0.01, 0.2)
NULL_DIFFERS = (0.2, 0.01, 0.05, 0.005, 2.0, 0.1)


@pytest.mark.parametrize("cell, null, norm_gap, verdict", [
    (AGREE, NULL_DIFFERS, 0.01, "holds"),
    (AGREE, AGREE, 0.01, "inconclusive"),  # hard targets agree too: LS did nothing the agreement could show
    (AGREE[:2] + AGREE[2:4] + (2.0, 0.1), NULL_DIFFERS, 0.01, "fails"),  # the logit gap differs beyond its margin
    ((0.1, 0.01) + AGREE[2:], AGREE, 0.01, "fails"),  # NLL differs, whatever the null does
    ((0.015, 0.01) + AGREE[2:], NULL_DIFFERS, 0.01, "inconclusive"),  # NLL's interval reaches past the margin
    (AGREE, NULL_DIFFERS, 0.08, "inconclusive"),  # norms not matched within 5%
    (AGREE, NULL_DIFFERS, -0.08, "inconclusive"),
    (AGREE, NULL_DIFFERS, math.nan, "inconclusive"),
    ((math.nan,) + AGREE[1:], NULL_DIFFERS, 0.0, "inconclusive"),
])
def test_c8_cell_reaches_each_verdict(cell, null, norm_gap, verdict):
    (nd, ns, ed, es, gd, gs), margin = cell, 0.2
    assert rules.c8_cell(nd, ns, ed, es, gd, gs, margin, *null, norm_gap) == verdict


@pytest.mark.parametrize("change, verdict", [
    ({}, "holds"), (dict(cells_holds=12), "inconclusive"),
    (dict(cells_fails=2, domain_fails="epochs 10", differ_nll_cells=2), "holds in part"),
    (dict(cells_holds=0, cells_fails=15, domain_holds="no regime", domain_fails="everywhere", differ_ece_cells=9,
          l2_lower_ece_cells=7), "does not hold"),
    (dict(a=None), "inconclusive"), (dict(cells=0), "inconclusive"),
])
def test_rule_c8_map_reaches_each_verdict(change, verdict):
    got, reason = rules.rule_c8_map(**{**C8_MAP, **change})
    assert got == verdict, reason
    if verdict == "does not hold":
        assert "differs for everywhere: on NLL in 0 regimes (L2 lower in 0), on ECE in 9 (L2 lower in 7)" in reason
    if verdict != "inconclusive":
        assert "a = 0.1" in reason and "In 2 regimes hard targets" in reason
        assert "In 1 regimes the L2 nets' final norm did not come within 5% of LS's" in reason


E1_MAP = dict(MAP, cm_stands_in_cells=4, cm_behind_cells=10, hp_stands_in_cells=15, hp_behind_cells=2,
              hard_stands_in_cells=3, ls_a_low_edge_cells=5, hidden_weight=0.3)
# one learned target minus LS: accuracy, NLL, ECE as (diff, se); margins 0.005, 0.02, 0.01
MATCHES = (0.001, 0.001, 0.005, 0.004, 0.002, 0.002)  # every 2-SE interval inside its margin
BEHIND = (-0.03, 0.005, 0.005, 0.004, 0.002, 0.002)  # 3 points of accuracy lost, beyond 2 SE
UNDECIDED = (0.0, 0.01, 0.0, 0.0, 0.0, 0.0)  # accuracy's interval reaches past its margin


@pytest.mark.parametrize("cm, hp, hard, verdict", [
    (MATCHES, BEHIND, BEHIND, "holds"), (BEHIND, MATCHES, UNDECIDED, "holds"),  # either target standing in is enough
    ((0.02, 0.005, -0.05, 0.01, -0.02, 0.005), BEHIND, BEHIND, "holds"),  # beats LS on all three
    (MATCHES, BEHIND, MATCHES, "inconclusive"),  # hard targets match LS too: matching it shows nothing
    (BEHIND, BEHIND, MATCHES, "fails"),
    (BEHIND, (0.001, 0.001, 0.1, 0.01, 0.002, 0.002), BEHIND, "fails"),  # NLL falls behind
    (UNDECIDED, BEHIND, BEHIND, "inconclusive"), (UNDECIDED, UNDECIDED, BEHIND, "inconclusive"),
    ((math.nan,) + MATCHES[1:], BEHIND, BEHIND, "inconclusive"),
    (MATCHES, BEHIND, (math.nan,) + BEHIND[1:], "inconclusive"),
])
def test_e1_cell_reaches_each_verdict(cm, hp, hard, verdict):
    assert rules.e1_cell(*cm, *hp, *hard) == verdict


@pytest.mark.parametrize("change, verdict", [
    ({}, "holds"), (dict(cells_holds=12), "inconclusive"),
    (dict(cells_fails=2, domain_fails="epochs 10"), "holds in part"),
    (dict(cells_holds=0, cells_fails=15, domain_holds="no regime", domain_fails="everywhere"), "does not hold"),
    (dict(hidden_weight=None), "inconclusive"), (dict(domain_holds=""), "inconclusive"),
])
def test_rule_e1_map_reaches_each_verdict(change, verdict):
    got, reason = rules.rule_e1_map(**{**E1_MAP, **change})
    assert got == verdict, reason
    if verdict != "inconclusive":
        assert ("stand in for LS in 4 of 20 regimes and fall behind in 10; hidden-pattern targets (weight 0.3) stand "
                "in in 15 and fall behind in 2. Hard targets alone match or beat LS at its chosen a in 3 regimes") in reason
        assert "smallest in 5" in reason
