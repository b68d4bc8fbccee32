"""Hypothesis profiles for the test suite.

"default": no deadline (the first call of a numba kernel compiles it, or loads it from the
on-disk cache, which takes seconds and would trip any per-example deadline), 40 examples.
"ci" (chosen when the CI environment variable is set): the same, derandomized, so a CI run
is reproducible. HYPOTHESIS_PROFILE=<name> selects a profile explicitly.
"""
import os

from hypothesis import HealthCheck, settings

_COMMON = dict(deadline=None, max_examples=40, suppress_health_check=[HealthCheck.too_slow])

settings.register_profile("default", **_COMMON)
settings.register_profile("ci", derandomize=True, **_COMMON)

settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "default"))
