"""Reading a submitted notebook: is it one, which coding exercises it holds, in which language.

Two formats of the chapters' notebooks are understood:

* MyST twins (``book/<lang>/<page>.ipynb`` today): a Markdown cell holds the exercise as a
  sphinx-exercise directive, ```` ```{exercise} Title ```` with ``:label: ex-entropy-1``;
* tagged twins: notebook metadata ``"klcourse": {"page", "lang", "edition"}`` and, for each
  exercise, a Markdown heading cell that starts with ``<a id="ex-entropy-1"></a>`` and carries
  the cell metadata ``"klcourse": {"exercise": "ex-entropy-1"}``.

Nothing here runs the notebook's code: it is only parsed as JSON.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from klcourse.checks import CODING_EXERCISES

_DIRECTIVE = re.compile(
    r"^(?P<fence>`{3,}|:{3,})\{exercise\}[ \t]*(?P<title>[^\n]*)\n(?P<body>.*?)^(?P=fence)[ \t]*$",
    re.M | re.S)
_LABEL = re.compile(r"^:label:\s*(?P<label>\S+)", re.M)
_ANCHOR = re.compile(r"""^\s*<a\s+id=["'](?P<label>ex-[\w-]+)["']\s*>\s*</a>\s*(?P<rest>[^\n]*)""")
_SOLUTION = re.compile(r"^(`{3,}|:{3,})\{solution(-start)?\}", re.M)
_KANA = re.compile(r"[\u3040-\u30ff]")


class NotGradable(Exception):
    """The file cannot be graded; the message says why, for the instructor."""


@dataclass
class Submission:
    """What the grader knows about a notebook before running it."""

    path: Path
    nb: nbformat.NotebookNode
    lang: str                      # "en" or "ja": the language of the feedback
    labels: list[str]              # coding exercises the grader expects, in reading order
    found: set[str]                # of these, the ones whose exercise cell is in the notebook
    titles: dict[str, str]         # label -> the exercise's title as the notebook shows it
    reader_edition: bool           # the notebook holds the solutions
    tampering: list[str] = field(default_factory=list)  # inconsistencies in the metadata


def read_submission(path: str | Path) -> Submission:
    """Parse ``path`` as one of the course's notebooks; raise :class:`NotGradable` if it is not one."""
    path = Path(path)
    if not path.exists():
        raise NotGradable("no such file")
    if not path.is_file():
        raise NotGradable("not a file")
    try:
        text = path.read_text(encoding="utf-8")
        nb = nbformat.reads(text, as_version=4)
    except (UnicodeDecodeError, json.JSONDecodeError, nbformat.reader.NotJSONError) as error:
        raise NotGradable(f"not a Jupyter notebook ({type(error).__name__})") from None
    except Exception as error:  # nbformat raises several kinds for malformed notebooks
        raise NotGradable(f"not a readable Jupyter notebook: {error}".splitlines()[0][:200]) from None
    if not isinstance(nb.get("cells"), list):
        raise NotGradable("not a Jupyter notebook (no cells)")

    titles: dict[str, str] = {}
    tampering: list[str] = []
    markdown = []
    for index, cell in enumerate(nb.cells):
        if cell.get("cell_type") != "markdown":
            continue
        source = cell.get("source", "")
        markdown.append(source)
        for match in _DIRECTIVE.finditer(source):
            label = _LABEL.search(match["body"])
            if label:
                titles.setdefault(label["label"], match["title"].strip())
        meta = cell.get("metadata", {}).get("klcourse", {})
        meta_label = meta.get("exercise") if isinstance(meta, dict) else None
        anchor = _ANCHOR.match(source)
        if anchor and meta_label and anchor["label"] != meta_label:
            tampering.append(f"cell {index}: the exercise heading is {anchor['label']} but its "
                             f"metadata says {meta_label}")
        for label in {anchor["label"] if anchor else None, meta_label} - {None}:
            if not isinstance(label, str):
                continue
            heading = anchor["rest"] if anchor else source.strip().splitlines()[0] if source.strip() else ""
            titles.setdefault(label, heading.lstrip("#").strip())

    known = [label for label in titles if label in CODING_EXERCISES]
    pages = {CODING_EXERCISES[label].page for label in known}
    course = nb.metadata.get("klcourse", {})
    course = course if isinstance(course, dict) else {}
    page = course.get("page")
    if isinstance(page, str) and page:
        if pages and pages != {page}:
            tampering.append(f"the notebook's metadata names the page {page!r}, but "
                             f"its exercises belong to {', '.join(sorted(pages))}")
        if not pages and page in {ex.page for ex in CODING_EXERCISES.values()}:
            pages = {page}
    if not pages:
        prefixes = {label.rsplit("-", 1)[0] for label in CODING_EXERCISES}
        ours = [label for label in titles if label.rsplit("-", 1)[0] in prefixes]
        if ours:
            raise NotGradable(f"holds no coding exercise (only {', '.join(ours)})")
        raise NotGradable("holds no coding exercise of this course")
    labels = [ex.label for ex in CODING_EXERCISES.values() if ex.page in pages]

    lang = course.get("lang")
    if lang not in ("en", "ja"):
        if lang is not None:
            tampering.append(f"the notebook's metadata names the language {lang!r}")
        lang = "ja" if any(_KANA.search(text) for text in markdown) else "en"
    reader = course.get("edition") == "reader" or any(_SOLUTION.search(text) for text in markdown)
    return Submission(path=path, nb=nb, lang=lang, labels=labels, found=set(known) & set(labels),
                      titles=titles, reader_edition=reader, tampering=tampering)
