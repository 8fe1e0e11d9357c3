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
  because no pip package ships it.
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


def setup(app: Sphinx) -> dict:
    app.connect("config-inited", configure, priority=100)
    app.connect("build-finished", copy_mathjax)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
