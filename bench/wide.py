"""W5: minibatch sweeps of wider nets (issue 15), gl.sweep against JAX ``jit(vmap(scan))``.

- digits: 64 runs (16 smoothing values a in linspace(0, 0.3, 16) x seeds 0-3) of MLP
  [64, 128, 10] tanh/softmax, CE, batch 32, lr 0.05, 5 epochs, on sklearn's digits (gl.sweep's
  split: test_size 0.2, seed 0, standardised on the training rows; 1,437 training rows).
- mnist-shape: the same 64 runs of [784, 64, 10], 3 epochs, on random data: 5,000 rows of
  N(0, 1) inputs with uniform labels over 10 classes (numpy seed 0), 4,000 training rows after
  the split: MNIST's width at a size that times in seconds.
- digits-narrow: the digits runs with [64, 16, 10], the width of most regime-map cells.

gradlab: ``gl.sweep(grid, data, record_every=<all steps>)`` then ``res.final`` (records at step 0
and the end only). jax: one run is a ``lax.scan`` over each epoch's full batches plus one
step on the remainder, ``w -= lr * mean-gradient``, rows in gl.train's order (one
``default_rng(seed).permutation(n)`` per epoch), vmapped over runs and jitted; on 1 host device
in this process and on 2 (``--xla_force_host_platform_device_count=2``, run axis sharded) in a
subprocess. Final parameters are compared with gradlab's before anything is timed.

    python bench/wide.py [--reps 3] [--only digits|mnist-shape] [--dtype float64|float32]
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

import gradlab as gl
from gradlab.sweep import sweep_data

SMOOTHING = np.linspace(0, 0.3, 16)
SEEDS = range(4)
LR, BATCH = 0.05, 32
WORKLOADS = {"digits": ([64, 128, 10], 5), "mnist-shape": ([784, 64, 10], 3),
             "digits-narrow": ([64, 16, 10], 5)}  # the regime maps' narrow nets
TOL = {"float64": 1e-9, "float32": 2e-4}  # max |jax - gradlab| over final parameters


def raw_data(name):
    if name.startswith("digits"):
        from sklearn.datasets import load_digits
        X, y = load_digits(return_X_y=True)
        return X.astype(float), y
    rng = np.random.default_rng(0)
    return rng.standard_normal((5000, 784)), rng.integers(0, 10, 5000)


def grid(name, dtype):
    sizes, epochs = WORKLOADS[name]
    return gl.Grid(smoothing=[float(a) for a in SMOOTHING], seed=list(SEEDS), sizes=[sizes], loss=["ce"],
                   lr=[LR], batch_size=[BATCH], epochs=[epochs], dtype=[dtype])


def run_gradlab(name, dtype, data):
    sizes, epochs = WORKLOADS[name]
    n = sweep_data(data)[0].shape[0]
    res = gl.sweep(grid(name, dtype), data, record_every=epochs * -(-n // BATCH))
    final = res.final
    params = np.stack([res.run(k).net.params for k in range(len(res.settings))])
    return final, params, res.settings


def jax_inputs(name, dtype, data, settings):
    """(init params (runs, P), T (runs, n, K), orders (runs, epochs, n), X, sizes) as gl.train sees them."""
    sizes, epochs = WORKLOADS[name]
    Xtr, ytr, _, _ = sweep_data(data)
    X = np.ascontiguousarray(Xtr, dtype)
    onehot = gl.one_hot(ytr, sizes[-1], dtype=dtype)
    init, T, orders = [], [], []
    for s in settings:
        init.append(gl.MLP(sizes, hidden="tanh", output="softmax", seed=s["seed"], dtype=dtype).params)
        T.append(gl.smooth_labels(onehot, s["smoothing"]).astype(dtype) if s["smoothing"] else onehot)
        rng = np.random.default_rng(s["seed"])
        orders.append(np.stack([rng.permutation(X.shape[0]) for _ in range(epochs)]).astype(np.int32))
    return np.stack(init), np.stack(T), np.stack(orders), X, sizes


def jax_fn(sizes, n):
    import jax
    import jax.numpy as jnp
    from jax import lax
    full, rest = divmod(n, BATCH)

    def loss(params, x, t):
        h = x
        for l in range(len(sizes) - 1):
            W, b = params[2 * l], params[2 * l + 1]
            h = h @ W + b
            if l < len(sizes) - 2:
                h = jnp.tanh(h)
        return -jnp.mean(jnp.sum(t * jax.nn.log_softmax(h), axis=1))

    grad = jax.grad(loss)

    def step(p, idx, X, T):
        g = grad(p, X[idx], T[idx])
        return tuple(w - LR * gw for w, gw in zip(p, g))

    def one_run(params, T, orders, X):
        def epoch(p, order):
            p, _ = lax.scan(lambda q, idx: (step(q, idx, X, T), None), p, order[:full * BATCH].reshape(full, BATCH))
            if rest:
                p = step(p, order[full * BATCH:], X, T)
            return p, None
        params, _ = lax.scan(epoch, params, orders)
        return params
    return jax.jit(jax.vmap(one_run, in_axes=(0, 0, 0, None)))


def split(flat, sizes):
    out, p = [], 0
    for fi, fo in zip(sizes[:-1], sizes[1:]):
        out += [flat[:, p:p + fi * fo].reshape(-1, fi, fo), flat[:, p + fi * fo:p + fi * fo + fo]]
        p += fi * fo + fo
    return tuple(out)


def time_jax(name, dtype, reps):
    """(best seconds, final params (runs, P)) of the jax sweep on every device this process sees."""
    import jax
    jax.config.update("jax_enable_x64", True)
    data = raw_data(name)
    settings = list(grid(name, dtype))
    init, T, orders, X, sizes = jax_inputs(name, dtype, data, settings)
    f = jax_fn(sizes, X.shape[0])
    devices = jax.devices()
    args = (split(init, sizes), T, orders, X)
    if len(devices) > 1:
        from jax.sharding import Mesh, NamedSharding, PartitionSpec
        mesh = Mesh(np.array(devices), ("runs",))
        runs, repl = NamedSharding(mesh, PartitionSpec("runs")), NamedSharding(mesh, PartitionSpec())
        args = (jax.device_put(args[0], runs), jax.device_put(T, runs), jax.device_put(orders, runs),
                jax.device_put(X, repl))
    else:
        args = jax.device_put(args, devices[0])
    out = jax.block_until_ready(f(*args))  # compile
    best = np.inf
    for _ in range(reps):
        t = time.perf_counter()
        out = jax.block_until_ready(f(*args))
        best = min(best, time.perf_counter() - t)
    params = np.concatenate([np.asarray(q).reshape(q.shape[0], -1) for q in out], axis=1)
    return best, params, len(devices)


def time_gradlab(name, dtype, reps):
    data = raw_data(name)
    run_gradlab(name, dtype, data)  # compile
    best = np.inf
    for _ in range(reps):
        t = time.perf_counter()
        final, params, settings = run_gradlab(name, dtype, data)
        best = min(best, time.perf_counter() - t)
    return best, params, settings


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--only", choices=list(WORKLOADS))
    ap.add_argument("--dtype", choices=["float64", "float32"])
    ap.add_argument("--jax-worker", nargs=2, metavar=("WORKLOAD", "DTYPE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.jax_worker:
        best, params, ndev = time_jax(*args.jax_worker, args.reps)
        np.save(os.environ["WIDE_OUT"], params)
        print(json.dumps({"seconds": best, "devices": ndev}))
        return
    for name in [args.only] if args.only else WORKLOADS:
        for dtype in [args.dtype] if args.dtype else ["float64", "float32"]:
            g, params, settings = time_gradlab(name, dtype, args.reps)
            line = f"{name:12s} {dtype}: gl.sweep {g:.3f} s"
            try:
                import jax  # noqa: F401
            except ImportError:
                print(line + "  (jax not installed)")
                continue
            for ndev in (1, 2):
                out = f"/tmp/gradlab_wide_{os.getpid()}.npy"
                env = dict(os.environ, WIDE_OUT=out, XLA_FLAGS=(os.environ.get("XLA_FLAGS", "") + (
                    " --xla_force_host_platform_device_count=2" if ndev == 2 else "")).strip())
                res = subprocess.run([sys.executable, __file__, "--jax-worker", name, dtype, "--reps", str(args.reps)],
                                     env=env, capture_output=True, text=True, check=True)
                info = json.loads(res.stdout.strip().splitlines()[-1])
                jp = np.load(out)
                os.remove(out)
                diff = float(np.max(np.abs(jp - params)))
                if not diff <= TOL[dtype]:
                    raise RuntimeError(f"{name} {dtype}: jax and gradlab differ by {diff:g} > {TOL[dtype]:g}")
                line += f"  jax-{info['devices']}dev {info['seconds']:.3f} s (x{g / info['seconds']:.1f}, |diff| {diff:.1e})"
            print(line, flush=True)


if __name__ == "__main__":
    main()
