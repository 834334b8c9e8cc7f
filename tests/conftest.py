"""Suite-wide settings: hypothesis runs derandomized in CI (``CI`` set), so a landing never depends on the draw.

Locally every run draws new examples (hypothesis' default), which is where new counterexamples are found; a failing
example is then pinned as a regular test case. ``HYPOTHESIS_PROFILE=ci`` reproduces CI's draw locally.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)
profile = os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else None)
if profile:
    settings.load_profile(profile)
