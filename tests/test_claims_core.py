"""Claims C1-C5 (see CLAIMS.md) as property tests on formulas.

C1 softmax-CE error term is o - t; C2 MSE error terms, their linearity, zeros and signs (and the
softmax-MSE sign counterexample); C3 label smoothing; C4 LS acts only through the target;
C5 the worked example and the sign flip of the true-class update at o = t'.
"""
import numpy as np
import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import gradlab as gl

import naive
import strategies as S
from tolerances import (FD_FLOOR, FD_STEP, FD_Z_RTOL, FORMULA_RTOL, KERNEL_RTOL,
                        LOWER_BOUND_MIN, MATERIAL_DIFFERENCE, ROW_SUM_ATOL, SIGN_MARGIN,
                        SMOOTH_ATOL, SMOOTH_ATOL_F32, WORKED_EXAMPLE_ATOL)

OUTPUT_LOSS = [("softmax", "ce"), ("sigmoid", "ce"), ("softmax", "mse"), ("sigmoid", "mse"),
               ("identity", "mse")]


def outputs_of(z, output):
    return np.array([naive.activate(output, row) for row in z])


def fd_wrt_logits(z, T, loss, output):
    """Central differences of the naive per-sample loss w.r.t. every logit, (n, K)."""
    return np.array([naive.fd_grad(lambda v, t=t: naive.loss_from_logits(v, t, loss, output), row,
                                   FD_STEP) for row, t in zip(z, T)])


def assert_matches_fd(D, z, T, loss, output):
    FD = fd_wrt_logits(z, T, loss, output)
    L = np.array([naive.loss_from_logits(row, t, loss, output) for row, t in zip(z, T)])
    S_ = np.maximum(np.maximum(1.0, np.abs(L)), np.abs(z).max(axis=1))
    rel = np.abs(D - FD).max(axis=1) / np.maximum(np.abs(FD).max(axis=1), FD_FLOOR * S_)
    assert rel.max() < FD_Z_RTOL, (rel, D, FD)


def kernel_outputs(z, output):
    """The library's own outputs act(z): a [K, K] net with identity weights and zero biases
    reproduces z exactly as its logits (0 + 1 * z_k + 0 * z_m), so forward gives act(z)."""
    K = z.shape[1]
    params = np.concatenate([np.eye(K).ravel(), np.zeros(K)])
    net = gl.MLP.from_params([K, K], params, hidden="identity", output=output)
    np.testing.assert_array_equal(gl.logits(net, z), z)
    return gl.forward(net, z)


# ---------------------------------------------------------------- C1


@settings(max_examples=100)
@given(zt=S.logits_and_targets("softmax", "ce"))
def test_c1_softmax_ce_error_term_is_o_minus_t(zt):
    z, T = zt
    D = gl.error_term(z, T, loss="ce", output="softmax")
    O = outputs_of(z, "softmax")
    scale = np.abs(O) + np.abs(T)
    assert np.all(np.abs(D - (O - T)) <= FORMULA_RTOL * scale), (D, O - T)


@settings(max_examples=60)
@given(zt=S.logits_and_targets("softmax", "ce"))
def test_c1_softmax_ce_error_term_is_the_gradient(zt):
    """Independent of the formula: central differences of -sum t log softmax(z)."""
    z, T = zt
    assert_matches_fd(gl.error_term(z, T, loss="ce", output="softmax"), z, T, "ce", "softmax")


# ---------------------------------------------------------------- C2 (and CE for sigmoid)


@pytest.mark.parametrize("output,loss", OUTPUT_LOSS)
@settings(max_examples=40)
@given(data=st.data())
def test_c2_error_term_is_the_gradient(output, loss, data):
    z, T = data.draw(S.logits_and_targets(output, loss))
    assert_matches_fd(gl.error_term(z, T, loss=loss, output=output), z, T, loss, output)


@pytest.mark.parametrize("output", ["softmax", "sigmoid", "identity"])
@settings(max_examples=60)
@given(data=st.data())
def test_c2_mse_error_term_is_linear_in_o_minus_t(output, data):
    z, T1 = data.draw(S.logits_and_targets(output, "mse"))
    T2 = S.targets_for(data.draw, z.shape[0], z.shape[1], output, "mse")
    a = data.draw(S.floats(0.0, 1.0))
    c = data.draw(S.floats(-2.0, 2.0))
    d1 = gl.error_term(z, T1, loss="mse", output=output)
    d2 = gl.error_term(z, T2, loss="mse", output=output)
    O = outputs_of(z, output)
    scale = (np.abs(O) + np.abs(T1) + np.abs(T2)).max(axis=1, keepdims=True)
    # additivity: delta(z, a T1 + (1 - a) T2) = a delta(z, T1) + (1 - a) delta(z, T2)
    dm = gl.error_term(z, a * T1 + (1 - a) * T2, loss="mse", output=output)
    assert np.all(np.abs(dm - (a * d1 + (1 - a) * d2)) <= FORMULA_RTOL * scale)
    # homogeneity in e = o - t: the target o - c (o - t) gives c times the error term
    dc = gl.error_term(z, O - c * (O - T1), loss="mse", output=output)
    assert np.all(np.abs(dc - c * d1) <= FORMULA_RTOL * (1 + abs(c)) * scale)


@pytest.mark.parametrize("output", ["softmax", "sigmoid", "identity"])
@settings(max_examples=60)
@given(data=st.data())
def test_c2_mse_error_term_is_zero_exactly_when_o_equals_t(output, data):
    z, T = data.draw(S.logits_and_targets(output, "mse"))
    O = kernel_outputs(z, output)
    np.testing.assert_array_equal(gl.error_term(z, O, loss="mse", output=output), 0.0)
    # ... and only then: |delta| >= m |o - t| with m the smallest slope of the output map on
    # the relevant subspace (softmax: targets summing to 1; J = Cov_o, so m = min_k o_k)
    D = gl.error_term(z, T, loss="mse", output=output)
    On = outputs_of(z, output)
    e = np.linalg.norm(On - T, axis=1)
    if output == "softmax":
        m = On.min(axis=1)
    elif output == "sigmoid":
        m = (On * (1 - On)).min(axis=1)
    else:
        m = np.ones(len(z))
    bound = m * e
    big = bound > LOWER_BOUND_MIN  # far above the rounding of delta
    assert np.all(np.linalg.norm(D, axis=1)[big] >= 0.5 * bound[big])


@settings(max_examples=60)
@given(zt=S.logits_and_targets("softmax", "mse"), c=S.floats(-1.0, 1.0).filter(lambda c: c != 0))
def test_c2_softmax_mse_zero_needs_targets_summing_to_1(zt, c):
    """The condition matters: J^T 1 = 0, so a target o + c (not summing to 1) also gives 0."""
    z, _ = zt
    O = kernel_outputs(z, "softmax")
    D = gl.error_term(z, O + c, loss="mse", output="softmax")
    assert np.all(np.abs(D) <= FORMULA_RTOL * (1 + abs(c)))


SIGN_CASES = [("softmax", "ce"), ("sigmoid", "ce"), ("identity", "mse"), ("sigmoid", "mse")]


@pytest.mark.parametrize("output,loss", SIGN_CASES)
@settings(max_examples=80)
@given(data=st.data())
def test_c2_sign_of_delta_is_sign_of_o_minus_t(output, loss, data):
    z, T = data.draw(S.logits_and_targets(output, loss))
    D = gl.error_term(z, T, loss=loss, output=output)
    E = outputs_of(z, output) - T
    clear = np.abs(E) > SIGN_MARGIN
    assert np.array_equal(np.sign(D[clear]), np.sign(E[clear])), (z, T, D, E)


def _softmax_mse_sign_violation(zt):
    z, T = zt
    D = gl.error_term(z, T, loss="mse", output="softmax")
    E = outputs_of(z, "softmax") - T
    # clearly nonzero on both sides, so the disagreement is not a rounding accident
    clear = (np.abs(E) > SIGN_MARGIN) & (np.abs(D) > SIGN_MARGIN)
    return bool(np.any(clear & (np.sign(D) != np.sign(E))))


def test_c2_softmax_mse_sign_counterexample_is_found():
    """For exact softmax-MSE the sign of delta_k need NOT follow o_k - t_k: hypothesis finds
    a counterexample (the claims report shows one)."""
    zt = find(S.logits_and_targets("softmax", "mse", max_rows=1, min_K=3),
              _softmax_mse_sign_violation,
              settings=settings(max_examples=2000, database=None, derandomize=True))
    z, T = zt
    D = gl.error_term(z, T, loss="mse", output="softmax")
    O = outputs_of(z, "softmax")
    print(f"softmax-MSE sign counterexample: z={z.tolist()} o={O.tolist()} t={T.tolist()} "
          f"delta={D.tolist()} o-t={(O - T).tolist()}")
    assert _softmax_mse_sign_violation(zt)


def test_c2_documented_softmax_mse_counterexample():
    """CLAIMS.md (1-based indices): o = (0.01, 0.01, 0.98), t = (1, 0, 0) gives delta_2 < 0
    while o_2 - t_2 = 0.01 > 0. With s = sum_m (o_m - t_m) o_m = 0.9506,
    delta_2 = o_2 (o_2 - t_2 - s) = 0.01 (0.01 - 0.9506) = -0.009406."""
    o = np.array([[0.01, 0.01, 0.98]])
    t = np.array([[1.0, 0.0, 0.0]])
    z = np.log(o)
    D = gl.error_term(z, t, loss="mse", output="softmax")
    k = 1  # delta_2 in the 1-based notation of CLAIMS.md
    assert o[0, k] - t[0, k] > 0
    assert D[0, k] < 0
    np.testing.assert_allclose(D[0, k], -0.009406, rtol=0, atol=FORMULA_RTOL)
    # closed form: s = sum_m (o_m - t_m) o_m, delta_k = o_k ((o_k - t_k) - s)
    s = ((o - t) * o).sum()
    np.testing.assert_allclose(D, o * ((o - t) - s), rtol=0, atol=FORMULA_RTOL)
    # the other two components keep the sign of o - t
    assert np.sign(D[0, 0]) == np.sign(o[0, 0] - t[0, 0]) and np.sign(D[0, 2]) == np.sign(o[0, 2] - t[0, 2])
    # the diagonal shortcut keeps the sign of o - t here: it is not the gradient
    Dd = gl.error_term(z, t, loss="mse", output="softmax", variant="diagonal")
    assert Dd[0, k] > 0
    assert np.abs(Dd - D).max() > MATERIAL_DIFFERENCE


@settings(max_examples=100)
@given(zt=S.logits_and_targets("softmax", "mse"))
def test_c2_diagonal_variant_differs_from_exact_by_its_closed_form(zt):
    """diag_k - exact_k = (o_k - t_k) o_k (1 - o_k) - o_k ((o_k - t_k) - s)
                        = o_k (s - (o_k - t_k) o_k) = o_k sum_{m != k} (o_m - t_m) o_m."""
    z, T = zt
    exact = gl.error_term(z, T, loss="mse", output="softmax")
    diag = gl.error_term(z, T, loss="mse", output="softmax", variant="diagonal")
    O = outputs_of(z, "softmax")
    W = (O - T) * O
    closed = O * (W.sum(axis=1, keepdims=True) - W)
    np.testing.assert_allclose(diag - exact, closed, rtol=0, atol=FORMULA_RTOL)
    # the shortcut equals the plain element-wise formula
    np.testing.assert_allclose(diag, (O - T) * O * (1 - O), rtol=0, atol=FORMULA_RTOL)


def test_c2_diagonal_variant_differs_in_general():
    z, T = find(S.logits_and_targets("softmax", "mse", max_rows=1, min_K=2),
                lambda zt: np.abs(gl.error_term(*zt, loss="mse", output="softmax", variant="diagonal")
                                  - gl.error_term(*zt, loss="mse", output="softmax")).max()
                > MATERIAL_DIFFERENCE,
                settings=settings(max_examples=500, database=None, derandomize=True))
    diff = (gl.error_term(z, T, loss="mse", output="softmax", variant="diagonal")
            - gl.error_term(z, T, loss="mse", output="softmax"))
    print(f"diagonal - exact softmax-MSE error term at z={z.tolist()}, t={T.tolist()}: {diff.tolist()}")
    assert np.abs(diff).max() > MATERIAL_DIFFERENCE


# ---------------------------------------------------------------- C3


@st.composite
def simplex_targets(draw, max_rows=5, max_K=10):
    K = draw(st.integers(2, max_K))
    n = draw(st.integers(1, max_rows))
    return S.simplex_rows(draw, n, K)


@settings(max_examples=50)
@given(t=st.lists(S.floats(0.0, 1.0), min_size=1, max_size=6), a=S.floats(0.0, 1.0))
def test_c3_single_column_is_a_binary_target(t, a):
    """One column is one class's probability (a sigmoid output): smoothed as K = 2."""
    T = np.array(t)[:, None]
    for variant in ("uniform", "off_class"):
        out = gl.smooth_labels(T, a, variant=variant)
        np.testing.assert_allclose(out, (1 - a) * T + a / 2, rtol=0, atol=SMOOTH_ATOL)
    np.testing.assert_allclose(gl.smooth_labels(np.array([[1.0], [0.0]]), 0.2), [[0.9], [0.1]],
                               rtol=0, atol=SMOOTH_ATOL)


@settings(max_examples=100)
@given(T=simplex_targets(), a=S.floats(0.0, 1.0))
def test_c3_smooth_labels_formula(T, a):
    K = T.shape[1]
    before = T.copy()
    out = gl.smooth_labels(T, a)
    np.testing.assert_array_equal(T, before)
    assert out.shape == T.shape and out.dtype == np.float64
    assert not np.shares_memory(out, T)
    np.testing.assert_allclose(out, (1 - a) * T + a / K, rtol=0, atol=SMOOTH_ATOL)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=0, atol=ROW_SUM_ATOL)
    assert np.all(out >= 0) and np.all(out <= 1 + SMOOTH_ATOL)


@settings(max_examples=100)
@given(T=simplex_targets().filter(lambda T: T.shape[1] >= 2), a=S.floats(0.0, 1.0))
def test_c3_off_class_variant(T, a):
    K = T.shape[1]
    out = gl.smooth_labels(T, a, variant="off_class")
    np.testing.assert_allclose(out, (1 - a) * T + a * (1 - T) / (K - 1), rtol=0, atol=SMOOTH_ATOL)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=0, atol=ROW_SUM_ATOL)
    # on one-hot rows: 1 - a on the class, a / (K - 1) elsewhere
    y = np.arange(K) % K
    oh = gl.smooth_labels(gl.one_hot(y, K), a, variant="off_class")
    expected = np.where(np.eye(K) == 1, 1 - a, a / (K - 1))
    np.testing.assert_allclose(oh, expected, rtol=0, atol=SMOOTH_ATOL)
    # the default is the uniform variant, not off_class
    if 0 < a and K > 2:  # off-class entries: a / K, not a / (K - 1)
        assert not np.array_equal(gl.smooth_labels(gl.one_hot(y, K), a), oh)


def test_c3_two_classes_a_02_is_09_01():
    out = gl.smooth_labels(gl.one_hot(np.array([0, 1, 1]), 2), 0.2)
    np.testing.assert_allclose(out, [[0.9, 0.1], [0.1, 0.9], [0.1, 0.9]], rtol=0, atol=SMOOTH_ATOL)


@settings(max_examples=40)
@given(T=simplex_targets())
def test_c3_a_zero_is_the_identity_and_float32_stays_float32(T):
    np.testing.assert_array_equal(gl.smooth_labels(T, 0.0), T)
    T32 = T.astype(np.float32)
    out = gl.smooth_labels(T32, 0.25)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, 0.75 * T + 0.25 / T.shape[1], rtol=0, atol=SMOOTH_ATOL_F32)
    if T.shape[1] >= 2:
        assert gl.smooth_labels(T32, 0.25, variant="off_class").dtype == np.float32


# ---------------------------------------------------------------- C4


@pytest.mark.parametrize("output,loss", OUTPUT_LOSS)
@settings(max_examples=25)
@given(data=st.data())
def test_c4_smoothing_enters_only_through_the_target(output, loss, data):
    """grad(t') = (1 - a) grad(t) + a grad(uniform): the gradient is affine in the target
    (CE: delta = o sum(t) - t; MSE: delta = J^T (o - t)), the data is not touched."""
    spec, X, T = data.draw(S.problems(output=output, loss=loss))
    a = data.draw(S.floats(0.0, 1.0))
    net = spec.net()
    K = spec.K
    U = np.full_like(T, 1.0 / max(K, 2))  # one column is a binary target: uniform is 1/2
    X0, T0 = X.copy(), T.copy()
    Ts = gl.smooth_labels(T, a)
    np.testing.assert_array_equal(T, T0)
    G_s = gl.per_sample_grads(net, X, Ts, loss=loss)
    G_t = gl.per_sample_grads(net, X, T, loss=loss)
    G_u = gl.per_sample_grads(net, X, U, loss=loss)
    # rounding scale of the combination: the sum of the three gradients' scales
    scale = sum(np.array([naive.error_scales(spec.sizes, spec.params, spec.hidden, spec.output,
                                             loss, x, t)[2] for x, t in zip(X, targets)])
                for targets in (T, Ts, U))
    assert np.all(np.abs(G_s - ((1 - a) * G_t + a * G_u)) <= KERNEL_RTOL * scale)
    g_s = gl.grad(net, X, Ts, loss=loss)
    g_combo = (1 - a) * gl.grad(net, X, T, loss=loss) + a * gl.grad(net, X, U, loss=loss)
    assert np.all(np.abs(g_s - g_combo) <= KERNEL_RTOL * scale.mean(axis=0))
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(T, T0)


# ---------------------------------------------------------------- C5

WORKED = [(1.0, 0.75, +0.0025), (1.0, 0.97, +0.0003), (0.8, 0.75, +0.0005), (0.8, 0.97, -0.0017)]


@pytest.mark.parametrize("t,o,expected", WORKED)
def test_c5_worked_example(t, o, expected):
    """One sigmoid output fed by an activation of 1 (x = 1 into a [1, 1] net), per-node CE,
    lr 0.01: the weight's update is -lr (o - t) * 1."""
    w = np.log(o / (1 - o))
    net = gl.MLP.from_params([1, 1], np.array([w, 0.0]), hidden="identity", output="sigmoid")
    X, T = np.array([[1.0]]), np.array([[t]])
    assert gl.forward(net, X)[0, 0] == pytest.approx(o, abs=WORKED_EXAMPLE_ATOL)
    D = gl.deltas(net, X, T, loss="ce", lr=0.01)
    assert D.shape == (1, 2)
    assert abs(D[0, 0] - expected) <= WORKED_EXAMPLE_ATOL, D
    assert abs(D[0, 1] - expected) <= WORKED_EXAMPLE_ATOL, D  # the bias sees the same input 1


@settings(max_examples=100)
@given(K=st.integers(2, 5), a=S.floats(0.0, 1.0).filter(lambda a: a > 0), data=st.data())
def test_c5_true_class_update_flips_sign_where_o_crosses_t_smoothed(K, a, data):
    z = data.draw(arrays(np.float64, (K,), elements=S.floats(-S.LOGIT_BOUND, S.LOGIT_BOUND)))
    c = data.draw(st.integers(0, K - 1))
    lr = 0.01
    Ts = gl.smooth_labels(gl.one_hot(np.array([c]), K), a)
    # a [1, K] net with x = 1: the logits are the weights, the hidden activation feeding w[0, c] is 1
    net = gl.MLP.from_params([1, K], np.concatenate([z, np.zeros(K)]), hidden="identity",
                             output="softmax")
    D = gl.deltas(net, np.ones((1, 1)), Ts, loss="ce", lr=lr)
    o = naive.softmax(z)
    gap = Ts[0, c] - o[c]
    assert abs(D[0, c] - lr * gap) <= lr * FORMULA_RTOL * 2  # scale |o_c| + |t'_c| <= 2
    if abs(gap) > SIGN_MARGIN:
        assert np.sign(D[0, c]) == np.sign(gap), (z, c, a, D[0, c], gap)


@pytest.mark.parametrize("K,a", [(2, 0.2), (3, 0.1), (10, 0.1), (5, 0.5)])
def test_c5_sign_flips_once_at_the_crossing(K, a):
    """Sweep the true-class logit s (others 0): o_c(s) = e^s / (e^s + K - 1) passes
    t'_c = 1 - a + a/K at s* = log(t'_c (K - 1) / (1 - t'_c)) = log(1 + K (1 - a) / a); the
    update is positive before and negative after, changing sign once, there."""
    t = 1 - a + a / K
    s_star = np.log(t * (K - 1) / (1 - t))
    assert s_star == pytest.approx(np.log(1 + K * (1 - a) / a), rel=FORMULA_RTOL)
    s = s_star + np.concatenate([-np.geomspace(10, 1e-8, 60), np.geomspace(1e-8, 10, 60)])
    Z = np.zeros((s.size, K))
    Z[:, 0] = s
    Ts = gl.smooth_labels(gl.one_hot(np.zeros(s.size, int), K), a)
    upd = -0.01 * gl.error_term(Z, Ts, loss="ce", output="softmax")[:, 0]
    assert np.all(upd[s < s_star] > 0) and np.all(upd[s > s_star] < 0)
    assert np.count_nonzero(np.diff(np.sign(upd))) == 1
