"""Automatic checks for the coding exercises, one function per exercise.

A learner writes a function in the chapter's notebook and passes it to the check::

    from klcourse.checks import check_entropy
    check_entropy(my_entropy)            # or check_entropy(my_entropy, lang="ja")

The check calls it on reference cases and prints which case failed, what was expected,
what came back, and the likely mistake (wrong log base, p and q swapped, a missing Δx, a
target that is not normalised...). It returns a report that is true when every case passed.
"""

from klcourse.checks._report import Case
from klcourse.checks._report import CheckReport
from klcourse.checks._report import run_cases

# --- chapter "Entropy" -----------------------------------------------------------------------
from klcourse.checks._entropy import check_entropy
from klcourse.checks._entropy import check_cross_entropy

# --- chapter "KL divergence" ----------------------------------------------------------------
from klcourse.checks._kl import check_kl
from klcourse.checks._kl import check_grid_kl

# --- chapter "Mode-seeking vs mean-seeking" ------------------------------------------------
from klcourse.checks._modes import check_moment_match
from klcourse.checks._modes import check_reverse_kl_modes

# --- chapter "Comparing losses" -------------------------------------------------------------
from klcourse.checks._losses import check_ise
from klcourse.checks._losses import check_landing

# --- which check judges which coding exercise (read by klcourse-grade) ----------------------
from klcourse.checks._registry import CodingExercise
from klcourse.checks._registry import CODING_EXERCISES

__all__ = [
    "Case",
    "CheckReport",
    "run_cases",
    "check_entropy",
    "check_cross_entropy",
    "check_kl",
    "check_grid_kl",
    "check_moment_match",
    "check_reverse_kl_modes",
    "check_ise",
    "check_landing",
    "CodingExercise",
    "CODING_EXERCISES",
]
