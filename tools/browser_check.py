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
* the page asked for nothing outside the built site (the Colab badge aside);
* on chapter pages every link to Colab opens ``.../blob/<branch>/book/<chapter>.ipynb``
  with the repository and branch of ``_config.yml`` (the badge in the text and
  the launch button in the header).

It saves screenshots (``SCREENSHOTS``): the first chapter, a formula-heavy
section and a widget. Needs Chromium (Debian: ``apt-get install chromium``)
and the ``playwright`` Python package; no browser is downloaded.

Nothing is fetched from the network: requests that leave the built site are
refused and reported, except the Colab badge image, which is answered with a
local copy (``tools/colab-badge.svg``) so that the check runs offline.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from stamp_colab import BADGE_SVG, colab_url, repository  # noqa: E402

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
# (page, what to scroll into view before the screenshot or None for the top,
#  file name): the first chapter, a formula-heavy section, a widget.
SCREENSHOTS = [
    ("book/01_tokens", None, "01_tokens"),
    ("book/02_global_head", "#the-idea", "02_formulas"),
    ("book/03_local_head", ".widget-subarea", "03_widget"),
]
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
        for doc in toc_pages():
            target = html / f"{doc}.html"
            if not target.is_file():
                problems.append(f"{doc}: {target} was not built")
                continue
            current[0] = doc
            page.goto(target.as_uri(), wait_until="load")
            if not page.title().strip():
                problems.append(f"{doc}: empty title")
            found = check_page(page, doc)
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
            print(f"{doc}: {n_images} image(s), {n_math} formula(s) typeset, "
                  f"{n_widgets} widget(s) drawn, {len(found)} problem(s)")
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
