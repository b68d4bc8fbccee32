"""Adam, AdamW and Nesterov momentum inside gradlab's kernels, against PyTorch's optimizers.

The same net, data, row order and hyper-parameters go through `gl.train` and through a
float64 PyTorch loop (``torch.optim.Adam`` / ``AdamW`` / ``SGD(nesterov=True)``, weights and
biases in two parameter groups since gradlab penalises weights only); the training loss
after every step and the final parameters must agree to ``TRAJECTORY_RTOL``.

Some trajectories are chaotic: Adam near an exact fit normalises gradients that are mostly
rounding error, so steps of size lr go in directions that the last bits decide, and no two
implementations can agree there (found by hypothesis: a 1-1-1 net fitting one row, where the
two runs part at 1e-8 after 120 steps and at 1e-2 after 200). So each case is also run in
PyTorch from initial parameters nudged by ``NUDGE`` relative (all up, and random signs), and
with its features and hidden units in reverse order (the same trajectory, every sum rounded in
another order at every step, as gradlab's are), and with tanh, sigmoid and softmax by other
formulas (an ulp or two apart at every step, as gradlab's own exp and tanh are): from the first step where one of these runs
has moved away from the reference by more than ``TRAJECTORY_RTOL / 10`` (PyTorch does not
reproduce itself there), less ``MARGIN`` steps, the steps are not compared. The compared prefix is at least ``MIN_COMPARED`` steps in most
cases (checked), and a fixed well-conditioned run is compared over all 200 steps.
"""
import warnings

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gradlab as gl
import gradlab.strategies as gs
from gradlab.training import epoch_orders

from tolerances import TRAJECTORY_RTOL

STEPS = 200
NUDGE = 1e-14  # ~45 ulps: more than one step's rounding differences, far below the tolerance
MIN_COMPARED = 50
MARGIN = 10  # chaotic growth measured at x45 a step (the 4-1 net fitting one row): 10 steps is 1e16
compared = {"adam": [], "sgd": []}  # steps compared per case, to check the test is not vacuous
torch.set_num_threads(1)  # tensors of a few rows: a second thread only waits, and slows runs on a busy machine


def _torch_loss(params, X, T, net, loss, alt=False):
    """gradlab's mean data loss in torch: per row softmax-CE sum_k -t_k log o_k, per-node
    binary CE, or 1/2 ||o - t||^2; the mean over rows. ``alt``: the same functions by other
    formulas (tanh = sinh / cosh, sigmoid = 1 / (1 + e^-z), softmax by logsumexp), which round
    differently by an ulp or two, as gradlab's own exp and tanh do."""
    a = X
    L = net.n_layers
    if alt:
        acts = {"tanh": lambda v: torch.where(v.abs() < 20, torch.sinh(v) / torch.cosh(v), torch.tanh(v)),
                "sigmoid": lambda v: 1 / (1 + torch.exp(-v)),
                "softmax": lambda v: torch.exp(v - torch.logsumexp(v, dim=1, keepdim=True))}
    else:
        acts = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "softmax": lambda v: torch.softmax(v, dim=1)}
    acts.update(relu=torch.relu, identity=lambda v: v)
    for l in range(L):
        z = a @ params[2 * l] + params[2 * l + 1]
        act = net.hidden if l < L - 1 else net.output
        if l < L - 1 or loss == "mse":
            a = acts[act](z)
    if loss == "mse":
        return (0.5 * ((a - T) ** 2).sum(1)).mean()
    if net.output == "softmax":
        log_o = z - torch.logsumexp(z, dim=1, keepdim=True) if alt else torch.log_softmax(z, dim=1)
        return -(T * log_o).sum(1).mean()
    return torch.nn.functional.binary_cross_entropy_with_logits(z, T, reduction="none").sum(1).mean()


def _torch_run(net, X, T, loss, kind, hp, batch, epochs, seed, nudge=0.0, reverse=False, alt=False):
    """(loss on all rows after each step, final flat parameters) of the PyTorch reference,
    started from the net's parameters times (1 + nudge). ``reverse``: the same net with its
    input features and hidden units in reverse order (the same function and trajectory, every
    sum over them rounded in another order); the parameters are returned in the net's order."""
    params = []
    start = net.params * (1.0 + nudge)
    units = [np.arange(s)[::-1] if reverse and l < len(net.sizes) - 1 else np.arange(s)
             for l, s in enumerate(net.sizes)]
    X = X[:, units[0]]
    for l, (w, b) in enumerate(net.layer_slices()):
        W = start[w].reshape(net.sizes[l], net.sizes[l + 1])[units[l]][:, units[l + 1]]
        params.append(torch.tensor(np.ascontiguousarray(W), dtype=torch.float64, requires_grad=True))
        params.append(torch.tensor(start[b][units[l + 1]], dtype=torch.float64, requires_grad=True))
    weights, biases = params[0::2], params[1::2]
    if kind == "adam":  # l2 is coupled (Adam's weight_decay), weight_decay decoupled (AdamW's)
        make = torch.optim.AdamW if hp["weight_decay"] else torch.optim.Adam
        decay = hp["weight_decay"] or hp["l2"]
        opt = make([{"params": weights, "weight_decay": decay}, {"params": biases, "weight_decay": 0.0}],
                   lr=hp["lr"], betas=hp["betas"], eps=hp["eps"])
    else:
        opt = torch.optim.SGD([{"params": weights, "weight_decay": hp["l2"]}, {"params": biases, "weight_decay": 0.0}],
                              lr=hp["lr"], momentum=hp["momentum"], nesterov=hp["nesterov"])
    Xt, Tt = torch.from_numpy(X), torch.from_numpy(T)
    n = X.shape[0]
    order = epoch_orders(np.random.default_rng(seed), n, batch, epochs)
    losses = []
    for e in range(epochs):
        for start in range(0, n, batch):
            rows = torch.from_numpy(order[e, start:start + batch])
            opt.zero_grad()
            _torch_loss(params, Xt[rows], Tt[rows], net, loss, alt).backward()
            opt.step()
            with torch.no_grad():
                losses.append(_torch_loss(params, Xt, Tt, net, loss).item())
    flat = []
    for l in range(len(params) // 2):  # back to the net's order of units
        W, b = np.empty_like(params[2 * l].detach().numpy()), np.empty_like(params[2 * l + 1].detach().numpy())
        W[np.ix_(units[l], units[l + 1])] = params[2 * l].detach().numpy()
        b[units[l + 1]] = params[2 * l + 1].detach().numpy()
        flat += [W.reshape(-1), b]
    return np.array(losses), np.concatenate(flat)


def _hyper(draw, kind):
    if kind == "adam":
        decoupled = draw(st.booleans())
        return dict(lr=draw(st.floats(1e-3, 0.03)),
                    betas=(draw(st.sampled_from([0.0, 0.5, 0.9])), draw(st.sampled_from([0.9, 0.99, 0.999]))),
                    eps=draw(st.sampled_from([1e-8, 1e-6, 1e-3])),
                    l2=0.0 if decoupled else draw(st.sampled_from([0.0, 1e-3, 0.05])),
                    weight_decay=draw(st.sampled_from([1e-3, 0.1])) if decoupled else 0.0)
    return dict(lr=draw(st.floats(1e-3, 0.1)), momentum=draw(st.sampled_from([0.5, 0.9, 0.99])), nesterov=True,
                l2=draw(st.sampled_from([0.0, 1e-3, 0.05])))


@st.composite
def runs(draw, kind):
    problem = draw(gs.problems(max_rows=12, soft=True, max_hidden_layers=2, max_width=6))
    n = problem.X.shape[0]
    batch = draw(st.integers(1, n))
    epochs = -(-STEPS // -(-n // batch))  # at least STEPS steps
    return problem, _hyper(draw, kind), batch, epochs


def _check_against_torch(problem, hp, batch, epochs, kind, seed=3):
    """Compare gl.train with PyTorch over the steps where PyTorch reproduces itself; returns
    how many steps were compared."""
    net, X, T, loss = problem.net, problem.X, problem.T, problem.loss
    ref_losses, ref_params = _torch_run(net, X, T, loss, kind, hp, batch, epochs, seed)
    finite = np.isfinite(ref_losses)
    end = len(ref_losses) if finite.all() else int(np.argmin(finite))  # a run that overflows: up to there
    size = np.abs(ref_losses[:end]).max(initial=0.0)
    spread = np.zeros(end, bool)
    scale = np.abs(ref_params).max()
    params_reproduce = end == len(ref_losses)  # flat directions can move parameters but not the loss
    probes = [dict(nudge=NUDGE), dict(nudge=NUDGE * np.random.default_rng(0).choice([-1.0, 1.0], net.params.size)),
              dict(reverse=True), dict(alt=True)]
    for probe in probes:
        other, other_params = _torch_run(net, X, T, loss, kind, hp, batch, epochs, seed, **probe)
        with np.errstate(invalid="ignore"):
            spread |= ~(np.abs(other[:end] - ref_losses[:end]) <= TRAJECTORY_RTOL / 10 * size)
            params_reproduce &= np.abs(other_params - ref_params).max() <= TRAJECTORY_RTOL / 10 * scale
    # rounding differences grow like the probes', from below them: stop MARGIN steps before they show
    steps = max(0, int(np.argmax(spread)) - MARGIN) if spread.any() else end
    if end < len(ref_losses):
        steps = min(steps, max(0, end - MARGIN))
    args = dict(hp, optimizer=kind) if kind == "adam" else dict(hp)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        hist = gl.train(net, X, T, loss=loss, batch_size=batch, epochs=epochs, seed=seed, record_every=1, **args)
    assert hist.diverged == (end < len(ref_losses))  # gradlab stops where PyTorch's run overflows
    np.testing.assert_allclose(hist.train_loss[1:steps + 1], ref_losses[:steps], rtol=0,
                               atol=TRAJECTORY_RTOL * size)
    if steps == len(ref_losses) and params_reproduce:
        assert np.abs(hist.net.params - ref_params).max() <= TRAJECTORY_RTOL * scale
    return steps


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(runs("adam"))
def test_adam_and_adamw_follow_torch(case):
    problem, hp, batch, epochs = case
    compared["adam"].append(_check_against_torch(problem, hp, batch, epochs, "adam"))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(runs("sgd"))
def test_nesterov_momentum_follows_torch(case):
    problem, hp, batch, epochs = case
    compared["sgd"].append(_check_against_torch(problem, hp, batch, epochs, "sgd"))


@pytest.mark.parametrize("kind", ["adam", "sgd"])
def test_most_drawn_cases_are_compared_over_many_steps(kind):
    """The conditioning filter above must not hollow the comparison out (runs after the
    hypothesis tests of this module)."""
    steps = compared[kind]
    if not steps:
        pytest.skip("run with the hypothesis tests of this module")
    assert np.mean(np.array(steps) >= MIN_COMPARED) >= 0.8, steps


@pytest.mark.parametrize("kind, hp", [
    ("adam", dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, l2=1e-3, weight_decay=0.0)),
    ("adam", dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, l2=0.0, weight_decay=0.01)),
    ("sgd", dict(lr=0.01, momentum=0.9, nesterov=True, l2=1e-3))])
def test_iris_runs_follow_torch_over_all_steps(kind, hp):
    X, y = gl.datasets.iris()
    X = (X - X.mean(0)) / X.std(0)
    problem = gs.Problem(gl.MLP([4, 8, 3], seed=2), X, gl.one_hot(y, 3), "ce")
    assert _check_against_torch(problem, hp, batch=30, epochs=40, kind=kind) == STEPS


def test_adam_first_step_moves_each_parameter_by_lr():
    """Bias correction: after one full-batch step m1 / c1 = g and sqrt(v1) / c2 = |g|, so with
    a tiny eps every parameter with a gradient moves by lr against its sign."""
    X, y = gl.datasets.iris()
    net = gl.MLP([4, 5, 3], seed=0)
    hist = gl.train(net, X, y, optimizer="adam", lr=1e-3, eps=1e-15, batch_size=None, epochs=1)
    g = gl.grad(net, X, y)
    step = hist.net.params - net.params
    moving = np.abs(g) > 1e-9
    np.testing.assert_allclose(step[moving], -1e-3 * np.sign(g[moving]), rtol=1e-9)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_optimizer_settings_are_recorded_and_change_the_run(dtype):
    X, y = np.random.default_rng(0).normal(size=(30, 4)), np.arange(30) % 3
    net = gl.MLP([4, 5, 3], seed=1, dtype=dtype)
    sgd = gl.train(net, X, y, lr=0.01, batch_size=10, epochs=3)
    adam = gl.train(net, X, y, lr=0.01, batch_size=10, epochs=3, optimizer="adam", betas=(0.8, 0.99), eps=1e-7)
    nag = gl.train(net, X, y, lr=0.01, batch_size=10, epochs=3, momentum=0.9, nesterov=True)
    heavy = gl.train(net, X, y, lr=0.01, batch_size=10, epochs=3, momentum=0.9)
    assert adam.settings["optimizer"] == "adam" and adam.settings["betas"] == (0.8, 0.99)
    assert adam.settings["eps"] == 1e-7 and nag.settings["nesterov"] is True
    for a, b in [(sgd, adam), (nag, heavy), (sgd, heavy)]:
        assert not np.array_equal(a.net.params, b.net.params)
    assert np.array_equal(X, np.random.default_rng(0).normal(size=(30, 4)))  # inputs untouched
