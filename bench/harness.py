"""Shared benchmark machinery: workloads, agreement checks, interleaved timing, reports.

A *workload* is a name, a ``setup()`` that builds the data every implementation gets (the
same arrays and initial weights for all), and a dict ``impls`` of implementation name ->
``build(data)``. ``build`` does everything that is not part of the timed work (converting
inputs to the library's array type, wrapping in ``jax.jit``, ...) and returns a zero-argument
callable: one call of it is one timed unit of work and returns the result (a NumPy array,
a JAX array or a torch tensor; the harness converts it). ``build`` raises `Skip` when its
library is missing, so the bench still runs with only numpy + numba.

``run_workload`` then

1. builds every implementation and makes each one's first call (which includes any JIT
   compilation; the time is recorded, as "first call in this process", not as a timing);
2. checks every result against the reference implementation's (``gradlab``) to
   ``rtol`` in the max norm, ``max|G - G_ref| / max|G_ref|``, and raises `AgreementError`
   on any disagreement, BEFORE anything is timed;
3. warms up, calibrates a number of calls per batch for each implementation (so that a
   batch lasts about ``batch_seconds``), and times ``repeats`` rounds. In each round every
   implementation runs one batch, in an order rotated round by round (round-robin), so
   machine noise and frequency changes hit all implementations alike. Per call time =
   batch time / calls per batch; we report the median over rounds, its quartiles, and the
   per-round (paired) ratios to the reference. The garbage collector is off while timing,
   as in ``timeit``;
4. optionally, in fresh subprocesses: the time to the first result (import, setup, build,
   first call) per implementation; for gradlab with a cold numba cache (an empty temporary
   ``NUMBA_CACHE_DIR``, so the first call includes compiling the kernels) and then with the
   same cache warm.

New workloads go in their own module under ``bench/`` exposing ``WORKLOADS`` (a list of
`Workload`), listed in ``bench/run.py``'s ``MODULES``.

Workloads whose implementations do different amounts of work per call (e.g. a slow library
running only a prefix of a long training run) set ``metric`` (e.g. "steps/s") and mark each
call with `sized` (work units per call, and which part of the work it is); ratios are then
per unit of work and the reports show throughput. A workload may replace the max-norm check
by its own ``compare(data, result, reference_result) -> Agreement``.
"""
import dataclasses
import gc
import importlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable

import numpy as np

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_DIR = os.path.dirname(BENCH_DIR)


class Skip(Exception):
    """Raised by an implementation's ``build`` when it cannot run here (library missing)."""


class AgreementError(AssertionError):
    """An implementation's result differs from the reference's by more than ``rtol``."""


@dataclasses.dataclass
class Agreement:
    """Outcome of a workload's own ``compare``: ``error`` is the headline number (a max
    relative difference), ``ok`` the verdict, ``detail`` one line of explanation and
    ``info`` anything JSON-able for the report."""
    error: float
    ok: bool
    detail: str = ""
    info: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Workload:
    name: str
    description: str
    setup: Callable[[], Any]
    impls: dict  # name -> build(data) -> zero-argument callable
    module: str  # the bench module defining it, for the fresh-process runs
    reference: str = "gradlab"
    rtol: float = 1e-12
    targets: dict = dataclasses.field(default_factory=dict)  # impl -> required speed-up of reference
    fresh_process: tuple = ()  # impls whose time to first result is measured in a subprocess
    batch_seconds: float = 0.02
    notes: list = dataclasses.field(default_factory=list)  # free text for RESULTS.md
    # (data, result, reference result as float64 NumPy) -> Agreement; None: max-norm <= rtol
    compare: Callable | None = None
    metric: str | None = None  # throughput unit, e.g. "steps/s"; calls are marked with `sized`
    max_repeats: int | None = None  # cap on the rounds (long calls)
    first_call_target_s: float | None = None  # reference's warm-cache first call must be below


def sized(call, units, scope=""):
    """Mark a workload call as doing ``units`` units of work (in the workload's ``metric``),
    ``scope`` saying which part of the work (e.g. a prefix of a long training run)."""
    call.units = float(units)
    call.scope = scope
    return call


# ---------------------------------------------------------------- threads


def requested_threads():
    """The thread count run.py pinned every library to (--threads), or None: library defaults."""
    n = os.environ.get("GRADLAB_BENCH_THREADS")
    return int(n) if n else None


def to_numpy(x):
    if hasattr(x, "detach"):  # torch
        return x.detach().cpu().numpy()
    return np.asarray(x)


# ---------------------------------------------------------------- agreement


def relative_error(result, reference):
    """``max|result - reference| / max|reference|`` (inf on a shape mismatch)."""
    result = to_numpy(result)
    if result.shape != reference.shape:
        return float("inf")
    scale = np.abs(reference).max()
    return float(np.abs(result.astype(np.float64) - reference).max() / (scale if scale else 1.0))


# ---------------------------------------------------------------- timing


def _batch(call, number):
    t0 = time.perf_counter()
    c0 = time.process_time()
    for _ in range(number):
        call()
    return time.perf_counter() - t0, time.process_time() - c0


def calibrate(call, batch_seconds):
    """Calls per batch so that one batch lasts about ``batch_seconds`` (at least 1)."""
    if _batch(call, 1)[0] >= 1.5 * batch_seconds:
        return 1  # a long call: one per batch, no need for best-of-3 probing
    number = 1
    while True:
        wall = min(_batch(call, number)[0] for _ in range(3))  # best of 3: robust to load spikes
        if wall >= batch_seconds / 2 or number >= 1 << 20:
            return max(1, int(round(number * batch_seconds / max(wall, 1e-9))))
        number *= 2


def _machine_busy():
    """(busy CPU seconds of the whole machine incl. hypervisor steal, our process's CPU
    seconds), or None where /proc/stat is missing. Busy = user+nice+system+irq+softirq+steal."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / hz, time.process_time()


def foreign_load(before, after, wall):
    """Average number of CPUs kept busy by OTHER processes (or the hypervisor) over ``wall``."""
    if before is None or after is None:
        return 0.0
    return max(0.0, ((after[0] - before[0]) - (after[1] - before[1])) / wall)


def wait_quiet(max_foreign=0.2, window=1.0, timeout=300.0, log=print):
    """Wait (up to ``timeout`` s) for a ``window`` during which other processes kept at most
    ``max_foreign`` CPUs busy. Returns the seconds waited (inf if it timed out)."""
    t_start = time.perf_counter()
    told = False
    while True:
        b0, t0 = _machine_busy(), time.perf_counter()
        time.sleep(window)
        load = foreign_load(b0, _machine_busy(), time.perf_counter() - t0)
        waited = time.perf_counter() - t_start
        if load <= max_foreign:
            return waited
        if waited > timeout:
            log(f"   machine still busy (other processes: {load:.2f} CPUs) after {timeout:.0f} s; "
                "timing anyway")
            return float("inf")
        if not told:
            log(f"   other processes keep {load:.2f} CPUs busy; waiting for a quiet machine ...")
            told = True


def time_interleaved(calls, numbers, repeats, max_foreign=0.5, max_extra=None, log=print):
    """Per-call wall and cpu seconds per round: {name: (walls, cpus)}, plus round info.

    Round r runs one batch of each implementation, starting at implementation (r mod m)
    (round-robin). The machine is shared, so each round also measures the CPU load of
    other processes (from /proc/stat, 10 ms resolution); a round during which they kept
    more than ``max_foreign`` CPUs busy on average is discarded WHOLE (every
    implementation's batch alike), the bench waits for a quiet machine, and the round is
    run again; at most ``max_extra`` discards in all (default: 3 x ``repeats``), after
    which busy rounds are kept and counted as ``contended``.
    """
    names = list(calls)
    wall = {k: [] for k in names}
    cpu = {k: [] for k in names}
    info = {"discarded": 0, "contended": 0, "foreign_load": [], "discarded_load": []}
    max_extra = 3 * repeats if max_extra is None else max_extra
    gc_was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        r = 0
        while len(info["foreign_load"]) < repeats:
            rw, rc = {}, {}
            b0, t0 = _machine_busy(), time.perf_counter()
            for i in range(len(names)):
                k = names[(r + i) % len(names)]
                w, c = _batch(calls[k], numbers[k])
                rw[k], rc[k] = w / numbers[k], c / numbers[k]
            load = foreign_load(b0, _machine_busy(), time.perf_counter() - t0)
            r += 1
            if load > max_foreign:
                if info["discarded"] < max_extra:
                    info["discarded"] += 1
                    info["discarded_load"].append(load)
                    wait_quiet(timeout=120, log=lambda *a: None)
                    continue
                info["contended"] += 1
            info["foreign_load"].append(load)
            for k in names:
                wall[k].append(rw[k])
                cpu[k].append(rc[k])
    finally:
        if gc_was_enabled:
            gc.enable()
    return {k: (wall[k], cpu[k]) for k in names}, info


def quartiles(xs):
    q = statistics.quantiles(xs, n=4, method="inclusive") if len(xs) > 1 else [xs[0]] * 3
    return q[0], statistics.median(xs), q[2]


# ---------------------------------------------------------------- running a workload


def _check(w, data, result, ref):
    """Agreement of one result with the reference's (w.compare, or max-norm <= rtol)."""
    if w.compare is not None:
        return w.compare(data, result, ref)
    e = relative_error(result, ref)
    return Agreement(e, e <= w.rtol)


def run_workload(w, repeats=30, fresh_process=True, log=print):
    """Build, check, time one workload; returns a JSON-able dict of results."""
    if w.max_repeats:
        repeats = min(repeats, w.max_repeats)
    log(f"\n== {w.name}: {w.description}")
    t = time.perf_counter()
    data = w.setup()
    log(f"   setup {time.perf_counter() - t:.2f} s")
    calls, skipped, first = {}, {}, {}
    for name, build in w.impls.items():
        try:
            call = build(data)
        except Skip as why:
            skipped[name] = str(why)
            log(f"   {name}: SKIPPED ({why})")
            continue
        t = time.perf_counter()
        result = call()
        to_numpy(result)
        first[name] = time.perf_counter() - t
        calls[name] = (call, result)
    if w.reference not in calls:
        raise RuntimeError(f"{w.name}: the reference {w.reference!r} did not run")

    # Agreement, before any timing.
    ref = to_numpy(calls[w.reference][1]).astype(np.float64)
    agreements = {}
    for name, (call, result) in calls.items():
        a = agreements[name] = _check(w, data, result, ref)
        log(f"   {name}: first call {first[name] * 1e3:9.2f} ms; max rel. diff to "
            f"{w.reference} {a.error:.2e} {'ok' if a.ok else 'FAIL'}"
            + (f" ({a.detail})" if a.detail else ""))
    bad = {k: (a.error, a.detail) for k, a in agreements.items() if not a.ok}
    if bad:
        raise AgreementError(f"{w.name}: results disagree with {w.reference} beyond the "
                             + (f"workload's tolerance: {bad}" if w.compare else
                                f"rtol={w.rtol:g} (max-norm relative): {bad}"))
    # The check ran on the first call; make sure repeated calls give the same answer too.
    for name, (call, _) in calls.items():
        a = _check(w, data, call(), ref)
        if not a.ok:
            raise AgreementError(f"{w.name}: {name}'s second call differs from {w.reference} "
                                 f"by {a.error:.3g} ({a.detail})")
    units = {k: getattr(c, "units", 1.0) for k, (c, _) in calls.items()}
    scopes = {k: getattr(c, "scope", "") for k, (c, _) in calls.items()}

    fns = {k: v[0] for k, v in calls.items()}
    for f in fns.values():  # warm-up: 3 calls, or fewer if they are long
        t = time.perf_counter()
        for _ in range(3):
            f()
            if time.perf_counter() - t > 3 * w.batch_seconds:
                break
    waited = wait_quiet(log=log)
    numbers = {k: calibrate(f, w.batch_seconds) for k, f in fns.items()}
    log(f"   calls per batch: {numbers}; {repeats} interleaved rounds ...")
    timings, rounds = time_interleaved(fns, numbers, repeats, log=log)
    log(f"   {rounds['discarded']} round(s) discarded for load from other processes; "
        f"kept rounds' mean foreign load {statistics.mean(rounds['foreign_load']):.2f} CPUs"
        + (f"; WARNING: {rounds['contended']} kept rounds were contended" if rounds["contended"] else ""))

    # Ratios are per unit of work: (time / units) / (reference time / reference units).
    ref_wall = timings[w.reference][0]
    ref_units = units[w.reference]
    impls = {}
    for name, (wall, cpu) in timings.items():
        q1, med, q3 = quartiles(wall)
        scale = ref_units / units[name]
        paired = [a / b * scale for a, b in zip(wall, ref_wall)]
        impls[name] = {
            "median_us": med * 1e6, "q1_us": q1 * 1e6, "q3_us": q3 * 1e6,
            "min_us": min(wall) * 1e6, "cpu_per_wall": sum(cpu) / sum(wall),
            "calls_per_batch": numbers[name], "first_call_in_process_s": first[name],
            "rel_error": agreements[name].error, "agreement": agreements[name].detail,
            "agreement_info": agreements[name].info,
            "units": units[name], "scope": scopes[name],
            "throughput": units[name] / med, "throughput_q": (units[name] / q3, units[name] / q1),
            "ratio": med / statistics.median(ref_wall) * scale,
            "paired_ratio_q": quartiles(paired),
        }
    out = {"name": w.name, "description": w.description, "reference": w.reference,
           "rtol": w.rtol, "repeats": repeats, "batch_seconds": w.batch_seconds,
           "impls": impls, "skipped": skipped, "rounds": rounds, "waited_for_quiet_s": waited, "targets": w.targets, "notes": w.notes,
           "metric": w.metric, "custom_compare": w.compare is not None,
           "first_call_target_s": w.first_call_target_s, "fresh": {}}
    if fresh_process:
        out["fresh"] = fresh_process_times(w, [k for k in w.fresh_process if k in calls], log)
    log(format_table(out))
    return out


# ---------------------------------------------------------------- fresh processes


_FRESH_SNIPPET = r"""
import json, sys, time
t0 = time.perf_counter()
sys.path.insert(0, {bench!r})
import harness
mod = __import__({module!r})
t1 = time.perf_counter()
w = harness.find_workload(mod, {workload!r})
data = w.setup()
t2 = time.perf_counter()
call = w.impls[{impl!r}](data)
t3 = time.perf_counter()
harness.to_numpy(call())
t4 = time.perf_counter()
harness.to_numpy(call())
t5 = time.perf_counter()
print("RESULT" + json.dumps({{"import_s": t1 - t0, "setup_s": t2 - t1, "build_s": t3 - t2,
                             "first_call_s": t4 - t3, "second_call_s": t5 - t4,
                             "gradlab_source": harness.gradlab_source_hash()}}))
"""


def gradlab_source_hash():
    """sha256 (12 hex digits) of the imported gradlab package's .py files, or None."""
    try:
        import hashlib

        import gradlab
    except ImportError:
        return None
    src = os.path.dirname(gradlab.__file__)
    h = hashlib.sha256()
    for name in sorted(os.listdir(src)):
        if name.endswith(".py"):
            with open(os.path.join(src, name), "rb") as f:
                h.update(name.encode() + f.read())
    return h.hexdigest()[:12]


def find_workload(module, name):
    for w in module.WORKLOADS:
        if w.name == name:
            return w
    raise KeyError(name)


def _fresh(w, impl, env_extra):
    code = _FRESH_SNIPPET.format(bench=BENCH_DIR, module=w.module, workload=w.name, impl=impl)
    env = dict(os.environ, **env_extra)
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, cwd=REPO_DIR)
    total = time.perf_counter() - t
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")]
    if proc.returncode or not lines:
        raise RuntimeError(f"fresh-process run of {w.name}/{impl} failed:\n{proc.stderr[-3000:]}")
    res = json.loads(lines[-1][len("RESULT"):])
    res["process_s"] = total  # including interpreter start-up and exit
    return res


def fresh_process_times(w, impls, log=print):
    """Time to first result in new interpreters. The reference (gradlab) runs twice with its
    own empty NUMBA_CACHE_DIR: cold (compiles, fills the cache), then warm (loads it)."""
    out = {}
    for impl in impls:
        cache = tempfile.mkdtemp(prefix="gradlab_bench_numba_")
        try:
            if impl != w.reference:
                out[impl] = _fresh(w, impl, {"NUMBA_CACHE_DIR": cache})
                continue
            # gradlab may be under edit by others: a source change between the cold and the
            # warm run invalidates the cache (the warm run recompiles). Retry on a change.
            for attempt in range(3):
                shutil.rmtree(cache, ignore_errors=True)
                os.makedirs(cache)
                cold = _fresh(w, impl, {"NUMBA_CACHE_DIR": cache})
                warm = _fresh(w, impl, {"NUMBA_CACHE_DIR": cache})
                if cold["gradlab_source"] == warm["gradlab_source"]:
                    break
                log("   gradlab's source changed between the cold and the warm run; again")
            else:
                warm["note"] = "gradlab's source kept changing; the warm run may have recompiled"
            out[f"{impl} (cold numba cache)"] = cold
            out[f"{impl} (warm numba cache)"] = warm
        finally:
            shutil.rmtree(cache, ignore_errors=True)
    for k, r in out.items():
        log(f"   fresh process, {k}: import {r['import_s']:.2f} s, setup {r['setup_s']:.2f} s, "
            f"build {r['build_s']:.2f} s, first call {r['first_call_s'] * 1e3:.1f} ms, "
            f"second call {r['second_call_s'] * 1e3:.2f} ms")
    return out


# ---------------------------------------------------------------- environment


def _cpu_model():
    """'model name' from /proc/cpuinfo, with family/model (a VM may show only the brand)."""
    fields = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if not line.strip():
                    break  # first processor only
                k, _, v = line.partition(":")
                fields[k.strip()] = v.strip()
    except OSError:
        return platform.processor() or platform.machine()
    name = fields.get("model name", platform.machine())
    extra = [f"{k} {fields[k]}" for k in ("cpu family", "model") if k in fields]
    flags = fields.get("flags", "").split()
    simd = "avx512f" if "avx512f" in flags else "avx2" if "avx2" in flags else None
    if simd:
        extra.append(simd)
    return f"{name} ({', '.join(extra)})" if extra else name


def _git(*args):
    try:
        return subprocess.run(["git", *args], cwd=REPO_DIR, capture_output=True, text=True,
                              timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def environment():
    """Machine, versions and the threads each library was given / reports (read-only git)."""
    import numba
    env = {
        "cpu": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "affinity_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {"numpy": np.__version__, "numba": numba.__version__},
        "threads": {},
        "requested_threads": requested_threads(),
        "thread_env": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                                      "MKL_NUM_THREADS", "NUMBA_NUM_THREADS",
                                                      "XLA_FLAGS") if os.environ.get(k)},
        "git": {"commit": _git("rev-parse", "--short", "HEAD"),
                "dirty_gradlab": bool(_git("status", "--porcelain", "--", "gradlab"))},
    }
    try:
        import gradlab
        env["versions"]["gradlab"] = gradlab.__version__
        env["gradlab_path"] = os.path.dirname(gradlab.__file__)
        env["gradlab_source_sha256"] = gradlab_source_hash()
    except ImportError:
        pass
    env["threads"]["gradlab"] = (f"numba pool {numba.get_num_threads()}: gl.train and the per-sample kernels are "
                                 "serial; gl.sweep's run-batched kernel (W4) runs its blocks of runs in parallel")
    try:
        from threadpoolctl import threadpool_info
        pools = [f"{p['internal_api']} {p['num_threads']}" for p in threadpool_info()]
        env["threads"]["numpy"] = ", ".join(pools) or "no BLAS pool found"
    except ImportError:
        env["threads"]["numpy"] = f"BLAS threads per OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}"
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        env["versions"]["torch"] = torch.__version__
        env["threads"]["torch"] = (f"torch.get_num_threads()={torch.get_num_threads()}, "
                                   f"interop {torch.get_num_interop_threads()}")
    if "jax" in sys.modules:
        jax = sys.modules["jax"]
        env["versions"]["jax"] = jax.__version__
        try:
            import jaxlib
            env["versions"]["jaxlib"] = jaxlib.__version__
        except (ImportError, AttributeError):
            pass
        flags = os.environ.get("XLA_FLAGS", "")
        env["threads"]["jax"] = (f"XLA CPU, {jax.device_count()} device; "
                                 + (f"XLA_FLAGS={flags!r}" if flags else "default intra-op pool (all cores)"))
    return env


# ---------------------------------------------------------------- reports


def speed_phrase(ratio):
    """Ratio = other / reference time: 'gradlab is Nx faster than X' or 'Nx slower'."""
    return f"{ratio:.2f}x faster" if ratio >= 1 else f"{1 / ratio:.2f}x slower"


def format_rate(x):
    """A throughput with 3 significant digits and k/M suffixes."""
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if x >= div:
            return f"{x / div:.3g}{suffix}"
    return f"{x:.3g}"


def _by_speed(res):
    """Implementations, fastest first (per unit of work)."""
    return sorted(res["impls"].items(), key=lambda kv: kv[1]["ratio"])


def format_table(res):
    ref = res["reference"]
    if res.get("metric"):
        rows = [("impl", res["metric"], "median ms/call", "work per call", "CPU/wall",
                 f"{ref} is ...", "paired ratio IQR", "max rel diff")]
        for name, r in _by_speed(res):
            q = r["paired_ratio_q"]
            rows.append((name, format_rate(r["throughput"]), f"{r['median_us'] / 1e3:.1f}",
                         r["scope"], f"{r['cpu_per_wall']:.2f}",
                         "-" if name == ref else speed_phrase(r["ratio"]),
                         "-" if name == ref else f"{q[0]:.2f}-{q[2]:.2f}",
                         f"{r['rel_error']:.1e}"))
    else:
        rows = [("impl", "median us", "IQR us", "min us", "CPU/wall", f"{ref} is ...",
                 "paired ratio IQR", "max rel diff")]
        for name, r in sorted(res["impls"].items(), key=lambda kv: kv[1]["median_us"]):
            q = r["paired_ratio_q"]
            rows.append((name, f"{r['median_us']:.1f}", f"{r['q1_us']:.1f}-{r['q3_us']:.1f}",
                         f"{r['min_us']:.1f}", f"{r['cpu_per_wall']:.2f}",
                         "-" if name == ref else speed_phrase(r["ratio"]),
                         "-" if name == ref else f"{q[0]:.2f}-{q[2]:.2f}",
                         f"{r['rel_error']:.1e}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(wd) for c, wd in zip(row, widths)) for row in rows]
    lines.insert(1, "  ".join("-" * wd for wd in widths))
    for name, why in res["skipped"].items():
        lines.append(f"{name}: skipped ({why})")
    return "\n".join(lines)


def target_lines(res):
    """(text, met) for each of the workload's targets that could be evaluated."""
    ref = res["reference"]
    out = []
    per = f" per unit of work ({res['metric']})" if res.get("metric") else ""
    for impl, need in res["targets"].items():
        if impl in res["impls"]:
            got = res["impls"][impl]["ratio"]
            out.append((f"{ref} >= {need:g}x faster than {impl}{per}: measured {got:.2f}x", got >= need))
        else:
            out.append((f"{ref} >= {need:g}x faster than {impl}: not measured ({impl} skipped)", None))
    need = res.get("first_call_target_s")
    warm = res["fresh"].get(f"{ref} (warm numba cache)")
    if need and warm:
        got = warm["first_call_s"]
        out.append((f"{ref} first call in a fresh process with a warm numba cache < {need:g} s: "
                    f"measured {got:.3f} s (of which {got - warm['second_call_s']:.3f} s more "
                    f"than the second call, i.e. loading the cache)", got < need))
    return out


def _md_table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def _impl_table_markdown(res):
    ref = res["reference"]
    rows = []
    if res.get("metric"):
        for name, r in _by_speed(res):
            q = r["paired_ratio_q"]
            lo, hi = r["throughput_q"]
            rows.append([f"**{name}**" if name == ref else name, format_rate(r["throughput"]),
                         f"{format_rate(lo)} - {format_rate(hi)}", f"{r['median_us'] / 1e3:.1f}",
                         r["scope"], f"{r['cpu_per_wall']:.2f}",
                         "-" if name == ref else f"{r['ratio']:.2f}",
                         "-" if name == ref else f"{q[0]:.2f} - {q[2]:.2f}",
                         "(reference)" if name == ref else f"{ref} is {speed_phrase(r['ratio'])} than {name}",
                         f"{r['rel_error']:.1e}", f"{r['first_call_in_process_s'] * 1e3:.1f}"])
        return _md_table([f"impl", f"median {res['metric']}", "IQR", "median ms/call",
                          "work per call", "CPU/wall", f"{ref} speed-up", "paired speed-up IQR",
                          "verdict", f"max rel diff to {ref}", "first call in process (ms)"], rows)
    for name, r in sorted(res["impls"].items(), key=lambda kv: kv[1]["median_us"]):
        q = r["paired_ratio_q"]
        rows.append([f"**{name}**" if name == ref else name, f"{r['median_us']:.1f}",
                     f"{r['q1_us']:.1f} - {r['q3_us']:.1f}", f"{r['min_us']:.1f}",
                     f"{r['cpu_per_wall']:.2f}",
                     "-" if name == ref else f"{r['ratio']:.2f}",
                     "-" if name == ref else f"{q[0]:.2f} - {q[2]:.2f}",
                     "(reference)" if name == ref else f"{ref} is {speed_phrase(r['ratio'])} than {name}",
                     f"{r['rel_error']:.1e}", f"{r['first_call_in_process_s'] * 1e3:.1f}"])
    return _md_table(["impl", "median us/call", "IQR us", "min us", "CPU/wall",
                      f"time / {ref}", "paired ratio IQR", "verdict",
                      f"max rel diff to {ref}", "first call in process (ms)"], rows)


def _checkpoint_markdown(res):
    """Relative differences at checkpoint records, from compare's info["checkpoints"] rows
    (record, step, rel diff loss, rel diff norm, allowed loss, allowed norm, spread loss,
    spread norm)."""
    ref = res["reference"]
    per = {k: {row[0]: row for row in r.get("agreement_info", {}).get("checkpoints", [])}
           for k, r in res["impls"].items()}
    if not per.get(ref):
        return []
    others = [k for k, _ in _by_speed(res) if k != ref and per.get(k)]
    records = sorted(set().union(*(set(v) for v in per.values())))
    rows = []
    for c in records:
        base = per[ref].get(c)
        cells = [str(c), f"{base[1]:,}" if base else "",
                 f"{base[4]:.1e} / {base[5]:.1e}" if base else "",
                 f"{base[6]:.1e} / {base[7]:.1e}" if base else ""]
        for k in others:
            row = per[k].get(c)
            cells.append(f"{row[2]:.1e} / {row[3]:.1e}" if row else "")
        rows.append(cells)
    return ["", "Relative difference to the reference per record (loss / norm), at checkpoint "
            "records, the last record each implementation computed and its worst records:", "",
            _md_table(["record", "step", "allowed", f"1-ulp spread ({ref})"] + others, rows)]


def workload_markdown(res, title_suffix=""):
    ref = res["reference"]
    md = [f"### {res['name']}{title_suffix}", "", res["description"], ""]
    md.append(_impl_table_markdown(res))
    if res.get("metric"):
        md.append(f"\n{ref} speed-up = ({res['metric']} of {ref}) / ({res['metric']} of the other), "
                  "from the medians; the paired IQR is over per-round ratios.")
    for name, why in res["skipped"].items():
        md.append(f"\n*{name}: skipped ({why}).*")
    details = [(k, r["agreement"]) for k, r in res["impls"].items() if r.get("agreement")]
    if details:
        md += ["", "Agreement with the reference (checked before timing, on the first call and "
               "again on a second call):", ""]
        md += [f"- {k}: {d}" for k, d in details]
    md += _checkpoint_markdown(res)
    rd = res.get("rounds")
    if rd:
        fl = rd["foreign_load"]
        md.append(f"\nBatches of ~{res['batch_seconds'] * 1e3:g} ms (calls per batch: "
                  + ", ".join(f"{k} {v['calls_per_batch']}" for k, v in res["impls"].items())
                  + f"). {len(fl)} rounds kept; {rd['discarded']} discarded because other processes "
                  f"kept > 0.5 CPU busy during them; foreign load over the kept rounds: mean "
                  f"{statistics.mean(fl):.2f}, max {max(fl):.2f} CPUs (of {os.cpu_count()}).")
        if rd.get("contended"):
            md.append(f"\n**Warning: {rd['contended']} of the kept rounds ran while other processes "
                      "kept > 0.5 CPU busy (the discard budget ran out); these medians are "
                      "unreliable, re-run on a quiet machine.**")
    for text, met in target_lines(res):
        verdict = "not measured" if met is None else ("met" if met else "NOT met")
        md.append(f"\nTarget: {text} -> **{verdict}**.")
    cold = res["fresh"].get(f"{ref} (cold numba cache)")
    warm = res["fresh"].get(f"{ref} (warm numba cache)")
    if cold and warm:
        md.append(f"\n{ref} first call in a fresh process: **{warm['first_call_s'] * 1e3:.1f} ms** "
                  f"with a warm numba cache (loading the cached kernels), "
                  f"**{cold['first_call_s']:.2f} s** with a cold cache (compiling them; plus "
                  f"{cold['setup_s'] - warm['setup_s']:.2f} s more in setup, which compiles the "
                  f"validation kernel). Compile time ~ cold - warm first call = "
                  f"{cold['first_call_s'] - warm['first_call_s']:.2f} s. Steady state: "
                  + (f"{res['impls'][ref]['median_us'] / 1e3:.1f} ms." if res.get("metric")
                     else f"{res['impls'][ref]['median_us']:.1f} us."))
    if res["fresh"]:
        md += ["", "Time to first result in a fresh interpreter (import = bench module incl. "
               "numpy and gradlab; setup = data and net, which already runs gradlab's "
               "validation kernel; build = importing/wrapping the library; first call = "
               "includes JIT compilation or numba cache loading):", ""]
        frows = [[k, f"{r['import_s']:.2f}", f"{r['setup_s']:.2f}", f"{r['build_s']:.2f}",
                  f"{r['first_call_s'] * 1e3:.1f}", f"{r['second_call_s'] * 1e3:.2f}",
                  f"{r['process_s']:.2f}"] for k, r in res["fresh"].items()]
        md.append(_md_table(["impl", "import s", "setup s", "build s", "first call ms",
                             "second call ms", "whole process s"], frows))
        md += [f"\n*{k}: {r['note']}*" for k, r in res["fresh"].items() if r.get("note")]
    for note in res["notes"]:
        md += ["", note]
    return "\n".join(md)


def environment_markdown(env):
    v = env["versions"]
    lines = [
        f"- CPU: {env['cpu']}; {env['logical_cpus']} logical CPUs "
        f"({env['affinity_cpus']} available to this process)",
        f"- Platform: {env['platform']}",
        f"- Python {env['python']}; " + ", ".join(f"{k} {val}" for k, val in v.items()),
        f"- gradlab at commit {env['git']['commit'] or '?'}"
        + (" with uncommitted changes under gradlab/" if env["git"]["dirty_gradlab"] else "")
        + f"; imported from {env.get('gradlab_path')} (sha256 of its .py files "
          f"{env.get('gradlab_source_sha256')})"
        + ("\n- **WARNING: gradlab's source changed while the bench ran (someone was editing it); "
           "the numbers mix versions.**" if env.get("source_changed_during_run") else ""),
        f"- Threads: {'every library pinned to %d' % env['requested_threads'] if env['requested_threads'] else 'library defaults'} "
        f"(env: {', '.join(f'{k}={val}' for k, val in env['thread_env'].items()) or 'none'})",
    ]
    lines += [f"  - {k}: {val}" for k, val in env["threads"].items()]
    return "\n".join(lines)
