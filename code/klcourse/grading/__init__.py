"""Grading a class: run every learner's notebook and score each coding exercise.

Installed with the package as the command ``klcourse-grade``::

    klcourse-grade [--out grades.csv] [--timeout SECONDS] [--memory MB] [--lang en|ja] NOTEBOOK...

Each notebook runs from scratch in its own kernel (a separate process with a wall-clock time
limit and a memory cap); the check of each of its coding exercises
(:data:`klcourse.checks.CODING_EXERCISES`) then runs in the grader's process on the learner's
function, whose every call is answered by the kernel, so the notebook cannot reach the code
that judges it. One CSV row per notebook, one Markdown feedback file per notebook next to the
CSV. The same from Python::

    from klcourse.grading import grade_notebook
    grade = grade_notebook("alice/entropy.ipynb", timeout=120)
    grade.status, grade.score, grade.exercises["ex-entropy-1"].verdict
"""

from klcourse.grading._runner import ExerciseGrade
from klcourse.grading._runner import NotebookGrade
from klcourse.grading._runner import grade_notebook
from klcourse.grading._output import write_csv
from klcourse.grading._output import write_feedback
from klcourse.grading._cli import main

__all__ = [
    "ExerciseGrade",
    "NotebookGrade",
    "grade_notebook",
    "write_csv",
    "write_feedback",
    "main",
]
