"""The C8, C9 and C11 analysis scripts in quick mode, into temporary folders: their figures
(non-empty PNGs of the expected size), data (expected columns), and verdicts: C8's (map and
one regime) and C9's inputs recomputed from the data saved beside their figures, and report.json
holding each verdict. The scripts share one runs folder, as in the report, so the digits and
Iris sweeps and C11's map are trained once."""
import json
import struct

import numpy as np
import pandas as pd
import pytest

from gradlab.report import ClaimResult, Context, document, rules, style
from gradlab.report.paths import ANALYSIS
from gradlab.report.runner import load_script

SCRIPTS = ("c08_matched_regularisers", "c08_regimes", "c09_regimes", "c09_sensitivity", "c11_calibration", "c11_geometry",
           "c11_regimes", "e01_regimes")
PANELS = {"c08_matched_regularisers": (2, 4), "c08_regimes": (1, 3), "c09_regimes": (1, 3), "c09_sensitivity": (2, 4),
          "c11_calibration": (2, 3), "c11_geometry": (1, 3), "c11_regimes": (1, 3), "e01_regimes": (1, 3)}
COLUMNS = {
    "c08_matched_regularisers__pairs.csv": ["a", "method", "strength", "counted", "test_nll_ls", "test_nll_other",
                                            "test_nll_diff", "test_nll_se", "test_nll_margin", "test_nll_status",
                                            "predictions_status"],
    "c08_matched_regularisers__seeds.csv": ["a", "method", "strength", "seed", "test_acc", "test_nll", "test_ece",
                                            "logit_gap", "hidden_norm", "output_norm", "pred_alike_ls",
                                            "pred_alike_next"],
    "c08_matched_regularisers__sweep.csv": ["knob", "value", "seed", "weight_norm", "test_acc", "test_nll"],
    "c08_matched_regularisers__logit_gaps.csv": ["method", "logit_gap"],
    "c08_regimes__cells.csv": ["data", "width", "epochs", "lambda", "norm_gap", "nll_diff", "nll_se",
                               "null_ece_diff", "logit_gap_margin", "verdict"],
    "c08_regimes__strengths.csv": ["data", "width", "l2", "seed", "weight_norm"],
    "c09_sensitivity__runs.csv": ["data", "knob", "value", "seed", "test_acc", "test_nll"],
    "c09_sensitivity__sensitivity.csv": ["data", "knob", "sensitivity", "slope", "seed_sd", "useful_low", "useful_high",
                                         "low", "high", "span", "best"],
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


def test_report_json_holds_each_verdict_and_its_figures(report):
    _, results, rep = report
    claims = [r for name in SCRIPTS for r in results[name] if isinstance(r, ClaimResult)]
    # c11_calibration and c11_geometry support C11, c09_sensitivity C9, c08_matched_regularisers C8
    assert sorted(r.claim for r in claims) == ["C11", "C8", "C9", "E1"]
    for r in claims:
        entry = rep["claims"][r.claim]
        assert (entry["verdict"], entry["reason"]) == (r.verdict, r.reason)
        # the numbers as report.json stores them ("nan" strings included) give the same verdict
        assert (entry["verdict"], entry["reason"]) == rules.reapply(entry["rule"], entry["numbers"])
        assert all((report[0] / f).exists() for f in entry["figures"])
    text = (report[0] / "REPORT.md").read_text()
    assert all(f"## {c}:" in text for c in ("C8", "C9", "C11", "E1"))


def numbers_of(results, claim, script=None):
    return {n.name: n.value for name, rs in results.items() for r in rs if r.claim == claim and script in (None, name)
            for n in r.numbers}


def test_c8_matching_and_the_l2_weight_decay_identity(report):
    n = numbers_of(report[1], "C8")
    assert n["matched_pairs"] > 0
    assert n["norm_match_max_rel_gap"] < 0.15  # the matched lambda lands near LS's norm even in quick mode
    # plain SGD: w - lr (g + lam w) and w - lr g - lr lam w are one update, up to rounding
    assert n["l2_vs_weight_decay_max_rel_norm_gap"] < 1e-9
    seeds = pd.read_csv(report[0] / "c08_matched_regularisers__seeds.csv")
    measures = ["test_acc", "test_nll", "test_ece", "logit_gap", "hidden_norm", "output_norm", "pred_alike_ls"]
    l2, wd = (seeds[seeds.method == m].set_index(["a", "seed"])[measures] for m in ("l2", "weight_decay"))
    np.testing.assert_allclose(wd.loc[l2.index], l2, rtol=1e-9)  # so the weight-decay pairs are not counted
    assert n["repeated_pairs"] == len(wd.groupby(level="a"))
    assert set(seeds.method) == {"ls", "hard", "l2", "l1", "weight_decay"}
    assert seeds[["pred_alike_ls", "pred_alike_next"]].stack().between(0, 1).all()


def _c8_status(d, se, margin, one_sided):
    """C8's call of one pair written out (rules.paired_call): agree when the 2-SE interval lies
    inside +-margin (one-sided: above -margin), differ when the difference is beyond the margin
    and the interval excludes 0 (one-sided: only a shortfall)."""
    lo, hi = d - 2 * se, d + 2 * se
    if one_sided:
        return "agree" if lo >= -margin else "differ" if d < -margin and hi < 0 else "inconclusive"
    if -margin <= lo and hi <= margin:
        return "agree"
    return "differ" if abs(d) > margin and (lo > 0 or hi < 0) else "inconclusive"


def test_c8_verdict_inputs_recomputed_from_the_saved_seeds(report):
    """From c08's per-seed table alone: paired differences, their standard errors and calls per
    pair, then the shares the rule is given; they equal the pairs table and the reported numbers,
    and the rule on the recomputed shares gives the reported verdict."""
    out, results, _ = report
    n = numbers_of(results, "C8", "c08_matched_regularisers")
    seeds = pd.read_csv(out / "c08_matched_regularisers__seeds.csv")
    pairs = pd.read_csv(out / "c08_matched_regularisers__pairs.csv").set_index(["a", "method"])
    margin = {"test_acc": 0.005, "test_nll": 0.02, "test_ece": 0.01, "predictions": 0.01}
    rel = {"logit_gap": 0.05, "hidden_norm": 0.05, "output_norm": 0.05}
    calls = {}
    for (a, method), y in seeds[seeds.method != "ls"].groupby(["a", "method"]):
        x = seeds[(seeds.a == a) & (seeds.method == "ls")]
        assert list(x.seed) == list(y.seed)
        for m in ("test_acc", "test_nll", "test_ece", "logit_gap", "hidden_norm", "output_norm", "predictions"):
            if m == "predictions":  # same-seed agreement with LS against seed-to-seed agreement
                d = y.pred_alike_ls.to_numpy() - (x.pred_alike_next.to_numpy() + y.pred_alike_next.to_numpy()) / 2
            else:
                d = y[m].to_numpy() - x[m].to_numpy()
            se = d.std(ddof=1) / np.sqrt(len(d))
            row = pairs.loc[(a, method)]
            assert row[f"{m}_diff"] == pytest.approx(d.mean(), abs=1e-12)
            assert row[f"{m}_se"] == pytest.approx(se, abs=1e-12)
            tol = margin.get(m) or rel[m] * abs(x[m].mean())
            calls[(a, method, m)] = _c8_status(d.mean(), se, tol, m == "predictions")
            assert row[f"{m}_status"] == calls[(a, method, m)]
    counted = sorted({(a, p) for a, p, _ in calls if p in ("l2", "l1")})  # weight decay repeats L2
    assert n["matched_pairs"] == len(counted)
    recomputed = {"matched_pairs": len(counted), "repeated_pairs": n["repeated_pairs"],
                  "l2_vs_weight_decay_max_rel_norm_gap": n["l2_vs_weight_decay_max_rel_norm_gap"]}
    for m in ("test_acc", "test_nll", "test_ece", "logit_gap", "hidden_norm", "output_norm", "predictions"):
        null = {a: calls[(a, "hard", m)] == "agree" for a, _ in counted}
        recomputed[f"agree_{m}"] = np.mean([calls[(a, p, m)] == "agree" and not null[a] for a, p in counted])
        recomputed[f"differ_{m}"] = np.mean([calls[(a, p, m)] == "differ" for a, p in counted])
        recomputed[f"null_agree_{m}"] = np.mean([null[a] for a in sorted(null)])
        for k in ("agree", "differ", "null_agree"):
            assert n[f"{k}_{m}"] == pytest.approx(recomputed[f"{k}_{m}"], abs=1e-12), (k, m)
    # matched lambdas leaning on an end of their grid: outside its second to second-last value
    grids = json.loads((out / "c08_matched_regularisers.json").read_text())["settings"]
    strength = pairs.strength.to_dict()
    recomputed["lambda_at_grid_edge"] = sum(not sorted(grids[p])[1] <= strength[(a, p)] <= sorted(grids[p])[-2]
                                            for a, p in counted)
    recomputed["unmatched_pairs"] = sum(p not in pairs.loc[a].index for a in grids["matched"] for p in ("l2", "l1"))
    assert (n["lambda_at_grid_edge"], n["unmatched_pairs"]) == (recomputed["lambda_at_grid_edge"],
                                                                recomputed["unmatched_pairs"])
    verdict, reason = rules.rule_c8(**recomputed)  # the one regime's verdict, shown beside C8's map
    (supporting,) = results["c08_matched_regularisers"]
    assert supporting.caption.endswith(f"Judged alone by rules.rule_c8: {verdict}; {reason}.")


KEYS = ["data", "width", "depth", "epochs", "train_size", "optimizer"]  # a map cell's axes


def _map_files(out, name):
    """A map script's saved runs and cell tables."""
    return pd.read_csv(out / f"{name}__runs.csv"), pd.read_csv(out / f"{name}__cells.csv")


def _loglog(curve, target):
    """The strength where ``curve`` (seed-mean norm by strength, sorted) first brackets ``target``,
    interpolated linearly in (log strength, log norm); NaN if it never does."""
    for (l0, n0), (l1, n1) in zip(curve.items(), list(curve.items())[1:]):
        if min(n0, n1) <= target <= max(n0, n1):
            return np.exp(np.log(l0) + (np.log(target) - np.log(n0)) / (np.log(n1) - np.log(n0))
                          * (np.log(l1) - np.log(l0)))
    return np.nan


def test_c8_map_inputs_recomputed_from_the_saved_runs(report):
    """From c08_regimes' saved runs and strength probes alone: each refinement's and each cell's
    matched strength (log-log interpolation of seed 0's norms against LS's seed 0), the paired
    differences L2 - LS and hard - LS with their standard errors, each cell's verdict by the cell
    rule, and the counts the map rule is given; the rule on them gives the reported verdict."""
    out, results, _ = report
    (c8,) = results["c08_regimes"]
    n = numbers_of(results, "C8", "c08_regimes")
    runs, cells = _map_files(out, "c08_regimes")
    strengths = pd.read_csv(out / "c08_regimes__strengths.csv")
    assert set(runs.method) == {"hard", "ls", "l2"} and len(cells) == n["cells"]
    verdicts, unmatched, null_agrees = [], 0, 0
    differ, toward = ({m: 0 for m in ("nll", "ece", "logit_gap")} for _ in range(2))
    for key, cell in runs.groupby(KEYS):
        row = cells.set_index(KEYS).loc[key]
        by = {m: cell[cell.method == m].sort_values("seed") for m in ("hard", "ls", "l2")}
        probes = strengths.set_index(KEYS).loc[[key]]
        assert set(probes.seed) == {0}  # probed on seed 0, against LS's seed 0
        target = by["ls"].weight_norm.iloc[0]
        for p in range(2, probes.probe.max() + 1):  # each refinement: the strength all earlier probes give
            earlier = _loglog(probes[probes.probe < p].groupby("l2").weight_norm.mean(), target)
            assert sorted(set(probes[probes.probe == p].l2)) == [pytest.approx(earlier, rel=1e-12)]
        lam = _loglog(probes.groupby("l2").weight_norm.mean(), target)
        assert row["lambda"] == pytest.approx(lam, rel=1e-12, nan_ok=True)
        target = by["ls"].weight_norm.mean()
        if not np.isfinite(lam):
            assert by["l2"].empty and row.verdict == "inconclusive"
            unmatched += 1
            verdicts.append(row.verdict)
            continue
        assert list(by["l2"].seed) == list(by["ls"].seed) == list(by["hard"].seed)
        assert (by["l2"].l2 == row["lambda"]).all()
        norm_gap = by["l2"].weight_norm.mean() / target - 1
        assert row.norm_gap == pytest.approx(norm_gap, rel=1e-9, abs=1e-12)
        unmatched += abs(norm_gap) > 0.05
        margin = {"nll": 0.02, "ece": 0.01, "logit_gap": 0.05 * abs(by["ls"].logit_gap.mean())}
        args, null_calls, direction = [], [], {"nll": -1, "ece": -1, "logit_gap": 1}
        for prefix, other in (("", "l2"), ("null_", "hard")):
            for m in ("nll", "ece", "logit_gap"):
                d = by[other][m].to_numpy() - by["ls"][m].to_numpy()
                mean, se = d.mean(), d.std(ddof=1) / np.sqrt(d.size)
                assert row[f"{prefix}{m}_diff"] == pytest.approx(mean, abs=1e-12)
                assert row[f"{prefix}{m}_se"] == pytest.approx(se, abs=1e-12)
                call = _c8_status(mean, se, margin[m], False)
                assert row[f"{prefix}{m}_call"] == call
                args += [mean, se] + ([margin[m]] if (prefix, m) == ("", "logit_gap") else [])
                if prefix:
                    null_calls.append(call)
                else:
                    differ[m] += call == "differ"
                    toward[m] += call == "differ" and direction[m] * mean > 0
        null_agrees += all(c == "agree" for c in null_calls)
        verdicts.append(rules.c8_cell(*args, norm_gap))
        assert row.verdict == verdicts[-1]
    recomputed = dict(cells=len(verdicts), cells_holds=verdicts.count("holds"), cells_fails=verdicts.count("fails"),
                      domain_holds=n["domain_holds"], domain_fails=n["domain_fails"], unmatched_cells=unmatched,
                      null_agrees_cells=null_agrees, a=0.1, **{f"differ_{m}_cells": v for m, v in differ.items()},
                      l2_lower_nll_cells=toward["nll"], l2_lower_ece_cells=toward["ece"],
                      l2_larger_gap_cells=toward["logit_gap"])
    assert {k: n[k] for k in recomputed} == recomputed
    assert rules.rule_c8_map(**recomputed) == (c8.verdict, c8.reason)


def _window(v, best, span):
    """The widest run of useful values within ``span`` decades holding ``best``, centred on it."""
    L = np.log10(v)
    b = int(np.flatnonzero(v == best)[0])
    fits = [(i, j) for i in range(b + 1) for j in range(b, len(v)) if L[j] - L[i] <= span + 1e-9]
    return min(fits, key=lambda ij: (round(L[ij[0]] - L[ij[1]], 6), round(abs((L[ij[0]] + L[ij[1]]) / 2 - L[b]), 6),
                                     ij[0]))


def test_c9_verdict_inputs_recomputed_from_the_saved_runs(report):
    """From c09's per-run table alone: per data set and knob the useful values, the common span,
    the counted window, the steepest change per decade in nats and in seed SDs; they equal the
    reported numbers, and the rule on them gives the reported verdict."""
    out, results, _ = report
    (c9,) = results["c09_sensitivity"]  # the two regimes in detail, beside C9's map
    n = numbers_of(results, "C9", "c09_sensitivity")
    runs = pd.read_csv(out / "c09_sensitivity__runs.csv")
    drops = pd.read_csv(out / "c09_sensitivity__sensitivity.csv").groupby("data").useful_acc_drop.first()
    recomputed = {}
    for data in ("iris", "digits"):
        tables = {}
        for knob in ("a", "lambda"):
            t = runs[(runs.data == data) & (runs.knob == knob) & (runs.value > 0)]
            nll = t.pivot(index="value", columns="seed", values="test_nll").sort_index()
            acc = t.pivot(index="value", columns="seed", values="test_acc").sort_index()
            useful = acc.mean(axis=1) >= acc.mean(axis=1).max() - drops[data]
            tables[knob] = nll[useful.to_numpy()]
        span = min(np.log10(t.index.max() / t.index.min()) for t in tables.values())
        assert n[f"span_{data}"] == pytest.approx(span, abs=1e-12)
        recomputed[f"span_{data}"] = n[f"span_{data}"]
        for knob, t in tables.items():
            v, means = t.index.to_numpy(), t.mean(axis=1).to_numpy()
            assert n[f"best_{knob}_{data}"] == v[np.argmin(means)]
            grid = runs[(runs.data == data) & (runs.knob == knob) & (runs.value > 0)].value
            edge = int(v[np.argmin(means)] in (grid.min(), grid.max()))
            assert n[f"{knob}_at_grid_edge_{data}"] == edge
            recomputed[f"{knob}_at_grid_edge_{data}"] = edge
            i, j = _window(v, v[np.argmin(means)], span)
            w = t.iloc[i:j + 1]
            slope = np.max(np.abs(np.diff(w.mean(axis=1))) / np.diff(np.log10(w.index)))
            sd = np.sqrt((w.std(axis=1, ddof=1) ** 2).mean())
            assert n[f"slope_{knob}_{data}"] == pytest.approx(slope, rel=1e-12)
            assert n[f"nll_seed_sd_{knob}_{data}"] == pytest.approx(sd, rel=1e-12)
            assert n[f"sensitivity_{knob}_{data}"] == pytest.approx(slope / sd, rel=1e-12)
            recomputed.update({f"slope_{knob}_{data}": slope, f"sensitivity_{knob}_{data}": slope / sd})
    verdict, reason = rules.rule_c9(**recomputed)
    assert f"rules.rule_c9: {verdict}; {reason}." in c9.caption


def test_c9_and_c11_numbers_are_measured(report):
    n9 = numbers_of(report[1], "C9", "c09_sensitivity")
    for key in ("a", "lambda"):
        for data in ("iris", "digits"):
            assert n9[f"sensitivity_{key}_{data}"] >= 0 and n9[f"nll_seed_sd_{key}_{data}"] > 0
            assert n9[f"slope_{key}_{data}"] == pytest.approx(n9[f"sensitivity_{key}_{data}"] *
                                                              n9[f"nll_seed_sd_{key}_{data}"])
    n11 = numbers_of(report[1], "C11")
    for data in ("digits", "iris"):
        assert all(0 <= n11[f"ece_{m}_{data}"] <= 1 for m in ("hard", "ls", "l2", "ts"))
        assert n11[f"temperature_median_{data}"] > 0
    geometry = pd.read_csv(report[0] / "c11_geometry__tightness.csv")
    for m in ("hard", "ls", "l2"):  # c11_calibration reports the same numbers c11_geometry draws
        assert n11[f"tightness_{m}"] == pytest.approx(geometry[geometry.method == m].tightness.mean())


def test_c11_map_verdict_inputs_follow_from_the_runs_csv(report):
    """Every cell of C11's map recomputed from the per-run CSV (a on validation NLL, paired
    differences and standard errors over seeds, the cell's verdict), then the rule's counts."""
    out, results, _ = report
    runs, cells = _map_files(out, "c11_regimes")
    verdicts = []
    for key, part in runs.groupby(KEYS):
        ls = part[part.smoothing > 0]
        a = ls.groupby("smoothing").val_nll.mean().idxmin()
        x = part[part.smoothing == a].set_index("seed").sort_index()
        h = part[part.smoothing == 0].set_index("seed").sort_index()
        row = cells.set_index(KEYS).loc[key]
        assert row.a == a
        for m in ("ece", "nll"):
            d = (x[m] - h[m]).to_numpy()
            assert row[f"{m}_diff"] == pytest.approx(d.mean(), rel=1e-12, abs=1e-15)
            assert row[f"{m}_se"] == pytest.approx(d.std(ddof=1) / np.sqrt(d.size), rel=1e-12, abs=1e-15)
        d_ts = (x.ece - h.ece_ts).to_numpy()
        assert row.ece_vs_ts_diff == pytest.approx(d_ts.mean(), rel=1e-12, abs=1e-15)
        verdicts.append(rules.c11_cell(row.ece_diff, row.ece_se, row.nll_diff, row.nll_se))
        assert row.verdict == verdicts[-1]
    assert len(verdicts) == len(cells)
    n = numbers_of(results, "C11")
    assert (n["cells"], n["cells_holds"], n["cells_fails"]) == (len(cells), verdicts.count("holds"),
                                                                verdicts.count("fails"))
    assert n["ece_gain_best"] == pytest.approx(cells.ece_diff.min())
    assert n["a_at_grid_edge_cells"] == int(cells.a_at_edge.sum())
    claim = next(r for r in results["c11_regimes"] if r.claim == "C11")
    assert (claim.verdict, claim.reason) == rules.rule_c11(**{k: n[k] for k in (
        "cells", "cells_holds", "cells_fails", "domain_fails", "domain_holds", "ece_gain_best", "ece_gain_best_se",
        "ece_gain_best_regime", "fails_ts_as_good", "a_at_grid_edge_cells", "a_at_low_edge_cells")})


def test_c9_map_verdict_inputs_follow_from_c11s_runs_csv(report):
    """C9's map reads C11's runs: per cell the a chosen on validation NLL (0 included), the best
    a on test NLL and accuracy, the paired costs of the choice and the cell's verdict, recomputed
    from C11's per-run CSV; then the counts and the claim's verdict."""
    out, results, _ = report
    runs = pd.read_csv(out / "c11_regimes__runs.csv")
    cells = pd.read_csv(out / "c09_regimes__cells.csv")
    verdicts = []
    for key, part in runs.groupby(KEYS):
        means = part.groupby("smoothing")[["val_nll", "nll", "acc"]].mean()
        chosen, best_nll, best_acc = means.val_nll.idxmin(), means.nll.idxmin(), means.acc.idxmax()
        at = {a: part[part.smoothing == a].set_index("seed").sort_index() for a in (chosen, best_nll, best_acc)}
        row = cells.set_index(KEYS).loc[key]
        assert (row.a_val, row.a_best_nll, row.a_best_acc) == (chosen, best_nll, best_acc)
        d_nll = (at[chosen].nll - at[best_nll].nll).to_numpy()
        d_acc = (at[best_acc].acc - at[chosen].acc).to_numpy()
        for name, d in (("nll_regret", d_nll), ("acc_regret", d_acc)):
            assert row[name] == pytest.approx(d.mean(), rel=1e-12, abs=1e-15)
            assert row[f"{name}_se"] == pytest.approx(d.std(ddof=1) / np.sqrt(d.size), rel=1e-12, abs=1e-15)
        verdicts.append(rules.c9_cell(d_nll.mean(), d_nll.std(ddof=1) / np.sqrt(d_nll.size), d_acc.mean(),
                                      d_acc.std(ddof=1) / np.sqrt(d_acc.size)))
        assert row.verdict == verdicts[-1]
    n = numbers_of(results, "C9", "c09_regimes")
    assert (n["cells"], n["cells_holds"], n["cells_fails"]) == (len(cells), verdicts.count("holds"),
                                                                verdicts.count("fails"))
    assert n["val_is_best_cells"] == int((cells.a_val == cells.a_best_nll).sum())
    assert n["hard_chosen_cells"] == int((cells.a_val == 0).sum())
    assert n["nll_regret_max"] == pytest.approx(cells.nll_regret.max())
    (c9,) = results["c09_regimes"]
    assert rules.reapply("rule_c9_map", [{"name": k, "value": v} for k, v in n.items()]) == (c9.verdict, c9.reason)


def test_e1_map_inputs_recomputed_from_the_saved_runs(report):
    """From e01_regimes' saved runs and C11's map runs alone: LS's a per cell (lowest seed-mean
    validation NLL over a > 0), the students' and hard targets' (the null) paired differences to
    LS at that a with their standard errors, each measure's call and each cell's verdict, and the
    counts the map rule is given; the rule on them gives the reported verdict."""
    out, results, _ = report
    (e1,) = results["e01_regimes"]
    n = numbers_of(results, "E1", "e01_regimes")
    runs, cells = _map_files(out, "e01_regimes")
    c11 = pd.read_csv(out / "c11_regimes__runs.csv")
    assert set(runs.method) == {"ls", "cm", "hp", "hard"} and len(cells) == n["cells"]
    sign, margin = {"acc": 1, "nll": -1, "ece": -1}, {"acc": 0.005, "nll": 0.02, "ece": 0.01}
    verdicts, stands, behind = [], {"cm": 0, "hp": 0, "hard": 0}, {"cm": 0, "hp": 0, "hard": 0}
    for key, cell in runs.groupby(KEYS):
        row = cells.set_index(KEYS).loc[key]
        val = c11.set_index(KEYS).loc[[key]]
        a = val[val.smoothing > 0].groupby("smoothing").val_nll.mean().idxmin()
        assert row.a == a
        ls = val[val.smoothing == a].sort_values("seed")
        assert np.array_equal(cell[cell.method == "ls"].sort_values("seed").nll, ls.nll)
        args, calls = [], {}
        for t in ("cm", "hp", "hard"):
            student = cell[cell.method == t].sort_values("seed")
            assert list(student.seed) == list(ls.seed)
            for m in ("acc", "nll", "ece"):
                d = student[m].to_numpy() - ls[m].to_numpy()
                mean, se = d.mean(), d.std(ddof=1) / np.sqrt(d.size)
                assert row[f"{t}_{m}_diff"] == pytest.approx(mean, abs=1e-12)
                assert row[f"{t}_{m}_se"] == pytest.approx(se, abs=1e-12)
                g, lo, hi = sign[m] * mean, sign[m] * mean - 2 * se, sign[m] * mean + 2 * se
                call = ("beats" if g > margin[m] and lo > 0 else "falls behind" if g < -margin[m] and hi < 0 else
                        "matches" if -margin[m] <= lo and hi <= margin[m] else "undecided")
                assert row[f"{t}_{m}_call"] == call
                calls.setdefault(t, []).append(call)
                args += [mean, se]
            stands[t] += all(c in ("beats", "matches") for c in calls[t])
            behind[t] += "falls behind" in calls[t]
        shown = {t: all(c in ("beats", "matches") for c in cs) for t, cs in calls.items()}
        verdicts.append("holds" if (shown["cm"] or shown["hp"]) and not shown["hard"] else
                        "fails" if "falls behind" in calls["cm"] and "falls behind" in calls["hp"] else "inconclusive")
        assert row.verdict == verdicts[-1] == rules.e1_cell(*args)
    recomputed = dict(cells=len(verdicts), cells_holds=verdicts.count("holds"), cells_fails=verdicts.count("fails"),
                      domain_holds=n["domain_holds"], domain_fails=n["domain_fails"], hidden_weight=0.3,
                      ls_a_low_edge_cells=int((cells.a == c11[c11.smoothing > 0].smoothing.min()).sum()),
                      **{f"{t}_stands_in_cells": v for t, v in stands.items()},
                      **{f"{t}_behind_cells": v for t, v in behind.items() if t != "hard"})
    assert {k: n[k] for k in recomputed} == recomputed
    assert rules.rule_e1_map(**recomputed) == (e1.verdict, e1.reason)
