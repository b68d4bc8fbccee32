"""How `gradlab report` runs: on a Dask cluster (``--scheduler``, same CSVs byte for byte), with
one progress bar over the scripts, and with trained students cached (`students.cached_train_all`)."""
import io
import subprocess
import sys

import numpy as np
import pytest

import gradlab as gl
from gradlab import students
from gradlab.report import Context, runner

CHEAP = ["C9"]  # quick knob sweeps on Iris: a few seconds, every result through gl.sweep


def _csvs(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.csv"))}


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None, silence_logs=50) as c:
        yield c


def test_report_on_a_dask_cluster_writes_the_same_csvs(tmp_path, cluster):
    """The same quick scripts, each with an empty cache of its own so that everything trains:
    here, and on the cluster (by address, and through a Client); the CSVs are the same bytes."""
    from distributed import Client
    _, failures = runner.run_report(tmp_path / "here", quick=True, only=CHEAP, runs=tmp_path / "runs-here")
    assert not failures
    _, failures = runner.run_report(tmp_path / "dask", quick=True, only=CHEAP, runs=tmp_path / "runs-dask",
                                    scheduler=cluster.scheduler_address)
    assert not failures
    here = _csvs(tmp_path / "here")
    assert here and here == _csvs(tmp_path / "dask")
    assert any((tmp_path / "runs-dask").iterdir())  # the cluster's results are cached here as usual
    with Client(cluster) as client:
        _, failures = runner.run_report(tmp_path / "client", quick=True, only=CHEAP, runs=tmp_path / "runs-client",
                                        scheduler=client)
        assert client.status == "running"  # a Client handed in is left open for its owner
    assert not failures and _csvs(tmp_path / "client") == here


def test_students_on_a_dask_cluster_equal_those_trained_here(cluster):
    X, y = gl.datasets.iris()
    X = gl.datasets.standardize(X)
    kw = dict(lr=0.05, batch_size=8, epochs=5, record_every=10, progress=False)
    jobs = [(dict(sizes=[4, 3, 3], hidden="relu", seed=s), y, {**kw, "smoothing": a}) for s, a in ((0, 0.0), (1, 0.1))]
    here, remote = students.train_all(X, jobs, workers=1), students.train_all(X, jobs, scheduler=cluster.scheduler_address)
    for a, b in zip(here, remote):
        np.testing.assert_array_equal(a.net.params, b.net.params)
        np.testing.assert_array_equal(a.weight_norm, b.weight_norm)


def test_cached_students_load_instead_of_training(tmp_path, monkeypatch):
    X, y = gl.datasets.iris()
    X = gl.datasets.standardize(X)
    kw = dict(lr=0.05, batch_size=8, epochs=3, record_every=10, progress=False)
    jobs = [(dict(sizes=[4, 3, 3], hidden="relu", seed=s), y, {**kw, "smoothing": 0.1}) for s in (0, 1)]
    ctx = Context(out=tmp_path / "figs", quick=True, runs=tmp_path / "runs")
    first = students.cached_train_all(ctx, "demo", X, jobs, workers=1)
    assert len(list((tmp_path / "runs").glob("demo-*.pkl"))) == 1
    trained = []
    real = students.train_all
    monkeypatch.setattr(students, "train_all", lambda *a, **k: trained.append(1) or real(*a, **k))
    again = students.cached_train_all(ctx, "demo", X, jobs, workers=1)
    assert not trained  # loaded
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a.net.params, b.net.params)
        np.testing.assert_array_equal(a.weight_norm, b.weight_norm)
    other = [(j[0], j[1], {**j[2], "smoothing": 0.2}) for j in jobs]  # other jobs: a file of their own
    students.cached_train_all(ctx, "demo", X, other, workers=1)
    assert trained and len(list((tmp_path / "runs").glob("demo-*.pkl"))) == 2
    trained.clear()
    fresh = Context(out=tmp_path / "figs", quick=True, runs=tmp_path / "runs", fresh=True)
    students.cached_train_all(fresh, "demo", X, jobs, workers=1)
    assert trained  # --fresh retrains
    assert students.jobs_key(X, jobs) != students.jobs_key(X[::-1], jobs)


def test_scheduler_errors_are_one_line(tmp_path, monkeypatch):
    with pytest.raises(runner.SchedulerError, match="cannot reach the Dask scheduler at 'tcp://127.0.0.1:9'"):
        runner.connect("tcp://127.0.0.1:9", timeout="1s")
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if Dask distributed were not installed
    with pytest.raises(runner.SchedulerError, match=r"--scheduler needs Dask distributed: pip install"):
        runner.connect("tcp://127.0.0.1:9")
    assert runner.connect(None) is None


def test_cli_scheduler_that_cannot_be_reached_is_one_line(tmp_path):
    done = subprocess.run([sys.executable, "-m", "gradlab", "report", "--quick", "--only", "C5", "--out",
                           str(tmp_path), "--scheduler", "nosuchscheme://x:1"], capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.startswith("gradlab report: error: cannot reach the Dask scheduler at 'nosuchscheme://x:1'")
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "report.json").exists()


def test_overall_bar_is_drawn_when_asked_and_absent_when_off(tmp_path):
    shown = io.StringIO()
    runner.run_report(tmp_path / "a", quick=True, only=["C5"], progress=True, bar_file=shown)
    text = shown.getvalue()
    assert "gradlab report: 0/2 scripts" in text and "gradlab report: 2/2 scripts" in text
    assert "c05_delta_traces.py" in text and "c05_worked_example.py" in text and "elapsed" in text
    hidden = io.StringIO()
    runner.run_report(tmp_path / "b", quick=True, only=["C5"], progress=False, bar_file=hidden)
    assert hidden.getvalue() == ""


def test_cli_progress_flags():
    parser = runner.add_arguments(__import__("argparse").ArgumentParser(), only=True)
    assert parser.parse_args(["--progress"]).progress is True
    assert parser.parse_args(["--no-progress"]).progress is False
    assert parser.parse_args([]).progress is None
    args = parser.parse_args(["--scheduler", "tcp://h:8786", "--runs", "r"])
    assert args.scheduler == "tcp://h:8786" and str(args.runs) == "r"


def test_a_rerun_reads_training_done_outside_sweeps_from_the_cache(tmp_path, monkeypatch):
    """C6's parameter path (trained by gl.train, not a sweep): the second run loads it, the
    same bytes in its CSVs; a key that cannot be hashed is refused."""
    from gradlab import margins
    from gradlab import cache
    script = runner.load_script(runner.ANALYSIS / "c06_max_margin.py")
    runs = tmp_path / "runs"
    script.figure(Context(out=tmp_path / "a", quick=True, runs=runs))
    assert len(list(runs.glob("c06_max_margin_path-*.pkl"))) == 1
    monkeypatch.setattr(margins, "parameter_path", lambda *a, **k: pytest.fail("retrained instead of loading"))
    script.figure(Context(out=tmp_path / "b", quick=True, runs=runs))
    assert _csvs(tmp_path / "a") == _csvs(tmp_path / "b") != {}
    with pytest.raises(TypeError, match="cannot hash a object"):
        cache.digest([object()])


def test_a_knob_sweep_is_loaded_once_per_process_and_fresh_retrains(tmp_path, monkeypatch):
    from gradlab import knobs
    monkeypatch.setattr(knobs, "_LOADED", {})
    monkeypatch.setattr(knobs, "_REFRESHED", set())
    ctx = Context(out=tmp_path / "figs", quick=True, runs=tmp_path / "runs")
    first, _, _ = knobs.knob_sweep(ctx, "iris")
    again, _, _ = knobs.knob_sweep(ctx, "iris")
    assert again is first  # the second script of a report gets the loaded result
    final = first.final
    final.loc[:, "weight_norm"] = -1.0  # a caller changing its table does not change the next caller's
    assert (first.final.weight_norm > 0).all()
    fresh = Context(out=tmp_path / "figs", quick=True, runs=tmp_path / "runs", fresh=True)
    retrained, _, _ = knobs.knob_sweep(fresh, "iris")
    assert retrained is not first  # --fresh cleared the folder: trained again
    np.testing.assert_array_equal(retrained.final.weight_norm, first.final.weight_norm)
