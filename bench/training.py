"""Training workloads W1-W3: mini-batch SGD with a loss curve recorded on a schedule.

gradlab is timed through its public call, ``gl.train(net, X, y, smoothing=a, lr=lr,
batch_size=B, epochs=E, seed=0, record_every=R, progress=False)`` (argument validation
included, exactly as a user calls it; no test set, so nobody computes test losses). The
result compared and timed is the *curve*: an (records, 2) float64 array whose columns are

    train_loss : mean CE over all training rows against the training targets t'
    weight_norm: ||W||_2 over every weight (biases excluded)

at steps 0, R, 2R, ..., last: gradlab's ``hist.train_loss`` and ``hist.weight_norm``.

Every implementation starts from ``gl.MLP(sizes, hidden="tanh", output="softmax", seed=0,
dtype=dtype).params`` (flat: per layer W (fan_in, fan_out) row-major, then b), trains on the
same standardised rows with the same targets, and visits the rows in the same order: gradlab
draws one ``rng.permutation(n)`` per epoch from ``rng = np.random.default_rng(seed)`` (all
epochs of a run fit in one chunk here, see ``gradlab/training.py``), so ``setup`` draws the
same sequence once and hands it to everyone. Batches are consecutive slices of the epoch's
order, the last holding the remainder; full batch (W2) uses the rows in order. Plain SGD,
``w -= lr * grad`` of the batch-mean CE.

- jax:   the whole run is one ``jax.jit`` function: ``lax.scan`` over record blocks, inside it
         a scan over the epochs of a block (W2) or straight one epoch (W1, W3), inside that a
         scan over the epoch's full batches (rows gathered once per epoch, ``X[perm]``
         reshaped to (batches, B, d)) plus one step for the remainder batch; the record is
         computed at the end of every block inside the scan. ``jax.grad`` of the batch-mean
         ``-sum(t * log_softmax(z))``, params a pytree of (W, b) per layer.
- torch: eager, plain Python loop: ``F.cross_entropy(logits, t')`` (probability targets),
         ``loss.backward()``, ``p -= lr * p.grad`` under ``torch.no_grad()``.
- numpy: plain vectorised forward and backward with matrix products per step, written into
         views of one flat parameter / gradient vector (one update ``p -= lr * g``).

torch and numpy are 10-1000x slower than gradlab on W1/W2, so they run a prefix of the
training (the first few record blocks, stated per workload in RESULTS.md); their speed is
scaled to the metric (work units per second) and their curve is checked on that prefix.
"""
import functools
import math

import numpy as np

import gradlab as gl
import harness

# ---------------------------------------------------------------- data


class TrainData:
    """One training workload's inputs, identical for every implementation.

    A *block* is the stretch between two records: ``block_epochs`` epochs of
    ``steps_per_epoch`` steps (W1, W3: one epoch; W2: 100 one-step epochs).
    """

    def __init__(self, dataset, sizes, smoothing, lr, batch_size, epochs, record_every,
                 dtype=np.float64, metric="samples", prefix=None, seed=0):
        X, y = getattr(gl.datasets, dataset)()
        Xtr, Xte, ytr, _ = gl.datasets.train_test_split(X, y, test_size=0.2, seed=0)
        Xtr, _ = gl.datasets.standardize(Xtr, Xte)
        self.dataset, self.dtype = dataset, np.dtype(dtype).type
        self.X = np.ascontiguousarray(Xtr, self.dtype)
        self.y = ytr
        n, K = self.X.shape[0], sizes[-1]
        self.n, self.K = n, K
        self.smoothing = smoothing
        # the targets exactly as gl.train makes them (one-hot in the net's dtype, smoothed)
        T = gl.one_hot(ytr, K, dtype=self.dtype)
        self.T = np.ascontiguousarray(gl.smooth_labels(T, smoothing).astype(self.dtype) if smoothing else T)
        self.net = gl.MLP(sizes, hidden="tanh", output="softmax", seed=seed, dtype=self.dtype)
        self.sizes = tuple(self.net.sizes)
        self.params = self.net.params.copy()
        self.layers = []  # (w0, w1, b1, fan_in, fan_out)
        p = 0
        for fi, fo in zip(self.sizes[:-1], self.sizes[1:]):
            self.layers.append((p, p + fi * fo, p + fi * fo + fo, fi, fo))
            p += fi * fo + fo
        self.lr = lr
        self.batch_size = batch_size  # as passed to gl.train (None: full batch)
        self.B = n if batch_size is None else min(batch_size, n)
        self.shuffled = self.B < n
        self.steps_per_epoch = -(-n // self.B)
        self.n_full, self.rem = divmod(n, self.B)
        self.epochs = epochs
        self.record_every = record_every
        self.total_steps = epochs * self.steps_per_epoch
        if record_every % self.steps_per_epoch:
            raise ValueError("records must fall on epoch ends")
        self.block_epochs = record_every // self.steps_per_epoch
        if epochs % self.block_epochs:
            raise ValueError("the run must end on a record")
        self.n_blocks = epochs // self.block_epochs
        self.n_records = self.n_blocks + 1
        self.seed = seed
        if self.shuffled:  # gradlab's sequence: one permutation per epoch, in epoch order
            rng = np.random.default_rng(seed)
            self.orders = np.stack([rng.permutation(n) for _ in range(epochs)])
        else:
            self.orders = None
        self.metric = metric  # "samples" (sample-steps) or "steps"
        self.prefix = dict(prefix or {})  # impl -> record blocks it runs (default: all)
        self._tolerance = None

    def gradlab_kwargs(self):
        return dict(smoothing=self.smoothing, lr=self.lr, batch_size=self.batch_size,
                    epochs=self.epochs, seed=self.seed, record_every=self.record_every,
                    progress=False)

    def units(self, metric, n_blocks):
        """Work done by ``n_blocks`` record blocks, in the workload's metric units."""
        steps = n_blocks * self.block_epochs * self.steps_per_epoch
        if metric == "steps":
            return steps
        return n_blocks * self.block_epochs * self.n  # samples (= sample-steps for batch 1)

    def scope(self, n_blocks):
        if n_blocks == self.n_blocks:
            return f"all {self.total_steps:,} steps"
        steps = n_blocks * self.block_epochs * self.steps_per_epoch
        return (f"first {steps:,} of {self.total_steps:,} steps "
                f"({n_blocks + 1} of {self.n_records} records)")


def _curve(loss, norm):
    return np.column_stack([np.asarray(loss, np.float64), np.asarray(norm, np.float64)])


# ---------------------------------------------------------------- gradlab


def build_gradlab(d):
    net, X, y, kw = d.net, d.X, d.y, d.gradlab_kwargs()

    def call():
        h = gl.train(net, X, y, **kw)
        return _curve(h.train_loss, h.weight_norm)
    return harness.sized(call, d.units(d.metric, d.n_blocks), d.scope(d.n_blocks))


def gradlab_curve(d, params):
    """gradlab's curve from other initial parameters (the perturbation experiment)."""
    net = gl.MLP.from_params(d.sizes, params, "tanh", "softmax")
    h = gl.train(net, d.X, d.y, **d.gradlab_kwargs())
    return _curve(h.train_loss, h.weight_norm)


# ---------------------------------------------------------------- numpy


def numpy_train(d, n_blocks):
    p = d.params.copy()
    g = np.empty_like(p)
    L = len(d.layers)
    W = [p[w0:w1].reshape(fi, fo) for w0, w1, b1, fi, fo in d.layers]
    b = [p[w1:b1] for w0, w1, b1, fi, fo in d.layers]
    gW = [g[w0:w1].reshape(fi, fo) for w0, w1, b1, fi, fo in d.layers]
    gb = [g[w1:b1] for w0, w1, b1, fi, fo in d.layers]
    X, T, lr, B, n = d.X, d.T, d.lr, d.B, d.n

    def forward(x):
        acts = [x]
        a = x
        for l in range(L):
            z = a @ W[l]
            z += b[l]
            a = np.tanh(z, out=z) if l < L - 1 else z
            acts.append(a)
        return acts

    def record():
        z = forward(X)[-1]
        m = z.max(axis=1, keepdims=True)
        lse = m + np.log(np.exp(z - m).sum(axis=1, keepdims=True))
        loss = (T * (lse - z)).sum(axis=1).mean()
        norm = math.sqrt(sum(float((w * w).sum()) for w in W))
        return float(loss), norm

    def step(xb, tb):
        acts = forward(xb)
        z = acts[-1]
        o = np.exp(z - z.max(axis=1, keepdims=True))
        o /= o.sum(axis=1, keepdims=True)
        delta = o - tb  # dL/dz of softmax-CE (rows of t' sum to 1)
        for l in range(L - 1, -1, -1):
            np.matmul(acts[l].T, delta, out=gW[l])
            np.sum(delta, axis=0, out=gb[l])
            if l:
                a = acts[l]
                delta = (delta @ W[l].T) * (1 - a * a)
        np.multiply(g, 1.0 / xb.shape[0], out=g)  # w - lr * (grad_sum / B), as gradlab
        np.multiply(g, lr, out=g)
        np.subtract(p, g, out=p)

    recs = [record()]
    for blk in range(n_blocks):
        for e in range(blk * d.block_epochs, (blk + 1) * d.block_epochs):
            if not d.shuffled:
                step(X, T)
                continue
            order = d.orders[e]
            for s in range(d.steps_per_epoch):
                idx = order[s * B:(s + 1) * B]
                step(X[idx], T[idx])
        recs.append(record())
    return np.array(recs)


def build_numpy(d):
    n_blocks = d.prefix.get("numpy", d.n_blocks)

    def call():
        return numpy_train(d, n_blocks)
    return harness.sized(call, d.units(d.metric, n_blocks), d.scope(n_blocks))


# ---------------------------------------------------------------- torch


def build_torch(d):
    try:
        import torch
        import torch.nn.functional as F
    except ImportError as err:
        raise harness.Skip(f"torch not installed: {err}") from None
    if harness.requested_threads():
        torch.set_num_threads(harness.requested_threads())
    n_blocks = d.prefix.get("torch", d.n_blocks)
    X, T = torch.from_numpy(d.X.copy()), torch.from_numpy(d.T.copy())
    orders = torch.from_numpy(d.orders) if d.shuffled else None
    lr, B = d.lr, d.B
    init = [(torch.from_numpy(d.params[w0:w1].reshape(fi, fo).copy()),
             torch.from_numpy(d.params[w1:b1].copy())) for w0, w1, b1, fi, fo in d.layers]

    def call():
        layers = [(W.clone().requires_grad_(), b.clone().requires_grad_()) for W, b in init]
        params = [q for wb in layers for q in wb]

        def forward(x):
            a = x
            for l, (W, b) in enumerate(layers):
                a = a @ W + b
                if l < len(layers) - 1:
                    a = torch.tanh(a)
            return a

        def record():
            with torch.no_grad():
                loss = F.cross_entropy(forward(X), T)
                norm = torch.sqrt(sum((W * W).sum() for W, _ in layers))
            return loss.item(), norm.item()

        def step(xb, tb):
            loss = F.cross_entropy(forward(xb), tb)
            loss.backward()
            with torch.no_grad():
                for q in params:
                    q -= lr * q.grad
                    q.grad = None

        recs = [record()]
        for blk in range(n_blocks):
            for e in range(blk * d.block_epochs, (blk + 1) * d.block_epochs):
                if orders is None:
                    step(X, T)
                    continue
                order = orders[e]
                for s in range(d.steps_per_epoch):
                    idx = order[s * B:(s + 1) * B]
                    step(X[idx], T[idx])
            recs.append(record())
        return np.array(recs)
    return harness.sized(call, d.units(d.metric, n_blocks), d.scope(n_blocks))


# ---------------------------------------------------------------- jax


def jax_training_fn(d, unroll=1):
    """The whole training run as one jitted function of (params, X, T, orders)."""
    import jax
    import jax.numpy as jnp
    from jax import lax

    L, lr, B, n = len(d.layers), d.lr, d.B, d.n
    n_full, rem = d.n_full, d.rem
    if not d.shuffled:
        n_full, rem = 1, 0

    def logits(params, x):
        a = x
        for l, (W, b) in enumerate(params):
            a = a @ W + b
            if l < L - 1:
                a = jnp.tanh(a)
        return a

    def loss(params, x, t):
        return -jnp.mean(jnp.sum(t * jax.nn.log_softmax(logits(params, x)), axis=-1))

    grad = jax.grad(loss)

    def step(params, x, t):
        g = grad(params, x, t)
        return jax.tree_util.tree_map(lambda p, gp: p - lr * gp, params, g)

    def record(params, X, T):
        norm = jnp.sqrt(sum(jnp.sum(W * W) for W, _ in params))
        return jnp.stack([loss(params, X, T), norm])

    def epoch(params, X, T, order):
        if order is None:  # full batch, rows in order
            return step(params, X, T)
        Xe, Te = X[order], T[order]
        xs = Xe[:n_full * B].reshape(n_full, B, -1)
        ts = Te[:n_full * B].reshape(n_full, B, -1)
        params, _ = lax.scan(lambda p, xt: (step(p, *xt), None), params, (xs, ts), unroll=unroll)
        if rem:
            params = step(params, Xe[n_full * B:], Te[n_full * B:])
        return params

    def train(params, X, T, orders):
        def block(p, block_orders):
            if d.block_epochs == 1:
                p = epoch(p, X, T, None if block_orders is None else block_orders[0])
            elif block_orders is None:
                p, _ = lax.scan(lambda q, _: (epoch(q, X, T, None), None), p, None,
                                length=d.block_epochs, unroll=unroll)
            else:
                p, _ = lax.scan(lambda q, o: (epoch(q, X, T, o), None), p, block_orders,
                                unroll=unroll)
            return p, record(p, X, T)
        r0 = record(params, X, T)
        if orders is None:
            params, recs = lax.scan(lambda p, _: block(p, None), params, None, length=d.n_blocks)
        else:
            params, recs = lax.scan(block, params, orders)
        return jnp.concatenate([r0[None], recs])
    return jax.jit(train)


def build_jax(d, unroll=1):
    try:
        import jax
    except ImportError as err:
        raise harness.Skip(f"jax not installed: {err}") from None
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    f = jax_training_fn(d, unroll)
    params = [(jnp.asarray(d.params[w0:w1].reshape(fi, fo)), jnp.asarray(d.params[w1:b1]))
              for w0, w1, b1, fi, fo in d.layers]
    X, T = jnp.asarray(d.X), jnp.asarray(d.T)
    assert X.dtype == d.dtype and params[0][0].dtype == d.dtype, "jax changed the dtype"
    orders = (jnp.asarray(d.orders.reshape(d.n_blocks, d.block_epochs, d.n))
              if d.shuffled else None)
    params, X, T, orders = jax.device_put((params, X, T, orders))

    def call():
        return f(params, X, T, orders).block_until_ready()
    return harness.sized(call, d.units(d.metric, d.n_blocks), d.scope(d.n_blocks))


IMPLS = {"gradlab": build_gradlab, "jax": build_jax, "torch": build_torch, "numpy": build_numpy}


# ---------------------------------------------------------------- agreement

PERTURBATIONS = 3  # gradlab runs from params moved by 1 ulp (random directions)
SAFETY = 10  # allowed: SAFETY x the largest relative move of those runs ...
BASE_ULPS = 64  # ... but never less than BASE_ULPS x eps (relative)
LOSS_ATOL_ULPS = 2  # plus, for the loss, LOSS_ATOL_ULPS x eps x mean_n max_k |z_nk| absolute
CHECKPOINTS = (0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)  # records shown in RESULTS.md


class Tolerance:
    """Per-record tolerance of the (records, 2) curve [train loss, weight norm], measured once
    per workload with gradlab itself.

    1. Dynamics: gradlab is re-run from its initial parameters moved by one ulp each (random
       direction; ``PERTURBATIONS`` runs). ``spread[r, c]`` is the largest relative move of
       record r, column c over those runs, made non-decreasing in r (a running max), so a
       record where the runs happen to cross does not get a tighter bound than earlier ones.
       Different implementations round differently at every step, not just once at the start;
       ``SAFETY`` x spread allows for that, and ``BASE_ULPS`` x eps is the floor.
    2. Loss evaluation: a record's loss per row is sum_k t_k (logsumexp(z) - z_k), a difference
       of numbers the size of the logits; any implementation's rounding there is ~eps |z|
       *absolute*, however small the loss (W2 ends at loss ~4e-4, so this is the dominant
       term there). Allowed: ``LOSS_ATOL_ULPS`` x eps x mean_n max_k |z_nk|, taking the larger
       of the initial and the final parameters' logit scale.
    """

    def __init__(self, d, ref):
        eps = float(np.finfo(d.dtype).eps)
        moves, scales, evals = [], [_logit_scale(d, d.net)], []
        for k in range(PERTURBATIONS):
            rng = np.random.default_rng(1000 + k)
            toward = np.where(rng.random(d.params.size) < 0.5, -np.inf, np.inf).astype(d.dtype)
            net = gl.MLP.from_params(d.sizes, np.nextafter(d.params, toward), "tanh", "softmax")
            h = gl.train(net, d.X, d.y, **d.gradlab_kwargs())
            moves.append(np.abs(_curve(h.train_loss, h.weight_norm) - ref) / np.abs(ref))
            scales.append(_logit_scale(d, h.net))
            exact = _extended_loss(d, h.net.params)
            evals.append(abs(float((h.train_loss[-1] - exact) / exact)))
        self.final_loss_error = max(evals)  # gradlab's last recorded loss vs an 80-bit evaluation
        self.spread = np.maximum.accumulate(np.max(moves, axis=0), axis=0)
        self.logit_scale = max(scales)
        self.rel = np.maximum(BASE_ULPS * eps, SAFETY * self.spread)
        self.atol = np.array([LOSS_ATOL_ULPS * eps * self.logit_scale, 0.0])
        self.eps = eps

    def allowed(self, ref):
        """Allowed |difference| per record and column, for the reference curve ``ref``."""
        m = ref.shape[0]
        return self.rel[:m] * np.abs(ref) + self.atol


def _extended_loss(d, params):
    """The training loss at ``params`` in np.longdouble (80-bit on x86-64), via log_softmax."""
    a = d.X.astype(np.longdouble)
    p = params.astype(np.longdouble)
    for l, (w0, w1, b1, fi, fo) in enumerate(d.layers):
        a = a @ p[w0:w1].reshape(fi, fo) + p[w1:b1]
        if l < len(d.layers) - 1:
            a = np.tanh(a)
    z = a - a.max(axis=1, keepdims=True)
    log_softmax = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return -(d.T.astype(np.longdouble) * log_softmax).sum(axis=1).mean()


def _logit_scale(d, net):
    z = gl.logits(net, d.X)
    return float(np.abs(z).max(axis=1).mean())


def compare(d, result, ref):
    """Record-by-record agreement of an (m, 2) curve with the first m records of gradlab's."""
    res = harness.to_numpy(result).astype(np.float64)
    N = ref.shape[0]
    if res.ndim != 2 or res.shape[1] != 2 or not 1 <= res.shape[0] <= N:
        return harness.Agreement(float("inf"), False, f"curve of shape {res.shape}, expected "
                                 f"(m <= {N}, 2)")
    if d._tolerance is None:
        d._tolerance = Tolerance(d, ref)
    tol = d._tolerance
    m = res.shape[0]
    r = ref[:m]
    diff = np.abs(res - r)
    rel = diff / np.abs(r)
    allowed = tol.allowed(r)
    with np.errstate(invalid="ignore"):
        ratio = np.where(np.isfinite(diff), diff / allowed, np.inf)
    ok = bool(np.all(ratio <= 1.0))
    err = float(np.max(np.where(np.isfinite(rel), rel, np.inf)))
    worst = np.unravel_index(np.argmax(ratio), ratio.shape)
    cols = ("loss", "norm")
    il, inn = int(np.argmax(rel[:, 0])), int(np.argmax(rel[:, 1]))
    head = min(m, 10)
    detail = (f"{'all' if m == N else 'first'} {m} of {N} records; max rel diff: loss "
              f"{rel[il, 0]:.1e} (record {il}), norm {rel[inn, 1]:.1e} (record {inn}); records "
              f"0-{head - 1}: {rel[:head].max():.1e}; largest diff / allowed = "
              f"{ratio[worst]:.2g} (record {worst[0]}, {cols[worst[1]]})")
    if m == N and not diff.any():  # the reference itself: say how accurate its loss records are
        detail += (f". gradlab's last recorded loss vs the same loss evaluated in 80-bit "
                   f"extended precision at its final parameters (perturbed runs): relative error "
                   f"{tol.final_loss_error:.1e}")
    points = sorted({c for c in CHECKPOINTS if c < m} | {m - 1, il, inn})
    info = {"records": m, "of": N,
            "checkpoints": [[int(c), int(c * d.record_every), float(rel[c, 0]), float(rel[c, 1]),
                             float(allowed[c, 0] / abs(r[c, 0])), float(allowed[c, 1] / abs(r[c, 1])),
                             float(tol.spread[c, 0]), float(tol.spread[c, 1])] for c in points],
            "logit_scale": tol.logit_scale, "eps": tol.eps}
    return harness.Agreement(err, ok, detail, info)


# ---------------------------------------------------------------- workloads

JAX_UNROLL = 4  # the second JAX variant: lax.scan(..., unroll=4) on the inner scans

IMPLS = {"gradlab": build_gradlab, "jax": build_jax,
         f"jax-unroll{JAX_UNROLL}": functools.partial(build_jax, unroll=JAX_UNROLL),
         "torch": build_torch, "numpy": build_numpy}


def w1_data():
    return TrainData("iris", [4, 7, 3], smoothing=0.1, lr=0.01, batch_size=1, epochs=1000,
                     record_every=120, metric="samples", prefix={"torch": 25, "numpy": 100})


def w2_data():
    return TrainData("iris", [4, 7, 3], smoothing=0.0, lr=0.1, batch_size=None, epochs=100_000,
                     record_every=100, metric="steps", prefix={"torch": 20, "numpy": 60})


def w3_data(dtype):
    return TrainData("digits", [64, 32, 10], smoothing=0.1, lr=0.05, batch_size=32, epochs=50,
                     record_every=45, dtype=dtype, metric="samples", prefix={"torch": 25})


def w3_f64():
    return w3_data(np.float64)


def w3_f32():
    return w3_data(np.float32)


TOLERANCE_NOTE = (
    "Agreement (training): each implementation's curve [train loss, weight norm] is compared "
    "record by record with gradlab's first m records (m = the records it computed). Allowed "
    f"|difference| at record r: max({BASE_ULPS} eps, {SAFETY} x spread_r) x |gradlab's value| "
    f"+ (loss only) {LOSS_ATOL_ULPS} eps x mean_n max_k |z_nk|. spread_r is a measured "
    f"perturbation experiment: gradlab re-run {PERTURBATIONS} times from its initial parameters "
    "moved by 1 ulp each in random directions, the largest relative move of record r (running "
    "max over r). The absolute loss term covers rounding in evaluating the loss itself: "
    "logsumexp(z) - z_k is a difference of logit-sized numbers, so its rounding is ~eps |z| "
    "absolute however small the loss; this dominates late W2 records, where the loss is ~4e-4 "
    "(see gradlab's own line under 'Agreement' for how far its last recorded loss is from an "
    "80-bit evaluation at its final parameters). The table gives the relative difference per "
    "checkpoint record; 'allowed' is the tolerance expressed as a relative difference.")

PREFIX_NOTE = (
    "torch and numpy run only the first records of the training (column 'work per call'); "
    "their rates are the prefix's work units over its time (the per-record work is the same "
    "in every block, so the rate does not depend on the prefix length) and their curves are "
    "checked on that prefix. jax and gradlab run the whole training in every call.")


CALL_NOTE = (
    "gradlab is called without X_test/y_test (nobody computes test losses); its records "
    "also compute accuracy, logit gaps and per-layer norms, which the others do not. The "
    "others' loss: jax `-mean(sum(t * log_softmax(z)))`, torch `F.cross_entropy(z, t)` with "
    "probability targets, numpy `mean(sum(t * (logsumexp(z) - z)))`; all start from the same "
    "flat float64 (or float32) parameters and visit the rows in the same order.")


def _notes(extra=()):
    return [PREFIX_NOTE, CALL_NOTE, *extra, TOLERANCE_NOTE]


JAX_NOTE = (
    "jax: one `jax.jit` of the whole run (x64 enabled; float32 arrays for the float32 "
    "variant), inputs and the per-epoch orders put on the device once in build; `jax` uses "
    f"`lax.scan` with its default unroll=1, `jax-unroll{JAX_UNROLL}` the same code with "
    f"`unroll={JAX_UNROLL}` on the inner scans (faster on W1); targets count as met only "
    "against both.")

SPLIT_NOTE = (
    "The digits split: `train_test_split(X, y, test_size=0.2, seed=0)` keeps round(0.2 x 1797) "
    "= 359 test rows, so 1438 training rows (the issue says 1437): 44 batches of 32 and one of "
    "30 per epoch, 45 steps either way.")

COMMON = dict(impls=IMPLS, module=__name__, compare=compare, fresh_process=("gradlab",),
              first_call_target_s=0.5)

WORKLOADS = [
    harness.Workload(
        name="train W1 iris-online",
        description="`gl.train` on Iris 120/30 split (train rows, standardised on them), MLP "
                    "[4, 7, 3] tanh/softmax seed 0, CE with smoothed targets (a = 0.1), batch 1, "
                    "lr 0.01, 1000 epochs = 120,000 steps, reshuffled every epoch; loss and "
                    "weight norm recorded every epoch (1001 records). float64.",
        setup=w1_data, metric="sample-steps/s", batch_seconds=0.15,
        targets={"jax": 4.0, f"jax-unroll{JAX_UNROLL}": 4.0}, notes=_notes([JAX_NOTE]),
        **COMMON),
    harness.Workload(
        name="train W2 iris-fullbatch-long",
        description="The same net and split, hard one-hot targets, full batch (120 rows, in "
                    "order), lr 0.1, 100,000 steps; loss and weight norm recorded every 100 "
                    "steps (1001 records). float64.",
        setup=w2_data, metric="steps/s", batch_seconds=0.5, max_repeats=15,
        targets={"jax": 2.0, f"jax-unroll{JAX_UNROLL}": 2.0}, notes=_notes([JAX_NOTE]), **COMMON),
    harness.Workload(
        name="train W3 digits-minibatch f64",
        description="UCI digits 1438/359 split (standardised on the train rows), MLP "
                    "[64, 32, 10] tanh/softmax seed 0, CE with smoothed targets (a = 0.1), "
                    "batch 32 (44 batches of 32 + 1 of 30 per epoch), lr 0.05, 50 epochs = "
                    "2250 steps, reshuffled every epoch; recorded every epoch (51 records). "
                    "float64.",
        setup=w3_f64, metric="samples/s", batch_seconds=0.15,
        targets={"jax": 1.2, f"jax-unroll{JAX_UNROLL}": 1.2}, notes=_notes([JAX_NOTE, SPLIT_NOTE]),
        **COMMON),
    harness.Workload(
        name="train W3 digits-minibatch f32",
        description="W3 in float32: the net `gl.MLP(..., dtype=np.float32)` (same draws, cast), "
                    "X and the targets as gl.train makes them in float32; every implementation "
                    "computes in float32 arrays.",
        setup=w3_f32, metric="samples/s", batch_seconds=0.15,
        targets={"jax": 1.2, f"jax-unroll{JAX_UNROLL}": 1.2}, notes=_notes([JAX_NOTE]), **COMMON),
]
