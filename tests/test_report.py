"""The claims-report framework (gradlab.report) and the C1-C5 analysis scripts, run in quick mode."""
import json
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from gradlab.report import CLAIM_IDS, ClaimResult, Context, Number, rules, save_figure, style
from gradlab.report import document, runner

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_size(path):
    """(width, height) from a PNG's IHDR chunk."""
    head = path.read_bytes()[:24]
    assert head[:8] == PNG_MAGIC, f"{path} is not a PNG"
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def result(claim="C1", verdict="holds", **kw):
    return ClaimResult(claim=claim, title="t", statement="s", verdict=verdict, reason="r",
                       numbers=kw.get("numbers", [Number("x", 1.0)]), figures=kw.get("figures", []), rule="rule_c1")


# ---------------------------------------------------------------- framework


def test_save_figure_writes_png_data_and_settings(tmp_path):
    ctx = Context(out=tmp_path / "figs", quick=True)
    fig, ax = style.subplots(1, 2)
    ax[0].plot([0, 1], [0, 1])
    frame = pd.DataFrame({"x": [0, 1], "y": [0.0, 1.0]})
    written = save_figure(ctx, fig, "demo", {"main": frame, "extra": frame}, {"seed": np.int64(3), "a": [0.1]})
    assert written == ["demo.png", "demo__main.csv", "demo__extra.csv", "demo.json"]
    assert png_size(ctx.out / "demo.png") == style.pixel_size(1, 2) == (1260, 480)
    assert list(pd.read_csv(ctx.out / "demo__main.csv").columns) == ["x", "y"]
    meta = json.loads((ctx.out / "demo.json").read_text())
    assert meta["settings"] == {"seed": 3, "a": [0.1]} and meta["quick"] is True
    assert meta["gradlab_version"]


@pytest.mark.parametrize("name,data,settings,exc", [
    ("a/b", pd.DataFrame({"x": [1]}), {}, ValueError),
    ("ok", [1, 2], {}, TypeError),
    ("ok", pd.DataFrame({"x": [1]}), [("seed", 1)], TypeError),
    ("ok", pd.DataFrame({"x": [1]}), {"f": object()}, TypeError),
])
def test_save_figure_rejects_bad_arguments_before_writing(tmp_path, name, data, settings, exc):
    fig, _ = style.subplots()
    with pytest.raises(exc):
        save_figure(Context(out=tmp_path), fig, name, data, settings)
    assert list(tmp_path.iterdir()) == []


def test_claim_result_checks_its_fields():
    with pytest.raises(ValueError, match="verdict"):
        result(verdict="true")
    with pytest.raises(ValueError, match="claim"):
        result(claim="C99")
    with pytest.raises(ValueError, match="rule"):
        ClaimResult("C1", "t", "s", "holds", "r", [], [], rule="no_such_rule")
    with pytest.raises(TypeError, match="value"):
        Number("x", [1, 2])
    assert result(claim="c3").claim == "C3"
    assert Number("x", np.float32(0.5)).value == 0.5 and type(Number("n", np.int64(2)).value) is int


def test_reapply_reads_numbers_by_name():
    numbers = [{"name": "max_abs_delta_minus_o_minus_t", "value": 0.0},
               {"name": "max_rel_err_vs_fd", "value": 1e-9}, {"name": "unrelated", "value": 5}]
    assert rules.reapply("rule_c1", numbers)[0] == "holds"


def test_report_markdown_has_every_claim_and_marks_the_unmeasured(tmp_path):
    report = document.update(document.empty(), [result("C5", numbers=[Number("d", -0.0017, "", "x | y")])],
                             quick=True, script="analysis/c05.py", declared=("C5",))
    path = document.write(tmp_path, report)
    text = path.read_text()
    for c in CLAIM_IDS:
        assert f"## {c}: " in text
    assert text.count("not yet measured: no analysis script") == len(CLAIM_IDS) - 1
    assert "| d | -0.0017 |  | x \\| y |" in text
    data = json.loads((tmp_path / "report.json").read_text())
    assert list(data["claims"]) == ["C5"] and data["quick"] is True
    # REPORT.md is a function of report.json only
    assert document.render(data) == text


def write_script(folder, name, claims, body):
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(textwrap.dedent(f"""\
        from gradlab.report import ClaimResult, Number, script_main
        CLAIMS = {claims!r}
        def run(ctx):
        {textwrap.indent(textwrap.dedent(body), '    ')}
        if __name__ == "__main__":
            script_main(run, CLAIMS)
        """))


def test_runner_discovers_scripts_merges_only_and_survives_failures(tmp_path):
    analysis = tmp_path / "analysis"
    ok = """return [ClaimResult("C6", "t", "s", "holds", "r", [Number("x", 1)], [], "rule_c1")]"""
    write_script(analysis, "c06_ok.py", ("C6",), ok)
    write_script(analysis, "c07_broken.py", ("C7",), "raise RuntimeError('boom')")
    (analysis / "helper.py").write_text("raise SystemExit('not a script')\n")
    out = tmp_path / "out"
    path, failures = runner.run_report(out, quick=True, analysis=analysis)
    assert list(failures) and "boom" in next(iter(failures.values()))
    data = json.loads((out / "report.json").read_text())
    assert list(data["claims"]) == ["C6"]
    assert "`" in path.read_text() and "failed (RuntimeError: boom)" in path.read_text()
    # a script added later is found; --only merges
    write_script(analysis, "e01_later.py", ("E1",), ok.replace('"C6"', '"E1"'))
    runner.run_report(out, quick=True, only=["e1"], analysis=analysis)
    assert set(json.loads((out / "report.json").read_text())["claims"]) == {"C6", "E1"}
    with pytest.raises(ValueError, match="--only: no script .* C9"):
        runner.run_report(out, quick=True, only=["C9"], analysis=analysis)
    with pytest.raises(FileNotFoundError, match="analysis folder"):
        runner.run_report(out, analysis=tmp_path / "missing")


def test_runner_rejects_results_for_undeclared_claims(tmp_path):
    analysis = tmp_path / "analysis"
    write_script(analysis, "c06_liar.py", ("C6",),
                 """return [ClaimResult("C7", "t", "s", "holds", "r", [], [], "rule_c1")]""")
    _, failures = runner.run_report(tmp_path / "out", analysis=analysis)
    assert "not in its CLAIMS" in next(iter(failures.values()))


def test_script_main_runs_a_script_from_its_own_command_line(tmp_path):
    analysis = tmp_path / "analysis"
    write_script(analysis, "c06_ok.py", ("C6",),
                 """return [ClaimResult("C6", "t", "s", "holds", "r", [Number("x", ctx.quick)], [], "rule_c1")]""")
    done = subprocess.run([sys.executable, str(analysis / "c06_ok.py"), "--quick", "--out", str(tmp_path / "o")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    data = json.loads((tmp_path / "o" / "report.json").read_text())
    assert data["claims"]["C6"]["numbers"][0]["value"] is True


def test_cli_bad_only_is_one_line_error(tmp_path):
    done = subprocess.run([sys.executable, "-m", "gradlab", "report", "--quick", "--only", "C99", "--out",
                           str(tmp_path)], capture_output=True, text=True)
    assert done.returncode != 0
    assert done.stderr.strip().count("\n") == 0 and "C99" in done.stderr and "Traceback" not in done.stderr


# ---------------------------------------------------------------- the C1-C5 scripts, quick mode

MY_CLAIMS = ["C1", "C2", "C3", "C4", "C5"]
EXPECTED = {  # figure -> (panels (rows, cols), data file -> required columns)
    "c01_error_term_gap": ((1, 1), {"c01_error_term_gap.csv": {"K", "max_abs_gap", "gap_in_eps"}}),
    "c02_sign_map": ((1, 3), {"c02_sign_map__hard.csv": {"o1", "o2", "o3", "mismatch_class2", "diag_rel_l1"},
                              "c02_sign_map__smoothed.csv": {"o1", "o2", "o3", "mismatch_class1"},
                              "c02_sign_map__marks.csv": {"panel", "label", "o1", "o2", "o3"}}),
    "c05_worked_example": ((1, 1), {"c05_worked_example.csv": {"target", "output", "gradlab delta", "published"}}),
    "c05_error_terms": ((2, 2), {"c05_error_terms__curves.csv": {"loss", "output", "variant", "target", "a", "o", "delta"},
                                 "c05_error_terms__flips.csv": {"loss", "output", "K", "target", "flip_at"}}),
}


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    _, failures = runner.run_report(out, quick=True, only=MY_CLAIMS)
    assert not failures
    return out, json.loads((out / "report.json").read_text())


def test_quick_scripts_write_figures_with_data_and_settings(quick_report):
    out, data = quick_report
    for name, ((rows, cols), csvs) in EXPECTED.items():
        assert png_size(out / f"{name}.png") == style.pixel_size(rows, cols), name
        for fname, columns in csvs.items():
            frame = pd.read_csv(out / fname)
            assert len(frame) > 0 and columns <= set(frame.columns), (fname, frame.columns)
        meta = json.loads((out / f"{name}.json").read_text())
        assert meta["quick"] is True and meta["settings"]
    listed = {f for c in MY_CLAIMS for f in data["claims"][c]["figures"]}
    assert listed == {f"{name}.png" for name in EXPECTED}


def test_quick_verdicts_follow_from_their_own_numbers(quick_report):
    _, data = quick_report
    for c in MY_CLAIMS:
        entry = data["claims"][c]
        assert entry["verdict"] in rules.VERDICTS
        assert rules.reapply(entry["rule"], entry["numbers"]) == (entry["verdict"], entry["reason"]), c


def test_quick_numbers_are_the_measured_ones(quick_report):
    _, data = quick_report
    num = {c: {n["name"]: n["value"] for n in data["claims"][c]["numbers"]} for c in MY_CLAIMS}
    assert [num["C5"][k] for k in ("update_t1_o0.75", "update_t1_o0.97", "update_t0.8_o0.75", "update_t0.8_o0.97")] \
        == pytest.approx([0.0025, 0.0003, 0.0005, -0.0017], abs=1e-15)
    assert num["C3"]["a_of_post_target"] == pytest.approx(0.3, abs=1e-12)
    assert num["C2"]["documented_example_mismatches"] == 1  # o_2 - t_2 > 0 but delta_2 < 0 (CLAIMS.md)
    assert 0 < num["C2"]["softmax_sign_mismatch_share"] < 1
    # the worked example lies in CLAIMS.md; the sign rule fails for exact softmax-MSE
    assert data["claims"]["C2"]["verdict"] == "holds in part" and data["claims"]["C5"]["verdict"] == "holds"


def test_quick_report_markdown_has_every_claim(quick_report):
    out, data = quick_report
    text = (out / "REPORT.md").read_text()
    for c in CLAIM_IDS:
        assert f"## {c}: " in text
    for c in MY_CLAIMS:
        section = text.split(f"## {c}: ")[1].split("\n## ")[0]
        assert f"**Verdict: {data['claims'][c]['verdict']}.**" in section
        assert all(f"]({f})" in section for f in data["claims"][c]["figures"])


def test_cli_report_only_c5_through_a_subprocess(tmp_path):
    done = subprocess.run([sys.executable, "-m", "gradlab", "report", "--quick", "--only", "C5", "--out",
                           str(tmp_path), "--no-progress"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    data = json.loads((tmp_path / "report.json").read_text())
    assert list(data["claims"]) == ["C5"] and data["quick"] is True
    assert (tmp_path / "c05_error_terms.png").stat().st_size > 10_000
    assert "## C6: " in (tmp_path / "REPORT.md").read_text()


def test_supporting_results_render_under_their_claim(tmp_path):
    from gradlab.report import Number, Supporting
    from gradlab.report import document
    extra = Supporting("C7", "a second view", ["x.png"], [Number("gap", 1.5, "nats")])
    report = document.update(document.empty(), [extra], quick=True, script="analysis/x.py", declared=("C7",))
    document.write(tmp_path, report)
    text = (tmp_path / "REPORT.md").read_text()
    section = text[text.index("## C7"):text.index("## C8")]
    assert "not yet measured" in section and "Also measured" in section and "![C7: x.png](x.png)" in section
    assert "| gap | 1.5 | nats |" in section
    with pytest.raises(ValueError, match="caption"):
        Supporting("C7", "")


# ---------------------------------------------------------------- links stay inside the repository

def test_markdown_links_resolve_inside_the_repository():
    """Every link and image target in README.md, CLAIMS.md and figures/REPORT.md is a file of this
    repository (a clone has no ../shared); web links, mailto: and #anchors within a page are skipped."""
    import re
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    checked = 0
    for name in ("README.md", "CLAIMS.md", "figures/REPORT.md"):
        doc = root / name
        assert doc.is_file(), f"{name} is missing"
        for target in re.findall(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)", doc.read_text()):
            assert "../shared" not in target, f"{name} links {target}"
            if re.match(r"(?i)(https?://|mailto:)", target) or target.startswith("#"):
                continue
            path = (doc.parent / target.split("#", 1)[0]).resolve()
            assert path.is_relative_to(root), f"{name}: {target} points outside the repository"
            assert path.exists(), f"{name}: {target} does not exist"
            checked += 1
    assert checked > 0


def test_rendered_report_links_the_claims_list():
    text = document.render(document.update(document.empty(), [result("C1")], quick=True))
    assert "[CLAIMS.md](../CLAIMS.md)" in text.split("\n| claim |")[0]


def _with_numbers(c11, e1):
    """A report.json dict with C11 and E1 entries holding only the self-check's numbers."""
    entry = lambda nums: {"numbers": [{"name": k, "value": v, "unit": "", "note": ""} for k, v in nums.items()], "verdict": "holds",
                          "reason": "r", "statement": "s", "rule": "rule_c1", "figures": [], "title": "t"}
    return {"claims": {"C11": entry(c11), "E1": entry(e1)}}


def test_the_report_says_when_two_sections_disagree():
    """A planted contradiction: C11's map finds no ECE gain of LS in E1's regime while E1's own
    runs find a large one. The rendered report must say they disagree; agreeing numbers must not."""
    from gradlab.report import consistency
    c11 = {"e1_regime_ece_ls_minus_hard": 0.004, "e1_regime_ece_ls_minus_hard_se": 0.002,
           "e1_regime_nll_ls_minus_hard": 0.01, "e1_regime_nll_ls_minus_hard_se": 0.005}
    e1 = {"ls_minus_hard_ece": -0.028, "ls_minus_hard_ece_se": 0.004,
          "ls_minus_hard_nll": 0.012, "ls_minus_hard_nll_se": 0.006}
    rows = consistency.check(_with_numbers(c11, e1))
    assert [r["agree"] for r in rows] == [False, True]
    assert rows[0]["calls"] == ("not better", "better")
    text = document.render(_with_numbers(c11, e1))
    assert "## The report against itself" in text and text.count("**disagree**") == 1
    agreeing = dict(e1, ls_minus_hard_ece=0.001)
    assert "**disagree**" not in document.render(_with_numbers(c11, agreeing))
    # apart by more than 2 combined SE, even with no material gain on either side
    assert not consistency.check(_with_numbers(c11, dict(e1, ls_minus_hard_ece=0.03)))[0]["agree"]
    # a check whose numbers are missing is left out, not guessed
    assert len(consistency.check(_with_numbers({}, e1))) == 0
    # the choices behind the two numbers are stated beside them when the sections report them
    chosen = consistency.check(_with_numbers(dict(c11, e1_regime_a=0.03), dict(e1, ls_best_a_ece=0.01)))
    assert chosen[0]["note"].endswith("; C11's a = 0.03; E1's a = 0.01") and chosen[1]["note"].endswith("C11's a = 0.03")


def test_the_report_compares_c7s_and_c8s_maps_on_the_norm_ls_leaves():
    """C7's and C8's maps share the cell digits 64-16-10, SGD, 100 epochs with the same seeds: a
    planted gap in their LS-minus-hard norm difference is reported, equal numbers agree, and the
    line carries no margin call (the check has none)."""
    from gradlab.report import consistency
    entry = lambda v: {"numbers": [{"name": "base_norm_ls_minus_hard", "value": v},
                                   {"name": "base_norm_ls_minus_hard_se", "value": 0.05}]}
    report = lambda c7, c8: {"claims": {"C7": entry(c7), "C8": entry(c8)}}
    (row,) = consistency.check(report(-1.2, -1.2))
    assert row["agree"] and row["calls"] is None
    assert not consistency.check(report(-1.2, -0.9))[0]["agree"]  # 0.3 apart, 2 combined SE = 0.14
    text = "\n".join(consistency.render(report(-1.2, -0.9)))
    assert "C7 -1.2 ± 0.05, C8 -0.9 ± 0.05: they **disagree**" in text
