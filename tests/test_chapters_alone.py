"""Every chapter runs where only the wheel is installed, as on Colab.

The wheel is built offline and installed into a scratch folder; each chapter is
copied alone into an empty folder and run there (nbclient, the environment of
tools/execute_notebooks.py) with that folder as the only glitlib on the path: no
checkout, no ``data/`` beside it. A chapter passes when no cell raises. A last cell,
added to the copy, reports which glitlib the kernel imported.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from wheel_build import MAX_WHEEL_BYTES, build_wheel

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import execute_notebooks  # noqa: E402

CHAPTERS = execute_notebooks.chapters()
WHERE = "import glitlib\nprint(glitlib.__file__)"

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


def run_alone(chapter: Path, folder: Path, site: Path) -> Path:
    """Run a copy of ``chapter`` in ``folder`` with only ``site``'s glitlib; returns the
    path of the glitlib the kernel imported."""
    copy = folder / chapter.name
    shutil.copy(chapter, copy)
    nb = nbformat.read(copy, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(WHERE))
    env = {**os.environ, **execute_notebooks.ENV, "PYTHONPATH": str(site)}
    client = NotebookClient(nb, timeout=execute_notebooks.CELL_TIMEOUT, kernel_name="python3",
                            resources={"metadata": {"path": str(folder)}},
                            extra_arguments=["--IPKernelApp.log_level=ERROR"])
    client.execute(env=env)  # raises CellExecutionError, naming the cell, if one fails
    return Path(nb.cells[-1].outputs[0]["text"].strip())


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_chapter_runs_from_the_wheel_alone(chapter, site, tmp_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    where = run_alone(chapter, folder, site)
    assert where.resolve().is_relative_to(site.resolve()), where
