"""The main job as a user runs it: `gradlab claims` writes the report with computed verdicts."""
import json
import subprocess
import sys

from gradlab import cli


def test_claims_command_writes_report(tmp_path, capsys):
    assert cli.main(["claims", "--out", str(tmp_path)]) == 0
    report = (tmp_path / "claims_report.md").read_text()
    data = json.loads((tmp_path / "claims_report.json").read_text())
    verdicts = {c["claim"]: c["verdict"] for c in data["checks"]}
    # C2's sign statement is false for exact softmax-MSE; the others hold (CLAIMS.md)
    assert verdicts == {"C1": "holds", "C2": "holds only in part", "C3": "holds",
                        "C4": "holds", "C5": "holds"}
    assert "| 0.8 | 0.97 | -0.001700 | -0.001700 |" in report
    assert "C5 worked example" in capsys.readouterr().out


def test_module_entry_point_runs(tmp_path):
    done = subprocess.run([sys.executable, "-m", "gradlab", "--version"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.startswith("gradlab ")
