"""What the browser suite knows about the built site: where it is, its pages, its host.

Shared by ``conftest.py`` and ``test_site.py`` (a module of its own, since test modules
cannot safely import from a conftest).
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]
SITE = Path(os.environ.get("BOOK_SITE", ROOT / "_build" / "html")).resolve()
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
VENDOR = ROOT / "_build" / "vendor"
AXE_JS = VENDOR / "axe-core" / "axe.min.js"
THEBE_LIB = VENDOR / "thebe" / "lib"
SCREENSHOTS = ROOT / "_build" / "screenshots"
WEIGHTS_FILE = ROOT / "_build" / "page-weights.txt"
EDITIONS = ("en", "ja")
LOCALES = {"en": "en-US", "ja": "ja-JP"}
NOT_PAGES = {"genindex.html", "search.html"}
VIEWPORT = {"width": 1280, "height": 900}
MAX_PAGE_BYTES = 1_500 * 1024   # what one page may transfer on a cold load (issue 11: 1,500 KiB)


# --- what is in the site -----------------------------------------------------------------

def is_redirect_stub(path: Path) -> bool:
    """Sphinx's ``index.html`` that only forwards to the root page."""
    head = path.read_text(encoding="utf-8", errors="replace")[:2000]
    return len(head) < 1000 and 'http-equiv="refresh"' in head.lower()


def site_pages(site: Path = SITE) -> list[str]:
    """Every page of both editions, as ``<lang>/<page>.html`` (no search, index or stubs)."""
    pages = []
    for lang in EDITIONS:
        folder = site / lang
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*.html")):
            rel = path.relative_to(folder)
            if rel.parts[0].startswith("_") or rel.name in NOT_PAGES or is_redirect_stub(path):
                continue
            pages.append(f"{lang}/{rel.as_posix()}")
    return pages


def redirect_stubs(site: Path = SITE) -> list[str]:
    return [f"{lang}/{p.relative_to(site / lang).as_posix()}" for lang in EDITIONS
            if (site / lang).is_dir()
            for p in sorted((site / lang).glob("*.html")) if is_redirect_stub(p)]


def page_name(rel: str) -> str:
    """``ja/kl-divergence.html`` -> ``kl-divergence``."""
    return rel.split("/", 1)[1].removesuffix(".html")


def is_own(url: str, base_url: str) -> bool:
    """A request the site may make: to its own server, or one that needs no network."""
    if url.split(":", 1)[0] in ("data", "blob", "about", "chrome-extension"):
        return True
    return urlsplit(url).netloc == urlsplit(base_url).netloc
