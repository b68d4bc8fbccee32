"""Training: mini-batch SGD run inside numba, with records of weight norms, losses,
accuracies, logit gaps and per-weight delta traces on a schedule keyed by step.

Objective per step, for a batch of B rows with training targets t' (smoothed if asked):

    1/B sum_n [L(x_n, t'_n) - beta H(o_n)] + l2/2 ||W||^2 + l1 |W|_1

(``H`` the output entropy: the confidence penalty of Pereyra et al., 2017), minimised by
SGD with optional momentum (``v = m v + g``, ``w -= lr v``) and decoupled weight decay
(``w -= lr * weight_decay * w``). Penalties and decay act on weights only unless
``penalize_bias=True``.
"""
import sys
import warnings
from dataclasses import dataclass, field

import numpy as np

from . import _checks, _kernels
from .nets import MLP
from .targets import SMOOTHING_VARIANTS, smooth_labels

OPTIMIZERS = ("sgd", "adam")

CHUNK_ROWS = 1 << 20  # rows processed per kernel call; between calls: progress and Ctrl-C
ONLINE_STEP_MIN_STEPS = 20_000  # a run alone takes the generated online step (`_kernels.fused`) from this
#                                 many steps: compiling a new shape's step (1-3 s) must pay for itself


@dataclass
class History:
    """What `train` recorded. Arrays are indexed by record; ``step[r]`` is the number of
    updates made before record r (record 0 is the initial net).

    weight_norm  : ||W||_2 over all weights (biases excluded)
    layer_norms  : (records, layers) Frobenius norm of each W_l
    train_loss   : mean data loss on the training rows against the training targets t'
    test_loss    : mean data loss on the test rows against their (unsmoothed) targets
    train_acc, test_acc : share of rows whose largest output is the true class
    logit_gap    : mean of (true-class logit - largest other logit) over training rows
    past_target  : share of training rows whose true-class output exceeds t'_true: their
                   true-class update has flipped sign
    traces       : (records, n_train, n_traced) per-sample deltas -lr dL_n/dw of the traced
                   weights ``(layer, from, to)``
    """
    step: np.ndarray
    weight_norm: np.ndarray
    layer_norms: np.ndarray
    train_loss: np.ndarray
    train_acc: np.ndarray
    test_loss: np.ndarray
    test_acc: np.ndarray
    logit_gap: np.ndarray
    past_target: np.ndarray
    traces: np.ndarray
    net: MLP
    diverged_at: int | None = None
    interrupted: bool = False
    settings: dict = field(default_factory=dict)

    @property
    def diverged(self):
        return self.diverged_at is not None


def _penalty(name, value):
    return _checks.number(name, value, low=0.0)


def _traced_indices(net, trace):
    """Flat parameter indices of the weights named (layer, from, to)."""
    if trace is None:
        return np.empty(0, np.int64)
    if isinstance(trace, (str, bytes)) or not hasattr(trace, "__iter__"):
        raise TypeError(f"trace must be a list of (layer, from, to) triples; got {trace!r}")
    out = []
    for item in trace:
        if not (isinstance(item, (tuple, list)) and len(item) == 3):
            raise TypeError(f"trace must be a list of (layer, from, to) triples; got {item!r}")
        layer, i, o = (_checks.integer("trace", v, low=0) for v in item)
        if layer >= net.n_layers or i >= net.sizes[layer] or o >= net.sizes[layer + 1]:
            raise ValueError(f"trace: no weight {item!r} in a net of sizes {list(net.sizes)}")
        w, _ = net.layer_slices()[layer]
        out.append(w.start + i * net.sizes[layer + 1] + o)
    return np.asarray(out, np.int64)


def _data(net, X, y, loss, name_X, name_y, cache=None):
    """(X, targets T, labels) validated for ``net`` and ``loss``. With a ``cache`` dict, arrays
    met before (the same objects) for the same dtype, sizes, output and loss are not checked again."""
    key = (id(X), id(y), np.dtype(net.dtype).str, net.sizes[0], net.sizes[-1], net.output, loss, name_X)
    if cache is not None and key in cache:
        return cache[key]
    X = _checks.net_inputs(net, X, name_X)
    T = _checks.targets(name_y, y, X.shape[0], net.sizes[-1], loss, net.output, net.dtype)
    labels = (T[:, 0] > 0.5).astype(np.int64) if T.shape[1] == 1 else T.argmax(axis=1)
    if cache is not None:
        cache[key] = X, T, labels
    return X, T, labels


@dataclass
class RunPlan:
    """One validated training run, ready for the kernels: what `train` and `sweep` share."""
    net: MLP
    model: tuple  # (sizes, hidden code, output code, loss code)
    X: np.ndarray
    T: np.ndarray  # training targets t' (smoothed if asked), the net's dtype
    labels: np.ndarray
    Xt: np.ndarray
    Tt: np.ndarray
    labels_t: np.ndarray
    hyper: np.ndarray  # (lr, l2, l1, weight_decay, momentum, nesterov, adam, beta1, beta2, eps) in the net's
    #                    dtype, in which the kernels compute (`_kernels.N_HYPER`)
    beta: np.floating  # the confidence penalty, in the net's dtype
    penalized: np.ndarray
    batch: int
    epochs: int
    record_every: int
    seed: object
    traced: np.ndarray
    settings: dict
    hidden_target: tuple = None  # (targets (classes, H), weight), both in the net's dtype, for the kernels
    evaluate_every: int = None  # records at multiples of it (and the last) evaluate the data; None: every record

    @property
    def steps_per_epoch(self):
        return -(-self.X.shape[0] // self.batch)

    @property
    def total_steps(self):
        return self.epochs * self.steps_per_epoch

    @property
    def kernel_evaluate_every(self):
        return self.evaluate_every or self.record_every

    @property
    def n_records(self):
        total = self.total_steps
        return 1 + total // self.record_every + (total % self.record_every != 0)


def plan_run(net, X, y, loss="ce", smoothing=0.0, smoothing_variant="uniform", l2=0.0, l1=0.0,
             weight_decay=0.0, confidence_penalty=0.0, penalize_bias=False, lr=0.01, momentum=0.0,
             batch_size=1, epochs=1000, seed=0, record_every=10, X_test=None, y_test=None, trace=None,
             hidden_targets=None, hidden_weight=0.0, optimizer="sgd", betas=(0.9, 0.999), eps=1e-8,
             nesterov=False, evaluate_every=None, data_cache=None):
    """Validate the arguments of `train` (same names) and return a `RunPlan`. ``data_cache``:
    a dict shared by the plans of one sweep, so its data are checked once (`_data`)."""
    _checks.net(net)
    code = _checks.loss_code(loss, net.output)
    a = _checks.fraction("smoothing", smoothing)
    _checks.choice("smoothing_variant", smoothing_variant, SMOOTHING_VARIANTS)
    optimizer = _checks.choice("optimizer", optimizer, OPTIMIZERS)
    b1, b2 = _checks.betas("betas", betas)
    nesterov = _checks.flag("nesterov", nesterov)
    hyper = np.array([_checks.number("lr", lr, low=0.0, low_open=True), _penalty("l2", l2),
                      _penalty("l1", l1), _penalty("weight_decay", weight_decay),
                      _checks.number("momentum", momentum, 0.0, 1.0), nesterov, optimizer == "adam", b1, b2,
                      _checks.number("eps", eps, low=0.0, low_open=True)])
    penalize_bias = _checks.flag("penalize_bias", penalize_bias)
    if hyper[_kernels.MOMENTUM] >= 1.0:
        raise ValueError(f"momentum must be < 1; got {momentum}")
    if nesterov and (optimizer != "sgd" or hyper[_kernels.MOMENTUM] == 0.0):
        raise ValueError("nesterov=True needs optimizer='sgd' and momentum > 0")
    if optimizer == "adam" and hyper[_kernels.MOMENTUM] != 0.0:
        raise ValueError("momentum is SGD's; Adam's first-moment decay is betas[0] (give momentum=0)")
    beta = _penalty("confidence_penalty", confidence_penalty)
    if beta and net.output == "identity":
        raise ValueError("confidence_penalty needs a softmax or sigmoid output")
    _check_in_dtype(net.dtype, lr=hyper[0], l2=hyper[1], l1=hyper[2], weight_decay=hyper[3],
                    momentum=hyper[4], confidence_penalty=beta, **({"betas[0]": b1, "betas[1]": b2, "eps": hyper[9]}
                                                                   if optimizer == "adam" else {}))
    X, T, labels = _data(net, X, y, loss, "X", "y", data_cache)
    n = X.shape[0]
    if a > 0:
        T = smooth_labels(T, a, smoothing_variant).astype(net.dtype)
    if (X_test is None) != (y_test is None):
        raise ValueError("X_test and y_test must be given together")
    if X_test is not None:
        Xt, Tt, labels_t = _data(net, X_test, y_test, loss, "X_test", "y_test", data_cache)
    else:
        Xt, Tt = np.empty((0, X.shape[1]), net.dtype), np.empty((0, net.sizes[-1]), net.dtype)
        labels_t = np.empty(0, np.int64)
    batch = n if batch_size is None else min(_checks.integer("batch_size", batch_size, low=1), n)
    epochs = _checks.integer("epochs", epochs, low=1)
    record_every = _checks.integer("record_every", record_every, low=1)
    evaluate_every = evaluate_interval(evaluate_every, record_every)
    seed = _checks.seed("seed", seed)
    traced = _traced_indices(net, trace)
    penalized = (net.weight_mask() | penalize_bias).astype(net.dtype)
    h_targets, h_weight = _hidden_target(net, hidden_targets, hidden_weight)
    model = (net._sizes, _checks.ACTIVATION_CODES[net.hidden], _checks.ACTIVATION_CODES[net.output], code)
    settings = dict(loss=loss, smoothing=a, smoothing_variant=smoothing_variant, l2=hyper[1], l1=hyper[2],
                    weight_decay=hyper[3], confidence_penalty=beta, penalize_bias=bool(penalize_bias),
                    lr=hyper[0], momentum=hyper[4], batch_size=batch, epochs=epochs, seed=seed,
                    record_every=record_every, sizes=list(net.sizes), hidden=net.hidden,
                    output=net.output, dtype=np.dtype(net.dtype).name, trace=trace,
                    hidden_weight=h_weight, optimizer=optimizer, betas=(b1, b2), eps=hyper[9], nesterov=nesterov,
                    **({} if evaluate_every is None else {"evaluate_every": evaluate_every}))
    F = np.dtype(net.dtype).type  # the settings keep the values given; the kernels get them rounded
    return RunPlan(net, model, X, T, labels, Xt, Tt, labels_t, hyper.astype(F), F(beta), penalized, batch, epochs,
                   record_every, seed, traced, settings, (h_targets, F(h_weight)), evaluate_every)


def evaluate_interval(evaluate_every, record_every):
    """``evaluate_every`` checked against ``record_every`` (a positive multiple of it); None
    when every record evaluates (not given, or equal to ``record_every``)."""
    if evaluate_every is None:
        return None
    evaluate_every = _checks.integer("evaluate_every", evaluate_every, low=1)
    if evaluate_every % record_every:
        raise ValueError(f"evaluate_every ({evaluate_every}) must be a multiple of record_every ({record_every})")
    return None if evaluate_every == record_every else evaluate_every


def _check_in_dtype(dtype, **values):
    """The kernels compute in the net's dtype: refuse a value that rounds to 0 or inf there
    (momentum and betas: to 1)."""
    for name, v in values.items():
        with np.errstate(over="ignore"):
            c = float(np.asarray(v, dtype))
        if (c == 0.0) != (v == 0.0) or not np.isfinite(c) or (name in ("momentum", "betas[0]", "betas[1]")
                                                               and c >= 1.0):
            raise ValueError(f"{name} = {v!r} rounds to {c!r} in the net's dtype {np.dtype(dtype).name}, "
                             "in which training computes; use a float64 net or a value within its range")


def _hidden_target(net, targets, weight):
    """(targets as the net's dtype, weight) for the kernels; a (1, 1) placeholder when unused."""
    weight = _penalty("hidden_weight", weight)
    _check_in_dtype(net.dtype, hidden_weight=weight)
    if targets is None:
        if weight:
            raise ValueError("hidden_weight > 0 needs hidden_targets, a (classes, units) matrix of "
                             "last-hidden-layer targets")
        return np.zeros((1, 1), net.dtype), 0.0
    if net.n_layers < 2:
        raise ValueError(f"hidden_targets needs a hidden layer; the net's sizes are {list(net.sizes)}")
    shape = (max(net.sizes[-1], 2), net.sizes[-2])
    targets = _checks.float_array("hidden_targets", targets, ndim=2, dtype=net.dtype)
    if targets.shape != shape:
        raise ValueError(f"hidden_targets must have shape {shape} (classes, last hidden layer's units); "
                         f"got {targets.shape}")
    return targets, weight


def epoch_orders(rng, n, batch, n_epochs):
    """Row order of ``n_epochs`` epochs, (n_epochs, n): a fresh permutation per epoch drawn
    from ``rng`` (full batch: rows in order)."""
    if batch < n:
        return rng.permuted(np.tile(np.arange(n), (n_epochs, 1)), axis=1)
    return np.tile(np.arange(n), (n_epochs, 1))


def chunk_epochs(n_rows):
    """Epochs per kernel call: about CHUNK_ROWS rows, at least one epoch."""
    return max(1, CHUNK_ROWS // n_rows)


def make_history(plan, stats, layer_norms, traces, params, n_written, diverged_at, interrupted):
    """Assemble a `History` from a run's record buffers and final parameters."""
    r = int(n_written)
    steps = np.minimum(np.arange(plan.n_records) * plan.record_every, plan.total_steps)
    col = lambda c: stats[:r, c].copy()
    net = plan.net
    return History(step=steps[:r], weight_norm=col(_kernels.WEIGHT_NORM), layer_norms=layer_norms[:r].copy(),
                   train_loss=col(_kernels.TRAIN_LOSS), train_acc=col(_kernels.TRAIN_ACC),
                   test_loss=col(_kernels.TEST_LOSS), test_acc=col(_kernels.TEST_ACC),
                   logit_gap=col(_kernels.LOGIT_GAP), past_target=col(_kernels.PAST_TARGET),
                   traces=-plan.hyper[0] * traces[:r], net=MLP.from_params(net.sizes, params, net.hidden, net.output),
                   diverged_at=diverged_at, interrupted=interrupted, settings=dict(plan.settings))


def train(net, X, y, loss="ce", smoothing=0.0, smoothing_variant="uniform", l2=0.0, l1=0.0,
          weight_decay=0.0, confidence_penalty=0.0, penalize_bias=False, lr=0.01, momentum=0.0,
          batch_size=1, epochs=1000, seed=0, record_every=10, X_test=None, y_test=None,
          trace=None, progress=None, hidden_targets=None, hidden_weight=0.0, optimizer="sgd", betas=(0.9, 0.999),
          eps=1e-8, nesterov=False, evaluate_every=None):
    """Train a copy of ``net`` on (X, y); returns a `History` whose ``net`` is the trained copy.

    ``y``: integer labels or an (n, K) target matrix. ``smoothing`` a is applied to the
    targets inside training (`smooth_labels`); the caller's arrays and ``net`` are never
    changed. ``batch_size``: 1 (online), any size, or None for the full batch; rows are
    reshuffled every epoch from ``seed`` (full batch: no shuffling). ``record_every`` counts
    updates. ``evaluate_every`` (a multiple of ``record_every``; default: every record): only
    records after a multiple of this many updates (and the first and last) evaluate the net on
    the data (losses, accuracies, logit gap, past-target share, traces); the others hold the
    weight norms and NaN, at a fraction of the cost.
    ``trace``: weights ``(layer, from, to)`` whose per-sample deltas are recorded.
    ``progress``: show a progress bar (default: when stderr is a terminal).
    ``hidden_targets`` P (classes, units of the last hidden layer) with ``hidden_weight`` lam
    adds lam/2 ||a_L(x_n) - P[y_n]||^2 to each row's loss (targets for the last hidden layer's
    activations; y_n the row's class); the recorded losses stay the data loss.

    Training computes in the net's dtype: a float32 net in float32 arithmetic, with ``lr``
    and the penalties rounded to float32 (values that round to 0 or inf are refused);
    records are summed in float64.

    A step whose error term or new parameters are not finite, or whose record has a
    non-finite loss or norm, stops the run with a RuntimeWarning: ``History.diverged_at``
    names it, the records before it are kept and ``History.net`` holds the last finite
    parameters. Ctrl-C stops between chunks and returns what was recorded, with
    ``History.interrupted``.
    """
    plan = plan_run(net, X, y, loss=loss, smoothing=smoothing, smoothing_variant=smoothing_variant, l2=l2,
                    l1=l1, weight_decay=weight_decay, confidence_penalty=confidence_penalty,
                    penalize_bias=penalize_bias, lr=lr, momentum=momentum, batch_size=batch_size,
                    epochs=epochs, seed=seed, record_every=record_every, X_test=X_test, y_test=y_test,
                    trace=trace, hidden_targets=hidden_targets, hidden_weight=hidden_weight, optimizer=optimizer,
                    betas=betas, eps=eps, nesterov=nesterov, evaluate_every=evaluate_every)
    return run_plan(plan, progress)


@dataclass
class OptimizerState:
    """The optimizer's state that `run_plan` continues from and updates in place: ``velocity``
    (2P,) in the net's dtype, SGD's momentum m (or Adam's first moment), then Adam's v; and
    ``steps``, the updates made with it so far (Adam's bias correction counts from there)."""
    velocity: np.ndarray
    steps: int = 0

    @classmethod
    def fresh(cls, net):
        return cls(np.zeros(2 * net.n_params, net.dtype), 0)


def run_plan(plan, progress=None, after_chunk=None, epochs_per_call=None, optimizer_state=None):
    """Train ``plan`` (`plan_run`) as `train` does and return its `History`.

    ``after_chunk(params, stats, n_written)``, called after each kernel call with the current
    parameters and the records so far, stops training when it returns True (the history then
    ends there); ``epochs_per_call`` sets how many epochs a call runs (default: about a
    million rows). The optimizer's state carries over from call to call.

    ``optimizer_state``: an `OptimizerState` to continue from (training then equals the
    uninterrupted run it continues, bit for bit), updated in place; None starts afresh. Its
    ``steps`` must be a multiple of the plan's ``record_every``, unless the plan records only
    at its end (``record_every`` >= its steps), so the records fall where the plan puts them."""
    net = plan.net
    n = plan.X.shape[0]
    total = plan.total_steps
    if optimizer_state is None:
        optimizer_state = OptimizerState.fresh(net)
    velocity, t0 = optimizer_state.velocity, optimizer_state.steps
    if not (isinstance(velocity, np.ndarray) and velocity.dtype == net.dtype and velocity.shape == (2 * net.n_params,)
            and velocity.flags.c_contiguous and velocity.flags.writeable):
        raise ValueError(f"optimizer_state.velocity must be a writable contiguous {np.dtype(net.dtype).name} array "
                         f"of shape ({2 * net.n_params},)")
    t0 = _checks.integer("optimizer_state.steps", t0, low=0)
    # the kernel counts steps from t0 (Adam's bias correction) and records when its step count is
    # a multiple of its record_every, or at its last step
    if t0 % plan.record_every == 0:
        kernel_every = plan.record_every
    elif plan.record_every >= total:
        kernel_every = t0 + total
    else:
        raise ValueError(f"optimizer_state.steps ({t0}) must be a multiple of record_every ({plan.record_every})")
    kernel_evaluate = kernel_every if plan.evaluate_every is None else plan.evaluate_every
    if t0 % kernel_evaluate and plan.evaluate_every is not None:
        raise ValueError(f"optimizer_state.steps ({t0}) must be a multiple of evaluate_every ({kernel_evaluate})")
    stats = np.full((plan.n_records, _kernels.N_STATS), np.nan)
    layer_norms = np.full((plan.n_records, net.n_layers), np.nan)
    traces = np.zeros((plan.n_records, n if plan.traced.size else 0, plan.traced.size), net.dtype)
    params = net.params.copy()
    state = np.zeros(2, np.int64)  # records written, step that diverged (0: none)
    rng = np.random.default_rng(plan.seed)
    data = (plan.X, plan.T, plan.labels)
    test = (plan.Xt, plan.Tt, plan.labels_t)

    _kernels.record(params, *plan.model, *data, *test, plan.traced, 0, stats, layer_norms, traces, True)
    state[0] = 1
    per_call = epochs_per_call or chunk_epochs(n)
    online = (plan.total_steps >= ONLINE_STEP_MIN_STEPS and not plan.traced.size and _fits_online_step([plan])
              and not _kernels.fused.stateful(plan.hyper[None]))  # Adam's step count would start at 0, not t0
    if online:  # the generated online step, for one run: arrays as a block of one run (views)
        step = _kernels.fused.step(*plan.model, net.dtype, 1, _kernels.fused.kind(plan.hyper[None]), plan.beta != 0)
        one = lambda a: a.reshape(1, 1, *a.shape)
        block = (params.reshape(1, -1, 1), velocity.reshape(1, -1, 1), plan.penalized.reshape(1, -1, 1), *plan.model,
                 np.full((1, 1), plan.beta), plan.hyper.reshape(1, -1, 1), plan.X, one(plan.T), plan.labels,
                 one(_kernels.pcg64_state(plan.seed)))
        after = (plan.record_every, plan.kernel_evaluate_every, total, *test, one(stats), one(layer_norms), one(state))
    if progress is None:
        progress = sys.stderr.isatty() and total * plan.batch > 10 * CHUNK_ROWS
    progress = _checks.flag("progress", progress)
    bar = _progress_bar(total, progress)
    interrupted = False
    try:
        for e0 in range(0, plan.epochs, per_call):
            ne = min(per_call, plan.epochs - e0)
            if online:
                _kernels.fused.train_online(step.address, False, *block, ne, e0 * plan.steps_per_epoch, *after)
            else:
                order = epoch_orders(rng, n, plan.batch, ne).reshape(-1)
                _kernels.train_chunk(params, velocity, plan.penalized, *plan.model, plan.beta, plan.hyper, *data,
                                     order, plan.batch, ne, t0 + e0 * plan.steps_per_epoch, kernel_every,
                                     kernel_evaluate, t0 + total,
                                     *test, plan.traced, stats, layer_norms, traces, state, plan.hidden_target)
                if state[1]:
                    state[1] -= t0
            optimizer_state.steps = t0 + (int(state[1]) - 1 if state[1] else (e0 + ne) * plan.steps_per_epoch)
            if bar is not None:
                bar.update(ne * plan.steps_per_epoch)
            if state[1] or (after_chunk is not None and after_chunk(params, stats, state[0])):
                break
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if bar is not None:
            bar.close()
    diverged_at = int(state[1]) if state[1] else None
    if diverged_at is not None:
        warnings.warn(f"training diverged at step {diverged_at}: the error term, the parameters or the "
                      "loss became NaN or inf; the history up to there is kept", RuntimeWarning, stacklevel=3)
    return make_history(plan, stats, layer_norms, traces, params, state[0], diverged_at, interrupted)


def _progress_bar(total, show):
    if not show:
        return None
    from tqdm import tqdm
    return tqdm(total=total, unit="step", desc="gradlab.train", leave=None)  # nested under a report's bar: cleared


def _rng_states(seeds):
    """`pcg64_state` of each seed; an integer seed's state is computed once (runs of a sweep
    often share their seeds)."""
    known = {}
    states = []
    for seed in seeds:
        if not isinstance(seed, int):
            states.append(_kernels.pcg64_state(seed))
            continue
        if seed not in known:
            known[seed] = _kernels.pcg64_state(seed)
        states.append(known[seed])
    return states


def _fits_online_step(plans):
    """Whether these runs can take the generated online step (`_kernels.fused.applies`)."""
    first = plans[0]
    return (first.X.dtype == first.T.dtype == first.net.params.dtype  # the step reads them as one dtype
            and _kernels.fused.applies(first.net.sizes, first.batch, [p.hidden_target[1] for p in plans],
                                       np.stack([p.net.params for p in plans])))


def train_block(plans, runs_per_block=None, fused=None):
    """Train runs that share a shape (sizes, activations, loss, dtype, batch size, epochs)
    together. Online runs of small nets (`_kernels.fused.applies`) take the step generated for
    their shape (`_kernels.fused.train_online`), in blocks of ``runs_per_block`` runs (one of
    `fused.WIDTHS`; by default the widest that gives every thread a block), unless
    ``fused=False``; every other run trains by itself through `train`'s own kernels
    (`_kernels.train_each`), one run per thread. Each run's results equal `train`'s for the
    same settings, bit for bit, on either path.

    Returns stacked arrays: ``params`` (R, P) final parameters, ``stats`` (R, records,
    N_STATS), ``layer_norms`` (R, records, layers), ``n_written`` (R,) records kept and
    ``diverged_at`` (R,) the step that diverged (0: none).
    """
    first = plans[0]
    R, L = len(plans), first.net.n_layers
    fits = _fits_online_step(plans)
    if fused and not fits:
        raise ValueError("fused=True: these runs do not fit the generated online step (see fused.applies)")
    if not (fits if fused is None else fused):
        return _train_each(plans)
    import numba
    RB = runs_per_block or _kernels.fused.block_width(R, numba.get_num_threads())
    if RB not in _kernels.fused.WIDTHS:
        raise ValueError(f"runs_per_block must be one of {_kernels.fused.WIDTHS}; got {RB}")
    NB = -(-R // RB)
    pad = NB * RB - R

    def blocked(rows, inner_runs=True):
        """(R, ...) per-run arrays padded to NB * RB runs, as (NB, ..., RB) or (NB, RB, ...)."""
        a = np.stack(rows)
        a = np.concatenate([a, np.repeat(a[:1], pad, axis=0)]) if pad else a
        a = a.reshape(NB, RB, *a.shape[1:])
        return np.ascontiguousarray(np.moveaxis(a, 1, -1) if inner_runs else a)

    W = blocked([p.net.params for p in plans])
    velocity = np.zeros((NB, 2 * W.shape[1], RB), W.dtype)
    hyper = blocked([p.hyper for p in plans])
    T = blocked([p.T for p in plans], inner_runs=False)
    stats = np.full((NB, RB, first.n_records, _kernels.N_STATS), np.nan)
    layer_norms = np.full((NB, RB, first.n_records, L), np.nan)
    state = np.zeros((NB, RB, 2), np.int64)
    state.reshape(-1, 2)[R:, 1] = -1  # unused slots never train
    rng = blocked(_rng_states([p.seed for p in plans]), inner_runs=False)  # the kernel draws the orders
    kind = _kernels.fused.kind(np.stack([p.hyper for p in plans]))
    step = _kernels.fused.step(*first.model, first.net.dtype, RB, kind, any(p.beta for p in plans))
    _kernels.fused.train_online(step.address, kind == "gradients", W, velocity, blocked([p.penalized for p in plans]),
                                *first.model, blocked([p.beta for p in plans]), hyper,
                                first.X, T, first.labels, rng, first.epochs, 0, first.record_every,
                                first.kernel_evaluate_every, first.total_steps, first.Xt, first.Tt, first.labels_t,
                                stats, layer_norms, state)
    unblock = lambda a: a.reshape(NB * RB, *a.shape[2:])[:R]
    return dict(params=unblock(np.moveaxis(W, -1, 1)), stats=unblock(stats), layer_norms=unblock(layer_norms),
                n_written=unblock(state)[:, 0].copy(), diverged_at=unblock(state)[:, 1].copy())


def _train_each(plans):
    """`train_block` by `_kernels.train_each`: every run by `train`'s own kernels, one run per thread."""
    first = plans[0]
    stack = lambda rows: np.ascontiguousarray(np.stack(rows))
    W = stack([p.net.params for p in plans])
    R = W.shape[0]
    stats = np.full((R, first.n_records, _kernels.N_STATS), np.nan)
    layer_norms = np.full((R, first.n_records, first.net.n_layers), np.nan)
    state = np.zeros((R, 2), np.int64)
    targets = first.hidden_target[0]
    if any(p.hidden_target[0] is not targets and not np.array_equal(p.hidden_target[0], targets) for p in plans):
        raise ValueError("runs trained together must share their hidden_targets")
    _kernels.train_each(W, np.zeros((R, 2 * W.shape[1]), W.dtype), stack([p.penalized for p in plans]), *first.model,
                        stack([p.beta for p in plans]), stack([p.hyper for p in plans]), first.X,
                        stack([p.T for p in plans]), first.labels, stack(_rng_states([p.seed for p in plans])),
                        first.batch, first.epochs, first.record_every, first.kernel_evaluate_every, first.total_steps,
                        first.Xt, first.Tt,
                        first.labels_t, stats, layer_norms, state, (targets, stack([p.hidden_target[1] for p in plans])))
    return dict(params=W, stats=stats, layer_norms=layer_norms, n_written=state[:, 0].copy(),
                diverged_at=state[:, 1].copy())
