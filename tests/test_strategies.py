"""gradlab.strategies: what they draw is valid and within the documented bounds, they drive
a gradient test, bad arguments are refused, and a false claim gives a falsifying example that
rebuilds exactly (the README's example)."""
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gradlab as gl
import gradlab.strategies as gs

import naive
from tolerances import FD_FLOOR, FD_RTOL, FD_STEP

# ---------------------------------------------------------------- what is drawn


@settings(max_examples=60)
@given(net=gs.nets())
def test_nets_are_valid_and_bounded(net):
    assert isinstance(net, gl.MLP) and net.dtype == np.float64
    d, *hidden, K = net.sizes
    assert 1 <= d <= 6 and len(hidden) <= 3 and all(1 <= h <= 8 for h in hidden)
    assert (2 if net.output == "softmax" else 1) <= K <= 5
    assert np.all(np.abs(net.params) <= gs.PARAM_BOUND)
    assert all(np.shares_memory(w, net.params) for w in net.weights)


@settings(max_examples=30)
@given(net=gs.nets(sizes=[3, 4, 1], hidden=["relu", "tanh"], output=None, dtype="float32", param_bound=None))
def test_nets_honour_fixed_choices(net):
    assert net.sizes == (3, 4, 1) and net.hidden in ("relu", "tanh") and net.output != "softmax"
    assert net.params.dtype == np.float32
    np.testing.assert_array_equal(np.concatenate(net.biases), 0.0)  # the net's own init: biases 0


@settings(max_examples=40)
@given(data=st.data(), net=gs.nets(dtype=np.float32))
def test_inputs_fit_the_net(data, net):
    X = data.draw(gs.inputs(net))
    assert X.dtype == np.float32 and X.shape[1] == net.sizes[0] and 1 <= X.shape[0] <= 4
    assert np.all(np.abs(X) <= gs.INPUT_BOUND)
    assert data.draw(gs.inputs(net, rows=7, bound=0.5)).shape == (7, net.sizes[0])


@settings(max_examples=60)
@given(data=st.data(), K=st.integers(2, 6))
def test_targets_fit_their_output(data, K):
    soft = data.draw(gs.targets(K))
    assert soft.shape[1] == K and np.all((soft >= 0) & (soft <= 1))
    np.testing.assert_allclose(soft.sum(axis=1), 1.0, rtol=0, atol=1e-15)
    hard = data.draw(gs.targets(K, rows=5, soft=False))
    assert hard.shape == (5, K) and np.all(hard.sum(axis=1) == 1) and set(np.unique(hard)) <= {0.0, 1.0}
    a = data.draw(st.floats(0.0, 1.0))
    smoothed = data.draw(gs.targets(K, rows=3, soft=False, smoothing=a))
    assert set(np.round(np.unique(smoothed), 12)) <= {round(1 - a + a / K, 12), round(a / K, 12)}
    column = data.draw(gs.targets(1, soft=False, smoothing=0.2))  # one sigmoid output: K = 2
    assert set(np.round(np.unique(column), 12)) <= {0.9, 0.1}
    free = data.draw(gs.targets(K, output="identity", loss="mse"))
    assert np.all(np.abs(free) <= gs.INPUT_BOUND)


@settings(max_examples=40)
@given(z=gs.logits(min_K=2, max_K=3, max_rows=2))
def test_logits_are_bounded(z):
    assert z.dtype == np.float64 and 1 <= z.shape[0] <= 2 and 2 <= z.shape[1] <= 3
    assert np.all(np.abs(z) <= gs.LOGIT_BOUND)


@settings(max_examples=60)
@given(problem=gs.problems())
def test_problems_are_accepted_by_every_gradient_call(problem):
    net, X, T, loss = problem
    assert X.shape[0] == T.shape[0] and T.shape[1] == net.sizes[-1]
    assert not (loss == "ce" and net.output == "identity")
    G = gl.per_sample_grads(net, X, T, loss=loss)  # validates T for the loss and output
    assert G.shape == (X.shape[0], net.n_params) and np.all(np.isfinite(G))


# ---------------------------------------------------------------- driving a gradient test


@settings(max_examples=40)
@given(problem=gs.problems(hidden=["tanh", "sigmoid", "identity"], smoothing=True))
def test_strategies_drive_a_finite_difference_check(problem):
    """The batch gradient against central differences of the batch loss (naive.fd_grad)."""
    net, X, T, loss = problem
    g = gl.grad(net, X, T, loss=loss)

    def batch_loss(theta):
        return np.array([gl.loss(gl.MLP.from_params(net.sizes, theta, net.hidden, net.output), X, T, loss=loss)])

    fd = naive.fd_grad(batch_loss, net.params, FD_STEP)[0]
    # the suite's FD criterion (tolerances.py): relative to max |FD|, floored where FD stops resolving
    S = max(1.0, abs(batch_loss(net.params)[0]), np.abs(gl.logits(net, X)).max())
    assert np.abs(g - fd).max() <= FD_RTOL * max(np.abs(fd).max(), FD_FLOOR * S), (g, fd)


# ---------------------------------------------------------------- a user's claim (README)


def _update_follows_t_minus_o(problem):
    """The README's claim: each output bias's update -lr dL/db_k has the sign of t_k - o_k."""
    net, X, T, loss = problem
    update = gl.deltas(net, X, T, loss=loss, lr=0.1)[:, -T.shape[1]:]  # output biases
    return bool(np.all(update * (T - gl.forward(net, X)) >= 0))


@settings(max_examples=100)
@given(problem=gs.problems(output="sigmoid", loss="mse"))
def test_readme_claim_holds_for_sigmoid_mse(problem):
    assert _update_follows_t_minus_o(problem)


def test_readme_claim_fails_for_softmax_mse_with_an_exact_counterexample():
    @settings(max_examples=300, database=None, derandomize=True)
    @given(problem=gs.problems(output="softmax", loss="mse"))
    def claim(problem):
        assert _update_follows_t_minus_o(problem)

    with pytest.raises(AssertionError) as info:
        claim()
    printed = "\n".join(getattr(info.value, "__notes__", []))
    assert "gl.MLP.from_params(" in printed
    line = next(l.strip() for l in printed.splitlines() if l.strip().startswith("problem="))
    source = line[len("problem="):].rstrip(",")
    rebuilt = eval(source, {"gl": gl, "np": np, "Problem": gs.Problem})
    assert isinstance(rebuilt, gs.Problem) and not _update_follows_t_minus_o(rebuilt)


# ---------------------------------------------------------------- bad arguments, optional import


@pytest.mark.parametrize("make,error,match", [
    (lambda: gs.nets(output="tanh"), ValueError, "output"),
    (lambda: gs.nets(hidden=["tanh", 3]), TypeError, "hidden"),
    (lambda: gs.nets(sizes=[3, 1], output="softmax"), ValueError, "sizes"),
    (lambda: gs.nets(dtype="int64"), TypeError, "dtype"),
    (lambda: gs.nets(param_bound=0), ValueError, "param_bound"),
    (lambda: gs.targets(0), ValueError, "K"),
    (lambda: gs.targets(1, output="softmax"), ValueError, "K"),
    (lambda: gs.targets(3, output="identity", loss="ce"), ValueError, "loss='ce'"),
    (lambda: gs.targets(3, smoothing=1.5), ValueError, "smoothing"),
    (lambda: gs.logits(rows=0), ValueError, "rows"),
    (lambda: gs.problems(output="identity", loss="ce"), ValueError, "output='identity', loss='ce'"),
    (lambda: gs.problems(sizes=[2, 1], output="softmax"), ValueError, "softmax"),
    (lambda: gs.inputs("net"), TypeError, "net"),
])
def test_bad_arguments_are_refused_when_the_strategy_is_made(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_import_without_hypothesis_is_a_clear_error():
    code = ("import sys; sys.modules['hypothesis'] = None\n"
            "import gradlab\n"
            "try:\n    import gradlab.strategies\nexcept ImportError as e:\n    print(e)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "gradlab.strategies needs hypothesis" in done.stdout
