"""Sweeps: grids, the training of blocks of runs (bit-identical to gl.train), the out folder
(resume, refusal, extend, exact round trip) and bad grids."""
import json
import warnings

import numba
import numpy as np
import pandas as pd
import pytest

import gradlab as gl
import gradlab.sweep
import sys
sweep_mod = sys.modules["gradlab.sweep"]  # the package name gl.sweep is the function
from gradlab import training

import naive


@pytest.fixture(scope="module")
def iris_split():
    return sweep_mod.sweep_data(gl.datasets.iris())


def _train_alone(settings, data, record_every):
    Xtr, ytr, Xte, yte = data
    net_keys = ("sizes", "hidden", "output", "dtype")
    net = gl.MLP(settings["sizes"], settings["hidden"], settings["output"], seed=settings["seed"],
                 dtype=settings["dtype"])
    args = {k: v for k, v in settings.items() if k not in net_keys}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return gl.train(net, Xtr, ytr, record_every=record_every, X_test=Xte, y_test=yte, **args)


def _same_history(a, b):
    fields = ("step", "weight_norm", "layer_norms", "train_loss", "train_acc", "test_loss", "test_acc",
              "logit_gap", "past_target")
    for f in fields:
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f), err_msg=f)
    np.testing.assert_array_equal(a.net.params, b.net.params)
    assert a.net.params.dtype == b.net.params.dtype
    assert a.diverged_at == b.diverged_at


# --------------------------------------------------------------------------- grids

def test_grid_product_and_union():
    g = gl.Grid(smoothing=[0.0, 0.1], seed=range(3), sizes=[[4, 7, 3]])
    assert len(g) == 6 and len(list(g)) == 6
    runs = list(g)
    assert [r["seed"] for r in runs] == [0, 1, 2, 0, 1, 2]  # the last key varies fastest
    assert runs[0]["lr"] == 0.01 and runs[0]["hidden"] == "tanh" and runs[0]["epochs"] == 1000  # defaults
    u = g + gl.Grid(l2=[1e-3, 1e-2], seed=[0], sizes=[[4, 7, 3]])
    assert len(u) == 8  # a union: 6 + 2, not crossed
    assert [r["l2"] for r in u][6:] == [1e-3, 1e-2]
    assert all(r["l2"] == 0.0 for r in list(u)[:6])
    assert gl.Grid.from_json(u.to_json()) == u


@pytest.mark.parametrize("kwargs, error, words", [
    (dict(smoothng=[0.1]), ValueError, "unknown key 'smoothng'"),
    (dict(l2=[]), ValueError, "'l2': the list of values is empty"),
    (dict(l2=0.1), TypeError, "'l2': give a list"),
    (dict(l2=[-1e-3]), ValueError, "'l2'"),
    (dict(l1=[float("nan")]), ValueError, "'l1'"),
    (dict(smoothing=[1.5]), ValueError, "'smoothing'"),
    (dict(lr=[0.0]), ValueError, "'lr'"),
    (dict(momentum=[1.0]), ValueError, "'momentum'"),
    (dict(epochs=[2.5]), TypeError, "'epochs'"),
    (dict(seed=[-1]), ValueError, "'seed'"),
    (dict(seed=["a"]), TypeError, "'seed'"),
    (dict(sizes=[4, 7, 3]), TypeError, "'sizes'"),
    (dict(hidden=["tanhh"]), ValueError, "'hidden'"),
    (dict(dtype=["int8"]), TypeError, "'dtype'"),
    (dict(penalize_bias=[1]), TypeError, "'penalize_bias'"),
])
def test_bad_grid_values(kwargs, error, words):
    with pytest.raises(error, match=words):
        gl.Grid(**kwargs)


def test_grid_needs_sizes(iris_split):
    with pytest.raises(ValueError, match="'sizes' is required"):
        gl.sweep(gl.Grid(seed=[0]), iris_split)


def test_bad_sweep_arguments(iris_split):
    grid = gl.Grid(seed=[0], sizes=[[4, 3]], epochs=[1])
    with pytest.raises(TypeError, match="grid"):
        gl.sweep({"seed": [0]}, iris_split)
    with pytest.raises(TypeError, match="data"):
        gl.sweep(grid, iris_split[0])
    with pytest.raises(ValueError, match="record_every"):
        gl.sweep(grid, iris_split, record_every=0)
    with pytest.raises(ValueError, match="X_train contains NaN"):
        bad = iris_split[0].copy()
        bad[0, 0] = np.nan
        gl.sweep(grid, (bad, *iris_split[1:]))
    with pytest.raises(ValueError, match="input size"):  # the net does not fit the data
        gl.sweep(gl.Grid(seed=[0], sizes=[[5, 3]]), iris_split)


def test_toml_grid(tmp_path):
    path = tmp_path / "grid.toml"
    path.write_text('sizes = [4, 7, 3]\nepochs = 5\nsmoothing = [0.0, 0.1]\nseed = [0, 1]\n\n'
                    '[[grid]]\nsizes = [[4, 3]]\nl2 = [0.001]\nseed = [0]\n')
    g = gl.Grid.from_toml(path)
    assert len(g) == 5
    assert list(g)[0]["sizes"] == [4, 7, 3] and list(g)[0]["epochs"] == 5
    path.write_text('sizes = [4, 3]\nsmoothing = [2.0]\n')
    with pytest.raises(ValueError, match="'smoothing'"):
        gl.Grid.from_toml(path)
    path.write_text('sizes = [4, 3\n')
    with pytest.raises(ValueError, match="not valid TOML"):
        gl.Grid.from_toml(path)
    path.write_text('lerning_rate = [0.1]\n')
    with pytest.raises(ValueError, match="unknown key 'lerning_rate'"):
        gl.Grid.from_toml(path)
    with pytest.raises(ValueError, match="does not exist"):
        gl.Grid.from_toml(tmp_path / "missing.toml")


# --------------------------------------------------------------------------- one loop, same bits

VARIED = (gl.Grid(smoothing=[0.0, 0.2], l2=[0.0, 1e-3], seed=[3], sizes=[[4, 5, 3]], epochs=[2], momentum=[0.0, 0.9],
                  confidence_penalty=[0.0, 0.1])
          + gl.Grid(l1=[1e-3], weight_decay=[0.01], penalize_bias=[True], seed=[1, 2], sizes=[[4, 6, 4, 3]],
                    hidden=["relu"], epochs=[2], batch_size=[1, 16, 7, None])
          + gl.Grid(loss=["mse"], output=["softmax", "sigmoid"], hidden=["sigmoid", "identity"], smoothing=[0.1],
                    seed=[0], sizes=[[4, 3]], epochs=[2], batch_size=[1, 20])
          + gl.Grid(optimizer=["adam"], betas=[(0.9, 0.999), (0.0, 0.99)], l2=[0.0, 1e-3], weight_decay=[0.0, 0.05],
                    seed=[4], sizes=[[4, 5, 3]], epochs=[2], batch_size=[1, 16])
          + gl.Grid(momentum=[0.9], nesterov=[True], l2=[1e-3], seed=[5], sizes=[[4, 5, 3]], epochs=[2], batch_size=[8])
          + gl.Grid(lr=[40.0], seed=[0, 1], sizes=[[4, 7, 3]], epochs=[3], hidden=["identity"]))  # diverge
# float32 sweeps compile the sweep kernels a second time (about 45 s on 2 cores), so their
# bit-identity tests are `slow`; the default run checks the same properties in float64.
VARIED_F32 = (gl.Grid(l1=[1e-3], weight_decay=[0.01], penalize_bias=[True], seed=[1, 2], sizes=[[4, 6, 4, 3]],
                      hidden=["relu"], epochs=[2], batch_size=[1, 16, 7, None], dtype=["float32"])
              + gl.Grid(smoothing=[0.0, 0.2], momentum=[0.0, 0.9], confidence_penalty=[0.0, 0.1], seed=[3],
                        sizes=[[4, 5, 3]], epochs=[2], dtype=["float32"])
              + gl.Grid(optimizer=["adam"], weight_decay=[0.0, 0.05], seed=[4], sizes=[[4, 5, 3]], epochs=[2],
                        batch_size=[1, 16], dtype=["float32"])
              + gl.Grid(momentum=[0.9], nesterov=[True], seed=[5], sizes=[[4, 5, 3]], epochs=[2], dtype=["float32"]))


def _sweep_equals_train(grid, data, threads):
    before = numba.get_num_threads()
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            res = gl.sweep(grid, data, record_every=9)
    finally:
        numba.set_num_threads(before)
    assert len(res) == len(grid)
    diverged = 0
    for k, settings in enumerate(grid):
        alone = _train_alone(settings, data, 9)
        _same_history(res.run(k), alone)
        diverged += alone.diverged
    return diverged


@pytest.mark.parametrize("threads", [1, 2])
def test_sweep_equals_train_bit_for_bit(iris_split, threads):
    assert _sweep_equals_train(VARIED, iris_split, threads) >= 1  # the lr=40 runs stop alone; the others go on


def test_records_that_do_not_evaluate_keep_the_norms_and_every_evaluated_value(iris_split):
    """``evaluate_every``: every record keeps the weight norms; records after its multiples (and
    the first and last) the data measures too, the others NaN; the training itself, the
    evaluated records and the divergence step are those of the sweep that evaluates every
    record, bit for bit, on every path (generated online step, run-innermost blocks, run by
    run), and equal gl.train's with the same ``evaluate_every``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        full = gl.sweep(VARIED, iris_split, record_every=3)
        sparse = gl.sweep(VARIED, iris_split, record_every=3, evaluate_every=9)
    measures = ("train_loss", "train_acc", "test_loss", "test_acc", "logit_gap", "past_target")
    skipped = 0
    for k, settings in enumerate(VARIED):
        a, b = full.run(k), sparse.run(k)
        for f in ("step", "weight_norm", "layer_norms"):
            np.testing.assert_array_equal(getattr(a, f), getattr(b, f), err_msg=f)
        np.testing.assert_array_equal(a.net.params, b.net.params)
        assert a.diverged_at == b.diverged_at
        total = settings["epochs"] * -(-iris_split[0].shape[0] // (settings["batch_size"] or 10 ** 9))
        evaluated = (b.step % 9 == 0) | (b.step == total)
        assert evaluated[0]
        skipped += (~evaluated).sum()
        for f in measures:
            np.testing.assert_array_equal(getattr(b, f)[evaluated], getattr(a, f)[evaluated], err_msg=f)
            assert np.isnan(getattr(b, f)[~evaluated]).all(), f
        alone = _train_alone({**settings, "evaluate_every": 9}, iris_split, 3)
        _same_history(b, alone)
    assert skipped > 100


def test_evaluate_every_must_be_a_multiple_of_record_every(iris_split):
    grid = gl.Grid(seed=[0], sizes=[[4, 3, 3]], epochs=[1])
    for bad in (0, 4, 2.5):
        with pytest.raises((ValueError, TypeError), match="evaluate_every"):
            gl.sweep(grid, iris_split, record_every=3, evaluate_every=bad)
        with pytest.raises((ValueError, TypeError), match="evaluate_every"):
            gl.train(gl.MLP([4, 3, 3]), *iris_split[:2], epochs=1, record_every=3, evaluate_every=bad)


@pytest.mark.slow
@pytest.mark.parametrize("threads", [1, 2])
def test_float32_sweep_equals_train_bit_for_bit(iris_split, threads):
    _sweep_equals_train(VARIED_F32, iris_split, threads)



@pytest.mark.parametrize("dtype", ["float64", pytest.param("float32", marks=pytest.mark.slow)])
def test_sweep_records_equal_train_for_every_output(iris_split, dtype):
    """Records are computed for all runs of a block at once; each equals gl.train's: CE on
    sigmoid outputs, MSE on identity outputs, and one sigmoid output (binary labels)."""
    Xtr, ytr, Xte, yte = iris_split
    binary = (Xtr, (ytr == 0).astype(np.int64), Xte, (yte == 0).astype(np.int64))
    cases = [(gl.Grid(output=["sigmoid"], loss=["ce"], smoothing=[0.0, 0.2], seed=[4], sizes=[[4, 5, 3]],
                      epochs=[2], dtype=[dtype]), iris_split),
             (gl.Grid(output=["identity"], loss=["mse"], hidden=["relu"], seed=[5], sizes=[[4, 5, 3]], epochs=[2],
                      lr=[0.005], dtype=[dtype]), iris_split),
             (gl.Grid(output=["sigmoid"], smoothing=[0.0, 0.1], seed=[6], sizes=[[4, 3, 1]], epochs=[2],
                      batch_size=[1, 8], dtype=[dtype]), binary)]
    for grid, data in cases:
        res = gl.sweep(grid, data, record_every=13)
        for k, settings in enumerate(grid):
            _same_history(res.run(k), _train_alone(settings, data, 13))

def test_sweep_of_one_and_of_many(iris_split):
    """A run's history is the same alone, in a sweep of 1 and in a sweep of 1000."""
    settings = dict(smoothing=[0.1], seed=[7], sizes=[[4, 7, 3]], epochs=[1])
    one = gl.sweep(gl.Grid(**settings), iris_split, record_every=40)
    many = gl.sweep(gl.Grid(smoothing=np.linspace(0, 0.3, 10), seed=range(100), sizes=[[4, 7, 3]], epochs=[1]),
                    iris_split, record_every=40)
    assert len(many) == 1000
    k = next(i for i, s in enumerate(many.settings) if s["seed"] == 7 and s["smoothing"] == 0.1)
    alone = _train_alone(list(gl.Grid(**settings))[0], iris_split, 40)
    _same_history(one.run(0), alone)
    _same_history(many.run(k), alone)
    assert len(set(many.final["weight_norm"])) > 900  # the runs differ


def test_train_block_block_width_does_not_matter(iris_split):
    """Blocks of 16 and of 64 runs of the generated online step (with momentum, so the update is
    `_sgd_update_runs`'), and each run alone: the same arrays, bit for bit."""
    plans = [sweep_mod._plan(s, iris_split, 11) for s in gl.Grid(smoothing=[0.0, 0.3], seed=range(10),
                                                                   momentum=[0.0, 0.9], sizes=[[4, 7, 3]], epochs=[2])]
    a = training.train_block(plans, runs_per_block=16)
    b = training.train_block(plans, runs_per_block=64)
    c = training.train_block(plans, fused=False)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
        np.testing.assert_array_equal(a[key], c[key])
    with pytest.raises(ValueError, match="runs_per_block"):
        training.train_block(plans, runs_per_block=8)


def test_sweep_leaves_inputs_alone():
    X, y = gl.datasets.iris()
    X0, y0 = X.copy(), y.copy()
    gl.sweep(gl.Grid(smoothing=[0.2], seed=[0], sizes=[[4, 3]], epochs=[1]), (X, y))
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)


def test_whole_number_float_labels_are_the_same_sweep(tmp_path):
    """Labels as floats 0.0, 1.0, 2.0 (as read from a CSV file) are class labels: split,
    trained and stored as the int labels are (one out folder serves both), and the caller's
    float array is not changed; a 2-D y stays a target matrix."""
    X, y = gl.datasets.iris()
    grid = gl.Grid(smoothing=[0.0, 0.1], seed=[0, 1], sizes=[[4, 5, 3]], epochs=[2])
    ints = gl.sweep(grid, (X, y), record_every=40, out=tmp_path / "s")
    y_float = y.astype(np.float64)
    floats = gl.sweep(grid, (X, y_float), record_every=40, out=tmp_path / "s")  # accepted: the same data
    assert y_float.dtype == np.float64 and np.array_equal(y_float, y)
    assert floats.data[1].dtype == floats.data[3].dtype == np.int64
    pd.testing.assert_frame_equal(floats.final, ints.final)
    pd.testing.assert_frame_equal(floats.history, ints.history)
    Xtr, ytr, Xte, yte = ints.data
    given = gl.sweep(grid, (Xtr, ytr.astype(np.float32), Xte, yte.astype(np.float32)), record_every=40)
    pd.testing.assert_frame_equal(given.final, ints.final)
    soft = gl.sweep(grid, (Xtr, gl.one_hot(ytr, 3), Xte, yte), record_every=40)
    assert soft.data[1].shape == (len(ytr), 3)
    pd.testing.assert_frame_equal(soft.final, ints.final)


# --------------------------------------------------------------------------- tables

def test_final_and_history_tables(iris_split):
    grid = gl.Grid(smoothing=[0.0, 0.2], seed=[0, 1], sizes=[[4, 7, 3]], epochs=[3])
    res = gl.sweep(grid, iris_split, record_every=100)
    f = res.final
    assert len(f) == 4
    for col in ("run", "smoothing", "seed", "weight_norm", "layer_norm_0", "layer_norm_1", "train_loss", "test_loss",
                "train_acc", "test_acc", "train_nll", "test_nll", "train_ece", "test_ece", "logit_gap", "diverged_at"):
        assert col in f.columns, col
    h = res.history
    assert set(h["run"]) == {0, 1, 2, 3}
    last = h.groupby("run").tail(1).set_index("run")
    np.testing.assert_array_equal(last["weight_norm"].to_numpy(), f["weight_norm"].to_numpy())
    run1 = res.run(1)
    probs = gl.forward(run1.net, res.data[2])
    assert f.loc[1, "test_nll"] == gl.metrics.nll(probs, res.data[3])
    assert f.loc[1, "test_acc"] == run1.test_acc[-1]
    with pytest.raises(IndexError):
        res.run(4)


TABLE_SWEEPS = {  # name: [(grid, binary labels?), ...]
    # shapes interleaved run by run, a linear model first (its row lacks layer_norm_1 and 2),
    # several sigmoid units and identity outputs (NaN NLL/ECE), runs that diverge (outputs NaN)
    "mixed": [(gl.Grid(seed=range(3), sizes=[[4, 3], [4, 5, 3]], epochs=[2], smoothing=[0.0, 0.1])
               + gl.Grid(lr=[40.0], seed=[0, 2], sizes=[[4, 7, 3]], epochs=[3], hidden=["identity"])
               + gl.Grid(seed=[0], sizes=[[4, 6, 4, 3]], hidden=["relu"], epochs=[2], batch_size=[7, None],
                         momentum=[0.9])
               + gl.Grid(loss=["mse"], output=["sigmoid", "identity"], seed=[0], sizes=[[4, 3]], epochs=[1]), False)],
    # every run diverges (diverged_at is int64); seed 7's last net gives p = 0 to true classes
    # (NLL clipped at finfo.tiny: finite), the others' outputs overflow (NaN)
    "diverged": [(gl.Grid(lr=[40.0], seed=range(8), sizes=[[4, 7, 3]], epochs=[3], hidden=["identity"]), False)],
    "binary": [(gl.Grid(seed=range(2), sizes=[[4, 3, 1], [4, 1]], output=["sigmoid"], smoothing=[0.0, 0.2],
                        epochs=[2], batch_size=[1, 8]), True)],
    "float32": [(gl.Grid(seed=range(2), sizes=[[4, 5, 3]], smoothing=[0.0, 0.1], epochs=[2], dtype=["float32"],
                         batch_size=[1, 8]), False),
                (gl.Grid(seed=range(2), sizes=[[4, 3, 1]], output=["sigmoid"], epochs=[2], dtype=["float32"]), True)],
}


@pytest.mark.parametrize("block_runs", [256, 3])
@pytest.mark.parametrize("case", ["mixed", "diverged", "binary", pytest.param("float32", marks=pytest.mark.slow)])
def test_tables_equal_the_per_run_reference(case, block_runs, iris_split, tmp_path, monkeypatch):
    """final and history (built a block of runs at a time) equal the straightforward per-run
    tables (tests/naive.py: a History, gl.forward, gl.metrics per run) exactly: values,
    columns, their order, dtypes and rows; also when the blocks are read back from disk."""
    monkeypatch.setattr(sweep_mod, "BLOCK_RUNS", block_runs)
    Xtr, ytr, Xte, yte = iris_split
    for j, (grid, binary) in enumerate(TABLE_SWEEPS[case]):
        data = (Xtr, (ytr == 0).astype(np.int64), Xte, (yte == 0).astype(np.int64)) if binary else iris_split
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            trained = gl.sweep(grid, data, record_every=13, out=tmp_path / str(j))
            loaded = gl.sweep(grid, data, record_every=13, out=tmp_path / str(j))
        for res in (trained, loaded):
            final = res.final
            pd.testing.assert_frame_equal(final, naive.sweep_final(res), check_exact=True)
            pd.testing.assert_frame_equal(res.history, naive.sweep_history(res), check_exact=True)
    if case == "diverged":
        assert final["diverged_at"].dtype == np.int64
        assert final["train_nll"].notna().any() and final["train_nll"].isna().any()


def test_forward_runs_and_metrics_of_runs_equal_one_run_at_a_time():
    """The pieces of `final` on their own, float64 and float32: `grads.forward_runs` equals
    gl.forward net by net, and `metrics.nll_of_runs` / `ece_of_runs` equal gl.metrics.nll /
    ece run by run, bit for bit (binary outputs read as (1 - p, p))."""
    from gradlab import grads
    rng = np.random.default_rng(5)
    X = rng.normal(size=(37, 4))
    y3, y2 = rng.integers(0, 3, 37), rng.integers(0, 2, 37)
    for dtype in (np.float64, np.float32):
        for sizes, output, y in (([4, 6, 3], "softmax", y3), ([4, 5, 1], "sigmoid", y2), ([4, 3], "softmax", y3)):
            net = gl.MLP(sizes, output=output, dtype=dtype)
            params = (3 * rng.normal(size=(9, net.n_params))).astype(dtype)
            params[0] *= 100  # saturated outputs: p = 0 for some true classes (NLL clipped)
            probs = grads.forward_runs(net, params, X)
            alone = [gl.forward(gl.MLP.from_params(sizes, p, output=output), X) for p in params]
            np.testing.assert_array_equal(probs, np.stack(alone))
            assert probs.dtype == dtype
            P = gl.metrics.two_columns(probs) if sizes[-1] == 1 else probs
            nll, ece = gl.metrics.nll_of_runs(P, y), gl.metrics.ece_of_runs(P, y)
            assert np.isfinite(nll).all() and nll.max() > 10
            assert nll.tolist() == [gl.metrics.nll(p, y) for p in alone]
            assert ece.tolist() == [gl.metrics.ece(p, y) for p in alone]


# --------------------------------------------------------------------------- the out folder

GRID = gl.Grid(smoothing=[0.0, 0.1, 0.2], seed=range(4), sizes=[[4, 7, 3]], epochs=[2])


def test_out_round_trip_is_exact(tmp_path, iris_split):
    fresh = gl.sweep(GRID, iris_split, record_every=30, out=tmp_path / "s")
    loaded = gl.sweep(GRID, iris_split, record_every=30, out=tmp_path / "s")
    for k in range(len(GRID)):
        _same_history(fresh.run(k), loaded.run(k))
    assert fresh.final.equals(loaded.final)
    manifest = json.loads((tmp_path / "s" / "manifest.json").read_text())
    assert manifest["gradlab_version"] == gl.__version__ and "data" in manifest


def test_final_reads_the_scores_saved_with_each_block(tmp_path, iris_split, monkeypatch):
    """NLL and ECE are computed where a block trains and saved in its file; `final` reads them
    (no forward pass on loading), and a block file written without them (before they were
    saved) gives the same table, computed on loading."""
    fresh = gl.sweep(GRID, iris_split, record_every=30, out=tmp_path / "s")
    expected = fresh.final
    for path in (tmp_path / "s" / "blocks").glob("block-*.npz"):
        with np.load(path) as f:
            assert f["scores"].shape == (f["keys"].shape[0], 4)
    def no_scoring(*args):
        raise AssertionError("final_scores called although the block files hold the scores")
    with monkeypatch.context() as m:
        m.setattr(sweep_mod, "final_scores", no_scoring)
        pd.testing.assert_frame_equal(gl.sweep(GRID, iris_split, record_every=30, out=tmp_path / "s").final,
                                      expected, check_exact=True)
    for path in (tmp_path / "s" / "blocks").glob("block-*.npz"):
        with np.load(path) as f:
            arrays = {k: f[k] for k in f.files if k != "scores"}
        np.savez(path, **arrays)
    pd.testing.assert_frame_equal(gl.sweep(GRID, iris_split, record_every=30, out=tmp_path / "s").final,
                                  expected, check_exact=True)


def test_resume_after_interruption(tmp_path, iris_split, monkeypatch):
    monkeypatch.setattr(sweep_mod, "BLOCK_RUNS", 4)  # three files of four runs
    calls = []
    real = sweep_mod._train_task

    def interrupted_after_two(plans):
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(len(plans))
        return real(plans)

    monkeypatch.setattr(sweep_mod, "_train_task", interrupted_after_two)
    with pytest.raises(KeyboardInterrupt):
        gl.sweep(GRID, iris_split, record_every=30, out=tmp_path / "s")
    assert len(list((tmp_path / "s" / "blocks").glob("block-*.npz"))) == 2
    assert not list((tmp_path / "s" / "blocks").glob(".tmp-*"))
    trained = []
    monkeypatch.setattr(sweep_mod, "_train_task", lambda plans: trained.append(len(plans)) or real(plans))
    resumed = gl.sweep(GRID, iris_split, record_every=30, out=tmp_path / "s")
    assert trained == [4]  # only the unfinished block
    whole = gl.sweep(GRID, iris_split, record_every=30)
    for k in range(len(GRID)):
        _same_history(resumed.run(k), whole.run(k))


def test_changed_grid_refused_unless_extend(tmp_path, iris_split, monkeypatch):
    out = tmp_path / "s"
    gl.sweep(GRID, iris_split, record_every=30, out=out)
    more = gl.Grid(l2=[1e-3], seed=range(2), sizes=[[4, 7, 3]], epochs=[2])
    with pytest.raises(ValueError, match="different grid.*extend=True"):
        gl.sweep(more, iris_split, record_every=30, out=out)
    with pytest.raises(ValueError, match="other data or settings"):
        gl.sweep(GRID, iris_split, record_every=31, out=out)
    trained = []
    real = sweep_mod._train_task
    monkeypatch.setattr(sweep_mod, "_train_task", lambda plans: trained.append(len(plans)) or real(plans))
    res = gl.sweep(more, iris_split, record_every=30, out=out, extend=True)
    assert trained == [2]  # the old runs are kept, the new trained
    assert len(res) == len(GRID) + 2
    assert list(res.final["l2"])[-2:] == [1e-3, 1e-3]
    again = gl.sweep(GRID + more, iris_split, record_every=30, out=out)  # the union is now the grid
    assert len(again) == len(GRID) + 2 and trained == [2]


def _flip_a_stored_byte(path):
    """Flip the last data byte of the block's stats array, inside the zip (stored, not
    compressed): only the member's CRC-32 can tell."""
    import struct
    import zipfile
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        info = z.getinfo("stats.npy")
    name_len, extra_len = struct.unpack("<HH", raw[info.header_offset + 26:info.header_offset + 30])
    data_start = info.header_offset + 30 + name_len + extra_len
    raw[data_start + info.compress_size - 1] ^= 0x5A
    path.write_bytes(bytes(raw))


def _rewrite_block(path, change):
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    change(arrays)
    with open(path, "wb") as f:
        np.savez(f, **arrays)


DAMAGES = {  # name: (damage done to the file, what the warning must say of it)
    "truncated": (lambda p: p.write_bytes(p.read_bytes()[:p.stat().st_size // 2]), "BadZipFile"),
    "empty": (lambda p: p.write_bytes(b""), "EOFError"),
    "bad-crc": (_flip_a_stored_byte, "Bad CRC-32 for file 'stats.npy'"),
    "garbage": (lambda p: p.write_bytes(np.random.default_rng(0).bytes(3000)), "ValueError"),
    "missing-array": (lambda p: _rewrite_block(p, lambda a: a.pop("stats")), "no array stats"),
    "wrong-shape": (lambda p: _rewrite_block(p, lambda a: a.update(stats=a["stats"][:, :-1])), "stats has shape"),
    "wrong-dtype": (lambda p: _rewrite_block(p, lambda a: a.update(params=a["params"].astype(np.float32))),
                    "params are float32"),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_damaged_block_file_is_set_aside_and_retrained(tmp_path, iris_split, monkeypatch, damage):
    """A block file damaged on disk: the rerun warns naming it, renames it to .damaged, trains
    only its runs again, and the results equal a clean sweep's bit for bit."""
    monkeypatch.setattr(sweep_mod, "BLOCK_RUNS", 4)  # three files of four runs
    out = tmp_path / "s"
    gl.sweep(GRID, iris_split, record_every=30, out=out)
    clean = gl.sweep(GRID, iris_split, record_every=30)
    files = sorted((out / "blocks").glob("block-*.npz"))
    assert len(files) == 3
    harm, reason = DAMAGES[damage]
    harm(files[1])
    trained = []
    real = sweep_mod._train_task
    monkeypatch.setattr(sweep_mod, "_train_task", lambda plans: trained.append(len(plans)) or real(plans))
    with pytest.warns(RuntimeWarning, match="block file .* is damaged") as caught:
        rerun = gl.sweep(GRID, iris_split, record_every=30, out=out)
    messages = [str(w.message) for w in caught if "damaged" in str(w.message)]
    assert len(messages) == 1 and str(files[1]) in messages[0] and reason in messages[0], messages
    assert caught[0].filename == __file__  # the warning points at the caller's gl.sweep
    assert trained == [4]  # only the damaged block's runs
    assert files[1].with_name(files[1].name + ".damaged").exists() and files[1].exists()  # set aside, rewritten
    pd.testing.assert_frame_equal(rerun.final, clean.final)
    pd.testing.assert_frame_equal(rerun.history, clean.history)
    for k in range(len(GRID)):
        _same_history(rerun.run(k), clean.run(k))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # now whole again: no warning, nothing trained
        gl.sweep(GRID, iris_split, record_every=30, out=out)
    assert trained == [4]


def test_block_files_are_flushed_to_disk_before_the_rename(tmp_path, iris_split, monkeypatch):
    """Each block file is fsync-ed (as the manifest is) before it is renamed into place."""
    import os
    synced, renamed = set(), []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        synced.add(os.fstat(fd).st_ino)
        return real_fsync(fd)

    def replace(src, dst):
        if str(dst).startswith(str(tmp_path)):
            renamed.append((os.path.basename(dst), os.stat(src).st_ino in synced))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    gl.sweep(gl.Grid(seed=[0, 1], sizes=[[4, 3]], epochs=[1]), iris_split, out=tmp_path / "s")
    block = next((tmp_path / "s" / "blocks").glob("block-*.npz")).name
    assert renamed == [("manifest.json", True), (block, True)]


# --------------------------------------------------------------------------- Dask

def _local_cluster():
    distributed = pytest.importorskip("distributed")
    return distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                    dashboard_address=None, silence_logs=50)


def test_dask_cluster_equals_local(tmp_path, iris_split, monkeypatch):
    monkeypatch.setattr(sweep_mod, "BLOCK_RUNS", 3)
    local = gl.sweep(GRID, iris_split, record_every=30)
    with _local_cluster() as cluster:
        remote = gl.sweep(GRID, iris_split, record_every=30, out=tmp_path / "d", scheduler=cluster.scheduler_address)
    for k in range(len(GRID)):
        _same_history(local.run(k), remote.run(k))
    assert len(list((tmp_path / "d" / "blocks").glob("block-*.npz"))) == 4


def test_dask_killed_worker_loses_no_finished_run(tmp_path, iris_split, monkeypatch):
    """A worker killed mid-sweep: the sweep either completes (Dask reruns the lost block on a
    worker) or stops with distributed.KilledWorker (the block's retries used up), nothing else;
    every block saved before stays on disk, and a rerun on the same ``out`` loads those blocks
    (files untouched) and trains only the missing ones, with the same results as a local sweep."""
    import os
    import signal
    import threading
    monkeypatch.setattr(sweep_mod, "BLOCK_RUNS", 2)
    grid = gl.Grid(smoothing=[0.0, 0.1], seed=range(8), sizes=[[4, 7, 3]], epochs=[300])
    out = tmp_path / "k"
    local = gl.sweep(grid, iris_split, record_every=500)
    with _local_cluster() as cluster:
        from distributed import Client, KilledWorker
        with Client(cluster) as client:
            pids = list(client.run(os.getpid).values())
            files = out / "blocks"
            at_kill = []

            def kill_when_one_block_is_saved():
                for _ in range(6000):
                    if files.exists() and any(files.glob("block-*.npz")):
                        break
                    threading.Event().wait(0.01)
                at_kill.append(len(list(files.glob("block-*.npz"))))
                os.kill(pids[0], signal.SIGKILL)

            killer = threading.Thread(target=kill_when_one_block_is_saved)
            killer.start()
            try:
                gl.sweep(grid, iris_split, record_every=500, out=out, scheduler=client)
                completed = True
            except KilledWorker:
                completed = False
            killer.join()
    saved = {p: p.stat().st_mtime_ns for p in files.glob("block-*.npz")}
    assert 1 <= at_kill[0] < 8  # killed mid-sweep (8 blocks of 2 runs)
    assert len(saved) >= at_kill[0]  # what finished before the kill is still on disk
    assert len(saved) == 8 or not completed  # a completed sweep saved every block
    trained = []
    real = sweep_mod._train_task
    monkeypatch.setattr(sweep_mod, "_train_task", lambda plans: trained.append(len(plans)) or real(plans))
    rerun = gl.sweep(grid, iris_split, record_every=500, out=out)
    assert trained == [2] * (8 - len(saved))  # only the blocks missing on disk are trained
    assert {p: p.stat().st_mtime_ns for p in saved} == saved  # the finished blocks are loaded, not rewritten
    assert len(list(files.glob("block-*.npz"))) == 8
    for k in range(len(grid)):
        _same_history(rerun.run(k), local.run(k))


def test_final_for_sigmoid_and_identity_outputs(iris_split):
    grid = gl.Grid(loss=["mse"], output=["sigmoid", "identity"], seed=[0], sizes=[[4, 3]], epochs=[1])
    f = gl.sweep(grid, iris_split).final
    assert f["test_nll"].isna().all() and f["test_ece"].isna().all()
    assert f["test_acc"].notna().all()
    Xtr, ytr, Xte, yte = iris_split
    binary = (Xtr, (ytr == 0).astype(np.int64), Xte, (yte == 0).astype(np.int64))
    fb = gl.sweep(gl.Grid(output=["sigmoid"], seed=[0], sizes=[[4, 1]], epochs=[2]), binary).final
    assert np.isfinite(fb.loc[0, "test_nll"]) and 0 <= fb.loc[0, "test_ece"] <= 1


def _gradlab(*args, cwd):
    import subprocess
    import sys
    return subprocess.run([sys.executable, "-m", "gradlab", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=600)


def test_cli_sweep(tmp_path):
    import pandas as pd
    grid = tmp_path / "grid.toml"
    grid.write_text('sizes = [4, 7, 3]\nepochs = 2\nsmoothing = [0.0, 0.1]\nseed = [0, 1]\n')
    done = _gradlab("sweep", grid, "--out", tmp_path / "out", "--record-every", 50, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "4 runs on iris" in done.stdout
    final = pd.read_csv(tmp_path / "out" / "final.csv")
    assert len(final) == 4 and {"smoothing", "seed", "test_acc", "test_ece"} <= set(final.columns)
    assert (tmp_path / "out" / "history.csv").stat().st_size > 0
    direct = gl.sweep(gl.Grid.from_toml(grid), gl.datasets.iris(), record_every=50).final
    np.testing.assert_array_equal(final["weight_norm"].to_numpy(), direct["weight_norm"].to_numpy())
    (tmp_path / "good.toml").write_text('sizes = [4, 3]\n')
    grid.write_text('sizes = [4, 7, 3]\nsmoothing = [1.5]\n')
    for args, words in [(("sweep", grid, "--out", tmp_path / "o2"), "Grid key 'smoothing'"),
                        (("sweep", tmp_path / "nope.toml", "--out", tmp_path / "o3"), "does not exist"),
                        (("sweep", tmp_path / "good.toml", "--out", tmp_path / "o4", "--data", "mnist"),
                         "unknown data set")]:
        bad = _gradlab(*args, cwd=tmp_path)
        assert bad.returncode != 0
        lines = bad.stderr.strip().splitlines()
        assert len(lines) == 1 and words in lines[0] and "Traceback" not in bad.stderr


@pytest.mark.parametrize("dtype", ["float64", pytest.param("float32", marks=pytest.mark.slow)])  # a second compile
def test_minibatch_runs_train_run_by_run_as_train_does(iris_split, dtype):
    """Runs that do not take the generated online step (here minibatches of a wide net) train
    each run by `train`'s own kernels (`_train_each`): the same results as gl.train, bit for
    bit, with penalties, momentum and records on the way."""
    settings = dict(smoothing=[0.0, 0.2], seed=[0, 3], sizes=[[4, 260, 3]], epochs=[3], batch_size=[16],
                    lr=[0.05], l2=[1e-3], momentum=[0.5], dtype=[dtype])
    grid = gl.Grid(**settings)
    plan = sweep_mod._plan(list(grid)[0], iris_split, 7)
    assert not training._fits_online_step([plan])
    res = gl.sweep(grid, iris_split, record_every=7)
    for k, s in enumerate(res.settings):
        _same_history(res.run(k), _train_alone(s, iris_split, 7))
