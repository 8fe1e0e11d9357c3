"""Sphinx extension: serve MathJax and the widget manager from the built book.

jupyter-book's pages load MathJax, require.js and the Jupyter widget manager
from CDNs, so offline every formula stays raw ``\\( ... \\)`` and every widget
area stays empty. This extension (enabled in ``_config.yml``) serves both from
the build itself:

* **MathJax 3** comes from the pip package ``sphinx-mathjax-offline`` (the
  unchanged MathJax 3.2.2 distribution); it is copied to ``_static/mathjax``
  and ``mathjax_path`` points there. Only if that package is missing does the
  page fall back to the CDN (the build says so).
* **The widget manager** is ``@jupyter-widgets/html-manager``'s self-contained
  ``embed.js`` (no require.js needed), vendored in ``book/_static/html-manager``
  because no pip package ships it, with the web fonts its stylesheet asks for.
* **The book's interactive figures**: ``book/_static/glit-widgets.js`` and its
  stylesheet bring the chapters' static figures to life (see
  ``glitlib.studies.page``), on every page.

It also removes repeated inline scripts from every page: Sphinx 7.4 adds an
inline script registered after the builder starts (sphinx-thebe's
``const THEBE_JS_URL = ...``) a second time, and a ``const`` declared twice is
a JavaScript error on every page.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.util import logging
from sphinx.util.fileutil import copy_asset

ROOT = Path(__file__).resolve().parents[1]
WIDGETS = ROOT / "book" / "_static" / "html-manager"
MATHJAX_DIST = "sphinx-mathjax-offline"
MATHJAX_SCRIPT = "mathjax/tex-mml-chtml.js"

logger = logging.getLogger(__name__)


def mathjax_dir() -> Path | None:
    """The MathJax distribution installed by pip, or None if it is missing."""
    try:
        dist = importlib.metadata.distribution(MATHJAX_DIST)
    except importlib.metadata.PackageNotFoundError:
        return None
    folder = Path(str(dist.locate_file(f"{MATHJAX_DIST}/static/mathjax")))
    return folder if (folder / "tex-mml-chtml.js").is_file() else None


def configure(app: Sphinx, config: Config) -> None:
    """Point MathJax and the widget manager at local copies."""
    config.html_static_path = [*config.html_static_path, str(WIDGETS.parent)]
    # embed.js renders the saved widget state by itself: no require.js.
    config.nb_ipywidgets_js = {"html-manager/embed.js": {}}
    # After MathJax, in document order: the figures' script also bridges the
    # widget manager's MathJax 2 call onto MathJax 3.
    config.html_js_files = [*config.html_js_files, ("glit-widgets.js", {"defer": "defer"})]
    config.html_css_files = [*config.html_css_files, "glit-widgets.css"]
    if mathjax_dir() is not None:
        config.mathjax_path = MATHJAX_SCRIPT
    else:
        logger.info("offline_assets: %s is not installed; MathJax comes from the CDN",
                    MATHJAX_DIST)


def copy_mathjax(app: Sphinx, exc: Exception | None) -> None:
    """Copy MathJax next to the pages once the HTML is written."""
    source = mathjax_dir()
    if exc is None and source is not None and app.builder.format == "html":
        copy_asset(str(source), str(Path(app.outdir) / "_static" / "mathjax"))


def _script_key(script: object) -> tuple:
    attributes = getattr(script, "attributes", {})
    return (getattr(script, "filename", None) or "", getattr(script, "priority", 500),
            tuple(sorted((k, str(v)) for k, v in attributes.items())))


def unique_scripts(app: Sphinx, pagename: str, templatename: str, context: dict,
                   doctree: object) -> None:
    """Drop the second copy of any script of the page (same file or same inline body)."""
    scripts = context.get("script_files")
    if not isinstance(scripts, list):
        return
    seen: set[tuple] = set()
    kept = []
    for script in scripts:
        key = _script_key(script)
        if key not in seen:
            seen.add(key)
            kept.append(script)
    scripts[:] = kept


def setup(app: Sphinx) -> dict:
    app.connect("config-inited", configure, priority=100)
    app.connect("html-page-context", unique_scripts, priority=900)
    app.connect("build-finished", copy_mathjax)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
