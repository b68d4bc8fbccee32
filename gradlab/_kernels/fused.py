"""Online steps for blocks of runs of one small net, generated per net shape.

For online training (one row per step; SGD with L2, L1 and weight decay, momentum, Nesterov
or Adam, but no confidence penalty or hidden targets) this module writes one run's whole
step as straight-line code for the given shape, inside a single loop over the runs of a
block whose width R (16, 32 or 64) is a compile-time constant. Every per-run value then
lives in a register, and LLVM vectorises the loop across runs: all offsets into the flat
(P R,) parameter arrays are constants, so it can prove the accesses apart. Any other run
trains by itself through `train_chunk` (`train_each`): the two implementations of a step.

Each value is computed by the expression `train_chunk` uses, in the parameters' dtype as
there (constants, sums and the learning rate included, and `_tanh`/`_exp` of that
precision), so results equal its bit for bit. With momentum or Adam the step writes the
data gradients and `runs._sgd_update_runs` (`_updated` per run) makes the update.

The step is a C callback (`numba.cfunc`) in a generated module, written into a folder named
by a digest of every kernel source and cached by numba like any kernel, so a new shape costs
one compile of its step alone. The training loop around it, `train_online`, is compiled once
per dtype and calls the step through its address (`_call_step`).
"""
import importlib.util
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic

from .blocks import ADAM, CE, IDENTITY, L1, L2, MOMENTUM, MSE, RELU, SIGMOID, SOFTMAX, TANH, WEIGHT_DECAY
from .runs import _any, _copy_to_caller, _draw_orders, _record_runs, _sgd_update_runs, _stop_failed_runs

WIDTHS = (16, 32, 64)  # runs per block: 8 does not vectorise; W4 ran 5-10% faster with 64 than
#                        with 32 (the per-step work outside the step is shared by more runs)
MAX_PARAMS = 150  # larger nets train run by run: a step's compile grows faster than P (59 parameters
#                   1 s, 143: 3 s, 208: 6 s, 385: 19 s on 2 cores)

_ACT_NAMES = {IDENTITY: "identity", TANH: "tanh", RELU: "relu", SIGMOID: "sigmoid", SOFTMAX: "softmax"}


def applies(sizes, batch, hidden_weight, params):
    """Whether a block of runs can take the generated kernel: online training (one row per
    step; any optimizer, penalties and confidence penalty) with no hidden targets, at most
    MAX_PARAMS parameters, and no initial parameter equal to -0.0 (see `step_source`).
    hidden_weight (runs,), params (runs, P)."""
    n_params = sum(int(a) * int(b) + int(b) for a, b in zip(sizes[:-1], sizes[1:]))
    return (batch == 1 and n_params <= MAX_PARAMS and not any(hidden_weight)
            and not (np.signbit(params) & (params == 0)).any())


def _activation(code, v):
    """The expression `_activate` stores for unit value v (before rounding to the dtype)."""
    if code == TANH:
        return f"_tanh({v})"
    if code == RELU:
        return f"max({v}, 0.0)"
    if code == SIGMOID:
        return f"_sigmoid({v})"
    return v


def penalized(hyper):
    """Whether a block's step needs the penalty terms: a run with L2, L1 or weight decay."""
    return bool(hyper[:, [L2, L1, WEIGHT_DECAY]].any())


def stateful(hyper):
    """Whether a block's step leaves the update to `_sgd_update_runs`: a run with momentum or Adam."""
    return bool(hyper[:, [MOMENTUM, ADAM]].any())


def kind(hyper):
    """The step a block of runs with these hyper-parameters (runs, N_HYPER) takes."""
    return "gradients" if stateful(hyper) else "penalties" if penalized(hyper) else "plain"


KINDS = ("plain", "penalties", "gradients")


def step_source(sizes, hidden, output, loss, R, kind="plain", confidence=False):
    """Source of the C callback `step(W, new, xg, tg, rates, ok)` (pointers to the data): one
    online step of every run r < R. F and F_T name the dtype (numpy and numba).

    W, new: (P R,) parameters before and after (parameter p of run r at p R + r);
    xg (d R,), tg (K R,): the step's input row and targets; rates (6 R,): each run's lr, l2,
    l1, weight decay, whether they act on its biases (1 or 0; on weights always) and its
    confidence penalty beta (read only if ``confidence``), all of the dtype F. ok[r] &= every
    output delta and new parameter of run r is finite. ``kind`` (KINDS): "plain" reads only
    lr; "penalties" the first five rates; "gradients" writes the data
    gradient 0 + g into ``new`` in place of the new parameter, for `_sgd_update_runs`. (No
    further pointer: with more, LLVM stops proving the accesses apart and the loop over runs
    no longer vectorises.)"""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}; got {kind!r}")
    L = len(sizes) - 1
    K = sizes[-1]
    body = [f"a0_{i} = xg[{i * R} + r]" for i in range(sizes[0])]
    offsets = []  # (weights, biases) offsets of each layer
    p = 0
    for l in range(L):
        fi, fo = sizes[l], sizes[l + 1]
        offsets.append((p, p + fi * fo))
        w0, b0 = offsets[-1]
        last = l == L - 1
        for o in range(fo):
            z = f"W[{(b0 + o) * R} + r]"
            for i in range(fi):
                z = f"({z} + W[{(w0 + i * fo + o) * R} + r] * a{l}_{i})"
            body.append(f"z{l + 1}_{o} = {z}")
            if not last:
                body.append(f"a{l + 1}_{o} = F({_activation(hidden, f'z{l + 1}_{o}')})")
        p = b0 + fo
    top = f"z{L}"
    out = f"a{L}"
    if output == SOFTMAX:
        body.append(f"m = {top}_0")
        body += [f"m = max(m, {top}_{k})" for k in range(1, K)]
        body += [f"{out}_{k} = F(_exp({top}_{k} - m))" for k in range(K)]
        body.append(f"s = {out}_0")
        body += [f"s += {out}_{k}" for k in range(1, K)]
        body += [f"{out}_{k} = {out}_{k} / s" for k in range(K)]
    else:
        body += [f"{out}_{k} = F({_activation(output, f'{top}_{k}')})" for k in range(K)]
    # output deltas, as `_error_term_block` (no confidence penalty)
    if loss == MSE and output == SOFTMAX:
        body.append("s8 = F(0.0)")
        body += [f"s8 += ({out}_{k} - tg[{k * R} + r]) * {out}_{k}" for k in range(K)]
        body += [f"d{L}_{k} = F({out}_{k} * (({out}_{k} - tg[{k * R} + r]) - s8))" for k in range(K)]
    elif loss != CE and output != IDENTITY:
        body += [f"d{L}_{k} = F(({out}_{k} - tg[{k * R} + r]) * ({out}_{k} * (F(1.0) - {out}_{k})))"
                 for k in range(K)]
    else:
        body += [f"d{L}_{k} = {out}_{k} - tg[{k * R} + r]" for k in range(K)]
    if confidence:  # beta o_k (log o_k + H) for softmax, beta o_k (1 - o_k) z_k otherwise
        body.append(f"b = rates[{5 * R} + r]")
        if output == SOFTMAX:
            body.append("h = F(0.0)")
            body += [f"h = h - {out}_{k} * math.log({out}_{k}) if b != 0.0 and {out}_{k} > 0.0 else h"
                     for k in range(K)]
            body += [f"d{L}_{k} = F(d{L}_{k} + b * {out}_{k} * (math.log({out}_{k}) + h)) "
                     f"if b != 0.0 and {out}_{k} > 0.0 else d{L}_{k}" for k in range(K)]
        else:
            body += [f"d{L}_{k} = F(d{L}_{k} + b * {out}_{k} * (F(1.0) - {out}_{k}) * {top}_{k}) "
                     f"if b != 0.0 else d{L}_{k}" for k in range(K)]
    body.append("rate = rates[r]")
    if kind == "penalties":
        body += [f"l2 = rates[{R} + r]", f"l1 = rates[{2 * R} + r]", f"wd = rates[{3 * R} + r]",
                 f"bias_pen = rates[{4 * R} + r]"]
    # backward, as `_backward_block` with one row: sums in the dtype for the hidden deltas; then
    # `_updated` (scale 1.0). The kernels' gradients start at +0.0, so a
    # gradient of -0.0 enters it as +0.0; here it is used as it is, which gives the same new
    # parameter unless the old one is -0.0 (`applies` refuses such nets, and an update never
    # makes one: w - x is -0.0 only for w = -0.0).
    # v - v is 0.0 for finite v and NaN otherwise, so four running sums c0..c3 of it stay 0.0
    # iff every output delta and new parameter is finite (four sums, so the adds overlap)
    body += [f"c{k} = d{L}_{k} - d{L}_{k}" if k < K else f"c{k} = F(0.0)" for k in range(4)]
    body += [f"c{k % 4} += d{L}_{k} - d{L}_{k}" for k in range(4, K)]
    n_sums = 0
    for l in range(L - 1, -1, -1):
        fi, fo = sizes[l], sizes[l + 1]
        w0, b0 = offsets[l]
        if l > 0:
            for i in range(fi):
                acc = "F(0.0)"
                for o in range(fo):
                    acc = f"({acc} + W[{(w0 + i * fo + o) * R} + r] * d{l + 1}_{o})"
                body.append(f"d{l}_{i} = F({acc} * _activation_slope(np.int64({hidden}), a{l}_{i}))")  # typed: as elsewhere
        grads = [(b0 + o, f"d{l + 1}_{o}") for o in range(fo)]
        grads += [(w0 + i * fo + o, f"a{l}_{i} * d{l + 1}_{o}") for i in range(fi) for o in range(fo)]
        for q, g in grads:
            if kind == "gradients":  # the update is `_sgd_update_runs`', which checks the new values
                body.append(f"new[{q * R} + r] = F(0.0) + ({g})")
                continue
            if kind == "penalties":  # `_updated` of g = 1.0 (0.0 + g), exactly
                w, pen = f"W[{q * R} + r]", "bias_pen" if q >= b0 else "F(1.0)"
                body.append(f"g = F(0.0) + ({g})")
                body.append(f"g = g + {pen} * (l2 * {w} + l1 * np.sign({w}))")
                body.append(f"v = F({w} - rate * g - rate * wd * {pen} * {w})")
            else:
                body.append(f"v = F(W[{q * R} + r] - rate * ({g}))")
            body.append(f"new[{q * R} + r] = v")
            body.append(f"c{n_sums % 4} += v - v")
            n_sums += 1
    body.append("ok[r] &= ((c0 + c1) + (c2 + c3)) == 0.0")
    P = offsets[-1][1] + K
    lines = ["@cfunc(types.void(types.CPointer(F_T), types.CPointer(F_T), types.CPointer(F_T), types.CPointer(F_T),",
             "                  types.CPointer(F_T), types.CPointer(types.boolean)),",
             '       cache=True, error_model="numpy")',
             "def step(pW, pnew, pxg, ptg, prates, pok):",
             f"    W = carray(pW, {P * R})",
             f"    new = carray(pnew, {P * R})",
             f"    xg = carray(pxg, {sizes[0] * R})",
             f"    tg = carray(ptg, {K * R})",
             f"    rates = carray(prates, {6 * R})",
             f"    ok = carray(pok, {R})",
             f"    for r in range({R}):"]
    return "\n".join(lines + ["        " + line for line in body]) + "\n"


def module_source(sizes, hidden, output, loss, dtype, R, kind="plain", confidence=False):
    """The generated module: imports, the dtype, and `step`."""
    return (f'"""Generated by gradlab._kernels.fused for sizes {list(sizes)}, hidden {_ACT_NAMES[hidden]}, '
            f'output {_ACT_NAMES[output]}, loss code {loss}, {dtype}, {R} runs per block'
            f', {kind} step{", confidence penalty" if confidence else ""}; do not edit."""\n'
            "import math\n\nimport numpy as np\nfrom numba import carray, cfunc, types\n\n"
            "from gradlab._kernels.blocks import _activation_slope, _exp, _sigmoid, _tanh\n\n"
            f"F = np.{dtype}\nF_T = types.{dtype}\n\n\n"
            + step_source(sizes, hidden, output, loss, R, kind, confidence))


_loaded = {}


def block_width(runs, threads):
    """The widest of WIDTHS that still gives every thread a block, if there are runs enough."""
    per_thread = -(-runs // max(threads, 1))
    return max([w for w in WIDTHS if w <= per_thread], default=WIDTHS[0])


def step(sizes, hidden, output, loss, dtype, R, kind="plain", confidence=False):
    """The generated step for this shape, dtype, ``kind`` and ``confidence`` (`step_source`; a
    `numba.cfunc`; `train_online` takes its ``address``), written and compiled on first use,
    then loaded from numba's cache."""
    sizes = tuple(int(s) for s in sizes)
    dtype = np.dtype(dtype).name
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}; got {kind!r}")
    if R not in WIDTHS and R != 1:
        raise ValueError(f"runs per block must be 1 (a run alone) or one of {WIDTHS}; got {R}")
    confidence = bool(confidence)
    key = (sizes, hidden, output, loss, dtype, R, kind, confidence)
    if key in _loaded:
        return _loaded[key]
    from . import generated_folder
    name = "online_{}_{}_{}_loss{}_{}_r{}{}{}".format("x".join(map(str, sizes)), _ACT_NAMES[hidden],
                                                  _ACT_NAMES[output], loss, dtype, R,
                                                  {"plain": "", "penalties": "_pen", "gradients": "_grad"}[kind],
                                                  "_cp" if confidence else "")
    folder = generated_folder()
    path = folder / f"{name}.py"
    source = module_source(sizes, hidden, output, loss, dtype, R, kind, confidence)
    try:
        current = path.read_text()
    except OSError:
        current = None
    if current != source:  # written whole, then renamed, so other processes never see half a file
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            f.write(source)
        os.replace(tmp, path)
    spec = importlib.util.spec_from_file_location(f"gradlab._kernels.generated.{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    _loaded[key] = module.step
    return module.step


@intrinsic
def _call_step(typingctx, address, W, new, xg, tg, rates, ok):
    """Call the C function at ``address`` with the data pointers of the six arrays."""
    def codegen(context, builder, signature, args):
        pointers = [context.make_array(ty)(context, builder, value).data
                    for ty, value in zip(signature.args[1:], args[1:])]
        fnty = ir.FunctionType(ir.VoidType(), [p.type for p in pointers])
        builder.call(builder.inttoptr(args[0], fnty.as_pointer()), pointers)
        return context.get_dummy_value()
    return types.void(address, W, new, xg, tg, rates, ok), codegen


@njit(cache=True, error_model="numpy")
def _train_online_block(step, gradients, W, velocity, penalized, sizes, hidden, output, loss, beta, hyper, X, T,
                        labels, rng, n_epochs, step0, record_every, evaluate_every, total_steps, Xt, Tt, labels_t,
                        stats, layer_norms, state):
    """`train_chunk` for one block of online runs (arrays with the run index r innermost; T,
    rng, stats, layer_norms and state indexed by run first), by the generated step at address
    ``step``: if ``gradients``, a step of that kind, whose update `_sgd_update_runs` then makes
    with the optimizer state ``velocity`` (2P, RB). The same records, divergence handling and
    row orders as `train_chunk`; ``step0`` steps were made by earlier calls. state[r] = (records written, step that diverged; -1 marks an unused slot).

    rng[r] is run r's PCG64 state (`rng.pcg64_state`): each epoch's row order is drawn from it
    as `epoch_orders` draws it for `train_chunk`, and it is left where the stream stopped."""
    P, RB = W.shape
    n = X.shape[0]
    d = sizes[0]
    K = sizes[-1]
    new = np.empty_like(W)
    xg = np.empty((d, RB), X.dtype)
    tg = np.empty((K, RB), T.dtype)
    rates = np.empty((6, RB), W.dtype)  # lr, l2, l1, weight decay (hyper's first rows), penalties on biases, beta
    for r in range(RB):
        for q in range(4):
            rates[q, r] = hyper[q, r]
        rates[4, r] = penalized[sizes[0] * sizes[1], r]  # the first bias
        rates[5, r] = beta[r]
    G = np.empty((P if gradients else 0, RB), W.dtype)  # the data gradients of a "gradients" step
    C = np.zeros((6, RB), W.dtype)
    ok = np.empty(RB, np.bool_)
    live = np.empty(RB, np.bool_)
    perm = np.empty(n, np.int64)
    order = np.zeros((n, RB), np.int64)  # this epoch's rows, order[j, r] for run r (0 for stopped runs)
    for r in range(RB):
        live[r] = state[r, 1] == 0
        ok[r] = live[r] and state[r, 0] == 0
    _record_runs(W, sizes, hidden, output, loss, X, T, labels, Xt, Tt, labels_t, stats, layer_norms, state, ok,
                 np.bool_(False), np.bool_(True))
    in_spare = False  # whether W is currently the spare buffer (new and W swap every step)
    step_no = step0
    alive = True
    for e in range(n_epochs):
        _draw_orders(rng, live, perm, order, n > 1)
        for j in range(n):
            alive = _any(live)
            if not alive:
                break
            for r in range(RB):
                row = order[j, r]
                for i in range(d):
                    xg[i, r] = X[row, i]
                for k in range(K):
                    tg[k, r] = T[r, row, k]
                ok[r] = live[r]
            if gradients:
                _call_step(step, W, G, xg, tg, rates, ok)
                _sgd_update_runs(W, new, G, velocity, penalized, hyper, step_no + 1, C, ok)
            else:
                _call_step(step, W, new, xg, tg, rates, ok)
            if (step_no + 1) % record_every == 0 or step_no + 1 == total_steps:
                _record_runs(new, sizes, hidden, output, loss, X, T, labels, Xt, Tt, labels_t, stats, layer_norms,
                             state, ok, np.bool_(True), (step_no + 1) % evaluate_every == 0 or step_no + 1 == total_steps)
            _stop_failed_runs(W, new, ok, live, state, step_no)
            W, new = new, W
            in_spare = not in_spare
            step_no += 1
        if not alive:
            break
    _copy_to_caller(W, new, in_spare)


@njit(cache=True, error_model="numpy", parallel=True)
def train_online(step, gradients, W, velocity, penalized, sizes, hidden, output, loss, beta, hyper, X, T, labels, rng, n_epochs,
                 step0, record_every, evaluate_every, total_steps, Xt, Tt, labels_t, stats, layer_norms, state):
    """`_train_online_block` over blocks of runs, one block per prange iteration; arrays are
    indexed by block first (W (NB, P, R), velocity (NB, 2P, R), T (NB, R, n, K), rng (NB, R, 6),
    ...), with R the width ``step`` was generated for. ``step``: the address of the shape's
    generated step (`step(...).address`), of kind "gradients" if ``gradients``."""
    for b in prange(W.shape[0]):
        _train_online_block(step, gradients, W[b], velocity[b], penalized[b], sizes, hidden, output, loss, beta[b], hyper[b], X,
                            T[b], labels, rng[b], n_epochs, step0, record_every, evaluate_every, total_steps, Xt, Tt,
                            labels_t, stats[b], layer_norms[b], state[b])


def folder_name(digest):
    return f"generated-{digest[:16]}"


def writable_folder(base, digest):
    """base/generated-<digest> if it can be written, else a fresh temporary folder (no cache
    across processes then)."""
    if base is not None:
        folder = Path(base) / folder_name(digest)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            probe = folder / f".probe-{os.getpid()}"
            probe.write_text("")
            probe.unlink()
            return folder
        except OSError:
            pass
    return Path(tempfile.mkdtemp(prefix="gradlab-kernels-"))
