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
