"""Typeset the book's math at build time, so that no page loads MathJax (1.15 MB of scripts).

Sphinx writes math as TeX for the browser's MathJax to typeset (``\\(...\\)`` in
``<span class="math">``, ``\\[...\\]`` or an environment in ``<div class="math">``). Once the
HTML pages are written, this extension hands every formula of the edition to MathJax itself,
running in Node (``tools/mathjax/render_math.js``, with the ``mathjax-full`` version pinned in
``tools/mathjax/package-lock.json``), and writes its CommonHTML output into the pages in place
of the TeX:

* the same fonts, the same layout and the same scale as the browser's MathJax (which scales
  math so that its x-height matches the text's: 127.3% with this theme's fonts, ``MATH_EX``);
* each formula keeps MathJax's assistive MathML (``<mjx-assistive-mml>``), which screen readers
  read, as they did with the browser's MathJax;
* each page carries the CSS for the characters it uses (a ``<style>`` in its head) and the
  MathJax fonts are copied to ``_static/mathjax-fonts/``;
* the MathJax script and its configuration are left out of every page.

A TeX error fails the build (``-W``), as does TeX left in a page outside Sphinx's math nodes,
which nothing would typeset any more. Live Code is not affected: thebe brings its own MathJax
for the outputs of cells a reader runs.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx
from sphinx.errors import ExtensionError
from sphinx.util import logging

logger = logging.getLogger(__name__)

RENDERER_DIR = Path(__file__).resolve().parents[2] / "tools" / "mathjax"
RENDERER = RENDERER_DIR / "render_math.js"
FONTS = RENDERER_DIR / "node_modules" / "mathjax-full" / "es5" / "output" / "chtml" / "fonts" / "woff-v2"
FONTS_TARGET = "_static/mathjax-fonts"   # in the edition's output folder

# The browser's MathJax measures the x-height of the surrounding text and scales math to match
# it (matchFontHeight). With this theme's fonts it chose 127.3% on every page of both editions
# (measured in Chromium), which is an x-height of 9 px in a 16 px em: MathJax's own is 0.442 em.
MATH_EM, MATH_EX = 16, 9

INLINE = re.compile(r'(<span class="math notranslate nohighlight">)\\\((.*?)\\\)(</span>)', re.S)
DISPLAY = re.compile(r'(<div class="math notranslate nohighlight"[^>]*>\s*(?:<span class="eqno">.*?</span>)?)'
                     r'(\s*(?:\\\[|\\begin\{).*?)(</div>)', re.S)   # TeX still there: not yet typeset
# TeX that the browser's MathJax would have typeset (its delimiters and environments), outside
# what Sphinx marks as math: nothing typesets it once MathJax is gone.
LEFTOVER = re.compile(r"\\\(|\\\[|\$\$|\\begin\{")
NOT_TEXT = re.compile(r"<(script|style|pre|code|textarea)\b.*?</\1>|<mjx-container\b.*?</mjx-container>", re.S)


def _display_tex(inner: str) -> str:
    """The TeX of a display-math div: ``\\[...\\]`` (Sphinx) or a bare environment (amsmath)."""
    inner = inner.strip()
    if inner.startswith("\\[") and inner.endswith("\\]"):
        inner = inner[2:-2]
    return html.unescape(inner)


def find_math(page: str) -> list[tuple[str, bool]]:
    """Every formula of a page as (TeX, display), in the order :func:`replace_math` fills them."""
    found = [(html.unescape(m[2]), False) for m in INLINE.finditer(page)]
    found += [(_display_tex(m[2]), True) for m in DISPLAY.finditer(page)]
    return found


def replace_math(page: str, rendered: list[str], css: str) -> str:
    """Put the rendered formulas (in :func:`find_math`'s order) and their CSS into the page."""
    it = iter(rendered)
    page = INLINE.sub(lambda m: m[1] + next(it) + m[3], page)
    page = DISPLAY.sub(lambda m: m[1] + next(it) + m[3], page)
    css = re.sub(r"\s*\n\s*", "", css)   # MathJax's stylesheet, one rule per line
    return page.replace("</head>", f'<style id="mathjax-chtml">{css}</style>\n</head>', 1)


def leftover_tex(page: str) -> list[str]:
    """TeX delimiters left in a page's text once its math is typeset."""
    text = NOT_TEXT.sub("", page)
    return [text[max(0, m.start() - 40): m.end() + 40].replace("\n", " ") for m in LEFTOVER.finditer(text)]


def typeset(pages: list[list[tuple[str, bool]]], font_url: list[str]) -> list[dict[str, Any]]:
    """Run MathJax in Node on every page's formulas; one result per page: html, css, errors."""
    if not (RENDERER_DIR / "node_modules" / "mathjax-full").is_dir():
        raise ExtensionError(f"prerender_math: MathJax for Node is missing; run "
                             f"`npm ci --prefix {RENDERER_DIR}` (make book does it)")
    request = {"em": MATH_EM, "ex": MATH_EX,
               "pages": [{"math": [{"tex": tex, "display": display} for tex, display in math],
                          "fontURL": url} for math, url in zip(pages, font_url)]}
    done = subprocess.run(["node", str(RENDERER)], input=json.dumps(request), capture_output=True,
                          text=True, encoding="utf-8", cwd=RENDERER_DIR)
    if done.returncode != 0:
        raise ExtensionError(f"prerender_math: MathJax in Node failed:\n{done.stderr}")
    return json.loads(done.stdout)["pages"]


CSS_CONTENT = re.compile(r'content:\s*"((?:[^"\\]|\\[0-9A-Fa-f]{1,6} ?|\\.)*)"')


def characters(css: str) -> set[int]:
    """The characters that MathJax's CSS draws (its ``content: "x"`` and ``"\\2211"`` values)."""
    found = set()
    for value in CSS_CONTENT.findall(css):
        for escape, char in re.findall(r"\\([0-9A-Fa-f]{1,6}) ?|(.)", value):
            found.add(int(escape, 16) if escape else ord(char))
    return found


def write_fonts(target: Path, stylesheets: list[str]) -> None:
    """Copy MathJax's fonts, each cut down to the characters this edition's math uses (the pages'
    stylesheets name every one): on the heaviest page 77 KB of fonts become about 30."""
    from fontTools import subset
    from fontTools.ttLib import TTFont

    used = set().union(*(characters(css) for css in stylesheets)) | {0x20, 0xA0}
    target.mkdir(parents=True, exist_ok=True)
    for source in sorted(FONTS.glob("*.woff")):
        # the font-wide bounding box and date stay those of MathJax's font: recomputing the box
        # from every glyph's outline took half of this function's time (0.3 of 0.6 s an edition),
        # and the same fonts come out of every build
        font = TTFont(source, recalcBBoxes=False, recalcTimestamp=False)
        keep = used & set(font.getBestCmap() or {})
        if not keep:
            shutil.copyfile(source, target / source.name)   # never named by a page: as it is
            continue
        options = subset.Options()
        options.flavor, options.layout_features, options.notdef_outline = "woff", ["*"], True
        options.drop_tables += ["FFTM"]   # FontForge's timestamps, which fontTools cannot subset
        subsetter = subset.Subsetter(options)
        subsetter.populate(unicodes=sorted(keep))
        subsetter.subset(font)
        font.flavor = "woff"
        font.save(target / source.name)


def _script_is_mathjax(app: Sphinx, script) -> bool:
    filename = str(getattr(script, "filename", script) or "")
    body = str(getattr(script, "attributes", {}).get("body", ""))
    return (bool(app.config.mathjax_path) and filename.startswith(str(app.config.mathjax_path))) \
        or body.lstrip().startswith(("window.MathJax", "MathJax ="))


def _drop_mathjax_script(app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree) -> None:
    """No page loads MathJax: its math is typeset in the page."""
    if "script_files" in context:
        context["script_files"] = [s for s in context["script_files"] if not _script_is_mathjax(app, s)]


def _typeset_pages(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    out = Path(app.outdir)
    files = [p for p in sorted(out.rglob("*.html")) if not p.relative_to(out).parts[0].startswith("_")]
    texts = {p: p.read_text(encoding="utf-8") for p in files}
    todo = {p: find_math(t) for p, t in texts.items()}
    todo = {p: math for p, math in todo.items() if math}
    if todo:
        font_url = [os.path.relpath(out / FONTS_TARGET, p.parent).replace(os.sep, "/") for p in todo]
        results = typeset(list(todo.values()), font_url)
        for (path, math), result in zip(todo.items(), results):
            for error in result["errors"]:
                logger.warning(f"TeX error: {error}", location=str(path.relative_to(out)))
            texts[path] = replace_math(texts[path], result["html"], result["css"])
            path.write_text(texts[path], encoding="utf-8")
    # the fonts serve every page's math, typeset in this build or an earlier one
    sheets = [m for text in texts.values() for m in re.findall(r'<style id="mathjax-chtml">(.*?)</style>', text, re.S)]
    if sheets:
        write_fonts(out / FONTS_TARGET, sheets)
    for path, text in texts.items():
        left = leftover_tex(text)
        if left:
            logger.warning(f"{len(left)} piece(s) of TeX outside a math node, which nothing typesets "
                           f"(MathJax is not loaded): {left[:3]}", location=str(path.relative_to(out)))


def setup(app: Sphinx) -> dict[str, Any]:
    # after sphinx.ext.mathjax has added its script (html-page-context, priority 500)
    app.connect("html-page-context", _drop_mathjax_script, priority=900)
    app.connect("build-finished", _typeset_pages)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
