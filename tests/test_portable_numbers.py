"""Every number the text prints reads the same on another CPU.

The build executes each page on this machine, and the Colab notebooks committed to the repository
carry the numbers it glued into the text. Another machine (CI's, a learner's Colab runtime) may
round the last bits of a float64 differently: torch and MKL (its linear algebra) pick their
kernels by the CPU's vector instructions, and the width of a vector decides the order in which a
sum adds. A number whose printed digits depend on that changes the page with the machine that
builds it, and the committed notebooks no longer match a fresh build (a difference of 2e-16
printed as ``.0e`` did exactly that: ``kc.error_bound`` now glues a bound for such differences).

This test executes every page of the English edition again with torch's and MKL's kernels
limited to other instruction sets (``ATEN_CPU_CAPABILITY``, ``MKL_ENABLE_INSTRUCTIONS``: on this
machine each changes some glued values in their last bits) and compares each glued number, as
the text of either edition formats it (the two editions run the same code), with the build's.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
import torch
from myst_nb.core.variables import format_plain_text  # how a {glue:text} role formats its value

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "code" / "bench"))
sys.path.insert(0, str(ROOT / "tools"))
import notebooks  # noqa: E402
from chapters import run_chapter  # noqa: E402

pytestmark = [pytest.mark.build, pytest.mark.slow]

EXECUTED = ROOT / "_build" / "editions" / "html-en" / "_build" / "jupyter_execute"
PAGES = [md for md in notebooks.chapter_sources() if md.parent.name == "en"]
GLUE_ROLE = re.compile(r"\{glue:text\}`([A-Za-z_][A-Za-z0-9_]*)(?::([^`]*))?`")


def other_capability():
    """An instruction set torch can run here other than the one it picked: the plain kernels, or AVX2 if those are the ones in use."""
    now = torch.backends.cpu.get_cpu_capability()
    return "avx2" if now == "DEFAULT" else "default"


def glued_in_build(page: Path) -> dict:
    """Name → text/plain of every value the build glued on ``page``: what myst-nb pasted into it (as tools/twin.py reads it)."""
    stored = EXECUTED / f"{page.stem}.glue.json"
    if not stored.exists():
        pytest.fail(f"no glued values of the English {page.stem}: run `make book` first")
    return {name: out["data"]["text/plain"] for name, out in json.loads(stored.read_text(encoding="utf-8")).items()}


def test_glue_roles_are_found():
    """The role pattern still matches the pages (else the comparison below would check nothing)."""
    roles = [m for md in PAGES for m in GLUE_ROLE.findall(md.read_text(encoding="utf-8"))]
    assert len(roles) > 300


@pytest.mark.parametrize("page", PAGES, ids=[md.stem for md in PAGES])
def test_printed_numbers_do_not_depend_on_the_vector_instructions(page, monkeypatch):
    roles = {(name, fmt) for lang in ("en", "ja")
             for name, fmt in GLUE_ROLE.findall((page.parent.parent / lang / page.name).read_text(encoding="utf-8"))}
    built = glued_in_build(page)
    elsewhere = {"ATEN_CPU_CAPABILITY": other_capability(), "MKL_ENABLE_INSTRUCTIONS": "SSE4_2"}
    for name, value in elsewhere.items():
        monkeypatch.setenv(name, value)     # the kernel inherits the environment
    _, _, again = run_chapter(page)
    shown = [(name, fmt, format_plain_text(built[name], fmt), format_plain_text(again[name], fmt)) for name, fmt in sorted(roles)]
    differ = [f"{name}:{fmt}: {here} in the build, {there} with {elsewhere}" for name, fmt, here, there in shown if here != there]
    assert not differ, "numbers the text prints depend on the CPU:\n" + "\n".join(differ)
