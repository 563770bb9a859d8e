"""The student edition: the same book with every solution removed at the source.

Solutions are written with sphinx-exercise right after their exercise, either as one
directive (```` ```{solution} ex-label ```` … closing fence) or, when they contain code
cells, as a gated pair (``{solution-start}`` … ``{solution-end}``). Removing them from the
*sources* before the build, rather than with sphinx-exercise's ``hide_solutions`` (which
crashes on gated solutions), means no solution text reaches the pages, the ``_sources``
copies, the search index or the notebooks.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import jupytext
import nbformat

_FENCE = re.compile(r"^(?P<fence>`{3,}|:{3,})\{(?P<name>solution|solution-start|solution-end)\}")


def strip_text(text: str) -> str:
    """Remove every solution block from a MyST document."""
    out: list[str] = []
    lines = text.splitlines(keepends=True)
    i, in_gated = 0, False
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if match:
            fence = match["fence"]
            # skip to this directive's closing fence
            i += 1
            while i < len(lines) and lines[i].rstrip() != fence:
                i += 1
            i += 1
            if match["name"] == "solution-start":
                in_gated = True
            elif match["name"] == "solution-end":
                in_gated = False
            continue
        if not in_gated:
            out.append(lines[i])
        i += 1
    return "".join(out)


def strip_solutions(source: Path, dest: Path) -> Path:
    """Copy one edition's folder to ``dest`` with solutions removed; return ``dest``."""
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(source, dest, ignore=shutil.ignore_patterns("*.ipynb", "_build"))
    for md in dest.glob("*.md"):
        md.write_text(strip_text(md.read_text(encoding="utf-8")), encoding="utf-8")
    return dest


def finish(html_dir: Path, source: Path, config: dict | None = None) -> None:
    """Put the edition's student notebooks, without outputs, beside its HTML.

    They are built like the Colab twins (tools/twin.py: plain Markdown, glued numbers, links
    into the published book), from the solution-free sources and the student build that
    executed them (``source`` is ``<work>/source``), with no solution at all.
    """
    import notebooks  # noqa: PLC0415  (tools/notebooks.py)
    import twin  # noqa: PLC0415  (tools/twin.py)

    config = config or notebooks.load_config()
    lang, work = html_dir.name, source.parent
    eds = config["sphinx"]["config"]["bilingual_editions"]
    builder = twin.Twin(config=config,
                        editions={lang: twin.load_edition(work, lang, twin.book_url(config))},
                        titles={code: e["title"] for code, e in eds.items()})
    out = html_dir / "notebooks"
    out.mkdir(exist_ok=True)
    for md in sorted(source.glob("*.md")):
        if "kernelspec" not in jupytext.read(md).metadata:
            continue
        notebooks.check_build_is_current(md, work)
        nb = twin.convert(md, lang, builder, student=True, display_path=f"book/{lang}/{md.name} (student edition)")
        (out / f"{md.stem}.ipynb").write_text(nbformat.writes(nb) + "\n", encoding="utf-8")
