"""Test settings shared by every test module."""

import sys
from pathlib import Path

from hypothesis import settings

# Property tests draw the same examples on every run: a failure always reproduces.
settings.register_profile("repeatable", derandomize=True, database=None, deadline=None)
settings.load_profile("repeatable")

sys.path.insert(0, str(Path(__file__).parent))  # tests import reference_glit
