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

It needs the Jupyter kernel stack, which the package leaves out of its dependencies (a learner's
install on Colab must not replace the runtime's own kernel): ``pip install "klcourse[grade]"``.
Without it, the command and every name here say so instead of failing on an import.
"""

import sys
from importlib.util import find_spec

_EXTRA = ("nbformat", "nbclient", "jupyter_client", "ipykernel")  # the "grade" extra of code/pyproject.toml
_MISSING = [name for name in _EXTRA if find_spec(name) is None]

if not _MISSING:
    from klcourse.grading._runner import ExerciseGrade
    from klcourse.grading._runner import NotebookGrade
    from klcourse.grading._runner import grade_notebook
    from klcourse.grading._output import write_csv
    from klcourse.grading._output import write_feedback
    from klcourse.grading._cli import main
else:
    _NEEDS = (f"grading needs {', '.join(_MISSING)}, which the package installs only with its grading extra: "
              'pip install "klcourse[grade]" (from a checkout: pip install "./code[grade]")')

    def main(argv=None):
        """The ``klcourse-grade`` command without its dependencies: say which are missing; exit status 2."""
        print(f"klcourse-grade: {_NEEDS}", file=sys.stderr)
        return 2

    def __getattr__(name):
        if name in __all__:
            raise ImportError(f"klcourse.grading.{name}: {_NEEDS}", name=__name__)
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "ExerciseGrade",
    "NotebookGrade",
    "grade_notebook",
    "write_csv",
    "write_feedback",
    "main",
]
