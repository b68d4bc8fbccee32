"""Every rule (C1-C11, E1, the regime maps) given a missing or non-finite number returns "inconclusive", never a
call: each input in turn set to NaN, and to None or "nan" (as report.json stores NaN)."""
import inspect

import pytest

from gradlab.report import rules

from test_rules_c1_c5 import C2_GOOD
from test_rules_c6_c10 import C6, C7, C10
from test_rules_c8_c11 import C8, C11
from test_rules_e1 import GOOD as E1
from test_rules_growth_map import C6_MAP, C7_MAP, C8_MAP, C9_MAP, C10_MAP, E1_MAP

C9 = dict(sensitivity_a_iris=8.0, sensitivity_lambda_iris=2.0, sensitivity_a_digits=8.0, sensitivity_lambda_digits=1.0,
          slope_a_iris=0.2, slope_lambda_iris=0.05, slope_a_digits=0.3, slope_lambda_digits=0.03, span_iris=2.0,
          span_digits=2.0)
BASES = {
    "rule_c1": dict(max_abs_delta_minus_o_minus_t=0.0, max_rel_err_vs_fd=1e-9),
    "rule_c2": C2_GOOD,
    "rule_c3": dict(max_abs_err_smoothed_targets=0.0, max_abs_err_binary_0p9=0.0),
    "rule_c4": dict(max_rel_mixture_defect=1e-16, modified_inputs=0),
    "rule_c5": dict(max_abs_delta_minus_published=1e-18, sign_mismatch_points=0, settings_without_one_flip=0,
                    flip_off_target_max=1e-15),
    "rule_c6": C6, "rule_c7": C7, "rule_c8": C8, "rule_c9": C9, "rule_c10": C10, "rule_c11": C11, "rule_e1": E1,
    "rule_c6_map": C6_MAP, "rule_c7_map": C7_MAP, "rule_c8_map": C8_MAP, "rule_c9_map": C9_MAP, "rule_c10_map": C10_MAP, "rule_e1_map": E1_MAP,
}
CASES = [(rule, name) for rule, base in BASES.items() for name in base]


def test_every_rule_is_covered():
    names = {n for n, f in vars(rules).items() if n.startswith("rule_") and inspect.isfunction(f)}
    assert names == set(BASES)


@pytest.mark.parametrize("rule", BASES)
def test_the_base_case_is_a_call(rule):
    assert getattr(rules, rule)(**BASES[rule])[0] != "inconclusive"


@pytest.mark.parametrize("rule, name", CASES)
@pytest.mark.parametrize("missing", [float("nan"), float("inf"), None, "nan"])
def test_a_missing_number_gives_inconclusive(rule, name, missing):
    verdict, reason = getattr(rules, rule)(**{**BASES[rule], name: missing})
    assert verdict == "inconclusive", (rule, name, missing, reason)
    assert reason


@pytest.mark.parametrize("rule", ["rule_c1", "rule_c3", "rule_c4"])
def test_a_verdict_no_input_can_reach_is_said_so(rule):
    # one formula or identity checked: it holds, does not, or is between; never in part
    assert '"holds in part" is unreachable by design' in " ".join(getattr(rules, rule).__doc__.split())
