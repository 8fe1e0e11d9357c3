"""The interactive figures of the book's web page (glitlib.studies.page and
book/_static/glit-widgets.js): what Python exports, summed the way the page
sums it, equals glitlib's exact counter; and the page script, driven in
Chromium, shows exactly that.

The Chromium tests load a small page with the figures' HTML and the shipped
script (no book build needed); ``tests/test_book_html.py`` drives the built
chapters themselves.
"""

from __future__ import annotations

import importlib.util
import json
import os
import random
import sys
from pathlib import Path

import pytest

import glitlib
from glitlib.studies import explorer as ex
from glitlib.studies import page, replay

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import browser_check  # noqa: E402

SEARCH = ROOT / "data" / "digits_search"
RESULTS = [SEARCH / "arch.json"]
SCRIPT = ROOT / "book" / "_static" / "glit-widgets.js"
STYLE = ROOT / "book" / "_static" / "glit-widgets.css"


def js_sum(data: dict, preset: dict, dist: list[int]) -> tuple[int, int]:
    """The page script's arithmetic, written again from the exported JSON alone:
    the fill rule (withG) and the sum over the cost table (total)."""
    space = data["spaces"][preset["space"]]
    n, mid = space["num_heads"], space["middle"]
    params, macs = space["stem"]
    for b, g in zip(preset["blocks"], dist):
        if g != b[0]:
            b = [g,
                 (b[1] if b[1] is not None else mid["d_k"]) if g > 0 else None,
                 b[2],
                 (b[3] if b[3] is not None else mid["e"]) if g < n else None,
                 (b[4] if b[4] is not None else mid["k"]) if g < n else None]
        key = ",".join("-" if v is None else str(v) for v in b)
        p, m = space["costs"][key]
        params, macs = params + p, macs + m
    return params, macs


def sample(data: dict, preset: dict, n: int, seed: int) -> list[list[int]]:
    space = data["spaces"][preset["space"]]
    rng = random.Random(seed)
    return [[rng.randrange(space["num_heads"] + 1) for _ in range(space["depth"])]
            for _ in range(n)]


@pytest.fixture(scope="module")
def explorer_data() -> dict:
    return ex.page_data("GLiT-Tiny", RESULTS)


def test_exported_tables_summed_as_the_page_does_equal_count(explorer_data):
    """200 random distributions per preset (seeded): the page's sum is glitlib.count."""
    options = ex.presets(RESULTS)
    assert [p["name"] for p in explorer_data["presets"]] == list(options)
    checked = 0
    for i, preset in enumerate(explorer_data["presets"]):
        space, arch = options[preset["name"]]
        for dist in sample(explorer_data, preset, 200, seed=i):
            cost = glitlib.count(space, ex.with_distribution(space, arch, dist))
            assert js_sum(explorer_data, preset, dist) == (cost.params, cost.macs)
            checked += 1
    assert checked == 600
    ref = explorer_data["spaces"]["tiny"]["reference"]
    deit = {"space": "tiny", "blocks": ref["blocks"]}
    assert js_sum(explorer_data, deit, [3] * 12) == (5_717_416, 1_253_683_200)


def test_page_data_is_plain_json_and_deterministic(explorer_data):
    text = json.dumps(explorer_data, sort_keys=True)
    assert json.loads(text) == explorer_data
    assert ex.page_data("GLiT-Tiny", RESULTS) == explorer_data
    assert explorer_data["initial"] == "GLiT-Tiny"
    assert set(explorer_data["spaces"]) == {"tiny", "digits"}
    with pytest.raises(glitlib.ArchitectureError, match="unknown preset"):
        ex.page_data("GLiT-Huge")


def test_html_carries_the_data_and_never_closes_its_script_early():
    data = {"text": "</script><b>", "n": [1, 2]}
    element = page.html("bars", data)
    assert element.count("</script>") == 1
    assert page.read(element) == ("bars", data)
    with pytest.raises(ValueError, match="unknown page figure"):
        page.html("movie", {})


def test_widgets_display_with_their_page_version():
    """One output: the widget view for Jupyter, text/html for the web page."""
    pytest.importorskip("ipywidgets")
    ui = ex.explorer("DeiT-Tiny")
    bundle = ui._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    kind, data = page.read(bundle["text/html"])
    assert kind == "explorer" and data["initial"] == "DeiT-Tiny"
    assert len(ui.children) == 7  # the live widget is unchanged


@pytest.fixture(scope="module")
def frames():
    return replay.load_frames(SEARCH / "stage2" / "search.json")


def test_replay_page_data_holds_every_frame(frames):
    frames, limit = frames
    data = replay.page_data(frames, limit)
    everything = frames[-1].population
    assert len(data["points"]) == len(everything)
    assert data["start"] == len(frames) - 1
    for g, (f, row) in enumerate(zip(frames, data["frames"])):
        assert row["caption"] == replay.caption(frames, g)
        assert row["earlier"] == len(f.earlier)
        assert [everything[i] for i in row["children"]] == list(f.children)
        assert [everything[i] for i in row["parents"]] == list(f.parents)
        assert everything[row["best"]] == f.best
        assert row["best_score"] == round(100 * f.best.score, 4)
    with pytest.raises(glitlib.ReplayError, match="generation 99"):
        replay.page_data(frames, limit, generation=99)


# -- in Chromium -------------------------------------------------------------------
def _browser():
    if browser_check.chromium_path() is None or importlib.util.find_spec("playwright") is None:
        reason = "chromium or the playwright package is missing"
        if os.environ.get("GLIT_REQUIRE_BROWSER"):
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    return sync_playwright()


def harness(folder: Path, *elements: str, script: Path | None = SCRIPT) -> Path:
    """A page with the figures' elements, the page script and its stylesheet."""
    tags = f'<link rel="stylesheet" href="{STYLE.as_uri()}">'
    if script is not None:
        tags += f'<script defer src="{script.as_uri()}"></script>'
    target = folder / "figures.html"
    target.write_text(f"<!doctype html><html><head><title>figures</title>{tags}</head>"
                      f"<body style='width: 760px'>{''.join(elements)}</body></html>",
                      encoding="utf-8")
    return target


def _open(pw, target: Path):
    browser = pw.chromium.launch(executable_path=browser_check.chromium_path(),
                                 args=browser_check.CHROMIUM_ARGS)
    page_ = browser.new_page(viewport={"width": 900, "height": 1000})
    seen = browser_check.watch(page_)
    page_.goto(target.as_uri(), wait_until="load")
    return browser, page_, seen


def test_the_page_explorer_shows_count_for_random_distributions(explorer_data, tmp_path):
    """Drive the real page script: set every slider to 20 random distributions per
    preset and read params and MACs off the page."""
    with _browser() as pw:
        browser, p, seen = _open(pw, harness(tmp_path, page.html("explorer",
                                                                 explorer_data)))
        fig = p.locator(".glit-page-figure")
        options = ex.presets(RESULTS)
        for i, preset in enumerate(explorer_data["presets"]):
            fig.locator("select.glit-preset").select_option(str(i))
            space, arch = options[preset["name"]]
            for dist in sample(explorer_data, preset, 20, seed=100 + i):
                fig.evaluate("""(f, dist) => f.querySelectorAll('.glit-sliders input')
                    .forEach((s, j) => { s.value = String(dist[j]);
                        s.dispatchEvent(new Event('input')); })""", dist)
                cost = glitlib.count(space, ex.with_distribution(space, arch, dist))
                shown = fig.evaluate("f => [f.querySelector('.glit-params').textContent,"
                                     " f.querySelector('.glit-macs').textContent,"
                                     " f.dataset.distribution]")
                assert shown == [f"{cost.params:,d}", f"{cost.macs:,d}",
                                 ",".join(map(str, dist))]
        # and the check that the built book runs passes on it
        assert browser_check.drive_figures(p, "harness", ["explorer"]) == []
        browser.close()
    assert seen["errors"] == [] and seen["missing"] == []


def test_the_page_replay_steps_through_generations(frames, tmp_path):
    frames, limit = frames
    with _browser() as pw:
        browser, p, seen = _open(pw, harness(tmp_path, page.html(
            "replay", replay.page_data(frames, limit))))
        fig = p.locator(".glit-page-figure")
        for g in (0, 3, len(frames) - 1):
            browser_check._set_range(p, fig.locator("input.glit-generation"), g)
            caption = fig.locator(".glit-caption").text_content()
            assert caption == replay.caption(frames, g)
            assert fig.locator(".glit-children circle").count() == len(frames[g].children)
        assert browser_check.drive_figures(p, "harness", ["replay"]) == []
        browser.close()
    assert seen["errors"] == [] and seen["missing"] == []


def test_the_figure_checks_fail_when_the_page_does_not_follow(explorer_data, tmp_path):
    """No script: the figures are reported as not drawn. A cost table that lies:
    the explorer's numbers are reported as not glitlib.count's. A replay whose
    slider leaves the caption behind: reported."""
    frames_, limit = replay.load_frames(SEARCH / "stage2" / "search.json")
    replay_data = replay.page_data(frames_, limit)
    lying = json.loads(json.dumps(explorer_data))
    tiny = lying["spaces"]["tiny"]["costs"]
    key = next(iter(tiny))
    tiny[key] = [tiny[key][0], tiny[key][1] + 1]
    stale = SCRIPT.read_text(encoding="utf-8").replace(
        "caption.textContent = f.caption;", "caption.textContent = data.frames["
        "data.start].caption;")
    (tmp_path / "stale.js").write_text(stale, encoding="utf-8")
    with _browser() as pw:
        browser, p, _ = _open(pw, harness(tmp_path, page.html("explorer", explorer_data),
                                          script=None))
        missing = browser_check.drive_figures(p, "bare", ["explorer", "replay"])
        p.goto(harness(tmp_path, page.html("explorer", lying)).as_uri())
        wrong = browser_check.drive_figures(p, "lying", ["explorer"])
        p.goto(harness(tmp_path, page.html("replay", replay_data),
                       script=tmp_path / "stale.js").as_uri())
        behind = browser_check.drive_figures(p, "stale", ["replay"])
        browser.close()
    assert "bare: no interactive replay figure on the page" in missing
    assert "bare: the explorer figure was not drawn (its script did not run)" in missing
    assert any("glitlib.count gives" in line for line in wrong), wrong
    assert any("replay, slider at 0: caption is" in line for line in behind), behind
