"""Root conftest: loads the fixtures that bring up real backends (see tests/backends) and the
fault run's report (tests/faults/report.py: the `faults` marker and the closing table)."""

import os

from hypothesis import HealthCheck, settings

pytest_plugins = ["tests.backends.fixtures", "tests.faults.report"]

# STELLARS_HYPOTHESIS_PROFILE picks how Hypothesis draws, for every suite at once:
# - default: random draws, so each run may find an input no run found before;
# - mutation (`make mutation`): derandomized, fewer examples and no deadline: a mutation run
#   replays the suite thousands of times on slowed code, and a flaky deadline would count a
#   surviving mutant as killed;
# - image (the Dockerfile's builder stage): derandomized, because that run checks the installed
#   wheel, and a new random find there would fail whichever suite happened to build the image
#   instead of the unit suite that owns the property.
settings.register_profile(
    "mutation",
    max_examples=30,
    derandomize=True,
    deadline=None,
    database=None,
    # mutmut reruns the suite in one process, calling test methods from new class instances
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.differing_executors],
)
settings.register_profile("image", derandomize=True, database=None)
settings.load_profile(os.environ.get("STELLARS_HYPOTHESIS_PROFILE", "default"))
