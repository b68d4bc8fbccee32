"""Learned targets: what a trained net's hidden layer and outputs say about each class.

Hidden layers are counted from 0 (the first) and from -1 (the last, the default) backwards;
``layer`` l of a net with sizes ``[d, h_1, ..., h_m, K]`` has ``h_{l+1}`` units. ``y`` holds
integer labels; the classes are the net's K outputs (2 for a single sigmoid output), and every
class needs at least one row. Results are new float64 arrays; no argument is written to.
"""
from typing import NamedTuple

import numpy as np
from scipy.special import expit, softmax

from . import _checks
from .grads import forward

_ACTIVATIONS = {"identity": lambda z: z, "tanh": np.tanh, "relu": lambda z: np.maximum(z, 0.0),
                "sigmoid": expit, "softmax": lambda z: softmax(z, axis=1)}


def _hidden_layer(net, layer):
    """``layer`` as an index in [0, number of hidden layers)."""
    _checks.net(net)
    n_hidden = net.n_layers - 1
    if n_hidden == 0:
        raise ValueError(f"net has no hidden layer (sizes {list(net.sizes)})")
    layer = _checks.integer("layer", layer)
    if not -n_hidden <= layer < n_hidden:
        raise ValueError(f"layer must be in [{-n_hidden}, {n_hidden - 1}] for a net with {n_hidden} hidden "
                         f"layer(s) (sizes {list(net.sizes)}); got {layer}")
    return layer % n_hidden


def _n_classes(net):
    return max(net.sizes[-1], 2)


def _labels(net, y, n_rows):
    """``y`` as int64 labels of the net's classes, one per row, every class present."""
    K = _n_classes(net)
    y = _checks.labels("y", y)
    if y.shape[0] != n_rows:
        raise ValueError(f"y has {y.shape[0]} labels but X has {n_rows} rows")
    if y.max() >= K:
        raise ValueError(f"y: labels must lie in [0, {K}) for a net with {net.sizes[-1]} output(s); "
                         f"got labels up to {y.max()}")
    missing = np.flatnonzero(np.bincount(y, minlength=K) == 0)
    if missing.size:
        raise ValueError(f"y has no rows of class(es) {missing.tolist()}; a net with {net.sizes[-1]} output(s) "
                         f"has {K} classes and each needs at least one row")
    return y


def _class_means(V, y, K):
    """(K, m): row c = mean of the rows of V (n, m) whose label is c."""
    sums = np.zeros((K, V.shape[1]))
    np.add.at(sums, y, V)
    return sums / np.bincount(y, minlength=K)[:, None]


def _layer_outputs(net, X, last):
    """Activations ``a_1 .. a_last`` (weight layers 0 .. last - 1) in float64, plain NumPy:
    ``a_l = act(a_{l-1} W_l + b_l)``, the output activation on the output layer."""
    a = _checks.net_inputs(net, X).astype(np.float64)
    out = []
    for l in range(last):
        z = a @ net.weights[l].astype(np.float64) + net.biases[l].astype(np.float64)
        a = _ACTIVATIONS[net.output if l == net.n_layers - 1 else net.hidden](z)
        out.append(a)
    return out


def hidden_activations(net, X, layer=-1):
    """Activations ``h = act(a_{l-1} W_l + b_l)`` of hidden layer ``layer`` for every row of X,
    shape (n, units), float64 (a NumPy forward pass; gl.forward returns only the outputs)."""
    l = _hidden_layer(net, layer)
    return _layer_outputs(net, X, l + 1)[-1]


def class_patterns(net, X, y, layer=-1, threshold=None):
    """Class x unit table of hidden layer ``layer``, shape (K, units).

    Without ``threshold``: ``P[c, j] = mean of h_j(x_n) over the rows n of class c``.
    With ``threshold``: the on/off pattern ``P[c, j] = share of class-c rows with h_j > threshold``
    (``threshold=0`` counts a ReLU unit as on when it is active).
    """
    H = hidden_activations(net, X, layer)
    y = _labels(net, y, H.shape[0])
    if threshold is not None:
        H = (H > _checks.number("threshold", threshold)).astype(np.float64)
    return _class_means(H, y, _n_classes(net))


class Ablation(NamedTuple):
    """Per-class accuracy with single hidden units zeroed (`ablate_units`)."""
    accuracy: np.ndarray  # (units, K): accuracy[j, c] with unit j zeroed, on the rows of class c
    intact: np.ndarray  # (K,): the intact net's per-class accuracy


def _per_class_accuracy(O, y, K):
    pred = O.argmax(axis=1) if O.shape[1] > 1 else (O[:, 0] > 0.5).astype(np.int64)
    return np.bincount(y, weights=pred == y, minlength=K) / np.bincount(y, minlength=K)


def _unit_accuracy(net, X, y, layer, only):
    """`Ablation` with each unit j zeroed in turn (``only=False``) or with every unit but j
    zeroed (``only=True``); a unit is zeroed by setting its outgoing weights to 0."""
    l = _hidden_layer(net, layer)
    X = _checks.net_inputs(net, X)
    y = _labels(net, y, X.shape[0])
    K = _n_classes(net)
    intact = _per_class_accuracy(forward(net, X), y, K)
    changed = net.copy()
    outgoing = changed.weights[l + 1]  # a view into changed.params
    accuracy = np.empty((net.sizes[l + 1], K))
    for j in range(outgoing.shape[0]):
        kept = np.arange(outgoing.shape[0]) == j if only else np.arange(outgoing.shape[0]) != j
        outgoing[...] = np.where(kept[:, None], net.weights[l + 1], 0)
        accuracy[j] = _per_class_accuracy(forward(changed, X), y, K)
    return Ablation(accuracy, intact)


def ablate_units(net, X, y, layer=-1):
    """Per-class accuracy of the net with each unit j of hidden layer ``layer`` zeroed in turn
    (``h_j = 0``, i.e. its outgoing weights set to 0), and of the intact net.

    Returns ``Ablation(accuracy (units, K), intact (K,))``. A row is predicted as its largest
    output (ties: the lowest class), or as class 1 when a single sigmoid output exceeds 0.5.
    """
    return _unit_accuracy(net, X, y, layer, only=False)


def isolate_units(net, X, y, layer=-1):
    """Per-class accuracy of the net with only unit j of hidden layer ``layer`` kept (every other
    unit's outgoing weights set to 0), for each j in turn, and of the intact net: what one unit
    alone still predicts. Returns ``Ablation(accuracy (units, K), intact (K,))``, rows predicted
    as in `ablate_units`."""
    return _unit_accuracy(net, X, y, layer, only=True)


ACTIVE_SHARE = 0.5
"""`unit_tables`: a unit is on for a class when it fires (h > 0) on more than this share of the
class's rows, i.e. for most of them (the reader's 0/1 reading of a ReLU unit)."""
PREDICTED_SHARE = 0.5
"""`unit_tables`: a class is predicted when more than this share of its rows are classified as it,
i.e. its own label is the majority prediction on its rows (chance is 1/K). A class is taken out
by dropping a unit when the intact net predicts it and the net without the unit does not."""


class UnitTables(NamedTuple):
    """The reader's three tables for one net (`unit_tables`); ``K`` classes, ``J`` hidden units."""
    patterns: np.ndarray  # (K, J) bool: unit j on for class c (fires on most of its rows)
    alone: np.ndarray  # (J, K) bool: class c still predicted with only unit j kept
    taken_out: np.ndarray  # (J, K) bool: class c predicted intact, not with unit j zeroed
    share_active: np.ndarray  # (K, J): share of class-c rows with h_j > 0
    alone_accuracy: np.ndarray  # (J, K)
    dropped_accuracy: np.ndarray  # (J, K)
    intact: np.ndarray  # (K,): the intact net's accuracy per class
    none: np.ndarray  # (K,) bool: class c still predicted with every unit zeroed (the biases alone)

    @property
    def pattern_length(self):
        """(K,): how many units are on for each class."""
        return self.patterns.sum(axis=1)

    @property
    def unit_classes(self):
        """(J,): for how many classes each unit is on."""
        return self.patterns.sum(axis=0)

    def to_text(self):
        """The three tables as text, in the layout of the reader's comment (units and classes
        numbered from 0)."""
        K, J = self.patterns.shape
        units = " ".join(f"h{j}" for j in range(J))
        lines = ["hidden pattern per class (1: unit on for most of the class's rows) = pattern length",
                 f"class   {units}", *(f"{c:>5} = " + "  ".join(str(int(v)) for v in self.patterns[c])
                                        + f"  = {self.pattern_length[c]}" for c in range(K)),
                 "-" * (8 + 4 * J), "classes " + "  ".join(str(v) for v in self.unit_classes)
                 + "  <- classes each unit is on for", "",
                 "classes each unit alone still predicts (all other units zeroed)",
                 "none: " + (", ".join(str(c) for c in np.flatnonzero(self.none)) or "none")
                 + "  <- predicted with every unit zeroed"]
        for name, table in (("alone", self.alone), ("taken_out", self.taken_out)):
            if name == "taken_out":
                lines += ["", "classes that dropping each unit takes out"]
            for j in range(J):
                classes = np.flatnonzero(table[j])
                listed = ", ".join(str(c) for c in classes) if classes.size else "none"
                lines.append(f"h{j}: {listed} = {classes.size}")
        return "\n".join(lines)


def unit_tables(net, X, y, layer=-1):
    """The reader's three tables for hidden layer ``layer`` on the rows (X, y): each class's 0/1
    unit pattern (`ACTIVE_SHARE`), the classes each unit alone still predicts (`isolate_units`),
    and the classes that dropping each unit takes out (`ablate_units`), with "predicted" as in
    `PREDICTED_SHARE`. Returns `UnitTables`."""
    share = class_patterns(net, X, y, layer=layer, threshold=0.0)
    alone = isolate_units(net, X, y, layer)
    dropped = ablate_units(net, X, y, layer)
    predicted = dropped.intact > PREDICTED_SHARE
    silent = net.copy()
    silent.weights[_hidden_layer(net, layer) + 1][...] = 0
    none = _per_class_accuracy(forward(silent, _checks.net_inputs(net, X)), _checks.labels("y", y), _n_classes(net))
    return UnitTables(patterns=share > ACTIVE_SHARE, alone=alone.accuracy > PREDICTED_SHARE,
                      taken_out=predicted[None, :] & (dropped.accuracy <= PREDICTED_SHARE), share_active=share,
                      alone_accuracy=alone.accuracy, dropped_accuracy=dropped.accuracy, intact=dropped.intact,
                      none=none > PREDICTED_SHARE)


def class_mean_targets(net, X, y):
    """Soft targets learned from a teacher ``net`` (softmax output), shape (K, K):
    ``P[c] = mean of o(x_n) over the rows n of class c`` (the teacher's mean output distribution;
    as in Online Label Smoothing, Zhang et al. 2021). Each row sums to 1 (to rounding), so
    ``P[y]`` is a per-row target matrix for `gl.train`.
    """
    _checks.net(net)
    if net.output != "softmax":
        raise ValueError(f"net: class_mean_targets needs a teacher with softmax outputs (a distribution per row); "
                         f"got output={net.output!r}")
    O = forward(net, X)
    y = _labels(net, y, O.shape[0])
    return _class_means(O.astype(np.float64), y, _n_classes(net))


def hidden_target_loss(net, X, y, P, layer=-1):
    """Per-row distance of hidden layer ``layer`` from its class pattern, shape (n,):
    ``1/2 ||h(x_n) - P[y_n]||^2`` with ``P`` (K, units), e.g. from `class_patterns`.

    The hidden-target training term is ``hidden_weight`` times this (its gradient with respect
    to ``h`` is ``h(x_n) - P[y_n]``, times the activation slope with respect to the pre-activation).
    """
    H = hidden_activations(net, X, layer)
    y = _labels(net, y, H.shape[0])
    K = _n_classes(net)
    P = _checks.float_array("P", P, ndim=2)
    if P.shape != (K, H.shape[1]):
        raise ValueError(f"P must have shape ({K}, {H.shape[1]}) (classes x units of hidden layer {layer}); "
                         f"got {P.shape}")
    return 0.5 * ((H - P[y]) ** 2).sum(axis=1)
