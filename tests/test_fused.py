"""The generated online step (`_kernels.fused`): which runs take it, where its source goes,
and that its results equal `gl.train`'s kernels' (`train_each`) bit for bit."""
import warnings

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import gradlab as gl
from gradlab import _kernels, training
from gradlab._kernels import fused

OUTPUTS = [("softmax", "ce"), ("softmax", "mse"), ("sigmoid", "ce"), ("sigmoid", "mse"), ("identity", "mse")]


def _plans(sizes, hidden, output, loss, dtype="float64", runs=3, n=11, lr=0.1, smoothing=(0.0, 0.2), seed=0,
           epochs=2, record_every=5, per_run=({},), **train_args):
    """Plans of ``runs`` runs on random data: one row per step unless ``batch_size`` says
    otherwise; run r adds the settings ``per_run[r % len(per_run)]``."""
    rng = np.random.default_rng(seed)
    K = sizes[-1]
    X = rng.normal(size=(n, sizes[0]))
    y = rng.integers(0, 2 if K == 1 else K, size=n)
    Xt, yt = X[:4] + 0.5, y[:4]
    plans = []
    for r in range(runs):
        net = gl.MLP(sizes, hidden, output, seed=seed + r, dtype=dtype)
        plans.append(training.plan_run(net, X, y, loss=loss, lr=lr, smoothing=smoothing[r % len(smoothing)],
                                       epochs=epochs, seed=seed + 10 * r, record_every=record_every,
                                       X_test=Xt, y_test=yt,
                                       **{"batch_size": 1, **train_args, **per_run[r % len(per_run)]}))
    return plans


def _params(plans):
    return np.stack([p.net.params for p in plans])


def _same(a, b):
    for key in ("params", "stats", "layer_norms", "n_written", "diverged_at"):
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def _block(plans, fused_step):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return training.train_block(plans, fused=fused_step)


@settings(max_examples=8)  # each new shape compiles its step (about 1 s)
@given(sizes=st.lists(st.integers(1, 5), min_size=1, max_size=3), K=st.integers(1, 3),
       hidden=st.sampled_from(["tanh", "relu", "sigmoid", "identity"]), out=st.sampled_from(OUTPUTS),
       lr=st.sampled_from([0.05, 0.5, 60.0]), seed=st.integers(0, 2 ** 16), runs=st.integers(1, 70))
def test_generated_step_equals_train(sizes, K, hidden, out, lr, seed, runs):
    """Any depth, width, activation and loss; lr=60 makes some runs diverge, and more than 64
    runs fill two blocks: every array `train_block` returns is the same, bit for bit."""
    output, loss = out
    K = 1 if output == "sigmoid" and K == 1 else max(K, 2) if output == "softmax" else K
    plans = _plans(sizes[:1] + sizes[1:] + [K], hidden, output, loss, runs=runs, lr=lr, seed=seed)
    assert fused.applies(plans[0].net.sizes, 1, [0.0], _params(plans))
    _same(_block(plans, True), _block(plans, False))


PENALTIES = ({}, dict(l2=0.02), dict(l1=0.01), dict(weight_decay=0.05),
             dict(l2=1e-3, l1=1e-3, weight_decay=0.01, penalize_bias=True))


@settings(max_examples=6)  # each new shape compiles its step (about 1 s)
@given(sizes=st.lists(st.integers(1, 5), min_size=1, max_size=3), K=st.integers(2, 3),
       hidden=st.sampled_from(["tanh", "relu", "sigmoid", "identity"]), out=st.sampled_from(OUTPUTS),
       lr=st.sampled_from([0.05, 0.5, 60.0]), seed=st.integers(0, 2 ** 16), runs=st.integers(1, 40))
def test_generated_step_with_penalties_equals_train(sizes, K, hidden, out, lr, seed, runs):
    """L2, L1 and decoupled weight decay, on the weights or on the biases too, in one block with
    runs that have none (lr=60: some diverge): every array the same, bit for bit."""
    output, loss = out
    plans = _plans(sizes + [K], hidden, output, loss, runs=runs, lr=lr, seed=seed, per_run=PENALTIES)
    hyper = np.stack([p.hyper for p in plans])
    assert fused.applies(plans[0].net.sizes, 1, [0.0], _params(plans))
    assert fused.penalized(hyper) == (runs > 1)
    assert fused.kind(hyper) == ("penalties" if runs > 1 else "plain")
    _same(_block(plans, True), _block(plans, False))


OPTIMIZERS = ({}, dict(momentum=0.9), dict(momentum=0.5, nesterov=True), dict(optimizer="adam"),
              dict(optimizer="adam", weight_decay=0.05, betas=(0.5, 0.9)), dict(momentum=0.9, l2=0.02, l1=1e-3),
              dict(optimizer="adam", l2=1e-3, penalize_bias=True, eps=1e-3))


@settings(max_examples=6)  # each new shape compiles its step (about 1 s)
@given(sizes=st.lists(st.integers(1, 5), min_size=1, max_size=3), K=st.integers(2, 3),
       hidden=st.sampled_from(["tanh", "relu", "sigmoid", "identity"]), out=st.sampled_from(OUTPUTS),
       lr=st.sampled_from([0.05, 0.5, 60.0]), seed=st.integers(0, 2 ** 16), runs=st.integers(2, 40))
def test_generated_step_with_momentum_and_adam_equals_train(sizes, K, hidden, out, lr, seed, runs):
    """Momentum, Nesterov, Adam and AdamW, with and without penalties, in one block with plain
    SGD runs (a "gradients" step, then `_sgd_update_runs`; lr=60: some diverge): every array
    `train_block` returns equals `train_each`'s, bit for bit."""
    output, loss = out
    plans = _plans(sizes + [K], hidden, output, loss, runs=runs, lr=lr, seed=seed, per_run=OPTIMIZERS)
    hyper = np.stack([p.hyper for p in plans])
    assert fused.applies(plans[0].net.sizes, 1, [0.0], _params(plans))
    assert fused.kind(hyper) == "gradients"
    _same(_block(plans, True), _block(plans, False))


CONFIDENCE = ({}, dict(confidence_penalty=0.1), dict(confidence_penalty=0.5, l2=0.02),
              dict(confidence_penalty=0.2, momentum=0.9))


@settings(max_examples=6)  # each new shape compiles its step (about 1 s)
@given(sizes=st.lists(st.integers(1, 5), min_size=1, max_size=3), K=st.integers(1, 3),
       hidden=st.sampled_from(["tanh", "relu", "sigmoid", "identity"]), out=st.sampled_from(OUTPUTS[:4]),
       lr=st.sampled_from([0.05, 0.5, 60.0]), seed=st.integers(0, 2 ** 16), runs=st.integers(2, 40),
       stateful=st.booleans())
def test_generated_step_with_a_confidence_penalty_equals_train(sizes, K, hidden, out, lr, seed, runs, stateful):
    """The confidence penalty's term in the output deltas (softmax: log o, skipped where o = 0;
    sigmoid: z), in blocks with runs that have none, with penalties and momentum: every array
    the same as `train_each`'s, bit for bit."""
    output, loss = out
    K = 1 if output == "sigmoid" and K == 1 else max(K, 2) if output == "softmax" else K
    per_run = CONFIDENCE if stateful else CONFIDENCE[:3]
    plans = _plans(sizes + [K], hidden, output, loss, runs=runs, lr=lr, seed=seed, per_run=per_run)
    assert fused.applies(plans[0].net.sizes, 1, [0.0], _params(plans))
    _same(_block(plans, True), _block(plans, False))


def test_a_block_without_momentum_in_a_gradients_sweep():
    """17 runs in blocks of 16: the second block holds one plain run (and copies of run 0), yet
    takes the sweep's "gradients" step; its update must still be made (found by hypothesis)."""
    plans = _plans([1, 2], "tanh", "softmax", "ce", runs=17, per_run=CONFIDENCE)
    assert fused.kind(np.stack([p.hyper for p in plans])) == "gradients"
    assert fused.kind(np.stack([plans[16].hyper])) == "plain"
    _same(_block(plans, True), _block(plans, False))


def test_a_long_online_run_alone_takes_the_generated_step_with_penalties(monkeypatch):
    """gl.train's path for a run of ONLINE_STEP_MIN_STEPS online steps or more, here with L2,
    L1, weight decay and a confidence penalty: the generated step, with `train_each`'s results bit
    for bit."""
    plans = _plans([3, 4, 3], "tanh", "softmax", "ce", runs=1, n=40, epochs=training.ONLINE_STEP_MIN_STEPS // 40,
                   record_every=1000, l2=1e-3, l1=1e-3, weight_decay=0.01,
                   confidence_penalty=0.1)
    calls = []
    original = fused.train_online
    monkeypatch.setattr(fused, "train_online", lambda *args: calls.append(1) or original(*args))
    hist = training.run_plan(plans[0], progress=False)
    assert calls
    ref = _block(plans, False)
    np.testing.assert_array_equal(hist.net.params, ref["params"][0])
    np.testing.assert_array_equal(hist.weight_norm, ref["stats"][0, :, _kernels.WEIGHT_NORM])
    np.testing.assert_array_equal(hist.train_loss, ref["stats"][0, :, _kernels.TRAIN_LOSS])


def test_generated_step_stops_diverged_runs_alone():
    plans = _plans([3, 4, 3], "identity", "softmax", "ce", runs=6, lr=40.0, smoothing=(0.0, 0.1), epochs=10, n=40)
    plans += _plans([3, 4, 3], "identity", "softmax", "ce", runs=2, lr=0.01, epochs=10, n=40)
    got = _block(plans, True)
    assert (got["diverged_at"][:6] > 0).all() and (got["diverged_at"][6:] == 0).all()
    assert len(set(got["diverged_at"][:6])) > 1  # each run stops at its own step
    assert (got["n_written"][6:] == plans[0].n_records).all()
    _same(got, _block(plans, False))


@pytest.mark.slow  # float32 compiles the online loop a second time (about 20 s), as test_sweep's float32 cases
def test_float32_generated_step_equals_train():
    """float32 nets: the generated step rounds to float32 where the kernels store float32;
    the lr=40 runs diverge, at the step gl.train stops at."""
    X, y = gl.datasets.iris()
    grid = (gl.Grid(smoothing=[0.0, 0.2], seed=[0, 1], sizes=[[4, 5, 3]], epochs=[2], dtype=["float32"], lr=[0.05])
            + gl.Grid(seed=[0, 1], sizes=[[4, 5, 3]], epochs=[2], dtype=["float32"], lr=[40.0], hidden=["identity"]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = gl.sweep(grid, (X, y), record_every=17)
        final = res.final
        assert final["diverged_at"].notna().any()
        for k, s in enumerate(grid):
            net = gl.MLP(s["sizes"], s["hidden"], seed=s["seed"], dtype="float32")
            alone = gl.train(net, res.data[0], res.data[1], smoothing=s["smoothing"], epochs=2, lr=s["lr"],
                             seed=s["seed"], record_every=17, X_test=res.data[2], y_test=res.data[3])
            run = res.run(k)
            np.testing.assert_array_equal(run.net.params, alone.net.params)
            for field in ("step", "train_loss", "test_loss", "train_acc", "weight_norm", "logit_gap"):
                np.testing.assert_array_equal(getattr(run, field), getattr(alone, field), err_msg=field)
            assert run.diverged_at == alone.diverged_at


@pytest.mark.parametrize("change", [dict(batch_size=2), dict(hidden_targets=np.ones((3, 4)), hidden_weight=0.3)])
def test_other_settings_train_run_by_run(change):
    """Minibatches and hidden targets train run by run; momentum, Adam and the confidence
    penalty take the generated step."""
    assert not training._fits_online_step(_plans([3, 4, 3], "tanh", "softmax", "ce", runs=2, **change))
    for other in (dict(momentum=0.5), dict(optimizer="adam"), dict(confidence_penalty=0.1)):
        assert training._fits_online_step(_plans([3, 4, 3], "tanh", "softmax", "ce", runs=2, **other))
    plain = _plans([3, 4, 3], "tanh", "softmax", "ce", runs=2)
    assert fused.applies(plain[0].net.sizes, 1, [0.0, 0.0], _params(plain))
    assert not fused.applies([3, 4, 3], 1, [0.0, 0.3], _params(plain))
    assert not fused.applies([12, 12, 4], 1, [0.0, 0.0], np.zeros((2, 208)))


def test_a_negative_zero_parameter_trains_run_by_run():
    """The generated step adds a gradient of -0.0 as it is, where the kernels add +0.0: the
    same new parameter unless the old one is -0.0, so nets holding -0.0 take `train_each`."""
    plans = _plans([3, 4, 3], "relu", "softmax", "ce", runs=2)
    params = plans[1].net.params.copy()
    params[5] = -0.0
    plans[1].net = gl.MLP.from_params([3, 4, 3], params, "relu")
    assert not fused.applies([3, 4, 3], 1, [0.0, 0.0], _params(plans))
    with pytest.raises(ValueError, match="fused=True"):
        training.train_block(plans, fused=True)
    assert np.signbit(_block(plans, None)["params"][1, 5])  # kept -0.0: only relu's zero gradients reached it
    _same(_block(plans, None), _block(plans, False))


def test_generated_source_lives_in_the_digest_folder():
    step = fused.step([2, 3, 2], _kernels.TANH, _kernels.SOFTMAX, _kernels.CE, "float64", 16)
    folder = _kernels.generated_folder()
    assert folder.name == fused.folder_name(_kernels._digest())
    files = list(folder.glob("online_2x3x2_tanh_softmax_loss0_float64_r16.py"))
    assert len(files) == 1
    assert "def step(" in files[0].read_text()
    assert fused.step((2, 3, 2), _kernels.TANH, _kernels.SOFTMAX, _kernels.CE, np.float64, 16) is step
    assert step.address != 0
    with pytest.raises(ValueError, match="runs per block"):
        fused.step([2, 3, 2], _kernels.TANH, _kernels.SOFTMAX, _kernels.CE, "float64", 8)
    with pytest.raises(ValueError, match="kind"):
        fused.step([2, 3, 2], _kernels.TANH, _kernels.SOFTMAX, _kernels.CE, "float64", 16, "momentum")


def test_block_width_gives_every_thread_a_block():
    assert fused.block_width(256, 2) == 64
    assert fused.block_width(100, 2) == 32
    assert fused.block_width(40, 2) == 16
    assert fused.block_width(1, 2) == 16
    assert fused.block_width(4096, 1) == 64


def test_generated_folder_falls_back_to_a_temporary_one(tmp_path):
    """Where numba's cache folder cannot be written, the generated step goes to a fresh
    temporary folder (compiled again in each process, but it works)."""
    folder = fused.writable_folder(tmp_path, "ab" * 32)
    assert folder == tmp_path / fused.folder_name("ab" * 32) and folder.is_dir()
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    other = fused.writable_folder(not_a_folder, "ab" * 32)
    assert other.is_dir() and tmp_path not in other.parents
    other.rmdir()
    fallback = fused.writable_folder(None, "ab" * 32)
    assert fallback.is_dir()
    fallback.rmdir()
