"""The built site in a real browser: fixtures, the page walk, screenshots and the weight table.

The site folder is ``$BOOK_SITE`` (default ``_build/html``); it is served with
``http.server`` on a free localhost port in a thread, and one headless Chromium
(``$CHROMIUM``, default ``/usr/bin/chromium``) serves the whole session.

Every page of both editions is loaded once, in a fresh browser context (a cold load), by
:func:`walk`; what the tests check is read from that visit's :class:`PageReport`, so the
site is walked once however many checks there are. The interactive tests (landing page,
language switcher, search, Live Code) drive their own pages through ``new_page``.

Artefacts: ``_build/page-weights.txt`` (also printed at the end of the run) and, when a
browser test fails, a screenshot of the page under test in ``_build/screenshots/``.
"""

from __future__ import annotations

import functools
import os
import http.server
import re
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from browser_support import (AXE_JS, CHROMIUM, CHROMIUM_ARGS, LOCALES, MAX_PAGE_BYTES, ROOT,
                             SCREENSHOTS, SITE, VIEWPORT, WEIGHTS_FILE, is_own, site_pages)

# --- serving the site ----------------------------------------------------------------------

class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the stdlib's name
        pass


@pytest.fixture(scope="session")
def site() -> Path:
    if not (SITE / "en" / "index.html").exists():
        pytest.skip(f"no built site in {SITE} (run `make book`, or set BOOK_SITE)")
    return SITE


@pytest.fixture(scope="session")
def base_url(site):
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


# --- the browser ---------------------------------------------------------------------------

@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set CHROMIUM)")
    from playwright.sync_api import sync_playwright

    shutil.rmtree(SCREENSHOTS, ignore_errors=True)   # only this run's failures
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


_CURRENT: dict = {"page": None}   # the page a failing test is looking at, for its screenshot


class PageLog:
    """Console errors and requests of one page, recorded as they happen."""

    def __init__(self, page):
        self.errors: list[str] = []
        self.requests: list = []
        self.failed: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        page.on("request", lambda r: self.requests.append(r))
        page.on("requestfailed", lambda r: self.failed.append(f"{r.url} ({r.failure})"))

    def _console(self, msg):
        if msg.type == "error":
            where = msg.location or {}
            self.errors.append(f"console.error: {msg.text}  [{where.get('url', '')}:{where.get('lineNumber', '')}]")


def _no_typesetting(route):
    route.fulfill(body="/* MathJax left out: this test reads no math */", content_type="text/javascript")


@pytest.fixture(scope="session")
def _reader_contexts(browser):
    """One browser context per locale, shared by the interactive tests (none makes its own).

    These tests click and type; they read no math, so MathJax is left out of their pages (the
    walk checks the math on every page) and they do not wait for typesetting.
    """
    contexts: dict = {}
    yield contexts
    for context in contexts.values():
        context.close()


@pytest.fixture
def new_page(browser, _reader_contexts):
    """``new_page(locale=..., **context_options) -> (page, log)``, closed after the test.

    Pages share one context per locale; asking for context options gives a fresh context.
    """
    opened, own = [], []

    def make(locale: str = "en-US", **options):
        if options:
            context = browser.new_context(locale=locale, viewport=VIEWPORT, **options)
            own.append(context)
        else:
            if locale not in _reader_contexts:
                _reader_contexts[locale] = browser.new_context(locale=locale, viewport=VIEWPORT)
                _reader_contexts[locale].route(re.compile(r"/_static/mathjax/"), _no_typesetting)
            context = _reader_contexts[locale]
        page = context.new_page()
        opened.append(page)
        page.set_default_timeout(15_000)
        log = PageLog(page)
        _CURRENT["page"] = page
        return page, log

    yield make
    _CURRENT["page"] = None
    for page in opened:
        for other in list(page.context.pages):   # and any tab it opened
            if other is page or other.opener() is page:
                other.close()
    for context in own:
        context.close()


# --- the walk: each page once, everything the checks need --------------------------------

@dataclass
class PageReport:
    rel: str
    url: str
    final_url: str = ""
    status: int = 0
    errors: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    images: list[dict] = field(default_factory=list)
    math: dict = field(default_factory=dict)
    axe: list[dict] = field(default_factory=list)
    launch: dict = field(default_factory=dict)
    weight: dict[str, int] = field(default_factory=dict)

    @property
    def lang(self) -> str:
        return self.rel.split("/", 1)[0]

    @property
    def total(self) -> int:
        return sum(self.weight.values())


WEIGHT_KINDS = {"document": "html", "image": "images", "media": "images", "script": "scripts",
                "stylesheet": "css", "font": "fonts"}   # anything else (fetch, xhr, json…) is "data"
WEIGHT_COLUMNS = ["html", "images", "scripts", "css", "fonts", "data"]

# Run once the page has loaded: wait for MathJax, load lazy images, read what the checks need.
_INSPECT = """async () => {
  const withTimeout = (p, ms) => Promise.race([p, new Promise((r) => setTimeout(r, ms))]);
  const mathNodes = [...document.querySelectorAll('span.math, div.math')];
  let mathjax = 'absent';
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    mathjax = 'loaded';
    await withTimeout(MathJax.startup.promise.then(() => { mathjax = 'typeset'; }), 20000);
  }
  const imgs = [...document.images];
  imgs.forEach((img) => { if (img.loading === 'lazy') img.loading = 'eager'; });
  await withTimeout(Promise.all(imgs.map((img) => img.complete ? null :
      new Promise((r) => { img.addEventListener('load', r); img.addEventListener('error', r); }))), 10000);
  await withTimeout(document.fonts.ready, 10000);   // the fonts MathJax asked for while typesetting
  const content = document.querySelector('main article, article.bd-article, main') || document.body;
  const link = (sel) => { const a = document.querySelector(sel); return a ? a.href : null; };
  return {
    images: imgs.map((img) => ({
      src: img.currentSrc || img.src, alt: img.getAttribute('alt'), naturalWidth: img.naturalWidth,
      complete: img.complete, content: content.contains(img) && !img.closest('.article-header-buttons, nav, header, footer'),
    })),
    math: {
      nodes: mathNodes.length, mathjax,
      containers: document.querySelectorAll('mjx-container').length,
      assistive: document.querySelectorAll('mjx-container mjx-assistive-mml math').length,
      // a character MathJax's CSS gives no glyph has no ::before content
      unstyled: [...document.querySelectorAll('mjx-container mjx-c')].filter((c) =>
          !getComputedStyle(c, '::before').content || getComputedStyle(c, '::before').content === 'none').length,
      untypeset: mathNodes.filter((n) => !n.querySelector('mjx-container')).map((n) => n.textContent.slice(0, 80)),
      errors: [...document.querySelectorAll('mjx-merror, merror')].map((n) =>
          (n.getAttribute('data-mjx-error') || n.getAttribute('title') || n.textContent).slice(0, 120)),
    },
    launch: {
      colab: link('.dropdown-launch-buttons a[href^="https://colab.research.google.com/"]'),
      binder: link('.dropdown-launch-buttons a[href*="/v2/gh/"]'),
      thebe: !!document.querySelector('button.btn-launch-thebe'),
      switchers: [...document.querySelectorAll('a[class*="btn-switch-to-"]')].map((a) => a.href),
    },
  };
}"""

# Started without waiting, so that the pages of a batch run axe-core side by side.
_AXE_START = """() => {
  window.__axeViolations = axe.run(document, {resultTypes: ['violations']}).then((result) =>
    result.violations.map((v) => ({
      id: v.id, impact: v.impact, help: v.help, count: v.nodes.length,
      targets: v.nodes.slice(0, 4).map((n) => n.target.join(' ')),
    })));
}"""


class Walker:
    """Loads each page once, on demand, and keeps its :class:`PageReport`.

    Pages are walked a few at a time (``BATCH``): each in its own fresh context, all loading,
    typesetting and running axe-core side by side in their own renderer processes, so the
    walk takes about as long as its slowest pages rather than the sum of all.
    """

    # side by side only where there are cores to spare (on two busy cores it is slower)
    BATCH = int(os.environ.get("BROWSER_WALK_BATCH", min(4, max(1, (os.cpu_count() or 2) // 2))))

    def __init__(self, browser, base_url: str, pages: list[str]):
        self.browser, self.base_url = browser, base_url
        self.queue = list(pages)
        self.reports: dict[str, PageReport] = {}
        self.failures: dict[str, Exception] = {}
        self._axe = AXE_JS.read_text(encoding="utf-8") if AXE_JS.exists() else None

    def __call__(self, rel: str) -> PageReport:
        if rel not in self.reports and rel not in self.failures:
            batch = self.queue[self.queue.index(rel):][:self.BATCH] if rel in self.queue else [rel]
            batch = [r for r in batch if r not in self.reports and r not in self.failures]
            self._walk(batch)
        if rel in self.failures:
            raise self.failures[rel]
        return self.reports[rel]

    def _walk(self, batch: list[str]) -> None:
        started = []
        try:
            for rel in batch:            # start every page loading ...
                started.append(self._start(rel))
            for visit in started:        # ... read each one and set axe-core running on it ...
                self._guarded(visit, self._inspect)
            for visit in started:        # ... then collect axe's results
                self._guarded(visit, self._collect)
        finally:
            for visit in started:
                visit["context"].close()

    def _guarded(self, visit: dict, step) -> None:
        if visit["rel"] in self.failures:
            return
        try:
            step(visit)
        except Exception as exc:   # this page's tests fail with it; the other pages go on
            self.failures[visit["rel"]] = exc

    def _start(self, rel: str) -> dict:
        context = self.browser.new_context(locale=LOCALES[rel.split("/")[0]], viewport=VIEWPORT)
        page = context.new_page()
        page.set_default_timeout(60_000)
        visit = {"rel": rel, "context": context, "page": page, "log": PageLog(page),
                 "report": PageReport(rel=rel, url=self.base_url + rel)}
        try:
            response = page.goto(visit["report"].url, wait_until="commit")
            visit["report"].status = response.status if response else 0
        except Exception as exc:
            self.failures[rel] = exc
        return visit

    def _inspect(self, visit: dict) -> None:
        page, report = visit["page"], visit["report"]
        page.wait_for_load_state("load")
        found = page.evaluate(_INSPECT)
        report.final_url = page.url
        report.images, report.math, report.launch = found["images"], found["math"], found["launch"]
        if self._axe is not None:
            page.add_script_tag(content=self._axe)
            page.evaluate(_AXE_START)

    def _collect(self, visit: dict) -> None:
        page, report, log = visit["page"], visit["report"], visit["log"]
        if self._axe is not None:
            report.axe = page.evaluate("() => window.__axeViolations")
        report.errors, report.failed = list(log.errors), list(log.failed)
        report.foreign = sorted({r.url for r in log.requests if not is_own(r.url, self.base_url)})
        report.weight = dict.fromkeys(WEIGHT_COLUMNS, 0)
        for request in log.requests:
            if not is_own(request.url, self.base_url) or request.url.startswith("data:"):
                continue
            try:
                size = request.sizes()["responseBodySize"]
            except Exception:   # failed or unfinished: nothing arrived
                continue
            report.weight[WEIGHT_KINDS.get(request.resource_type, "data")] += max(size, 0)
        self.reports[visit["rel"]] = report


@pytest.fixture(scope="session")
def walk(browser, base_url, site):
    walker = Walker(browser, base_url, site_pages(site))
    _WALKERS.append(walker)
    yield walker
    if walker.reports:
        WEIGHTS_FILE.parent.mkdir(parents=True, exist_ok=True)
        WEIGHTS_FILE.write_text(weight_table(walker.reports.values()) + "\n", encoding="utf-8")


@pytest.fixture(scope="session")
def axe_available():
    if not AXE_JS.exists():
        pytest.fail(f"axe-core is missing: {AXE_JS} (run `make {AXE_JS.relative_to(ROOT)}`)")


_WALKERS: list[Walker] = []


def weight_table(reports) -> str:
    def kb(n: int) -> str:
        return f"{n / 1024:,.0f}"

    rows = sorted(reports, key=lambda r: r.total, reverse=True)
    width = max([len("page")] + [len(r.rel) for r in rows])
    head = f"{'page':<{width}}  " + "  ".join(f"{c:>8}" for c in WEIGHT_COLUMNS) + f"  {'total':>9}"
    lines = [f"Page weight on a cold load: KiB of response bodies (lazy images included); "
             f"limit {MAX_PAGE_BYTES:,} bytes = {MAX_PAGE_BYTES / 1024:,.0f} KiB a page", head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r.rel:<{width}}  " + "  ".join(f"{kb(r.weight.get(c, 0)):>8}" for c in WEIGHT_COLUMNS)
                     + f"  {kb(r.total):>9}")
    return "\n".join(lines)


def pytest_terminal_summary(terminalreporter):
    reports = [r for w in _WALKERS for r in w.reports.values()]
    if reports:
        terminalreporter.section("page weights")
        for line in weight_table(reports).splitlines():
            terminalreporter.write_line(line)
        terminalreporter.write_line(f"(written to {WEIGHTS_FILE})")
    if _SHOT_THIS_RUN:
        terminalreporter.section("screenshots of failing pages")
        for shot in _SHOT_THIS_RUN:
            terminalreporter.write_line(str(shot))


# --- screenshots of failing pages ----------------------------------------------------------

_SHOT_THIS_RUN: list[Path] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed or item.get_closest_marker("browser") is None:
        return
    name = re.sub(r"[^\w.-]+", "_", item.nodeid.split("::", 1)[-1]).strip("_")[:150]
    target = SCREENSHOTS / f"{name}.png"
    try:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page = _CURRENT.get("page")
        if page is not None and not page.is_closed():
            page.screenshot(path=str(target), full_page=True)
        else:
            # a check on the walk's report: load that page again and take its picture
            rel = getattr(item, "callspec", None) and item.callspec.params.get("rel")
            browser = item.funcargs.get("browser")
            base = item.funcargs.get("base_url")
            if not (rel and browser and base):
                return
            context = browser.new_context(locale=LOCALES.get(rel.split("/")[0], "en-US"), viewport=VIEWPORT)
            try:
                page = context.new_page()
                page.goto(base + rel, wait_until="load")
                page.wait_for_load_state("networkidle")
                page.screenshot(path=str(target), full_page=True)
            finally:
                context.close()
        _SHOT_THIS_RUN.append(target)
        report.sections.append(("screenshot", str(target)))
    except Exception as exc:   # a screenshot must never hide the failure itself
        report.sections.append(("screenshot", f"could not take one: {exc}"))
