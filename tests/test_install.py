"""The wheel: what it declares, what it ships, and that it installs and runs on its own.

Offline: the wheel is built without build isolation from a copy of the sources,
installed without dependencies into a fresh venv, and that venv reaches the
already installed torch, timm, ... through a ``.pth`` line (which adds a path but
runs none of the project venv's own ``.pth`` files, so its editable glitlib stays
out). Commands run from a directory outside the checkout.
"""

import json
import re
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from wheel_build import MAX_WHEEL_BYTES, build_wheel

ROOT = Path(__file__).resolve().parents[1]
CORE = {"torch", "torchvision", "timm", "numpy", "scikit-learn", "tqdm", "matplotlib"}
NOT_CORE = re.compile(
    r"jupyter|ipy|nbclient|nbformat|nbval|seaborn|einops|playwright|pytest|hypothesis|ruff|sphinx"
)


def run(*cmd, cwd):
    out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, f"{cmd} failed:\n{out.stdout}\n{out.stderr}"
    return out.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("wheel"))


def test_wheel_declares_the_library_dependencies_only(wheel):
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        (meta,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        metadata = zf.read(meta).decode()
    requires = [line.split(":", 1)[1].strip() for line in metadata.splitlines()
                if line.startswith("Requires-Dist:")]
    core = [r for r in requires if "extra ==" not in r]
    core_names = {re.split(r"[<>=!~ ;\[]", r, maxsplit=1)[0].lower() for r in core}
    assert core_names == CORE, core
    assert not [r for r in core if NOT_CORE.search(r)]
    extras = {m.group(1) for r in requires if (m := re.search(r'extra == "(\w+)"', r))}
    assert extras == {"book", "test", "dev", "tensorboard"}
    assert "License-Expression: MIT" in metadata
    assert "glitlib/py.typed" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert not any(n.startswith(("tests/", "book/")) for n in names)


def test_wheel_holds_every_module_and_the_shipped_results(wheel):
    """pyproject.toml lists the packages by name (one of them maps onto data/), so a new
    subpackage must be listed there; the shipped results keep the wheel small."""
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "glitlib").rglob("*.py")}
    assert modules <= names, sorted(modules - names)
    shipped = {n for n in names if n.startswith("glitlib/_shipped/")}
    assert "glitlib/_shipped/digits_search/summary.json" in shipped
    assert all(n.endswith(".json") for n in shipped), sorted(shipped)
    assert not any(n.endswith((".pt", ".png", "README.md")) for n in names)
    assert wheel.stat().st_size < MAX_WHEEL_BYTES, wheel.stat().st_size


def test_wheel_carries_what_every_chapter_reads(wheel):
    """Each ``shipped("...")`` a chapter calls names a file or folder the wheel holds."""
    names = set(zipfile.ZipFile(wheel).namelist())
    for chapter in sorted((ROOT / "book").glob("[0-9][0-9]*_*.ipynb")):
        cells = json.loads(chapter.read_text(encoding="utf-8"))["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        for name in re.findall(r"shipped\(\"([^\"]*)\"\)", code):
            path = f"glitlib/_shipped/{name}".rstrip("/")
            assert path in names or any(n.startswith(path + "/") for n in names), \
                f"{chapter.name} reads {name!r}, which the wheel does not carry"


def test_wheel_installs_and_runs_without_the_checkout(wheel, tmp_path):
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", str(venv), cwd=tmp_path)
    python = venv / "bin" / "python"
    site = Path(run(str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])",
                    cwd=tmp_path).strip())
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run(sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
        "--no-index", "-q", str(wheel), cwd=tmp_path)
    info = run(str(venv / "bin" / "glit"), "info", cwd=tmp_path)
    assert "size_paper" in info
    forward = (
        "import glitlib, torch; m = glitlib.build('glit-tiny', num_classes=10, img_size=32);"
        "print(glitlib.__file__); print(tuple(m(torch.zeros(2, 3, 32, 32)).shape));"
        "print(glitlib.shipped('digits_search/summary.json'))"
    )
    where, shape, summary = run(str(python), "-c", forward, cwd=tmp_path).splitlines()
    assert Path(where).is_relative_to(site) and shape == "(2, 10)"
    assert Path(summary) == site / "glitlib" / "_shipped" / "digits_search" / "summary.json"
