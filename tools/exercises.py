"""The instructor's index of exercises, generated from the chapters themselves.

Every exercise is a sphinx-exercise ``{exercise}`` directive with a ``:label:`` and, as the
first line of its body, its kind and difficulty in bold brackets, e.g.
``**[coding · ★★☆]**`` or ``**[コーディング・★★☆]**``. This script collects them, in
reading order, into ``book/<lang>/_exercise-index.md``, which the instructor's guide
includes, so the index cannot drift from the chapters.

    python tools/exercises.py write    # regenerate both editions' index
    python tools/exercises.py check    # exit 1 if an index is out of date
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
INDEX = "_exercise-index.md"

_EXERCISE = re.compile(
    r"^(?P<fence>`{3,}|:{3,})\{exercise\}[ \t]*(?P<title>[^\n]*)\n(?P<body>.*?)^(?P=fence)[ \t]*$",
    re.M | re.S)
_LABEL = re.compile(r"^:label:\s*(\S+)", re.M)
_TAG = re.compile(r"\*\*\[(?P<kind>[^·・\]]+?)\s*[·・]\s*(?P<stars>[★☆]+)\]\*\*")
_CHECK = re.compile(r"\bcheck_\w+")

HEADERS = {
    "en": ("Exercise", "Chapter", "Kind", "Difficulty", "Automatic check"),
    "ja": ("演習", "章", "種類", "難易度", "自動チェック"),
}


@dataclass(frozen=True)
class Exercise:
    label: str
    title: str
    page: str
    kind: str
    stars: str
    check: str


def chapters(lang: str, root: Path = ROOT) -> list[Path]:
    """The edition's pages in reading order, from _toc.yml."""
    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    names = [c["file"].removeprefix("book/en/") for c in toc["chapters"]]
    return [root / "book" / lang / f"{name}.md" for name in names]


def collect(md: Path) -> list[Exercise]:
    """Every exercise of one page, in order; raises if one lacks a label or a kind tag."""
    found = []
    for match in _EXERCISE.finditer(md.read_text(encoding="utf-8")):
        body = match["body"]
        label, tag = _LABEL.search(body), _TAG.search(body)
        if not label or not tag:
            raise SystemExit(f"{md}: exercise {match['title']!r} needs a :label: and a "
                             "**[kind · ★★☆]** tag on its first line")
        check = _CHECK.search(body)
        found.append(Exercise(label[1], match["title"].strip(), md.stem, tag["kind"].strip(),
                              tag["stars"], f"`{check[0]}`" if check else "—"))
    return found


def render(lang: str, root: Path = ROOT) -> str:
    head = HEADERS[lang]
    rows = [f"| {' | '.join(head)} |", "|" + "---|" * len(head)]
    for md in chapters(lang, root):
        for ex in collect(md):
            rows.append(f"| {{ref}}`{ex.title} <{ex.label}>` | {{ref}}`{ex.page}` | {ex.kind} | "
                        f"{ex.stars} | {ex.check} |")
    return "\n".join(rows) + "\n"


def main(argv: list[str]) -> int:
    if argv[1:] not in (["write"], ["check"]):
        print(__doc__)
        return 2
    stale = []
    for lang in HEADERS:
        path = ROOT / "book" / lang / INDEX
        text = render(lang)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            stale.append(path)
            if argv[1] == "write":
                path.write_text(text, encoding="utf-8")
                print(f"wrote {path.relative_to(ROOT)}")
    if argv[1] == "check":
        for path in stale:
            print(f"out of date: {path.relative_to(ROOT)} (run `python tools/exercises.py write`)")
        return 1 if stale else 0
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
