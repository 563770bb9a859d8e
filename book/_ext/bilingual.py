"""Sphinx extension that turns one Jupyter Book into two editions (English and Japanese).

Each edition is its own Sphinx build (``tools/build_book.py`` runs them), so each gets
its own ``<html lang>``, interface strings and search index. This extension adds what
Jupyter Book 1.x lacks for that:

* a language switcher on every page that goes to the *same* page in the other edition,
  plus ``<link rel="alternate" hreflang>`` tags for search engines;
* a Japanese search that splits what the reader types the same way the index was split
  (see :mod:`ja_search`);
* one fix to sphinx-thebe, whose configuration script is registered once per build
  environment and so can appear twice on a page ("Identifier 'THEBE_JS_URL' has already
  been declared" in the browser console).
"""

from __future__ import annotations

import html
from typing import Any

from sphinx.application import Sphinx

import ja_search


def _edition_links(app: Sphinx, pagename: str, context: dict[str, Any]) -> None:
    """Add the switcher button and hreflang links for the other editions of this page."""
    editions: dict[str, dict[str, str]] = app.config.bilingual_editions
    here = app.config.language
    if here not in editions:
        return
    # Pages sit at <edition>/<pagename>.html; climb out of the edition, then into the other.
    up = "../" * (pagename.count("/") + 1)
    metatags = context.get("metatags", "")
    for lang, edition in editions.items():
        url = f"{up}{lang}/{pagename}.html"
        metatags += f'\n<link rel="alternate" hreflang="{lang}" href="{html.escape(url)}" />'
        if lang == here:
            continue
        context.setdefault("header_buttons", []).insert(
            0,
            {
                "type": "link",
                "url": url,
                "text": edition["label"],
                "tooltip": edition.get("switch_tooltip", edition["label"]),
                "icon": "fas fa-language",
                "label": f"switch-to-{lang}",
            },
        )
    context["metatags"] = metatags


def _dedupe_inline_scripts(app: Sphinx, pagename: str, templatename: str,
                           context: dict[str, Any], doctree) -> None:
    """Drop repeated inline scripts (sphinx-thebe's ``const THEBE_JS_URL`` block)."""
    seen: set[tuple[str, str]] = set()
    unique = []
    for script in context.get("script_files", []):
        # the same block comes once with filename None and once with ""
        key = (str(getattr(script, "filename", script) or ""),
               str(getattr(script, "attributes", {}).get("body", "")))
        if key in seen:
            continue
        seen.add(key)
        unique.append(script)
    context["script_files"] = unique


def _add_switcher(app: Sphinx, pagename: str, templatename: str,
                  context: dict[str, Any], doctree) -> None:
    _edition_links(app, pagename, context)


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_config_value("bilingual_editions", {}, "html", types=[dict])
    # After sphinx-book-theme has prepared its header buttons (priority 500/501).
    app.connect("html-page-context", _add_switcher, priority=900)
    app.connect("html-page-context", _dedupe_inline_scripts, priority=900)
    ja_search.register()
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
