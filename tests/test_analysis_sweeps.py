"""The C8, C9 and C11 analysis scripts in quick mode, into temporary folders: their figures
(non-empty PNGs of the expected size), data (expected columns), and verdicts (each agrees with
its own numbers under its rule, also as read back from report.json). The four scripts share
one runs folder, as in the report, so the digits and Iris sweeps are trained once."""
import json
import struct

import numpy as np
import pandas as pd
import pytest

from gradlab.report import Context, document, rules, style
from gradlab.report.paths import ANALYSIS
from gradlab.report.runner import load_script

SCRIPTS = ("c08_matched_regularisers", "c09_sensitivity", "c11_calibration", "c11_geometry")
PANELS = {"c08_matched_regularisers": (2, 4), "c09_sensitivity": (2, 4), "c11_calibration": (2, 3),
          "c11_geometry": (1, 3)}
COLUMNS = {
    "c08_matched_regularisers__pairs.csv": ["a", "penalty", "strength", "ls_weight_norm", "pen_weight_norm",
                                            "test_nll_ls", "test_nll_pen", "test_nll_agree", "predictions_agree"],
    "c08_matched_regularisers__sweep.csv": ["knob", "value", "seed", "weight_norm", "test_acc", "test_nll"],
    "c08_matched_regularisers__logit_gaps.csv": ["method", "logit_gap"],
    "c09_sensitivity__runs.csv": ["data", "knob", "value", "seed", "test_acc", "test_nll"],
    "c09_sensitivity__sensitivity.csv": ["data", "knob", "sensitivity", "seed_sd", "useful_low", "useful_high", "best"],
    "c11_calibration__digits_runs.csv": ["seed", "smoothing", "l2", "val_ece", "T", "ece", "ece_ts", "nll", "nll_ts"],
    "c11_calibration__iris_reliability.csv": ["lower", "upper", "confidence", "accuracy", "count", "method"],
    "c11_geometry__tightness.csv": ["method", "seed", "strength", "tightness"],
    "c11_geometry__points.csv": ["method", "seed", "x", "y", "label"],
}


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """Run the four scripts once (quick mode); returns (out folder, {script: results}, report dict)."""
    root = tmp_path_factory.mktemp("c08_c11")
    ctx = Context(out=root / "figures", quick=True, runs=root / "runs")
    results, rep = {}, document.empty()
    for name in SCRIPTS:
        module = load_script(ANALYSIS / f"{name}.py")
        results[name] = module.run(ctx)
        rep = document.update(rep, results[name], True, name, module.CLAIMS)
    document.write(ctx.out, rep)
    return ctx.out, results, json.loads((ctx.out / "report.json").read_text())


def png_size(path):
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


@pytest.mark.parametrize("name", SCRIPTS)
def test_figures_are_pngs_of_the_expected_size_with_data_and_settings(report, name):
    out, _, _ = report
    png = out / f"{name}.png"
    assert png.stat().st_size > 20_000  # a drawn figure, not an empty canvas
    assert png_size(png) == style.pixel_size(*PANELS[name])
    settings = json.loads((out / f"{name}.json").read_text())
    assert settings["quick"] is True and settings["settings"]


@pytest.mark.parametrize("csv, columns", COLUMNS.items())
def test_data_files_hold_the_expected_columns(report, csv, columns):
    frame = pd.read_csv(report[0] / csv)
    assert len(frame) > 0
    assert set(columns) <= set(frame.columns)


def test_each_verdict_follows_from_its_numbers(report):
    _, results, rep = report
    claims = [r for name in SCRIPTS for r in results[name]]
    assert sorted(r.claim for r in claims) == ["C11", "C8", "C9"]  # c11_geometry adds numbers to C11, no verdict
    for r in claims:
        assert (r.verdict, r.reason) == rules.reapply(r.rule, r.numbers)
        entry = rep["claims"][r.claim]
        assert (entry["verdict"], entry["reason"]) == rules.reapply(entry["rule"], entry["numbers"])
        assert all((report[0] / f).exists() for f in entry["figures"])
    text = (report[0] / "REPORT.md").read_text()
    assert all(f"## {c}:" in text for c in ("C8", "C9", "C11"))


def numbers_of(results, claim):
    return {n.name: n.value for rs in results.values() for r in rs if r.claim == claim for n in r.numbers}


def test_c8_matching_and_the_l2_weight_decay_identity(report):
    n = numbers_of(report[1], "C8")
    assert n["matched_pairs"] > 0
    assert n["norm_match_max_rel_gap"] < 0.15  # the matched lambda lands near LS's norm even in quick mode
    # plain SGD: w - lr (g + lam w) and w - lr g - lr lam w are one update, up to rounding
    assert n["l2_vs_weight_decay_max_rel_norm_gap"] < 1e-9
    pairs = pd.read_csv(report[0] / "c08_matched_regularisers__pairs.csv")
    assert set(pairs.penalty) <= {"l2", "l1", "weight_decay"}
    assert np.all((pairs.predictions_across >= 0) & (pairs.predictions_across <= 1))


def test_c9_and_c11_numbers_are_measured(report):
    n9 = numbers_of(report[1], "C9")
    for key in ("a", "lambda"):
        for data in ("iris", "digits"):
            assert n9[f"sensitivity_{key}_{data}"] >= 0 and n9[f"nll_seed_sd_{key}_{data}"] > 0
    n11 = numbers_of(report[1], "C11")
    for data in ("digits", "iris"):
        assert all(0 <= n11[f"ece_{m}_{data}"] <= 1 for m in ("hard", "ls", "l2", "ts"))
        assert n11[f"temperature_median_{data}"] > 0
    geometry = pd.read_csv(report[0] / "c11_geometry__tightness.csv")
    for m in ("hard", "ls", "l2"):  # c11_calibration reports the same numbers c11_geometry draws
        assert n11[f"tightness_{m}"] == pytest.approx(geometry[geometry.method == m].tightness.mean())
