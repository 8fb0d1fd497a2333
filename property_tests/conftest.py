"""Hypothesis profiles for the property suites.

* ``ci`` (default): bounded and derandomized, so the test command takes minutes, gives
  the same verdict every run, and prints the replay token of any failure.
* ``deep``: many more examples with fresh randomness, for local runs
  (``HYPOTHESIS_PROFILE=deep python -m pytest property_tests``).  Long campaigns are
  ``raftkv explore``, not tests.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, settings

settings.register_profile(
    "ci", max_examples=15, deadline=None, derandomize=True, database=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    phases=(Phase.explicit, Phase.generate, Phase.shrink),
)
settings.register_profile(
    "deep", max_examples=300, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
