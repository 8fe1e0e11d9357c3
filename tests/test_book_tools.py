"""The book's tools on small synthetic notebooks (no kernel needed)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import execute_notebooks  # noqa: E402
import stamp_colab  # noqa: E402

URL, BRANCH = "https://github.com/someone/somebook", "dev"


def bare_notebook() -> dict:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# 7. A chapter\n\nIts first paragraph."),
        nbformat.v4.new_code_cell("x = 1"),
    ]
    return json.loads(nbformat.writes(nb))


def test_stamp_adds_badge_and_setup_cells():
    nb = stamp_colab.stamp(bare_notebook(), "book/07_x.ipynb", URL, BRANCH)
    badge, setup, intro = nb["cells"][:3]
    link = "https://colab.research.google.com/github/someone/somebook/blob/dev/book/07_x.ipynb"
    assert "".join(badge["source"]).startswith("# 7. A chapter\n")
    assert f"]({link})" in "".join(badge["source"])
    assert badge["metadata"]["tags"] == ["colab-badge"]
    assert setup["metadata"]["tags"] == ["colab-setup", "hide-input"]
    assert "git+https://github.com/someone/somebook@dev" in "".join(setup["source"])
    assert "".join(intro["source"]) == "Its first paragraph."
    nbformat.validate(nbformat.from_dict(nb))


def test_stamp_is_idempotent_and_follows_the_config():
    once = stamp_colab.stamp(bare_notebook(), "book/07_x.ipynb", URL, BRANCH)
    twice = stamp_colab.stamp(json.loads(json.dumps(once)), "book/07_x.ipynb", URL, BRANCH)
    assert twice == once
    moved = stamp_colab.stamp(json.loads(json.dumps(once)), "book/07_x.ipynb", URL, "main")
    assert "/blob/main/" in "".join(moved["cells"][0]["source"])
    assert len(moved["cells"]) == len(once["cells"])


def test_problems_reports_errors_and_stderr():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("1/0"), nbformat.v4.new_code_cell("w")]
    nb.cells[0].outputs = [nbformat.v4.new_output(
        "error", ename="ZeroDivisionError", evalue="division by zero", traceback=[])]
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", name="stderr", text="Warn\n")]
    found = execute_notebooks.problems(nb)
    assert len(found) == 2 and "ZeroDivisionError" in found[0] and "Warn" in found[1]


def test_widget_ids_are_renumbered_stably():
    def notebook(a: str, b: str) -> nbformat.NotebookNode:
        nb = nbformat.v4.new_notebook()
        cell = nbformat.v4.new_code_cell("slider")
        cell.pop("id")
        nb.nbformat_minor = 4
        cell.outputs = [nbformat.v4.new_output(
            "display_data",
            data={"application/vnd.jupyter.widget-view+json": {"model_id": a}})]
        nb.cells = [cell]
        state = {
            b: {"model_name": "LayoutModel", "state": {}},
            a: {"model_name": "IntSliderModel", "state": {"layout": f"IPY_MODEL_{b}"}},
        }
        nb.metadata["widgets"] = {
            "application/vnd.jupyter.widget-state+json": {"state": state}}
        return nb

    first = notebook("ab" * 16, "cd" * 16)
    second = notebook("12" * 16, "34" * 16)
    for nb in (first, second):
        execute_notebooks.renumber_widgets(nb)
    assert nbformat.writes(first) == nbformat.writes(second)
    assert f"IPY_MODEL_{2:032x}" in nbformat.writes(first)


def test_progress_bars_are_dropped_with_their_models_only():
    """tqdm's notebook bar (an HBox of HTML, FloatProgress, HTML) is taken out
    of the outputs and of the saved state; a slider and what it shares stay."""
    ids = {name: f"{i:032x}" for i, name in enumerate(
        ("bar", "label", "progress", "slider", "layout", "link"), start=1)}
    ref = {name: f"IPY_MODEL_{model}" for name, model in ids.items()}
    state = {
        ids["bar"]: {"model_name": "HBoxModel", "state": {
            "children": [ref["label"], ref["progress"]], "layout": ref["layout"]}},
        ids["label"]: {"model_name": "HTMLModel", "state": {"value": "search: 10%"}},
        ids["progress"]: {"model_name": "FloatProgressModel", "state": {"value": 1}},
        ids["slider"]: {"model_name": "IntSliderModel", "state": {"layout": ref["layout"]}},
        ids["layout"]: {"model_name": "LayoutModel", "state": {}},
        ids["link"]: {"model_name": "LinkModel", "state": {"source": [ref["slider"], "v"]}},
    }
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("search()")
    view = "application/vnd.jupyter.widget-view+json"
    cell.outputs = [
        nbformat.v4.new_output("display_data", data={view: {"model_id": ids["bar"]}}),
        nbformat.v4.new_output("stream", name="stdout", text="found\n"),
        nbformat.v4.new_output("display_data", data={view: {"model_id": ids["slider"]}}),
    ]
    nb.cells = [cell]
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": state}}
    assert execute_notebooks.drop_progress_bars(nb) == 1
    assert [o.get("name") or o["data"][view]["model_id"] for o in cell.outputs] == [
        "stdout", ids["slider"]]
    left = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    assert set(left) == {ids["slider"], ids["layout"], ids["link"]}
    assert execute_notebooks.drop_progress_bars(nb) == 0
    only_bar = nbformat.v4.new_notebook()
    only_bar.cells = [nbformat.v4.new_code_cell("x")]
    only_bar.cells[0].outputs = [nbformat.v4.new_output(
        "display_data", data={view: {"model_id": ids["progress"]}})]
    only_bar.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {
        "state": {ids["progress"]: state[ids["progress"]]}}}
    assert execute_notebooks.drop_progress_bars(only_bar) == 1
    assert "widgets" not in only_bar.metadata and only_bar.cells[0].outputs == []


def test_streams_are_coalesced():
    outs = [nbformat.v4.new_output("stream", name="stdout", text="a\n"),
            nbformat.v4.new_output("stream", name="stdout", text="b\n"),
            nbformat.v4.new_output("stream", name="stderr", text="c\n")]
    merged = execute_notebooks.coalesce_streams(outs)
    assert [o["name"] for o in merged] == ["stdout", "stderr"]
    assert merged[0]["text"] == "a\nb\n"


def test_offline_assets_point_at_local_copies():
    """MathJax comes from the pip package, the widget manager from the repo."""
    import offline_assets

    folder = offline_assets.mathjax_dir()
    assert folder is not None, "pip install sphinx-mathjax-offline (requirements.txt)"
    assert (folder / "tex-mml-chtml.js").is_file()
    assert (offline_assets.WIDGETS / "embed.js").is_file()
    assert (offline_assets.WIDGETS / "LICENSE").is_file()

    class Config:
        html_static_path = ["_static"]
        mathjax_path = "https://cdn.example/mathjax.js"
        nb_ipywidgets_js = {"https://cdn.example/require.js": {}}
        html_js_files: list = []
        html_css_files: list = []

    config = Config()
    offline_assets.configure(None, config)
    assert config.mathjax_path == "mathjax/tex-mml-chtml.js"
    assert list(config.nb_ipywidgets_js) == ["html-manager/embed.js"]
    assert config.html_static_path == ["_static", str(offline_assets.WIDGETS.parent)]
    assert config.html_js_files == [("glit-widgets.js", {"defer": "defer"})]
    assert config.html_css_files == ["glit-widgets.css"]
    for name in ("glit-widgets.js", "glit-widgets.css"):
        assert (offline_assets.WIDGETS.parent / name).is_file()
    for font in offline_assets.WIDGETS.glob("*.woff2"):  # what embed.js asks for
        assert font.name in (offline_assets.WIDGETS / "embed.js").read_text()


def test_repeated_scripts_are_dropped_from_a_page():
    """Sphinx 7.4 lists an inline script registered late twice (filename None,
    then ''); the second ``const THEBE_JS_URL`` is a JavaScript error."""
    import offline_assets
    from sphinx.builders.html._assets import _JavaScript

    body = 'const THEBE_JS_URL = "x"'
    scripts = [_JavaScript("a.js"), _JavaScript(None, body=body),
               _JavaScript("", body=body), _JavaScript("a.js"), _JavaScript("b.js")]
    context = {"script_files": scripts}
    offline_assets.unique_scripts(None, "page", "page.html", context, None)
    assert [(s.filename, s.attributes.get("body")) for s in scripts] == [
        ("a.js", None), (None, body), ("b.js", None)]


def test_figures_are_drawn_by_their_script(tmp_path, monkeypatch):
    """Every SVG in book/figures is exactly what make_figures.py draws now
    (GLiT-Tiny's figure from glitlib's architecture), and chapters use them."""
    sys.path.insert(0, str(ROOT / "book" / "figures"))
    import make_figures

    monkeypatch.setattr(make_figures, "HERE", tmp_path)
    make_figures.main()
    drawn = sorted(p.name for p in tmp_path.glob("*.svg"))
    committed = sorted(p.name for p in (ROOT / "book" / "figures").glob("*.svg"))
    assert drawn == committed
    for name in drawn:
        assert (tmp_path / name).read_bytes() == (ROOT / "book" / "figures" / name).read_bytes(), (
            f"book/figures/{name} is stale: run book/figures/make_figures.py")
    chapters = "".join(p.read_text(encoding="utf-8")
                       for p in (ROOT / "book").glob("[0-9]*.ipynb"))
    for name in drawn:  # every figure teaches somewhere
        assert f"figures/{name}" in chapters, f"no chapter shows {name}"
