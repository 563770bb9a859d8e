"""Small fixes to the HTML that the theme (sphinx-book-theme on pydata-sphinx-theme) and the
extensions write, found by the browser tests in ``tests/browser``. Loaded by ``bilingual``.

* The theme templates below are patched: each patch names the text it replaces (a regular
  expression) and the build fails if that text is gone (a theme upgrade), so no fix goes
  away silently.
  The patched copies are written under the build's doctree folder and put first on
  ``templates_path``.
* ``default_mode`` is set (pydata-sphinx-theme reads it from ``html_context``; left empty, every
  page logs "Got invalid theme mode: . Resetting to auto." as a console error).
* ``theme-fixes.css`` (in ``book/_static``): the search icons, which sat differently without
  fontawesome.js.
* Two fixes to the body HTML of pages (``BODY_FIXES``), for markup that myst-nb and
  docutils write.
* Live Code (sphinx-thebe) makes editors of the cells' inputs only, not of a text output
  where a cell's input is removed.
* A favicon, so browsers do not ask the server root for ``/favicon.ico`` (a 404 in the console).
* myst-nb joins a cell's stream outputs (``merge_streams``) by appending the later ones' text
  to the first one in place, and leaves the later ones in the notebook; the executed notebook it
  then writes for the page's download button (``_sources/<page>.ipynb``) showed those lines
  twice (17 cells of the two editions). Its merge is given copies of the streams
  (``_merge_copies``); the build fails if myst-nb no longer has the function.
* Page weight (the goal is 1,500 KiB for the heaviest page on a cold load):

  - the icon font (Font Awesome's solid face, 156 KB on every page) is cut down to the icons the
    site uses, and the theme's stylesheet loses the rules of the ~1,900 icons it does not use
    (70 KB); an icon is "used" when its ``fa-`` class appears in a page or in a script the
    pages load, or its character in a stylesheet (``_trim_icons``);
  - sphinx-design's stylesheet and script (62 KB) are left out of pages that use none of its
    components (jupyter-book loads the extension for every book);
  - the figures: matplotlib writes RGBA PNGs whose alpha is 255 everywhere; written again as
    RGB, the same pixels take 12% fewer bytes (``_opaque_images``).
"""

from __future__ import annotations

import copy
import importlib.util
import re
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.errors import ExtensionError

FAVICON = Path(__file__).resolve().parents[1] / "_static" / "favicon.svg"

# (package, file in the package, name Jinja looks it up by, old text as a regex, new text, why)
PATCHES = [
    ("pydata_sphinx_theme", "theme/pydata_sphinx_theme/static/webpack-macros.html",
     "templates/static/webpack-macros.html",
     r'<script defer src="{{ pathto\(\'_static/scripts/fontawesome\.js\', 1\) }}[^"]*"></script>',
     "{# fontawesome.js left out: see book/_ext/theme_fixes.py #}",
     "fontawesome.js (1.5 MB, half of every page's weight) only redraws as SVG the icons that "
     "the theme's icon fonts already draw"),
    # sphinx-book-theme imports this as "../macros/buttons.html", resolved from templates/
    ("sphinx_book_theme", "theme/sphinx_book_theme/macros/buttons.html",
     "macros/buttons.html",
     r'<a href="{{ url }}" target="_blank"',
     '<a href="{{ url }}"{% if not (label or "").startswith("switch-to-") %} target="_blank"{% endif %}'
     '{% if (label or "").startswith("switch-to-") %} hreflang="{{ label[10:] }}" lang="{{ label[10:] }}"{% endif %}',
     "the language switcher opens the other edition in the same tab, and says which language it is"),
    # sphinx-book-theme's layout.html extends "pydata_sphinx_theme/layout.html"
    ("pydata_sphinx_theme", "theme/pydata_sphinx_theme/layout.html",
     "templates/pydata_sphinx_theme/layout.html",
     r"(?s)\{% if pagename == 'search' %\}\s*\{#[^#]*#\}\s*\{% else %\}\s*\{#[^#]*#\}\s*"
     r"(<script src=\"\{\{ pathto\('(_static/searchtools\.js|_static/language_data\.js|searchindex\.js)', 1\) \| e \}\}\"></script>\s*){3}"
     r"\{% endif %\}",
     "{% if pagename != 'search' and (theme_search_as_you_type | string | lower) == 'true' %}\n"
     "    <script src=\"{{ pathto('_static/searchtools.js', 1) | e }}\"></script>\n"
     "    <script src=\"{{ pathto('_static/language_data.js', 1) | e }}\"></script>\n"
     "    <script src=\"{{ pathto('searchindex.js', 1) | e }}\"></script>\n"
     "  {% endif %}",
     "every page loaded the search index and Sphinx's search scripts (150 kB in the Japanese "
     "edition) for search-as-you-type, which this book leaves off: the search box opens "
     "search.html, which loads them itself"),
    ("pydata_sphinx_theme", "theme/pydata_sphinx_theme/components/search-button-field.html",
     "templates/search-button-field.html",   # pydata puts components/ on templates_path
     r' aria-label="{{ _\(\'Search\'\) }}"', "",
     "the button's accessible name must include its visible text (\"Search Ctrl+K\"): axe "
     "label-content-name-mismatch"),
]


def _configure(app: Sphinx, config: Config) -> None:
    base = Path(app.doctreedir).parent / "theme_fixes"
    for package, inner, name, old, new, why in PATCHES:
        spec = importlib.util.find_spec(package)
        if spec is None or spec.origin is None:
            continue   # theme not installed: nothing to patch
        source = Path(spec.origin).parent / inner
        text = source.read_text(encoding="utf-8")
        patched, found = re.subn(old, lambda _: new, text)
        if not found:
            raise ExtensionError(f"theme_fixes: {source} no longer contains {old!r}; "
                                 f"re-check the fix ({why})")
        target = base / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(patched, encoding="utf-8")
    templates = str(base / "templates")
    if templates not in config.templates_path:
        config.templates_path.insert(0, templates)
    if not config.html_favicon and FAVICON.exists():
        config.html_favicon = str(FAVICON)
    if isinstance(getattr(config, "thebe_config", None), dict):
        # Live Code turns the first <pre> of each cell into an editor. In a cell whose input is
        # removed (remove-input) that <pre> is a text output, and sphinx-thebe then throws
        # ("The new child element contains the parent") and no cell on the page goes live.
        config.thebe_config = {"selector_input": ".cell_input pre", **config.thebe_config}


# Fixes to a page's body HTML: (regex, replacement, why). A page without the pattern is fine.
BODY_FIXES = [
    (r'<summary aria-label="Toggle hidden content">', "<summary>",
     "myst-nb's hide-input toggle: its accessible name must include its visible text (\"Show "
     "code cell source\"): axe label-content-name-mismatch"),
    (r'(<div class="citation"[^>]*?) role="doc-biblioentry"', r'\1 role="listitem"',
     "docutils puts the bibliography in a role=list whose entries are the deprecated "
     "doc-biblioentry, not list items: axe aria-required-children (critical)"),
]


def _page_fixes(app: Sphinx, pagename: str, templatename: str,
                context: dict[str, Any], doctree) -> None:
    if not context.get("default_mode"):
        context["default_mode"] = "auto"
    if context.get("body"):
        for pattern, replacement, _why in BODY_FIXES:
            context["body"] = re.sub(pattern, replacement, context["body"])


SPHINX_DESIGN = ("sphinx-design.min.css", "design-tabs.js")


def _drop_unused_sphinx_design(app: Sphinx, pagename: str, templatename: str,
                               context: dict[str, Any], doctree) -> None:
    """Leave sphinx-design's CSS and JS out of a page that has none of its components."""
    if re.search(r'class="[^"]*\bsd-', context.get("body", "")):
        return
    for key in ("css_files", "script_files"):
        if key in context:
            context[key] = [f for f in context[key]
                            if not str(getattr(f, "filename", f) or "").split("?")[0].endswith(SPHINX_DESIGN)]


FA_CSS = "_static/styles/pydata-sphinx-theme.css"
FA_FONT = "_static/vendor/fontawesome/webfonts/fa-solid-900"
# ".fa-bars:before,.fa-navicon:before{content:"\f0c9"}": a whole rule (after the "}" that ends
# the one before it) giving icon classes their character
FA_ICON_RULE = re.compile(r'(?<=\})((?:\.fa-[a-z0-9-]+:{1,2}before,?)+)\{content:"\\[0-9a-f]+ ?"\}')
CSS_CHAR = re.compile(r'"\\([0-9a-f]{2,6}) ?"')


def used_icon_classes(texts: list[str]) -> set[str]:
    """Every ``fa-`` class name that appears in the given pages and scripts."""
    return {m for text in texts for m in re.findall(r"\bfa-([a-z0-9-]+)", text)}


def trim_icon_css(css: str, used: set[str]) -> str:
    """The stylesheet without the rules of icons none of whose classes is used."""
    def keep(rule: re.Match) -> str:
        names = re.findall(r"\.fa-([a-z0-9-]+):", rule[1])
        return rule[0] if used.intersection(names) else ""
    return FA_ICON_RULE.sub(keep, css)


def _trim_icons(app: Sphinx, exception: Exception | None) -> None:
    """Cut the icon font and its stylesheet down to the icons the site uses (see the module doc)."""
    out = Path(app.outdir)
    css_path, font_path = out / FA_CSS, out / f"{FA_FONT}.ttf"   # the woff2 needs brotli to read
    if exception is not None or app.builder.format != "html" or not (css_path.exists() and font_path.exists()):
        return
    from fontTools import subset
    from fontTools.ttLib import TTFont

    loaded = [p for p in out.rglob("*.js") if "mathjax" not in p.parts and p.name != "fontawesome.js"]
    used = used_icon_classes([p.read_text(encoding="utf-8", errors="replace")
                              for p in [*out.glob("*.html"), *out.glob("*/*.html"), *loaded]])
    css = trim_icon_css(css_path.read_text(encoding="utf-8"), used)
    css_path.write_text(css, encoding="utf-8")
    chars = {int(c, 16) for sheet in [css, *(p.read_text(encoding="utf-8", errors="replace")
                                             for p in (out / "_static").rglob("*.css") if p != css_path)]
             for c in CSS_CHAR.findall(sheet)}
    font = TTFont(font_path)
    chars &= set(font.getBestCmap())
    options = subset.Options()
    options.flavor = "woff"   # zlib: no brotli needed; the stylesheet is pointed at this file
    options.layout_features = ["*"]
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=sorted(chars))
    subsetter.subset(font)
    font.flavor = "woff"
    font.save(out / f"{FA_FONT}.used.woff")
    css = css.replace("url(../vendor/fontawesome/webfonts/fa-solid-900.woff2) format(\"woff2\")",
                      "url(../vendor/fontawesome/webfonts/fa-solid-900.used.woff) format(\"woff\")")
    css_path.write_text(css, encoding="utf-8")


def opaque_png(path: Path) -> bool:
    """Write an RGBA PNG whose every pixel is opaque again as RGB (the same pixels), if smaller."""
    from PIL import Image

    with Image.open(path) as image:
        if image.mode != "RGBA" or image.getchannel("A").getextrema() != (255, 255):
            return False
        image.load()
        rgb = image.convert("RGB")
    target = path.with_suffix(".rgb.png")
    rgb.save(target, "PNG", optimize=True)
    if target.stat().st_size < path.stat().st_size:
        target.replace(path)
        return True
    target.unlink()
    return False


def _opaque_images(app: Sphinx, exception: Exception | None) -> None:
    if exception is None and app.builder.format == "html":
        for png in sorted((Path(app.outdir) / "_images").glob("*.png")):
            opaque_png(png)


def _merge_copies() -> None:
    """Make myst-nb's ``coalesce_streams`` work on copies of the stream outputs (see the module's docstring)."""
    from myst_nb.core import render

    merge = getattr(render, "coalesce_streams", None)
    if merge is None:
        raise ExtensionError("theme_fixes: myst_nb.core.render no longer has coalesce_streams; "
                             "check whether its merge of stream outputs still edits the notebook")
    if getattr(merge, "merges_copies", False):
        return

    def merge_copies(outputs):
        return merge([copy.copy(o) if o.get("output_type") == "stream" else o for o in outputs])

    merge_copies.merges_copies = True
    render.coalesce_streams = merge_copies


def setup(app: Sphinx) -> dict[str, Any]:
    _merge_copies()
    app.add_css_file("theme-fixes.css")   # book/_static/theme-fixes.css
    app.connect("config-inited", _configure)
    app.connect("html-page-context", _page_fixes)
    app.connect("html-page-context", _drop_unused_sphinx_design, priority=900)
    app.connect("build-finished", _trim_icons)
    app.connect("build-finished", _opaque_images)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
