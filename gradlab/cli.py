"""The ``gradlab`` command line."""
import argparse
import json
import sys
from pathlib import Path

from . import __version__


def claims(args):
    from .claims import core_checks, format_report
    checks = core_checks()
    report = format_report(checks)
    print(report)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "claims_report.md").write_text(report)
    (out / "claims_report.json").write_text(json.dumps(
        {"gradlab_version": __version__, "checks": [c.__dict__ for c in checks]}, indent=2, default=str))
    print(f"wrote {out / 'claims_report.md'} and {out / 'claims_report.json'}")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="gradlab", description=__doc__)
    parser.add_argument("--version", action="version", version=f"gradlab {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("claims", help="check claims C1-C5 and write the claims report")
    p.add_argument("--out", default="figures", help="folder for the report (default: figures)")
    p.set_defaults(func=claims)
    from .report import runner as report_runner
    p = sub.add_parser("report", help="run the analysis scripts; write REPORT.md and report.json")
    report_runner.add_arguments(p, only=True).set_defaults(func=report_runner.report_command)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
