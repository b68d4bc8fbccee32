"""Where gradlab's training time goes, for the training workloads W1-W3 (bench/training.py).

    python bench/profile_training.py            # all four workloads
    python bench/profile_training.py W1 W3      # those whose name contains W1 or W3

Not part of ``run.py``: a diagnostic for the RESULTS.md targets that are not met. It times

- ``gl.train`` (the public call, as the bench does) and, inside it, ``_kernels.train_chunk``
  with and without records (``record_every`` beyond the run), and ``_kernels.record`` alone;
  the rest of ``gl.train`` is Python (validation, permutations, History);
- the step, cut into cumulative parts by a numba wrapper that repeats ``train_chunk``'s loop
  with the same inlined gradlab kernels but stops after: the forward pass (incl. gathering
  the batch rows), + output error term and finiteness check, + zeroing and backward pass,
  + SGD update (= a whole step); the differences are the parts' costs. The forward pass is
  cut further by running it with identity activation codes: affine layers only; + tanh;
  + softmax;
- the record, cut likewise: weight norms; + forward over all rows; + loss and class stats
  (= ``_evaluate``); + work-buffer allocation (= ``record``).

The wrappers are compiled here without ``cache=True`` (they call gradlab's kernels, whose
changes numba's cache would not track). Medians of several calls, in ns per step / record.
"""
import os
import statistics
import sys
import time

import numpy as np
from numba import njit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import gradlab as gl  # noqa: E402
from gradlab import _kernels as kern  # noqa: E402
from gradlab._kernels import blocks as kb, training as kt  # noqa: E402  (private pieces)

import training  # noqa: E402


@njit(error_model="numpy")
def _steps(params, sizes, hidden, output, loss, X, T, order, batch, n_epochs, hyper, penalized,
           velocity, part):
    """train_chunk's step loop without records, stopping after ``part`` (1 forward, 2 + error
    term, 3 + backward, 4 + update)."""
    n = X.shape[0]
    K = sizes[-1]
    steps_per_epoch = (n + batch - 1) // batch
    A, Zb, D, D2, DT, tmp, _ = kb._workspace(sizes, batch, params)
    grad = np.empty_like(params)
    spare = params.copy()
    no_G = np.empty((0, 0), params.dtype)
    no_extra = np.empty(0, params.dtype)
    cur = params
    nxt = spare
    finite = True
    step = 0
    for e in range(n_epochs):
        for b in range(steps_per_epoch):
            B = min(batch, n - b * batch)
            rows = order[e * n + b * batch:e * n + b * batch + B]
            kb._forward_block(cur, sizes, hidden, output, X, rows, B, A, Zb, tmp)
            if part >= 2:
                ob = kb._output_offset(sizes, B)
                kb._error_term_block(A[ob:ob + K * B], Zb, T, rows, B, K, loss, output, 0.0, D)
                for q in range(K * B):
                    finite &= np.isfinite(D[q])
            if part >= 3:
                for p in range(grad.shape[0]):
                    grad[p] = 0.0
                kb._backward_block(cur, sizes, hidden, A, B, D, D2, DT, False, no_G, grad, no_extra, False)
            if part >= 4:
                finite &= kb._sgd_update(cur, nxt, grad, 1.0 / B, velocity, penalized, hyper, step + 1)
                cur, nxt = nxt, cur
            step += 1
    return finite


@njit(error_model="numpy")
def _forward_rows(params, sizes, hidden, output, X, A, Zb, tmp, rows):
    """``_evaluate``'s loop over row blocks without the loss: a separate function like
    ``_evaluate`` (inlined into a larger one the same code ran ~40% slower on W3)."""
    n = X.shape[0]
    Bmax = tmp.shape[0]
    acc = 0.0
    for start in range(0, n, Bmax):
        B = min(Bmax, n - start)
        for j in range(B):
            rows[j] = start + j
        kb._forward_block(params, sizes, hidden, output, X, rows, B, A, Zb, tmp)
        acc += Zb[0]
    return acc


@njit(error_model="numpy")
def _records(params, sizes, hidden, output, loss, X, T, labels, reps, part):
    """``reps`` records, stopping after ``part`` (1 norms, 2 + forward over all rows, 3 + loss
    and class stats, 4 + fresh work buffers per record as ``record`` allocates them)."""
    n = X.shape[0]
    K = sizes[-1]
    Bmax = min(n, kern.ROW_BLOCK)
    A, Zb, D, D2, DT, tmp, rows = kb._workspace(sizes, Bmax, params)
    acc = 0.0
    for _ in range(reps):
        if part >= 4:
            A, Zb, D, D2, DT, tmp, rows = kb._workspace(sizes, Bmax, params)
        s = 0.0
        for q in range(params.shape[0]):  # stands in for the per-layer norm loops
            s += params[q] * params[q]
        acc += s
        if part == 2:
            acc += _forward_rows(params, sizes, hidden, output, X, A, Zb, tmp, rows)
        elif part >= 3:
            tr = kt._evaluate(params, sizes, hidden, output, loss, X, T, labels, A, Zb, tmp, rows)
            acc += tr[0]
    return acc


def _median_time(f, reps=7):
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def profile(w, log=print):
    d = w.setup()
    net = d.net
    codes = (net._sizes, kern.TANH, kern.SOFTMAX, kern.CE)
    order = d.orders.reshape(-1) if d.shuffled else np.tile(np.arange(d.n), d.epochs)
    hyper = np.zeros(kern.N_HYPER, d.dtype)  # plain SGD: lr, no penalties, momentum or Adam
    hyper[kern.LR] = d.lr
    beta = d.dtype(0.0)
    hidden_target = (np.zeros((1, 1), d.dtype), d.dtype(0.0))  # none (as gl.train passes it)
    penalized = net.weight_mask().astype(d.dtype)
    velocity = np.zeros(2 * d.params.size, d.dtype)  # the optimizer's state: m, then Adam's v
    X, T, labels = d.X, d.T, d.y.astype(np.int64)
    Xt = np.empty((0, X.shape[1]), d.dtype)
    Tt = np.empty((0, d.K), d.dtype)
    lt = np.empty(0, np.int64)
    traced = np.empty(0, np.int64)

    def chunk(record_every):
        n_rec = 2 + d.total_steps // record_every
        stats = np.full((n_rec, kern.N_STATS), np.nan)
        norms = np.full((n_rec, len(d.layers)), np.nan)
        traces = np.zeros((n_rec, 0, 0), d.dtype)
        p, state = d.params.copy(), np.zeros(2, np.int64)
        kern.train_chunk(p, velocity.copy(), penalized, *codes, beta, hyper, X, T, labels, order,
                         d.B, d.epochs, 0, record_every, record_every, d.total_steps, Xt, Tt, lt, traced,
                         stats, norms, traces, state, hidden_target)

    def records(n):
        stats = np.full((1, kern.N_STATS), np.nan)
        norms = np.full((1, len(d.layers)), np.nan)
        traces = np.zeros((1, 0, 0), d.dtype)
        for _ in range(n):
            kern.record(d.params, *codes, X, T, labels, Xt, Tt, lt, traced, 0, stats, norms, traces, True)

    steps, recs = d.total_steps, d.n_records
    kw = d.gradlab_kwargs()
    gl.train(net, X, d.y, **kw)  # compile / load everything first
    chunk(d.record_every)
    chunk(10 ** 12)
    records(1)
    for part in (1, 2, 3, 4):
        _steps(d.params.copy(), *codes, X, T, order[:d.n], d.B, 1, hyper, penalized, velocity.copy(), part)
        _records(d.params, *codes, X, T, labels, 1, part)

    t_train = _median_time(lambda: gl.train(net, X, d.y, **kw))
    t_chunk = _median_time(lambda: chunk(d.record_every))
    t_norec = _median_time(lambda: chunk(10 ** 12))
    t_rec = _median_time(lambda: records(recs)) / recs
    lin = (net._sizes, kern.IDENTITY, kern.IDENTITY, kern.CE)
    tanh_only = (net._sizes, kern.TANH, kern.IDENTITY, kern.CE)
    for c in (lin, tanh_only):
        _steps(d.params.copy(), *c, X, T, order[:d.n], d.B, 1, hyper, penalized, velocity.copy(), 1)
    t_fwd = [_median_time(lambda: _steps(d.params.copy(), *c, X, T, order, d.B, d.epochs, hyper,
                                         penalized, velocity.copy(), 1)) / steps
             for c in (lin, tanh_only)]
    t_parts = [_median_time(lambda: _steps(d.params.copy(), *codes, X, T, order, d.B, d.epochs, hyper,
                                           penalized, velocity.copy(), part)) / steps
               for part in (1, 2, 3, 4)]
    r_parts = [_median_time(lambda: _records(d.params, *codes, X, T, labels, recs, part)) / recs
               for part in (1, 2, 3, 4)]

    ns = 1e9
    log(f"\n== {w.name}: {steps:,} steps of batch {d.B}, {recs} records of {d.n} rows, {d.dtype.__name__}")
    log(f"   gl.train                {t_train * 1e3:8.1f} ms = {t_train / steps * ns:7.0f} ns/step")
    log(f"   . train_chunk           {t_chunk * 1e3:8.1f} ms ({t_chunk / t_train:.0%})")
    log(f"   .   steps (no records)  {t_norec * 1e3:8.1f} ms ({t_norec / t_train:.0%}) = "
        f"{t_norec / steps * ns:.0f} ns/step")
    log(f"   .   records             {(t_chunk - t_norec) * 1e3:8.1f} ms ({(t_chunk - t_norec) / t_train:.0%}) = "
        f"{(t_chunk - t_norec) / recs * 1e6:.1f} us/record (record() alone: {t_rec * 1e6:.1f} us)")
    log(f"   . Python around it      {(t_train - t_chunk) * 1e3:8.1f} ms ({(t_train - t_chunk) / t_train:.0%}) "
        "(validation, permutations, History)")
    names = ("forward (incl. row gather)", "error term + finite check", "zero grad + backward",
             "SGD update (+ finite check)")
    prev = 0.0
    log("   step parts (wrapper, cumulative differences), ns/step:")
    for name, t in zip(names, t_parts):
        log(f"   .   {name:30s} {(t - prev) * ns:7.0f}  ({(t - prev) / t_parts[-1]:.0%})")
        if prev == 0.0:
            fwd = [t_fwd[0], t_fwd[1] - t_fwd[0], t - t_fwd[1]]
            for sub, tf in zip(("gather + affine layers", "tanh", "softmax"), fwd):
                log(f"   .     {sub:28s} {tf * ns:7.0f}  ({tf / t_parts[-1]:.0%})")
        prev = t
    log(f"   .   {'whole step (wrapper)':30s} {t_parts[-1] * ns:7.0f}")
    names = ("weight norms", "forward over all rows", "loss + class stats", "work-buffer allocation")
    prev = 0.0
    log("   record parts (wrapper, cumulative differences), us/record:")
    for name, t in zip(names, r_parts):
        log(f"   .   {name:30s} {(t - prev) * 1e6:7.2f}  ({(t - prev) / r_parts[-1]:.0%})")
        prev = t
    return dict(train=t_train, chunk=t_chunk, steps=t_norec, record=t_rec, step_parts=t_parts,
                forward_parts=t_fwd, record_parts=r_parts)


def main():
    sel = sys.argv[1:]
    for w in training.WORKLOADS:
        if not sel or any(s in w.name for s in sel):
            profile(w)


if __name__ == "__main__":
    main()
