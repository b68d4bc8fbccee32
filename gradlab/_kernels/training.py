"""Training one run: SGD steps over blocks of rows (`train_chunk`) and the records taken on a
schedule (`record`). Layouts as in `blocks`."""
import math

import numpy as np
from numba import njit, prange

from .blocks import (ROW_BLOCK, _backward_block, _error_term_block, _forward_block, _forward_rows, _jit, _jit_inline,
                     _loss_block, _output_offset, _sgd_update, _workspace)
from .rng import permutation


# ---------------------------------------------------------------- training


@_jit_inline
def _hidden_target_block(A, sizes, B, rows, labels, targets, weight, extra):
    """extra[i B + j] = weight (a_L[i, j] - targets[labels[rows[j]], i]): the derivative of
    weight/2 ||a_L - targets[y]||^2 with respect to the last hidden layer's activations a_L."""
    H = sizes[-2]
    a0 = (sizes.sum() - sizes[-1] - H) * B
    for i in range(H):
        for j in range(B):
            extra[i * B + j] = weight * (A[a0 + i * B + j] - targets[labels[rows[j]], i])


# Columns of the per-record statistics written by `record`.
WEIGHT_NORM, TRAIN_LOSS, TRAIN_ACC, TEST_LOSS, TEST_ACC, LOGIT_GAP, PAST_TARGET = range(7)
N_STATS = 7


@_jit_inline
def _add_class_stats(O, Z, T, rows, labels, B, K, lb, total):
    """total += (loss lb[j], correct, logit gap, past target) of each row j of the block, in
    row order: correct = argmax == label; gap = z_true - max other z (K = 1: the signed
    logit); past = 1 if the true-class output exceeds its target t'_true. The loops over rows
    are innermost, so they vectorise."""
    if K == 1:
        for j in range(B):
            y = labels[rows[j]]
            o = O[j]
            total[0] += lb[j]
            total[1] += (o > 0.5) == (y == 1)
            total[2] += Z[j] if y == 1 else -Z[j]
            total[3] += o > T[rows[j], 0] if y == 1 else o < T[rows[j], 0]
        return
    best = np.zeros(B, np.int64)
    bestv = O[:B].copy()
    other = np.full(B, -np.inf)  # float64
    for k in range(K):
        for j in range(B):
            o = O[k * B + j]
            if o > bestv[j]:
                best[j] = k
                bestv[j] = o
            other[j] = max(other[j], Z[k * B + j]) if k != labels[rows[j]] else other[j]
    for j in range(B):
        y = labels[rows[j]]
        total[0] += lb[j]
        total[1] += best[j] == y
        total[2] += Z[y * B + j] - other[j]
        total[3] += O[y * B + j] > T[rows[j], y]


@_jit
def _evaluate(params, sizes, hidden, output, loss, X, T, labels, A, Zb, tmp, rows):
    """Sums over all rows of X: (loss, correct, logit gap, past target), in blocks of
    tmp.shape[0] rows (the workspace's)."""
    n = X.shape[0]
    K = sizes[-1]
    Bmax = tmp.shape[0]
    lb = np.empty(Bmax, params.dtype)
    total = np.zeros(4)
    for start in range(0, n, Bmax):
        B = min(Bmax, n - start)
        ob = _forward_rows(params, sizes, hidden, output, X, start, B, A, Zb, tmp, rows)
        O = A[ob:ob + K * B]
        _loss_block(O, Zb, T, rows, B, K, loss, output, lb)
        _add_class_stats(O, Zb, T, rows, labels, B, K, lb, total)
    return total


@_jit
def record(params, sizes, hidden, output, loss, X, T, labels, Xt, Tt, labels_t, traced,
           r, stats, layer_norms, traces, evaluate):
    """Write record r: weight norms and, if ``evaluate`` (else NaN), train and test
    loss/accuracy, mean logit gap, share of rows past their target, and per-sample gradients
    of the ``traced`` parameters."""
    L = sizes.shape[0] - 1
    p = 0
    total = 0.0
    for l in range(L):
        m = sizes[l] * sizes[l + 1]
        s = 0.0
        for q in range(p, p + m):
            s += params[q] * params[q]
        layer_norms[r, l] = math.sqrt(s)
        total += s
        p += m + sizes[l + 1]
    stats[r, WEIGHT_NORM] = math.sqrt(total)
    if not evaluate:
        for c in range(stats.shape[1]):
            if c != WEIGHT_NORM:
                stats[r, c] = np.nan
        if traced.shape[0] > 0:
            traces[r, :, :] = np.nan
        return
    n = X.shape[0]
    Bmax = min(n, ROW_BLOCK)
    A, Zb, D, D2, DT, tmp, rows = _workspace(sizes, Bmax, params)
    tr = _evaluate(params, sizes, hidden, output, loss, X, T, labels, A, Zb, tmp, rows)
    stats[r, TRAIN_LOSS] = tr[0] / n
    stats[r, TRAIN_ACC] = tr[1] / n
    stats[r, LOGIT_GAP] = tr[2] / n
    stats[r, PAST_TARGET] = tr[3] / n
    if Xt.shape[0] > 0:
        At, Zt, _, _, _, tmpt, rowst = _workspace(sizes, min(Xt.shape[0], ROW_BLOCK), params)
        te = _evaluate(params, sizes, hidden, output, loss, Xt, Tt, labels_t, At, Zt, tmpt, rowst)
        stats[r, TEST_LOSS] = te[0] / Xt.shape[0]
        stats[r, TEST_ACC] = te[1] / Xt.shape[0]
    else:
        stats[r, TEST_LOSS] = np.nan
        stats[r, TEST_ACC] = np.nan
    if traced.shape[0] > 0:
        K = sizes[-1]
        G = np.empty((Bmax, params.shape[0]), params.dtype)
        for start in range(0, n, Bmax):
            B = min(Bmax, n - start)
            ob = _forward_rows(params, sizes, hidden, output, X, start, B, A, Zb, tmp, rows)
            _error_term_block(A[ob:ob + K * B], Zb, T, rows, B, K, loss, output, 0.0, D)
            _backward_block(params, sizes, hidden, A, B, D, D2, DT, np.bool_(True), G, G[0], tmp,
                            np.bool_(False))  # typed flags, not literals: each literal compiles anew
            for j in range(B):
                for c in range(traced.shape[0]):
                    traces[r, start + j, c] = G[j, traced[c]]


@_jit
def train_chunk(params, velocity, penalized, sizes, hidden, output, loss, beta, hyper, X, T, labels,
                order, batch, n_epochs, step0, record_every, evaluate_every, total_steps,
                Xt, Tt, labels_t, traced, stats, layer_norms, traces, state, hidden_target):
    """Run ``n_epochs`` epochs of mini-batch SGD or Adam on ``params`` and the optimizer
    state ``velocity`` (2P) in place (`_sgd_update`; ``penalized`` marks the parameters that
    penalties and decay act on).
    ``hidden_target`` = (targets (classes, H), weight): weight > 0 adds
    weight/2 ||a_L(x_n) - targets[y_n]||^2 to each row's loss (`_hidden_target_block`).

    ``order`` holds each epoch's row order (n_epochs x n, flat); an epoch is ceil(n / batch)
    steps, the last batch holding the remainder. After every ``record_every``-th step (and the
    last) a record is written at index state[0], which is then advanced; it evaluates the net
    on the data after every ``evaluate_every``-th step (a multiple of ``record_every``) and the
    last.

    The run stops at the first step whose error term or new parameters are not finite, or
    whose record has a non-finite loss or norm: state[1] = that step, ``params`` keeps the
    last finite parameters (those the step started from) and that record is not counted.
    """
    n = X.shape[0]
    K = sizes[-1]
    steps_per_epoch = (n + batch - 1) // batch
    A, Zb, D, D2, DT, tmp, _ = _workspace(sizes, batch, params)
    grad = np.empty_like(params)
    spare = np.empty_like(params)
    no_G = np.empty((0, 0), params.dtype)
    h_targets, h_weight = hidden_target
    use_extra = h_weight != 0.0
    extra = np.empty(sizes[-2] * batch if use_extra else 0, params.dtype)
    cur = params  # updates alternate between two buffers, so a failed step loses nothing
    nxt = spare
    in_spare = False  # whether cur is the spare buffer
    step = step0
    finite = True
    for e in range(n_epochs):
        for b in range(steps_per_epoch):
            B = min(batch, n - b * batch)
            rows = order[e * n + b * batch:e * n + b * batch + B]
            _forward_block(cur, sizes, hidden, output, X, rows, B, A, Zb, tmp)
            ob = _output_offset(sizes, B)
            _error_term_block(A[ob:ob + K * B], Zb, T, rows, B, K, loss, output, beta, D)
            for q in range(K * B):
                finite &= np.isfinite(D[q])
            if finite:
                for p in range(grad.shape[0]):
                    grad[p] = 0.0
                if use_extra:
                    _hidden_target_block(A, sizes, B, rows, labels, h_targets, h_weight, extra)
                _backward_block(cur, sizes, hidden, A, B, D, D2, DT, np.bool_(False), no_G, grad, extra, use_extra)
                finite = _sgd_update(cur, nxt, grad, 1.0 / B, velocity, penalized, hyper, step + 1)
            if finite:
                cur, nxt = nxt, cur
                in_spare = not in_spare
                if (step + 1) % record_every == 0 or step + 1 == total_steps:
                    r = state[0]
                    evaluate = (step + 1) % evaluate_every == 0 or step + 1 == total_steps
                    record(cur, sizes, hidden, output, loss, X, T, labels, Xt, Tt, labels_t,
                           traced, r, stats, layer_norms, traces, evaluate)
                    finite = (not evaluate or np.isfinite(stats[r, TRAIN_LOSS])) and np.isfinite(stats[r, WEIGHT_NORM])
                    if finite:
                        state[0] += 1
                    else:  # back to the parameters this step started from
                        cur, nxt = nxt, cur
                        in_spare = not in_spare
            if not finite:
                state[1] = step + 1
                break
            step += 1
        if not finite:
            break
    if in_spare:
        params[:] = cur


@njit(cache=True, error_model="numpy", parallel=True)
def train_each(W, velocity, penalized, sizes, hidden, output, loss, beta, hyper, X, T, labels, rng, batch, n_epochs,
               record_every, evaluate_every, total_steps, Xt, Tt, labels_t, stats, layer_norms, state, hidden_target):
    """`train` of each run r, one run per prange iteration, by `record` and `train_chunk`
    themselves (so each run's results are `train`'s, bit for bit): arrays indexed by run first
    (W (R, P), T (R, n, K), rng (R, 6), stats (R, records, N_STATS), state (R, 2), ...); each
    epoch's row order drawn from rng[r] as `train_runs` draws it."""
    n = X.shape[0]
    steps_per_epoch = (n + batch - 1) // batch
    first, one = np.int64(0), np.int64(1)  # typed ints, not literals: literals would compile
    #                                        second specialisations of `record` and `train_chunk`
    for r in prange(W.shape[0]):
        traced = np.empty(0, np.int64)
        traces = np.empty((0, 0, 0), W.dtype)
        record(W[r], sizes, hidden, output, loss, X, T[r], labels, Xt, Tt, labels_t, traced, first, stats[r],
               layer_norms[r], traces, np.bool_(True))
        state[r, 0] = 1
        order = np.arange(n)
        for e in range(n_epochs):
            if batch < n:
                permutation(rng[r], order)
            train_chunk(W[r], velocity[r], penalized[r], sizes, hidden, output, loss, beta[r], hyper[r], X, T[r],
                        labels, order, batch, one, e * steps_per_epoch, record_every, evaluate_every, total_steps, Xt,
                        Tt, labels_t, traced, stats[r], layer_norms[r], traces, state[r],
                        (hidden_target[0], hidden_target[1][r]))
            if state[r, 1] != 0:
                break
