"""Every chapter runs where only the wheel is installed, as on Colab, and gives its
committed outputs.

The wheel is built offline and installed into a scratch folder; each chapter is
copied alone into an empty folder and run there by nbval (the environment of
tools/execute_notebooks.py) with that folder as the only glitlib on the path: no
checkout, no ``data/`` beside it. A chapter passes when no cell raises and every cell
tagged ``nbval-check-output`` prints what the committed notebook holds. A last cell,
added to the copy, checks that the kernel imported the wheel's glitlib. This is the
project's nbval run: the chapters are executed once, here, not again from ``book/``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from wheel_build import MAX_WHEEL_BYTES, build_wheel

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import execute_notebooks  # noqa: E402

CHAPTERS = execute_notebooks.chapters()
WHERE = ("import os\nimport glitlib\n"
         "assert glitlib.__file__.startswith(os.environ['PYTHONPATH']), glitlib.__file__")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The wheel, installed into a folder of its own (its dependencies are this Python's)."""
    tmp = tmp_path_factory.mktemp("wheel")
    wheel = build_wheel(tmp)
    assert wheel.stat().st_size < MAX_WHEEL_BYTES, wheel.stat().st_size
    target = tmp / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q",
                    "--target", str(target), str(wheel)], check=True, timeout=600)
    return target


def run_alone(chapter: Path, folder: Path, site: Path) -> subprocess.CompletedProcess:
    """nbval on a copy of ``chapter`` in ``folder``, with only ``site``'s glitlib."""
    copy = folder / chapter.name
    nb = nbformat.read(chapter, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(WHERE))
    nbformat.write(nb, copy)
    env = {**os.environ, **execute_notebooks.ENV, "PYTHONPATH": str(site)}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
         "--nbval-current-env", f"--nbval-cell-timeout={execute_notebooks.CELL_TIMEOUT}",
         "--rootdir", str(folder), copy.name],
        cwd=folder, env=env, capture_output=True, text=True, timeout=3600)


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_chapter_runs_from_the_wheel_alone(chapter, site, tmp_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    done = run_alone(chapter, folder, site)
    assert done.returncode == 0, (done.stdout + done.stderr)[-6000:]
