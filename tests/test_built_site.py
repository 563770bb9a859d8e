"""The built site's files: both editions, same URLs, switcher, landing page, nothing external.

These read ``_build/html`` (``make book`` first; ``make test`` does it). The browser suite in
``tests/browser`` then walks the same site in Chromium.
"""

from __future__ import annotations

import json
import re
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "_build" / "html"
sys.path.insert(0, str(ROOT / "tools"))
import build_book  # noqa: E402

pytestmark = pytest.mark.build

CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
LANGS = list(build_book.editions(CONFIG))
PAGES = [n.removeprefix(build_book.SOURCE_PREFIX) for n in [TOC["root"]] + [c["file"] for c in TOC["chapters"]]]


class _Tags(HTMLParser):
    """Collects (tag, attrs) pairs of a page."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def tags(path: Path) -> list[tuple[str, dict]]:
    parser = _Tags()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser.tags


@pytest.fixture(scope="module", autouse=True)
def site_is_built():
    if not (SITE / "index.html").exists():
        pytest.fail("no built site in _build/html: run `make book` (make test does it)")


def test_landing_page_links_both_editions_and_picks_by_language():
    text = (SITE / "index.html").read_text(encoding="utf-8")
    links = [a["href"] for t, a in tags(SITE / "index.html") if t == "a"]
    assert links == [f"{lang}/index.html" for lang in LANGS]
    assert "navigator.languages" in text and "location.replace" in text


@pytest.mark.parametrize("lang", LANGS)
def test_edition_holds_exactly_the_book_pages(lang):
    built = {p.relative_to(SITE / lang).as_posix() for p in (SITE / lang).rglob("*.html")
             if "_static" not in p.parts and "_sources" not in p.parts}
    expected = {f"{p}.html" for p in PAGES} | {"index.html", "genindex.html", "search.html"}
    assert built == expected


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("page", PAGES)
def test_page_language_switcher_and_local_assets(lang, page):
    path = SITE / lang / f"{page}.html"
    page_tags = tags(path)
    html_attrs = next(a for t, a in page_tags if t == "html")
    assert html_attrs["lang"] == lang
    hrefs = [a.get("href", "") for t, a in page_tags if t == "a"]
    for other in LANGS:
        if other != lang:
            assert f"../{other}/{page}.html" in hrefs, "switcher to the same page in the other edition"
    # every script, stylesheet and image comes from the site itself
    for tag, attrs in page_tags:
        url = attrs.get("src") if tag in ("script", "img") else attrs.get("href") if tag == "link" and attrs.get("rel") == "stylesheet" else None
        assert not (url and re.match(r"^(https?:)?//", url)), f"{tag} loads {url} from another host"
    # internal links never expose the source folders
    for href in hrefs:
        if not re.match(r"^(https?:|mailto:)", href):
            assert "book/" not in href and "_build" not in href, href
    text = path.read_text(encoding="utf-8")
    assert text.count("const THEBE_JS_URL") <= 1


def test_japanese_index_holds_split_terms():
    text = (SITE / "ja" / "searchindex.js").read_text(encoding="utf-8")
    index = json.loads(text[text.index("(") + 1: text.rindex(")")])
    for term in ("エントロピー", "ダイバージェンス", "相対"):
        assert term in index["terms"], term
    language_data = (SITE / "ja" / "_static" / "language_data.js").read_text(encoding="utf-8")
    assert "var splitQuery" in language_data


@pytest.mark.parametrize("lang", LANGS)
def test_math_is_typeset_at_build_time(lang):
    """No page loads MathJax: each formula is MathJax's HTML with its MathML for screen readers,
    the page carries its CSS, and the fonts that CSS names are served with the site."""
    fonts = SITE / lang / "_static" / "mathjax-fonts"
    typeset = 0
    for page in PAGES:
        path = SITE / lang / f"{page}.html"
        scripts = [attrs.get("src", "") + attrs.get("id", "") for tag, attrs in tags(path) if tag == "script"]
        assert not [s for s in scripts if "mathjax" in s.lower()], f"{lang}/{page}.html loads MathJax"
        text = path.read_text(encoding="utf-8")
        assert "window.MathJax" not in text and "\\(" not in re.sub(r"<(pre|script)\b.*?</\1>", "", text, flags=re.S)
        containers = text.count("<mjx-container")
        if containers:
            typeset += 1
            assert text.count("<mjx-assistive-mml") == containers, f"{lang}/{page}.html: formulas without MathML"
            assert '<style id="mathjax-chtml">' in text
            for font in set(re.findall(r"mathjax-fonts/(MathJax_[\w-]+\.woff)", text)):
                assert (fonts / font).is_file(), font
    assert typeset >= 5, "the chapters' math is typeset"


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("page", PAGES)
def test_no_glued_tolerance_prints_as_zero(lang, page):
    """"To within 0e+00" compares a number with itself: the maximum-entropy table once checked torch's
    entropies against torch's own closed-form KL and said so. (An exact agreement stated as such is fine.)"""
    text = re.sub(r"<(pre|script|style)\b.*?</\1>", "", (SITE / lang / f"{page}.html").read_text(encoding="utf-8"), flags=re.S)
    text = " ".join(re.sub(r"<[^>]+>", "", text).split())
    zeros = re.findall(r".{0,60}(?:within (?:a )?0(?:\.0+)?e[+-]00|0(?:\.0+)?e[+-]00 ?以内).{0,20}", text)
    assert not zeros, zeros[:3]


@pytest.mark.parametrize("page", PAGES)
def test_japanese_prose_has_no_line_breaks_that_render_as_spaces(page):
    text = (SITE / "ja" / f"{page}.html").read_text(encoding="utf-8")
    text = re.sub(r"<(pre|script|style|textarea)\b.*?</\1>", "", text, flags=re.S)
    cjk = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff"
    breaks = re.findall(f"[{cjk}]\\n[{cjk}]", text)
    assert not breaks, f"{len(breaks)} line breaks between Japanese characters, e.g. {breaks[:3]}"


@pytest.mark.parametrize("lang", LANGS)
def test_instructors_guide_gives_the_colab_address_of_this_repository(lang):
    """The guide's Colab address follows repository.url and branch, as the buttons do, and
    names the folder of this edition's notebooks, which exist."""
    repo = CONFIG["repository"]
    path = re.sub(r"^https://github\.com/", "", repo["url"]).removesuffix(".git").strip("/")
    text = re.sub(r"<[^>]+>", "", (SITE / lang / "instructors.html").read_text(encoding="utf-8"))
    address = (f"https://colab.research.google.com/github/{path}/blob/{repo.get('branch', 'main')}"
               f"/book/{lang}/&lt;chapter&gt;.ipynb")
    assert address in text, f"{lang}/instructors.html does not give {address}"
    assert "{{" not in text, f"{lang}/instructors.html has an unreplaced substitution"
    named = re.findall(r"`(entropy|kl-divergence|mode-seeking|comparing-losses)`",
                       (ROOT / "book" / lang / "instructors.md").read_text(encoding="utf-8"))
    assert named, "the guide names no chapter to put in the address"
    for chapter in named:
        assert (ROOT / "book" / lang / f"{chapter}.ipynb").is_file(), chapter


@pytest.mark.parametrize("lang", LANGS)
def test_only_the_search_page_loads_the_search_index(lang):
    """The search index (the largest script in the Japanese edition after MathJax) is loaded
    by search.html alone: the search box opens that page, and search-as-you-type is off."""
    assert "searchindex.js" in (SITE / lang / "search.html").read_text(encoding="utf-8")
    for page in PAGES:
        scripts = [attrs.get("src", "") for tag, attrs in tags(SITE / lang / f"{page}.html") if tag == "script"]
        assert not [s for s in scripts if s.split("?")[0].endswith(("searchindex.js", "searchtools.js"))], \
            f"{lang}/{page}.html loads the search index"


@pytest.mark.parametrize("lang", LANGS)
def test_downloaded_notebooks_show_each_printed_line_once(lang):
    """myst-nb once merged a cell's stream outputs into the first in place and kept the others, so
    the notebook behind the download button printed those lines twice (book/_ext/theme_fixes.py)."""
    notebooks = {path.name: json.loads(path.read_text(encoding="utf-8"))
                 for path in sorted((SITE / lang / "_sources").glob("*.ipynb"))}
    assert len(notebooks) >= 5
    if not any(cell.get("outputs") for nb in notebooks.values() for cell in nb["cells"]):
        # myst-nb writes a page's download notebook with outputs only when it executed the page in
        # this build (from its cache it writes the source notebook); a clean build executes every page
        pytest.skip("no page was executed in the last build: its download notebooks carry no outputs")
    for page, nb in notebooks.items():
        for cell in nb["cells"]:
            for name in ("stdout", "stderr"):
                texts = ["".join(o["text"]) for o in cell.get("outputs", [])
                         if o["output_type"] == "stream" and o["name"] == name]
                for later in texts[1:]:
                    assert not (later.strip() and texts[0].rstrip().endswith(later.rstrip())), \
                        f"{page}: {later.strip()[:60]!r} printed twice"
            # comparing-losses' exercise cell prints four lines, which reach the notebook in two or three messages
            if "report = check_landing(my_landing)" in "".join(cell["source"]) and cell.get("outputs"):
                printed = "".join("".join(o["text"]) for o in cell["outputs"] if o["output_type"] == "stream")
                lines = [line for line in printed.splitlines() if line]
                assert len(lines) == 4 and len(set(lines)) == 4, printed
