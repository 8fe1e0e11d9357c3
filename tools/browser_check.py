"""Open the built book in headless Chromium and check every page.

Usage::

    .venv/bin/jupyter-book build . -W -n --keep-going
    .venv/bin/python tools/browser_check.py [--html _build/html]
        [--screenshots _build/screenshots]

For every page of ``_toc.yml``, once MathJax has finished and the widget
manager has drawn the widgets:

* the page has a title and every image on it has loaded (``naturalWidth > 0``);
* no formula is left as raw LaTeX (``\\( ... \\)``, ``\\[ ... \\]``, ``$$``)
  anywhere outside code: text, headings and the side navigation;
* every widget area (a saved ``ipywidgets`` view) has been drawn and is not
  empty;
* no output cell is wider than the page (a printed line that does not fit
  makes its output scroll sideways);
* the page raised no JavaScript error and every file it asked for exists;
* the interactive figures work without Python (``glitlib.studies.page``): on
  chapter 7 a slider, a preset and a click on a block change the params, the
  MACs (equal to ``glitlib.count``) and the drawn network; on chapter 9 the
  replay's slider and play button change the caption, the points and the best
  so far together; on chapters 3 and 4 the picture follows the sliders;
* the page asked for nothing outside the built site (the Colab badge aside);
* on chapter pages every link to Colab opens ``.../blob/<branch>/book/<chapter>.ipynb``
  with the repository and branch of ``_config.yml`` (the badge in the text and
  the launch button in the header).

It saves screenshots (``SCREENSHOTS``): the first chapter, a formula-heavy
section and a widget, and each interactive figure after it was driven. Needs
Chromium (Debian: ``apt-get install chromium``) and the ``playwright`` Python
package; no browser is downloaded.

Nothing is fetched from the network: requests that leave the built site are
refused and reported, except the Colab badge image, which is answered with a
local copy (``tools/colab-badge.svg``) so that the check runs offline.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from stamp_colab import BADGE_SVG, colab_url, repository  # noqa: E402

sys.path.insert(0, str(ROOT))

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
# (page, what to scroll into view before the screenshot or None for the top,
#  file name): the first chapter, a formula-heavy section, a widget.
SCREENSHOTS = [
    ("book/01_tokens", None, "01_tokens"),
    ("book/02_global_head", "#the-idea", "02_formulas"),
    ("book/03_local_head", ".glit-page-figure", "03_widget"),
]
# The interactive figures each chapter must show (glitlib.studies.page), by kind.
FIGURES = {
    "book/03_local_head": ["window"],
    "book/04_global_local": ["bars"],
    "book/07_counting": ["explorer"],
    "book/09_evolution": ["replay"],
}
WIDGET_VIEW = 'script[type="application/vnd.jupyter.widget-view+json"]'
# How long a page may take to typeset its formulas and draw its widgets.
RENDER_TIMEOUT_MS = 30_000

# Resolves once MathJax has typeset the page (at once if there is no MathJax).
MATH_DONE = """() => (window.MathJax && MathJax.startup && MathJax.startup.promise)
    ? MathJax.startup.promise.then(() => true) : true"""
# True once every saved widget view has a drawn, non-empty widget area: the
# widget manager inserts a .widget-subarea right before the view's script.
WIDGETS_DRAWN = """(selector) => Array.from(document.querySelectorAll(selector))
    .every(s => { const a = s.previousElementSibling;
                  return a && a.classList.contains('widget-subarea')
                      && a.childElementCount > 0
                      && a.getBoundingClientRect().height > 0; })"""
# Text outside code that still holds a LaTeX delimiter: a formula MathJax
# did not typeset (in the text, the headings or the side navigation).
RAW_LATEX = r"""() => {
  const out = [];
  const skip = 'pre, code, script, style, textarea, mjx-container';
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode, el = node.parentElement;
    if (!el || el.closest(skip)) continue;
    if (/\\\(|\\\[|\$\$/.test(node.nodeValue))
      out.push(node.nodeValue.trim().slice(0, 60));
  }
  return out;
}"""
BROKEN_IMAGES = """() => Array.from(document.images)
    .filter(i => !(i.complete && i.naturalWidth > 0))
    .map(i => i.getAttribute('src'))"""
# Output cells (and interactive figures) wider than the column they sit in:
# the element's content is wider than its box, so it scrolls sideways.
OVERFLOW = """() => {
  const out = [];
  const sel = '.cell_output pre, .cell_output .text_html, .glit-page-figure';
  for (const el of document.querySelectorAll(sel)) {
    if (el.scrollWidth <= el.clientWidth + 1 || el.clientWidth === 0) continue;
    const lines = (el.innerText || '').split('\\n');
    const longest = lines.reduce((a, b) => (b.length > a.length ? b : a), '');
    out.push([el.scrollWidth, el.clientWidth, longest.trim().slice(0, 90)]);
  }
  return out;
}"""
FIGURE_DATA = """el => JSON.parse(el.querySelector('script[type="application/json"]')
    .textContent)"""


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


def toc_pages() -> list[str]:
    """Every document of ``_toc.yml``, root first, without suffix."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    pages = [toc["root"]]
    for part in toc.get("parts", []):
        for chapter in part.get("chapters", []):
            pages.append(chapter["file"])
    return pages


def check_page(page, doc: str, timeout_ms: int = RENDER_TIMEOUT_MS) -> list[str]:
    """Problems of the page loaded in ``page``: raw LaTeX, empty widget areas,
    broken images. Waits for MathJax and the widget manager to finish first."""
    problems: list[str] = []
    page.evaluate(MATH_DONE)
    n_widgets = page.locator(WIDGET_VIEW).count()
    if n_widgets:
        try:
            page.wait_for_function(WIDGETS_DRAWN, arg=WIDGET_VIEW, timeout=timeout_ms)
        except Exception:  # playwright's TimeoutError: report, do not stop
            problems.append(f"{doc}: widget area(s) left empty "
                            f"({n_widgets} saved widget view(s))")
    for text in page.evaluate(RAW_LATEX):
        problems.append(f"{doc}: raw LaTeX on the page: {text!r}")
    for src in page.evaluate(BROKEN_IMAGES):
        problems.append(f"{doc}: image did not load: {src}")
    return problems


def watch(page) -> dict[str, list[str]]:
    """Collect the page's JavaScript errors and the files it asked for in vain.

    Returns lists that fill as pages load (clear them between pages).
    """
    seen: dict[str, list[str]] = {"errors": [], "missing": []}
    page.on("pageerror", lambda err: seen["errors"].append(str(err).splitlines()[0]))

    def failed(request):
        if request.url.startswith("file://"):
            seen["missing"].append(request.url.split("?")[0])

    page.on("requestfailed", failed)
    return seen


def overflow(page, doc: str) -> list[str]:
    """Output cells that do not fit the page's width."""
    return [f"{doc}: output wider than the page ({wide} px in {box} px): {line!r}"
            for wide, box, line in page.evaluate(OVERFLOW)]


# -- the interactive figures ---------------------------------------------------
def _set_range(page, locator, value: int) -> None:
    """Move a range input to ``value`` as a reader would (the input event)."""
    locator.evaluate("(el, v) => { el.value = String(v); "
                     "el.dispatchEvent(new Event('input', {bubbles: true})); }", value)


def _expected_cost(data: dict, preset: dict, dist: list[int]) -> tuple[int, int] | None:
    """glitlib's exact params and MACs of ``preset`` with G per block ``dist``
    (None where glitlib does not know the preset's space)."""
    from glitlib.model.arch import Arch, BlockArch
    from glitlib.model.costs import count
    from glitlib.model.space import SPACES
    from glitlib.studies.explorer import with_distribution

    space = SPACES.get(preset["space"])
    if space is None or space.depth != len(preset["blocks"]):
        return None
    base = Arch(tuple(BlockArch(*b) for b in preset["blocks"]))
    cost = count(space, with_distribution(space, base, dist))
    return cost.params, cost.macs


def _explorer_state(fig) -> dict[str, Any]:
    return fig.evaluate("""f => ({
        params: f.querySelector('.glit-params')?.textContent,
        macs: f.querySelector('.glit-macs')?.textContent,
        sliders: Array.from(f.querySelectorAll('.glit-sliders input'))
            .map(i => Number(i.value)),
        drawn: Array.from(f.querySelectorAll('.glit-block')).map(
            b => b.querySelectorAll('.glit-head-global').length),
        svg: f.querySelector('svg')?.outerHTML})""")


def drive_explorer(fig, doc: str) -> list[str]:
    """Move a slider, click a block, pick each preset: numbers and picture must follow."""
    problems: list[str] = []
    data = fig.evaluate(FIGURE_DATA)
    page = fig.page

    def agree(what: str, preset: dict, dist: list[int]) -> dict[str, Any]:
        state = _explorer_state(fig)
        if state["sliders"] != dist:
            problems.append(f"{doc}: explorer, {what}: sliders {state['sliders']} "
                            f"!= {dist}")
        if state["drawn"] != dist:
            problems.append(f"{doc}: explorer, {what}: the picture shows global heads "
                            f"{state['drawn']}, not {dist}")
        expected = _expected_cost(data, preset, dist)
        if expected is not None:
            shown = (state["params"], state["macs"])
            want = (f"{expected[0]:,d}", f"{expected[1]:,d}")
            if shown != want:
                problems.append(f"{doc}: explorer, {what}: shows params, MACs {shown}, "
                                f"glitlib.count gives {want}")
        return state

    names = [p["name"] for p in data["presets"]]
    preset = data["presets"][names.index(data["initial"])]
    fig.locator("select.glit-preset").select_option(str(names.index(data["initial"])))
    dist = [b[0] for b in preset["blocks"]]
    before = agree("as loaded", preset, dist)
    n = data["spaces"][preset["space"]]["num_heads"]
    # a slider
    dist[0] = (dist[0] + 1) % (n + 1)
    _set_range(page, fig.locator(".glit-sliders input").nth(0), dist[0])
    after = agree("slider of block 0 moved", preset, dist)
    if (after["macs"], after["svg"]) == (before["macs"], before["svg"]):
        problems.append(f"{doc}: explorer: moving a slider changed neither the MACs "
                        "nor the picture")
    # a click on a block of the picture
    i = min(5, len(dist) - 1)
    dist[i] = (dist[i] + 1) % (n + 1)
    fig.locator(f'.glit-block[data-block="{i}"]').click(timeout=5000)
    clicked = agree(f"block {i} clicked", preset, dist)
    if clicked["svg"] == after["svg"]:
        problems.append(f"{doc}: explorer: clicking block {i} did not redraw the network")
    # every preset from the menu, then back to the first one, edited again
    for k, other in enumerate(data["presets"]):
        fig.locator("select.glit-preset").select_option(str(k))
        agree(f"preset {other['name']!r}", other, [b[0] for b in other["blocks"]])
    fig.locator("select.glit-preset").select_option(str(names.index(data["initial"])))
    _set_range(page, fig.locator(".glit-sliders input").nth(0), dist[0])
    fig.locator(f'.glit-block[data-block="{i}"]').click(timeout=5000)
    agree("back to the first preset, edited again", preset, dist)
    return problems


def drive_replay(fig, doc: str) -> list[str]:
    """Step the replay: caption, points and best so far must show the same generation."""
    problems: list[str] = []
    data = fig.evaluate(FIGURE_DATA)
    last = len(data["frames"]) - 1

    def agree(what: str, g: int) -> dict[str, Any]:
        state = fig.evaluate("""f => ({
            caption: f.querySelector('.glit-caption')?.textContent,
            slider: Number(f.querySelector('input.glit-generation')?.value),
            children: f.querySelectorAll('.glit-children circle').length,
            parents: f.querySelectorAll('.glit-parents circle').length,
            earlier: f.querySelectorAll('.glit-earlier circle').length,
            best: f.querySelector('.glit-best')?.dataset.index,
            now: f.querySelector('.glit-curve-now')?.getAttribute('points'),
            svg: f.querySelector('svg')?.outerHTML})""")
        frame = data["frames"][g]
        want = {"caption": frame["caption"], "slider": g,
                "children": len(frame["children"]), "parents": len(frame["parents"]),
                "earlier": frame["earlier"], "best": str(frame["best"])}
        for key, value in want.items():
            if state[key] != value:
                problems.append(f"{doc}: replay, {what}: {key} is {state[key]!r}, "
                                f"generation {g} has {value!r}")
        return state

    start = agree("as loaded", data["start"])
    slider = fig.locator("input.glit-generation")
    _set_range(fig.page, slider, 0)
    first = agree("slider at 0", 0)
    if last > 0:
        if first["now"] == start["now"] and data["start"] != 0:
            problems.append(f"{doc}: replay: the best-so-far marker did not move")
        _set_range(fig.page, slider, 1)
        agree("slider at 1", 1)
        _set_range(fig.page, slider, 0)
        fig.locator("button.glit-play").click(timeout=5000)
        try:
            fig.page.wait_for_function(
                "f => f.dataset.generation !== '0'", arg=fig.element_handle(),
                timeout=5000)
            g = int(fig.evaluate("f => f.dataset.generation"))
            fig.locator("button.glit-play").click(timeout=5000)  # pause
            g = int(fig.evaluate("f => f.dataset.generation"))
            agree("after play", g)
        except Exception:  # playwright's TimeoutError
            problems.append(f"{doc}: replay: the play button did not step")
    return problems


def drive_window(fig, doc: str) -> list[str]:
    """Move the token and kernel sliders: the covered tokens must follow."""
    problems: list[str] = []
    data = fig.evaluate(FIGURE_DATA)
    before = fig.evaluate("f => f.querySelector('svg').outerHTML")
    for t, ki in ((data["tokens"] - 1, 0), (1, len(data["ks"]) - 1), (data["m"] + 3, 1)):
        _set_range(fig.page, fig.locator("input.glit-token"), t)
        _set_range(fig.page, fig.locator("input.glit-k"), ki)
        k = data["ks"][ki]
        lo, hi = data["windows"][str(k)][t]
        state = fig.evaluate("""f => ({covered: f.querySelectorAll('.glit-covered').length,
            title: f.querySelector('.glit-title').textContent,
            red: Array.from(f.querySelectorAll('rect'))
                .filter(r => r.getAttribute('fill') === '#d62728').length})""")
        want = {"covered": hi - lo + 1, "red": 1,
                "title": f"token {t}, K = {k}: {hi - lo + 1} tokens"}
        for key, value in want.items():
            if state[key] != value:
                problems.append(f"{doc}: window, token {t}, K = {k}: {key} is "
                                f"{state[key]!r}, expected {value!r}")
    if fig.evaluate("f => f.querySelector('svg').outerHTML") == before:
        problems.append(f"{doc}: window: the picture did not change")
    return problems


def drive_bars(fig, doc: str) -> list[str]:
    """Move every slider: the chart must be the precomputed one of the new values."""
    problems: list[str] = []
    data = fig.evaluate(FIGURE_DATA)
    chosen = {c["name"]: c["values"].index(c["value"]) for c in data["controls"]}
    before = fig.evaluate("f => f.querySelector('svg').outerHTML")
    for c in data["controls"]:
        chosen[c["name"]] = (chosen[c["name"]] + 1) % len(c["values"])
        _set_range(fig.page, fig.locator(f'input[data-name="{c["name"]}"]'),
                   chosen[c["name"]])
        values = [str(d["values"][chosen[d["name"]]]) for d in data["controls"]]
        frame = data["frames"]["|".join(values)]
        state = fig.evaluate("""f => ({title: f.querySelector('.glit-title').textContent,
            bars: f.querySelectorAll('.glit-hbar').length})""")
        want = {"title": frame["title"], "bars": len(frame["bars"])}
        for key, value in want.items():
            if state[key] != value:
                problems.append(f"{doc}: bars, {c['name']} moved: {key} is "
                                f"{state[key]!r}, expected {value!r}")
    if fig.evaluate("f => f.querySelector('svg').outerHTML") == before:
        problems.append(f"{doc}: bars: the picture did not change")
    return problems


DRIVERS = {"explorer": drive_explorer, "replay": drive_replay, "window": drive_window,
           "bars": drive_bars}


def drive_figures(page, doc: str, expected: list[str] = (),
                  screenshots: Path | None = None) -> list[str]:
    """Drive every interactive figure of the page; each kind in ``expected`` must
    be there and drawn. Saves each figure's picture to ``screenshots``."""
    problems: list[str] = []
    figures = page.locator(".glit-page-figure")
    kinds = [figures.nth(i).get_attribute("data-kind") for i in range(figures.count())]
    for kind in expected:
        if kind not in kinds:
            problems.append(f"{doc}: no interactive {kind} figure on the page")
    for i, kind in enumerate(kinds):
        fig = figures.nth(i)
        if fig.get_attribute("data-ready") != "1":
            problems.append(f"{doc}: the {kind} figure was not drawn (its script "
                            "did not run)")
            continue
        try:
            problems += DRIVERS[kind](fig, doc)
        except Exception as err:  # a missing control: report, go on
            problems.append(f"{doc}: {kind} figure: {type(err).__name__}: "
                            f"{str(err).splitlines()[0]}")
        if screenshots is not None:
            screenshots.mkdir(parents=True, exist_ok=True)
            shot = screenshots / f"{Path(doc).name[:2]}_{kind}.png"
            fig.scroll_into_view_if_needed()
            fig.screenshot(path=str(shot))
            print(f"    screenshot: {shot}")
    return problems


def check(html: Path, screenshots: Path | None = None) -> list[str]:
    """Check the built site under ``html``; return a list of problems."""
    from playwright.sync_api import sync_playwright

    url, branch, path_to_book = repository()
    badge = (ROOT / "tools" / "colab-badge.svg").read_bytes()
    problems: list[str] = []
    external: dict[str, set[str]] = {}
    current = [""]

    def route(request_route, request):
        if request.url.startswith(("file://", "data:", "blob:")):
            return request_route.continue_()
        if request.url == BADGE_SVG:
            return request_route.fulfill(status=200, body=badge,
                                         content_type="image/svg+xml")
        external.setdefault(request.url.split("?")[0], set()).add(current[0])
        return request_route.abort()

    exe = chromium_path()
    if exe is None:
        return ["chromium not found (Debian: apt-get install chromium)"]
    shots = {doc: (selector, name) for doc, selector, name in SCREENSHOTS}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.route("**/*", route)
        seen = watch(page)
        for doc in toc_pages():
            target = html / f"{doc}.html"
            if not target.is_file():
                problems.append(f"{doc}: {target} was not built")
                continue
            current[0] = doc
            seen["errors"].clear()
            seen["missing"].clear()
            page.goto(target.as_uri(), wait_until="load")
            if not page.title().strip():
                problems.append(f"{doc}: empty title")
            found = check_page(page, doc)
            found += overflow(page, doc)
            found += drive_figures(page, doc, FIGURES.get(doc, []), screenshots)
            page.wait_for_timeout(100)  # late errors and requests
            found += [f"{doc}: JavaScript error: {e}" for e in seen["errors"]]
            found += [f"{doc}: asked for a file that does not exist: {m}"
                      for m in sorted(set(seen["missing"]))]
            problems += found
            name = Path(doc).name
            if name[:2].isdigit():
                notebook = f"{path_to_book.strip('/')}/{doc}.ipynb".lstrip("/")
                expected = colab_url(url, branch, notebook)
                links = page.evaluate(
                    """() => Array.from(document.querySelectorAll('a[href]'))
                          .map(a => a.href)
                          .filter(h => h.includes('colab.research.google.com'))"""
                )
                if len(links) < 2:
                    problems.append(f"{doc}: expected a Colab badge and a launch "
                                    f"button, found {len(links)} Colab link(s)")
                for link in links:
                    if link != expected:
                        problems.append(f"{doc}: Colab link {link} != {expected}")
            n_images = page.evaluate("() => document.images.length")
            n_math = page.locator("mjx-container").count()
            n_widgets = page.locator(".widget-subarea").count()
            n_figures = page.locator(".glit-page-figure").count()
            print(f"{doc}: {n_images} image(s), {n_math} formula(s) typeset, "
                  f"{n_widgets} widget(s) drawn, {n_figures} interactive figure(s), "
                  f"{len(found)} problem(s)")
            if screenshots is not None and doc in shots:
                selector, shot_name = shots[doc]
                screenshots.mkdir(parents=True, exist_ok=True)
                shot = screenshots / f"{shot_name}.png"
                target_el = page.locator(selector) if selector else None
                if target_el is not None and target_el.count():
                    target_el.first.evaluate(  # clear of the page header
                        "el => { el.scrollIntoView({block: 'start'}); window.scrollBy(0, -60); }")
                elif target_el is not None:
                    problems.append(f"{doc}: nothing matches {selector!r} for the "
                                    "screenshot")
                page.screenshot(path=str(shot), full_page=False)
                print(f"    screenshot: {shot}")
        browser.close()
    for address, docs in sorted(external.items()):
        problems.append(f"{', '.join(sorted(docs))}: needs the network: {address}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--html", type=Path, default=ROOT / "_build" / "html")
    parser.add_argument("--screenshots", type=Path,
                        default=ROOT / "_build" / "screenshots")
    args = parser.parse_args(argv)
    problems = check(args.html.resolve(), args.screenshots.resolve())
    for line in problems:
        print("PROBLEM:", line)
    print("ok" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
