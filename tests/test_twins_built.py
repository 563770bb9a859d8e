"""The Colab twins and the student notebooks against the built book (`make book`, `make student`).

* every link resolves: a link into the published book names a page of ``_build/html`` and an
  ``id`` on that page; a Colab link names a notebook committed in this repository;
* every number the page shows (myst-nb's ``pasted-text`` spans) appears in the notebook's
  text, in the same order and with the same formatting;
* a twin is what ``make notebooks`` writes now (not stale against its page or the build);
* the student notebooks hold no MyST and no solution, and keep the exercises' cells.
"""

from __future__ import annotations

import html
import re
import sys
from functools import lru_cache
from pathlib import Path
from urllib.parse import unquote, urlsplit

import jupytext
import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "tests"))
import notebooks  # noqa: E402
import twin  # noqa: E402
from test_twins import links  # noqa: E402

pytestmark = pytest.mark.build

CONFIG = notebooks.load_config()
BOOK_URL = twin.book_url(CONFIG)
SITE, STUDENT = ROOT / "_build" / "html", ROOT / "_build" / "student"
CHAPTERS = notebooks.chapter_sources()
IDS = [f"{md.parent.name}/{md.stem}" for md in CHAPTERS]


def student_notebook(md: Path) -> Path:
    return STUDENT / md.parent.name / "notebooks" / f"{md.stem}.ipynb"


NOTEBOOKS = [md.with_suffix(".ipynb") for md in CHAPTERS] + [student_notebook(md) for md in CHAPTERS]
NB_IDS = [f"reader:{i}" for i in IDS] + [f"student:{i}" for i in IDS]


def built(path: Path) -> Path:
    """``path``, or a failure that says which build to run first."""
    if not path.exists():
        pytest.fail(f"no {path.relative_to(ROOT)}: build the book and the student edition first "
                    "(`make book student`; `make test` does both)")
    return path


@lru_cache(maxsize=None)
def ids_on(page: Path) -> frozenset[str]:
    return frozenset(html.unescape(i) for i in re.findall(r'\sid="([^"]+)"', page.read_text(encoding="utf-8")))


def unresolved(href: str) -> str | None:
    """Why a link does not resolve, or None."""
    colab = twin.colab_url(CONFIG, "")
    if href.startswith(colab):
        path = ROOT / href[len(colab):]
        return None if path.is_file() else f"no {path.relative_to(ROOT)} in the repository"
    if not href.startswith(BOOK_URL):
        return "neither the book nor one of its Colab notebooks"
    parts = urlsplit(href[len(BOOK_URL):])
    page = SITE / unquote(parts.path)
    if not page.is_file():
        return f"no page {page.relative_to(ROOT)}"
    if parts.fragment and unquote(parts.fragment) not in ids_on(page):
        return f"no id {parts.fragment!r} on {page.relative_to(ROOT)}"
    return None


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NB_IDS)
def test_every_link_resolves_in_the_built_book(path):
    built(SITE / "en" / "entropy.html")
    nb = nbformat.read(built(path), as_version=4)
    found = [h for c in nb.cells if c.cell_type == "markdown" for h in links(c.source)]
    assert len(found) > 5
    bad = {h: why for h in found if (why := unresolved(h))}
    assert bad == {}


def pasted_values(page: Path) -> list[str]:
    text = page.read_text(encoding="utf-8")
    return [html.unescape(re.sub(r"<[^>]+>", "", v)) for v in
            re.findall(r'<span class="pasted-text">(.*?)</span>', text, flags=re.S)]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NB_IDS)
def test_every_glued_value_on_the_page_is_in_the_notebook(path):
    nb = nbformat.read(built(path), as_version=4)
    lang, page = nb.metadata["klcourse"]["lang"], nb.metadata["klcourse"]["page"]
    site = STUDENT if nb.metadata["klcourse"]["edition"] == "student" else SITE
    values = pasted_values(built(site / lang / f"{page}.html"))
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    at, missing = 0, []
    for value in values:     # in the page's order
        found = text.find(value, at)
        if found < 0:
            missing.append(value)
        else:
            at = found + len(value)
    assert values or page == "intro"
    assert missing == [], f"{len(missing)} of {len(values)} glued values missing or out of order"


def test_twins_are_what_make_notebooks_writes():
    built(SITE / "en" / "entropy.html")
    assert notebooks.stale(CONFIG) == [], "run `make notebooks` and commit the result"


@pytest.mark.parametrize("md", CHAPTERS, ids=IDS)
def test_student_notebook_has_no_myst_and_no_solution(md):
    nb = nbformat.read(built(student_notebook(md)), as_version=4)
    assert nb.metadata["klcourse"] == {"page": md.stem, "lang": md.parent.name, "edition": "student"}
    left = [found for c in nb.cells if c.cell_type == "markdown" for found in twin.myst_constructs(c.source)]
    assert left == []
    assert not [c for c in nb.cells if "solution" in c.metadata.get("klcourse", {}) or "<details>" in c.source]
    reader = nbformat.read(md.with_suffix(".ipynb"), as_version=4)
    exercises = [c.metadata["klcourse"]["exercise"] for c in reader.cells if "exercise" in c.metadata.get("klcourse", {})]
    assert [c.metadata["klcourse"]["exercise"] for c in nb.cells if "exercise" in c.metadata.get("klcourse", {})] \
        == exercises
    # the code cells are the student page's: the exercises' starting cells, with their checks
    page = jupytext.read(STUDENT.parent / "editions" / f"student-{md.parent.name}" / "source" / md.name)
    assert [c.source for c in nb.cells if c.cell_type == "code"] == \
        [c.source for c in page.cells if c.cell_type == "code"]
