"""A deliberately naive, obviously correct reference in plain NumPy and Python loops.

One sample at a time, no blocking, no clever layouts, np.exp/np.tanh from NumPy (not gradlab's
arithmetic replacements). Parameters follow gradlab's documented layout: for every layer
``W`` (fan_in, fan_out) row-major, then ``b`` (fan_out,), all in one flat vector.
"""
import numpy as np

# ---------------------------------------------------------------- parameters


def unpack(sizes, params):
    """[(W, b), ...] as new arrays, read element by element from the documented layout."""
    layers = []
    p = 0
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        W = np.empty((fan_in, fan_out), np.float64)
        for i in range(fan_in):
            for o in range(fan_out):
                W[i, o] = params[p]
                p += 1
        b = np.empty(fan_out, np.float64)
        for o in range(fan_out):
            b[o] = params[p]
            p += 1
        layers.append((W, b))
    assert p == len(params), "params has the wrong length for these sizes"
    return layers


def pack(grads):
    """Flat vector from [(dW, db), ...] in the documented order."""
    out = []
    for dW, db in grads:
        for i in range(dW.shape[0]):
            for o in range(dW.shape[1]):
                out.append(dW[i, o])
        for o in range(db.shape[0]):
            out.append(db[o])
    return np.array(out, np.float64)


def n_params(sizes):
    return sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:]))


# ---------------------------------------------------------------- activations


def sigmoid(z):
    z = np.asarray(z, np.float64)
    out = np.empty_like(z)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    e = np.exp(z[~pos])
    out[~pos] = e / (1.0 + e)
    return out


def softmax(z):
    z = np.asarray(z, np.float64)
    e = np.exp(z - np.max(z))
    return e / np.sum(e)


def log_softmax(z):
    z = np.asarray(z, np.float64)
    m = np.max(z)
    return z - (m + np.log(np.sum(np.exp(z - m))))


def activate(name, z):
    if name == "identity":
        return np.array(z, np.float64)
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "sigmoid":
        return sigmoid(z)
    if name == "softmax":
        return softmax(z)
    raise ValueError(name)


def derivative(name, z):
    """d act / d z of an element-wise activation, written in terms of the pre-activation z."""
    if name == "identity":
        return np.ones_like(z)
    if name == "tanh":
        return 1.0 - np.tanh(z) ** 2
    if name == "relu":
        return (z > 0).astype(np.float64)
    if name == "sigmoid":
        s = sigmoid(z)
        return s * (1.0 - s)
    raise ValueError(name)


def output_jacobian(output, z):
    """J[k, m] = d o_k / d z_m."""
    o = activate(output, z)
    if output == "softmax":
        return np.diag(o) - np.outer(o, o)
    return np.diag(derivative(output, z))


# ---------------------------------------------------------------- forward


def forward_sample(sizes, params, hidden, output, x):
    """(pre-activations [z_1..z_L], activations [a_0 = x, a_1..a_L]) of one sample."""
    zs, acts = [], [np.array(x, np.float64)]
    layers = unpack(sizes, params)
    for l, (W, b) in enumerate(layers):
        z = np.zeros(W.shape[1])
        for o in range(W.shape[1]):
            z[o] = b[o] + sum(acts[-1][i] * W[i, o] for i in range(W.shape[0]))
        zs.append(z)
        acts.append(activate(output if l == len(layers) - 1 else hidden, z))
    return zs, acts


def forward(sizes, params, hidden, output, X):
    """(logits Z, outputs O), both (n, K), row by row."""
    Z, O = [], []
    for x in np.asarray(X, np.float64):
        zs, acts = forward_sample(sizes, params, hidden, output, x)
        Z.append(zs[-1])
        O.append(acts[-1])
    return np.array(Z), np.array(O)


def hidden_preactivations(sizes, params, hidden, output, X):
    """All hidden-layer pre-activations of all rows, flattened (empty without hidden layers)."""
    out = [np.zeros(0)]
    for x in np.asarray(X, np.float64):
        zs, _ = forward_sample(sizes, params, hidden, output, x)
        out.extend(zs[:-1])
    return np.concatenate(out)


# ---------------------------------------------------------------- losses and error terms


def loss_from_logits(z, t, loss, output):
    """Per-sample loss from logits z (K,) and target t (K,)."""
    z = np.asarray(z, np.float64)
    t = np.asarray(t, np.float64)
    if loss == "ce" and output == "softmax":
        return -np.sum(t * log_softmax(z))
    if loss == "ce" and output == "sigmoid":
        # per-node binary CE: -[t log s(z) + (1 - t) log(1 - s(z))], log s(z) = -log(1 + e^-z)
        log_s = -np.logaddexp(0.0, -z)
        log_1ms = -np.logaddexp(0.0, z)
        return -np.sum(t * log_s + (1.0 - t) * log_1ms)
    if loss == "mse":
        o = activate(output, z)
        return 0.5 * np.sum((o - t) ** 2)
    raise ValueError((loss, output))


def error_term_sample(z, t, loss, output):
    """dL/dz by the chain rule J^T dL/do, with the Jacobian written out as a matrix."""
    z = np.asarray(z, np.float64)
    t = np.asarray(t, np.float64)
    o = activate(output, z)
    J = output_jacobian(output, z)
    if loss == "mse":
        return J.T @ (o - t)
    if loss == "ce" and output == "softmax":
        # dL/do = -t / o, and J^T (-t / o) = -t + o sum(t): written out without dividing by o
        return o * np.sum(t) - t
    if loss == "ce" and output == "sigmoid":
        # dL/do = -t / o + (1 - t) / (1 - o), times o (1 - o): -t (1 - o) + (1 - t) o
        return -t * (1.0 - o) + (1.0 - t) * o
    raise ValueError((loss, output))


def error_terms(Z, T, loss, output):
    return np.array([error_term_sample(z, t, loss, output) for z, t in zip(Z, T)])


def sample_losses(sizes, params, hidden, output, loss, X, T):
    Z, _ = forward(sizes, params, hidden, output, X)
    return np.array([loss_from_logits(z, t, loss, output) for z, t in zip(Z, T)])


# ---------------------------------------------------------------- backprop


def grad_sample(sizes, params, hidden, output, loss, x, t):
    """dL/dtheta of one sample, by explicit backprop with np.outer."""
    layers = unpack(sizes, params)
    zs, acts = forward_sample(sizes, params, hidden, output, x)
    delta = error_term_sample(zs[-1], t, loss, output)
    grads = [None] * len(layers)
    for l in range(len(layers) - 1, -1, -1):
        W, _ = layers[l]
        grads[l] = (np.outer(acts[l], delta), delta.copy())
        if l > 0:
            delta = (W @ delta) * derivative(hidden, zs[l - 1])
    return pack(grads)


def per_sample_grads(sizes, params, hidden, output, loss, X, T):
    return np.array([grad_sample(sizes, params, hidden, output, loss, x, t)
                     for x, t in zip(np.asarray(X, np.float64), np.asarray(T, np.float64))])


def error_scales(sizes, params, hidden, output, loss, x, t):
    """First-order rounding-error scales of one sample's logits, outputs and gradient.

    Every quantity is replaced by the sum of the absolute values of the terms it is computed
    from, plus the propagated scale of the errors of its inputs (a Wilkinson-style running
    bound). Any correct implementation that rounds a few dozen times per entry is within
    (a few dozen) * eps * scale of the exact value, entry by entry, so the tests compare
    kernel and reference against these scales; unlike |G| they do not vanish when G cancels.

    Returns (z_scale (K,), o_scale (K,), g_scale (P,)).
    """
    layers = unpack(sizes, params)
    zs, acts = forward_sample(sizes, params, hidden, output, x)
    t_signed = np.asarray(t, np.float64)
    t = np.abs(t_signed)
    # forward: E[l] bounds the computed z_{l+1}'s error / eps, A[l] that of a_l (x is exact)
    A = [np.zeros_like(acts[0])]
    E = []
    for l, (W, b) in enumerate(layers):
        E.append(np.abs(b) + (np.abs(acts[l]) + A[l]) @ np.abs(W))
        if l < len(layers) - 1:
            A.append(np.abs(acts[l + 1]) + np.abs(derivative(hidden, zs[l])) * E[l])
    J = np.abs(output_jacobian(output, zs[-1]))
    o_scale = np.abs(acts[-1]) + J @ E[-1]
    mag = o_scale + t
    if loss == "mse" and output != "identity":
        # the factor o (1 - o) / J is computed from rounded outputs: absolute error ~ eps,
        # multiplied by |o - t|
        d_scale = J.T @ mag + np.abs(acts[-1] - t_signed)
    else:
        d_scale = mag
    grads = [None] * len(layers)
    for l in range(len(layers) - 1, -1, -1):
        W, _ = layers[l]
        grads[l] = (np.outer(np.abs(acts[l]) + A[l], d_scale), d_scale.copy())
        if l > 0:
            slope = np.abs(derivative(hidden, zs[l - 1]))
            if hidden in ("tanh", "sigmoid"):
                # the slope is computed from a rounded activation: error ~ |act''| eps E (with
                # |act''| <= 2 |act'|), plus ~eps absolute from forming 1 - a^2 or a (1 - a)
                slope = slope * (1.0 + 2.0 * E[l - 1]) + 1.0
            d_scale = (np.abs(W) @ d_scale) * slope
    return E[-1], o_scale, pack(grads)


# ---------------------------------------------------------------- finite differences


def fd_grad(loss_fn, params, h):
    """Central finite differences of ``loss_fn(params)`` (scalar or array) w.r.t. params.

    Returns shape ``loss_fn(params).shape + (P,)``. The step actually taken,
    ``(p + h) - (p - h)``, is used as the denominator, so representation error of p +- h
    does not enter.
    """
    params = np.array(params, np.float64)
    base = np.asarray(loss_fn(params.copy()), np.float64)
    out = np.empty(base.shape + (params.size,), np.float64)
    for p in range(params.size):
        up = params.copy()
        down = params.copy()
        up[p] += h
        down[p] -= h
        step = up[p] - down[p]
        out[..., p] = (np.asarray(loss_fn(up), np.float64)
                       - np.asarray(loss_fn(down), np.float64)) / step
    return out


# ---------------------------------------------------------------- sweep tables


def sweep_final(res):
    """`SweepResult.final` as first written: one History, forward pass, NLL and ECE per run
    (`gl.metrics` on `gl.forward` of `res.run(k).net`), one dict per run."""
    import pandas as pd

    import gradlab as gl
    from gradlab.sweep import STAT_COLUMNS
    rows = []
    for k, s in enumerate(res.settings):
        h = res.run(k)
        row = {"run": k, **{key: (str(v) if key == "sizes" else str(tuple(v)) if key == "betas" else v)
                             for key, v in s.items()}}
        for c in STAT_COLUMNS:
            row[c] = getattr(h, c)[-1]
        for l in range(h.layer_norms.shape[1]):
            row[f"layer_norm_{l}"] = h.layer_norms[-1, l]
        plan = res.plans[k]
        for part, X, labels in (("train", plan.X, plan.labels), ("test", plan.Xt, plan.labels_t)):
            probs = gl.forward(h.net, X)
            if plan.net.output == "identity" or (plan.net.output == "sigmoid" and probs.shape[1] > 1):
                row[f"{part}_nll"] = row[f"{part}_ece"] = np.nan  # outputs are not one distribution
            elif not np.isfinite(probs).all():  # a diverged run's last net can overflow
                row[f"{part}_nll"] = row[f"{part}_ece"] = np.nan
            else:
                row[f"{part}_nll"] = gl.metrics.nll(probs, labels)
                row[f"{part}_ece"] = gl.metrics.ece(probs, labels)
        row["steps"] = h.step[-1]
        row["diverged_at"] = h.diverged_at if h.diverged else pd.NA
        rows.append(row)
    return pd.DataFrame(rows)


def sweep_history(res):
    """`SweepResult.history` as first written: one History and one DataFrame per run, concatenated."""
    import pandas as pd

    from gradlab.sweep import STAT_COLUMNS
    frames = []
    for k in range(len(res)):
        h = res.run(k)
        cols = {"run": np.full(h.step.shape, k), "step": h.step}
        cols.update({c: getattr(h, c) for c in STAT_COLUMNS})
        cols.update({f"layer_norm_{l}": h.layer_norms[:, l] for l in range(h.layer_norms.shape[1])})
        frames.append(pd.DataFrame(cols))
    return pd.concat(frames, ignore_index=True)
