"""Learned targets (gradlab.learned) against naive per-row loops, a hand-built net whose answer
is known, and bad input."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import gradlab as gl
from gradlab import learned

import naive
from tolerances import KERNEL_RTOL

# ---------------------------------------------------------------- naive reference (plain loops)


def naive_hidden(net, X, layer):
    """Hidden layer ``layer`` (an index into the hidden layers) of every row, one row at a time."""
    rows = []
    for x in X:
        _, acts = naive.forward_sample(net.sizes, net.params, net.hidden, net.output, x)
        rows.append(acts[1 + layer])  # acts[0] is the input
    return np.array(rows)


def naive_class_means(V, y, K):
    out = np.zeros((K, V.shape[1]))
    for c in range(K):
        count = 0
        for n in range(V.shape[0]):
            if y[n] == c:
                count += 1
                for j in range(V.shape[1]):
                    out[c, j] += V[n, j]
        out[c] /= count
    return out


def naive_outputs(net, x, layer=None, unit=None):
    """Outputs of one row, with unit ``unit`` of hidden layer ``layer`` forced to 0."""
    a = np.array(x, np.float64)
    layers = naive.unpack(net.sizes, net.params)
    for l, (W, b) in enumerate(layers):
        z = np.array([b[o] + sum(a[i] * W[i, o] for i in range(W.shape[0])) for o in range(W.shape[1])])
        a = naive.activate(net.output if l == len(layers) - 1 else net.hidden, z)
        if l == layer:
            a[unit] = 0.0
    return a


def naive_predict(o):
    if len(o) == 1:
        return int(o[0] > 0.5)
    best = 0
    for k in range(1, len(o)):
        if o[k] > o[best]:
            best = k
    return best


def near_tie(o):
    """True when rounding could change the prediction from outputs ``o``."""
    if len(o) == 1:
        return abs(o[0] - 0.5) < 1e-9
    top = np.sort(o)
    return top[-1] - top[-2] < 1e-9


def naive_class_accuracy(outputs, y, K):
    right, total = np.zeros(K), np.zeros(K)
    for o, c in zip(outputs, y):
        total[c] += 1
        right[c] += naive_predict(o) == c
    return right / total


# ---------------------------------------------------------------- drawn problems


@st.composite
def problems(draw, output=None):
    """(net, X, y, layer): a net with 1-3 hidden layers, rows covering every class."""
    depth = draw(st.integers(1, 3))
    d = draw(st.integers(1, 4))
    output = output or draw(st.sampled_from(["softmax", "sigmoid"]))
    K = draw(st.integers(2, 4)) if output == "softmax" else draw(st.sampled_from([1, 3]))
    sizes = [d] + [draw(st.integers(1, 5)) for _ in range(depth)] + [K]
    hidden = draw(st.sampled_from(["tanh", "relu", "sigmoid", "identity"]))
    seed = draw(st.integers(0, 2**16))
    net = gl.MLP(sizes, hidden=hidden, output=output, seed=seed)
    rng = np.random.default_rng(seed)
    n_classes = max(K, 2)
    y = np.concatenate([np.arange(n_classes), rng.integers(0, n_classes, draw(st.integers(0, 6)))])
    X = rng.uniform(-2, 2, (y.shape[0], d))
    layer = draw(st.integers(-depth, depth - 1))
    return net, X, y, layer


def assert_close(actual, expected, rtol=KERNEL_RTOL):
    """|actual - expected| <= rtol * max(1, |expected|): float64 sums in another order."""
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, rtol=0, atol=rtol * max(1.0, np.abs(expected).max()))


@given(problems())
def test_hidden_activations_and_patterns_match_the_loops(problem):
    net, X, y, layer = problem
    H = naive_hidden(net, X, layer % (net.n_layers - 1))
    assert_close(learned.hidden_activations(net, X, layer), H)
    K = max(net.sizes[-1], 2)
    assert_close(learned.class_patterns(net, X, y, layer), naive_class_means(H, y, K))
    on = learned.class_patterns(net, X, y, layer, threshold=0.1)
    # kept away from the threshold so rounding cannot flip a unit
    if np.all(np.abs(H - 0.1) > 1e-9):
        np.testing.assert_array_equal(on, naive_class_means((H > 0.1).astype(float), y, K))


@given(problems())
def test_numpy_forward_agrees_with_the_kernels(problem):
    net, X, _, _ = problem
    assert_close(learned._layer_outputs(net, X, net.n_layers)[-1], gl.forward(net, X))


@given(problems())
def test_ablation_matches_the_loops(problem):
    net, X, y, layer = problem
    l = layer % (net.n_layers - 1)
    K = max(net.sizes[-1], 2)
    res = learned.ablate_units(net, X, y, layer)
    assert res.accuracy.shape == (net.sizes[l + 1], K)
    cases = [(res.intact, [naive_outputs(net, x) for x in X])]
    cases += [(res.accuracy[j], [naive_outputs(net, x, l, j) for x in X]) for j in range(net.sizes[l + 1])]
    for accuracy, outputs in cases:
        if not any(near_tie(o) for o in outputs):  # a near-tie may go either way in another summation order
            np.testing.assert_array_equal(accuracy, naive_class_accuracy(outputs, y, K))


@given(problems(output="softmax"))
def test_class_mean_targets_match_the_loops_and_are_targets(problem):
    net, X, y, _ = problem
    K = net.sizes[-1]
    O = np.array([naive.forward_sample(net.sizes, net.params, net.hidden, net.output, x)[1][-1] for x in X])
    P = learned.class_mean_targets(net, X, y)
    assert_close(P, naive_class_means(O, y, K))
    np.testing.assert_allclose(P.sum(axis=1), 1, atol=1e-13)
    gl.loss(net, X, P[y])  # usable as a target matrix


@given(problems())
def test_hidden_target_loss_matches_the_loops(problem):
    net, X, y, layer = problem
    H = naive_hidden(net, X, layer % (net.n_layers - 1))
    P = np.linspace(-1, 1, max(net.sizes[-1], 2) * H.shape[1]).reshape(-1, H.shape[1])
    expected = np.array([0.5 * sum((H[n, j] - P[y[n], j]) ** 2 for j in range(H.shape[1]))
                         for n in range(len(y))])
    assert_close(learned.hidden_target_loss(net, X, y, P, layer), expected)


# ---------------------------------------------------------------- a net whose answer is known


def hand_net():
    """2-2-3 ReLU net: h = relu(x); logits (2 h_0, 2 h_1, 1). Class 0 rows (1, 0) need unit 0,
    class 1 rows (0, 1) need unit 1, class 2 rows (0, 0) need neither."""
    params = np.array([1, 0, 0, 1, 0, 0,  # W_1 (2 x 2), b_1
                       2, 0, 0, 0, 2, 0, 0, 0, 1], float)  # W_2 (2 x 3), b_2
    X = np.array([[1, 0], [1, 0], [0, 1], [0, 0], [0, 0]], float)
    y = np.array([0, 0, 1, 2, 2])
    return gl.MLP.from_params([2, 2, 3], params, hidden="relu", output="softmax"), X, y


def test_known_patterns_and_ablation():
    net, X, y = hand_net()
    np.testing.assert_array_equal(learned.class_patterns(net, X, y, threshold=0), [[1, 0], [0, 1], [0, 0]])
    res = learned.ablate_units(net, X, y)
    np.testing.assert_array_equal(res.intact, [1, 1, 1])
    np.testing.assert_array_equal(res.accuracy, [[0, 1, 1], [1, 0, 1]])
    P = learned.class_mean_targets(net, X, y)
    assert P[2, 2] == pytest.approx(np.exp(1) / (2 + np.exp(1)), rel=1e-15)


def test_arguments_are_left_as_they_were():
    net, X, y = hand_net()
    P = np.ones((3, 2))
    copies = [a.copy() for a in (net.params, X, y, P)]
    learned.class_patterns(net, X, y, threshold=0)
    learned.ablate_units(net, X, y)
    learned.class_mean_targets(net, X, y)
    learned.hidden_target_loss(net, X, y, P)
    for before, after in zip(copies, (net.params, X, y, P)):
        np.testing.assert_array_equal(before, after)


# ---------------------------------------------------------------- bad input

_NET, _X, _Y = hand_net()
_WIDE = gl.MLP([2, 2, 5], hidden="relu")  # a teacher with 5 outputs for 3 classes of data
_FLAT = gl.MLP([2, 3])


@pytest.mark.parametrize("call,exc,match", [
    (lambda: learned.hidden_target_loss(_NET, _X, _Y, np.ones((3, 3))), ValueError, r"P must have shape \(3, 2\)"),
    (lambda: learned.hidden_target_loss(_NET, _X, _Y, np.ones(6)), ValueError, "P must be 2-D"),
    (lambda: learned.hidden_target_loss(_NET, _X, _Y, np.full((3, 2), np.nan)), ValueError, "P contains NaN"),
    (lambda: learned.class_patterns(_NET, _X, _Y, layer=1), ValueError, r"layer must be in \[-1, 0\]"),
    (lambda: learned.ablate_units(_NET, _X, _Y, layer=-2), ValueError, r"layer must be in \[-1, 0\]"),
    (lambda: learned.hidden_activations(_NET, _X, layer=True), TypeError, "layer must be an integer"),
    (lambda: learned.hidden_activations(_FLAT, _X), ValueError, "net has no hidden layer"),
    (lambda: learned.class_mean_targets(_WIDE, _X, _Y), ValueError, r"y has no rows of class\(es\) \[3, 4\]"),
    (lambda: learned.class_mean_targets(gl.MLP([3, 2, 3]), _X, _Y), ValueError, "X has 2 features"),
    (lambda: learned.class_mean_targets(gl.MLP([2, 2, 1], output="sigmoid"), _X, _Y % 2), ValueError,
     "net: class_mean_targets needs a teacher with softmax"),
    (lambda: learned.class_mean_targets("teacher", _X, _Y), TypeError, "net must be a gradlab.MLP"),
    (lambda: learned.ablate_units(_NET, _X, _Y + 1), ValueError, r"y: labels must lie in \[0, 3\)"),
    (lambda: learned.class_patterns(_NET, _X, _Y[:4]), ValueError, "y has 4 labels but X has 5 rows"),
    (lambda: learned.class_patterns(_NET, _X, _Y, threshold="0"), TypeError, "threshold must be a real"),
])
def test_bad_input_names_the_argument(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
