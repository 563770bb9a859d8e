"""Keep the Colab notebooks in step with the chapters and the built book.

Chapters are written as MyST Markdown notebooks (``book/<lang>/<page>.md``). Colab opens
only ``.ipynb``, so every chapter has a twin ``book/<lang>/<page>.ipynb``, committed next to
it, that the Colab and Binder buttons open. The twin is built from the book (tools/twin.py):
the page's code cells as they are, its Markdown written as plain Jupyter Markdown, with the
numbers the executed build glued, and links into the published book (``repository.book_url``).
So the twins are written after the build: ``make notebooks`` (or ``make book``) does both.

Each chapter's first code cell (tagged ``colab-setup`` and ``remove-cell``, so the HTML page
hides it) installs the course package when it is missing. Its install address is derived
from ``repository.url`` and ``repository.branch`` in ``_config.yml``: change those (and
``repository.book_url``), run ``make notebooks``, and every set-up cell, link and notebook
follows.

    python tools/notebooks.py sync                   # set-up cells of the .md pages only
    python tools/notebooks.py write                  # sync, then the .ipynb twins (needs the build)
    python tools/notebooks.py write book/ja/entropy.md  # only these pages
    python tools/notebooks.py check                  # exit 1 if anything is out of date
"""

from __future__ import annotations

import copy
import hashlib
import json
import sys
from pathlib import Path

import jupytext
import nbformat
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

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


_PARSED: dict[tuple[Path, str], nbformat.NotebookNode] = {}


def read_page(md: Path) -> nbformat.NotebookNode:
    """``jupytext.read(md)``, parsed once for each content of the page (`write` asks for a page
    several times); a copy, which the caller may change."""
    key = (md.resolve(), md.read_text(encoding="utf-8"))
    if key not in _PARSED:
        _PARSED[key] = jupytext.read(md)
    return copy.deepcopy(_PARSED[key])


def chapter_sources(root: Path = ROOT) -> list[Path]:
    """Every MyST notebook page of every edition (pages with a kernelspec)."""
    pages = []
    for md in sorted(root.glob("book/*/*.md")):
        meta = read_page(md).metadata
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


def synced_source(md: Path, config: dict) -> str:
    """The .md page with its set-up cell's install address taken from _config.yml."""
    nb = _with_setup(read_page(md), setup_cell_source(config), md)
    return jupytext.writes(nb, fmt="md:myst")


def work_dir(lang: str, kind: str = "html", root: Path = ROOT) -> Path:
    """Where tools/build_book.py builds one edition (its Sphinx output and executed notebooks)."""
    return root / "_build" / "editions" / f"{kind}-{lang}"


def check_build_is_current(md: Path, work: Path, source_text: str | None = None) -> None:
    """Fail unless the edition's executed copy of ``md`` ran the page's current code cells
    with the current package: the twin's numbers come from that run."""
    import build_book  # noqa: PLC0415  (tools/build_book.py)

    executed = work / "_build" / "jupyter_execute" / f"{md.stem}.ipynb"
    if not executed.exists():
        raise SystemExit(f"{executed} is missing: build the book first (`make book`)")
    stamp = work / "fingerprint"
    try:
        executed_with = json.loads(stamp.read_text()).get("execution")
    except (OSError, ValueError):       # no stamp, or an older build's single hash
        executed_with = None
    if executed_with != build_book.fingerprints()["execution"]:
        raise SystemExit(f"the build in {work} is older than the package in code/: run `make book`")
    page = jupytext.reads(source_text, fmt="md:myst") if source_text is not None else read_page(md)
    ran = [c.source for c in nbformat.read(executed, as_version=4).cells if c.cell_type == "code"]
    if ran != [c.source for c in page.cells if c.cell_type == "code"]:
        raise SystemExit(f"the build ran other code than {md}: run `make book`")


def twin_builder(config: dict, kind: str = "html", langs=None, root: Path = ROOT) -> twin.Twin:
    """What tools/twin.py needs to convert the pages of the given build (``kind``)."""
    import twin  # noqa: PLC0415  (tools/twin.py: imported when needed, `sync` does without it)

    url = twin.book_url(config)
    eds = config["sphinx"]["config"]["bilingual_editions"]
    langs = list(langs or eds)
    return twin.Twin(config=config,
                     editions={lang: twin.load_edition(work_dir(lang, kind, root), lang, url) for lang in langs},
                     titles={lang: eds[lang]["title"] for lang in eds})


def source_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def twin_text(md: Path, builder: twin.Twin, root: Path = ROOT) -> str:
    """The .ipynb twin of one page, as text (built from the page and the edition's build)."""
    import twin  # noqa: PLC0415

    lang = md.parent.name
    check_build_is_current(md, work_dir(lang, root=root))
    nb = twin.convert(md, lang, builder, display_path=str(md.relative_to(root)))
    nb.metadata["klcourse_source"] = {"path": md.relative_to(root).as_posix(),
                                      "sha256": source_digest(md.read_text(encoding="utf-8"))}
    return nbformat.writes(nb) + "\n"


def stale(config: dict, root: Path = ROOT) -> list[Path]:
    """Paths whose content differs from what `write` would produce (needs the built book)."""
    out = []
    builder = twin_builder(config, root=root)
    for md in chapter_sources(root):
        ipynb = md.with_suffix(".ipynb")
        if md.read_text(encoding="utf-8") != synced_source(md, config):
            out.append(md)
            continue
        if not ipynb.exists() or ipynb.read_text(encoding="utf-8") != twin_text(md, builder, root):
            out.append(ipynb)
    return out


def load_config(root: Path = ROOT) -> dict:
    return yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))


def main(argv: list[str]) -> int:
    if argv[1:2] not in (["sync"], ["write"], ["check"]):
        print(__doc__)
        return 2
    config = load_config()
    if argv[1] == "check":
        todo = stale(config)
        for path in todo:
            print(f"out of date: {path.relative_to(ROOT)} (run `make notebooks`)")
        return 1 if todo else 0
    only = {Path(p).resolve() for p in argv[2:]}
    pages = [md for md in chapter_sources() if not only or md in only]
    for md in pages:
        text = synced_source(md, config)
        if md.read_text(encoding="utf-8") != text:
            md.write_text(text, encoding="utf-8")
            print(f"wrote {md.relative_to(ROOT)}")
    if argv[1] == "sync":
        return 0
    import twin  # noqa: PLC0415

    builder = twin_builder(config)
    try:
        texts = {md.with_suffix(".ipynb"): twin_text(md, builder) for md in pages}
    except twin.TwinError as exc:
        print(f"make notebooks: {exc}", file=sys.stderr)
        return 1
    for ipynb, text in texts.items():
        if not ipynb.exists() or ipynb.read_text(encoding="utf-8") != text:
            ipynb.write_text(text, encoding="utf-8")
            print(f"wrote {ipynb.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
