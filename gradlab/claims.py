"""Checks of claims C1-C5 (see CLAIMS.md): each draws data, measures, and derives its
verdict from the measurements. Nothing here is typed in by hand but the claims themselves.

Every check returns a `Check`; `core_checks()` runs them all and `format_report` renders them.
"""
from dataclasses import dataclass, field

import numpy as np

from .grads import deltas, error_term, grad, logit_losses
from .nets import MLP
from .targets import one_hot, smooth_labels

FD_STEP = 1e-6  # central differences in float64: error ~ h^2 f''' + eps/h ~ 1e-10
FD_RTOL = 1e-6  # agreement required with finite differences (relative to max |grad|)
ROUNDING = 1e-12  # agreement required between formulas that are equal in exact arithmetic


@dataclass
class Check:
    claim: str
    statement: str
    verdict: str  # "holds", "holds only in part", or "false"
    measured: dict = field(default_factory=dict)
    findings: list = field(default_factory=list)


def _random_logits_targets(rng, n, K, soft=True):
    z = rng.normal(0.0, 3.0, (n, K))
    T = rng.dirichlet(np.ones(K), n) if soft else one_hot(rng.integers(0, K, n), K)
    return z, T


def outputs(z, output):
    """o = act_out(z) row-wise, in NumPy (the reference the checks compare against)."""
    if output == "softmax":
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    if output == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    return z.copy()


def fd_error_term(z, T, loss, output, h=FD_STEP):
    """dL/dz by central finite differences of `logit_losses` (independent of any formula)."""
    D = np.empty_like(z)
    for k in range(z.shape[1]):
        e = np.zeros_like(z)
        e[:, k] = h
        D[:, k] = (logit_losses(z + e, T, loss, output) - logit_losses(z - e, T, loss, output)) / (2 * h)
    return D


def _rel_err(a, b):
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300))


def check_c1(n=2000, seed=0):
    """Softmax-CE: delta == o - t, and that is the true derivative (finite differences)."""
    rng = np.random.default_rng(seed)
    worst_formula, worst_fd = 0.0, 0.0
    for K in range(2, 11):
        z, T = _random_logits_targets(rng, n // 9, K)
        d = error_term(z, T, "ce", "softmax")
        worst_formula = max(worst_formula, float(np.abs(d - (outputs(z, "softmax") - T)).max()))
        worst_fd = max(worst_fd, _rel_err(d, fd_error_term(z, T, "ce", "softmax")))
    ok = worst_formula <= ROUNDING and worst_fd <= FD_RTOL
    return Check("C1", "softmax + CE: the error term is o - t, so every update carries (t - o)",
                 "holds" if ok else "false",
                 {"rows": n, "K": "2..10", "max |delta - (o - t)|": worst_formula,
                  "max rel. error vs finite differences": worst_fd})


def sign_counterexample(rng, tries=20000, K=3):
    """Search random logits and one-hot targets for softmax-MSE with sign(delta_k) != sign(o_k - t_k)."""
    z, T = _random_logits_targets(rng, tries, K, soft=False)
    d = error_term(z, T, "mse", "softmax")
    e = outputs(z, "softmax") - T
    bad = (np.sign(d) != np.sign(e)) & (e != 0)
    rows = np.flatnonzero(bad.any(axis=1))
    return rows.size / tries, (z[rows[0]], T[rows[0]]) if rows.size else None


def check_c2(n=3000, seed=0):
    """MSE: delta is linear in (o - t) and zero at o == t for every output; the sign of
    delta_k follows o_k - t_k for element-wise outputs but not always for exact softmax-MSE."""
    rng = np.random.default_rng(seed)
    measured, findings = {}, []
    linear_ok = True
    for output in ("identity", "sigmoid", "softmax"):
        z, T1 = _random_logits_targets(rng, n, 4)
        T2 = rng.dirichlet(np.ones(4), n)
        o = outputs(z, output)
        d1, d2 = error_term(z, T1, "mse", output), error_term(z, T2, "mse", output)
        mix = error_term(z, 0.3 * T1 + 0.7 * T2, "mse", output)
        lin = float(np.abs(mix - (0.3 * d1 + 0.7 * d2)).max())
        at_target = float(np.abs(error_term(z, o, "mse", output)).max())
        fd = _rel_err(d1, fd_error_term(z, T1, "mse", output))
        e = o - T1
        sign_ok = float(np.mean((np.sign(d1) == np.sign(e)) | (e == 0)))
        measured[f"{output}: max rel. error vs finite differences"] = fd
        measured[f"{output}: linearity defect"] = lin
        measured[f"{output}: max |delta| at t = o"] = at_target
        measured[f"{output}: share of entries with sign(delta) = sign(o - t)"] = sign_ok
        linear_ok &= lin <= ROUNDING and at_target <= ROUNDING and fd <= FD_RTOL
    share, example = sign_counterexample(rng)
    measured["softmax: share of random one-hot cases with a sign mismatch"] = share
    o_doc = np.array([[0.01, 0.01, 0.98]])
    d_doc = error_term(np.log(o_doc), [[1.0, 0.0, 0.0]], "mse", "softmax")[0]
    findings.append(f"o = (0.01, 0.01, 0.98), t = (1, 0, 0): delta = {np.array2string(d_doc, precision=5)}; "
                    f"the second component {d_doc[1]:+.5f} has the opposite sign of o_2 - t_2 = +0.01")
    if example is not None:
        zc, tc = example
        findings.append(f"random search: z = {np.array2string(zc, precision=3)}, t = {tc}, "
                        f"o = {np.array2string(outputs(zc[None], 'softmax')[0], precision=3)}, "
                        f"delta = {np.array2string(error_term(zc[None], tc[None], 'mse', 'softmax')[0], precision=4)}")
    z, T = _random_logits_targets(rng, n, 4)
    exact, diag = error_term(z, T, "mse", "softmax"), error_term(z, T, "mse", "softmax", variant="diagonal")
    measured["softmax: diagonal shortcut, median rel. difference from exact"] = float(
        np.median(np.abs(diag - exact).sum(axis=1) / np.abs(exact).sum(axis=1)))
    sign_fails = d_doc[1] < 0 and share > 0
    verdict = "holds only in part" if linear_ok and sign_fails else ("holds" if linear_ok else "false")
    return Check("C2", "MSE: the update also carries (t - o)", verdict, measured, findings)


def check_c3():
    """Smoothed targets (1 - a) t + a / K; 0.9/0.1 targets are K = 2, a = 0.2."""
    three = smooth_labels(one_hot([0], 3), 0.1)[0]
    two = smooth_labels(one_hot([0], 2), 0.2)[0]
    ok = (np.abs(three - [1 - 0.1 + 0.1 / 3, 0.1 / 3, 0.1 / 3]).max() <= ROUNDING
          and np.abs(two - [0.9, 0.1]).max() <= ROUNDING)
    return Check("C3", "t' = (1 - a) t + a / K; 0.9 / 0.1 targets are K = 2, a = 0.2",
                 "holds" if ok else "false",
                 {"K = 3, a = 0.1": np.array2string(three, precision=6),
                  "K = 2, a = 0.2": np.array2string(two, precision=6)})


def check_c4(seed=0, n_nets=20):
    """The LS gradient is the mixture (1 - a) grad(t) + a grad(uniform): LS acts only through t."""
    rng = np.random.default_rng(seed)
    worst = 0.0
    for r in range(n_nets):
        output, loss = [("softmax", "ce"), ("sigmoid", "ce"), ("softmax", "mse"), ("sigmoid", "mse")][r % 4]
        net = MLP([3, 5, 4], hidden="tanh", output=output, seed=r)
        X = rng.normal(size=(30, 3))
        T = one_hot(rng.integers(0, 4, 30), 4)
        a = rng.uniform(0, 1)
        Xc, Tc = X.copy(), T.copy()
        lhs = grad(net, X, smooth_labels(T, a), loss)
        rhs = (1 - a) * grad(net, X, T, loss) + a * grad(net, X, np.full_like(T, 0.25), loss)
        worst = max(worst, _rel_err(lhs, rhs))
        if not (np.array_equal(X, Xc) and np.array_equal(T, Tc)):
            raise AssertionError("a gradient call modified its inputs")
    return Check("C4", "LS enters only through the target t in (t - o)",
                 "holds" if worst <= ROUNDING else "false",
                 {"nets (CE/MSE x softmax/sigmoid)": n_nets,
                  "max rel. |grad(t') - (1 - a) grad(t) - a grad(1/K)|": worst})


def worked_example(lr=0.01):
    """The four deltas of the worked example: one sigmoid output node fed by an activation of 1,
    per-node CE (error term o - t), plain SGD with learning rate ``lr``."""
    rows = []
    for t, o in [(1.0, 0.75), (1.0, 0.97), (0.8, 0.75), (0.8, 0.97)]:
        net = MLP.from_params([1, 1], [np.log(o / (1 - o)), 0.0], hidden="identity", output="sigmoid")
        rows.append({"target": t, "output": o, "lr * (t - o)": lr * (t - o),
                     "gradlab delta": float(deltas(net, [[1.0]], [[t]], "ce", lr)[0, 0])})
    return rows


def sign_flip(a, K, grid=20001):
    """Softmax-CE with smoothing ``a``: sweep the true-class logit and compare the sign of the
    true-class update -lr delta_0 with the sign of t'_0 - o_0.

    Returns (number of grid points where the signs differ, t'_0, outputs bracketing the flip).
    """
    z = np.zeros((grid, K))
    z[:, 0] = np.linspace(-10, 10, grid)
    T = smooth_labels(np.tile(one_hot([0], K), (grid, 1)), a)
    update = -error_term(z, T, "ce", "softmax")[:, 0]
    o = outputs(z, "softmax")[:, 0]
    t = T[0, 0]
    mismatches = int(np.sum(np.sign(update) != np.sign(t - o)))
    i = int(np.flatnonzero(np.diff(np.sign(update)) != 0)[0])
    return mismatches, float(t), (float(o[i]), float(o[i + 1]))


def check_c5():
    """Worked example numbers, and the sign flip of the true-class update at o = t'."""
    rows = worked_example()
    worst = max(abs(r["gradlab delta"] - r["lr * (t - o)"]) for r in rows)
    blog = [0.0025, 0.0003, 0.0005, -0.0017]
    worst_blog = max(abs(r["gradlab delta"] - b) for r, b in zip(rows, blog))
    flips = {(a, K): sign_flip(a, K) for a in (0.05, 0.1, 0.2) for K in (2, 3, 10)}
    mismatches = sum(m for m, _, _ in flips.values())
    bracketed = all(lo <= t <= hi for _, t, (lo, hi) in flips.values())
    ok = worst <= ROUNDING and worst_blog <= ROUNDING and mismatches == 0 and bracketed
    m, t, (lo, hi) = flips[(0.1, 3)]
    return Check("C5", "worked example deltas; with LS the update flips sign once o passes t'",
                 "holds" if ok else "false",
                 {"max |delta - lr (t - o)|": worst, "max |delta - published value|": worst_blog,
                  "grid points (9 settings x 20001) where sign(update) != sign(t' - o)": mismatches,
                  "flip bracketed by the grid at t' in every setting": bracketed},
                 [f"t = {r['target']}, o = {r['output']}: delta = {r['gradlab delta']:+.6f}" for r in rows]
                 + [f"a = 0.1, K = 3: t' = {t:.6f}, the update flips between o = {lo:.6f} and {hi:.6f}"])


def core_checks():
    return [check_c1(), check_c2(), check_c3(), check_c4(), check_c5()]


def format_report(checks):
    lines = ["# gradlab claims report (C1-C5)", ""]
    lines += ["| claim | statement | verdict |", "|---|---|---|"]
    lines += [f"| {c.claim} | {c.statement} | **{c.verdict}** |" for c in checks]
    for c in checks:
        lines += ["", f"## {c.claim}: {c.verdict}", "", c.statement, ""]
        lines += [f"- {k}: {v:.3g}" if isinstance(v, float) else f"- {k}: {v}" for k, v in c.measured.items()]
        lines += [f"- finding: {f}" for f in c.findings]
    lines += ["", "## C5 worked example (lr = 0.01, activation 1, per-node CE on a sigmoid output)", "",
              "| target | output | lr (t - o) | gradlab delta |", "|---|---|---|---|"]
    lines += [f"| {r['target']} | {r['output']} | {r['lr * (t - o)']:+.6f} | {r['gradlab delta']:+.6f} |"
              for r in worked_example()]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- measurements behind the claims report (C1-C5)


def sign_mismatch(z, T, variant="exact"):
    """Softmax-MSE: (n, K) mask of entries where sign(delta_k) differs from sign(o_k - t_k)
    (entries with o_k == t_k excluded)."""
    d = error_term(z, T, "mse", "softmax", variant=variant)
    e = outputs(np.asarray(z, dtype=float), "softmax") - np.asarray(T, dtype=float)
    return (np.sign(d) != np.sign(e)) & (e != 0)


def diagonal_vs_exact(z, T):
    """Softmax-MSE: how far the diagonal shortcut (o - t) o (1 - o) is from the exact J^T (o - t),
    per row: relative L1 difference |diag - exact|_1 / |exact|_1, cosine of the two vectors, and
    the number of entries whose signs differ."""
    exact = error_term(z, T, "mse", "softmax")
    diag = error_term(z, T, "mse", "softmax", variant="diagonal")
    norm = np.abs(exact).sum(axis=1)
    rel = np.abs(diag - exact).sum(axis=1) / np.where(norm > 0, norm, np.nan)
    norms = np.linalg.norm(diag, axis=1) * np.linalg.norm(exact, axis=1)
    cos = (diag * exact).sum(axis=1) / np.where(norms > 0, norms, np.nan)
    return {"rel_l1": rel, "cosine": cos, "sign_differences": (np.sign(diag) != np.sign(exact)).sum(axis=1)}


def _slice_rows(output, target, K, rest, z0):
    z0 = np.atleast_1d(np.asarray(z0, dtype=float))
    if output == "sigmoid":
        return z0[:, None], np.full((z0.size, 1), float(target))
    z = np.tile(np.zeros(K) if rest is None else np.asarray(rest, dtype=float), (z0.size, 1))
    z[:, 0] = z0
    return z, np.tile(np.r_[target, np.full(K - 1, (1 - target) / (K - 1))], (z0.size, 1))


def true_class_slice(loss, output, target, K=3, rest=None, variant="exact", z_range=(-10.0, 10.0), grid=20001):
    """Error term of the true class (class 0) as its logit z_0 sweeps ``z_range``.

    ``output="sigmoid"``: one output node with target ``target``. ``output="softmax"``: K classes,
    the other logits fixed at ``rest`` (zeros by default), target row
    ``(target, (1 - target) / (K - 1), ...)``. Returns (o_0, delta_0, z_0), each of length ``grid``.
    """
    z0 = np.linspace(*z_range, grid)
    z, T = _slice_rows(output, target, K, rest, z0)
    return outputs(z, output)[:, 0], error_term(z, T, loss, output, variant=variant)[:, 0], z0


def zero_crossings(x, y):
    """The x where y changes sign (exact zeros included), by linear interpolation between samples."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    s = np.sign(y)
    zeros = np.flatnonzero(s == 0)
    i = np.flatnonzero(s[:-1] * s[1:] < 0)
    cross = x[i] - y[i] * (x[i + 1] - x[i]) / (y[i + 1] - y[i])
    return np.sort(np.r_[x[zeros], cross])


def flip_output(loss, output, target, K=3, rest=None, variant="exact", z_range=(-10.0, 10.0), grid=20001):
    """Along `true_class_slice`: (number of sign changes of delta_0 on the grid, the output o_0 at
    the sign change found by Brent's method on z_0 to 1e-13, or NaN unless there is exactly one)."""
    from scipy.optimize import brentq
    _, d, z0 = true_class_slice(loss, output, target, K, rest, variant, z_range, grid)
    s = np.sign(d)
    changes = np.flatnonzero(s[:-1] * s[1:] < 0)
    zeros = np.flatnonzero(s == 0)
    count = changes.size + zeros.size
    if count != 1:
        return count, np.nan
    if zeros.size:
        zc = z0[zeros[0]]
    else:
        def delta0(v):
            z, T = _slice_rows(output, target, K, rest, v)
            return error_term(z, T, loss, output, variant=variant)[0, 0]
        zc = brentq(delta0, z0[changes[0]], z0[changes[0] + 1], xtol=1e-13, rtol=4 * np.finfo(float).eps)
    z, _ = _slice_rows(output, target, K, rest, zc)
    return count, float(outputs(z, output)[0, 0])


def flip_table(settings, grid=20001):
    """For each (loss, output, K, target t', variant): along `true_class_slice`, the number of grid
    points where the true-class update -delta_0 has a sign other than that of t' - o_0, the number
    of its sign changes, and the output where it changes sign (`flip_output`)."""
    rows = []
    for loss, output, K, target, variant in settings:
        o, d, _ = true_class_slice(loss, output, target, K, variant=variant, grid=grid)
        count, flip = flip_output(loss, output, target, K, variant=variant, grid=grid)
        rows.append({"loss": loss, "output": output, "K": K, "variant": variant, "target": target,
                     "sign_mismatches": int(np.sum(np.sign(-d) != np.sign(target - o))),
                     "crossings": count, "flip_at": flip})
    return rows


def softmax_mse_flip_offsets(rng, n, K=3, target=0.9, grid=4001):
    """Exact softmax-MSE, true class 0 with target ``target``: for ``n`` random settings of the other
    logits (normal, sd 2), how far from t' the true-class error term changes sign, |o_0* - t'|
    (NaN when it does not change sign exactly once)."""
    offsets = np.empty(n)
    for r in range(n):
        _, flip = flip_output("mse", "softmax", target, K, rest=np.r_[0.0, rng.normal(0, 2, K - 1)], grid=grid)
        offsets[r] = abs(flip - target)
    return offsets


def smoothing_defects(rng, n=200):
    """Largest |smooth_labels(T, a) - ((1 - a) T + a / K)| over random one-hot and soft targets,
    K = 2..10 and random a, and the largest gap of the K = 2, a = 0.2 targets from 0.9 / 0.1
    (two columns and a single binary column)."""
    worst = 0.0
    for K in range(2, 11):
        for T in (one_hot(rng.integers(0, K, n), K), rng.dirichlet(np.ones(K), n)):
            a = float(rng.uniform())
            worst = max(worst, float(np.abs(smooth_labels(T, a) - ((1 - a) * T + a / K)).max()))
    binary = max(float(np.abs(smooth_labels(one_hot([0, 1], 2), 0.2) - [[0.9, 0.1], [0.1, 0.9]]).max()),
                 float(np.abs(smooth_labels([[1.0], [0.0]], 0.2) - [[0.9], [0.1]]).max()))
    return worst, binary


def training_modifies_inputs(epochs=3, a=0.2, seed=0):
    """Train with ``smoothing=a`` on Iris and count the caller's arrays (X, y, X_test, y_test,
    a soft target matrix, the net's parameters) that changed."""
    from .datasets import iris, train_test_split
    from .training import train
    X, y = iris()
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.2, seed=seed)
    Ttr = smooth_labels(one_hot(ytr, 3), 0.05)
    net = MLP([4, 5, 3], hidden="tanh", output="softmax", seed=seed)
    arrays = {"X": Xtr, "y": ytr, "X_test": Xte, "y_test": yte, "T": Ttr, "params": net.params}
    before = {k: v.copy() for k, v in arrays.items()}
    train(net, Xtr, ytr, loss="ce", smoothing=a, epochs=epochs, seed=seed, X_test=Xte, y_test=yte)
    train(net, Xtr, Ttr, loss="ce", smoothing=a, epochs=epochs, seed=seed)
    return sum(not np.array_equal(before[k], arrays[k]) for k in arrays)


def sign_mismatch_search(rng, target, tries=20000, scale=3.0):
    """Softmax-MSE with the fixed target row ``target``: draw ``tries`` logit rows (normal, sd
    ``scale``) and return (share of rows with some sign(delta_k) != sign(o_k - t_k), the logits of
    the first such row or None)."""
    target = np.asarray(target, dtype=float)
    z = rng.normal(0.0, scale, (tries, target.size))
    bad = np.flatnonzero(sign_mismatch(z, np.tile(target, (tries, 1))).any(axis=1))
    return bad.size / tries, (z[bad[0]] if bad.size else None)


def mismatch_share_on_simplex(rng, target, n=100000):
    """Share of the output simplex (uniform, Dirichlet(1, ..., 1)) where exact softmax-MSE with
    target row ``target`` has some sign(delta_k) != sign(o_k - t_k)."""
    target = np.asarray(target, dtype=float)
    o = rng.dirichlet(np.ones(target.size), n)
    o = o[(o > 0).all(axis=1)]  # log(0) has no logit
    return float(sign_mismatch(np.log(o), np.tile(target, (o.shape[0], 1))).any(axis=1).mean())
