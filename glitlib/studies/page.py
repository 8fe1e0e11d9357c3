"""The book's interactive figures on its static web page.

A web page cannot run Python, so an ipywidget saved in a notebook shows its saved
state there and does not react. Each interactive figure of the book therefore comes
in two versions, in one output:

* the ipywidget, live in Jupyter and Colab (the explorer's supernet-free arithmetic,
  the replay's matplotlib frames, the chapters' ``interactive`` controls);
* a plain HTML element carrying, as JSON, everything the figure needs, which the
  book's script ``book/_static/glit-widgets.js`` turns into controls and an SVG
  picture on the web page: sums of exported cost tables, precomputed frames. No
  Python, no network.

:func:`with_page` puts both in one VBox (``PageBox``): its display bundle holds the
widget view and the ``text/html``. Jupyter shows the widget; the book ranks
``text/html`` first (``nb_mime_priority_overrides`` in ``_config.yml``) and shows the
static version. :func:`html` alone builds the element (tests, other front ends).
"""

from __future__ import annotations

import functools
import json
from typing import Any

__all__ = ["KINDS", "html", "read", "with_page"]

# The kinds of figure the page script draws, each from its own JSON.
KINDS = ("explorer", "replay", "window", "bars")
FALLBACK = ("This interactive figure runs on the book's web page. In Jupyter or Colab, "
            "run the cell for the live widget.")


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown page figure {kind!r}; choose one of {list(KINDS)}")


def html(kind: str, data: dict[str, Any]) -> str:
    """The page element of a figure: ``data`` as JSON, read by the page script.

    Deterministic (sorted keys), so a re-executed chapter gives the same file.
    """
    _check_kind(kind)
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=False)
    text = text.replace("</", "<\\/")  # never closes the script element early
    return (f'<div class="glit-page-figure" data-kind="{kind}">'
            f'<script type="application/json">{text}</script>'
            f'<p class="glit-page-fallback">{FALLBACK}</p></div>')


def read(element: str) -> tuple[str, dict[str, Any]]:
    """The kind and data of an element made by :func:`html` (its inverse)."""
    head = 'data-kind="'
    start = element.index(head) + len(head)
    kind = element[start:element.index('"', start)]
    body = element.split('<script type="application/json">', 1)[1].split("</script>", 1)[0]
    return kind, json.loads(body.replace("<\\/", "</"))


@functools.cache
def _box_class() -> type:
    import ipywidgets as widgets

    class PageBox(widgets.VBox):
        """A VBox whose display also carries its figure's page element."""

        page_html = ""

        def _repr_mimebundle_(self, **kwargs: Any) -> Any:
            bundle = super()._repr_mimebundle_(**kwargs)
            if bundle is not None and self.page_html:
                bundle["text/html"] = self.page_html
            return bundle

    return PageBox


def with_page(children: Any, kind: str, data: dict[str, Any]) -> Any:
    """A VBox of ``children`` (a widget or a list of them) that shows as those widgets
    in Jupyter and as the page element of ``kind`` and ``data`` on the web page."""
    _check_kind(kind)
    box = _box_class()(list(children) if isinstance(children, (list, tuple)) else [children])
    box.page_html = html(kind, data)
    return box
