"""The training analysis scripts (C5 traces, C6/C7 weight growth, C6 max margin, C10 MSE) run in
quick mode into temporary folders: figures have the standard size, data and settings beside them,
and the numbers the rules judge agree with the data saved beside the figures."""
import inspect
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from gradlab.report import Context, rules, style
from gradlab.report.paths import ANALYSIS
from gradlab.report.runner import load_script


def _script(name):
    return load_script(Path(ANALYSIS) / f"{name}.py")


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    root = tmp_path_factory.mktemp("analysis")
    return Context(out=root / "figures", quick=True, runs=root / "runs")


@pytest.fixture(scope="module")
def c06(ctx):
    return _script("c06_weight_growth").run(ctx)


def _png(ctx, name, nrows, ncols):
    with Image.open(Path(ctx.out) / name) as im:
        assert im.size == style.pixel_size(nrows, ncols), (name, im.size)
    meta = json.loads((Path(ctx.out) / name.replace(".png", ".json")).read_text())
    assert meta["quick"] is True and meta["settings"]
    return meta


def _inputs(result, rule=None):
    """The result's numbers by name; every input of its rule is among them and its verdict is one
    of the rule's (that the inputs follow from the saved data is checked test by test). A
    supporting result (``rule`` given) states the rule's verdict on its numbers in its caption."""
    numbers = {n.name: n.value for n in result.numbers}
    fn = getattr(rules, rule or result.rule)
    params = inspect.signature(fn).parameters
    assert set(params) <= set(numbers)
    if rule is None:
        assert result.verdict in rules.VERDICTS
    else:
        assert f"rules.{rule}: {fn(**{k: numbers[k] for k in params})[0]};" in result.caption
    return numbers


def test_c06_results_figures_and_numbers(ctx, c06):
    assert [r.claim for r in c06] == ["C6", "C7"]  # the mechanism beside the map (c06_growth_regimes)
    c6, c7 = _inputs(c06[0], "rule_c6"), _inputs(c06[1], "rule_c7")
    assert c06[0].figures == ["c06_weight_norms.png", "c06_max_margin.png"]
    assert c06[1].figures == ["c07_layer_norms.png", "c07_gap_accuracy.png", "c06_weight_norms.png"]
    _png(ctx, "c06_weight_norms.png", 1, 3)
    _png(ctx, "c07_layer_norms.png", 2, 3)
    _png(ctx, "c07_gap_accuracy.png", 1, 2)  # c06_max_margin.png is drawn by its own script (test below)

    runs = pd.read_csv(Path(ctx.out) / "c06_weight_norms__runs.csv")
    bands = pd.read_csv(Path(ctx.out) / "c07_layer_norms__bands.csv")
    assert {"group", "step", "mean", "lo", "hi", "runs", "dataset", "column"} <= set(bands.columns)
    assert (bands["lo"] <= bands["mean"] + 1e-12).all() and (bands["mean"] <= bands["hi"] + 1e-12).all()
    assert (runs["step"] >= 10 ** 4).all()  # quick mode: 10^4 steps, every run to the end
    growth = [c for c in runs.columns if c.startswith("growth_weight_norm_")]
    last = max(growth, key=lambda c: int(c.rsplit("_", 1)[1]))
    # a number in the report is the mean of its runs in the saved table
    iris_hard = runs[(runs["dataset"] == "Iris") & (runs["kind"] == "hard")]
    assert c6["growth_last_decade_iris_hard"] == pytest.approx(iris_hard[last].mean(), rel=1e-12)
    separable = runs[runs["dataset"].isin(["Iris", "blobs", "separable blobs"]) & (runs["kind"] == "hard")]
    assert c6["separable_growth_min"] == pytest.approx(separable.groupby("dataset")[growth].mean().min().min(),
                                                       rel=1e-12)
    assert c6["nonseparable_sets_linearly_separable"] == 0
    assert c6["separated_share_min"] == separable["train_acc"].min()
    ls_nets = runs[runs["dataset"].isin(["Iris", "blobs"]) & (runs["kind"] == "ls")]
    assert c7["ls_hidden_growth_max"] == pytest.approx(
        ls_nets.groupby(["dataset", "value"])[last.replace("weight_norm", "layer_norm_0")].mean().max(), rel=1e-12)
    assert c7["gap_formula_vs_optimizer_max"] < 1e-6
    assert 0 <= c7["saturated_share_ls"] <= 1


def test_c06_second_run_loads_cached_sweeps_and_gives_the_same_numbers(ctx, c06):
    blocks = sorted(Path(ctx.runs).rglob("*.npz"))
    assert blocks
    stamps = [p.stat().st_mtime_ns for p in blocks]
    again = _script("c06_weight_growth").run(ctx)
    assert [p.stat().st_mtime_ns for p in sorted(Path(ctx.runs).rglob("*.npz"))] == stamps  # nothing retrained
    for first, second in zip(c06, again):
        assert [(n.name, n.value) for n in first.numbers] == [(n.name, n.value) for n in second.numbers]


def test_c06_max_margin_alone_draws_and_reports_nothing(tmp_path):
    ctx = Context(out=tmp_path, quick=True, runs=tmp_path / "runs")
    module = _script("c06_max_margin")
    assert module.run(ctx) == []
    _png(ctx, "c06_max_margin.png", 2, 2)
    decades = pd.read_csv(tmp_path / "c06_max_margin__decades.csv")
    path = pd.read_csv(tmp_path / "c06_max_margin__path.csv")
    assert list(decades.columns) == ["decade_end", "slope", "slope_over_norm_w_hat", "angle_deg_at_end"]
    assert {"step", "w0", "w1", "b", "norm_wb", "angle_deg"} <= set(path.columns)
    # the norm column is the norm of the saved [w, b]
    np.testing.assert_allclose(path["norm_wb"], np.linalg.norm(path[["w0", "w1", "b"]], axis=1), rtol=1e-12)
    numbers = module.numbers(ctx)  # what c06_weight_growth reports, from the same cached path
    assert numbers["soudry_angle_decreasing"] == bool(np.all(np.diff(decades["angle_deg_at_end"]) < 0))
    assert 0 < numbers["soudry_slope_ratio_last"] < 1.05


def test_c05_delta_traces(tmp_path):
    ctx = Context(out=tmp_path, quick=True, runs=tmp_path / "runs")
    module = _script("c05_delta_traces")
    files, numbers = module.figure(ctx)
    assert files[0] == "c05_delta_traces.png"
    _png(ctx, "c05_delta_traces.png", 1, 3)
    records = pd.read_csv(tmp_path / "c05_delta_traces__records.csv")
    rows = pd.read_csv(tmp_path / "c05_delta_traces__rows.csv")
    assert {"a", "step", "past_target", "negative_trace_share", "ever_flipped_share"} <= set(records.columns)
    assert {"a", "seed", "row", "label", "first_flip_step", "sign_changes"} <= set(rows.columns)
    # sigmoid hidden units: a negative traced delta is exactly a row past t' (History.past_target)
    assert numbers["trace_vs_past_target_max"] == 0.0
    assert numbers["hard_rows_ever_flipped"] == 0 and (records[records["a"] == 0]["past_target"] == 0).all()
    assert numbers["ls0.1_share_flipped_by_end"] > 0.5
    (supporting,) = module.run(ctx)  # figure 5 is shown under C5 as a supporting figure
    assert supporting.claim == "C5" and supporting.figures == ["c05_delta_traces.png"]
    assert {n.name: n.value for n in supporting.numbers}["hard_rows_ever_flipped"] == 0


def test_c10_mse(ctx):
    (c10,) = _script("c10_mse").run(ctx)
    numbers = _inputs(c10, "rule_c10")
    assert c10.claim == "C10" and c10.figures == ["c10_mse.png"]
    _png(ctx, "c10_mse.png", 2, 4)
    runs = pd.read_csv(Path(ctx.out) / "c10_mse__runs.csv")
    assert set(runs["loss"]) == {"mse", "ce"} and set(runs[runs["loss"] == "mse"]["output"]) == {"sigmoid", "softmax"}
    iris = runs[(runs["dataset"] == "Iris") & (runs["loss"] == "mse") & (runs["output"] == "softmax")
                & (runs["kind"] == "ls") & np.isclose(runs["value"], 0.1)]
    assert numbers["iris_mse_softmax_ls0.1_test_acc"] == pytest.approx(iris["test_acc"].mean(), rel=1e-12)
    assert numbers["mse_gap_formula_vs_optimizer_max"] < 1e-6
    # the rule's inputs from the saved runs: seed means per group, then the extreme over outputs and a
    last = max((c for c in runs.columns if c.startswith("growth_weight_norm_")), key=lambda c: int(c.rsplit("_", 1)[1]))
    decades = [c for c in runs.columns if c.startswith("growth_weight_norm_")]
    mse = runs[runs["loss"] == "mse"]
    blobs, iris = mse[mse["dataset"] == "separable blobs"], mse[mse["dataset"] == "Iris"]
    hard_growth = blobs[blobs["kind"] == "hard"].groupby("output")[decades].mean().min(axis=1).min()
    ls_change = blobs[blobs["kind"] == "ls"].groupby(["output", "value"])[last].mean().abs().max()
    ls_nets = iris[iris["kind"] == "ls"].groupby(["output", "value"])
    ce_ls = runs[(runs["dataset"] == "Iris") & (runs["loss"] == "ce") & (runs["kind"] == "ls")
                 & np.isclose(runs["value"], 0.1)]["test_acc"].mean()
    better = np.maximum(iris[iris["kind"] == "hard"].groupby("output")["test_acc"].mean(), ce_ls)
    drop = (better - ls_nets["test_acc"].mean().unstack("value").T).max().max()
    assert numbers["mse_hard_linear_growth_min"] == pytest.approx(hard_growth, rel=1e-12)
    assert numbers["mse_ls_linear_change_max"] == pytest.approx(ls_change, rel=1e-12)
    assert numbers["mse_ls_acc_drop_max"] == pytest.approx(drop, abs=1e-12)
    for layer, name in ((0, "hidden"), (1, "output")):
        grown = ls_nets[last.replace("weight_norm", f"layer_norm_{layer}")].mean().max()
        assert numbers[f"mse_ls_{name}_growth_max"] == pytest.approx(grown, rel=1e-12)
    recomputed = {k: numbers[k] for k in ("mse_ls_gap_rel_err_max", "mse_gap_formula_vs_optimizer_max")}
    recomputed.update(mse_hard_linear_growth_min=hard_growth, mse_ls_linear_change_max=ls_change, mse_ls_acc_drop_max=drop,
                      mse_ls_output_growth_max=numbers["mse_ls_output_growth_max"],
                      mse_ls_hidden_growth_max=numbers["mse_ls_hidden_growth_max"])
    assert f"rules.rule_c10: {rules.rule_c10(**recomputed)[0]};" in c10.caption


def test_growth_map_verdicts_follow_from_the_runs_csv(ctx):
    """C6, C7 and C10 from their map (quick): each cell's growth, standard error, paired
    difference and verdict, the counts and the claims' verdicts, recomputed from the runs saved
    beside the figure."""
    from gradlab import regimes
    results = _script("c06_growth_regimes").run(ctx)
    assert [r.claim for r in results] == ["C6", "C7", "C10"]
    for r, name in zip(results, ("c06_regimes", "c07_regimes", "c10_regimes")):
        assert r.figures == [f"{name}.png"] and r.rule == f"rule_{r.claim.lower()}_map"
        _png(ctx, f"{name}.png", 1, 3)
    out, keys = Path(ctx.out), list(regimes.AXES)
    runs = pd.read_csv(out / "c06_regimes__runs.csv")
    cells = pd.read_csv(out / "c06_regimes__cells.csv").set_index(keys)
    name = {("ce", 0.0): "hard", ("ce", 0.1): "ls", ("mse", 0.0): "mse_hard", ("mse", 0.1): "mse_ls"}
    runs["condition"] = [name[(loss, a)] for loss, a in zip(runs.loss, runs.smoothing)]
    by_seed = runs.pivot_table(index=[*keys, "seed"], columns="condition", values="layer_growth")
    panels = _script("c06_growth_regimes").QUICK["panels"]
    assert len(cells) == len(regimes.cells(panels))
    calls = {c: [] for c in ("hard", "ls", "mse_hard", "mse_ls")}
    for key, row in cells.iterrows():
        seeds = by_seed.loc[key]
        assert len(seeds) == 2
        for cond in calls:
            assert row[f"{cond}_growth"] == pytest.approx(seeds[cond].mean(), rel=1e-12)
            assert row[f"{cond}_growth_se"] == pytest.approx(seeds[cond].std(ddof=1) / np.sqrt(2), rel=1e-9, abs=1e-15)
            calls[cond].append(rules.growth_call(seeds[cond].mean(), seeds[cond].std(ddof=1) / np.sqrt(2)))
        assert row.ls_minus_hard == pytest.approx((seeds.ls - seeds.hard).mean(), rel=1e-9, abs=1e-15)
        assert row.hard_train_acc_min == runs.set_index(keys).loc[key].query("condition == 'hard'").train_acc.min()
    c = {k: np.array(x) for k, x in calls.items()}
    v = {"c6": np.where(c["hard"] == "growing", "holds", np.where(c["hard"] == "not growing", "fails", "inconclusive"))}
    for claim, ls, hard in (("c7", "ls", "hard"), ("c10", "mse_ls", "mse_hard")):
        v[claim] = np.where(c[ls] == "growing", "fails",
                            np.where((c[ls] == "not growing") & (c[hard] == "growing"), "holds", "inconclusive"))
    for col in ("c6", "c7", "c10"):
        assert list(cells[col]) == list(v[col])
    norm = runs.groupby([*keys, "condition"]).norm.mean().unstack("condition").loc[cells.index]
    ratios = {"C7": norm.ls / norm.hard, "C10": norm.mse_ls / norm.mse_hard}
    fitted = (cells.hard_train_acc_min == 1).to_numpy()
    recomputed = {
        "C6": dict(fitted_cells=int(fitted.sum()), fitted_cells_holds=int((fitted & (v["c6"] == "holds")).sum())),
        "C7": dict(no_contrast_cells=int(((c["ls"] == "not growing") & (c["hard"] != "growing")).sum())),
        "C10": dict(no_contrast_cells=int(((c["mse_ls"] == "not growing") & (c["mse_hard"] != "growing")).sum()),
                    agrees_with_ce_cells=int((v["c10"] == v["c7"]).sum()))}
    for claim, ratio in ratios.items():
        recomputed[claim].update(norm_ratio_min=pytest.approx(ratio.min(), rel=1e-12),
                                 norm_ratio_max=pytest.approx(ratio.max(), rel=1e-12))
    for r in results:
        numbers = _inputs(r)
        col = v[r.claim.lower()]
        mine = dict(recomputed[r.claim], cells=len(col), cells_holds=int((col == "holds").sum()),
                    cells_fails=int((col == "fails").sum()),
                    **{f"domain_{w}": regimes.describe(cells.reset_index(), col == w, panels) or "no regime"
                       for w in ("holds", "fails")})
        assert {k: numbers[k] for k in mine} == mine
        assert getattr(rules, r.rule)(**{k: numbers[k] for k in mine}) == (r.verdict, r.reason)
