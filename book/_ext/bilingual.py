"""Sphinx extension that turns one Jupyter Book into two editions (English and Japanese).

Each edition is its own Sphinx build (``tools/build_book.py`` runs them), so each gets
its own ``<html lang>``, interface strings and search index. This extension adds what
Jupyter Book 1.x lacks for that:

* a language switcher on every page that goes to the *same* page in the other edition,
  plus ``<link rel="alternate" hreflang>`` tags for search engines;
* a Japanese search that splits what the reader types the same way the index was split
  (see :mod:`ja_search`);
* Japanese paragraphs may be wrapped in the source: a line break between two Japanese
  characters is dropped, since a browser would show it as a stray space;
* one fix to sphinx-thebe, whose configuration script is registered once per build
  environment and so can appear twice on a page ("Identifier 'THEBE_JS_URL' has already
  been declared" in the browser console).

It also fills in interface strings that Sphinx's own catalogue leaves untranslated (Sphinx
then ships them as "" in translations.js, and the Japanese search page showed no "found N
pages" line), and loads :mod:`theme_fixes` (small fixes to the theme that the browser tests
found; the language switcher opening in the same tab is one of them) and :mod:`prerender_math`
(the math is typeset at build time: no page loads MathJax).
"""

from __future__ import annotations

import html
import json
import re
from typing import Any
from urllib.parse import urlsplit

from docutils import nodes
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


# Kanji, kana, the long-vowel mark and CJK punctuation (、。「」（）…).
_CJK = "\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff01-\uff60"
_CJK_BREAK = re.compile(f"(?<=[{_CJK}])\\s*\\n\\s*(?=[{_CJK}])")


def join_cjk_lines(text: str) -> str:
    """Remove line breaks (and the spaces around them) between two CJK characters."""
    return _CJK_BREAK.sub("", text)


def _join_wrapped_japanese(app: Sphinx, doctree: nodes.document) -> None:
    """Drop source line breaks between Japanese characters in prose (not in code).

    MyST often puts a soft break at the edge of a text node, or in a text node of its own,
    next to a reference or an emphasis, so each node is joined together with the last
    character of the sibling before it and the first character of the sibling after it.
    """
    if app.config.language != "ja":
        return
    skip = (nodes.literal_block, nodes.literal, nodes.raw, nodes.math, nodes.math_block)
    for node in list(doctree.findall(nodes.Text)):
        parent = node.parent
        if parent is None or isinstance(parent, skip) or "\n" not in node:
            continue
        index = parent.index(node)
        before = parent[index - 1].astext()[-1:] if index > 0 else ""
        after = parent[index + 1].astext()[:1] if index + 1 < len(parent) else ""
        joined = join_cjk_lines(before + str(node) + after)
        joined = joined[len(before):len(joined) - len(after)]
        if joined != str(node):
            parent.replace(node, nodes.Text(joined))

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


# msgid -> translation, for messages Sphinx's catalogue for that language leaves empty
UNTRANSLATED: dict[str, dict[str, str]] = {
    "ja": {"Search finished, found ${resultCount} page(s) matching the search query.":
           "検索が終了しました。${resultCount} ページが見つかりました。"},
}


def _fill_translations(app: Sphinx) -> None:
    missing = UNTRANSLATED.get(app.config.language)
    if not missing or app.builder.format != "html":
        return
    # after translations.js (priority 500), before anything asks for a string
    app.add_js_file(None, priority=501, body=(
        "if (typeof Documentation !== \"undefined\") { const t = Documentation.TRANSLATIONS; "
        f"for (const [k, v] of Object.entries({json.dumps(missing, ensure_ascii=False)})) "
        "if (!t[k]) t[k] = v; }"))


def _edition_theme_options(app: Sphinx, config) -> None:
    """Theme options: no top bar; theme strings in the edition's language (the search box's
    placeholder); a footer link to the repository (``repository.url`` in _config.yml) in place
    of the icon button."""
    edition = config.bilingual_editions.get(config.language, {})
    options = config.html_theme_options
    # pydata-sphinx-theme >= 0.16 fills an unset navbar_persistent with a search button, which
    # gives sphinx-book-theme (it has no top bar) a second search box in a bar of its own above
    # every page (executablebooks/sphinx-book-theme#986). The sidebar has the search field.
    options.setdefault("navbar_persistent", [])
    if "search_bar_text" in edition:
        options["search_bar_text"] = edition["search_bar_text"]
    url = options.get("repository_url")
    if url:
        # {{ colab_address }} in a page: where Colab opens this edition's chapter notebooks
        # (the instructor's guide), from the same repository.url and branch as the buttons
        repo = urlsplit(url).path.strip("/").removesuffix(".git")
        branch = options.get("repository_branch") or "main"
        config.myst_substitutions = {**config.myst_substitutions, "colab_address": (
            f"`https://colab.research.google.com/github/{repo}/blob/{branch}/book/{config.language}/<chapter>.ipynb`")}
    if url and "source_link_text" in edition:
        options["extra_footer"] = (f'<p><a href="{html.escape(url)}">'
                                   f'{html.escape(edition["source_link_text"])}</a></p>')


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_config_value("bilingual_editions", {}, "html", types=[dict])
    # After sphinx-book-theme has prepared its header buttons (priority 500/501).
    app.connect("html-page-context", _add_switcher, priority=900)
    app.connect("html-page-context", _dedupe_inline_scripts, priority=900)
    app.connect("doctree-read", _join_wrapped_japanese)
    app.connect("config-inited", _edition_theme_options)
    app.connect("builder-inited", _fill_translations)
    ja_search.register()
    app.setup_extension("theme_fixes")
    app.setup_extension("prerender_math")
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
