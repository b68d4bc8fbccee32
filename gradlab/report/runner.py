"""Running analysis scripts: ``script_main`` (one script from its own command line) and
``run_report`` / ``gradlab report`` (every ``analysis/c*.py`` and ``e*.py``, found at run time,
so scripts added later are picked up)."""
import argparse
import ast
import importlib.util
import inspect
import sys
import threading
import time
import traceback
from pathlib import Path

from tqdm import tqdm

from . import document
from .paths import ANALYSIS, ROOT
from .results import ClaimResult, Context, Supporting, claim_id


def default_out(quick):
    """``figures/`` at the repository root, ``figures/quick/`` for quick runs."""
    return ROOT / "figures" / "quick" if quick else ROOT / "figures"


def add_arguments(parser, only=False):
    parser.add_argument("--quick", action="store_true", help="small settings: checks the pipeline in seconds")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for figures, report.json and REPORT.md (default: figures/, or figures/quick/)")
    parser.add_argument("--fresh", action="store_true", help="recompute cached sweep results")
    parser.add_argument("--runs", type=Path, default=None,
                        help="folder of cached sweep results (default: runs/, or runs/quick/, at the repository root)")
    parser.add_argument("--scheduler", metavar="ADDRESS", default=None,
                        help="train the sweeps on this Dask distributed scheduler (e.g. tcp://host:8786); "
                             "the results are the same bit for bit (needs gradlab[dask])")
    parser.add_argument("--progress", dest="progress", action="store_true", default=None,
                        help="show progress bars even when stderr is not a terminal")
    parser.add_argument("--no-progress", dest="progress", action="store_false", default=None,
                        help="no progress bars (default: shown when stderr is a terminal)")
    if only:
        parser.add_argument("--only", action="append", metavar="CLAIM",
                            help="run only the scripts reporting on this claim (e.g. C5; repeat or comma-separate); "
                                 "results are merged into the existing report.json")
    return parser


class SchedulerError(RuntimeError):
    """``--scheduler`` cannot be used: Dask distributed is missing or the address is unreachable."""


def connect(scheduler, timeout="10s"):
    """A ``distributed.Client`` for ``scheduler`` (an address; a Client is returned as it is;
    None gives None). Raises `SchedulerError` with a one-line message when Dask distributed is
    not installed or the scheduler cannot be reached within ``timeout``."""
    if scheduler is None:
        return None
    try:
        from distributed import Client
    except ImportError:
        raise SchedulerError("--scheduler needs Dask distributed: pip install 'gradlab[dask]'") from None
    if isinstance(scheduler, Client):
        return scheduler
    try:
        return Client(scheduler, timeout=timeout)
    except (OSError, TimeoutError, ValueError, TypeError) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise SchedulerError(f"cannot reach the Dask scheduler at {scheduler!r}: {reason}") from None


def _progress(args):
    return sys.stderr.isatty() if args.progress is None else args.progress


def _context(args, scheduler=None):
    out = default_out(args.quick) if args.out is None else args.out
    return Context(out=out, quick=args.quick, fresh=args.fresh, progress=_progress(args), runs=args.runs,
                   scheduler=scheduler)


def _check_results(results, declared, script):
    if not isinstance(results, (list, tuple)) or not all(isinstance(r, (ClaimResult, Supporting)) for r in results):
        raise TypeError(f"{script}: run(ctx) must return a list of ClaimResult or Supporting")
    extra = [r.claim for r in results if r.claim not in declared]
    if extra:
        raise ValueError(f"{script}: run(ctx) returned results for {extra}, not in its CLAIMS {declared}")
    return list(results)


def _script_name(path):
    path = Path(path).resolve()
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def script_main(run, claims, argv=None):
    """Command line of one analysis script: ``--quick``, ``--out``, ``--fresh``; runs ``run(ctx)``
    and merges its results for ``claims`` into ``<out>/report.json`` and ``REPORT.md``."""
    script = _script_name(inspect.getfile(run))
    declared = tuple(claim_id(c, "CLAIMS") for c in claims)
    args = add_arguments(argparse.ArgumentParser(prog=Path(script).name, description=f"report on {', '.join(declared)}")
                         ).parse_args(argv)
    try:
        client = connect(args.scheduler)
    except SchedulerError as e:
        print(f"{Path(script).name}: error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    try:
        ctx = _context(args, client)
        start = time.perf_counter()
        results = _check_results(run(ctx), declared, script)
    finally:
        if client is not None:
            client.close()
    report = document.update(document.load(ctx.out), results, ctx.quick, script, declared, time.perf_counter() - start)
    path = document.write(ctx.out, report)
    for r in results:
        print(f"{r.claim}: {getattr(r, 'verdict', 'supporting figures')}")
    print(f"wrote {path}")
    return 0


def declared_claims(path):
    """The ``CLAIMS`` tuple of a script, read without importing it."""
    tree = ast.parse(Path(path).read_text(), filename=str(path))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "CLAIMS" for t in node.targets):
            value = ast.literal_eval(node.value)
            if isinstance(value, str):
                value = (value,)
            return tuple(claim_id(c, f"{Path(path).name}: CLAIMS") for c in value)
    raise ValueError(f"{Path(path).name}: no CLAIMS = (...) assignment at module level")


def discover(analysis=ANALYSIS):
    """The analysis scripts (``c*.py``, ``e*.py``) in ``analysis``, sorted by name."""
    analysis = Path(analysis)
    if not analysis.is_dir():
        raise FileNotFoundError(f"analysis folder not found at {analysis} (gradlab report runs the scripts of a "
                                "source checkout; install it with `pip install -e .` from the repository root)")
    return sorted(p for p in analysis.glob("*.py") if p.name[0] in "ce" and p.name[1:2].isdigit())


def load_script(path):
    """Import an analysis script by path; it must define ``CLAIMS`` and ``run``."""
    path = Path(path)
    spec = importlib.util.spec_from_file_location(f"gradlab_analysis_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    if not callable(getattr(module, "run", None)):
        raise TypeError(f"{path.name}: no run(ctx) function")
    return module


class _Ticker:
    """Refreshes ``bar`` every ``every`` seconds from a thread, so its elapsed time moves while
    a long script runs (tqdm redraws only on updates)."""

    def __init__(self, bar, every=1.0):
        self.bar, self.every, self.stop = bar, every, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self.stop.wait(self.every):
            self.bar.refresh()

    def __enter__(self):
        # a log file gets a line per update, not one per second
        if not self.bar.disable and getattr(self.bar.fp, "isatty", lambda: False)():
            self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join()


def run_report(out=None, quick=False, only=None, fresh=False, progress=False, analysis=ANALYSIS, runs=None,
               scheduler=None, bar_file=None):
    """Run the analysis scripts (those reporting on ``only``, or all) and write report.json and
    REPORT.md into ``out``. A full run starts a new report.json; ``only`` merges into the existing
    one. A failing script is recorded and the others still run. Returns (REPORT.md path, failures).

    ``runs``: the sweep cache (`Context`); ``scheduler``: a Dask scheduler address or
    ``distributed.Client`` every sweep trains on (same results bit for bit; an address is
    connected to once, for the whole report). ``progress``: one bar over the scripts (scripts
    done, the current one's name, elapsed time), drawn on ``bar_file`` (default stderr), with the
    sweeps' own bars below it."""
    only = None if not only else [claim_id(c.strip(), "--only") for item in only for c in item.split(",") if c.strip()]
    scripts = discover(analysis)
    declared = {}
    failures = {}
    for path in scripts:
        try:
            declared[path] = declared_claims(path)
        except (ValueError, SyntaxError) as e:
            failures[_script_name(path)] = f"{type(e).__name__}: {e}"
    if only:
        covered = {c for cs in declared.values() for c in cs}
        missing = [c for c in only if c not in covered]
        if missing:
            raise ValueError(f"--only: no script in {analysis} reports on {', '.join(missing)} yet "
                             f"(covered: {', '.join(sorted(covered, key=lambda c: (c[0], int(c[1:])))) or 'none'})")
        declared = {p: cs for p, cs in declared.items() if set(cs) & set(only)}
    out = default_out(quick) if out is None else Path(out)
    client = connect(scheduler)
    try:
        ctx = Context(out=out, quick=quick, fresh=fresh, progress=progress, runs=runs, scheduler=client)
        report = document.load(out) if only else document.empty()
        for script, message in failures.items():
            report = document.update(report, [], quick, script, (), failure=message)
        bar = tqdm(total=len(declared), desc="gradlab report", unit="script", disable=not progress,
                   file=sys.stderr if bar_file is None else bar_file, position=0, dynamic_ncols=True,
                   bar_format="{desc}: {n_fmt}/{total_fmt} scripts |{bar}| {elapsed} elapsed{postfix}")
        with bar, _Ticker(bar):
            for path, claims in declared.items():
                script = _script_name(path)
                bar.set_postfix_str(path.name)
                start = time.perf_counter()
                try:
                    results = _check_results(load_script(path).run(ctx), claims, script)
                    report = document.update(report, results, quick, script, claims, time.perf_counter() - start)
                except Exception as e:  # one broken script must not stop the report; it is recorded and shown
                    message = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
                    failures[script] = message
                    with tqdm.external_write_mode(file=sys.stderr):
                        traceback.print_exc()
                        print(f"gradlab report: {script} failed: {message}", file=sys.stderr)
                    report = document.update(report, [], quick, script, claims, time.perf_counter() - start, message)
                document.write(out, report)
                bar.update(1)
            bar.set_postfix_str("done")
    finally:
        if client is not None and client is not scheduler:
            client.close()
    return document.write(out, report), failures


def report_command(args):
    """``gradlab report``: exit 0 when every script ran, 1 when one failed, 2 on bad arguments
    (and when ``--scheduler`` cannot be used)."""
    try:
        path, failures = run_report(args.out, args.quick, args.only, args.fresh, _progress(args), runs=args.runs,
                                    scheduler=args.scheduler)
    except (ValueError, FileNotFoundError, SchedulerError) as e:
        print(f"gradlab report: error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {path}" + (f"; {len(failures)} script(s) failed: {', '.join(failures)}" if failures else ""))
    return 1 if failures else 0
