"""pytest configuration: Hypothesis profiles, and ``import strategies`` from this directory.

Profiles:

- ``ci``: derandomized (the same examples every run), no deadline, a moderate
  number of examples.  Loaded when the ``CI`` environment variable is set.
- ``dev``: random examples, fewer of them, for a quick local run (the default).
- ``thorough``: many examples, for a long hunt (``HYPOTHESIS_PROFILE=thorough``).
"""

import os
import sys
from pathlib import Path

from hypothesis import HealthCheck, settings

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    max_examples=200,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "dev",
    deadline=None,
    max_examples=50,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "thorough",
    deadline=None,
    max_examples=2000,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

if os.environ.get("CI"):
    settings.load_profile("ci")
else:
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))
