"""Hypothesis strategies shared by the gradient and claim tests.

``NetSpec`` carries a net's shape, activations, loss and float64 parameters (drawn uniform
in +-PARAM_BOUND from a hypothesis-drawn seed); ``problems()`` adds inputs and targets that
fit the output kind and loss.
"""
from dataclasses import dataclass

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import gradlab as gl

import naive
from tolerances import RELU_KINK_MARGIN

HIDDEN = ("identity", "tanh", "relu", "sigmoid")
OUTPUTS = ("softmax", "sigmoid", "identity")
PARAM_BOUND = 1.5
INPUT_BOUND = 3.0
LOGIT_BOUND = 30.0  # sigmoid(30) = 1 - 9e-14: o (1 - o) stays representable and > 0


def losses_for(output):
    """Losses that make sense for an output kind: CE needs probabilities."""
    return ("mse",) if output == "identity" else ("ce", "mse")


@dataclass(frozen=True)
class NetSpec:
    sizes: tuple
    hidden: str
    output: str
    loss: str
    params: np.ndarray

    def net(self, dtype=np.float64):
        return gl.MLP.from_params(list(self.sizes), self.params.astype(dtype),
                                  hidden=self.hidden, output=self.output)

    @property
    def K(self):
        return self.sizes[-1]

    def __repr__(self):
        return (f"NetSpec(sizes={list(self.sizes)}, hidden={self.hidden!r}, "
                f"output={self.output!r}, loss={self.loss!r}, params=np.array({self.params.tolist()!r}))")


def floats(lo, hi):
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False, allow_subnormal=False)


def output_and_loss(output=None, loss=None):
    """(output, loss) pairs; a fixed output or loss narrows the choice."""
    outs = [o for o in OUTPUTS if output in (None, o)]
    pairs = [(o, l) for o in outs for l in losses_for(o) if loss in (None, l)]
    assert pairs, (output, loss)
    return st.sampled_from(pairs)


@st.composite
def net_specs(draw, hidden=None, output=None, loss=None, max_hidden_layers=3, max_width=8):
    """Nets [d, h_1..h_m, K]: d in 1..6, 0..3 hidden layers of width 1..8, K in 1..5
    (2..5 for softmax), parameters uniform in +-PARAM_BOUND."""
    out, loss_ = draw(output_and_loss(output, loss))
    hid = draw(st.sampled_from(HIDDEN)) if hidden is None else hidden
    d = draw(st.integers(1, 6))
    widths = draw(st.lists(st.integers(1, max_width), min_size=0, max_size=max_hidden_layers))
    K = draw(st.integers(2 if out == "softmax" else 1, 5))
    sizes = (d, *widths, K)
    seed = draw(st.integers(0, 2**32 - 1))
    params = np.random.default_rng(seed).uniform(-PARAM_BOUND, PARAM_BOUND, naive.n_params(sizes))
    return NetSpec(sizes, hid, out, loss_, params)


def inputs(n, d):
    return arrays(np.float64, (n, d), elements=floats(-INPUT_BOUND, INPUT_BOUND))


def simplex_rows(draw, n, K):
    """n rows of K non-negative numbers summing to 1 (one-hot rows are among them)."""
    w = draw(arrays(np.float64, (n, K), elements=floats(0.0, 1.0)))
    T = np.empty_like(w)
    for r in range(n):
        row = w[r]
        if row.sum() == 0.0:
            row = np.zeros(K)
            row[draw(st.integers(0, K - 1))] = 1.0
        row = row / row.sum()
        # put the rounding residue on the largest entry (>= 1/K, so it stays in [0, 1])
        big = int(np.argmax(row))
        row[big] = 0.0
        row[big] = 1.0 - row.sum()
        T[r] = row
    return T


def targets_for(draw, n, K, output, loss):
    """Soft targets that fit the output and loss: simplex rows for softmax, [0, 1] for
    sigmoid, any bounded numbers for identity (MSE)."""
    if output == "softmax":
        return simplex_rows(draw, n, K)
    if output == "sigmoid":
        return draw(arrays(np.float64, (n, K), elements=floats(0.0, 1.0)))
    return draw(arrays(np.float64, (n, K), elements=floats(-INPUT_BOUND, INPUT_BOUND)))


@st.composite
def targets(draw, n, K, output, loss="ce"):
    return targets_for(draw, n, K, output, loss)


@st.composite
def problems(draw, hidden=None, output=None, loss=None, max_rows=4, **net_kw):
    """(NetSpec, X (n, d), T (n, K)) with 1..max_rows rows."""
    spec = draw(net_specs(hidden=hidden, output=output, loss=loss, **net_kw))
    n = draw(st.integers(1, max_rows))
    X = draw(inputs(n, spec.sizes[0]))
    T = targets_for(draw, n, spec.K, spec.output, spec.loss)
    return spec, X, T


@st.composite
def logits_and_targets(draw, output, loss, max_rows=4, min_K=None, max_K=5):
    """(z (n, K), T (n, K)) with |z| <= LOGIT_BOUND and targets that fit (output, loss)."""
    K = draw(st.integers(min_K or (2 if output == "softmax" else 1), max_K))
    n = draw(st.integers(1, max_rows))
    z = draw(arrays(np.float64, (n, K), elements=floats(-LOGIT_BOUND, LOGIT_BOUND)))
    return z, targets_for(draw, n, K, output, loss)


def _hidden_pre_many(sizes, Theta, X):
    """Hidden pre-activations of a ReLU net for many parameter vectors at once (rows of
    Theta), vectorised; shape (m, n, total hidden units). Only used to filter examples."""
    m = Theta.shape[0]
    a = np.broadcast_to(X, (m,) + X.shape)
    p = 0
    out = []
    for fi, fo in zip(sizes[:-2], sizes[1:-1]):
        W = Theta[:, p:p + fi * fo].reshape(m, fi, fo)
        b = Theta[:, p + fi * fo:p + fi * fo + fo]
        z = np.einsum("mni,mio->mno", a, W) + b[:, None, :]
        out.append(z)
        a = np.maximum(z, 0.0)
        p += (fi + 1) * fo
    return np.concatenate(out, axis=2)


def assume_away_from_relu_kinks(spec, X, h=0.0):
    """For ReLU nets: reject examples with a hidden pre-activation within RELU_KINK_MARGIN of
    0 (by the naive reference), and (h > 0) examples where a central-difference stencil point
    params +- h e_p has another activation pattern, i.e. where FD would straddle a kink."""
    if spec.hidden != "relu" or len(spec.sizes) == 2:
        return
    pre = naive.hidden_preactivations(spec.sizes, spec.params, spec.hidden, spec.output, X)
    assume(np.all(np.abs(pre) > RELU_KINK_MARGIN))
    if h > 0:
        P = spec.params.size
        Theta = np.repeat(spec.params[None, :], 2 * P, axis=0)
        Theta[np.arange(P), np.arange(P)] += h
        Theta[P + np.arange(P), np.arange(P)] -= h
        centre = _hidden_pre_many(spec.sizes, spec.params[None, :], X)[0] > 0
        assume(np.all((_hidden_pre_many(spec.sizes, Theta, X) > 0) == centre))
