"""Verdict rules C6, C7 and C10 on synthetic numbers: a base case for each verdict, inputs that
flip it, thresholds at their edges, and reapply from report.json-style dicts."""
import pytest

from gradlab.report import rules

C6 = dict(separable_growth_min=0.14, nonseparable_change_max=0.004, separated_share_min=1.0,
          nonseparable_sets_linearly_separable=0, soudry_slope_ratio_first=0.68, soudry_slope_ratio_last=0.81,
          soudry_angle_first_deg=5.7, soudry_angle_last_deg=3.6, soudry_ratio_approaching=True,
          soudry_angle_decreasing=True)


@pytest.mark.parametrize("change, verdict", [
    ({}, "holds in part"),
    (dict(nonseparable_change_max=0.3), "holds"),  # grows even where nothing separates the data
    (dict(separable_growth_min=0.01), "does not hold"),  # stopped growing on separable data
    (dict(separable_growth_min=0.03), "inconclusive"),  # between the thresholds
    (dict(nonseparable_change_max=0.03), "inconclusive"),
    (dict(separated_share_min=0.98), "inconclusive"),  # premise: the runs separate their data
    (dict(nonseparable_sets_linearly_separable=1), "inconclusive"),  # premise: the others cannot be separated
    (dict(soudry_angle_decreasing=False), "inconclusive"),  # the rate check failed
    (dict(soudry_ratio_approaching=False), "inconclusive"),
])
def test_rule_c6(change, verdict):
    got, reason = rules.rule_c6(**{**C6, **change})
    assert got == verdict, reason
    assert got in rules.VERDICTS and reason


def test_rule_c6_thresholds_are_inclusive_and_reason_has_the_numbers():
    at_edges = dict(C6, separable_growth_min=rules.GROWING, nonseparable_change_max=rules.BOUNDED)
    verdict, reason = rules.rule_c6(**at_edges)
    assert verdict == "holds in part"
    assert "5%" in reason and "2%" in reason and "0.81" in reason and "3.6 degrees" in reason


C7 = dict(ls_linear_growth_max=0.0006, ls_output_growth_max=1.1, ls_output_growth_min=-0.02, ls_hidden_growth_max=0.92,
          ls_hidden_growth_min=0.18, ls_to_hard_norm_ratio_min=0.66, ls_to_hard_norm_ratio_max=1.19,
          saturated_share_ls=0.57, saturated_share_hard=0.37, gap_rel_err_max=0.009, gap_formula_vs_optimizer_max=2e-9)
SETTLED_NETS = dict(ls_output_growth_max=0.01, ls_output_growth_min=-0.01, ls_hidden_growth_max=0.015,
                    ls_hidden_growth_min=0.0)


@pytest.mark.parametrize("change, verdict", [
    ({}, "holds in part"),
    (SETTLED_NETS, "holds"),
    (dict(SETTLED_NETS, ls_hidden_growth_max=0.06, ls_hidden_growth_min=0.06), "holds in part"),  # one layer grows
    (dict(SETTLED_NETS, ls_output_growth_max=0.04), "inconclusive"),  # between the thresholds
    (dict(ls_linear_growth_max=0.2), "does not hold"),  # even the linear model keeps growing
    (dict(ls_linear_growth_max=0.03), "inconclusive"),
    (dict(gap_formula_vs_optimizer_max=0.01), "does not hold"),  # the optimum is not where the claim puts it
])
def test_rule_c7(change, verdict):
    got, reason = rules.rule_c7(**{**C7, **change})
    assert got == verdict, reason


def test_rule_c7_reason_tells_which_layer_grows_and_whether_the_gap_was_reached():
    _, reason = rules.rule_c7(**C7)
    assert "hidden layer keeps growing in every net" in reason
    assert "output layer settles in some nets" in reason and "110%" in reason
    assert "within 0.9%" in reason and "57%" in reason
    _, reason = rules.rule_c7(**dict(C7, gap_rel_err_max=0.2))
    assert "still 20% off" in reason


def test_rule_c7_reason_says_which_nets_are_more_saturated():
    assert "more saturated than with hard targets" in rules.rule_c7(**C7)[1]
    _, reason = rules.rule_c7(**dict(C7, saturated_share_ls=0.3))
    assert "no more saturated than with hard targets (30% against 37%" in reason and "consistent with" not in reason


C10 = dict(mse_hard_linear_growth_min=0.21, mse_ls_linear_change_max=0.004, mse_ls_acc_drop_max=0.047,
           mse_ls_output_growth_max=1.4, mse_ls_hidden_growth_max=1.8, mse_ls_gap_rel_err_max=0.17,
           mse_gap_formula_vs_optimizer_max=1e-12)


@pytest.mark.parametrize("change, verdict", [
    ({}, "holds"),
    (dict(mse_ls_acc_drop_max=0.1), "holds in part"),  # norms as with CE, accuracy lower
    (dict(mse_ls_linear_change_max=0.3), "does not hold"),  # LS does not stop the growth with MSE
    (dict(mse_gap_formula_vs_optimizer_max=0.5), "does not hold"),
    (dict(mse_hard_linear_growth_min=0.01), "inconclusive"),  # no contrast to judge LS by
    (dict(mse_ls_linear_change_max=0.03), "inconclusive"),
])
def test_rule_c10(change, verdict):
    got, reason = rules.rule_c10(**{**C10, **change})
    assert got == verdict, reason


@pytest.mark.parametrize("growth, trend", [(0.05, "keep growing"), (0.02, "settle"),
                                           (0.03, "neither settle nor clearly grow")])
def test_rule_c10_reason_says_what_the_net_norms_do(growth, trend):
    _, reason = rules.rule_c10(**dict(C10, mse_ls_output_growth_max=growth, mse_ls_hidden_growth_max=growth / 2))
    assert f"the norms {trend} under MSE + LS" in reason


def test_rule_c10_accuracy_edge_is_inclusive():
    assert rules.rule_c10(**dict(C10, mse_ls_acc_drop_max=rules.ACC_DROP_TOL))[0] == "holds"


@pytest.mark.parametrize("rule, numbers", [("rule_c6", C6), ("rule_c7", C7), ("rule_c10", C10)])
def test_reapply_from_recorded_numbers(rule, numbers):
    recorded = [{"name": k, "value": v, "unit": "", "note": ""} for k, v in numbers.items()]
    recorded.append({"name": "unrelated_number", "value": 3.0})  # numbers no parameter names are ignored
    assert rules.reapply(rule, recorded) == getattr(rules, rule)(**numbers)
