"""Keep the Colab notebooks in step with the chapters' MyST sources.

Chapters are written as MyST Markdown notebooks (``book/<lang>/<page>.md``). Colab opens
only ``.ipynb``, so every chapter has a twin ``book/<lang>/<page>.ipynb`` with the same cells
and no outputs, committed next to it; the Colab and Binder buttons point there.

Each chapter's first code cell (tagged ``colab-setup`` and ``remove-cell``, so the HTML page
hides it) installs the course package when it is missing. Its install address is derived
from ``repository.url`` and ``repository.branch`` in ``_config.yml``: change those, run
``python tools/notebooks.py write``, and every set-up cell and notebook follows.

    python tools/notebooks.py write                  # rewrite set-up cells and .ipynb twins
    python tools/notebooks.py write book/ja/entropy.md  # only these pages
    python tools/notebooks.py check                  # exit 1 if anything is out of date
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import jupytext
import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
SETUP_TAG = "colab-setup"

SETUP_TEMPLATE = '''\
# Set-up for Colab and Binder: install the course package `klcourse` if it is missing.
# (KLCOURSE_SOURCE may name another place to install it from, such as a local checkout.)
import importlib.util, os
if importlib.util.find_spec("klcourse") is None:
    source = os.environ.get("KLCOURSE_SOURCE", "{install}")
    %pip install --quiet {{source}}'''


def install_address(config: dict) -> str:
    """The pip address of the package on the configured repository and branch."""
    repo = config["repository"]
    return f"git+{repo['url'].rstrip('/')}@{repo.get('branch', 'main')}#subdirectory=code"


def setup_cell_source(config: dict) -> str:
    return SETUP_TEMPLATE.format(install=install_address(config))


def chapter_sources(root: Path = ROOT) -> list[Path]:
    """Every MyST notebook page of every edition (pages with a kernelspec)."""
    pages = []
    for md in sorted(root.glob("book/*/*.md")):
        meta = jupytext.read(md).metadata
        if "kernelspec" in meta:
            pages.append(md)
    return pages


def _with_setup(nb: nbformat.NotebookNode, source: str, path: Path) -> nbformat.NotebookNode:
    setup = [c for c in nb.cells if SETUP_TAG in c.get("metadata", {}).get("tags", [])]
    if len(setup) != 1 or nb.cells.index(setup[0]) != _first_code_index(nb):
        raise SystemExit(f"{path}: the first code cell must be the one set-up cell tagged "
                         f"'{SETUP_TAG}' (found {len(setup)} such cells)")
    setup[0].source = source
    return nb


def _first_code_index(nb: nbformat.NotebookNode) -> int:
    return next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")


def expected(md: Path, config: dict) -> tuple[str, str]:
    """What the .md and its .ipynb twin should contain, as text."""
    nb = _with_setup(jupytext.read(md), setup_cell_source(config), md)
    md_text = jupytext.writes(nb, fmt="md:myst")
    twin = jupytext.reads(md_text, fmt="md:myst")
    twin.metadata.pop("jupytext", None)
    seen: dict[str, int] = {}
    for cell in twin.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        # stable ids, from the cell's content, so that an unchanged page gives an unchanged twin
        digest = hashlib.sha1(f"{cell.cell_type}\n{cell.source}".encode()).hexdigest()[:10]
        seen[digest] = seen.get(digest, 0) + 1
        cell.id = digest if seen[digest] == 1 else f"{digest}-{seen[digest]}"
    return md_text, nbformat.writes(twin) + "\n"


def stale(config: dict, root: Path = ROOT) -> list[Path]:
    """Paths whose content differs from what `write` would produce."""
    out = []
    for md in chapter_sources(root):
        md_text, ipynb_text = expected(md, config)
        ipynb = md.with_suffix(".ipynb")
        if md.read_text(encoding="utf-8") != md_text:
            out.append(md)
        if not ipynb.exists() or ipynb.read_text(encoding="utf-8") != ipynb_text:
            out.append(ipynb)
    return out


def load_config(root: Path = ROOT) -> dict:
    return yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))


def main(argv: list[str]) -> int:
    if argv[1:2] not in (["write"], ["check"]):
        print(__doc__)
        return 2
    config = load_config()
    if argv[1] == "check":
        todo = stale(config)
        for path in todo:
            print(f"out of date: {path.relative_to(ROOT)} (run `make notebooks`)")
        return 1 if todo else 0
    only = {Path(p).resolve() for p in argv[2:]}
    for md in chapter_sources():
        if only and md not in only:
            continue
        md_text, ipynb_text = expected(md, config)
        for path, text in ((md, md_text), (md.with_suffix(".ipynb"), ipynb_text)):
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                path.write_text(text, encoding="utf-8")
                print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
