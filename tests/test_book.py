"""The book's notebooks: Colab cells, committed outputs, chapter structure.

The chapters themselves run as tests through nbval (see pyproject.toml);
these tests check what nbval does not: that the Colab badge and install cell
agree with ``_config.yml``, that the install cell really installs glitlib,
and that the committed outputs are clean.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import stamp_colab  # noqa: E402
from wheel_build import copy_sources  # noqa: E402

TOC = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
TOC_DOCS = [TOC["root"]] + [
    chapter["file"] for part in TOC["parts"] for chapter in part["chapters"]
]
CHAPTERS = sorted((ROOT / "book").glob("[0-9][0-9]*_*.ipynb"))  # 06b_... too
ids = [p.stem for p in CHAPTERS]


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def source(cell: dict) -> str:
    src = cell["source"]
    return "".join(src) if isinstance(src, list) else src


def test_every_chapter_is_in_the_toc():
    for path in CHAPTERS:
        assert f"book/{path.stem}" in TOC_DOCS, f"{path.name} is missing from _toc.yml"


def test_config_keeps_the_build_offline_and_on_committed_outputs():
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    assert config["execute"]["execute_notebooks"] == "off"
    assert config["only_build_toc_files"] is True
    assert config["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    assert config["repository"]["url"].startswith("https://github.com/")


def test_colab_cells_agree_with_config():
    bad = stamp_colab.disagreements(CHAPTERS)
    assert not bad, f"run tools/stamp_colab.py: {bad}"


@pytest.mark.parametrize("path", CHAPTERS, ids=ids)
def test_chapter_starts_with_badge_and_setup(path):
    url, branch, path_to_book = stamp_colab.repository()
    cells = load(path)["cells"]
    badge, setup = cells[0], cells[1]
    assert "colab-badge" in badge["metadata"].get("tags", [])
    number = path.stem.split("_")[0].lstrip("0")  # "06b_learning" -> "6b"
    assert re.match(rf"# {number}\. \S", source(badge)), source(badge)[:60]
    link = stamp_colab.colab_url(url, branch, f"book/{path.name}")
    assert f"]({link})" in source(badge)
    assert link.endswith(f"/blob/{branch}/book/{path.name}")
    assert "colab-setup" in setup["metadata"].get("tags", [])
    assert setup["cell_type"] == "code"
    assert f"git+{url}@{branch}" in source(setup)
    assert not setup.get("outputs"), "the setup cell must do nothing outside Colab"


@pytest.mark.parametrize("path", CHAPTERS, ids=ids)
def test_committed_outputs_are_clean(path):
    nb = load(path)
    count = 0
    for i, cell in enumerate(nb["cells"]):
        assert "execution" not in cell["metadata"], f"cell {i}: timing metadata"
        if cell["cell_type"] != "code":
            continue
        count += 1
        assert cell["execution_count"] == count, f"cell {i} not run in order"
        for out in cell["outputs"]:
            assert out["output_type"] != "error", f"cell {i} raised"
            assert out.get("name") != "stderr", f"cell {i} wrote to stderr"
    assert nb["metadata"]["language_info"] == {"name": "python"}


@pytest.mark.parametrize("path", CHAPTERS, ids=ids)
def test_chapter_structure(path):
    cells = load(path)["cells"]
    text = "\n".join(source(c) for c in cells if c["cell_type"] == "markdown")
    code = "\n".join(source(c) for c in cells if c["cell_type"] == "code")
    assert "## Summary" in text
    assert "## Exercises" in text
    assert text.count("<summary>Solution") >= 3
    assert "assert_close" in code, "each chapter proves its equality with glitlib"
    has_figure = any(
        "image/png" in out.get("data", {})
        for c in cells if c["cell_type"] == "code" for out in c["outputs"]
    )
    assert has_figure, "each chapter has at least one figure"
    for c in cells:
        if c["cell_type"] == "code":
            for line in source(c).splitlines():
                assert len(line) <= 79, f"line too long for the page: {line!r}"


# What a printed line may hold: an output cell of the built page is 688 px
# wide at the browser check's 1280 px viewport, 78 characters of its font
# (tools/browser_check.py measures the page itself).
OUTPUT_WIDTH = 78


@pytest.mark.parametrize("path", CHAPTERS, ids=ids)
def test_printed_lines_fit_the_page(path):
    too_long = []
    for i, cell in enumerate(load(path)["cells"]):
        for out in cell.get("outputs", []):
            if out["output_type"] == "stream":
                text = "".join(out["text"])
            elif "text/plain" in out.get("data", {}) and len(out["data"]) == 1:
                text = "".join(out["data"]["text/plain"])
            else:
                continue  # figures, widgets, HTML: measured in the browser
            too_long += [f"cell {i}: {line!r}" for line in text.splitlines()
                         if len(line) > OUTPUT_WIDTH]
    assert not too_long, "print it in lines that fit the page:\n" + "\n".join(
        too_long[:10])


def test_setup_cell_installs_glitlib(tmp_path):
    """Run the install path of the setup cell for real, offline.

    A fake ``google.colab`` module makes the cell believe it runs on Colab;
    ``GLITLIB_SOURCE`` points it at a copy of this repository; pip is kept
    off the network and away from the environment (``PIP_TARGET``).
    """
    cell = source(load(CHAPTERS[0])["cells"][1])
    src = copy_sources(tmp_path / "src")
    target = tmp_path / "target"
    fake_colab = (
        "import sys, types\n"
        "sys.modules['google'] = types.ModuleType('google')\n"
        "sys.modules['google.colab'] = types.ModuleType('google.colab')\n"
    )
    env = dict(
        os.environ,
        GLITLIB_SOURCE=str(src),
        PIP_NO_INDEX="1",
        PIP_NO_DEPS="1",
        PIP_NO_BUILD_ISOLATION="0",  # pip reads "0" as --no-build-isolation
        PIP_TARGET=str(target),
        PIP_DISABLE_PIP_VERSION_CHECK="1",
    )
    subprocess.run([sys.executable, "-c", fake_colab + cell], env=env, cwd=tmp_path,
                   check=True, timeout=600)
    assert (target / "glitlib" / "__init__.py").is_file()
    probe = subprocess.run(
        [sys.executable, "-c", "import glitlib; print(glitlib.__file__)"],
        env=dict(os.environ, PYTHONPATH=str(target)), cwd=tmp_path,
        capture_output=True, text=True, check=True, timeout=300,
    )
    assert Path(probe.stdout.strip()).resolve().is_relative_to(target.resolve())


def test_setup_cell_does_nothing_off_colab(tmp_path):
    cell = source(load(CHAPTERS[0])["cells"][1])
    env = dict(os.environ, GLITLIB_SOURCE="/nonexistent", PIP_NO_INDEX="1")
    done = subprocess.run([sys.executable, "-c", cell], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and not done.stdout and not done.stderr


def commands_in(markdown: str) -> list[list[str]]:
    """The command lines of the ```bash blocks of a Markdown text, as words."""
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", markdown, flags=re.S):
        for line in block.splitlines():
            line = line.split("#")[0].strip()
            if line:
                lines.append(line.split())
    return lines


def test_commands_the_intro_names_are_installed():
    """Every program intro.md tells a reader to run is in the venv that
    ``pip install -r requirements.txt`` made (JupyterLab, nbconvert, ...)."""
    bindir = Path(sys.executable).parent
    lines = commands_in((ROOT / "book" / "intro.md").read_text(encoding="utf-8"))
    assert [".venv/bin/jupyter", "lab", "book/"] in lines
    checked = set()
    for words in lines:
        program = words[0]
        if not program.startswith(".venv/bin/"):
            continue  # the python that creates the venv
        name = program.removeprefix(".venv/bin/")
        assert (bindir / name).is_file(), f"{name} is not installed in the venv"
        if name == "jupyter":  # `jupyter lab` runs the jupyter-lab program
            name = f"jupyter-{words[1]}"
            assert (bindir / name).is_file(), f"{name} is not installed in the venv"
        scripts = [w for w in words[1:] if w.endswith(".py")]
        for script in scripts:
            assert (ROOT / script).is_file(), f"{script} does not exist"
        checked.add(name)
    assert {"pip", "jupyter-lab", "python", "jupyter-book", "pytest"} <= checked
    for module in ("jupyterlab", "nbconvert", "nbclient", "ipykernel", "ipywidgets"):
        assert importlib.util.find_spec(module) is not None, f"{module} is not installed"
