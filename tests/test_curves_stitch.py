"""curves.stitch: the early records of a short run followed by the late records of the same
training run longer, checked to be one training where the two overlap."""
import numpy as np
import pandas as pd
import pytest

import gradlab as gl
from gradlab import curves


def _history(runs, steps):
    """Runs {id: factor}: norm = factor * ln(1 + step)."""
    return pd.concat([pd.DataFrame({"run": r, "step": steps, "norm": f * np.log1p(steps)}) for r, f in runs.items()],
                     ignore_index=True)


def test_stitch_takes_early_records_then_late_ones_under_late_ids():
    early = _history({0: 1.0, 1: 2.0}, np.arange(0, 1001, 10))
    late = _history({5: 1.0, 6: 2.0}, np.arange(0, 10001, 500))
    out = curves.stitch(early, late, {5: 0, 6: 1})
    run5 = out[out["run"] == 5]
    assert list(out.columns) == list(late.columns) and set(out["run"]) == {5, 6}
    np.testing.assert_array_equal(run5["step"], np.concatenate([np.arange(0, 1001, 10), np.arange(1500, 10001, 500)]))
    np.testing.assert_array_equal(run5["norm"], np.log1p(run5["step"]))  # early run 0 = late run 5


def test_stitch_refuses_runs_that_are_not_one_training():
    early = _history({0: 1.0, 1: 2.0}, np.arange(0, 1001, 10))
    late = _history({5: 1.0, 6: 2.0}, np.arange(0, 10001, 500))
    with pytest.raises(ValueError, match="differ in 'norm'"):
        curves.stitch(early, late, {5: 1, 6: 0})  # runs swapped: the shared records (0, 500, 1000) differ
    with pytest.raises(ValueError, match="not in its history"):
        curves.stitch(early, late, {5: 7})
    with pytest.raises(TypeError, match="non-empty dict"):
        curves.stitch(early, late, {})
    with pytest.raises(ValueError, match="no column"):
        curves.stitch(early.drop(columns="norm"), late, {5: 0})


def test_stitch_joins_a_short_and_a_long_sweep_of_the_same_runs():
    X, y = gl.datasets.iris()
    grid = lambda epochs: gl.Grid(sizes=[[4, 7, 3]], lr=[0.1], epochs=[epochs], seed=[0, 1], smoothing=[0.1])
    short = gl.sweep(grid(5), data=(X, y), record_every=20).history
    long = gl.sweep(grid(20), data=(X, y), record_every=200).history
    out = curves.stitch(short, long, {0: 0, 1: 1})  # checks the records at steps 200, 400 and 600
    assert out.groupby("run")["step"].max().tolist() == [2400, 2400]
    assert (out.groupby("run")["step"].diff().dropna() > 0).all()
