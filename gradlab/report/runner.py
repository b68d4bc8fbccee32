"""Running analysis scripts: ``script_main`` (one script from its own command line) and
``run_report`` / ``gradlab report`` (every ``analysis/c*.py`` and ``e*.py``, found at run time,
so scripts added later are picked up)."""
import argparse
import ast
import importlib.util
import inspect
import sys
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
    parser.add_argument("--no-progress", dest="progress", action="store_false", default=None,
                        help="no progress bars (default: shown when stderr is a terminal)")
    if only:
        parser.add_argument("--only", action="append", metavar="CLAIM",
                            help="run only the scripts reporting on this claim (e.g. C5; repeat or comma-separate); "
                                 "results are merged into the existing report.json")
    return parser


def _context(args):
    progress = sys.stderr.isatty() if args.progress is None else args.progress
    out = default_out(args.quick) if args.out is None else args.out
    return Context(out=out, quick=args.quick, fresh=args.fresh, progress=progress)


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
    ctx = _context(args)
    start = time.perf_counter()
    results = _check_results(run(ctx), declared, script)
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


def run_report(out=None, quick=False, only=None, fresh=False, progress=False, analysis=ANALYSIS):
    """Run the analysis scripts (those reporting on ``only``, or all) and write report.json and
    REPORT.md into ``out``. A full run starts a new report.json; ``only`` merges into the existing
    one. A failing script is recorded and the others still run. Returns (REPORT.md path, failures)."""
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
    ctx = Context(out=out, quick=quick, fresh=fresh, progress=progress)
    report = document.load(out) if only else document.empty()
    for script, message in failures.items():
        report = document.update(report, [], quick, script, (), failure=message)
    bar = tqdm(list(declared.items()), desc="gradlab report", unit="script", disable=not progress, file=sys.stderr)
    for path, claims in bar:
        script = _script_name(path)
        bar.set_postfix_str(path.name)
        start = time.perf_counter()
        try:
            results = _check_results(load_script(path).run(ctx), claims, script)
            report = document.update(report, results, quick, script, claims, time.perf_counter() - start)
        except Exception as e:  # one broken script must not stop the report; it is recorded and shown
            traceback.print_exc()
            message = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
            failures[script] = message
            print(f"gradlab report: {script} failed: {message}", file=sys.stderr)
            report = document.update(report, [], quick, script, claims, time.perf_counter() - start, message)
        document.write(out, report)
    return document.write(out, report), failures


def report_command(args):
    """``gradlab report``: exit 0 when every script ran, 1 when one failed, 2 on bad arguments."""
    progress = sys.stderr.isatty() if args.progress is None else args.progress
    try:
        path, failures = run_report(args.out, args.quick, args.only, args.fresh, progress)
    except (ValueError, FileNotFoundError) as e:
        print(f"gradlab report: error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {path}" + (f"; {len(failures)} script(s) failed: {', '.join(failures)}" if failures else ""))
    return 1 if failures else 0
