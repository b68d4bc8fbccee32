"""Hypothesis profiles for the test suite.

"default": no deadline (the first call of a numba kernel compiles it, or loads it from the
on-disk cache, which takes seconds and would trip any per-example deadline), 40 examples.
"ci" (chosen when the CI environment variable is set): the same, derandomized, so a CI run
is reproducible. HYPOTHESIS_PROFILE=<name> selects a profile explicitly.

Before the tests, `warm_kernels` compiles the largest kernels into numba's on-disk cache in
two processes at once (this one and a child), so a cold run compiles on both cores; with a
warm cache it only loads them. GRADLAB_WARM=0 skips it. The tests then run in two pytest-xdist
workers (``-n 2 --dist loadfile`` in pyproject.toml: a file's tests, and its module fixtures,
stay in one worker), which start after the warm-up.
"""
import os
import subprocess
import sys
import time
from pathlib import Path

from hypothesis import HealthCheck, settings

_COMMON = dict(deadline=None, max_examples=40, suppress_health_check=[HealthCheck.too_slow])

settings.register_profile("default", **_COMMON)
settings.register_profile("ci", derandomize=True, **_COMMON)

settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "default"))


def pytest_sessionstart(session):
    # pytest-xdist's workers (PYTEST_XDIST_WORKER set) start after the controller has warmed the cache
    if os.environ.get("GRADLAB_WARM") == "0" or os.environ.get("PYTEST_XDIST_WORKER"):
        return
    import warm_kernels  # imports gradlab, which clears stale caches before the child starts

    here = Path(__file__).resolve().parent
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(here.parent), os.environ.get("PYTHONPATH")])))
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, str(here / "warm_kernels.py"), "0"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    warm_kernels.main(1)
    out, _ = child.communicate()
    report = session.config.pluginmanager.get_plugin("terminalreporter")
    if report is not None:
        status = "" if child.returncode == 0 else f"; part 0 failed ({child.returncode}):\n{out}"
        report.write_line(f"warm_kernels: {time.perf_counter() - start:.0f} s{status}")
