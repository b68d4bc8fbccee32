"""Verdict rules of C8, C9 and C11 on synthetic numbers, including inputs that flip each verdict."""
import pytest

from gradlab.report import Number, rules

C8_ALL = dict(agree_test_acc=1.0, agree_test_nll=1.0, agree_test_ece=1.0, agree_logit_gap=1.0, agree_hidden_norm=1.0,
              agree_output_norm=1.0, agree_predictions=1.0)


def test_c8_verdicts_flip_with_agreement():
    assert rules.rule_c8(matched_pairs=12, **C8_ALL)[0] == "holds"
    edge = dict(C8_ALL, agree_test_nll=rules.C8_AGREE_SHARE)
    assert rules.rule_c8(matched_pairs=12, **edge)[0] == "holds"
    verdict, reason = rules.rule_c8(matched_pairs=12, **dict(C8_ALL, agree_test_nll=0.5, agree_test_ece=0.25))
    assert verdict == "holds in part"
    assert "test NLL (50% of pairs agree)" in reason and "ECE (25% of pairs agree)" in reason
    assert "test accuracy" in reason.split("they differ")[0]
    assert rules.rule_c8(matched_pairs=12, **{k: 0.5 for k in C8_ALL})[0] == "does not hold"
    assert rules.rule_c8(matched_pairs=0, **{k: float("nan") for k in C8_ALL})[0] == "inconclusive"


def c9(a_iris, lam_iris, a_digits, lam_digits):
    return rules.rule_c9(sensitivity_a_iris=a_iris, sensitivity_lambda_iris=lam_iris,
                         sensitivity_a_digits=a_digits, sensitivity_lambda_digits=lam_digits)[0]


def test_c9_verdicts_flip_with_the_ratio():
    r = rules.C9_RATIO
    assert c9(10.0, 10.0 / r, 8.0, 1.0) == "holds"
    assert c9(10.0, 10.0 / r * 1.01, 8.0, 1.0) == "inconclusive"  # Iris now alike, digits more
    assert c9(3.0, 2.0, 1.0, 1.5) == "holds in part"
    assert c9(1.0, r, 1.0, 5.0) == "does not hold"
    assert c9(float("nan"), 1.0, 1.0, 1.0) == "inconclusive"
    assert "Iris" in rules.rule_c9(1.0, 1.0, 1.0, 1.0)[1]


def c11(hard_d, ls_d, sd_d, hard_i, ls_i, sd_i):
    return rules.rule_c11(ece_hard_digits=hard_d, ece_ls_digits=ls_d, ece_seed_sd_digits=sd_d, ece_ts_digits=0.01,
                          ece_hard_iris=hard_i, ece_ls_iris=ls_i, ece_seed_sd_iris=sd_i, ece_ts_iris=0.02)


def test_c11_verdicts_flip_with_the_ece_difference():
    assert c11(0.10, 0.05, 0.01, 0.10, 0.05, 0.01)[0] == "does not hold"  # LS lowers ECE on both
    assert c11(0.10, 0.05, 0.01, 0.10, 0.095, 0.01)[0] == "holds in part"
    assert c11(0.02, 0.10, 0.01, 0.10, 0.095, 0.01)[0] == "holds"
    assert c11(0.10, 0.0905, 0.01, 0.10, 0.0905, 0.01)[0] == "holds"  # less than one seed SD apart: no effect
    verdict, reason = c11(0.02, 0.10, 0.01, 0.10, 0.095, 0.01)
    assert "on digits LS raises ECE" in reason and "on Iris LS leaves ECE" in reason


def test_reapply_reads_the_rules_numbers_by_name():
    numbers = [Number(k, v) for k, v in C8_ALL.items()] + [Number("matched_pairs", 3), Number("unrelated", 1.0)]
    assert rules.reapply("rule_c8", numbers) == rules.rule_c8(matched_pairs=3, **C8_ALL)
