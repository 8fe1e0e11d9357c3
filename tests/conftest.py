"""Test settings and helpers shared by every test module.

Numbers are pinned to one instruction set: torch's own kernels, MKL and oneDNN run
their AVX2 code on every x86 CPU (``ATEN_CPU_CAPABILITY``, ``MKL_CBWR``,
``ONEDNN_MAX_CPU_ISA``), so a training run gives the same bits on an AVX-512 machine
as on the AVX2 machines that made the shipped results. Set before torch is imported;
subprocesses and the chapters' kernels inherit it.

Test files run side by side, one pytest-xdist worker per core (``-n auto --dist
loadfile`` in pyproject.toml: a file's module fixtures are made once); ``-n 0``
runs them in one process.

Helpers: ``glit`` runs the command in a subprocess (for what needs a process: kill
and resume, torchrun, a real exit); ``cli`` runs it in this process (for refusals,
where the exit code and stderr suffice); ``one_line_error`` checks a refusal. Tests
that start searches or subprocesses are marked ``slow``: ``pytest -m "not slow"`` is
the fast lane for development; CI runs everything.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

for _key, _value in {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2",
                     "ONEDNN_MAX_CPU_ISA": "AVX2"}.items():
    os.environ.setdefault(_key, _value)
if os.environ.get("PYTEST_XDIST_WORKER"):
    # Test files run side by side (pytest-xdist, one worker per core): one thread each,
    # as two multi-threaded torch processes on the same cores slow each other down.
    os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

# Property tests draw the same examples on every run: a failure always reproduces.
settings.register_profile("repeatable", derandomize=True, database=None, deadline=None)
settings.load_profile("repeatable")

sys.path.insert(0, str(Path(__file__).parent))  # tests import reference_glit

ROOT = Path(__file__).resolve().parents[1]
HANG = 3600  # only to stop a hung process; tests wait on what the program writes


@dataclass
class Result:
    """What a ``glit`` command did: its exit status and what it printed."""

    returncode: int
    stdout: str
    stderr: str


def run_glit(*args: str, check: bool = False, cwd: Path | None = None,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``python -m glitlib ARGS`` in a subprocess; ``check``: it must succeed, silently."""
    r = subprocess.run([sys.executable, "-m", "glitlib", *args], capture_output=True,
                       text=True, timeout=HANG, cwd=cwd, env=env)
    if check:
        assert r.returncode == 0, r.stderr
        assert r.stderr == "", r.stderr
    return r


@pytest.fixture(scope="session")
def glit():
    """Run ``glit`` in a subprocess: ``glit("search", ..., check=True)``."""
    return run_glit


@pytest.fixture
def cli(capsys):
    """Run ``glit`` in this process; returns a :class:`Result` (exit code, stdout, stderr)."""
    from glitlib.cli import main

    def run(*args: str) -> Result:
        capsys.readouterr()
        try:
            code = main([str(a) for a in args])
        except SystemExit as exit_:  # argparse refusals and --help
            code = exit_.code if isinstance(exit_.code, int) else 1
        out = capsys.readouterr()
        return Result(code, out.out, out.err)
    return run


def check_one_line_error(r: Result | subprocess.CompletedProcess, *words: str) -> None:
    """A refusal: exit status 2, one line on stderr, no traceback, every word in it."""
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    for w in words:
        assert w in lines[0], lines[0]


@pytest.fixture(scope="session")
def one_line_error():
    """:func:`check_one_line_error` as a fixture."""
    return check_one_line_error


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


@pytest.fixture(scope="session")
def tiny_config():
    """A search small enough for a test (the flags ``TINY`` of test_search_cli in Python):
    ``tiny_config(seed=7)`` with any other field replaced."""
    from dataclasses import replace

    from glitlib.config.recipes import EvolutionConfig
    from glitlib.config.search import SearchConfig

    def make(**kw) -> SearchConfig:
        b = SearchConfig()
        return replace(b, retrain_candidates=2, rank_sample=1, bn_batches=1,
                       bn_batch_size=64, supernet=replace(b.supernet, steps=20),
                       evolution=EvolutionConfig(population=6, generations=2),
                       retrain=replace(b.retrain, steps=10), **kw)
    return make


_SLOW_MODULES = {"test_search_cli", "test_search_distributed", "test_truth",
                 "test_ablations", "test_readme", "test_install", "test_book_html",
                 "test_shipped", "test_search_pipeline"}


def pytest_collection_modifyitems(config, items):
    """Mark the slow lane: the chapters, whole-search modules, and every test that starts
    ``glit`` in a subprocess."""
    for item in items:
        module = item.path.stem
        if (item.path.suffix == ".ipynb" or module in _SLOW_MODULES
                or "glit" in getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
