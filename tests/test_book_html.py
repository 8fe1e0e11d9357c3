"""Build the book and look at it in headless Chromium.

Skipped when Chromium or the ``playwright`` package is missing, except in CI
(``GLIT_REQUIRE_BROWSER=1``, set by ``.ci/run``, which installs Debian's
``chromium``); the build itself must pass either way.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import browser_check  # noqa: E402

JUPYTER_BOOK = Path(sys.executable).with_name("jupyter-book")


@pytest.fixture(scope="module")
def html(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("book")
    cmd = [str(JUPYTER_BOOK), "build", str(ROOT), "--path-output", str(out),
           "-W", "-n", "--keep-going"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    return out / "_build" / "html"


def test_book_builds_without_warnings(html):
    assert (html / "book" / "intro.html").is_file()


def _missing(reason: str) -> None:
    """Skip where the browser is optional; fail in CI, which sets GLIT_REQUIRE_BROWSER."""
    if os.environ.get("GLIT_REQUIRE_BROWSER"):
        pytest.fail(reason)
    pytest.skip(reason)


def test_pages_in_chromium(html, tmp_path):
    if browser_check.chromium_path() is None:
        _missing("chromium is not installed (Debian: apt-get install chromium)")
    if importlib.util.find_spec("playwright") is None:
        _missing("the playwright package is not installed (pip install playwright)")
    problems = browser_check.check(html, tmp_path / "screenshots")
    assert not problems, "\n".join(problems)
    for _, _, name in browser_check.SCREENSHOTS:
        assert (tmp_path / "screenshots" / f"{name}.png").stat().st_size > 0
    for doc, kinds in browser_check.FIGURES.items():  # each figure, driven
        for kind in kinds:
            shot = tmp_path / "screenshots" / f"{doc.split('/')[-1][:2]}_{kind}.png"
            assert shot.stat().st_size > 0


def test_book_serves_mathjax_and_the_widget_manager_itself(html):
    """The pages load MathJax and the widget manager from the build, not a CDN."""
    chapter = (html / "book" / "03_local_head.html").read_text(encoding="utf-8")
    assert 'src="../_static/mathjax/tex-mml-chtml.js"' in chapter
    assert "../_static/html-manager/embed.js" in chapter
    assert "cdn.jsdelivr.net" not in chapter and "cdnjs.cloudflare.com" not in chapter
    assert (html / "_static" / "mathjax" / "tex-mml-chtml.js").is_file()
    assert (html / "_static" / "mathjax" / "output" / "chtml" / "fonts").is_dir()
    assert (html / "_static" / "html-manager" / "embed.js").is_file()
    # the interactive figures' script and style, and the widget manager's fonts
    assert "../_static/glit-widgets.js" in chapter
    assert "../_static/glit-widgets.css" in chapter
    assert (html / "_static" / "glit-widgets.js").is_file()
    for font in ("1551f4f60c37af51121f", "7a3337626410ca2f4071", "d878b0a6a1144760244f"):
        assert (html / "_static" / "html-manager" / f"{font}.woff2").is_file()
    assert chapter.count("const THEBE_JS_URL") <= 1


BAD_PAGE = """<!doctype html><html><head><title>bad</title></head><body>
<h1>A heading with <span class="math">\\(x^2\\)</span></h1>
<p>Display math left raw: <span>$$a + b$$</span></p>
<pre>\\(code is not checked\\)</pre>
<div><script type="application/vnd.jupyter.widget-view+json">
{"version_major": 2, "version_minor": 0, "model_id": "0123"}</script></div>
<img src="missing.png" alt="">
</body></html>
"""


def test_check_flags_raw_latex_empty_widgets_and_broken_images(tmp_path):
    """The checks fail on a page without MathJax, widget manager or image."""
    if browser_check.chromium_path() is None:
        _missing("chromium is not installed (Debian: apt-get install chromium)")
    if importlib.util.find_spec("playwright") is None:
        _missing("the playwright package is not installed (pip install playwright)")
    from playwright.sync_api import sync_playwright

    bad = tmp_path / "bad.html"
    bad.write_text(BAD_PAGE, encoding="utf-8")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=browser_check.chromium_path(),
                                     args=browser_check.CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(bad.as_uri(), wait_until="load")
        problems = browser_check.check_page(page, "bad", timeout_ms=500)
        browser.close()
    text = "\n".join(problems)
    assert "raw LaTeX on the page: '\\\\(x^2\\\\)'" in text, text
    assert "'$$a + b$$'" in text, text
    assert "code is not checked" not in text
    assert "widget area(s) left empty (1 saved widget view(s))" in text, text
    assert "image did not load: missing.png" in text, text
    assert len(problems) == 4, text


WIDE_PAGE = """<!doctype html><html><head><title>wide</title>
<link rel="stylesheet" href="missing.css">
<script>const A = 1;</script><script>const A = 2;</script>
</head><body><div style="width: 400px">
<div class="cell_output"><div class="output stream"><pre style="overflow: auto">
short line
a printed line much too long for the column it sits in, so that it scrolls sideways
</pre></div></div>
<div class="cell_output"><pre style="overflow: auto">fits</pre></div>
</div></body></html>
"""


def test_check_flags_overflow_javascript_errors_and_missing_files(tmp_path):
    """An output line wider than its column, a script declared twice (as
    ``THEBE_JS_URL`` was) and a file that is not there are all reported."""
    if browser_check.chromium_path() is None:
        _missing("chromium is not installed (Debian: apt-get install chromium)")
    if importlib.util.find_spec("playwright") is None:
        _missing("the playwright package is not installed (pip install playwright)")
    from playwright.sync_api import sync_playwright

    wide = tmp_path / "wide.html"
    wide.write_text(WIDE_PAGE, encoding="utf-8")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=browser_check.chromium_path(),
                                     args=browser_check.CHROMIUM_ARGS)
        page = browser.new_page()
        seen = browser_check.watch(page)
        page.goto(wide.as_uri(), wait_until="load")
        page.wait_for_timeout(100)
        problems = browser_check.overflow(page, "wide")
        browser.close()
    assert len(problems) == 1, problems
    assert "output wider than the page" in problems[0]
    assert "a printed line much too long" in problems[0]
    assert any("already been declared" in e for e in seen["errors"]), seen
    assert [m.rsplit("/", 1)[-1] for m in seen["missing"]] == ["missing.css"]
