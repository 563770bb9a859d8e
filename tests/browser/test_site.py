"""Issue 7: the built site, both editions, in headless Chromium.

Run with ``make test`` (which builds the site and fetches axe-core and thebe first) or
``.venv/bin/python -m pytest tests/browser``; ``BOOK_SITE=/some/html`` tests another build.
Pages are discovered from the built HTML, so new chapters are covered as they land.
"""

from __future__ import annotations

import difflib
import re
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from browser_support import (EDITIONS, LOCALES, MAX_PAGE_BYTES, ROOT, SITE, THEBE_LIB, is_own,
                             page_name, redirect_stubs, site_pages)

pytestmark = pytest.mark.browser

JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uff66-\uff9f]")
OTHER = {"en": "ja", "ja": "en"}
FILE_NAME = re.compile(r"\.(png|jpe?g|gif|svg|webp)\s*$", re.IGNORECASE)


def _params(values: list[str], what: str) -> list:
    """Parameters for pytest, or one that skips with a reason when the site has none."""
    return values or [pytest.param(None, marks=pytest.mark.skip(reason=f"no {what} in {SITE}"))]


def chapter_pages(pages: list[str]) -> list[str]:
    """Pages that are notebooks: the theme gave them launch buttons (Colab among them), or
    a Colab notebook book/<lang>/<page>.ipynb is in the working tree, so they should have."""
    return [rel for rel in pages
            if "dropdown-launch-buttons" in (SITE / rel).read_text(encoding="utf-8")
            or (ROOT / "book" / rel.split("/")[0] / f"{page_name(rel)}.ipynb").exists()]


PAGES = site_pages()
CHAPTERS = chapter_pages(PAGES)
STUBS = redirect_stubs()


def _root_page() -> str:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    return toc["root"].rsplit("/", 1)[-1]


def _config() -> dict:
    return yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))


# --- 1. every page loads cleanly -----------------------------------------------------------

@pytest.mark.parametrize("rel", _params(PAGES, "pages"))
def test_page_loads_without_errors(walk, rel):
    report = walk(rel)
    assert report.status == 200, f"{rel}: HTTP {report.status}"
    problems = report.errors + [f"request failed: {f}" for f in report.failed]
    assert not problems, f"{rel}: {len(problems)} console error(s):\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("rel", _params(PAGES, "pages"))
def test_page_requests_only_the_site(walk, base_url, rel):
    report = walk(rel)
    assert not report.foreign, (f"{rel} asked hosts other than the site ({base_url}) for:\n  "
                                + "\n  ".join(report.foreign))


@pytest.mark.parametrize("rel", _params(PAGES, "pages"))
def test_images_load(walk, rel):
    broken = [f"{img['src']} (complete={img['complete']}, naturalWidth={img['naturalWidth']})"
              for img in walk(rel).images if not img["naturalWidth"]]
    assert not broken, f"{rel}: images that did not load:\n  " + "\n  ".join(broken)


@pytest.mark.parametrize("rel", _params(PAGES, "pages"))
def test_math_is_typeset(walk, rel):
    """The math is typeset at build time (book/_ext/prerender_math.py): every formula is a
    MathJax container with its assistive MathML, no MathJax error, and no page loads MathJax."""
    math = walk(rel).math
    assert math["mathjax"] == "absent", f"{rel}: the page loads MathJax ({math['mathjax']}); its math is typeset at build time"
    if not math["nodes"]:
        return   # no math on this page
    assert not math["untypeset"], f"{rel}: math left as source:\n  " + "\n  ".join(math["untypeset"])
    assert math["containers"] >= math["nodes"], f"{rel}: {math['nodes']} math nodes, {math['containers']} rendered"
    assert math["assistive"] >= math["nodes"], f"{rel}: {math['nodes']} math nodes, {math['assistive']} with MathML for screen readers"
    assert not math["errors"], f"{rel}: MathJax errors:\n  " + "\n  ".join(math["errors"])
    assert math["unstyled"] == 0, f"{rel}: {math['unstyled']} characters of math with no glyph (CSS missing)"


# --- 2. landing page, edition index and language switcher --------------------------------

@pytest.mark.parametrize("locale, lang", [("ja-JP", "ja"), ("en-US", "en"), ("ja", "ja"),
                                          ("fr-FR", "en")])
def test_landing_page_picks_the_browser_language(site, new_page, base_url, locale, lang):
    page, log = new_page(locale=locale)
    page.goto(base_url + "index.html")
    page.wait_for_url(re.compile(rf"/{lang}/(?!index\.html)[^/]+\.html$"))   # past the index redirect
    page.wait_for_load_state("load")
    assert urlsplit(page.url).path.startswith(f"/{lang}/"), page.url
    assert page.locator("html").get_attribute("lang") == lang
    assert not log.errors, log.errors


def test_landing_page_links_to_both_editions(site, new_page, base_url):
    page, log = new_page(java_script_enabled=False)   # stay on the landing page
    response = page.goto(base_url + "index.html")
    assert response.status == 200
    for lang in EDITIONS:
        link = page.locator(f'a[hreflang="{lang}"]')
        assert link.count() == 1, f"landing page: no single link to the {lang} edition"
        href = link.get_attribute("href")
        target = page.request.get(base_url + href)
        assert target.status == 200, f"landing page link {href}: HTTP {target.status}"
        assert link.inner_text().strip(), f"landing page link {href} has no text"


@pytest.mark.parametrize("rel", _params(STUBS, "edition index pages"))
def test_edition_index_opens_the_first_page(site, new_page, base_url, rel):
    page, log = new_page(locale=LOCALES[rel.split("/")[0]])
    page.goto(base_url + rel)
    page.wait_for_url(re.compile(r"/(en|ja)/(?!index\.html)[^/]+\.html$"))
    page.wait_for_load_state("load")
    assert page.url.startswith(base_url + rel.split("/")[0] + "/"), page.url
    assert not log.errors, log.errors


def _switch(page, to: str) -> None:
    """Press the header button that switches to edition ``to``, as a reader would."""
    button = page.locator(f"a.btn-switch-to-{to}")
    assert button.count() == 1, f"{page.url}: no single switch-to-{to} button in the header"
    assert button.is_visible(), f"{page.url}: the switch-to-{to} button is hidden"
    with page.expect_navigation():
        button.click()
    page.wait_for_load_state("load")


def test_switcher_links_to_the_same_page_in_the_other_edition(walk, base_url):
    """Every page's header has one switcher, to the same page in the other edition."""
    wrong = []
    for rel in PAGES:
        lang, rest = rel.split("/", 1)
        want = [f"{base_url}{OTHER[lang]}/{rest}"]
        if walk(rel).launch["switchers"] != want:
            wrong.append(f"{rel}: {walk(rel).launch['switchers']} (want {want})")
        elif not (SITE / OTHER[lang] / rest).exists():
            wrong.append(f"{rel}: {OTHER[lang]}/{rest} is not in the site")
    assert not wrong, "language switchers that do not go to the same page:\n  " + "\n  ".join(wrong)


# A reader's round trip, en -> ja -> en and ja -> en -> ja, clicked on a sample of pages (the
# test above checks every page's link; the mechanism is the same on each).
SWITCH_TRIPS = [rel for rel in PAGES if rel.startswith("en/") and page_name(rel) == _root_page()][:1] + [
    rel for rel in CHAPTERS if rel.startswith("ja/") and page_name(rel) != _root_page()][:1]


@pytest.mark.parametrize("rel", _params(SWITCH_TRIPS, "pages"))
def test_switcher_goes_to_the_same_page_and_back(new_page, base_url, rel):
    lang = rel.split("/")[0]
    other = OTHER[lang]
    page, log = new_page(locale=LOCALES[lang])
    page.goto(base_url + rel)
    _switch(page, other)
    there = base_url + other + "/" + rel.split("/", 1)[1]
    assert page.url == there, f"switch-to-{other} on {rel} went to {page.url}, not {there}"
    assert page.locator("html").get_attribute("lang") == other
    assert len(page.context.pages) == 1, "the switcher opened a new tab"
    _switch(page, lang)
    assert page.url == base_url + rel, f"switch-to-{lang} went to {page.url}, not back to {rel}"
    assert not log.errors, log.errors


# --- navigation on a wide and a narrow screen -------------------------------------------

NAV_PAGES = [rel for rel in CHAPTERS if page_name(rel) != _root_page()][:1] + \
    [rel for rel in CHAPTERS if rel.startswith("ja/") and page_name(rel) != _root_page()][:1]


@pytest.mark.parametrize("rel", _params(NAV_PAGES, "chapter pages"))
def test_one_search_box_and_a_sidebar_button_that_works(new_page, base_url, rel):
    """The theme's empty top bar held a second search box and took the sidebar buttons' clicks
    (sphinx-book-theme#986): on a wide screen ☰ did not hide the sidebar, on a narrow one it did
    not open the chapter list, so a phone reader could not reach another chapter."""
    lang = rel.split("/")[0]
    page, log = new_page(locale=LOCALES[lang])
    page.goto(base_url + rel)
    page.wait_for_load_state("load")
    search = page.locator(".search-button-field:visible, .bd-search:visible")
    assert search.count() == 1, f"{rel}: {search.count()} search boxes on a wide screen"
    sidebar = page.locator("#pst-primary-sidebar")
    assert sidebar.is_visible(), f"{rel}: no chapter list on a wide screen"
    page.locator(".bd-header-article .primary-toggle").click()
    page.wait_for_function("() => document.querySelector('#pst-primary-sidebar')"
                           ".getBoundingClientRect().right <= 0")

    page.set_viewport_size({"width": 400, "height": 800})
    page.reload()
    page.wait_for_load_state("load")
    dialog = page.locator("#pst-primary-sidebar-modal")
    assert not dialog.is_visible()
    page.locator(".bd-header-article .primary-toggle").click()
    dialog.wait_for(state="visible")
    links = dialog.locator("nav a.reference.internal")
    assert links.count() >= len(CHAPTERS) // len(EDITIONS), f"{rel}: the narrow-screen chapter list is short"
    # and no table squeezes a column to a few characters (text one character per line)
    narrowest = page.evaluate("""() => Math.min(Infinity, ...[...document.querySelectorAll(
        '.bd-article table td, .bd-article table th')].map(c => c.getBoundingClientRect().width))""")
    assert narrowest >= 80, f"{rel}: a table column is {narrowest:.0f} px wide on a 400 px screen"
    assert not log.errors, log.errors


# --- 3. search, typed as a reader types it -----------------------------------------------

# (test id, edition, what the reader types, the chapter expected among the results: the root
# page until that chapter is built)
SEARCHES = [("ja-entropy", "ja", "エントロピー", "entropy"),
            ("ja-divergence", "ja", "ダイバージェンス", "kl-divergence"),
            ("ja-relative-entropy", "ja", "相対エントロピー", "kl-divergence"),
            ("en-entropy", "en", "entropy", "entropy"),
            ("en-divergence", "en", "divergence", "kl-divergence")]


@pytest.mark.parametrize("lang, term, chapter", [s[1:] for s in SEARCHES], ids=[s[0] for s in SEARCHES])
def test_search_finds_the_term(site, new_page, base_url, lang, term, chapter):
    root = _root_page()
    expected = chapter if (site / lang / f"{chapter}.html").exists() else root
    page, log = new_page(locale=LOCALES[lang])
    page.goto(f"{base_url}{lang}/{root}.html")
    page.wait_for_load_state("load")
    if lang == "en":
        page.locator("button.search-button__button:visible").first.click()
    else:
        page.keyboard.press("Control+k")
    box = page.locator("#pst-search-dialog input[name=q]")
    box.wait_for(state="visible")
    assert box.evaluate("el => el === document.activeElement"), "the search box did not take the focus"
    page.keyboard.type(term)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert urlsplit(page.url).path == f"/{lang}/search.html", page.url
    assert parse_qs(urlsplit(page.url).query).get("q") == [term], page.url
    # searchtools.js has made its summary line and stopped its progress "pulse": done. It fetches
    # each page found to quote it (pages carry their typeset math: 600 KB for the largest); with
    # eight other builds on two cores that took over 60 s, and in two of four fresh-clone runs of one
    # day on this shared machine over 120 s (the same searches took 12 s on a rerun).
    page.wait_for_function("""() => !!document.querySelector('#search-results p.search-summary')
        && typeof Search !== 'undefined' && Search._pulse_status === -1""", timeout=300_000)
    hits = page.locator("#search-results ul.search li a").evaluate_all(
        "links => links.map(a => a.getAttribute('href'))")
    pages = sorted({h.split("#")[0].split("?")[0].removesuffix(".html") for h in hits})
    summary = page.locator("#search-results p.search-summary").inner_text()
    assert hits, f"{lang} search for {term!r} found nothing ({summary!r})"
    assert expected in pages, f"{lang} search for {term!r} found {pages}, not {expected}"
    assert summary.strip(), f"{lang} search page: the summary line is empty"
    assert not log.errors, log.errors


# --- 4. launch buttons, the Colab notebooks, Live Code ------------------------------------

def _repository() -> tuple[str, str, str]:
    repo = _config()["repository"]
    org, name = urlsplit(repo["url"]).path.strip("/").removesuffix(".git").split("/")[:2]
    return org, name, repo.get("branch", "main")


@pytest.mark.parametrize("rel", _params(CHAPTERS, "chapter pages"))
def test_launch_buttons(walk, rel):
    lang, page = rel.split("/")[0], page_name(rel)
    org, repo, branch = _repository()
    launch = walk(rel).launch
    notebook = f"book/{lang}/{page}.ipynb"
    assert launch["colab"], f"{rel}: no Colab button"
    assert launch["binder"], f"{rel}: no Binder button"
    assert launch["thebe"], f"{rel}: no Live Code button"
    colab = f"https://colab.research.google.com/github/{org}/{repo}/blob/{branch}/{notebook}"
    assert launch["colab"] == colab, f"{rel}: Colab opens {launch['colab']}, not {colab}"
    binder = urlsplit(launch["binder"])
    binderhub = urlsplit(_config()["launch_buttons"]["binderhub_url"]).netloc
    assert binder.netloc == binderhub, launch["binder"]
    assert binder.path == f"/v2/gh/{org}/{repo}/{branch}", f"{rel}: Binder builds {binder.path}"
    urlpath = parse_qs(binder.query).get("urlpath", [""])[0]
    assert urlpath.endswith(notebook) and re.fullmatch(r"((lab/)?tree|notebooks)/" + re.escape(notebook), urlpath), \
        f"{rel}: Binder opens {urlpath!r}, not {notebook}"


@pytest.mark.parametrize("rel", _params(CHAPTERS, "chapter pages"))
def test_colab_notebook_matches_the_page_source(site, rel):
    import jupytext
    import nbformat

    lang, page = rel.split("/")[0], page_name(rel)
    ipynb, md = ROOT / "book" / lang / f"{page}.ipynb", ROOT / "book" / lang / f"{page}.md"
    assert ipynb.exists(), f"{rel}: Colab opens {ipynb.relative_to(ROOT)}, which is not in the repository"
    assert md.exists(), f"{rel}: no MyST source {md.relative_to(ROOT)}"
    nb, source = nbformat.read(ipynb, as_version=4), jupytext.read(md)
    # the twin's Markdown is written from the page (tools/twin.py); its code cells are the page's
    got = [(c.cell_type, c.source) for c in nb.cells if c.cell_type == "code"]
    want = [(c.cell_type, c.source) for c in source.cells if c.cell_type == "code"]
    stale = f"{ipynb.relative_to(ROOT)} is out of date with {md.name} (run `make notebooks`)"
    assert len(got) == len(want), f"{stale}: {len(got)} cells, the source has {len(want)}"
    for i, ((g_type, g_src), (w_type, w_src)) in enumerate(zip(got, want)):
        assert g_type == w_type, f"{stale}: cell {i} is {g_type}, in the source {w_type}"
        if g_src != w_src:
            diff = [line for line in difflib.unified_diff(w_src.splitlines(), g_src.splitlines(),
                                                          md.name, ipynb.name, lineterm="", n=0)]
            pytest.fail(f"{stale}: cell {i} differs:\n  " + "\n  ".join(diff[:12]))
    with_outputs = [i for i, c in enumerate(nb.cells)
                    if c.cell_type == "code" and (c.get("outputs") or c.get("execution_count") is not None)]
    assert not with_outputs, f"{ipynb.relative_to(ROOT)}: cells {with_outputs} carry outputs"


def _serve_thebe(route):
    """Serve thebe from _build/vendor in place of the CDN (unpkg) copy Live Code loads."""
    path = THEBE_LIB / urlsplit(route.request.url).path.rsplit("/", 1)[-1]
    if not path.is_file():
        return route.fulfill(status=404, body="")
    return route.fulfill(path=str(path))


# What Live Code may ask other hosts for once clicked (the page itself asks for nothing): the
# Binder server that would start a kernel, and the MathJax 2 that thebe loads for outputs.
LIVE_CODE_HOSTS = {"mybinder.org", "cdnjs.cloudflare.com"}


@pytest.mark.parametrize("rel", _params(CHAPTERS, "chapter pages"))
def test_live_code_makes_cells_editable(new_page, base_url, rel):
    if not (THEBE_LIB / "index.js").exists():
        pytest.fail(f"thebe is missing: {THEBE_LIB} (run `make _build/vendor/thebe/lib/index.js`)")
    page, log = new_page(locale=LOCALES[rel.split("/")[0]])
    blocked: list[str] = []

    def offsite(route):
        url = route.request.url
        if re.match(r"https://unpkg\.com/thebe@[^/]+/lib/", url):
            return _serve_thebe(route)
        blocked.append(url)          # Binder above all: no kernel can start here
        return route.abort()

    page.route(lambda url: not is_own(url, base_url), offsite)
    page.goto(base_url + rel)
    code_cells = page.locator("div.cell:has(.cell_input pre)")
    n = code_cells.count()
    assert n, f"{rel}: no code cells on a notebook page"
    page.locator(".dropdown-launch-buttons button.dropdown-toggle").click()
    page.locator("button.btn-launch-thebe").click()
    try:
        page.wait_for_function(
            f"() => document.querySelectorAll('div.cell .thebe-cell .CodeMirror, div.cell .thebe-cell .cm-editor')"
            f".length >= {n}", timeout=20_000)
    except PlaywrightTimeout:
        live = page.locator("div.cell .thebe-cell").count()
        pytest.fail(f"{rel}: after Live Code, {live} of {n} code cells are editors; console errors:\n  "
                    + "\n  ".join(log.errors))
    not_live = code_cells.evaluate_all(
        "cells => cells.filter(c => !c.querySelector('.thebe-cell .CodeMirror, .thebe-cell .cm-editor'))"
        ".map(c => c.innerText.slice(0, 60))")
    assert not not_live, f"{rel}: code cells Live Code left static: {not_live}"
    # an editor takes what the reader types
    first = page.locator("div.cell .thebe-cell .CodeMirror, div.cell .thebe-cell .cm-editor").first
    first.click()
    page.keyboard.press("Control+End")
    page.keyboard.type("\n# typed by the test")
    assert "# typed by the test" in first.inner_text()
    # thebe goes on to ask Binder for a kernel: that request is the one aborted
    for _ in range(50):
        if any(urlsplit(u).hostname == "mybinder.org" for u in blocked):
            break
        page.wait_for_timeout(100)
    else:
        pytest.fail(f"{rel}: Live Code never asked Binder for a kernel (blocked: {blocked})")
    others = [u for u in blocked if urlsplit(u).hostname not in LIVE_CODE_HOSTS]
    assert not others, f"{rel}: Live Code asked other hosts for:\n  " + "\n  ".join(others)
    # the aborted requests show in the console; nothing else may
    unexpected = [e for e in log.errors if not re.search(r"net::ERR_FAILED|mybinder\.org", e)]
    assert not unexpected, f"{rel}: console errors besides the blocked requests:\n  " + "\n  ".join(unexpected)


# --- 5. accessibility ----------------------------------------------------------------------

@pytest.mark.parametrize("rel", _params(PAGES, "pages"))
def test_no_serious_accessibility_violations(walk, axe_available, rel):
    bad = [v for v in walk(rel).axe if v["impact"] in ("serious", "critical")]
    assert not bad, f"{rel}: axe-core found {len(bad)} serious/critical violation(s):\n" + "\n".join(
        f"  {v['id']} ({v['impact']}, {v['count']} node(s)): {v['help']}\n      " + "\n      ".join(v["targets"])
        for v in bad)


@pytest.mark.parametrize("rel", _params(PAGES, "pages"))
def test_images_have_alt_text(walk, rel):
    report = walk(rel)
    missing = [img["src"] for img in report.images if not (img["alt"] or "").strip()]
    assert not missing, f"{rel}: images without alt text:\n  " + "\n  ".join(missing)
    # myst-nb writes the image's path as its alt text when a cell gives none
    as_path = [f"{img['src']}: alt={img['alt']!r}" for img in report.images
               if FILE_NAME.search(img["alt"]) or img["alt"].strip() in img["src"]]
    assert not as_path, (f"{rel}: images whose alt text is a file name (give the cell "
                         "`mystnb: image: alt: ...` metadata):\n  " + "\n  ".join(as_path))
    if report.lang == "ja":
        english = [f"{img['src']}: alt={img['alt']!r}" for img in report.images
                   if img["content"] and not JAPANESE.search(img["alt"] or "")]
        assert not english, f"{rel}: figures whose alt text is not Japanese:\n  " + "\n  ".join(english)


# --- 6. page weight ------------------------------------------------------------------------

@pytest.mark.parametrize("rel", _params(PAGES, "pages"))
def test_page_weight(walk, rel):
    report = walk(rel)
    assert report.total <= MAX_PAGE_BYTES, (
        f"{rel} transfers {report.total / 1024:,.0f} KiB on load (limit {MAX_PAGE_BYTES / 1024:,.0f} KiB): "
        + ", ".join(f"{k} {v / 1024:,.0f} KiB" for k, v in report.weight.items() if v))
