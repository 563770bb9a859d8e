"""The student edition (`make student`) holds no solution text anywhere.

Every line of every solution in the sources (a line of at least 12 characters, so that
common lines such as ``:class: dropdown`` or a bare ``import torch`` do not count) must
be absent from every file of ``_build/student``: pages, ``_sources``, the search index and
the notebooks. The exercises themselves must still be there.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STUDENT = ROOT / "_build" / "student"
sys.path.insert(0, str(ROOT / "tools"))
import student  # noqa: E402

pytestmark = pytest.mark.build

LANGS = ("en", "ja")


def solution_lines(md: Path, elsewhere: str) -> set[str]:
    """Distinctive lines that sit inside solution blocks of one source page and nowhere else.

    ``elsewhere`` is the edition's text with solutions removed: a solution line that also
    appears there (an import shown in an exercise's stub, say) is not a secret.
    """
    text = md.read_text(encoding="utf-8")
    kept = student.strip_text(text)
    return {line.strip() for line in text.splitlines()
            if len(line.strip()) >= 12 and not line.lstrip().startswith((":", "```", "::"))
            and line.strip() not in kept and line.strip() not in elsewhere}


def exercise_labels(md: Path) -> list[str]:
    return re.findall(r"^:label: (ex-[\w-]+)", md.read_text(encoding="utf-8"), flags=re.M)


@pytest.fixture(scope="module", autouse=True)
def student_edition_is_built():
    if not (STUDENT / "en" / "index.html").exists():
        pytest.fail("no student edition in _build/student: run `make student` (make test does it)")


@pytest.mark.parametrize("lang", LANGS)
def test_no_solution_text_anywhere(lang):
    pages = sorted((ROOT / "book" / lang).glob("*.md"))
    elsewhere = "\n".join(student.strip_text(md.read_text(encoding="utf-8")) for md in pages)
    secrets = set().union(*(solution_lines(md, elsewhere) for md in pages))
    assert secrets, "the chapters have solutions, so there is something to look for"
    files = [p for p in (STUDENT / lang).rglob("*") if p.is_file() and p.suffix in {".html", ".js", ".txt", ".md", ".ipynb"}
             and "mathjax" not in p.parts]
    leaks = []
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        leaks += [(path.relative_to(STUDENT), s) for s in secrets if s in text]
    assert not leaks, f"solution text found: {leaks[:5]}"


@pytest.mark.parametrize("lang", LANGS)
def test_exercises_and_notebooks_are_there(lang):
    for md in (ROOT / "book" / lang).glob("*.md"):
        labels = exercise_labels(md)
        if not labels:
            continue
        page = (STUDENT / lang / f"{md.stem}.html").read_text(encoding="utf-8")
        for label in labels:
            assert f'id="{label}"' in page, f"{md.stem}: exercise {label} missing from the student page"
        assert (STUDENT / lang / "notebooks" / f"{md.stem}.ipynb").is_file()


def test_no_colab_or_binder_buttons_that_would_open_full_notebooks():
    for page in (STUDENT / "en").glob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert 'href="https://colab.research.google.com' not in text, page.name
        assert 'href="https://mybinder.org/v2' not in text, page.name
