"""Online SGD for blocks of runs of one small net, with a step generated per net shape.

`train_runs` (runs.py) takes any shape at run time, so a step is ~110 short loops over the
runs of a block with every value going through memory. For online SGD (one row per step; L2,
L1 and weight decay, but no momentum, confidence penalty or hidden targets) this module writes one
run's whole step as straight-line code for the given shape, inside a single loop over the
runs of a block whose width R (16, 32 or 64) is a compile-time constant. Every per-run value
then lives in a register, and LLVM vectorises the loop across runs: all offsets into the flat
(P R,) parameter arrays are constants, so it can prove the accesses apart.

Each value is computed by the expression `train_chunk` (and `train_runs`) uses, in the
parameters' dtype as there (constants, sums and the learning rate included, and `_tanh`/`_exp`
of that precision), so results equal theirs bit for bit.

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
from .runs import _any, _copy_to_caller, _draw_orders, _record_runs, _stop_failed_runs

WIDTHS = (16, 32, 64)  # runs per block: 8 does not vectorise; W4 ran 5-10% faster with 64 than
#                        with 32 (the per-step work outside the step is shared by more runs)
MAX_PARAMS = 150  # larger nets take `train_runs`: a step's compile grows faster than P (59 parameters
#                   1 s, 143: 3 s, 208: 6 s, 385: 19 s on 2 cores)

_ACT_NAMES = {IDENTITY: "identity", TANH: "tanh", RELU: "relu", SIGMOID: "sigmoid", SOFTMAX: "softmax"}


def applies(sizes, batch, hyper, beta, hidden_weight, params):
    """Whether a block of runs can take the generated kernel: online SGD (one row per step)
    with no momentum, Adam, confidence penalty or hidden targets, at most MAX_PARAMS
    parameters, and no initial parameter equal to -0.0 (see `step_source`).
    hyper (runs, N_HYPER), beta and hidden_weight (runs,), params (runs, P)."""
    n_params = sum(int(a) * int(b) + int(b) for a, b in zip(sizes[:-1], sizes[1:]))
    return (batch == 1 and n_params <= MAX_PARAMS and not hyper[:, MOMENTUM:ADAM + 1].any() and not any(beta)
            and not any(hidden_weight) and not (np.signbit(params) & (params == 0)).any())


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


def step_source(sizes, hidden, output, loss, R, penalties=False):
    """Source of the C callback `step(W, new, xg, tg, rates, ok)` (pointers to the data): one
    online step of every run r < R. F and F_T name the dtype (numpy and numba).

    W, new: (P R,) parameters before and after (parameter p of run r at p R + r);
    xg (d R,), tg (K R,): the step's input row and targets; rates (5 R,): each run's lr, l2,
    l1, weight decay and whether they act on its biases (1 or 0; on weights always), all of
    the dtype F. ok[r] &= every output delta and new parameter of run r is finite. Without
    ``penalties`` the step reads only lr. (No further pointer: with more, LLVM stops proving
    the accesses apart and the loop over runs no longer vectorises.)"""
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
    # output deltas, as `_error_term_runs` (no confidence penalty)
    if loss == MSE and output == SOFTMAX:
        body.append("s8 = F(0.0)")
        body += [f"s8 += ({out}_{k} - tg[{k * R} + r]) * {out}_{k}" for k in range(K)]
        body += [f"d{L}_{k} = F({out}_{k} * (({out}_{k} - tg[{k * R} + r]) - s8))" for k in range(K)]
    elif loss != CE and output != IDENTITY:
        body += [f"d{L}_{k} = F(({out}_{k} - tg[{k * R} + r]) * ({out}_{k} * (F(1.0) - {out}_{k})))"
                 for k in range(K)]
    else:
        body += [f"d{L}_{k} = {out}_{k} - tg[{k * R} + r]" for k in range(K)]
    body.append("rate = rates[r]")
    if penalties:
        body += [f"l2 = rates[{R} + r]", f"l1 = rates[{2 * R} + r]", f"wd = rates[{3 * R} + r]",
                 f"bias_pen = rates[{4 * R} + r]"]
    # backward, as `_backward_runs` with one row: sums in the dtype for the hidden deltas; then
    # `_sgd_update_runs` without penalties (scale 1.0). Its gradients start at +0.0, so a
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
            if penalties:  # `_updated` of `_sgd_update_runs`' g = 1.0 (0.0 + g), exactly
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
             f"    rates = carray(prates, {5 * R})",
             f"    ok = carray(pok, {R})",
             f"    for r in range({R}):"]
    return "\n".join(lines + ["        " + line for line in body]) + "\n"


def module_source(sizes, hidden, output, loss, dtype, R, penalties=False):
    """The generated module: imports, the dtype, and `step`."""
    return (f'"""Generated by gradlab._kernels.fused for sizes {list(sizes)}, hidden {_ACT_NAMES[hidden]}, '
            f'output {_ACT_NAMES[output]}, loss code {loss}, {dtype}, {R} runs per block'
            f'{", penalties" if penalties else ""}; do not edit."""\n'
            "import numpy as np\nfrom numba import carray, cfunc, types\n\n"
            "from gradlab._kernels.blocks import _activation_slope, _exp, _sigmoid, _tanh\n\n"
            f"F = np.{dtype}\nF_T = types.{dtype}\n\n\n") + step_source(sizes, hidden, output, loss, R, penalties)


_loaded = {}


def block_width(runs, threads):
    """The widest of WIDTHS that still gives every thread a block, if there are runs enough."""
    per_thread = -(-runs // max(threads, 1))
    return max([w for w in WIDTHS if w <= per_thread], default=WIDTHS[0])


def step(sizes, hidden, output, loss, dtype, R, penalties=False):
    """The generated step for this shape and dtype, with or without the penalty terms (a
    `numba.cfunc`; `train_online` takes its ``address``), written and compiled on first use,
    then loaded from numba's cache."""
    sizes = tuple(int(s) for s in sizes)
    dtype = np.dtype(dtype).name
    if R not in WIDTHS and R != 1:
        raise ValueError(f"runs per block must be 1 (a run alone) or one of {WIDTHS}; got {R}")
    penalties = bool(penalties)
    key = (sizes, hidden, output, loss, dtype, R, penalties)
    if key in _loaded:
        return _loaded[key]
    from . import generated_folder
    name = "online_{}_{}_{}_loss{}_{}_r{}{}".format("x".join(map(str, sizes)), _ACT_NAMES[hidden],
                                                  _ACT_NAMES[output], loss, dtype, R, "_pen" if penalties else "")
    folder = generated_folder()
    path = folder / f"{name}.py"
    source = module_source(sizes, hidden, output, loss, dtype, R, penalties)
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
def _train_online_block(step, W, penalized, sizes, hidden, output, loss, hyper, X, T, labels, rng, n_epochs, step0,
                        record_every, evaluate_every, total_steps, Xt, Tt, labels_t, stats, layer_norms, state):
    """`_train_runs_block` (runs.py) for one block of online runs, with the generated step at
    address ``step`` in place of `_forward_runs` .. `_sgd_update_runs`: the same records,
    divergence handling and row orders; ``step0`` steps were made by earlier calls."""
    RB = W.shape[1]
    n = X.shape[0]
    d = sizes[0]
    K = sizes[-1]
    new = np.empty_like(W)
    xg = np.empty((d, RB), X.dtype)
    tg = np.empty((K, RB), T.dtype)
    rates = np.empty((5, RB), W.dtype)  # lr, l2, l1, weight decay (hyper's first rows), penalties on biases
    for r in range(RB):
        for q in range(4):
            rates[q, r] = hyper[q, r]
        rates[4, r] = penalized[sizes[0] * sizes[1], r]  # the first bias
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
def train_online(step, W, penalized, sizes, hidden, output, loss, hyper, X, T, labels, rng, n_epochs, step0,
                 record_every, evaluate_every, total_steps, Xt, Tt, labels_t, stats, layer_norms, state):
    """`_train_online_block` over blocks of runs, one block per prange iteration; arrays are
    indexed by block first, as for `runs.train_runs` (W (NB, P, R), T (NB, R, n, K), ...), with
    R the width ``step`` was generated for. ``step``: the address of the shape's generated
    step (`step(...).address`)."""
    for b in prange(W.shape[0]):
        _train_online_block(step, W[b], penalized[b], sizes, hidden, output, loss, hyper[b], X, T[b], labels, rng[b],
                            n_epochs, step0, record_every, evaluate_every, total_steps, Xt, Tt, labels_t, stats[b],
                            layer_norms[b], state[b])


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
