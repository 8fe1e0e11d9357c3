"""The library's shape: packages by concern, imports only downwards, short signatures."""

import importlib
import pkgutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import structure  # noqa: E402


def test_no_import_circle_and_no_import_against_the_layers():
    r = structure.report()
    assert r["imports"] > 100  # the graph was read, not empty
    assert r["circles"] == []
    assert r["against_the_layers"] == []


def test_the_checks_can_fail():
    """A made-up circle and an import upwards are found (the checks are not vacuous)."""
    graph = {"glitlib.model.arch": {"glitlib.nas.paths"}, "glitlib.nas.paths":
             {"glitlib.model.arch"}}
    assert structure.circles(graph) == [["glitlib.model.arch", "glitlib.nas.paths"]]
    assert structure.against_the_layers(graph) == [("glitlib.model.arch", "glitlib.nas.paths")]


def test_no_function_but_a_constructor_takes_more_than_eight_parameters():
    assert structure.report()["over_max_params"] == []


def test_every_package_says_what_lives_there():
    import glitlib

    for info in pkgutil.iter_modules(glitlib.__path__):
        if info.ispkg:
            doc = importlib.import_module(f"glitlib.{info.name}").__doc__ or ""
            assert len(doc.strip()) > 40, info.name
            assert info.name in structure.LAYERS, info.name
