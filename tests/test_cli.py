"""The command line as a user runs it: every subcommand through ``python -m gradlab`` with good
and bad arguments (exit status, the one-line error, the files written), and the full table of
bad option values through ``cli.main`` in-process (the same code path, minus the start-up)."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gradlab import cli
from gradlab.csvdata import load_csv

TRACEBACK = "Traceback (most recent call last)"


def gradlab(*args, cwd=None, env=None):
    return subprocess.run([sys.executable, "-m", "gradlab", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=600)


def assert_one_line_error(done, status, *phrases):
    err = done.stderr if hasattr(done, "stderr") else done[2]
    code = done.returncode if hasattr(done, "returncode") else done[0]
    assert code == status, (code, err)
    assert TRACEBACK not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gradlab") and ": error: " in lines[0], err
    for phrase in phrases:
        assert phrase in lines[0], (phrase, lines[0])


def run_main(argv, capsys):
    """(exit status, stdout, stderr) of cli.main in-process; argparse exits are caught."""
    try:
        code = cli.main(argv)
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


# ---------------------------------------------------------------- top level


def test_version_and_help():
    done = gradlab("--version")
    assert done.returncode == 0 and done.stdout.strip() == "gradlab 0.1.0"
    done = gradlab("--help")
    assert done.returncode == 0
    for command in ("train", "claims", "bench", "report"):
        assert command in done.stdout
    assert_one_line_error(gradlab("frobnicate"), 2, "invalid choice: 'frobnicate'")


@pytest.mark.parametrize("command", ["train", "claims", "bench", "report"])
def test_every_subcommand_has_help(command, capsys):
    code, out, _ = run_main([command, "--help"], capsys)
    assert code == 0 and out.startswith(f"usage: gradlab {command}")


LAZY_MODULES = ("matplotlib", "scipy.optimize")  # only `report`, `--plot` and temperature fits need them

STARTUP_CHECK = """
import sys
from gradlab import cli
parser = cli.build_parser()
for argv in (["claims"], ["bench", "--quick"], ["sweep", "grid.toml", "--out", "runs"], ["report", "--quick"],
             ["train", "iris", "--history", "h.csv"]):
    parser.parse_args(argv)
status = cli.main(["train", "iris", "--epochs", "1", "--history", sys.argv[1]])
print(status, *sorted(m for m in {LAZY} if m in sys.modules))
"""


def test_commands_start_without_matplotlib(tmp_path):
    """Building the parser, parsing every subcommand and training without --plot import neither
    matplotlib nor scipy.optimize (0.5 s and 0.4 s of start-up); --plot still draws (test above)."""
    done = subprocess.run([sys.executable, "-c", STARTUP_CHECK.replace("{LAZY}", repr(LAZY_MODULES)),
                           tmp_path / "h.csv"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "0", f"imported at start-up: {done.stdout.splitlines()[-1]}"
    from gradlab.report import style  # the lazy attribute still resolves
    assert style.DPI == 150


# ---------------------------------------------------------------- gradlab train


def test_train_on_iris_writes_history_and_plot(tmp_path):
    history, plot = tmp_path / "out" / "hist.csv", tmp_path / "out" / "norms.png"
    done = gradlab("train", "iris", "--epochs", 20, "--smoothing", 0.1, "--hidden", 5, "--lr", 0.05,
                   "--history", history, "--plot", plot)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    out = done.stdout
    assert "150 rows, 4 features, 3 classes; 120 train / 30 test rows" in out
    assert "[4, 5, 3]" in out and "20 epochs = 2400 updates" in out
    table = {line.split("|")[1].strip(): line.split("|")[2:4] for line in out.splitlines()
             if line.startswith("| ") and "measure" not in line}
    assert set(table) >= {"train loss (against t')", "test accuracy", "weight norm (all weights)"}
    assert float(table["test accuracy"][1]) >= 0.9
    frame = pd.read_csv(history)
    assert frame.shape[0] == 21 and frame["step"].iloc[-1] == 2400
    assert list(frame.columns[:4]) == ["step", "weight_norm", "layer1_norm", "layer2_norm"]
    np.testing.assert_allclose(frame["weight_norm"], np.hypot(frame["layer1_norm"], frame["layer2_norm"]),
                               rtol=1e-12)
    final_train_loss = float(table["train loss (against t')"][1])
    assert f"{final_train_loss:.4f}" == f"{frame['train_loss'].iloc[-1]:.4f}"
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    meta = json.loads(plot.with_suffix(".json").read_text())
    assert meta["settings"]["smoothing"] == 0.1 and meta["settings"]["data"] == "iris"
    pd.testing.assert_frame_equal(pd.read_csv(plot.with_suffix(".csv")), frame)


def test_train_on_a_csv_with_string_labels(tmp_path):
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(-2, 1, (30, 2)), rng.normal(2, 1, (30, 2))])
    labels = ["cat"] * 30 + ["dog"] * 30
    path = tmp_path / "pets.csv"
    pd.DataFrame({"kind": labels, "w": X[:, 0], "h": X[:, 1]}).to_csv(path, index=False)
    done = gradlab("train", path, "--label", "kind", "--epochs", 5, "--hidden", "--test-size", 0.25)
    assert done.returncode == 0, done.stderr
    assert "(label column 'kind'): 60 rows, 2 features, 2 classes; 45 train / 15 test rows" in done.stdout
    assert "[2, 1], tanh hidden, sigmoid output (one unit for 2 classes)" in done.stdout


def test_load_csv_reads_what_a_spreadsheet_writes(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("\ufeff x1 , label ,x2\n\n1.5, b ,-2\n2,a,3e-1\n\n")  # BOM, spaces, blank lines
    X, y, features, label = load_csv(path, label="label")
    np.testing.assert_array_equal(X, [[1.5, -2.0], [2.0, 0.3]])
    assert y.tolist() == ["b", "a"] and features == ["x1", "x2"] and label == "label"
    path.write_text("a,b,class\n0.1,0.2,1\n0.3,0.4,0\n0.5,0.6,1.0\n")  # default: the last column
    X, y, _, label = load_csv(path)
    assert label == "class" and y.dtype == np.int64 and y.tolist() == [1, 0, 1]


BAD_CSV = {
    "missing.csv": ("a,b,y\n1,2,x\n3,,y\n", "missing value in data row 2, column 'b'"),
    "text.csv": ("a,b,y\n1,2,x\n3,four,y\n", "non-numeric cell 'four' in data row 2, column 'b'"),
    "one_class.csv": ("a,b,y\n1,2,x\n3,4,x\n", "only one class ('x')"),
    "empty.csv": ("", "the file is empty"),
    "header_only.csv": ("a,b,y\n", "no data rows"),
    "ragged.csv": ("a,b,y\n1,2,x\n3,4\n", "data row 2 has 2 cells, the header has 3"),
    "uci_marker.csv": ("a,b,y\n1,?,x\n3,4,y\n", "missing value in data row 1, column 'b'"),
    "infinite.csv": ("a,b,y\n1,2,x\n-inf,4,y\n", "non-finite cell '-inf' in data row 2, column 'a'"),
    "no_label.csv": ("a,b,y\n1,2,,\n", "data row 1 has 4 cells"),
}


def test_train_bad_data_through_a_subprocess(tmp_path):
    path = tmp_path / "missing.csv"
    path.write_text(BAD_CSV["missing.csv"][0])
    assert_one_line_error(gradlab("train", path), 1, BAD_CSV["missing.csv"][1])
    assert_one_line_error(gradlab("train", "iris", "--lr", "-0.5"), 2, "argument --lr: must be > 0; got -0.5")
    assert_one_line_error(gradlab("train", "mnist"), 2, "unknown data set 'mnist'")


@pytest.mark.parametrize("name", sorted(BAD_CSV))
def test_train_bad_csv_files(name, tmp_path, capsys):
    path = tmp_path / name
    path.write_text(BAD_CSV[name][0])
    assert_one_line_error(run_main(["train", str(path), "--history", str(tmp_path / "h.csv")], capsys), 1,
                          str(path), BAD_CSV[name][1])
    assert not (tmp_path / "h.csv").exists()


@pytest.mark.parametrize("args,status,phrase", [
    (["no/such/file.csv"], 1, "no such file"),
    (["iris", "--smoothing", "1.5"], 2, "argument --smoothing/-a: must be <= 1; got 1.5"),
    (["iris", "-a", "-0.1"], 2, "must be >= 0; got -0.1"),
    (["iris", "--lr", "0"], 2, "argument --lr: must be > 0; got 0"),
    (["iris", "--lr", "nan"], 2, "argument --lr: must be finite"),
    (["iris", "--l2", "-1"], 2, "argument --l2: must be >= 0"),
    (["iris", "--momentum", "1"], 2, "argument --momentum: must be < 1"),
    (["iris", "--nesterov"], 2, "--nesterov needs --optimizer sgd and --momentum > 0"),
    (["iris", "--optimizer", "adam", "--momentum", "0.9"], 2, "--momentum is SGD's"),
    (["iris", "--optimizer", "rmsprop"], 2, "argument --optimizer: invalid choice"),
    (["iris", "--optimizer", "adam", "--betas", "0.9", "1"], 2, "argument --betas: must be < 1"),
    (["iris", "--optimizer", "adam", "--eps", "0"], 2, "argument --eps: must be > 0"),
    (["iris", "--epochs", "2.5"], 2, "argument --epochs: expected an integer; got '2.5'"),
    (["iris", "--batch-size", "0"], 2, "argument --batch-size: must be >= 1"),
    (["iris", "--hidden", "0"], 2, "argument --hidden: must be >= 1"),
    (["iris", "--loss", "hinge"], 2, "argument --loss: invalid choice: 'hinge'"),
    (["iris", "--test-size", "1"], 2, "argument --test-size: must be < 1"),
    (["iris", "--label", "species"], 2, "--label applies to CSV files"),
    (["iris", "--plot", "norms.jpg"], 2, "argument --plot: must be a .png file"),
    (["iris", "--history", "h.txt"], 2, "argument --history: must be a .csv file"),
    (["digitz"], 2, "unknown data set 'digitz': choose iris or digits"),
    (["iris", "--loss", "ce", "--activation", "softmax"], 2, "argument --activation: invalid choice"),
])
def test_train_bad_option_values(args, status, phrase, capsys):
    assert_one_line_error(run_main(["train", *args], capsys), status, phrase)


def test_train_with_adam_and_nesterov(capsys):
    code, out, err = run_main(["train", "iris", "--optimizer", "adam", "--lr", "0.01", "--betas", "0.8", "0.99",
                               "--batch-size", "16", "--epochs", "20"], capsys)
    assert code == 0 and "adam (betas 0.8 0.99, eps 1e-08)" in out
    code, out, err = run_main(["train", "iris", "--momentum", "0.9", "--nesterov", "--epochs", "5"], capsys)
    assert code == 0 and "nesterov momentum 0.9" in out


def test_train_refuses_outputs_it_cannot_write(tmp_path, capsys):
    assert_one_line_error(run_main(["train", "iris", "--history", str(tmp_path)], capsys), 2, "must be a .csv")
    folder = tmp_path / "x.csv"
    folder.mkdir()
    assert_one_line_error(run_main(["train", "iris", "--history", str(folder)], capsys), 1, "is a folder")
    clash = ["train", "iris", "--history", str(tmp_path / "n.csv"), "--plot", str(tmp_path / "n.png")]
    assert_one_line_error(run_main(clash, capsys), 2, "would be overwritten")


def test_train_reports_divergence_in_the_summary(capsys):
    """A linear-activation net at lr 1e6 grows its weights multiplicatively until they overflow:
    gl.train stops; the summary says where (no warning text on stderr)."""
    code, out, err = run_main(["train", "iris", "--activation", "identity", "--lr", "1e6", "--epochs", "3"], capsys)
    assert code == 0 and err == ""
    assert "diverged at update" in out


# ---------------------------------------------------------------- gradlab claims


def test_claims_prints_a_pass_fail_table_and_writes_the_report(tmp_path):
    done = gradlab("claims", "--out", tmp_path)
    assert done.returncode == 0, done.stderr
    data = json.loads((tmp_path / "claims_report.json").read_text())
    verdicts = {c["claim"]: c["verdict"] for c in data["checks"]}
    # C2's sign statement is false for exact softmax-MSE; the others hold (CLAIMS.md)
    assert verdicts == {"C1": "holds", "C2": "holds only in part", "C3": "holds", "C4": "holds", "C5": "holds"}
    report = (tmp_path / "claims_report.md").read_text()
    assert "| 0.8 | 0.97 | -0.001700 | -0.001700 |" in report
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[3:6]]
            for line in done.stdout.splitlines() if line.startswith("| C")}
    assert {k: v[0] for k, v in rows.items()} == {"C1": "pass", "C2": "FAIL", "C3": "pass", "C4": "pass",
                                                  "C5": "pass"}
    assert rows["C2"][1] == "holds only in part"
    assert "o = (0.01, 0.01, 0.98), t = (1, 0, 0)" in rows["C2"][2] and rows["C1"][2] == ""
    assert_one_line_error(gradlab("claims", "--only", "C9"), 2, "unrecognized arguments: --only C9")


# ---------------------------------------------------------------- gradlab bench


def _copy_package(root):
    """gradlab's package alone in ``root`` (no bench/ beside it): a checkout without benchmarks."""
    shutil.copytree(Path(cli.__file__).parent, root / "gradlab", ignore=shutil.ignore_patterns("__pycache__"))
    return root


def test_bench_runs_the_checkout_script_and_passes_its_status(tmp_path):
    root = _copy_package(tmp_path)
    (root / "bench").mkdir()
    (root / "bench" / "run.py").write_text("import sys\nprint('bench args:', sys.argv[1:])\nsys.exit(3)\n")
    done = gradlab("bench", "--quick", "--only", "iris", cwd=root)
    assert done.returncode == 3 and "bench args: ['--quick', '--only', 'iris']" in done.stdout
    (root / "bench" / "run.py").unlink()
    assert_one_line_error(gradlab("bench", "--quick", cwd=root), 1, "no benchmark suite",
                          str(root / "bench" / "run.py"))
    assert_one_line_error(gradlab("bench", "--fast"), 2, "unrecognized arguments: --fast")
