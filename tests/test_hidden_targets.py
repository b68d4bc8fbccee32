"""Hidden-layer targets (E1): gl.train(..., hidden_targets=P, hidden_weight=lam) adds
lam/2 ||a_L(x_n) - P[y_n]||^2 to each row's loss; its gradient runs in the training kernels."""
import sys
import warnings

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import gradlab as gl
import gradlab.sweep  # noqa: F401  (the module; gl.sweep is the function)

import naive
import strategies as S
from test_grads import fd_relative_errors
from tolerances import FD_RTOL, FD_STEP

sweep_mod = sys.modules["gradlab.sweep"]


def _labels(T):
    return (T[:, 0] > 0.5).astype(np.int64) if T.shape[1] == 1 else T.argmax(axis=1)


def _objective(spec, X, T, P, lam):
    """Mean over rows of L(x_n, t_n) + lam/2 ||a_L(x_n) - P[y_n]||^2, in plain NumPy."""
    y = _labels(T)

    def J(theta):
        data = naive.sample_losses(spec.sizes, theta, spec.hidden, spec.output, spec.loss, X, T)
        h = np.array([naive.forward_sample(spec.sizes, theta, spec.hidden, spec.output, x)[1][-2] for x in X])
        return np.mean(data + lam * 0.5 * ((h - P[y]) ** 2).sum(axis=1))
    return J


@settings(max_examples=30)
@given(data=st.data())
def test_hidden_target_gradient_matches_central_differences(data):
    spec, X, T = data.draw(S.problems())
    assume(len(spec.sizes) >= 3)  # a hidden layer to put targets on
    S.assume_away_from_relu_kinks(spec, X, h=FD_STEP)
    classes, H = max(spec.K, 2), spec.sizes[-2]
    P = data.draw(arrays(np.float64, (classes, H), elements=st.floats(-1.0, 1.0)))
    lam = data.draw(st.floats(0.01, 2.0))
    net = spec.net()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        hist = gl.train(net, X, T, loss=spec.loss, lr=1.0, batch_size=None, epochs=1, record_every=1,
                        hidden_targets=P, hidden_weight=lam)
    assume(not hist.diverged)
    g = net.params - hist.net.params  # one full-batch step with lr = 1: exactly -(theta_1 - theta_0)
    J = _objective(spec, X, T, P, lam)
    FD = naive.fd_grad(J, spec.params, FD_STEP)
    rel = fd_relative_errors(g[None], FD[None], np.array([J(spec.params)]), gl.logits(net, X)[:1])
    assert rel.max() < FD_RTOL, (rel, spec, P, lam)


def test_hidden_targets_change_training_and_zero_weight_does_not():
    X, y = gl.datasets.iris()
    net = gl.MLP([4, 5, 3], seed=0)
    P = np.full((3, 5), 0.5)
    plain = gl.train(net, X, y, epochs=3)
    zero = gl.train(net, X, y, epochs=3, hidden_targets=P, hidden_weight=0.0)
    pulled = gl.train(net, X, y, epochs=3, hidden_targets=P, hidden_weight=1.0)
    np.testing.assert_array_equal(plain.net.params, zero.net.params)
    assert not np.array_equal(plain.net.params, pulled.net.params)
    h = gl.hidden_activations(pulled.net, X)
    h0 = gl.hidden_activations(plain.net, X)
    assert np.abs(h - 0.5).mean() < np.abs(h0 - 0.5).mean()  # pulled toward the targets


def test_sweep_with_hidden_weight_equals_train():
    data = sweep_mod.sweep_data(gl.datasets.iris())
    P = np.random.default_rng(1).uniform(-1, 1, (3, 6))
    grid = gl.Grid(hidden_weight=[0.0, 0.3], seed=[0, 1], sizes=[[4, 6, 3]], epochs=[2], batch_size=[1, 16])
    res = gl.sweep(grid, data, record_every=25, hidden_targets=P)
    for k, s in enumerate(grid):
        net = gl.MLP(s["sizes"], seed=s["seed"])
        alone = gl.train(net, data[0], data[1], epochs=2, batch_size=s["batch_size"], seed=s["seed"], record_every=25,
                         X_test=data[2], y_test=data[3], hidden_targets=P, hidden_weight=s["hidden_weight"])
        np.testing.assert_array_equal(res.run(k).net.params, alone.net.params)
        np.testing.assert_array_equal(res.run(k).weight_norm, alone.weight_norm)
    assert list(res.final["hidden_weight"]) == [s["hidden_weight"] for s in grid]


@pytest.mark.parametrize("kwargs, error, words", [
    (dict(hidden_targets=np.zeros((3, 4))), ValueError, "hidden_targets must have shape \\(3, 5\\)"),
    (dict(hidden_targets=np.full((3, 5), np.nan)), ValueError, "hidden_targets contains NaN"),
    (dict(hidden_targets=np.zeros((3, 5)), hidden_weight=-1.0), ValueError, "hidden_weight"),
    (dict(hidden_weight=0.5), ValueError, "needs hidden_targets"),
    (dict(hidden_targets=np.zeros((3, 5)), hidden_weight="a"), TypeError, "hidden_weight"),
])
def test_bad_hidden_targets(kwargs, error, words):
    X, y = gl.datasets.iris()
    with pytest.raises(error, match=words):
        gl.train(gl.MLP([4, 5, 3], seed=0), X, y, epochs=1, **kwargs)


def test_hidden_targets_need_a_hidden_layer():
    X, y = gl.datasets.iris()
    with pytest.raises(ValueError, match="hidden_targets needs a hidden layer"):
        gl.train(gl.MLP([4, 3], seed=0), X, y, epochs=1, hidden_targets=np.zeros((3, 4)), hidden_weight=1.0)
