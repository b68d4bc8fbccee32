"""The test suite's view of `gradlab.strategies`: the public strategies, plus the pieces only
these tests need (``NetSpec``, which keeps a net's float64 parameters for the naive
reference, and the ReLU-kink filter, which uses that reference).

``problems()`` here yields ``(NetSpec, X, T)``; everything is drawn by gradlab.strategies.
"""
from dataclasses import dataclass

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

import gradlab as gl
import gradlab.strategies as gs
from gradlab.nets import HIDDEN_ACTIVATIONS
from gradlab.strategies import LOGIT_BOUND, losses_for  # noqa: F401 (used by the tests)

import naive
from tolerances import RELU_KINK_MARGIN

HIDDEN = HIDDEN_ACTIVATIONS
OUTPUTS = ("softmax", "sigmoid", "identity")


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


def _spec(net, loss):
    return NetSpec(tuple(net.sizes), net.hidden, net.output, loss, net.params)


def problems(hidden=None, output=None, loss=None, max_rows=4, max_hidden_layers=3, max_width=8):
    """(NetSpec, X (n, d), T (n, K)) with 1..max_rows rows (gradlab.strategies.problems)."""
    return gs.problems(output=output, loss=loss, max_rows=max_rows, hidden=hidden,
                       max_hidden_layers=max_hidden_layers, max_width=max_width).map(
        lambda p: (_spec(p.net, p.loss), p.X, p.T))


def net_specs(hidden=None, output=None, loss=None, **net_kw):
    """NetSpecs of drawn nets (a problem's net and loss)."""
    return problems(hidden, output, loss, max_rows=1, **net_kw).map(lambda p: p[0])


def targets_for(draw, n, K, output, loss):
    """n rows of targets that fit (output, loss), drawn with ``draw``."""
    return draw(gs.targets(K, rows=n, output=output, loss=loss))


def simplex_rows(draw, n, K):
    """n rows of K non-negative numbers summing to 1 (one-hot rows among them)."""
    return draw(gs.targets(K, rows=n, output="softmax"))


@st.composite
def logits_and_targets(draw, output, loss, max_rows=4, min_K=None, max_K=5):
    """(z (n, K), T (n, K)) with |z| <= LOGIT_BOUND and targets that fit (output, loss)."""
    z = draw(gs.logits(min_K=min_K or (2 if output == "softmax" else 1), max_K=max_K, max_rows=max_rows))
    return z, targets_for(draw, z.shape[0], z.shape[1], output, loss)


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
