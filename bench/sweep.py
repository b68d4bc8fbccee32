"""W4: a sweep of many small training runs at once, and how gl.sweep scales.

W4 (issue 6): 256 runs of online SGD (batch 1) on Iris (the 120 training rows of
``train_test_split(X, y, test_size=0.2, seed=0)``, standardised on them), MLP [4, 7, 3]
tanh/softmax, CE with smoothed targets, lr 0.01, 200 epochs: 16 values of the smoothing
``a`` in linspace(0, 0.3, 16) x 16 seeds. Run (a, s) starts from ``gl.MLP(seed=s).params``
and visits the rows in gl.train's order: ``rng = np.random.default_rng(s)``, one
``rng.permutation(120)`` per epoch (gl.train draws them with ``rng.permuted``: the same stream).

- gradlab: the public ``gl.sweep(grid, data=gl.datasets.iris(), test_size=0.2,
           record_every=50, out=<new temp dir>)`` (writing ``out`` included; the previous
           call's ``out`` is deleted inside the call). ``gradlab-final`` is the same call
           recording only the first and last step.
- jax:     ``jit(vmap(scan))``: one run is a ``lax.scan`` over its 24,000 steps (row index
           per step), vmapped over the runs, jitted; 1 host device, in this process.
- jax-2dev: the same function with the run axis sharded over 2 host devices
           (``--xla_force_host_platform_device_count=2``, which XLA reads when jax starts:
           so it runs in a worker subprocess that this process drives through a pipe).
- torch:   ``torch.func.vmap(torch.func.grad(loss))`` over the runs, one eager step per row
           (a Python loop); too slow for all 200 epochs, it runs the first ``TORCH_EPOCHS``.

Every call returns the runs' final parameters, (runs, P), compared with gradlab's (or, for
torch's prefix, with gl.train run for that many epochs) to a measured tolerance before
anything is timed. ``python bench/sweep.py`` also measures gl.sweep's parallel efficiency
and its scaling in runs and epochs and writes bench/RESULTS_sweep.md and
bench/sweep_scaling.png (with its data); ``--quick`` is a smoke run (under a minute) that
writes its report to a temporary folder. ``--parts tables`` times a sweep's tables
(``SweepResult.final`` and ``.history``) against its training at 1,000 and 100,000 runs, with
the process's memory, and the per-run reference tables of tests/naive.py on the same runs.
"""
import argparse
import atexit
import datetime
import json
import os
import pickle
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

import gradlab as gl
import harness
import training

SIZES = [4, 7, 3]
LR = 0.01
EPOCHS = 200
RECORD_EVERY = 50
SMOOTHING = np.linspace(0, 0.3, 16)
SEEDS = range(16)
TORCH_EPOCHS = 2  # torch's prefix (its eager step costs ~1000x gradlab's per run-step)
JAX_UNROLL = 1  # lax.scan unroll of the step loop (see JAX_NOTE for the others tried)
BENCH_DIR = os.path.dirname(os.path.abspath(__file__))


# ---------------------------------------------------------------- data


class SweepData:
    """One sweep's inputs, identical for every implementation; runs in the order
    ``[(a, s) for a in smoothing for s in seeds]``."""

    def __init__(self, dtype=np.float64, smoothing=SMOOTHING, seeds=SEEDS, epochs=EPOCHS,
                 record_every=RECORD_EVERY, torch_epochs=TORCH_EPOCHS):
        self.raw = gl.datasets.iris()
        X, y = self.raw
        Xtr, Xte, ytr, _ = gl.datasets.train_test_split(X, y, test_size=0.2, seed=0)
        Xtr, _ = gl.datasets.standardize(Xtr, Xte)
        self.dtype = np.dtype(dtype).type
        self.X64, self.y = Xtr, ytr
        self.X = np.ascontiguousarray(Xtr, self.dtype)
        self.n, self.K = self.X.shape[0], SIZES[-1]
        self.smoothing = [float(a) for a in smoothing]
        self.seeds = [int(s) for s in seeds]
        self.runs = [(a, s) for a in self.smoothing for s in self.seeds]
        self.epochs, self.record_every, self.lr = epochs, record_every, LR
        self.torch_epochs = min(torch_epochs, epochs)
        self.steps = epochs * self.n
        nets = {s: gl.MLP(SIZES, hidden="tanh", output="softmax", seed=s, dtype=self.dtype)
                for s in self.seeds}
        self.sizes = nets[self.seeds[0]].sizes
        self.init = np.stack([nets[s].params for _, s in self.runs])
        T = gl.one_hot(ytr, self.K, dtype=self.dtype)
        smoothed = {a: gl.smooth_labels(T, a).astype(self.dtype) if a else T for a in self.smoothing}
        self.T = np.stack([smoothed[a] for a, _ in self.runs])  # (runs, n, K), as gl.train makes them
        per_seed = {}
        for s in self.seeds:
            rng = np.random.default_rng(s)
            per_seed[s] = np.concatenate([rng.permutation(self.n) for _ in range(epochs)]).astype(np.int32)
        self.orders = np.stack([per_seed[s] for _, s in self.runs])  # (runs, steps)
        self._refs = {}  # epochs -> (gl.train params, per-run tolerance info)

    @property
    def n_runs(self):
        return len(self.runs)

    def units(self, epochs):
        return self.n_runs * epochs * self.n  # run-steps (one row each)

    def scope(self, epochs):
        if epochs == self.epochs:
            return f"all {self.n_runs} x {self.steps:,} steps"
        return f"first {epochs} of {self.epochs} epochs ({epochs * self.n:,} of {self.steps:,} steps) of all {self.n_runs} runs"

    def train_kwargs(self, s, epochs, a):
        return dict(smoothing=a, lr=self.lr, batch_size=1, epochs=epochs, seed=s,
                    record_every=epochs * self.n, progress=False)

    def gltrain(self, epochs, params=None):
        """Final params of every run through gl.train one after another (``params``:
        other initial parameters, (runs, P))."""
        init = self.init if params is None else params
        out = np.empty_like(self.init)
        for r, (a, s) in enumerate(self.runs):
            net = gl.MLP.from_params(self.sizes, init[r], "tanh", "softmax")
            out[r] = gl.train(net, self.X, self.y, **self.train_kwargs(s, epochs, a)).net.params
        return out


class Trained:
    """What a call returns: final parameters (runs, P) after ``epochs`` epochs."""

    def __init__(self, params, epochs):
        self.params, self.epochs = params, epochs

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self.params, dtype)


# ---------------------------------------------------------------- agreement

PERTURBATIONS = training.PERTURBATIONS
SAFETY = training.SAFETY
BASE_ULPS = training.BASE_ULPS


def reference(d, epochs):
    """gl.train's final params after ``epochs`` epochs and the per-run tolerance, measured:
    every run re-trained from its initial params moved by 1 ulp (random directions,
    ``PERTURBATIONS`` times); ``spread[r]`` = the largest ``max_p |moved - ref| / max_p |ref|``
    of run r; allowed[r] = max(BASE_ULPS eps, SAFETY spread[r])."""
    if epochs not in d._refs:
        t = time.perf_counter()
        ref = d.gltrain(epochs)
        moves = []
        for k in range(PERTURBATIONS):
            rng = np.random.default_rng(1000 + k)
            toward = np.where(rng.random(d.init.shape) < 0.5, -np.inf, np.inf).astype(d.dtype)
            moved = d.gltrain(epochs, np.nextafter(d.init, toward))
            moves.append(_run_rel(moved, ref))
        spread = np.max(moves, axis=0)
        eps = float(np.finfo(d.dtype).eps)
        d._refs[epochs] = (ref, {"spread": spread, "allowed": np.maximum(BASE_ULPS * eps, SAFETY * spread),
                                 "eps": eps, "seconds": time.perf_counter() - t})
    return d._refs[epochs]


def _run_rel(res, ref):
    """Per run: max_p |res - ref| / max_p |ref|."""
    res = np.asarray(res, np.float64)
    ref = np.asarray(ref, np.float64)
    return np.abs(res - ref).max(axis=1) / np.abs(ref).max(axis=1)


def compare(d, result, ref):
    """Per-run agreement of the final parameters with gradlab's (full runs) or gl.train's
    (a prefix of the epochs), within the measured per-run tolerance."""
    epochs = getattr(result, "epochs", d.epochs)
    res = harness.to_numpy(result).astype(np.float64)
    if res.shape != d.init.shape:
        return harness.Agreement(float("inf"), False, f"params of shape {res.shape}, expected {d.init.shape}")
    train_ref, tol = reference(d, epochs)
    against = ref if epochs == d.epochs else train_ref
    rel = _run_rel(res, against)
    ratio = rel / tol["allowed"]
    worst = int(np.argmax(ratio))
    a, s = d.runs[worst]
    ok = bool(np.all(np.isfinite(rel)) and np.all(ratio <= 1.0))
    detail = (f"final params after {epochs} epochs vs {'gl.sweep' if epochs == d.epochs else 'gl.train'}: "
              f"max over runs of max_p|diff| / max_p|ref| = {rel.max():.1e} (median {np.median(rel):.1e}); "
              f"largest diff / allowed = {ratio[worst]:.2g} (run a={a:.2f}, seed {s}; its 1-ulp "
              f"spread {tol['spread'][worst]:.1e})")
    info = {"epochs": epochs, "rel_max": float(rel.max()), "rel_median": float(np.median(rel)),
            "worst_ratio": float(ratio[worst]), "spread_median": float(np.median(tol["spread"])),
            "spread_max": float(tol["spread"].max())}
    if epochs == d.epochs and not np.any(res - ref):  # gradlab itself: say how it relates to gl.train
        diff = _run_rel(ref, train_ref)
        info["sweep_vs_train"] = float(diff.max())
        detail += (f". gl.sweep vs gl.train run by run: "
                   + ("bit-identical" if not diff.any() else f"max rel diff {diff.max():.1e}")
                   + f"; 1-ulp spread of the runs: median {np.median(tol['spread']):.1e}, max "
                   f"{tol['spread'].max():.1e} (measured in {tol['seconds']:.0f} s)")
    return harness.Agreement(float(rel.max()), ok, detail, info)


# ---------------------------------------------------------------- gradlab


def _sweep_params(d, res):
    """(runs, P) final params from a gl.sweep result, in d.runs order (matched on the
    settings gl.sweep reports per run)."""
    index = {(round(float(s["smoothing"]), 12), int(s["seed"])): k for k, s in enumerate(res.settings)}
    return np.stack([res.run(index[(round(a, 12), s)]).net.params for a, s in d.runs])


def w4_grid(smoothing, seeds, epochs, dtype):
    return gl.Grid(smoothing=[float(a) for a in smoothing], seed=[int(s) for s in seeds], sizes=[SIZES],
                   loss=["ce"], lr=[LR], batch_size=[1], epochs=[int(epochs)], dtype=[np.dtype(dtype).name])


def sweep_call(grid, data, record_every):
    """A zero-argument ``gl.sweep`` of ``grid`` writing to a new ``out`` folder each call (the
    previous call's folder is deleted first, inside the call, so every call trains all runs)."""
    base = tempfile.mkdtemp(prefix="gradlab_bench_sweep_")
    atexit.register(shutil.rmtree, base, True)
    state = {"i": 0, "prev": None}

    def call():
        if state["prev"]:
            shutil.rmtree(state["prev"])
        out = state["prev"] = os.path.join(base, str(state["i"]))
        state["i"] += 1
        return gl.sweep(grid, data=data, test_size=0.2, record_every=record_every, out=out)
    return call


def build_gradlab(d, record_every=None):
    if not hasattr(gl, "sweep"):
        raise harness.Skip("gl.sweep is not in this gradlab yet")
    run = sweep_call(w4_grid(d.smoothing, d.seeds, d.epochs, d.dtype), d.raw, record_every or d.record_every)
    checked = []

    def call():
        res = run()
        if not checked:  # once: the rows gl.sweep trained on are ours
            Xtr, ytr = res.data[0], res.data[1]
            if not (np.array_equal(Xtr, d.X64) and np.array_equal(ytr, d.y)):
                raise RuntimeError("gl.sweep's training rows differ from train_test_split(seed=0) + standardize")
            checked.append(True)
        return Trained(_sweep_params(d, res), d.epochs)
    return harness.sized(call, d.units(d.epochs), d.scope(d.epochs))


def build_gradlab_final(d):
    return build_gradlab(d, record_every=d.steps)


# ---------------------------------------------------------------- jax


def jax_sweep_fn(lr, unroll=JAX_UNROLL):
    """jit(vmap(one run)): one run = lax.scan over its row indices, ``w -= lr grad`` of
    ``-sum(t log_softmax(z))`` for that row. Params: a (W1, b1, W2, b2) pytree per run."""
    import jax
    import jax.numpy as jnp
    from jax import lax

    def loss(params, x, t):
        W1, b1, W2, b2 = params
        z = jnp.tanh(x @ W1 + b1) @ W2 + b2
        return -jnp.sum(t * jax.nn.log_softmax(z))

    grad = jax.grad(loss)

    def one_run(params, T, order, X):
        def step(p, i):
            g = grad(p, X[i], T[i])
            return jax.tree_util.tree_map(lambda w, gw: w - lr * gw, p, g), None
        params, _ = lax.scan(step, params, order, unroll=unroll)
        return params
    return jax.jit(jax.vmap(one_run, in_axes=(0, 0, 0, None)))


def _split(flat, sizes):
    """(runs, P) flat params -> per layer (W (runs, fi, fo), b (runs, fo)) as a flat list."""
    out, p = [], 0
    for fi, fo in zip(sizes[:-1], sizes[1:]):
        out += [flat[:, p:p + fi * fo].reshape(-1, fi, fo), flat[:, p + fi * fo:p + fi * fo + fo]]
        p += fi * fo + fo
    return out


def _join(leaves):
    return np.concatenate([np.asarray(q).reshape(q.shape[0], -1) for q in leaves], axis=1)


def jax_inputs(arrays, devices):
    """Put (params, T, orders, X) on the devices: the run axis split over ``devices``
    (one device: plain device_put), X replicated."""
    import jax
    params = tuple(_split(arrays["init"], arrays["sizes"]))
    T, orders, X = arrays["T"], arrays["orders"], arrays["X"]
    if len(devices) == 1:
        return jax.device_put((params, T, orders, X), devices[0])
    from jax.sharding import Mesh, NamedSharding, PartitionSpec
    mesh = Mesh(np.array(devices), ("runs",))
    runs, repl = NamedSharding(mesh, PartitionSpec("runs")), NamedSharding(mesh, PartitionSpec())
    return (jax.device_put(params, runs), jax.device_put(T, runs), jax.device_put(orders, runs),
            jax.device_put(X, repl))


def _jax_arrays(d):
    return {"init": d.init, "sizes": list(d.sizes), "T": d.T, "orders": d.orders, "X": d.X,
            "lr": d.lr, "dtype": np.dtype(d.dtype).name}


def build_jax(d):
    try:
        import jax
    except ImportError as err:
        raise harness.Skip(f"jax not installed: {err}") from None
    jax.config.update("jax_enable_x64", True)
    f = jax_sweep_fn(d.lr)
    args = jax_inputs(_jax_arrays(d), jax.devices()[:1])
    assert args[0][0].dtype == d.dtype, "jax changed the dtype"

    def call():
        out = f(*args)
        jax.block_until_ready(out)
        return Trained(_join(out), d.epochs)
    return harness.sized(call, d.units(d.epochs), d.scope(d.epochs))


def build_jax_sharded(d):
    """jax over all the devices this process sees, the run axis sharded (the worker's impl)."""
    import jax
    jax.config.update("jax_enable_x64", True)
    f = jax_sweep_fn(d.lr)
    args = jax_inputs(_jax_arrays(d), jax.devices())

    def call():
        out = f(*args)
        jax.block_until_ready(out)
        return Trained(_join(out), d.epochs)
    call.info = {"devices": [str(x) for x in jax.devices()], "sharding": str(args[0][0].sharding)}
    return harness.sized(call, d.units(d.epochs), d.scope(d.epochs))


WORKER_IMPLS = {"jax-sharded": build_jax_sharded}  # implementations only workers run


WORKERS = []  # every Worker started, for the report


class Worker:
    """An implementation of a workload running in a subprocess with its own environment
    (e.g. XLA_FLAGS, which XLA reads when jax starts, or PYTHONPATH pointing at another
    gradlab). The worker runs the workload's setup and the impl's build itself (both
    deterministic, so its inputs equal ours), makes the first call, then serves calls over a
    pipe; ``__call__`` returns its result. Its CPU time is counted as this process's by the
    harness's load guard (see `_count_helpers`) and kept in ``cpu`` / ``wall``."""

    def __init__(self, module, workload, impl, env=None):
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--worker", module, workload, impl],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     env=dict(os.environ, **(env or {})), cwd=BENCH_DIR)
        atexit.register(self.close)
        self.workload, self.impl = workload, impl
        WORKERS.append(self)
        self.cpu = self.wall = 0.0  # worker's CPU and wall seconds inside the timed calls
        self.info = self._ask("start")
        if "error" in self.info:
            self.close()
            raise RuntimeError(f"{impl} worker for {workload!r} failed:\n{self.info['error']}")
        _count_helpers(self.proc.pid)

    def _ask(self, msg):
        pickle.dump(msg, self.proc.stdin)
        self.proc.stdin.flush()
        return pickle.load(self.proc.stdout)

    def __call__(self):
        reply = self._ask("run")
        self.cpu += reply["cpu"]
        self.wall += reply["wall"]
        return reply["result"] if reply["epochs"] is None else Trained(reply["result"], reply["epochs"])

    def close(self):
        if self.proc.poll() is None:
            try:
                self._ask("quit")
            except (OSError, EOFError, pickle.PickleError):
                self.proc.kill()
            self.proc.wait(timeout=30)


def worker_main(module, workload, impl):
    """The worker's loop (``python sweep.py --worker MODULE WORKLOAD IMPL``)."""
    import importlib
    import traceback
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # the pipe carries replies only

    def reply(obj):
        pickle.dump(obj, stdout)
        stdout.flush()

    pickle.load(stdin)  # "start"
    try:
        mod = importlib.import_module(module)
        w = next(x for x in mod.WORKLOADS + getattr(mod, "EXTRA_WORKLOADS", []) if x.name == workload)
        call = {**w.impls, **getattr(mod, "WORKER_IMPLS", {})}[impl](w.setup())
        t = time.perf_counter()
        harness.to_numpy(call())
        info = dict(getattr(call, "info", {}), first_call_s=time.perf_counter() - t,
                    gradlab=os.path.dirname(gl.__file__), gradlab_source=harness.gradlab_source_hash(),
                    xla_flags=os.environ.get("XLA_FLAGS", ""), units=getattr(call, "units", 1.0),
                    scope=getattr(call, "scope", ""))
    except Exception:  # reported to the parent, which raises
        info = {"error": traceback.format_exc()}
    reply(info)
    while pickle.load(stdin) != "quit":
        c, t = time.process_time(), time.perf_counter()
        result = call()
        wall, cpu = time.perf_counter() - t, time.process_time() - c
        epochs = getattr(result, "epochs", None)
        reply({"result": harness.to_numpy(result), "epochs": epochs, "cpu": cpu, "wall": wall})
    reply("bye")


def worker_impl(module, workload, impl, env):
    """A build(data) running ``impl`` of ``workload`` in a `Worker` with ``env``."""
    def build(d):
        worker = Worker(module, workload, impl, env)
        d.workers = getattr(d, "workers", {})
        d.workers[impl] = worker
        return harness.sized(worker, worker.info["units"], worker.info["scope"])
    return build


_HELPER_PIDS = []


def _proc_cpu(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def _count_helpers(pid):
    """Make the harness's load guard count ``pid``'s CPU time as ours, not as foreign load:
    a worker's busy time is the work being timed."""
    if not _HELPER_PIDS:
        own = harness._machine_busy

        def busy():
            b = own()
            return None if b is None else (b[0], b[1] + sum(_proc_cpu(p) for p in _HELPER_PIDS))
        harness._machine_busy = busy
    _HELPER_PIDS.append(pid)


def build_jax_2dev(d):
    try:
        import jax  # noqa: F401  (only to skip cleanly where jax is missing)
    except ImportError as err:
        raise harness.Skip(f"jax not installed: {err}") from None
    if os.environ.get("GRADLAB_BENCH_THREADS") == "1":
        raise harness.Skip("two host devices run on two threads; this pass pins every library to 1")
    flags = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2").strip()
    worker = worker_impl(MODULE, d.workload, "jax-sharded", {"XLA_FLAGS": flags})(d)
    if len(worker.info["devices"]) != 2:
        raise RuntimeError(f"the jax worker sees {worker.info['devices']}, not 2 devices")
    return worker


# ---------------------------------------------------------------- torch


def build_torch(d):
    try:
        import torch
        from torch.func import grad, vmap
    except ImportError as err:
        raise harness.Skip(f"torch not installed: {err}") from None
    if harness.requested_threads():
        torch.set_num_threads(harness.requested_threads())
    epochs, lr = d.torch_epochs, d.lr

    def loss(W1, b1, W2, b2, x, t):
        z = torch.tanh(x @ W1 + b1) @ W2 + b2
        return -(t * torch.log_softmax(z, -1)).sum()

    step_grad = vmap(grad(loss, argnums=(0, 1, 2, 3)))
    X, T = torch.from_numpy(d.X.copy()), torch.from_numpy(d.T.copy())
    orders = torch.from_numpy(d.orders[:, :epochs * d.n].astype(np.int64))
    init = [torch.from_numpy(q.copy()) for q in _split(d.init, d.sizes)]
    runs = torch.arange(d.n_runs)

    def call():
        params = [q.clone() for q in init]
        with torch.no_grad():
            for s in range(orders.shape[1]):
                rows = orders[:, s]
                g = step_grad(*params, X[rows], T[runs, rows])
                params = [q - lr * gq for q, gq in zip(params, g)]
        return Trained(_join([q.numpy() for q in params]), epochs)
    return harness.sized(call, d.units(epochs), d.scope(epochs))


IMPLS = {"gradlab": build_gradlab, "gradlab-final": build_gradlab_final, "jax": build_jax,
         "jax-2dev": build_jax_2dev, "torch": build_torch}


# ---------------------------------------------------------------- workloads

MODULE = "sweep"  # this module's import name (workers and fresh processes import it)
W4_NAME = "sweep W4 iris-online-256"
QUICK_NAME = "sweep W4-quick iris-online-16"


def _setup(name, dtype, **sizes):
    def setup():
        d = SweepData(dtype, **sizes)
        d.workload = name
        return d
    return setup


CALL_NOTE = (
    "gradlab is timed through the public call, `gl.sweep(grid, data=gl.datasets.iris(), "
    f"test_size=0.2, record_every={RECORD_EVERY}, out=<new temp dir>)`, writing `out` included "
    "(each call deletes the previous call's directory first); its records (every 50 steps: "
    "weight and layer norms, train and test loss and accuracy, logit gap, per run) are work the "
    "others do not do. `gradlab-final` is the same call with `record_every` = all 24,000 steps "
    "(records at step 0 and the end only). The final parameters compared are read from the "
    "result with `res.run(k).net.params` inside the timed call. jax and torch compute only the "
    "training (no records, nothing written), from the same float64 (or float32) initial "
    "parameters, smoothed targets (as gl.train makes them) and row orders.")

JAX_NOTE = (
    "jax: `jit(vmap(one_run))`, one_run a `lax.scan` over the run's 24,000 row indices "
    f"(unroll={JAX_UNROLL}), each step `w -= lr * grad(-sum(t * log_softmax(z)))`, params a "
    "(W1, b1, W2, b2) pytree with a leading run axis; inputs put on the device(s) once in "
    "build. `jax` runs in this process on its single default CPU device. `jax-2dev` runs in a "
    "worker subprocess started with `XLA_FLAGS=--xla_force_host_platform_device_count=2` (XLA "
    "reads it when jax starts), the run axis of params, targets and orders sharded over the "
    "2 devices with a `NamedSharding` (X replicated); each timed call sends 'run' over a pipe "
    "and receives the final params back (pickled, 121 KB in float64). Its CPU/wall column "
    "counts only this process; the worker's own CPU time is counted by the load guard as ours "
    "and given below.")

TORCH_NOTE = (
    "torch: `torch.func.vmap(torch.func.grad(loss))` over the runs for one step, the params "
    "updated out of place, in a Python loop over the steps (eager mode). It runs only the first "
    f"{TORCH_EPOCHS} epochs (every run); its rate is that prefix's run-steps over its time "
    "(every step costs the same), and its params are compared with gl.train's after the same "
    "number of epochs (same tolerance construction).")

TOLERANCE_NOTE = (
    "Agreement: per run, `max_p |params - params_gradlab| / max_p |params_gradlab|` over the "
    f"59 final parameters must be at most max({BASE_ULPS} eps, {SAFETY} x spread_r), spread_r a "
    f"measured perturbation experiment: every run re-trained with gl.train {PERTURBATIONS} "
    "times from its initial parameters moved by 1 ulp in random directions; spread_r is the "
    "largest relative move of run r's final parameters.")

COMMON = dict(impls=IMPLS, module=MODULE, compare=compare, metric="run-steps/s",
              batch_seconds=0.2, max_repeats=20, fresh_process=("gradlab",),
              targets={"jax": 2.0, "jax-2dev": 2.0},
              notes=[CALL_NOTE, JAX_NOTE, TORCH_NOTE, TOLERANCE_NOTE])

W4_DESCRIPTION = (
    "256 runs of online SGD (batch 1) on the Iris 120/30 split (train rows, standardised on "
    "them), MLP [4, 7, 3] tanh/softmax, CE with smoothed targets, lr 0.01, 200 epochs = 24,000 "
    "steps per run (rows reshuffled every epoch from the run's seed): 16 values of a in "
    "linspace(0, 0.3, 16) x seeds 0-15; a run's initial net is `gl.MLP(seed=s)`.")

WORKLOADS = [
    harness.Workload(name=f"{W4_NAME} f64", description=W4_DESCRIPTION + " float64.",
                     setup=_setup(f"{W4_NAME} f64", np.float64), **COMMON),
    harness.Workload(name=f"{W4_NAME} f32", description=W4_DESCRIPTION + " float32 (nets "
                     "`gl.MLP(..., dtype=np.float32)`, every implementation in float32 arrays).",
                     setup=_setup(f"{W4_NAME} f32", np.float32), **COMMON),
]

QUICK = dict(smoothing=np.linspace(0, 0.3, 4), seeds=range(4), epochs=4, torch_epochs=1)
EXTRA_WORKLOADS = [  # not in run.py's list: the smoke-test size of `python bench/sweep.py --quick`
    harness.Workload(name=f"{QUICK_NAME} {tag}", description=f"W4 shrunk to 4 x 4 runs of 4 epochs, {tag}.",
                     setup=_setup(f"{QUICK_NAME} {tag}", dtype, **QUICK), **dict(COMMON, fresh_process=()))
    for tag, dtype in (("f64", np.float64), ("f32", np.float32))
]


# ---------------------------------------------------------------- parallel efficiency


def parallel_efficiency(d, repeats, log=print):
    """gl.sweep of W4 with numba's pool limited to 1 thread and with all threads
    (``numba.set_num_threads``), interleaved round by round; speed-up and efficiency =
    speed-up / threads, for record_every = 50 and for final records only."""
    import numba
    n = numba.config.NUMBA_NUM_THREADS
    if n < 2:
        return {"skipped": f"numba has {n} thread"}
    grid = w4_grid(d.smoothing, d.seeds, d.epochs, d.dtype)
    calls, params = {}, {}
    for label, every in (("gradlab", d.record_every), ("gradlab-final", d.steps)):
        run = sweep_call(grid, d.raw, every)
        for k in (1, n):
            def call(run=run, k=k):
                numba.set_num_threads(k)
                try:
                    return run()
                finally:
                    numba.set_num_threads(n)
            calls[(label, k)] = call
            params[(label, k)] = _sweep_params(d, call())  # also the warm-up
    same = all(np.array_equal(params[("gradlab", 1)], p) for p in params.values())
    names = {f"{label}, {k} thread{'s' * (k > 1)}": c for (label, k), c in calls.items()}
    harness.wait_quiet(log=log)
    timings, rounds = harness.time_interleaved(names, dict.fromkeys(names, 1), repeats, log=log)
    out = {"threads": n, "identical_params": same, "rounds": rounds, "variants": {}}
    for label in ("gradlab", "gradlab-final"):
        (w1, c1), (wn, cn) = timings[f"{label}, 1 thread"], timings[f"{label}, {n} threads"]
        paired = [a / b for a, b in zip(w1, wn)]
        speedup = statistics.median(w1) / statistics.median(wn)
        out["variants"][label] = {
            "wall_1": statistics.median(w1), "wall_n": statistics.median(wn),
            "cpu_per_wall_1": sum(c1) / sum(w1), "cpu_per_wall_n": sum(cn) / sum(wn),
            "speedup": speedup, "paired_speedup_q": harness.quartiles(paired), "efficiency": speedup / n}
        log(f"   {label}: 1 thread {statistics.median(w1):.3f} s, {n} threads {statistics.median(wn):.3f} s: "
            f"speed-up {speedup:.2f}, efficiency {speedup / n:.2f}")
    return out


# ---------------------------------------------------------------- scaling


def scaling(dtype, runs_list, epochs_list, base_runs, base_epochs, repeats, log=print):
    """Wall time of the W4 gl.sweep call as the number of runs (16 values of a x runs/16
    seeds, ``base_epochs`` epochs) and the number of epochs (``base_runs`` runs) grow; all
    sizes interleaved round by round."""
    raw = gl.datasets.iris()
    configs = sorted({(r, base_epochs) for r in runs_list} | {(base_runs, e) for e in epochs_list})
    calls = {}
    for runs, epochs in configs:
        if runs % len(SMOOTHING):
            raise ValueError(f"runs must be a multiple of {len(SMOOTHING)}; got {runs}")
        grid = w4_grid(SMOOTHING, range(runs // len(SMOOTHING)), epochs, dtype)
        calls[f"{runs} runs x {epochs} epochs"] = sweep_call(grid, raw, RECORD_EVERY)
    for call in calls.values():
        call()  # compiles once per shape (epochs and the record count are arguments, not types)
    harness.wait_quiet(log=log)
    timings, rounds = harness.time_interleaved(calls, dict.fromkeys(calls, 1), repeats, log=log)
    rows = []
    for (runs, epochs), (name, (wall, cpu)) in zip(configs, timings.items()):
        q1, med, q3 = harness.quartiles(wall)
        run_steps = runs * epochs * 120
        rows.append({"runs": runs, "epochs": epochs, "wall_s": med, "wall_q1_s": q1, "wall_q3_s": q3,
                     "ns_per_run_step": med / run_steps * 1e9, "cpu_per_wall": sum(cpu) / sum(wall)})
        log(f"   {name}: {med:.3f} s ({med / run_steps * 1e9:.1f} ns per run-step)")
    base = next(r for r in rows if r["runs"] == base_runs and r["epochs"] == base_epochs)
    for r in rows:  # measured / (base time scaled linearly in runs x epochs)
        r["vs_linear"] = r["wall_s"] / (base["wall_s"] * r["runs"] * r["epochs"] / (base_runs * base_epochs))
    fit = {}
    for key, fixed, value in (("runs", "epochs", base_epochs), ("epochs", "runs", base_runs)):
        pts = [(r[key], r["wall_s"]) for r in rows if r[fixed] == value]
        x, y = np.log([p[0] for p in pts]), np.log([p[1] for p in pts])
        fit[key] = float(np.polyfit(x, y, 1)[0])  # log-log slope: 1 = linear
    return {"dtype": np.dtype(dtype).name, "rows": rows, "loglog_slope": fit, "rounds": rounds,
            "base": [base_runs, base_epochs], "record_every": RECORD_EVERY}


def plot_scaling(sc, path_stem, quick):
    """Wall time vs runs and vs epochs (log-log, with the linear line through the base point)
    and the time per run-step of both series; saved with its data and settings."""
    import types

    import pandas as pd
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter, NullLocator

    from gradlab.report import save, style
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    fig, axes = style.subplots(1, 3)
    base_runs, base_epochs = sc["base"]
    base = next(r for r in sc["rows"] if r["runs"] == base_runs and r["epochs"] == base_epochs)
    series = (("runs", "epochs", base_epochs, style.BLUE, "o",
               f"runs (16 values of a x runs/16 seeds), {base_epochs} epochs each"),
              ("epochs", "runs", base_runs, style.VERMILLION, "s", f"epochs (120 steps each), {base_runs} runs"))
    for ax, (key, fixed, value, color, marker, label) in zip(axes[:2], series):
        rows = sorted((r for r in sc["rows"] if r[fixed] == value), key=lambda r: r[key])
        x = np.array([r[key] for r in rows], float)
        y = np.array([r["wall_s"] for r in rows])
        err = np.array([[r["wall_s"] - r["wall_q1_s"] for r in rows], [r["wall_q3_s"] - r["wall_s"] for r in rows]])
        ax.plot(x, base["wall_s"] * x / base[key], color=style.GREY, ls="--", lw=1.2,
                label=f"linear through {base_runs} runs x {base_epochs} epochs")
        ax.errorbar(x, y, yerr=err, color=color, marker=marker, ms=5, ls="none", capsize=2,
                    label="gl.sweep (median, IQR)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(x)
        ax.xaxis.set_major_formatter(plain)
        ax.xaxis.set_minor_locator(NullLocator())
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(plain)
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(label)
        ax.set_ylabel("wall time per gl.sweep call (s)")
        ax.set_title(f"log-log slope {sc['loglog_slope'][key]:.2f} (1 = linear)")
        ax.legend(loc="upper left")
        axes[2].plot(x / base[key], [r["ns_per_run_step"] for r in rows], color=color, marker=marker, ms=5,
                     label=f"more {key} ({base[key]} = 1)")
    axes[2].set_xscale("log", base=2)
    axes[2].xaxis.set_major_formatter(plain)
    axes[2].set_ylim(0, None)
    axes[2].set_xlabel(f"work relative to {base_runs} runs x {base_epochs} epochs")
    axes[2].set_ylabel("wall time per run-step (ns)")
    axes[2].set_title("cost per run-step (flat = linear)")
    axes[2].legend(loc="lower right")
    fig.suptitle(f"gl.sweep wall time with W4's settings ({sc['dtype']}, record_every={sc['record_every']}, "
                 f"{sc.get('threads', '?')} numba threads)", fontsize=10)
    ctx = types.SimpleNamespace(out=os.path.dirname(path_stem), quick=quick)
    settings = {k: v for k, v in sc.items() if k != "rows"}
    return save.save_figure(ctx, fig, os.path.basename(path_stem), pd.DataFrame(sc["rows"]), settings)


# ---------------------------------------------------------------- gl.train before / after

BEFORE = "c31e267"  # the last commit before the shared training loop (plan_run, train_runs)


def _gradlab_tree(commit):
    """A temporary folder holding ``gradlab/`` as it was at ``commit`` (git archive; the
    working tree and the index are not touched)."""
    tree = tempfile.mkdtemp(prefix=f"gradlab_{commit}_")
    atexit.register(shutil.rmtree, tree, True)
    archive = subprocess.run(["git", "-C", harness.REPO_DIR, "archive", commit, "gradlab"],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", tree], input=archive, check=True)
    return tree


TRAIN_WORKERS = 2  # worker processes per commit: their spread shows process-to-process noise


def train_check(before, repeats, only=None, log=print):
    """gl.train on W1-W3: commit ``before`` vs HEAD, each in ``TRAIN_WORKERS`` `Worker`
    subprocesses importing that commit's gradlab/ (so both run under the same conditions, and
    two processes of one commit show how much identical code differs between processes),
    interleaved in the same rounds with gl.train in this process (the harness's reference)."""
    import dataclasses
    commits = [harness._git("rev-parse", "--short", c) for c in (before, "HEAD")]
    trees = {c: _gradlab_tree(c) for c in commits}
    out = []
    for w in training.WORKLOADS:
        if only and only not in w.name:
            continue
        impls = {"gradlab": training.build_gradlab}
        for c, tree in trees.items():
            for i in range(TRAIN_WORKERS):
                def build(d, tree=tree, run=worker_impl("training", w.name, "gradlab", {"PYTHONPATH": tree})):
                    call = run(d)
                    if not call.info["gradlab"].startswith(tree):
                        raise RuntimeError(f"the worker imported gradlab from {call.info['gradlab']}, not {tree}")
                    return call
                impls[f"gradlab@{c} (worker {i + 1})"] = build
        note = (f"`gradlab@{commits[0]} (worker i)`: gl.train of commit {commits[0]} (before the shared training "
                f"loop) and `gradlab@{commits[1]} (worker i)`: gl.train at HEAD, each in {TRAIN_WORKERS} worker "
                "subprocesses importing that commit's gradlab/ (extracted with git archive); `gradlab`: gl.train "
                "of the working tree in this process, the harness's reference.")
        w2 = dataclasses.replace(w, impls=impls, targets={}, fresh_process=(), first_call_target_s=None,
                                 notes=[note])
        out.append(harness.run_workload(w2, repeats=repeats, fresh_process=False, log=log))
        for wk in WORKERS:
            if wk.workload == w.name:
                wk.close()
    return {"before": commits[0], "head": commits[1], "workers": TRAIN_WORKERS, "results": out}


# ---------------------------------------------------------------- report


def _w4_summary(results):
    """Markdown rows: per implementation, seconds per sweep (or per prefix) and speed-ups."""
    by_dtype = {r["name"].rsplit(" ", 1)[-1]: r for r in results}
    impls = []
    for r in results:
        impls += [k for k in r["impls"] if k not in impls]
    rows = []
    for k in impls:
        cells = [f"**{k}**" if k == "gradlab" else k]
        for tag in ("f64", "f32"):
            r = by_dtype.get(tag, {}).get("impls", {}).get(k)
            if r is None:
                cells += ["", ""]
                continue
            full = r["units"] == by_dtype[tag]["impls"]["gradlab"]["units"]
            secs = (f"{r['median_us'] / 1e6:.3f}" if full else
                    f"({r['median_us'] / 1e6:.2f} for {r['scope'].split(' (')[0]})")
            q = r["paired_ratio_q"]
            cells += [secs, "-" if k == "gradlab" else f"{r['ratio']:.2f} ({q[0]:.2f}-{q[2]:.2f})"]
        rows.append(cells)
    return harness._md_table(["impl", "f64: s per sweep", "f64: gradlab faster by (paired IQR)",
               "f32: s per sweep", "f32: gradlab faster by (paired IQR)"], rows)


def _equal_work_lines(res):
    """The targets for `gradlab-final`, whose output is what JAX computes (the final parameters;
    plus the first and last records): its speed-up over X is ratio(X) / ratio(gradlab-final),
    both ratios per run-step against the reference call."""
    impls = res["impls"]
    if "gradlab-final" not in impls:
        return []
    out = []
    for impl, need in res["targets"].items():
        if impl in impls:
            got = impls[impl]["ratio"] / impls["gradlab-final"]["ratio"]
            verdict = "met" if got >= need else "**NOT met**"
            out.append(f"gradlab-final >= {need:g}x faster than {impl} per run-step: measured {got:.2f}x, {verdict}")
    return out


# ---------------------------------------------------------------- tables of a sweep (issue 15)

TABLES_RUNS = (1_000, 100_000)
TABLES_SMOOTHING = np.linspace(0, 0.3, 10)  # x runs / 10 seeds
TABLES_EPOCHS, TABLES_RECORD_EVERY = 50, 600  # Iris 4-7-3, batch 1: 6,000 steps, 11 records per run


def _rss_mb():
    """(current, peak) resident set size of this process in MB (Linux /proc; peak from getrusage)."""
    import resource
    with open("/proc/self/statm") as f:
        current = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20
    return current, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def tables_worker(runs, repeats, with_reference):
    """One size, in a fresh process (so its memory is its own): the sweep's training, then
    ``final`` and ``history`` ``repeats`` times each (the cached grouping of runs by block
    cleared before each call), then the per-run reference tables once, checked equal."""
    import pandas as pd
    data = gl.datasets.iris()
    grid = gl.Grid(smoothing=TABLES_SMOOTHING, seed=range(runs // len(TABLES_SMOOTHING)), sizes=[SIZES],
                   epochs=[TABLES_EPOCHS])
    small = gl.Grid(smoothing=[0.0], seed=range(64), sizes=[SIZES], epochs=[1])
    warm = gl.sweep(small, data, record_every=TABLES_RECORD_EVERY)  # kernels loaded, first calls made
    warm.final, warm.history
    out = {"runs": len(grid), "rss_mb": {"start": _rss_mb()[0]}}
    train = []
    for _ in range(repeats if runs <= 10_000 else 1):
        res = None
        start = time.perf_counter()
        res = gl.sweep(grid, data, record_every=TABLES_RECORD_EVERY)
        train.append(time.perf_counter() - start)
    out["rss_mb"]["after_training"], out["rss_mb"]["peak_training"] = _rss_mb()
    times = {"final": [], "history": []}
    for _ in range(repeats):
        res.__dict__.pop("_blocks", None)
        for name in times:
            start = time.perf_counter()
            table = getattr(res, name)
            times[name].append(time.perf_counter() - start)
            out["rss_mb"][f"after_{name}"] = _rss_mb()[0]
            out[f"{name}_shape"] = list(table.shape)
            del table
    final, history = res.final, res.history
    out["rss_mb"]["holding_both"], out["rss_mb"]["peak"] = _rss_mb()
    out.update(train_s=train, final_s=times["final"], history_s=times["history"])
    if with_reference:
        sys.path.insert(0, os.path.join(os.path.dirname(BENCH_DIR), "tests"))
        import naive
        for name, build, table in (("final", naive.sweep_final, final), ("history", naive.sweep_history, history)):
            start = time.perf_counter()
            reference = build(res)
            out[f"reference_{name}_s"] = time.perf_counter() - start
            pd.testing.assert_frame_equal(table, reference, check_exact=True)
        out["identical_to_reference"] = True
    return out


def tables(runs_list, repeats, with_reference=True, log=print):
    """`tables_worker` for each size, each in its own subprocess."""
    rows = []
    for runs in runs_list:
        log(f"   {runs} runs ...")
        done = subprocess.run([sys.executable, os.path.abspath(__file__), "--tables-worker", str(runs), str(repeats),
                               str(int(with_reference))], capture_output=True, text=True, check=True)
        row = json.loads(done.stdout.strip().splitlines()[-1])
        for key in ("train_s", "final_s", "history_s"):
            row[key.replace("_s", "_median_s")] = statistics.median(row[key])
        row["tables_per_training"] = (row["final_median_s"] + row["history_median_s"]) / row["train_median_s"]
        log(f"   {runs} runs: training {row['train_median_s']:.2f} s, final {row['final_median_s']:.3f} s, history "
            f"{row['history_median_s']:.3f} s ({100 * row['tables_per_training']:.1f}% of training)")
        rows.append(row)
    return {"rows": rows, "repeats": repeats, "epochs": TABLES_EPOCHS, "record_every": TABLES_RECORD_EVERY,
            "cpu": harness._cpu_model(), "cores": len(os.sched_getaffinity(0))}


def _tables_markdown(tb):
    md = ["## Tables of a sweep: `final` and `history` against the training", "", *_measured(tb),
          f"Iris 4-7-3 tanh/softmax, online SGD (batch 1), {tb['epochs']} epochs = 6,000 steps per run, a record "
          f"every {tb['record_every']} steps (11 records); {len(TABLES_SMOOTHING)} values of a in linspace(0, 0.3, "
          f"{len(TABLES_SMOOTHING)}) x runs/{len(TABLES_SMOOTHING)} seeds; `gl.sweep(grid, gl.datasets.iris(), "
          f"record_every={tb['record_every']})` without `out`, on {tb['cpu']} ({tb['cores']} "
          "cores, numba's pool on all). Each size runs in a fresh process: training timed "
          f"{tb['repeats']} times at 1,000 runs (once at 100,000), `res.final` and `res.history` {tb['repeats']} "
          "times each (the cached grouping of runs by block cleared before each); medians. 'per-run reference': "
          "the tables built run by run (a History, gl.forward and gl.metrics per run, one DataFrame or dict per "
          "run: the implementation before issue 15, kept in tests/naive.py), timed once on the same runs and "
          "checked equal to the new tables exactly.", ""]
    rows = []
    for r in tb["rows"]:
        ref = (f"{r['reference_final_s']:.2f} / {r['reference_history_s']:.2f}"
               f"{' (identical)' if r.get('identical_to_reference') else ''}") if "reference_final_s" in r else "-"
        m = r["rss_mb"]
        rows.append([f"{r['runs']:,}", f"{r['train_median_s']:.2f}", f"{r['final_median_s']:.3f}",
                     f"{r['history_median_s']:.3f}", f"**{100 * r['tables_per_training']:.1f}%**", ref,
                     f"{m['start']:.0f} / {m['after_training']:.0f} / {m['holding_both']:.0f} / {m['peak']:.0f}"])
    md += [harness._md_table(["runs", "training s", "final s", "history s", "tables / training",
                              "per-run reference final / history s", "RSS MB: start / trained / holding both "
                              "tables / peak"], rows), ""]
    big = tb["rows"][-1]
    m = big["rss_mb"]
    md.append(f"- Target (issue 15): both tables together under 10% of the training time: "
              + ", ".join(f"{r['runs']:,} runs {100 * r['tables_per_training']:.1f}%"
                          f" ({'met' if r['tables_per_training'] < 0.1 else '**NOT met**'})" for r in tb["rows"]) + ".")
    md.append(f"- Memory at {big['runs']:,} runs: the trained sweep holds {m['after_training'] - m['start']:.0f} MB "
              f"({1024 * (m['after_training'] - m['start']) / big['runs']:.1f} KB per run); both tables add "
              f"{m['holding_both'] - m['after_training']:.0f} MB while held ({big['history_shape'][0]:,} history "
              f"rows x {big['history_shape'][1]} columns); the peak is {m['peak']:.0f} MB.")
    md.append("")
    return md


def _measured(part):
    """One line: when, by which command and on which gradlab a part was measured."""
    m = part["meta"]
    command = f"python bench/sweep.py {m['argv']}".strip()
    line = f"*Measured {m['date']} by `{command}` at commit {m['commit']} (gradlab source sha256 {m['gradlab_source']}).*"
    if m["source_changed_during_run"]:
        line += " **Warning: gradlab's source changed while this part ran; the numbers may mix versions.**"
    return [line, ""]


def markdown(payload):
    env = payload["env"]
    md = ["# gl.sweep benchmarks (W4, parallel efficiency, scaling; gl.train before/after the shared loop; "
          "the tables)", "",
          "Written by `python bench/sweep.py` from bench/RESULTS_sweep.json; each part (`--parts w4,efficiency,"
          "scaling,train,tables`) is re-run on its own and states when and at which commit it was measured. Numbers "
          "are from one shared 2-core machine; re-run to refresh.", ""]
    w4 = payload.get("w4")
    if w4:
        described = W4_DESCRIPTION + " float64 and float32." if w4["results"][0]["name"].startswith(W4_NAME) \
            else w4["results"][0]["description"]
        md += ["## W4: many runs of online SGD on Iris at once", "", *_measured(w4), described, "",
               "Median over interleaved rounds; 'gradlab faster by' = other's "
               "time per run-step / gradlab's (> 1: gradlab faster); torch runs a prefix (its time is for that "
               "prefix; the ratio is per run-step).", "", _w4_summary(w4["results"]), ""]
        for res in w4["results"]:
            for text, met in harness.target_lines(res):
                verdict = "not measured" if met is None else ("met" if met else "**NOT met**")
                md.append(f"- Target ({res['name']}): {text}, {verdict}")
            md += [f"- Target ({res['name']}), equal work: {text}" for text in _equal_work_lines(res)]
        md += ["", "Details of each workload (agreement, rounds, first calls) are at the end.", ""]
    eff = payload.get("efficiency", {}).get("dtypes")
    if eff:
        md += ["## Parallel efficiency of gl.sweep", "", *_measured(payload["efficiency"]),
               "W4's gl.sweep call with numba's pool set to 1 thread and to all threads (`numba.set_num_threads`), "
               "interleaved round by round in one process. Efficiency = (1-thread time / n-thread time) / n; "
               "issue 6 asks for >= 0.9 on 2 cores.", ""]
        rows = []
        for tag, e in eff.items():
            if "skipped" in e:
                rows.append([tag, e["skipped"]] + [""] * 6)
                continue
            for label, v in e["variants"].items():
                q = v["paired_speedup_q"]
                rows.append([tag, label, f"{v['wall_1']:.3f}", f"{v['wall_n']:.3f} ({e['threads']})",
                             f"{v['speedup']:.2f} ({q[0]:.2f}-{q[2]:.2f})", f"**{v['efficiency']:.2f}**",
                             f"{v['cpu_per_wall_1']:.2f} / {v['cpu_per_wall_n']:.2f}",
                             "yes" if e["identical_params"] else "**no**"])
        md += [harness._md_table(["dtype", "call", "1 thread s", "n threads s (n)", "speed-up (paired IQR)",
                                  "efficiency", "CPU/wall 1 / n", "final params identical"], rows), ""]
        for tag, e in eff.items():
            if "rounds" in e:
                fl = e["rounds"]["foreign_load"]
                md.append(f"- {tag}: {len(fl)} rounds kept, {e['rounds']['discarded']} discarded for load; foreign "
                          f"load over the kept rounds: mean {statistics.mean(fl):.2f}, max {max(fl):.2f} CPUs.")
        md.append("")
    sc = payload.get("scaling")
    if sc:
        md += ["## Scaling of gl.sweep in runs and epochs", "", *_measured(sc),
               f"The W4 call ({sc['dtype']}, record_every={sc['record_every']}, writing `out`, {sc.get('threads')} "
               f"numba threads) with more runs (16 values of a x runs/16 seeds, {sc['base'][1]} epochs) and more "
               f"epochs ({sc['base'][0]} runs); every size interleaved round by round, {len(sc['rounds']['foreign_load'])} "
               f"rounds. 'vs linear' = measured / (the {sc['base'][0]} x {sc['base'][1]} time scaled by "
               "runs x epochs): 1 = linear. Log-log slopes: "
               f"runs {sc['loglog_slope']['runs']:.3f}, epochs {sc['loglog_slope']['epochs']:.3f}.", "",
               "![gl.sweep scaling](sweep_scaling.png)", ""]
        rows = [[r["runs"], r["epochs"], f"{r['wall_s']:.3f}", f"{r['wall_q1_s']:.3f} - {r['wall_q3_s']:.3f}",
                 f"{r['ns_per_run_step']:.1f}", f"{r['vs_linear']:.2f}", f"{r['cpu_per_wall']:.2f}"]
                for r in sc["rows"]]
        md += [harness._md_table(["runs", "epochs", "wall s (median)", "IQR s", "ns per run-step", "vs linear",
                                  "CPU/wall"], rows), ""]
    tc = payload.get("train")
    if tc:
        md += [f"## gl.train alone on W1-W3: HEAD ({tc['head']}) vs {tc['before']} (before the shared loop)", "",
               *_measured(tc),
               f"The W1-W3 workloads of bench/training.py timed with the harness: gl.train of each commit in "
               f"{tc['workers']} worker subprocesses importing that commit's gradlab/ (the same conditions for "
               "both), interleaved in the same rounds with gl.train in this process. Per commit: the mean of its "
               "workers' median times per unit of work. 'HEAD faster by' = before's time / HEAD's (> 1: HEAD "
               "is faster). 'same code, process to process' = the largest ratio between two workers running "
               "the same commit: differences smaller than that are noise between processes, not code.", ""]
        rows = []
        for res in tc["results"]:
            per = {}
            for k, r in res["impls"].items():
                for c in (tc["before"], tc["head"]):
                    if k.startswith(f"gradlab@{c} "):
                        per.setdefault(c, []).append(r)
            t = {c: statistics.mean(r["ratio"] for r in rs) for c, rs in per.items()}
            spread = max(max(r["ratio"] for r in rs) / min(r["ratio"] for r in rs) for rs in per.values())
            rate = {c: harness.format_rate(statistics.mean(r["throughput"] for r in rs)) for c, rs in per.items()}
            rows.append([res["name"], res["metric"], rate[tc["before"]], rate[tc["head"]],
                         f"**{t[tc['before']] / t[tc['head']]:.3f}**", f"{spread:.3f}",
                         f"{max(r['rel_error'] for r in res['impls'].values()):.1e}"])
        md += [harness._md_table(["workload", "metric", tc["before"], f"HEAD {tc['head']}", "HEAD faster by",
                                  "same code, process to process", "max rel diff of the curves"], rows), ""]
    if payload.get("tables"):
        md += _tables_markdown(payload["tables"])
    md += ["## Environment", "", harness.environment_markdown(env), ""]
    if w4:
        md += ["## W4 details", ""] + [harness.workload_markdown(r) + "\n" for r in w4["results"]]
        for tag, info in w4.get("workers", {}).items():
            md.append(f"- {tag} (worker subprocess): devices {info['devices']}, params sharding "
                      f"`{info['sharding']}`, XLA_FLAGS `{info['xla_flags']}`, first call {info['first_call_s']:.2f} s, "
                      f"its own CPU/wall inside the timed calls {info['cpu_per_wall_in_calls']:.2f}.")
        md.append("")
    if tc:
        md += ["## gl.train before/after details", ""] + [harness.workload_markdown(r) + "\n" for r in tc["results"]]
    return "\n".join(md).rstrip() + "\n"


# ---------------------------------------------------------------- main

PARTS = ("w4", "efficiency", "scaling", "train", "tables")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: W4 shrunk to 16 runs of 4 epochs, 3 rounds, small scaling sizes; writes "
                         "its report to a temporary folder")
    ap.add_argument("--parts", default="w4,efficiency,scaling",
                    help=f"comma-separated parts to (re-)run, of {','.join(PARTS)} (default: all but train and "
                         "tables); "
                         "the others are kept from bench/RESULTS_sweep.json")
    ap.add_argument("--repeats", type=int, default=20, help="interleaved rounds (default 20)")
    ap.add_argument("--before", default=BEFORE, help=f"commit of the 'before' gl.train (default {BEFORE})")
    ap.add_argument("--only", default=None, help="train part: only W1-W3 workloads whose name contains this")
    args = ap.parse_args()
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    if set(parts) - set(PARTS):
        ap.error(f"--parts: unknown {sorted(set(parts) - set(PARTS))}; choose from {PARTS}")
    out_dir = tempfile.mkdtemp(prefix="gradlab_sweep_quick_") if args.quick else BENCH_DIR
    json_path = os.path.join(out_dir, "RESULTS_sweep.json")
    payload = {}
    if not args.quick and os.path.exists(json_path):
        with open(json_path) as f:
            payload = {k: v for k, v in json.load(f).items() if isinstance(v, dict) and "meta" in v}
    repeats = 3 if args.quick else args.repeats
    if args.quick:  # a smoke test measures nothing: do not wait for a quiet machine
        import functools
        harness.wait_quiet = functools.partial(harness.wait_quiet, timeout=0.0)
        harness.time_interleaved = functools.partial(harness.time_interleaved, max_foreign=float("inf"))
    import numba
    threads = numba.config.NUMBA_NUM_THREADS

    def save(part, result, source_before):
        """Store one part's result with the commit and gradlab source it measured; rewrite both files."""
        source = harness.gradlab_source_hash()
        result["meta"] = {"commit": harness._git("rev-parse", "--short", "HEAD"), "gradlab_source": source,
                          "source_changed_during_run": source != source_before, "quick": args.quick,
                          "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
                          "argv": " ".join(sys.argv[1:])}
        if source != source_before:
            print(f"WARNING: gradlab's source files changed while the {part} part ran")
        payload[part] = result
        payload["env"] = harness.environment()
        payload["env"]["threads"]["gradlab"] = (f"gl.sweep: numba pool of {threads} threads (prange over "
                                                "blocks of runs); gl.train: serial kernels")
        with open(json_path, "w") as f:
            json.dump(payload, f, indent=1, default=float)
        with open(os.path.join(out_dir, "RESULTS_sweep.md"), "w") as f:
            f.write(markdown(payload))
        print(f"   {part}: wrote RESULTS_sweep.md and RESULTS_sweep.json in {out_dir}")

    if "w4" in parts:
        source = harness.gradlab_source_hash()
        results, workers = [], {}
        for w in EXTRA_WORKLOADS if args.quick else WORKLOADS:
            results.append(harness.run_workload(w, repeats=repeats, fresh_process=not args.quick))
            for wk in WORKERS:
                if wk.workload == w.name and wk.proc.poll() is None:
                    info = {k: wk.info.get(k) for k in ("devices", "sharding", "xla_flags", "first_call_s")}
                    info["cpu_per_wall_in_calls"] = wk.cpu / wk.wall if wk.wall else None
                    workers[f"{w.name} {wk.impl}"] = info
                    wk.close()
        save("w4", {"results": results, "workers": workers}, source)
    sizes = QUICK if args.quick else {}
    if "efficiency" in parts:
        source, eff = harness.gradlab_source_hash(), {}
        for dtype in (np.float64, np.float32):
            print(f"\n== parallel efficiency, {np.dtype(dtype).name}")
            eff[np.dtype(dtype).name] = parallel_efficiency(SweepData(dtype, **sizes), repeats)
        save("efficiency", {"dtypes": eff}, source)
    if "scaling" in parts:
        print("\n== scaling")
        source = harness.gradlab_source_hash()
        if args.quick:
            sc = scaling(np.float64, [16, 32, 64], [2, 4, 8], 32, 4, repeats)
        else:
            sc = scaling(np.float64, [64, 128, 256, 512, 1024, 2048, 4096], [25, 50, 100, 200, 400, 800],
                         256, 200, min(repeats, 7))
        sc["threads"] = threads
        written = plot_scaling(sc, os.path.join(out_dir, "sweep_scaling"), args.quick)
        print(f"   wrote {', '.join(written)} in {out_dir}")
        save("scaling", sc, source)
    if "train" in parts:
        print(f"\n== gl.train on W1-W3, HEAD vs {args.before}")
        source = harness.gradlab_source_hash()
        save("train", train_check(args.before, repeats, args.only), source)
    if "tables" in parts:
        print("\n== tables of a sweep against its training")
        source = harness.gradlab_source_hash()
        save("tables", tables((100, 1_000) if args.quick else TABLES_RUNS, min(repeats, 7)), source)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        worker_main(*sys.argv[2:5])
    elif sys.argv[1:2] == ["--tables-worker"]:
        print(json.dumps(tables_worker(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1")))
    else:
        sys.path.insert(0, BENCH_DIR)
        import sweep  # run from the importable module, so workers and this process share names
        sweep.main()
