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


def finish(html_dir: Path, source: Path) -> None:
    """Put the edition's solution-free chapter notebooks, without outputs, beside its HTML."""
    notebooks = html_dir / "notebooks"
    notebooks.mkdir(exist_ok=True)
    for md in sorted(source.glob("*.md")):
        nb = jupytext.read(md)
        if "kernelspec" not in nb.metadata:
            continue
        nb.metadata.pop("jupytext", None)
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
        (notebooks / f"{md.stem}.ipynb").write_text(nbformat.writes(nb) + "\n", encoding="utf-8")
