"""The committed Colab/Binder notebooks read like the book (checks that need no build).

Each chapter's twin ``book/<lang>/<page>.ipynb`` is built by ``make notebooks`` from the page
and the executed build (tools/twin.py). Here: it is not stale against its ``.md``, its code
cells are the page's, its Markdown holds no MyST construct (found by MyST's own parser), every
link is absolute, and the exercises carry the anchors and metadata the grader reads.
The links' targets and the glued numbers are checked against the built site in
tests/test_twins_built.py.
"""

from __future__ import annotations

import hashlib
import re
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import exercises  # noqa: E402
import notebooks  # noqa: E402
import twin  # noqa: E402

CONFIG = notebooks.load_config()
BOOK_URL = twin.book_url(CONFIG)
CHAPTERS = notebooks.chapter_sources()
IDS = [f"{md.parent.name}/{md.stem}" for md in CHAPTERS]


def links(markdown: str) -> list[str]:
    """Every link and image address in a Markdown cell, from the parser's tokens (and any
    href/src in raw HTML)."""
    out = []
    for token in twin.markdown_parser().parse(markdown):
        for t in [token, *(token.children or [])]:
            if t.type == "link_open":
                out.append(t.attrs["href"])
            elif t.type == "image":
                out.append(t.attrs["src"])
            elif t.type in ("html_block", "html_inline"):
                out += re.findall(r'(?:href|src)="([^"]*)"', t.content)
    return out


def markdown_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "markdown"]


@pytest.fixture(params=CHAPTERS, ids=IDS)
def chapter(request):
    md = request.param
    return md, nbformat.read(md.with_suffix(".ipynb"), as_version=4)


def test_twin_is_built_from_the_current_source(chapter):
    """A twin records the digest of the .md it was built from: edit the page without running
    `make notebooks` and this fails (tests/test_twins_built.py also rebuilds and compares)."""
    md, nb = chapter
    digest = hashlib.sha256(md.read_bytes()).hexdigest()
    assert nb.metadata["klcourse_source"] == {"path": md.relative_to(ROOT).as_posix(), "sha256": digest}, \
        f"{md.with_suffix('.ipynb').relative_to(ROOT)} is stale: run `make notebooks`"
    assert nb.metadata["klcourse"] == {"page": md.stem, "lang": md.parent.name, "edition": "reader"}


def test_code_cells_are_the_pages_in_order_without_outputs(chapter):
    md, nb = chapter
    page = [c for c in jupytext.read(md).cells if c.cell_type == "code"]
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert [c.source for c in code] == [c.source for c in page]
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    assert notebooks.SETUP_TAG in code[0].metadata["tags"] and "remove-cell" in code[0].metadata["tags"]
    assert notebooks.install_address(CONFIG) in code[0].source


def test_no_myst_construct_is_left(chapter):
    _, nb = chapter
    left = [(i, found) for i, c in enumerate(nb.cells) if c.cell_type == "markdown"
            for found in twin.myst_constructs(c.source)]
    assert left == []


def test_every_link_is_absolute(chapter):
    _, nb = chapter
    found = [href for c in markdown_cells(nb) for href in links(c.source)]
    assert found, "a chapter links its glossary terms and sections"
    relative = [h for h in found if not h.startswith(("https://", "http://"))]
    assert relative == []
    book = [h for h in found if h.startswith(BOOK_URL)]
    assert len(book) >= len(found) - 1, "all but the other language's notebook point into the book"


def test_first_cell_has_title_page_and_other_language(chapter):
    md, nb = chapter
    lang, other = md.parent.name, {"en": "ja", "ja": "en"}[md.parent.name]
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# ")
    title = jupytext.read(md).cells[0].source.split("\n# ", 1)[-1].split("\n")[0].removeprefix("# ")
    assert first.source.splitlines()[0] == f"# {title}"
    assert f"{BOOK_URL}{lang}/{md.stem}.html" in links(first.source)
    assert twin.colab_url(CONFIG, f"book/{other}/{md.stem}.ipynb") in links(first.source)


def test_exercise_cells_carry_the_label_anchor_and_metadata(chapter):
    """The contract with the grader (issue 15): one cell per exercise, starting with its anchor
    and numbered heading, with ``klcourse.exercise`` metadata."""
    md, nb = chapter
    labels = [e.label for e in exercises.collect(md)]
    cells = [c for c in nb.cells if "exercise" in c.metadata.get("klcourse", {})]
    assert [c.metadata["klcourse"]["exercise"] for c in cells] == labels
    word = "Exercise" if md.parent.name == "en" else "練習"
    for cell, label in zip(cells, labels):
        assert re.match(rf'<a id="{label}"></a>\n\n### {word} \d+ ', cell.source), cell.source[:120]


def test_each_solution_is_collapsed(chapter):
    md, nb = chapter
    text = md.read_text(encoding="utf-8")
    solved = re.findall(r"^[`:]{3,}\{solution(?:-start)?\} (ex-[\w-]+)", text, flags=re.M)
    cells = [c for c in markdown_cells(nb) if "solution" in c.metadata.get("klcourse", {})]
    assert sorted({c.metadata["klcourse"]["solution"] for c in cells}) == sorted(solved)
    for cell in cells:
        assert cell.source.startswith("<details>\n<summary>") and cell.source.endswith("</details>")
        assert "<details open" not in cell.source
