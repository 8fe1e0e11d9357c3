"""glitlib.shipped: the results the chapters read, found from a checkout and refused
with one line naming the file when this install does not carry it.

The wheel's side (``glitlib/_shipped/``) is checked where the wheel is built:
test_install.py, and test_chapters_alone.py, which runs every chapter from it.
"""

import json
import re
from pathlib import Path

import pytest

import glitlib
from glitlib.runtime import shipped as shipped_module

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "book").glob("[0-9][0-9]*_*.ipynb"))
READS = re.compile(r"shipped\(\"([^\"]*)\"\)")


def chapter_code(path: Path) -> str:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")


def test_from_a_checkout_it_reads_data():
    assert glitlib.shipped() == ROOT / "data"
    summary = glitlib.shipped("digits_search/summary.json")
    assert summary == ROOT / "data" / "digits_search" / "summary.json" and summary.is_file()
    assert glitlib.shipped("digits_search").is_dir()


def test_a_missing_file_is_named():
    with pytest.raises(glitlib.ShippedFileError, match="'nothing/here.json' is missing"):
        glitlib.shipped("nothing/here.json")
    assert issubclass(glitlib.ShippedFileError, FileNotFoundError)


@pytest.mark.parametrize("name", ["../README.md", "/etc/passwd", "a/../../b", "a\\b"])
def test_names_stay_inside(name):
    with pytest.raises(glitlib.ConfigError, match="relative path"):
        glitlib.shipped(name)


def test_the_wheels_folder_comes_first(tmp_path, monkeypatch):
    package = tmp_path / "glitlib"
    (package / "_shipped" / "scale").mkdir(parents=True)
    (package / "_shipped" / "scale" / "throughput.json").write_text("{}")
    monkeypatch.setattr(shipped_module, "_package_dir", lambda: package)
    assert glitlib.shipped("scale/throughput.json") == \
        package / "_shipped" / "scale" / "throughput.json"


def test_a_package_without_results_says_so(tmp_path, monkeypatch):
    (tmp_path / "glitlib").mkdir()
    monkeypatch.setattr(shipped_module, "_package_dir", lambda: tmp_path / "glitlib")
    with pytest.raises(glitlib.ShippedFileError, match="carries no shipped results"):
        glitlib.shipped("digits_enum.json")


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_chapters_read_only_shipped_results(path):
    """A chapter runs where only the package is installed: it reads no file of the
    repository by a relative path, and every shipped result it names exists."""
    code = chapter_code(path)
    assert "../data" not in code and 'Path("data' not in code
    for name in READS.findall(code):
        assert glitlib.shipped(name).exists()
