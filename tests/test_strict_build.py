"""The build is strict: a failing cell or a broken cross-reference fails it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import build_book  # noqa: E402

pytestmark = pytest.mark.build

CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
HEADER = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

# A page

"""


def build(tmp_path: Path, body: str) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "intro.md").write_text(HEADER + body, encoding="utf-8")
    build_book.build_edition("en", CONFIG, {"format": "jb-book", "root": "intro"}, source, tmp_path / "work")


def test_a_clean_page_builds(tmp_path):
    build(tmp_path, "```{code-cell} ipython3\n1 + 1\n```\n")
    assert (tmp_path / "work" / "_build" / "html" / "intro.html").is_file()


@pytest.mark.parametrize("body", [
    "```{code-cell} ipython3\nraise ValueError('a failing cell')\n```\n",
    "See {ref}`no-such-label`.\n",
    "```{code-cell} ipython3\nimport sys\nprint('a warning', file=sys.stderr)\n```\n",
], ids=["failing-cell", "broken-reference", "stderr-output"])
def test_a_faulty_page_fails_the_build(tmp_path, body):
    with pytest.raises(SystemExit, match="build failed"):
        build(tmp_path, body)
