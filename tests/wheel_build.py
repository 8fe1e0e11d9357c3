"""glitlib's wheel, built offline from a copy of the checkout's sources.

The copy keeps the checkout free of build folders, and holds exactly what a wheel is
made of: the package, the metadata files and ``data/``, which the package's
``glitlib._shipped`` maps onto (pyproject.toml). Shared by the tests that install it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "glitlib", "data")
MAX_WHEEL_BYTES = 3 * 2**20  # the shipped results stay a small part of the package
_JUNK = shutil.ignore_patterns("__pycache__", "*.pyc", ".glit-tmp-*")


def copy_sources(dest: Path) -> Path:
    """Copy what the wheel is built from into ``dest``; returns ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, dest / name, ignore=_JUNK)
        else:
            shutil.copy(ROOT / name, dest / name)
    return dest


def build_wheel(tmp: Path) -> Path:
    """Build the wheel under ``tmp`` without the network or build isolation."""
    src = copy_sources(tmp / "src")
    dist = tmp / "dist"
    out = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--no-index", "-q", "-w", str(dist), str(src)],
        cwd=src, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, f"pip wheel failed:\n{out.stdout}\n{out.stderr}"
    (path,) = dist.glob("glitlib-*.whl")
    return path
