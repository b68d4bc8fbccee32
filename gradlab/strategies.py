"""Hypothesis strategies for property tests of gradient claims: nets, inputs, targets,
logits and whole problems (a net with inputs and targets that fit its loss).

Everything drawn is finite and bounded (bounds below), so a failure is about the claim,
not about overflow. Compose them in your own tests::

    from hypothesis import given, settings
    import gradlab as gl
    import gradlab.strategies as gs

    @settings(deadline=None)             # the first call of a numba kernel compiles it
    @given(gs.problems(output="softmax", loss="ce"))
    def test_my_claim(problem):
        net, X, T, loss = problem
        ...

Needs hypothesis (``pip install 'gradlab[test]'``); ``import gradlab`` alone does not.
"""
from typing import NamedTuple

import numpy as np

try:
    from hypothesis import note
    from hypothesis import strategies as st
    from hypothesis.extra.numpy import arrays
except ImportError as err:  # pragma: no cover - exercised only without hypothesis
    raise ImportError("gradlab.strategies needs hypothesis: pip install hypothesis "
                      "(or pip install 'gradlab[test]')") from err

from . import _checks
from .nets import HIDDEN_ACTIVATIONS, MLP, OUTPUT_ACTIVATIONS
from .targets import smooth_labels

__all__ = ["INPUT_BOUND", "LOGIT_BOUND", "PARAM_BOUND", "Problem", "inputs", "logits", "losses_for",
           "nets", "problems", "targets"]

PARAM_BOUND = 1.5
"""Default bound of drawn parameters: uniform in [-1.5, 1.5] (wider than Glorot for small
layers, so saturated and nearly linear units both occur)."""
INPUT_BOUND = 3.0
"""Inputs lie in [-3, 3], the range of standardized data."""
LOGIT_BOUND = 30.0
"""Logits lie in [-30, 30]: sigmoid(30) = 1 - 9e-14, so o (1 - o) stays representable and > 0."""

MAX_INPUTS, MAX_OUTPUTS = 6, 5


def losses_for(output):
    """The losses defined for an output activation: CE needs probabilities."""
    return ("mse",) if output == "identity" else ("ce", "mse")


def _finite(lo, hi, dtype=np.float64):
    width = 32 if np.dtype(dtype) == np.float32 else 64
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False, allow_subnormal=False, width=width)


def _names(name, value, options):
    """None -> all options; a string -> that one; a sequence -> those (each checked)."""
    if value is None:
        return tuple(options)
    if isinstance(value, str):
        return (_checks.choice(name, value, options),)
    values = tuple(_checks.choice(name, v, options) for v in value)
    if not values:
        raise ValueError(f"{name}: give at least one of {options}")
    return values


def _count(name, value, low, high_name, high):
    """A strategy of counts: ``value`` if given, else drawn from ``low..high``."""
    if value is None:
        return st.integers(low, _checks.integer(high_name, high, low=low))
    return st.just(_checks.integer(name, value, low=low))


def _output_and_loss(output, loss, K=None):
    """(output, loss) pairs where the loss is defined (and softmax only for K >= 2)."""
    outs = [o for o in _names("output", output, OUTPUT_ACTIVATIONS) if not (o == "softmax" and K == 1)]
    losses = _names("loss", loss, _checks.LOSSES)
    pairs = [(o, l) for o in outs for l in losses_for(o) if l in losses]
    if not pairs:
        raise ValueError(f"no (output, loss) pair fits output={output!r}, loss={loss!r}"
                         f"{'' if K is None else f' and {K} output unit(s)'}: CE needs a softmax or "
                         "sigmoid output, softmax at least 2 units")
    return st.sampled_from(pairs)


def _net_source(net):
    """Python that rebuilds ``net`` exactly (repr of the float values round-trips)."""
    dtype = "" if net.dtype == np.float64 else f", dtype=np.{np.dtype(net.dtype).name}"
    return (f"gl.MLP.from_params({list(net.sizes)}, np.array({net.params.tolist()!r}{dtype}), "
            f"hidden={net.hidden!r}, output={net.output!r})")


@st.composite
def _nets(draw, sizes, hidden, output, dtype, max_hidden_layers, max_width, param_bound, report=True):
    outs = [o for o in _names("output", output, OUTPUT_ACTIVATIONS)
            if not (sizes is not None and sizes[-1] == 1 and o == "softmax")]
    out = draw(st.sampled_from(outs))
    hid = draw(st.sampled_from(_names("hidden", hidden, HIDDEN_ACTIVATIONS)))
    if sizes is None:
        d = draw(st.integers(1, MAX_INPUTS))
        widths = draw(st.lists(st.integers(1, max_width), max_size=max_hidden_layers))
        K = draw(st.integers(2 if out == "softmax" else 1, MAX_OUTPUTS))
        sizes = [d, *widths, K]
    seed = draw(st.integers(0, 2**32 - 1))
    if param_bound is None:
        net = MLP(sizes, hidden=hid, output=out, seed=seed, dtype=dtype)
    else:
        n_params = sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:]))
        params = np.random.default_rng(seed).uniform(-param_bound, param_bound, n_params)
        net = MLP.from_params(sizes, params.astype(dtype), hidden=hid, output=out)
    if report:
        note(f"net = {_net_source(net)}")
    return net


def nets(sizes=None, hidden=None, output=None, dtype=np.float64, max_hidden_layers=3, max_width=8,
         param_bound=PARAM_BOUND):
    """`gradlab.MLP` nets.

    ``sizes``: a fixed ``[d, h_1, ..., K]``, or None to draw ``d`` in 1..6, 0..
    ``max_hidden_layers`` hidden layers of width 1..``max_width`` and ``K`` in 1..5 (2..5 for
    softmax). ``hidden`` / ``output``: an activation name, a list of names, or None for any.
    Parameters are uniform in ``[-param_bound, param_bound]`` (drawn in float64 from a drawn
    seed, then cast to ``dtype``); ``param_bound=None`` uses the net's own initialisation
    (Glorot / He, biases 0). The net's exact source is reported with the failing example.
    """
    return _nets(*_net_args(sizes, hidden, output, dtype, max_hidden_layers, max_width, param_bound))


def _net_args(sizes=None, hidden=None, output=None, dtype=np.float64, max_hidden_layers=3, max_width=8,
              param_bound=PARAM_BOUND):
    """`nets`' arguments, checked."""
    if sizes is not None:
        sizes = list(_checks.layer_sizes(sizes))
        if _names("output", output, OUTPUT_ACTIVATIONS) == ("softmax",) and sizes[-1] < 2:
            raise ValueError(f"sizes: a softmax output needs at least 2 units, got {sizes}")
    _names("hidden", hidden, HIDDEN_ACTIVATIONS)
    _names("output", output, OUTPUT_ACTIVATIONS)
    dtype = _checks.float_dtype("dtype", dtype)
    max_hidden_layers = _checks.integer("max_hidden_layers", max_hidden_layers, low=0)
    max_width = _checks.integer("max_width", max_width, low=1)
    if param_bound is not None:
        param_bound = _checks.number("param_bound", param_bound, low=0.0, low_open=True)
    return sizes, hidden, output, dtype, max_hidden_layers, max_width, param_bound


def inputs(net, rows=None, max_rows=4, bound=INPUT_BOUND):
    """Inputs ``X`` (n, d) for ``net`` in its dtype, entries in ``[-bound, bound]``;
    ``rows``: a fixed n, or None for n in 1..``max_rows``."""
    _checks.net(net)
    bound = _checks.number("bound", bound, low=0.0)
    n = _count("rows", rows, 1, "max_rows", max_rows)
    return n.flatmap(lambda n: arrays(net.dtype, (n, net.sizes[0]), elements=_finite(-bound, bound, net.dtype)))


def _simplex_rows(draw, n, K):
    """n rows of K non-negative numbers summing to 1 (one-hot rows among them)."""
    w = draw(arrays(np.float64, (n, K), elements=_finite(0.0, 1.0)))
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


@st.composite
def _targets(draw, K, rows, soft, smoothing, output, loss):
    n = draw(rows)
    if not soft:
        if K == 1:
            T = draw(arrays(np.float64, (n, 1), elements=st.sampled_from([0.0, 1.0])))
        else:
            T = np.eye(K)[draw(arrays(np.int64, (n,), elements=st.integers(0, K - 1)))]
    elif output == "softmax":
        T = _simplex_rows(draw, n, K)
    elif output == "sigmoid":
        T = draw(arrays(np.float64, (n, K), elements=_finite(0.0, 1.0)))
    else:
        T = draw(arrays(np.float64, (n, K), elements=_finite(-INPUT_BOUND, INPUT_BOUND)))
    if smoothing is not None:
        T = smooth_labels(T, draw(smoothing))
    return T


def targets(K, rows=None, soft=True, smoothing=None, output=None, loss="ce", max_rows=4):
    """Targets ``T`` (n, K), float64, that fit ``output`` (default: softmax for K >= 2,
    sigmoid for K = 1) and ``loss``.

    ``soft=False``: one-hot rows (K = 1: a 0/1 column). ``soft=True``: rows on the simplex
    for softmax (one-hot rows among them), entries in [0, 1] for sigmoid, and for identity
    outputs with MSE any numbers in ``[-INPUT_BOUND, INPUT_BOUND]``.
    ``smoothing``: None (none), a number ``a`` in [0, 1], True (``a`` drawn from [0, 1]) or
    a strategy of ``a``; applied as ``smooth_labels(T, a)``.
    ``rows``: a fixed n, or None for n in 1..``max_rows``.
    """
    K = _checks.integer("K", K, low=1)
    output = _checks.choice("output", output, OUTPUT_ACTIVATIONS) if output is not None else (
        "softmax" if K >= 2 else "sigmoid")
    _checks.loss_code(loss, output)
    if output == "softmax" and K < 2:
        raise ValueError(f"K: a softmax output needs at least 2 units, got {K}")
    soft = _checks.flag("soft", soft)
    if smoothing is True:
        smoothing = _finite(0.0, 1.0)
    elif smoothing is not None and not isinstance(smoothing, st.SearchStrategy):
        smoothing = st.just(_checks.fraction("smoothing", smoothing))
    return _targets(K, _count("rows", rows, 1, "max_rows", max_rows), soft, smoothing, output, loss)


def logits(K=None, rows=None, min_K=1, max_K=MAX_OUTPUTS, max_rows=4, bound=LOGIT_BOUND, dtype=np.float64):
    """Logits ``z`` (n, K) in ``[-bound, bound]``; ``K`` fixed or drawn from
    ``min_K..max_K`` (use ``min_K=2`` for softmax), n fixed (``rows``) or in 1..``max_rows``."""
    K = _count("K", K, _checks.integer("min_K", min_K, low=1), "max_K", max_K)
    n = _count("rows", rows, 1, "max_rows", max_rows)
    bound = _checks.number("bound", bound, low=0.0)
    dtype = _checks.float_dtype("dtype", dtype)
    return st.tuples(n, K).flatmap(lambda nK: arrays(dtype, nK, elements=_finite(-bound, bound, dtype)))


class Problem(NamedTuple):
    """A net, inputs, targets that fit the net's output and ``loss``, and the loss."""
    net: MLP
    X: np.ndarray
    T: np.ndarray
    loss: str

    def __repr__(self):
        return (f"Problem(net={_net_source(self.net)}, X=np.array({self.X.tolist()!r}), "
                f"T=np.array({self.T.tolist()!r}), loss={self.loss!r})")

    def _repr_pretty_(self, p, cycle):  # hypothesis prints falsifying examples with this
        p.text(repr(self))


@st.composite
def _problems(draw, output, loss, max_rows, soft, smoothing, net_args):
    sizes, hidden, _, dtype, max_hidden_layers, max_width, param_bound = net_args
    out, loss_ = draw(_output_and_loss(output, loss, None if sizes is None else sizes[-1]))
    net = draw(_nets(sizes, hidden, out, dtype, max_hidden_layers, max_width, param_bound, report=False))
    n = draw(st.integers(1, max_rows))
    X = draw(inputs(net, rows=n))
    T = draw(targets(net.sizes[-1], rows=n, soft=soft, smoothing=smoothing, output=out, loss=loss_))
    return Problem(net, X, T, loss_)


def problems(output=None, loss=None, max_rows=4, soft=True, smoothing=None, **net_kw):
    """`Problem` (net, X, T, loss) tuples: a net as drawn by `nets` (``net_kw``: sizes,
    hidden, dtype, max_hidden_layers, max_width, param_bound), 1..``max_rows`` input rows as
    drawn by `inputs`, and targets as drawn by `targets` (``soft``, ``smoothing``) that fit
    the net's output and the loss. ``output`` / ``loss``: a name, a list of names or None;
    only pairs where the loss is defined are drawn (CE needs a softmax or sigmoid output).
    Falsifying examples print as Python that rebuilds the problem exactly."""
    net_args = _net_args(output=output, **net_kw)
    _output_and_loss(output, loss, None if net_args[0] is None else net_args[0][-1])
    max_rows = _checks.integer("max_rows", max_rows, low=1)
    _checks.flag("soft", soft)
    return _problems(output, loss, max_rows, soft, smoothing, net_args)
