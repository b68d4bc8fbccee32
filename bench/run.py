"""Run every benchmark workload and write bench/RESULTS.md.

    python bench/run.py                 # everything: library-default threads, then a
                                        # 1-thread pass in a subprocess; writes RESULTS.md
    python bench/run.py --quick         # fewer rounds, no fresh-process timings (smoke test)
    python bench/run.py --only iris     # workloads whose name contains "iris"
    python bench/run.py --only train    # the training workloads W1-W3 (bench/training.py)
    python bench/run.py --only W4       # the sweep workload W4 (bench/sweep.py; its parallel
                                        # efficiency and scaling: python bench/sweep.py)
    python bench/run.py --threads 1     # a single pass with every library pinned to 1 thread

The machinery is in harness.py; workloads live in their own modules listed in MODULES,
each exposing WORKLOADS (a list of harness.Workload).
"""
import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile

MODULES = ["per_sample", "training", "sweep"]  # workload modules, each exposing WORKLOADS

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
               "NUMBA_NUM_THREADS", "BLIS_NUM_THREADS")


def pin_threads(n):
    """Ask every library for n threads; must happen before numpy/torch/jax are imported."""
    for var in THREAD_VARS:
        os.environ[var] = str(n)
    if n == 1:
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false"
                                   " intra_op_parallelism_threads=1").strip()
    os.environ["GRADLAB_BENCH_THREADS"] = str(n)


def parse():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=None,
                    help="pin every library to this many threads (default: library defaults, "
                         "plus a second, 1-thread pass)")
    ap.add_argument("--repeats", type=int, default=30, help="interleaved timing rounds (default 30)")
    ap.add_argument("--only", default=None, help="run only workloads whose name contains this")
    ap.add_argument("--quick", action="store_true", help="5 rounds, no fresh processes, no 1-thread pass")
    ap.add_argument("--no-fresh", action="store_true", help="skip the fresh-process first-call timings")
    ap.add_argument("--no-single-thread", action="store_true", help="skip the 1-thread pass")
    ap.add_argument("--output", default=None, help="markdown file (default bench/RESULTS.md)")
    ap.add_argument("--json", default=None, help="also dump raw results to this JSON file")
    ap.add_argument("--no-write", action="store_true", help="do not write the markdown file")
    return ap.parse_args()


def main():
    args = parse()
    if args.threads:
        pin_threads(args.threads)
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)
    import importlib

    import harness

    repeats = 5 if args.quick else args.repeats
    workloads = [w for m in MODULES for w in importlib.import_module(m).WORKLOADS
                 if args.only is None or args.only in w.name]
    if not workloads:
        sys.exit(f"no workload matches {args.only!r}")
    source_before = harness.gradlab_source_hash()
    results = [harness.run_workload(w, repeats=repeats, fresh_process=not (args.quick or args.no_fresh))
               for w in workloads]
    env = harness.environment()
    if env.get("gradlab_source_sha256") != source_before:
        env["source_changed_during_run"] = True
        print("WARNING: gradlab's source files changed while the bench ran")
    payload = {"env": env, "results": results, "repeats": repeats}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(payload, f, indent=1)

    single = None
    if not (args.threads or args.quick or args.no_single_thread):
        print("\n######## second pass: every library pinned to 1 thread (subprocess)")
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "single.json")
            cmd = [sys.executable, os.path.abspath(__file__), "--threads", "1", "--no-fresh",
                   "--no-write", "--repeats", str(repeats), "--json", out]
            if args.only:
                cmd += ["--only", args.only]
            subprocess.run(cmd, check=True)
            with open(out) as f:
                single = json.load(f)

    if not args.no_write:
        path = args.output or os.path.join(here, "RESULTS.md")
        with open(path, "w") as f:
            f.write(markdown(harness, payload, single, " ".join(sys.argv[1:])))
        print(f"\nwrote {path}")


def _impl_columns(results):
    cols = []
    for res in results:
        for name in res["impls"]:
            if name != res["reference"] and name not in cols:
                cols.append(name)
        for name in res["skipped"]:
            if name not in cols:
                cols.append(name)
    return cols


def _summary_rows(harness, results, tag, cols):
    rows = []
    for res in results:
        if res.get("metric"):
            continue
        r0 = res["impls"][res["reference"]]
        cells = [res["name"], tag, f"{res['reference']} {r0['median_us']:.1f}"]
        for impl in cols:
            r = res["impls"].get(impl)
            cells.append(f"{r['median_us']:.1f} ({harness.speed_phrase(r['ratio'])})" if r
                         else "skipped" if impl in res["skipped"] else "")
        rows.append(cells)
    return rows


def _throughput_rows(harness, results, tag, cols):
    rows = []
    for res in results:
        if not res.get("metric"):
            continue
        r0 = res["impls"][res["reference"]]
        cells = [res["name"], tag, res["metric"],
                 f"{res['reference']} {harness.format_rate(r0['throughput'])}"]
        for impl in cols:
            r = res["impls"].get(impl)
            cells.append(f"{harness.format_rate(r['throughput'])} ({harness.speed_phrase(r['ratio'])})"
                         if r else "skipped" if impl in res["skipped"] else "")
        worst = max((r["rel_error"], k) for k, r in res["impls"].items())
        cells.append(f"{worst[0]:.1e} ({worst[1]})")
        rows.append(cells)
    return rows


def markdown(harness, payload, single, argv):
    env, results = payload["env"], payload["results"]
    now = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    default_tag = (f"{env['requested_threads']} thread(s)" if env["requested_threads"]
                   else "library defaults")
    md = ["# gradlab benchmarks", "",
          f"Written by `python bench/run.py{(' ' + argv) if argv else ''}` on {now}. "
          "Numbers are from one shared 2-core machine; re-run to refresh.", "",
          "## Summary", ""]
    passes = [(default_tag, results)] + ([("all pinned to 1 thread", single["results"])] if single else [])
    per_call = [r for r in results if not r.get("metric")]
    if per_call:
        cols = _impl_columns(per_call)
        rows = [row for tag, rs in passes for row in _summary_rows(harness, rs, tag, cols)]
        md += ["Median microseconds per call:", "",
               harness._md_table(["workload", "threads", "reference us"] + [f"{c} us" for c in cols], rows), ""]
    rated = [r for r in results if r.get("metric")]
    if rated:
        cols = _impl_columns(rated)
        rows = [row for tag, rs in passes for row in _throughput_rows(harness, rs, tag, cols)]
        md += ["Training throughput (median work units per second; torch and numpy run a prefix of "
               "the training, see each workload):", "",
               harness._md_table(["workload", "threads", "metric", "reference"] + cols
                                 + ["largest max rel diff (impl)"], rows), ""]
    md += ["(x faster / slower: how the reference, gradlab, compares with that column, per unit of work.)", ""]
    for tag, rs in passes:
        for res in rs:
            for text, met in harness.target_lines(res):
                verdict = "not measured" if met is None else ("met" if met else "**NOT met**")
                md.append(f"- Target ({res['name']}, {tag}): {text}, {verdict}")
    md += ["", "## Environment", "", harness.environment_markdown(env)]
    if single:
        md += ["- 1-thread pass: " + "; ".join(f"{k}: {v}" for k, v in single["env"]["threads"].items())]
    md += ["", "## Method", "",
           "- Every implementation gets the same data and initial weights (one `setup()` per "
           "workload) and its result must match gradlab's before anything is timed; the bench "
           "stops with an error otherwise. Per-call workloads: to "
           f"{results[0]['rtol']:g} in the max norm (`max|G - G_gradlab| / max|G_gradlab|`). "
           "Training workloads: the loss and norm curves record by record, within a per-record "
           "tolerance explained under each training workload.",
           "- First calls (JIT compilation) are excluded from the timings and reported separately.",
           f"- Timing: after warm-up, each implementation gets a number of calls per batch such "
           f"that a batch lasts about the workload's batch time (given per workload); "
           f"{payload['repeats']} rounds (fewer where a workload caps them: the count is given "
           "per workload), each running one batch of every implementation in a rotating (round-robin) order, "
           "so noise hits all alike; gc disabled while timing. The machine is shared with other "
           "work: a round during which other processes kept more than 0.5 CPU busy on average "
           "(from /proc/stat) is discarded as a whole and re-run (at most 3x as many times as there "
           "are rounds); the counts are given per workload. Before timing a workload the bench "
           "waits (up to 5 min) for a 1 s window in which other processes use at most 0.2 CPU. "
           "Reported: median per call over "
           "rounds, interquartile range, minimum; `time / gradlab` is the ratio of medians "
           "(> 1: gradlab faster), the paired ratio IQR is over per-round ratios. Training "
           "workloads report throughput (work units per second: median units per call / median "
           "time per call) and compare per unit of work, because torch and numpy run only a "
           "prefix of the long trainings; a call longer than the batch time is one call per batch.",
           "- CPU/wall = process CPU time / wall time during the timed batches: about how many "
           "cores an implementation kept busy (spin-waiting thread pools count too: all libraries "
           "share one process, so CPU/wall > 1 for the serial gradlab is other libraries' idle "
           "pools spinning after their own batches).",
           "- Threads: the main pass leaves every library at its defaults on this machine; the "
           "second pass (a subprocess) pins all to 1 thread (OMP/OpenBLAS/MKL env vars, "
           "`torch.set_num_threads(1)`, XLA_FLAGS `--xla_cpu_multi_thread_eigen=false "
           "intra_op_parallelism_threads=1`). gradlab's kernels are serial in both.",
           "", f"## Results, {default_tag}", ""]
    md += [harness.workload_markdown(r) + "\n" for r in results]
    if single:
        md += ["## Results, every library pinned to 1 thread", ""]
        md += [harness.workload_markdown(r) + "\n" for r in single["results"]]
    return "\n".join(md).rstrip() + "\n"


if __name__ == "__main__":
    main()
