"""E1: the verdict rule on synthetic numbers that flip each verdict, and the analysis script in
quick mode (figures, their data, the rule's inputs recomputed from the saved runs table)."""
import json

import numpy as np
import pandas as pd
import pytest

import gradlab as gl
from gradlab.report import Context, rules, style
from gradlab.report.paths import ANALYSIS
from gradlab.report.runner import load_script

from test_report import png_size

# class-mean targets: level with LS on accuracy, better on NLL and ECE, norm 5 below hard's, 5% late growth vs 19%
GOOD = dict(n_seeds=10, cm_minus_ls_acc=0.001, cm_minus_ls_acc_se=0.003, cm_minus_ls_nll=-0.08, cm_minus_ls_nll_se=0.01,
            cm_minus_ls_ece=-0.03, cm_minus_ls_ece_se=0.005, cm_minus_hard_weight_norm=-5.0,
            cm_minus_hard_weight_norm_se=0.2, cm_late_growth=0.05, hard_late_growth=0.19)
HP_GOOD = dict(hp_minus_ls_acc=0.0, hp_minus_ls_acc_se=0.003, hp_minus_ls_nll=0.0, hp_minus_ls_nll_se=0.01,
               hp_minus_ls_ece=0.0, hp_minus_ls_ece_se=0.005, hp_minus_hard_weight_norm=-4.0,
               hp_minus_hard_weight_norm_se=0.2, hp_late_growth=0.02)


def rule(**changes):
    return rules.rule_e1(**{**GOOD, **changes})


@pytest.mark.parametrize("changes,verdict,phrase", [
    ({}, "holds", "match or beat LS on every measure"),
    ({"cm_minus_ls_acc": -0.03}, "holds in part", "on NLL and ECE and keep"),
    ({"cm_minus_ls_nll": 0.05, "cm_minus_ls_ece": 0.05}, "holds in part", "on accuracy and keep"),
    ({"cm_minus_hard_weight_norm": -0.1}, "holds in part", "do not keep"),  # within noise of hard's norm
    ({"cm_late_growth": 0.15}, "holds in part", "do not keep"),  # smaller, but still growing like hard
    ({"cm_minus_ls_acc": -0.03, "cm_minus_ls_nll": 0.05, "cm_minus_ls_ece": 0.05}, "does not hold", "any measure"),
    ({"n_seeds": 2}, "inconclusive", "only 2 seed"),
    ({"cm_minus_ls_nll": float("nan")}, "inconclusive", "not finite"),
    ({"cm_minus_ls_nll": "nan"}, "inconclusive", "not finite"),  # as report.json stores it
])
def test_each_verdict(changes, verdict, phrase):
    v, reason = rule(**changes)
    assert v == verdict and phrase in reason
    assert "hidden-pattern targets were not measured" in reason


def test_noise_and_tolerance_margins():
    # a gain beyond the practical tolerance but within 2 standard errors is a match, not a win
    assert "NLL -0.03 ± 0.08 (matches)" in rule(cm_minus_ls_nll=-0.03, cm_minus_ls_nll_se=0.04)[1]
    # a loss beyond 2 standard errors but inside the tolerance (0.5 pt) is still a match
    assert "accuracy -0.4 pt ± 0.2 (matches)" in rule(cm_minus_ls_acc=-0.004, cm_minus_ls_acc_se=0.001)[1]
    assert "falls behind" in rule(cm_minus_ls_acc=-0.006, cm_minus_ls_acc_se=0.001)[1]
    # a flat norm counts as kept even when the hard-target norm hardly grows either
    assert rule(hard_late_growth=0.0, cm_late_growth=0.005)[0] == "holds"


def test_the_better_learned_target_decides():
    bad_cm = dict(cm_minus_ls_acc=-0.03, cm_minus_ls_nll=0.05, cm_minus_ls_ece=0.05)
    verdict, reason = rule(**bad_cm, **HP_GOOD)
    assert verdict == "holds" and reason.startswith("hidden-pattern targets match")
    assert "not measured" not in reason
    # half the hidden-pattern numbers: not measured
    partial = {k: v for k, v in HP_GOOD.items() if "ece" not in k}
    assert rule(**bad_cm, **partial)[0] == "does not hold"


def test_the_first_sentence_sums_up_every_learned_target_the_deciding_one_first():
    hp_weak = dict(HP_GOOD, hp_minus_ls_acc=-0.03, hp_minus_ls_nll=0.05, hp_late_growth=0.15)
    verdict, reason = rule(cm_minus_ls_nll=0.05, **hp_weak)
    lead = reason.split(". ")[0]
    assert verdict == "holds in part"
    assert lead == ("class-mean teacher targets match or beat LS on accuracy and ECE and keep the weights from growing; "
                    "hidden-pattern targets match or beat LS on ECE and do not keep the weights from growing")


def test_reapply_reads_the_numbers_by_name():
    numbers = [{"name": k, "value": v} for k, v in GOOD.items()] + [{"name": "unrelated", "value": 1.0}]
    assert rules.reapply("rule_e1", numbers) == rule()


# ---------------------------------------------------------------- the script, quick mode

RUN_COLUMNS = ["method", "setting", "seed", "val_acc", "val_nll", "val_ece", "test_acc", "test_nll", "test_ece",
               "weight_norm", "weight_norm_mid", "late_growth", "diverged"]


@pytest.fixture(scope="module")
def sweep_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("runs")


def run_quick(out, runs):
    script = load_script(ANALYSIS / "e01_learned_targets.py")
    (result,) = script.run(Context(out=out, quick=True, runs=runs))
    return script, result


def rule_inputs(runs):
    """E1's rule inputs recomputed from the saved runs table: each setting chosen by its held-out
    mean (higher accuracy, lower NLL and ECE), paired differences and standard errors over seeds."""
    def seeds(method, setting, column):
        part = runs[(runs.method == method) & (runs.setting.isna() if setting is None else runs.setting == setting)]
        return part.sort_values("seed")[column].to_numpy()

    def paired(x, y):
        return (x - y).mean(), (x - y).std(ddof=1) / np.sqrt(len(x))

    def best(method, m):
        val = runs[runs.method == method].groupby("setting")[f"val_{m}"].mean()
        return val.idxmax() if m == "acc" else val.idxmin()

    learned = {"cm": lambda m: None, **({"hp": lambda m: best("hp", m)} if (runs.method == "hp").any() else {})}
    out = {"n_seeds": runs[runs.method == "hard"].seed.nunique(),
           "hard_late_growth": seeds("hard", 0.0, "late_growth").mean()}
    for m in ("acc", "nll", "ece"):  # LS against hard targets: the numbers the report's self-check compares with C11
        d, se = paired(seeds("ls", best("ls", m), f"test_{m}"), seeds("hard", 0.0, f"test_{m}"))
        out.update({f"ls_minus_hard_{m}": d, f"ls_minus_hard_{m}_se": se})
    for method, setting in learned.items():
        for m in ("acc", "nll", "ece"):
            d, se = paired(seeds(method, setting(m), f"test_{m}"), seeds("ls", best("ls", m), f"test_{m}"))
            out.update({f"{method}_minus_ls_{m}": d, f"{method}_minus_ls_{m}_se": se})
        d, se = paired(seeds(method, setting("acc"), "weight_norm"), seeds("hard", 0.0, "weight_norm"))
        out.update({f"{method}_minus_hard_weight_norm": d, f"{method}_minus_hard_weight_norm_se": se,
                    f"{method}_late_growth": seeds(method, setting("acc"), "late_growth").mean()})
    return out


def check_outputs(out, result):
    assert result.figures == ["e01_patterns.png", "e01_students.png"]
    assert png_size(out / "e01_patterns.png") == style.pixel_size(1, 2)
    assert png_size(out / "e01_students.png") == style.pixel_size(2, 2)
    runs = pd.read_csv(out / "e01_students__runs.csv")
    assert list(runs.columns) == RUN_COLUMNS
    assert list(pd.read_csv(out / "e01_students__norms.csv").columns) == ["method", "setting", "seed", "step",
                                                                          "weight_norm"]
    assert list(pd.read_csv(out / "e01_patterns__patterns.csv").columns) == ["class", "unit", "share_active",
                                                                             "mean_activation"]
    ablation = pd.read_csv(out / "e01_patterns__ablation.csv")
    assert list(ablation.columns) == ["unit_zeroed", "class", "accuracy", "intact_accuracy"]
    assert len(ablation) == 5 * 10 and ablation.accuracy.between(0, 1).all()
    assert json.loads((out / "e01_students.json").read_text())["settings"]["sizes"] == [64, 5, 10]
    numbers = {n.name: n.value for n in result.numbers}
    recomputed = rule_inputs(runs)
    for name, value in recomputed.items():
        assert numbers[name] == pytest.approx(value, abs=1e-12, nan_ok=True), name
    judged = {k: v for k, v in recomputed.items() if not k.startswith("ls_minus_hard")}
    assert rules.rule_e1(**judged) == (result.verdict, result.reason)
    # the judged numbers are those of the runs table: LS at the a chosen on held-out rows
    val = runs[runs.method == "ls"].groupby("setting").val_acc.mean()
    a = numbers["ls_best_a_acc"]
    assert val.loc[a] == val.max()
    ls = runs[(runs.method == "ls") & (runs.setting == a)].sort_values("seed").test_acc.to_numpy()
    cm = runs[runs.method == "cm"].sort_values("seed").test_acc.to_numpy()
    assert numbers["cm_minus_ls_acc"] == pytest.approx((cm - ls).mean(), abs=1e-12)
    assert numbers["hard_weight_norm"] == pytest.approx(runs[runs.method == "hard"].weight_norm.mean(), abs=1e-12)
    return runs, numbers


def test_script_quick(tmp_path, sweep_cache):
    script, result = run_quick(tmp_path, sweep_cache)
    runs, numbers = check_outputs(tmp_path, result)
    assert script.hidden_targets_available()  # gl.train takes hidden_targets: the students are measured
    assert "hp" in set(runs.method) and numbers["hidden_targets_measured"] is True
    assert "hp_minus_ls_acc" in numbers and "not measured" not in result.reason
