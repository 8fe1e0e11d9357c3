"""Test settings shared by every test module."""

import sys
from pathlib import Path

import pytest
from hypothesis import settings

# Property tests draw the same examples on every run: a failure always reproduces.
settings.register_profile("repeatable", derandomize=True, database=None, deadline=None)
settings.load_profile("repeatable")

sys.path.insert(0, str(Path(__file__).parent))  # tests import reference_glit


@pytest.fixture
def one_thread():
    """Run a test's torch work on one thread, as the shipped data in data/ were made.

    Training is exact for a given number of threads; another count can round
    differently and, rarely, end a training run elsewhere.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
