"""Open the built book in headless Chromium and check every page.

Usage::

    .venv/bin/jupyter-book build . -W -n --keep-going
    .venv/bin/python tools/browser_check.py [--html _build/html]
        [--screenshots _build/screenshots]

For every page of ``_toc.yml``: the page loads, every image on it has
loaded (``naturalWidth > 0``), and on chapter pages every link to Colab
opens ``.../blob/<branch>/book/<chapter>.ipynb`` with the repository and
branch of ``_config.yml`` (the badge in the text and the launch button in
the header). It saves screenshots of the first chapter and of the local-head
chapter. Needs Chromium (Debian: ``apt-get install chromium``) and the
``playwright`` Python package; no browser is downloaded.

Nothing is fetched from the network: requests that leave the built site are
refused, except the Colab badge image, which is answered with a local copy
(``tools/colab-badge.svg``) so that the check runs offline.
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
# page -> what to scroll into view before the screenshot (None: the top)
SCREENSHOT_PAGES = {
    "book/01_tokens": None,
    "book/03_local_head": "#why-1d-and-what-the-kernel-sees img",
}


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


def check(html: Path, screenshots: Path | None = None) -> list[str]:
    """Check the built site under ``html``; return a list of problems."""
    from playwright.sync_api import sync_playwright

    url, branch, path_to_book = repository()
    badge = (ROOT / "tools" / "colab-badge.svg").read_bytes()
    problems: list[str] = []
    external: set[str] = set()

    def route(request_route, request):
        if request.url.startswith("file://"):
            return request_route.continue_()
        if request.url == BADGE_SVG:
            return request_route.fulfill(status=200, body=badge,
                                         content_type="image/svg+xml")
        external.add(request.url.split("?")[0])
        return request_route.abort()

    exe = chromium_path()
    if exe is None:
        return ["chromium not found (Debian: apt-get install chromium)"]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.route("**/*", route)
        for doc in toc_pages():
            target = html / f"{doc}.html"
            if not target.is_file():
                problems.append(f"{doc}: {target} was not built")
                continue
            page.goto(target.as_uri(), wait_until="load")
            if not page.title().strip():
                problems.append(f"{doc}: empty title")
            broken = page.evaluate(
                """() => Array.from(document.images)
                      .filter(i => !(i.complete && i.naturalWidth > 0))
                      .map(i => i.getAttribute('src'))"""
            )
            n_images = page.evaluate("() => document.images.length")
            for src in broken:
                problems.append(f"{doc}: image did not load: {src}")
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
            print(f"{doc}: {n_images} image(s), {len(broken)} broken")
            if screenshots is not None and doc in SCREENSHOT_PAGES:
                screenshots.mkdir(parents=True, exist_ok=True)
                shot = screenshots / f"{name}.png"
                selector = SCREENSHOT_PAGES[doc]
                if selector:
                    page.locator(selector).first.scroll_into_view_if_needed()
                page.screenshot(path=str(shot), full_page=False)
                print(f"    screenshot: {shot}")
        browser.close()
    if external:
        print("refused (offline):", ", ".join(sorted(external)))
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
