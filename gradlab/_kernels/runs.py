"""Blocks of runs of one shape with the run index innermost, for the generated online steps
(`fused.train_online`): the optimizer update, the records and each epoch's row orders."""
import math

import numpy as np

from .blocks import (CE, L1, L2, LR, MOMENTUM, NESTEROV, SOFTMAX, WEIGHT_DECAY, _activate, _adam_constants, _exp,
                     _jit, _jit_inline, _output_offset, _softplus, _updated)
from .rng import permutation
from .training import LOGIT_GAP, PAST_TARGET, TEST_ACC, TEST_LOSS, TRAIN_ACC, TRAIN_LOSS, WEIGHT_NORM


# ---------------------------------------------------------------- many runs at once
#
# Every array carries the run index r innermost (params (P, RB), activations (units, RB),
# ...), so each arithmetic step is one loop over runs that vectorises. Per run, every value
# is computed by the same expressions, in the same order and the same float types as in
# `train_chunk` and `record` (the float64 accumulators where they use them included), so a
# run's results do not depend on RB, on its slot in the block, or on threads: they equal
# `train`'s bit for bit.


@_jit_inline
def _forward_runs(W, sizes, hidden, output, A, Z, m):
    """Forward pass of one row for a block of runs (`_forward_block` per run, B = 1); A's input
    rows are filled.

    Arrays are (units, RB) and indexed [unit, r]: the unit index is fixed inside each loop over
    runs and r counts from 0, so the accesses are consecutive and the loops vectorise (row
    views would cost a reference count each, and flat indices defeat numba's proof that an
    index is not negative)."""
    RB = W.shape[1]
    L = sizes.shape[0] - 1
    p = 0
    a_in = 0
    for l in range(L):
        fi = sizes[l]
        fo = sizes[l + 1]
        b0 = p + fi * fo
        a_out = a_in + fi
        last = l == L - 1
        out = Z if last else A  # the output layer's sums go to Z, hidden ones into A
        out0 = 0 if last else a_out
        for o in range(fo):
            zq = out0 + o
            for r in range(RB):
                out[zq, r] = W[b0 + o, r]
            i = 0
            while i + 4 <= fi:  # four terms per pass, added in the same order
                wq = p + i * fo + o
                aq = a_in + i
                for r in range(RB):
                    out[zq, r] = (((out[zq, r] + W[wq, r] * A[aq, r]) + W[wq + fo, r] * A[aq + 1, r])
                                  + W[wq + 2 * fo, r] * A[aq + 2, r]) + W[wq + 3 * fo, r] * A[aq + 3, r]
                i += 4
            while i < fi:
                wq = p + i * fo + o
                for r in range(RB):
                    out[zq, r] += W[wq, r] * A[a_in + i, r]
                i += 1
        if last and output == SOFTMAX:
            for r in range(RB):
                m[r] = Z[0, r]
            for k in range(1, fo):
                for r in range(RB):
                    m[r] = max(m[r], Z[k, r])
            for k in range(fo):
                for r in range(RB):
                    A[a_out + k, r] = _exp(Z[k, r] - m[r])
            for r in range(RB):
                m[r] = A[a_out, r]
            for k in range(1, fo):
                for r in range(RB):
                    m[r] += A[a_out + k, r]
            for k in range(fo):
                for r in range(RB):
                    A[a_out + k, r] /= m[r]
        elif last:
            for q in range(fo):
                for r in range(RB):
                    A[a_out + q, r] = Z[q, r]
            _activate(output, A[a_out:a_out + fo].reshape(-1), fo * RB)
        else:
            _activate(hidden, A[a_out:a_out + fo].reshape(-1), fo * RB)
        p = b0 + fo
        a_in = a_out


@_jit_inline
def _sgd_update_runs(W, new, G, velocity, penalized, hyper, t, C, ok):
    """`_sgd_update` of one row's gradients G (scale 1) for a block of runs: hyper (N_HYPER, RB)
    and velocity (2P, RB) per run, of W's dtype; C (6, RB) scratch for `_adam_constants`.
    ok[r] &= all new values of run r are finite."""
    P, RB = W.shape
    F = W.dtype.type
    lr, l2, l1, wd, mom = hyper[LR], hyper[L2], hyper[L1], hyper[WEIGHT_DECAY], hyper[MOMENTUM]
    nesterov = hyper[NESTEROV]
    for r in range(RB):
        c = _adam_constants(hyper[:, r], t, F)
        for q in range(6):
            C[q, r] = c[q]
    for p in range(P):
        for r in range(RB):
            new[p, r], velocity[p, r], velocity[P + p, r] = _updated(
                W[p, r], G[p, r], velocity[p, r], velocity[P + p, r], penalized[p, r], lr[r], l2[r], l1[r], wd[r],
                mom[r], nesterov[r] != 0.0, (C[0, r], C[1, r], C[2, r], C[3, r], C[4, r], C[5, r]))
        for r in range(RB):
            ok[r] &= np.isfinite(new[p, r])


@_jit
def _evaluate_runs(W, sizes, hidden, output, loss, X, T, tstride, labels, A, Z, m, lb, top, zmax, rest, best,
                   bestv, other, total):
    """`_evaluate` for a block of runs, row by row (every run sees the same row, so the inputs
    are shared): total[:, r] += (loss, correct, logit gap, past target) of each row, each
    computed as `_loss_block` and `_add_class_stats` compute it for run r (the loss rounded
    to the parameters' dtype in lb before it is added, as there). Run r's targets are
    T[r tstride, j]: tstride 1 for per-run targets, 0 for targets all runs share."""
    RB = W.shape[1]
    K = sizes[-1]
    ob = _output_offset(sizes, np.int64(1))  # typed, as `train_chunk` passes B
    for j in range(X.shape[0]):
        y = labels[j]
        for i in range(sizes[0]):
            for r in range(RB):
                A[i, r] = X[j, i]
        _forward_runs(W, sizes, hidden, output, A, Z, m)
        for r in range(RB):
            rest[r] = 0.0
        if loss == CE and output == SOFTMAX:
            for r in range(RB):
                top[r] = 0
                zmax[r] = Z[0, r]
            for k in range(1, K):
                for r in range(RB):
                    if Z[k, r] > zmax[r]:
                        top[r] = k
                        zmax[r] = Z[k, r]
            for k in range(K):
                for r in range(RB):  # a select, not a branch, so the loop vectorises
                    e = _exp(Z[k, r] - zmax[r])
                    rest[r] = rest[r] + e if k != top[r] else rest[r]
            for r in range(RB):
                lse = math.log1p(rest[r])
                v = 0.0
                for k in range(K):
                    t = T[r * tstride, j, k]
                    v += t * ((zmax[r] - Z[k, r]) + lse)
                lb[r] = v
        elif loss == CE:
            for k in range(K):
                for r in range(RB):
                    z = Z[k, r]
                    t = T[r * tstride, j, k]
                    rest[r] += t * _softplus(-z) + (1.0 - t) * _softplus(z)
            for r in range(RB):
                lb[r] = rest[r]
        else:
            for k in range(K):
                for r in range(RB):
                    e = A[ob + k, r] - T[r * tstride, j, k]
                    rest[r] += 0.5 * e * e
            for r in range(RB):
                lb[r] = rest[r]
        for r in range(RB):
            total[0, r] += lb[r]
        if K == 1:
            for r in range(RB):
                o = A[ob, r]
                z = Z[0, r]
                t = T[r * tstride, j, 0]
                total[1, r] += (o > 0.5) == (y == 1)
                total[2, r] += z if y == 1 else -z
                total[3, r] += o > t if y == 1 else o < t
        else:
            for r in range(RB):
                best[r] = 0
                bestv[r] = A[ob, r]  # = A[ob + best[r], r]
                other[r] = -np.inf
            for k in range(K):
                for r in range(RB):
                    if A[ob + k, r] > bestv[r]:
                        best[r] = k
                        bestv[r] = A[ob + k, r]
                if k != y:
                    for r in range(RB):
                        other[r] = max(other[r], Z[k, r])
            for r in range(RB):
                t = T[r * tstride, j, y]
                total[1, r] += best[r] == y
                total[2, r] += Z[y, r] - other[r]
                total[3, r] += A[ob + y, r] > t


@_jit
def _record_runs(W, sizes, hidden, output, loss, X, T, labels, Xt, Tt, labels_t, stats, layer_norms, state, ok,
                 check, evaluate):
    """`record` for every run r of the block with ok[r], at its record index state[r, 0]:
    the same values, bit for bit (weight norms summed in float64 in parameter order, then, if
    ``evaluate``, the rows' statistics in row order). With ``check``, a record whose loss or norm
    is not finite clears ok[r] and is not counted; otherwise state[r, 0] advances."""
    RB = W.shape[1]
    L = sizes.shape[0] - 1
    K = sizes[-1]
    A = np.empty((sizes.sum(), RB), W.dtype)  # one row of the data at a time
    Z = np.empty((K, RB), W.dtype)
    m = np.empty(RB, W.dtype)
    lb = np.empty(RB, W.dtype)
    top = np.empty(RB, np.int64)
    best = np.empty(RB, np.int64)
    bestv = np.empty(RB, W.dtype)
    zmax = np.empty(RB, W.dtype)
    rest = np.empty(RB)
    other = np.empty(RB)  # float64, as `_add_class_stats` keeps it
    total = np.empty((4, RB))
    norm = np.empty(RB)
    norm_sum = np.empty(RB)
    for r in range(RB):
        norm_sum[r] = 0.0
    p = 0
    for l in range(L):
        mq = sizes[l] * sizes[l + 1]
        for r in range(RB):
            norm[r] = 0.0
        for q in range(p, p + mq):
            for r in range(RB):
                norm[r] += W[q, r] * W[q, r]
        for r in range(RB):
            if ok[r]:
                layer_norms[r, state[r, 0], l] = math.sqrt(norm[r])
            norm_sum[r] += norm[r]
        p += mq + sizes[l + 1]
    for q in range(4):
        for r in range(RB):
            total[q, r] = 0.0 if evaluate else np.nan  # NaN: a record of the norms alone
    if evaluate:
        _evaluate_runs(W, sizes, hidden, output, loss, X, T, np.int64(1), labels, A, Z, m, lb, top, zmax, rest, best,
                       bestv, other, total)  # typed ints and flags, not literals: each literal compiles anew
    n = X.shape[0]
    nt = Xt.shape[0] if evaluate else 0
    for r in range(RB):
        if ok[r]:
            rec = state[r, 0]
            stats[r, rec, WEIGHT_NORM] = math.sqrt(norm_sum[r])
            stats[r, rec, TRAIN_LOSS] = total[0, r] / n
            stats[r, rec, TRAIN_ACC] = total[1, r] / n
            stats[r, rec, LOGIT_GAP] = total[2, r] / n
            stats[r, rec, PAST_TARGET] = total[3, r] / n
            stats[r, rec, TEST_LOSS] = np.nan
            stats[r, rec, TEST_ACC] = np.nan
    if nt > 0:
        for q in range(4):
            for r in range(RB):
                total[q, r] = 0.0
        _evaluate_runs(W, sizes, hidden, output, loss, Xt, Tt.reshape(1, nt, K), np.int64(0), labels_t, A, Z, m, lb,
                       top, zmax, rest, best, bestv, other, total)
        for r in range(RB):
            if ok[r]:
                stats[r, state[r, 0], TEST_LOSS] = total[0, r] / nt
                stats[r, state[r, 0], TEST_ACC] = total[1, r] / nt
    for r in range(RB):
        if ok[r]:
            rec = state[r, 0]
            if not check or ((not evaluate or np.isfinite(stats[r, rec, TRAIN_LOSS]))
                             and np.isfinite(stats[r, rec, WEIGHT_NORM])):
                state[r, 0] += 1
            else:
                ok[r] = False


@_jit_inline
def _draw_orders(rng, live, perm, order, shuffled):
    """This epoch's rows for every live run: order[:, r] = a permutation drawn from rng[r]
    (`epoch_orders` for `train_chunk`), or the rows in turn when not ``shuffled``."""
    n = order.shape[0]
    for r in range(order.shape[1]):
        if live[r]:
            if shuffled:
                permutation(rng[r], perm)
            else:
                for j in range(n):
                    perm[j] = j
            for j in range(n):
                order[j, r] = perm[j]


@_jit_inline
def _any(flags):
    alive = False
    for r in range(flags.shape[0]):
        alive |= flags[r]
    return alive


@_jit_inline
def _stop_failed_runs(W, new, ok, live, state, step):
    """After step ``step``: runs whose step failed (not ok) keep the parameters it started
    from; a live one among them stops, with state[r, 1] = step + 1."""
    for r in range(W.shape[1]):
        if not ok[r]:
            for p in range(W.shape[0]):
                new[p, r] = W[p, r]
            if live[r]:
                state[r, 1] = step + 1
                live[r] = False


@_jit_inline
def _copy_to_caller(W, new, in_spare):
    """After the last swap: if W is the spare buffer, copy it into ``new``, the caller's array."""
    if in_spare:
        for p in range(W.shape[0]):
            for r in range(W.shape[1]):
                new[p, r] = W[p, r]
