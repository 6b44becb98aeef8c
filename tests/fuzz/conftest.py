"""Hypothesis profiles for the fuzz targets: `ci` (the default: a few seconds per target, for
every test run) and `long` (`DEFKIT_FUZZ=long`, what `make e2e` runs: thousands of examples).
Both derandomise nothing: every run explores new inputs; a failure prints its reproducer."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_SLOW_INPUTS = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example]

settings.register_profile(
    "defkit-fuzz-ci", max_examples=15, deadline=None, suppress_health_check=_SLOW_INPUTS
)
settings.register_profile(
    "defkit-fuzz-long",
    max_examples=int(os.environ.get("DEFKIT_FUZZ_EXAMPLES", "3000")),
    # A hostile input may be large, but no pass may take long on it: well over what the
    # largest generated input takes on a busy machine.
    deadline=20_000,
    suppress_health_check=_SLOW_INPUTS,
)
PROFILE = "defkit-fuzz-long" if os.environ.get("DEFKIT_FUZZ") == "long" else "defkit-fuzz-ci"
