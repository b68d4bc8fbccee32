"""knobs: the repeated fit / validation / test splits of a study (Iris is measured on several)."""
import numpy as np
import pytest

from gradlab import knobs
from gradlab.report import Context


def test_each_split_index_draws_other_rows_of_the_same_sizes():
    first, second = knobs.split("iris"), knobs.split("iris", 1)
    assert first.X_test.shape == second.X_test.shape and first.X_val.shape == second.X_val.shape == (24, 4)
    assert not np.array_equal(first.X_test, second.X_test)
    again = knobs.split("iris", 1)
    np.testing.assert_array_equal(again.X_fit, second.X_fit)  # seeded
    assert knobs.settings("iris", quick=False)["splits"] > 1 and knobs.settings("digits", quick=False)["splits"] == 1


def test_bad_split_indices(tmp_path):
    with pytest.raises(ValueError, match="index"):
        knobs.split("iris", -1)
    ctx = Context(out=tmp_path / "figures", quick=True, runs=tmp_path / "runs")
    with pytest.raises(ValueError, match="split_index must be below the study's 1 split"):
        knobs.knob_sweep(ctx, "digits", 1)
    assert not (tmp_path / "runs").exists()  # refused before any training


def test_a_widened_grid_trains_only_its_new_runs(tmp_path, monkeypatch):
    """knobs._cached_sweep: a grid with one more value gets a folder of its own, seeded with the
    finished runs of the earlier grid's folder (only read), so only the new runs train; they equal
    the runs of a sweep trained from scratch, bit for bit."""
    import importlib
    from gradlab import Grid
    sweep_module = importlib.import_module("gradlab.sweep")  # the module (gradlab.sweep is also the function)
    data = knobs.split("iris")
    data = (data.X_fit, data.y_fit, data.X_test, data.y_test)
    ctx = Context(out=tmp_path / "figures", quick=True, runs=tmp_path / "runs")
    common = dict(sizes=[[4, 3, 3]], lr=[0.01], epochs=[2], seed=range(2))
    first = knobs._cached_sweep(ctx, "iris-test", Grid(smoothing=[0.0, 0.1], **common), data)
    (old,) = (tmp_path / "runs").glob("iris-test-*")
    before = {p.name: p.read_bytes() for p in old.rglob("*") if p.is_file()}
    trained = []
    real = sweep_module._train_task
    monkeypatch.setattr(sweep_module, "_train_task", lambda plans: trained.append(len(plans)) or real(plans))
    wider = knobs._cached_sweep(ctx, "iris-test", Grid(smoothing=[0.0, 0.01, 0.1], **common), data)
    assert sum(trained) == 2  # a = 0.01 for the 2 seeds; a = 0 and 0.1 were loaded
    assert {p.name: p.read_bytes() for p in old.rglob("*") if p.is_file()} == before  # the old folder is only read
    assert len(list((tmp_path / "runs").glob("iris-test-*"))) == 2
    fresh = knobs._cached_sweep(Context(out=tmp_path / "f2", quick=True, runs=tmp_path / "other", fresh=True),
                                "iris-test", Grid(smoothing=[0.0, 0.01, 0.1], **common), data)
    cols = ["smoothing", "seed", "weight_norm", "test_nll", "test_acc"]
    np.testing.assert_array_equal(wider.final[cols].to_numpy(), fresh.final[cols].to_numpy())
    np.testing.assert_array_equal(first.final[cols].to_numpy(),
                                  wider.final[wider.final.smoothing != 0.01][cols].to_numpy())
    # other data (another split): nothing is reused
    other = knobs.split("iris", 1)
    assert knobs.reuse_finished(tmp_path / "runs" / "iris-test-0123456789", "iris-test",
                                (other.X_fit, other.y_fit, other.X_test, other.y_test), 10 ** 9) == 0
