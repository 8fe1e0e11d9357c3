"""Stamp the repository and branch of ``_config.yml`` into every chapter.

Usage::

    .venv/bin/python tools/stamp_colab.py            # rewrite the chapters
    .venv/bin/python tools/stamp_colab.py --check    # exit 1 if any disagrees

Every chapter starts with two cells:

* a markdown cell tagged ``colab-badge``: the chapter title (``# 1. ...``)
  and an "Open in Colab" badge that opens this notebook from the repository;
* a code cell tagged ``colab-setup`` that, only on Colab, pip-installs
  glitlib from the repository (``GLITLIB_SOURCE`` overrides the source);
  it is also tagged ``hide-input``, so the book shows it folded.

The repository URL and branch live only in ``_config.yml`` (``repository:
url`` and ``branch``); this script regenerates both cells from them. A chapter
without these cells gets them: its first ``# `` heading becomes the title.
Only those two cells change, outputs and the rest stay as they are.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
BADGE_TAG = "colab-badge"
SETUP_TAG = "colab-setup"
HIDE_TAG = "hide-input"
BADGE_SVG = "https://colab.research.google.com/assets/colab-badge.svg"

SETUP_TEMPLATE = """\
# Runs only on Google Colab: install glitlib from the book's repository.
# On your own machine (and under the tests) this cell does nothing.
import os
import subprocess
import sys

GLITLIB_SOURCE = os.environ.get(
    "GLITLIB_SOURCE", "git+{url}@{branch}"
)
if "google.colab" in sys.modules:
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", GLITLIB_SOURCE],
        check=True,
    )"""


def repository(config: Path = ROOT / "_config.yml") -> tuple[str, str, str]:
    """``(url, branch, path_to_book)`` from the book's configuration."""
    repo = yaml.safe_load(config.read_text(encoding="utf-8"))["repository"]
    url = str(repo["url"]).rstrip("/")
    if url.endswith(".git"):
        url = url[:-4]
    return url, str(repo.get("branch", "main")), str(repo.get("path_to_book") or "")


def colab_url(url: str, branch: str, notebook: str) -> str:
    """The Colab address that opens ``notebook`` (a repository path) on ``branch``."""
    prefix = "https://github.com/"
    if not url.startswith(prefix):
        raise ValueError(f"repository url must start with {prefix}, got {url!r}")
    slug = url[len(prefix):]
    return f"https://colab.research.google.com/github/{slug}/blob/{branch}/{notebook}"


def badge_source(title: str, link: str) -> str:
    return f"{title}\n\n[![Open In Colab]({BADGE_SVG})]({link})"


def setup_source(url: str, branch: str) -> str:
    return SETUP_TEMPLATE.format(url=url, branch=branch)


def _tags(cell: dict) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def stamp(nb: dict, repo_path: str, url: str, branch: str) -> dict:
    """Return ``nb`` with its badge and setup cells regenerated."""
    cells = nb["cells"]
    badge = next((c for c in cells if BADGE_TAG in _tags(c)), None)
    if badge is not None:
        cells.remove(badge)
    else:
        badge = next(
            c for c in cells
            if c["cell_type"] == "markdown" and _source(c).lstrip().startswith("# ")
        )
        cells.remove(badge)
        rest = _source(badge).lstrip().split("\n", 1)
        if len(rest) > 1 and rest[1].strip():
            cells.insert(0, {"cell_type": "markdown", "metadata": {},
                             "source": _lines(rest[1].lstrip("\n"))})
            if nb.get("nbformat_minor", 0) >= 5:
                cells[0]["id"] = "chapter-intro"
        badge["metadata"].setdefault("tags", []).append(BADGE_TAG)
    title = _source(badge).lstrip().split("\n", 1)[0]
    badge["source"] = _lines(badge_source(title, colab_url(url, branch, repo_path)))
    cells.insert(0, badge)

    setup = next((c for c in cells if SETUP_TAG in _tags(c)), None)
    if setup is None:
        setup = {"cell_type": "code", "execution_count": None,
                 "metadata": {"tags": [SETUP_TAG]}, "outputs": []}
        if nb.get("nbformat_minor", 0) >= 5:
            setup["id"] = SETUP_TAG
    else:
        cells.remove(setup)
    tags = setup.setdefault("metadata", {}).setdefault("tags", [])
    if HIDE_TAG not in tags:  # the book shows it folded
        tags.append(HIDE_TAG)
    setup["source"] = _lines(setup_source(url, branch))
    cells.insert(1, setup)
    return nb


def notebook_repo_path(path: Path, path_to_book: str) -> str:
    rel = path.resolve().relative_to(ROOT).as_posix()
    return f"{path_to_book.strip('/')}/{rel}" if path_to_book.strip("/") else rel


def disagreements(paths: list[Path]) -> list[str]:
    """Chapters whose badge or setup cell does not match ``_config.yml``."""
    url, branch, path_to_book = repository()
    bad = []
    for path in paths:
        text = path.read_text(encoding="utf-8")
        nb = json.loads(text)
        before = json.dumps(nb, sort_keys=True)
        after = json.dumps(
            stamp(json.loads(text), notebook_repo_path(path, path_to_book), url, branch),
            sort_keys=True,
        )
        if before != after:
            bad.append(str(path.relative_to(ROOT)))
    return bad


def chapters() -> list[Path]:
    return sorted(BOOK.glob("[0-9][0-9]*_*.ipynb"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 if a chapter disagrees")
    args = parser.parse_args(argv)
    paths = [p.resolve() for p in args.notebooks] or chapters()
    if args.check:
        bad = disagreements(paths)
        for name in bad:
            print(f"{name}: Colab cells disagree with _config.yml; "
                  "run tools/stamp_colab.py")
        return 1 if bad else 0
    url, branch, path_to_book = repository()
    for path in paths:
        nb = json.loads(path.read_text(encoding="utf-8"))
        before = json.dumps(nb, sort_keys=True)
        stamp(nb, notebook_repo_path(path, path_to_book), url, branch)
        if json.dumps(nb, sort_keys=True) != before:
            text = json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False) + "\n"
            path.write_text(text, encoding="utf-8")
            print(f"stamped {path.relative_to(ROOT)}")
        else:
            print(f"unchanged {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
