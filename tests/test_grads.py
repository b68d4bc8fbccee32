"""Gradients, forward passes, kernels and the MLP container, against independent references:
central finite differences, a naive per-sample NumPy backprop, and NumPy's exp/tanh."""
import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gradlab as gl
from gradlab import _kernels

import naive
import strategies as S
from tolerances import (ACTIVATION32_MAX_ULP, ACTIVATION_MAX_ULP, F32_ATOL, F32_RTOL, FD_FLOOR, FD_RTOL,
                        FD_STEP, KERNEL_RTOL, REDUCTION_RTOL)

COMBOS = [(h, o, l) for h in S.HIDDEN for o in S.OUTPUTS for l in S.losses_for(o)]
COMBO_IDS = [f"{h}-{o}-{l}" for h, o, l in COMBOS]


def scales(spec, X, T):
    """Per-row rounding-error scales (z (n, K), o (n, K), g (n, P)) from the naive reference."""
    zs, os_, gs = zip(*(naive.error_scales(spec.sizes, spec.params, spec.hidden, spec.output,
                                           spec.loss, x, t) for x, t in zip(X, T)))
    return np.array(zs), np.array(os_), np.array(gs)


def assert_within(actual, expected, scale, rtol, what, atol=0.0):
    """|actual - expected| <= rtol * scale + atol, entry by entry, worst entry reported."""
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    assert actual.shape == expected.shape, (what, actual.shape, expected.shape)
    err = np.abs(actual - expected)
    bound = rtol * np.asarray(scale, np.float64) + atol
    bad = ~(err <= bound)
    if bad.any():
        i = np.unravel_index(np.argmax(np.where(bad, err / np.maximum(bound, 1e-300), 0)), err.shape)
        raise AssertionError(f"{what}: {bad.sum()} entries out of tolerance; worst at {i}: "
                             f"got {actual[i]!r}, expected {expected[i]!r}, |diff| {err[i]:.3g} "
                             f"> {rtol:g} * scale {np.asarray(scale)[i]:.3g}")


def fd_relative_errors(G, FD, L, Z):
    """Per row: max_p |G - FD| / max(max_p |FD|, FD_FLOOR * S), S = max(1, |L|, max_k |z_k|).

    Relative to the row's largest FD entry (not entry by entry, which would be meaningless for
    entries that are ~0); the floor is where FD itself stops resolving 1e-6 (see tolerances)."""
    S_ = np.maximum(np.maximum(1.0, np.abs(L)), np.abs(Z).max(axis=1))
    denom = np.maximum(np.abs(FD).max(axis=1), FD_FLOOR * S_)
    return np.abs(G - FD).max(axis=1) / denom


# ---------------------------------------------------------------- gradients vs finite differences


@pytest.mark.parametrize("hidden,output,loss", COMBOS, ids=COMBO_IDS)
@settings(max_examples=12)
@given(data=st.data())
def test_per_sample_grads_match_central_differences(hidden, output, loss, data):
    spec, X, T = data.draw(S.problems(hidden=hidden, output=output, loss=loss))
    S.assume_away_from_relu_kinks(spec, X, h=FD_STEP)
    net = spec.net()
    G = gl.per_sample_grads(net, X, T, loss=loss)

    def losses(theta):
        return gl.sample_losses(gl.MLP.from_params(list(spec.sizes), theta, hidden, output),
                                X, T, loss=loss)

    FD = naive.fd_grad(losses, spec.params, FD_STEP)
    rel = fd_relative_errors(G, FD, losses(spec.params), gl.logits(net, X))
    assert rel.max() < FD_RTOL, (rel, spec)


# ---------------------------------------------------------------- gradients vs the naive backprop


@pytest.mark.parametrize("hidden,output,loss", COMBOS, ids=COMBO_IDS)
@settings(max_examples=12)
@given(data=st.data())
def test_per_sample_grads_match_naive_backprop(hidden, output, loss, data):
    spec, X, T = data.draw(S.problems(hidden=hidden, output=output, loss=loss))
    S.assume_away_from_relu_kinks(spec, X)
    G = gl.per_sample_grads(spec.net(), X, T, loss=loss)
    ref = naive.per_sample_grads(spec.sizes, spec.params, hidden, output, loss, X, T)
    assert_within(G, ref, scales(spec, X, T)[2], KERNEL_RTOL, "per_sample_grads vs naive")


@settings(max_examples=40)
@given(problem=S.problems(max_rows=6))
def test_batch_consistency_of_grads_and_deltas(problem):
    spec, X, T = problem
    net = spec.net()
    G = gl.per_sample_grads(net, X, T, loss=spec.loss)
    assert G.shape == (X.shape[0], net.n_params) and G.dtype == np.float64
    # row n is the gradient of the batch-of-one problem (the same arithmetic, row by row)
    for n in range(X.shape[0]):
        np.testing.assert_array_equal(G[n], gl.grad(net, X[n:n + 1], T[n:n + 1], loss=spec.loss))
    # the batch gradient is the mean of the rows (a different summation order)
    g = gl.grad(net, X, T, loss=spec.loss)
    assert_within(g, G.mean(axis=0), np.abs(G).mean(axis=0), REDUCTION_RTOL, "grad vs mean")
    # mean loss is the mean of the per-sample losses
    L = gl.sample_losses(net, X, T, loss=spec.loss)
    assert gl.loss(net, X, T, loss=spec.loss) == pytest.approx(L.mean(), rel=REDUCTION_RTOL)
    # deltas are -lr times the per-sample gradient, exactly (one multiplication)
    for lr in (0.01, 0.5, 3.0):
        np.testing.assert_array_equal(gl.deltas(net, X, T, loss=spec.loss, lr=lr), -lr * G)


# ---------------------------------------------------------------- forward passes


@settings(max_examples=60)
@given(problem=S.problems(max_rows=5))
def test_forward_and_logits_match_naive(problem):
    spec, X, T = problem
    S.assume_away_from_relu_kinks(spec, X)
    net = spec.net()
    Z, O = naive.forward(spec.sizes, spec.params, spec.hidden, spec.output, X)
    z_scale, o_scale, _ = scales(spec, X, T)
    assert_within(gl.logits(net, X), Z, z_scale, KERNEL_RTOL, "logits")
    assert_within(gl.forward(net, X), O, o_scale, KERNEL_RTOL, "forward")
    L = naive.sample_losses(spec.sizes, spec.params, spec.hidden, spec.output, spec.loss, X, T)
    L_scale = np.maximum(np.maximum(1.0, np.abs(L)), (z_scale + o_scale).max(axis=1))
    assert_within(gl.sample_losses(net, X, T, loss=spec.loss), L, L_scale, KERNEL_RTOL,
                  "sample_losses")


BLOCK_NETS = [([3, 5, 4], "tanh", "softmax", "ce"), ([2, 6, 3, 2], "relu", "sigmoid", "ce"),
              ([4, 3], "identity", "identity", "mse"), ([3, 4, 4, 3], "sigmoid", "softmax", "mse")]


@pytest.mark.parametrize("n", [1, 255, 256, 257, 600])
@pytest.mark.parametrize("sizes,hidden,output,loss", BLOCK_NETS, ids=[b[1] for b in BLOCK_NETS])
def test_row_blocks_give_the_same_as_row_by_row(n, sizes, hidden, output, loss):
    """The kernels work on blocks of 256 rows; every row's result must not depend on which
    block it lands in, nor on the block's length."""
    rng = np.random.default_rng(n)
    net = gl.MLP(sizes, hidden=hidden, output=output, seed=n)
    X = rng.uniform(-3, 3, (n, sizes[0]))
    T = (gl.smooth_labels(gl.one_hot(rng.integers(0, sizes[-1], n), sizes[-1]), 0.1)
         if output == "softmax" else rng.uniform(0, 1, (n, sizes[-1])))
    rows = range(n)
    np.testing.assert_array_equal(gl.logits(net, X), np.vstack([gl.logits(net, X[r:r + 1]) for r in rows]))
    np.testing.assert_array_equal(gl.forward(net, X), np.vstack([gl.forward(net, X[r:r + 1]) for r in rows]))
    np.testing.assert_array_equal(gl.sample_losses(net, X, T, loss),
                                  np.concatenate([gl.sample_losses(net, X[r:r + 1], T[r:r + 1], loss)
                                                  for r in rows]))
    G = gl.per_sample_grads(net, X, T, loss)
    np.testing.assert_array_equal(G, np.vstack([gl.per_sample_grads(net, X[r:r + 1], T[r:r + 1], loss)
                                                for r in rows]))
    assert_within(gl.grad(net, X, T, loss), G.mean(axis=0), np.abs(G).mean(axis=0),
                  REDUCTION_RTOL, "grad vs mean over blocks")


def test_many_rows_match_naive():
    sizes, hidden, output = [3, 5, 4], "tanh", "softmax"
    net = gl.MLP(sizes, hidden=hidden, output=output, seed=3)
    X = np.random.default_rng(0).uniform(-3, 3, (600, 3))
    spec = S.NetSpec(tuple(sizes), hidden, output, "ce", net.params.copy())
    T = np.full((600, 4), 0.25)
    Z, O = naive.forward(sizes, net.params, hidden, output, X)
    z_scale, o_scale, _ = scales(spec, X, T)
    assert_within(gl.logits(net, X), Z, z_scale, KERNEL_RTOL, "logits, 600 rows")
    assert_within(gl.forward(net, X), O, o_scale, KERNEL_RTOL, "forward, 600 rows")


# ---------------------------------------------------------------- float32


@settings(max_examples=40)
@given(problem=S.problems(max_rows=5))
def test_float32_nets_agree_with_float64(problem):
    spec, X, T = problem
    # the same float32-representable numbers in both precisions: only arithmetic differs
    spec = S.NetSpec(spec.sizes, spec.hidden, spec.output, spec.loss,
                     spec.params.astype(np.float32).astype(np.float64))
    X = X.astype(np.float32).astype(np.float64)
    # targets: the float32 rounding of T is within the scale below (which includes |t|); the
    # float64 net gets T itself (see test_float32_targets_work_with_float64_nets for why)
    S.assume_away_from_relu_kinks(spec, X)
    net32, net64 = spec.net(np.float32), spec.net(np.float64)
    assert net32.dtype == np.float32 and net32.params.dtype == np.float32
    X32, T32 = X.astype(np.float32), T.astype(np.float32)
    z_scale, o_scale, g_scale = scales(spec, X, T)
    for f, scale in ((gl.logits, z_scale), (gl.forward, o_scale)):
        r32 = f(net32, X32)
        assert r32.dtype == np.float32
        assert_within(r32, f(net64, X), scale, F32_RTOL, f"float32 {f.__name__}", F32_ATOL)
    # an output at float32's floor (F32_ATOL) is off by up to F32_ATOL; a gradient gets that
    # error times an activation and the weights it is back-propagated through
    acts = [np.concatenate(naive.forward_sample(spec.sizes, spec.params, spec.hidden, spec.output, x)[1])
            for x in X]
    weights = [W for W, _ in naive.unpack(spec.sizes, spec.params)]
    spread = np.prod([max(1.0, np.abs(W).sum(axis=1).max()) for W in weights])
    g_atol = F32_ATOL * spread * np.maximum(1.0, np.abs(np.array(acts)).max(axis=1))[:, None]
    G32 = gl.per_sample_grads(net32, X32, T32, loss=spec.loss)
    assert G32.dtype == np.float32
    assert_within(G32, gl.per_sample_grads(net64, X, T, loss=spec.loss), g_scale, F32_RTOL,
                  "float32 per_sample_grads", g_atol)
    g32 = gl.grad(net32, X32, T32, loss=spec.loss)
    assert g32.dtype == np.float32
    assert_within(g32, gl.grad(net64, X, T, loss=spec.loss), g_scale.mean(axis=0), F32_RTOL,
                  "float32 grad", g_atol.max())
    assert gl.deltas(net32, X32, T32, loss=spec.loss).dtype == np.float32
    assert gl.sample_losses(net32, X32, T32, loss=spec.loss).dtype == np.float32


@pytest.mark.parametrize("a", [0.0, 0.1, 0.5, 1.0])
def test_float32_targets_work_with_float64_nets(a):
    """Targets built by gradlab itself in float32 (one_hot(..., float32), smooth_labels) are
    valid softmax-CE targets for a float64 net: their rows sum to 1 to float32 rounding."""
    T32 = gl.smooth_labels(gl.one_hot(np.array([0, 1, 2, 1]), 3, dtype=np.float32), a)
    assert T32.dtype == np.float32
    net = gl.MLP([2, 4, 3], seed=0)
    X = np.linspace(-1, 1, 8).reshape(4, 2)
    T64 = gl.smooth_labels(gl.one_hot(np.array([0, 1, 2, 1]), 3), a)
    g64 = gl.grad(net, X, T64)
    g = gl.grad(net, X, T32)  # must not be refused
    # the targets differ by float32 rounding (<= EPS32 / 2), and |dg/dt| <= max |h| <= 1 here,
    # so the gradients agree to float32 tolerance on a scale of 1
    np.testing.assert_allclose(g, g64, rtol=0, atol=F32_RTOL)


# ---------------------------------------------------------------- _exp and _tanh


@numba.njit  # no cache: numba would not notice edits to _kernels._exp/_tanh
def _apply_tanh(x, out):
    for i in range(x.shape[0]):
        out[i] = _kernels._tanh(x[i])


@numba.njit  # no cache: numba would not notice edits to _kernels._exp/_tanh
def _apply_exp(x, out):
    for i in range(x.shape[0]):
        out[i] = _kernels._exp(x[i])


def _apply(f, x):
    out = np.empty_like(x)
    f(x, out)
    return out


def ulp_errors(got, ref):
    """|got - ref| in units of the spacing of float64 at ref (exact matches, incl. 0, give 0)."""
    err = np.abs(got - ref)
    return np.where(err == 0, 0.0, err / np.spacing(np.abs(ref)))


def _edges(*values):
    v = np.array(values, np.float64)
    near = np.concatenate([np.nextafter(v, np.inf), np.nextafter(v, -np.inf)])
    out = np.concatenate([v, -v, near, -near])
    return out[np.isfinite(out)]


TANH_GRID = np.concatenate([np.linspace(-25, 25, 400_001), np.linspace(-1, 1, 100_001),
                            np.geomspace(1e-300, 1e3, 20_001), -np.geomspace(1e-300, 1e3, 20_001),
                            _edges(0.0, 1e-300, 5e-324, 0.625, 1.0, 20.0, 19.0, 21.0, 354.0, 710.0,
                                   1e300)])
EXP_GRID = np.concatenate([np.linspace(-708, 709, 400_001), np.linspace(-1, 1, 100_001),
                           np.log(2) * (np.arange(-1021, 1023) + 0.5),  # worst reduction |r|
                           _edges(0.0, 1e-300, 5e-324, 0.625, 0.34657359027997264, 1.0, 20.0,
                                  708.0, 700.0)])
EXP_GRID = EXP_GRID[(EXP_GRID >= -708.0) & (EXP_GRID <= 709.0)]


def test_tanh_within_2_ulp_of_numpy():
    got = _apply(_apply_tanh, TANH_GRID)
    err = ulp_errors(got, np.tanh(TANH_GRID))
    worst = int(np.argmax(err))
    assert err.max() <= ACTIVATION_MAX_ULP, (
        f"_tanh({TANH_GRID[worst]!r}) = {got[worst]!r}, np.tanh = {np.tanh(TANH_GRID[worst])!r}: "
        f"{err.max()} ulp")


def test_tanh_special_values():
    x = np.array([0.0, -0.0, 1e-300, -1e-300, 5e-324, 20.0, -20.0, 710.0, -710.0, np.inf, -np.inf,
                  np.nan])
    got = _apply(_apply_tanh, x)
    np.testing.assert_array_equal(got[:5], x[:5])  # tanh(x) = x to the last bit for tiny x
    assert np.signbit(got[1]) and not np.signbit(got[0])
    np.testing.assert_array_equal(got[5:11], [1.0, -1.0, 1.0, -1.0, 1.0, -1.0])
    assert np.isnan(got[11])


def test_exp_within_2_ulp_of_numpy():
    got = _apply(_apply_exp, EXP_GRID)
    err = ulp_errors(got, np.exp(EXP_GRID))
    worst = int(np.argmax(err))
    assert err.max() <= ACTIVATION_MAX_ULP, (
        f"_exp({EXP_GRID[worst]!r}) = {got[worst]!r}, np.exp = {np.exp(EXP_GRID[worst])!r}: "
        f"{err.max()} ulp ({(err > ACTIVATION_MAX_ULP).sum()} of {err.size} grid points > "
        f"{ACTIVATION_MAX_ULP} ulp)")


def test_exp_special_values_and_documented_clamp():
    x = np.array([0.0, -0.0, 1e-300, -1e-300, np.nan])
    got = _apply(_apply_exp, x)
    np.testing.assert_array_equal(got[:4], 1.0)
    assert np.isnan(got[4])
    # documented: x is clamped to [-708, 709], so results stay normal and finite
    hi, lo = _apply(_apply_exp, np.array([709.0, -708.0]))
    got = _apply(_apply_exp, np.array([710.0, 1e10, np.inf, -710.0, -1e10, -np.inf]))
    np.testing.assert_array_equal(got, [hi, hi, hi, lo, lo, lo])
    assert np.isfinite(hi) and lo >= np.finfo(np.float64).tiny


def _every_float32(lo, hi, step=1):
    """Every ``step``-th float32 in [lo, hi) (positive bounds), and their negatives."""
    bits = np.arange(np.float32(lo).view(np.int32), np.float32(hi).view(np.int32), step, dtype=np.int32)
    x = bits.view(np.float32)
    return np.concatenate([x, -x])


# about 16 million points, both signs (the bounds in tolerances.py were measured on denser grids)
FLOAT32_GRID = np.concatenate([_every_float32(0.25, 4.0, 17), _every_float32(4.0, 11.0, 9),
                               _every_float32(1e-6, 0.25, 41), _every_float32(11.0, 88.0, 23)])


def float32_ulp_errors(got, exact):
    """|got - exact| in units of the float32 spacing at ``exact`` (a float64 reference)."""
    err = np.abs(got.astype(np.float64) - exact)
    return np.where(err == 0, 0.0, err / np.spacing(np.abs(exact).astype(np.float32)).astype(np.float64))


@pytest.mark.parametrize("name", ["tanh", "exp"])
def test_float32_tanh_and_exp_within_2_ulp(name):
    """float32 nets compute exp and tanh in float32 (`_exp32`, `_tanh32`): within 2 float32 ulp
    of the exact value (float64's error, ~1e-16 relative, is 1e-9 of a float32 ulp)."""
    x = FLOAT32_GRID if name == "tanh" else FLOAT32_GRID[(FLOAT32_GRID >= -87) & (FLOAT32_GRID <= 88)]
    got = _apply(_apply_tanh if name == "tanh" else _apply_exp, x)
    assert got.dtype == np.float32
    exact = (np.tanh if name == "tanh" else np.exp)(x.astype(np.float64))
    err = float32_ulp_errors(got, exact)
    worst = int(np.argmax(err))
    assert err.max() <= ACTIVATION32_MAX_ULP, f"_{name}({x[worst]!r}) = {got[worst]!r}, exact {exact[worst]!r}: {err.max()} ulp"


def test_float32_tanh_and_exp_special_values():
    x = np.array([0.0, -0.0, 1e-30, -1e-45, 10.0, -10.0, 1e30, np.inf, -np.inf, np.nan], np.float32)
    got = _apply(_apply_tanh, x)
    np.testing.assert_array_equal(got[:4], x[:4])
    assert np.signbit(got[1]) and not np.signbit(got[0])
    np.testing.assert_array_equal(got[4:9], np.float32([1, -1, 1, 1, -1]))
    assert np.isnan(got[9])
    # clamped to [-87, 88], as _exp64 to [-708, 709]: results stay normal and finite
    hi, lo = _apply(_apply_exp, np.float32([88.0, -87.0]))
    got = _apply(_apply_exp, np.float32([89.0, 1e30, np.inf, -88.0, -1e30, -np.inf, 0.0, -0.0, np.nan]))
    np.testing.assert_array_equal(got[:8], np.float32([hi, hi, hi, lo, lo, lo, 1, 1]))
    assert np.isnan(got[8])
    assert np.isfinite(hi) and lo >= np.finfo(np.float32).tiny


# ---------------------------------------------------------------- MLP


@settings(max_examples=40)
@given(spec=S.net_specs())
def test_params_layout_and_views(spec):
    net = spec.net()
    assert net.n_params == naive.n_params(spec.sizes) == net.params.size
    assert net.n_layers == len(spec.sizes) - 1
    layers = naive.unpack(spec.sizes, spec.params)  # element by element, documented order
    assert len(net.weights) == len(net.biases) == len(layers)
    for l, (W, b) in enumerate(layers):
        assert net.weights[l].shape == W.shape and net.biases[l].shape == b.shape
        np.testing.assert_array_equal(net.weights[l], W)
        np.testing.assert_array_equal(net.biases[l], b)
        assert np.shares_memory(net.weights[l], net.params)
        assert np.shares_memory(net.biases[l], net.params)
    mask = net.weight_mask()
    assert mask.sum() == sum(W.size for W, _ in layers)
    # writing through the views changes params at the documented positions, and the net
    x0 = np.zeros((1, spec.sizes[0]))
    before = gl.logits(net, x0)
    net.biases[-1][0] += 1.0
    net.weights[0][-1, -1] = 7.0
    assert net.params[spec.sizes[0] * spec.sizes[1] - 1] == 7.0
    assert net.params[-spec.K] == spec.params[-spec.K] + 1.0
    after = gl.logits(net, x0)
    # x = 0: the weight write has no effect there, the bias of output 0 shifts its logit by 1
    assert abs(after[0, 0] - (before[0, 0] + 1.0)) <= KERNEL_RTOL * (2.0 + abs(before[0, 0]))
    np.testing.assert_array_equal(after[0, 1:], before[0, 1:])


def test_from_params_copies_and_keeps_dtype():
    p = np.linspace(-1, 1, 23)
    net = gl.MLP.from_params([4, 3, 2], p, hidden="tanh", output="softmax")
    assert net.n_params == 23 and net.params.dtype == np.float64
    assert not np.shares_memory(net.params, p)
    X = np.ones((2, 4))
    before = gl.forward(net, X)
    p[:] = 0.0
    np.testing.assert_array_equal(gl.forward(net, X), before)
    net32 = gl.MLP.from_params([4, 3, 2], p.astype(np.float32))
    assert net32.dtype == np.float32 and net32.params.dtype == np.float32
    c = net.copy()
    assert not np.shares_memory(c.params, net.params)
    np.testing.assert_array_equal(c.params, net.params)
    c.params[0] += 1
    assert c.params[0] != net.params[0]


@pytest.mark.parametrize("hidden", S.HIDDEN)
def test_seed_determinism_and_initialisation(hidden):
    sizes = [5, 7, 4, 3]
    a = gl.MLP(sizes, hidden=hidden, seed=11)
    b = gl.MLP(sizes, hidden=hidden, seed=11)
    c = gl.MLP(sizes, hidden=hidden, seed=12)
    np.testing.assert_array_equal(a.params, b.params)
    assert not np.array_equal(a.params, c.params)
    f32 = gl.MLP(sizes, hidden=hidden, seed=11, dtype=np.float32)
    assert f32.dtype == np.float32 and f32.params.dtype == np.float32
    assert a.dtype == np.float64 and a.params.dtype == np.float64
    np.testing.assert_array_equal(f32.params, a.params.astype(np.float32))  # drawn in float64, cast
    for l, (fi, fo) in enumerate(zip(sizes[:-1], sizes[1:])):
        limit = np.sqrt(6.0 / (fi if hidden == "relu" else fi + fo))
        W = a.weights[l]
        # uniform on +-limit: all inside, and (>= 12 draws) not all in the inner half
        assert np.all(np.abs(W) <= limit) and np.abs(W).max() > 0.5 * limit
        np.testing.assert_array_equal(a.biases[l], 0.0)


def test_no_hidden_layer_net():
    net = gl.MLP([4, 3], hidden="tanh", output="softmax", seed=0)
    assert net.n_params == 15 and net.n_layers == 1
    X = np.random.default_rng(1).uniform(-3, 3, (7, 4))
    T = gl.one_hot(np.array([0, 1, 2, 0, 1, 2, 0]), 3)
    spec = S.NetSpec((4, 3), "tanh", "softmax", "ce", net.params.copy())
    _, o_scale, g_scale = scales(spec, X, T)
    O = np.array([naive.softmax(x @ net.weights[0] + net.biases[0]) for x in X])
    assert_within(gl.forward(net, X), O, o_scale, KERNEL_RTOL, "[4, 3] forward")
    # no hidden layer: dW = x outer (o - t), db = o - t
    ref_G = np.array([np.concatenate([np.outer(x, o - t).ravel(), o - t]) for x, o, t in zip(X, O, T)])
    assert_within(gl.per_sample_grads(net, X, T), ref_G, g_scale, KERNEL_RTOL, "[4, 3] gradients")


# ---------------------------------------------------------------- nothing the caller passes changes


def _public_calls(net, X, T, z, Tz):
    yield "forward", lambda: gl.forward(net, X)
    yield "logits", lambda: gl.logits(net, X)
    yield "sample_losses", lambda: gl.sample_losses(net, X, T)
    yield "loss", lambda: gl.loss(net, X, T)
    yield "per_sample_grads", lambda: gl.per_sample_grads(net, X, T)
    yield "grad", lambda: gl.grad(net, X, T)
    yield "deltas", lambda: gl.deltas(net, X, T, lr=0.1)
    yield "grad mse", lambda: gl.grad(net, X, T, loss="mse")
    yield "grad diagonal", lambda: gl.grad(net, X, T, loss="mse", variant="diagonal")
    yield "error_term", lambda: gl.error_term(z, Tz)
    yield "error_term mse", lambda: gl.error_term(z, Tz, loss="mse")
    yield "smooth_labels", lambda: gl.smooth_labels(Tz, 0.3)
    yield "smooth_labels off_class", lambda: gl.smooth_labels(Tz, 0.3, variant="off_class")
    yield "one_hot", lambda: gl.one_hot(np.array([0, 2, 1]), 3)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("readonly", [False, True], ids=["writable", "readonly"])
def test_public_functions_modify_nothing(dtype, readonly):
    rng = np.random.default_rng(5)
    net = gl.MLP([3, 4, 3], hidden="tanh", output="softmax", seed=2, dtype=dtype)
    X = rng.uniform(-3, 3, (6, 3))  # float64 into a float32 net: converted, not written
    T = gl.smooth_labels(gl.one_hot(rng.integers(0, 3, 6), 3), 0.2)
    z = rng.normal(size=(5, 3)).astype(dtype)
    Tz = gl.smooth_labels(gl.one_hot(rng.integers(0, 3, 5), 3), 0.1).astype(dtype)
    arrays = {"X": X, "T": T, "z": z, "Tz": Tz, "params": net.params}
    if readonly:
        for a in arrays.values():
            a.setflags(write=False)
    snapshot = {k: (a.copy(), a.dtype, a.shape, a.strides) for k, a in arrays.items()}
    for name, call in _public_calls(net, X, T, z, Tz):
        result = call()
        for k, a in arrays.items():
            copy, dt, shape, strides = snapshot[k]
            assert (a.dtype, a.shape, a.strides) == (dt, shape, strides), (name, k)
            np.testing.assert_array_equal(a, copy, err_msg=f"{name} modified {k}")
            if isinstance(result, np.ndarray):
                assert not np.shares_memory(result, a), f"{name} returned a view of {k}"


@pytest.mark.parametrize("output", ["softmax", "sigmoid"])
def test_small_ce_losses_keep_their_relative_accuracy(output):
    """Confident, correct predictions have losses far below 1; computing them as a difference
    of O(z) numbers would lose every digit (e.g. logsumexp(z) - z_true). Two classes / one
    node have the exact form log1p(exp(-gap))."""
    gap = np.linspace(0.0, 35.0, 701)
    if output == "softmax":
        z, T = np.stack([gap, np.zeros_like(gap)], axis=1), np.tile([1.0, 0.0], (gap.size, 1))
    else:
        z, T = gap[:, None], np.ones((gap.size, 1))
    exact = np.log1p(np.exp(-gap))
    got = gl.logit_losses(z, T, "ce", output)
    assert np.max(np.abs(got - exact) / exact) <= 8 * np.finfo(float).eps
