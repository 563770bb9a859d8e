"""The ``klcourse-grade`` command."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from klcourse.grading._output import _Progress, summary, write_csv, write_feedback
from klcourse.grading._runner import DEFAULT_MEMORY, DEFAULT_TIMEOUT, grade_notebook


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="klcourse-grade",
        description="Run each learner's notebook from scratch in its own kernel and grade every "
                    "coding exercise with the course's checks. Writes one CSV row per notebook "
                    "and, next to the CSV, one Markdown feedback file per notebook.")
    parser.add_argument("notebooks", nargs="+", metavar="NOTEBOOK", help="submitted .ipynb files")
    parser.add_argument("--out", default="grades.csv", help="the CSV to write (default: grades.csv); "
                        "feedback goes to the folder <out without .csv>-feedback/ beside it")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                        help=f"wall-clock limit per notebook, its cells and checks together "
                             f"(default: {DEFAULT_TIMEOUT:g})")
    parser.add_argument("--memory", type=float, default=DEFAULT_MEMORY / 2**20, metavar="MB",
                        help=f"address-space cap of each kernel in MiB (default: {DEFAULT_MEMORY >> 20})")
    parser.add_argument("--lang", choices=("en", "ja"), default=None,
                        help="language of the feedback (default: each notebook's own)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Grade the notebooks named on the command line; exit status 0 when every file was read."""
    args = _parser().parse_args(argv)
    if not args.timeout > 0:
        _parser().error(f"--timeout must be a positive number of seconds; got {args.timeout:g}")
    if not args.memory > 0:
        _parser().error(f"--memory must be a positive number of MiB; got {args.memory:g}")
    out = Path(args.out)
    if not out.parent.is_dir():
        _parser().error(f"--out: the folder {out.parent} does not exist")
    feedback = out.with_name(out.stem + "-feedback")
    progress = _Progress(len(args.notebooks))
    grades, start = [], time.monotonic()
    for path in args.notebooks:
        progress.show(f"{path} ...")
        grade = grade_notebook(path, timeout=args.timeout, memory=int(args.memory * 2**20),
                               lang=args.lang)
        grades.append(grade)
        progress.done += 1
        progress.show(f"{path}: {grade.status}, score {grade.score}, {grade.seconds:.0f} s")
        if grade.status == "invalid":
            progress.close()
            print(f"klcourse-grade: {path}: {grade.notes[0]}", file=sys.stderr)
    progress.close()
    write_csv(grades, out)
    write_feedback(grades, feedback)
    print(summary(grades))
    print(f"graded in {time.monotonic() - start:.1f} s; wrote {out} and {feedback}/")
    return 1 if any(grade.status == "invalid" for grade in grades) else 0


if __name__ == "__main__":
    sys.exit(main())
