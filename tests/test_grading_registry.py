"""The grader's registry (klcourse.checks.CODING_EXERCISES) matches what the chapters ask.

For every exercise of both editions tagged ``coding`` / ``コーディング``, the registry names the
exercise's page, the function the exercise asks the learner to write (its stub cell is
``def <function>(``), and the check the exercise names; and it holds no other exercise.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from klcourse.checks import CODING_EXERCISES

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import exercises  # noqa: E402

CODING = {"coding", "コーディング"}


def _coding_exercises(lang):
    for md in exercises.chapters(lang):
        text = md.read_text(encoding="utf-8")
        for ex in exercises.collect(md):
            if ex.kind in CODING:
                yield md, text, ex


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_every_coding_exercise_is_registered_with_its_function_and_check(lang):
    found = set()
    for md, text, ex in _coding_exercises(lang):
        assert ex.label in CODING_EXERCISES, f"{md.name}: {ex.label} is not in CODING_EXERCISES"
        entry = CODING_EXERCISES[ex.label]
        found.add(ex.label)
        assert entry.page == md.stem
        assert ex.check == f"`{entry.check.__name__}`", f"{ex.label}: the exercise names {ex.check}"
        # the exercise's own text names the function, and its stub cell defines it
        block = text[text.index(f":label: {ex.label}"):]
        block = block[:block.index("{solution")] if "{solution" in block else block
        assert f"`{entry.function}(" in block, f"{ex.label}: the exercise does not ask for {entry.function}"
        assert re.search(rf"^def {entry.function}\(", block, re.M), f"{ex.label}: no stub for {entry.function}"
    assert found == set(CODING_EXERCISES), f"registered but not a coding exercise in {lang}: " \
                                           f"{sorted(set(CODING_EXERCISES) - found)}"


def test_registry_is_in_reading_order():
    pages = [md.stem for md in exercises.chapters("en")]
    order = [pages.index(ex.page) for ex in CODING_EXERCISES.values()]
    assert order == sorted(order)
