"""Which check judges which coding exercise: the one registry the grader reads.

Each coding exercise of the chapters asks the learner for one function, named in the exercise
("Write ``my_entropy(p, base=None)`` ...") and passed to one check. ``klcourse-grade``
(:mod:`klcourse.grading`) finds the exercise labels in a submitted notebook, looks up here
which function to take from the learner's kernel and which check judges it.
``tests/test_grading_registry.py`` keeps this table in step with the chapters of both editions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from klcourse.checks._entropy import check_cross_entropy, check_entropy
from klcourse.checks._kl import check_grid_kl, check_kl
from klcourse.checks._losses import check_ise, check_landing
from klcourse.checks._modes import check_moment_match, check_reverse_kl_modes


@dataclass(frozen=True)
class CodingExercise:
    """A coding exercise: its label, its page, the learner's function and the check that judges it."""

    label: str
    page: str
    function: str
    check: Callable


# in reading order (the chapters' order in _toc.yml)
CODING_EXERCISES: dict[str, CodingExercise] = {ex.label: ex for ex in (
    CodingExercise("ex-entropy-1", "entropy", "my_entropy", check_entropy),
    CodingExercise("ex-entropy-4", "entropy", "my_cross_entropy", check_cross_entropy),
    CodingExercise("ex-kl-1", "kl-divergence", "my_kl", check_kl),
    CodingExercise("ex-kl-2", "kl-divergence", "my_grid_kl", check_grid_kl),
    CodingExercise("ex-mode-2", "mode-seeking", "my_moment_match", check_moment_match),
    CodingExercise("ex-mode-4", "mode-seeking", "my_best_reverse_mode", check_reverse_kl_modes),
    CodingExercise("ex-losses-2", "comparing-losses", "my_ise", check_ise),
    CodingExercise("ex-losses-3", "comparing-losses", "my_landing", check_landing),
)}
