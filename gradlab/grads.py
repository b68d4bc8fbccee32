"""Forward passes, error terms, losses and (per-sample) gradients of an MLP.

Conventions: per-sample MSE is ``1/2 sum_k (o_k - t_k)^2``; CE is ``-sum_k t_k log o_k`` for
softmax outputs and per-node binary CE ``-sum_k t_k log o_k + (1 - t_k) log(1 - o_k)`` for
sigmoid outputs. Batch quantities (``loss``, ``grad``) are means over rows. ``T`` is an
(n, K) target matrix, or 1-D integer labels that are one-hot encoded.
"""
import numpy as np

from . import _checks, _kernels


def _codes(net):
    return _checks.ACTIVATION_CODES[net.hidden], _checks.ACTIVATION_CODES[net.output]


def _forward(net, X):
    X = _checks.net_inputs(net, X)
    n, K = X.shape[0], net.sizes[-1]
    Z = np.empty((n, K), net.dtype)
    O = np.empty((n, K), net.dtype)
    _kernels.forward_all(_checks.net_params(net), net._sizes, *_codes(net), X, Z, O)
    return Z, O


def forward(net, X):
    """Outputs ``o = act_out(z)`` of every row of X, shape (n, K)."""
    return _forward(net, X)[1]


def forward_runs(net, params, X):
    """Outputs of many nets of ``net``'s shape, activations and dtype, one per row of
    ``params`` (R, P), on the same rows ``X``: (R, n, K). Run r's equals ``forward(net with
    params[r], X)`` bit for bit: each run is one call of gl.forward's kernel (about a
    microsecond of overhead per run)."""
    X = _checks.net_inputs(net, X)
    params = np.asarray(params)
    if params.ndim != 2 or params.shape[1] != net.n_params or params.dtype != net.dtype:
        raise ValueError(f"params must be (runs, {net.n_params}) {np.dtype(net.dtype).name}; "
                         f"got {params.shape} {params.dtype}")
    params = np.require(params, requirements=["C", "W"])  # the kernel's array type (see _checks._convert)
    n, K = X.shape[0], net.sizes[-1]
    O = np.empty((params.shape[0], n, K), net.dtype)
    Z = np.empty((n, K), net.dtype)
    codes = _codes(net)
    for r in range(params.shape[0]):
        _kernels.forward_all(params[r], net._sizes, *codes, X, Z, O[r])
    return O


def logits(net, X):
    """Output pre-activations ``z`` of every row of X, shape (n, K)."""
    return _forward(net, X)[0]


def _logit_args(z, T, loss, output, variant="exact"):
    output = _checks.choice("output", output, ("identity", "sigmoid", "softmax"))
    code = _checks.loss_code(loss, output, variant)
    z = _checks.float_array("z", z, ndim=2)
    if output == "softmax" and z.shape[1] < 2:
        raise ValueError(f"z: a softmax output needs at least 2 columns; got shape {z.shape}")
    T = _checks.targets("T", T, z.shape[0], z.shape[1], loss, output, z.dtype)
    return np.ascontiguousarray(z.T).ravel(), T, code, _checks.ACTIVATION_CODES[output]


def error_term(z, T, loss="ce", output="softmax", variant="exact"):
    """``delta = dL/dz`` per row, shape (n, K), from logits ``z`` (n, K) and targets ``T``.

    softmax or sigmoid with CE, and identity with MSE: ``o - t``.
    sigmoid with MSE: ``(o - t) o (1 - o)``.
    softmax with MSE: ``J^T (o - t)`` with ``J = diag(o) - o o^T``; ``variant="diagonal"``
    gives the common shortcut ``(o - t) o (1 - o)`` instead (not the gradient).
    """
    zt, T, code, out_code = _logit_args(z, T, loss, output, variant)
    D = np.empty(T.shape, zt.dtype)
    _kernels.error_terms(zt, T, code, out_code, D)
    return D


def logit_losses(z, T, loss="ce", output="softmax"):
    """Per-row loss ``L(z_n, t_n)`` from logits ``z`` (n, K), shape (n,)."""
    zt, T, code, out_code = _logit_args(z, T, loss, output)
    out = np.empty(T.shape[0], zt.dtype)
    _kernels.logit_losses(zt, T, code, out_code, out)
    return out


def sample_losses(net, X, T, loss="ce"):
    """Per-row loss ``L_n``, shape (n,)."""
    X, T, code = _checks.net_data(net, X, T, loss)
    out = np.empty(X.shape[0], net.dtype)
    _kernels.sample_losses(_checks.net_params(net), net._sizes, *_codes(net), code, X, T, out)
    return out


def loss(net, X, T, loss="ce"):
    """Mean loss over rows, ``1/n sum_n L_n``."""
    return float(sample_losses(net, X, T, loss).mean())


def per_sample_grads(net, X, T, loss="ce", variant="exact"):
    """``G[n] = dL_n / dtheta``, shape (n, P), in the order of ``net.params``."""
    X, T, code = _checks.net_data(net, X, T, loss, variant)
    G = np.empty((X.shape[0], net.n_params), net.dtype)
    _kernels.gradients(_checks.net_params(net), net._sizes, *_codes(net), code, X, T, True, G, G[0])
    return G


def grad(net, X, T, loss="ce", variant="exact"):
    """Gradient of the mean loss, ``1/n sum_n dL_n / dtheta``, shape (P,)."""
    X, T, code = _checks.net_data(net, X, T, loss, variant)
    g = np.zeros(net.n_params, net.dtype)
    _kernels.gradients(_checks.net_params(net), net._sizes, *_codes(net), code, X, T, False,
                       g.reshape(1, -1), g)
    return g


def deltas(net, X, T, loss="ce", lr=0.01, variant="exact"):
    """Per-sample, per-weight updates of plain SGD, ``-lr * dL_n / dtheta``, shape (n, P).

    For a weight from hidden unit j to output k this is ``-lr * delta_k * h_j``.
    """
    lr = _checks.number("lr", lr, low=0.0, low_open=True)
    G = per_sample_grads(net, X, T, loss, variant)
    G *= -lr
    return G
