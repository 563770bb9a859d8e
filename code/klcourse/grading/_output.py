"""What the grader hands the instructor: the CSV, one feedback file per notebook, a summary."""

from __future__ import annotations

import csv
import os
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Iterable

from klcourse.checks import CODING_EXERCISES
from klcourse.grading._runner import NotebookGrade

STATUSES = ("ok", "timeout", "crashed", "tampered", "invalid")

_FEEDBACK = {
    "en": {
        "title": "Feedback: {name}",
        "status": "Status: **{status}**. Score: **{score}** of {total} coding exercises passed.",
        "notes": "Notes from the grader:",
        "none": "This notebook holds no coding exercise to grade.",
        "verdict": {"pass": "pass", "fail": "fail", "error": "error", "missing": "missing"},
    },
    "ja": {
        "title": "採点結果: {name}",
        "status": "状態: **{status}**。得点: コーディング演習 {total} 問中 **{score}** 問合格。",
        "notes": "採点者からの注記:",
        "none": "このノートブックには採点するコーディング演習がありません。",
        "verdict": {"pass": "合格", "fail": "不合格", "error": "エラー", "missing": "未提出"},
    },
}


def columns(grades: Iterable[NotebookGrade]) -> list[str]:
    """The exercise columns of a batch: every label any notebook holds, in reading order."""
    seen = {label for grade in grades for label in grade.exercises}
    return [label for label in CODING_EXERCISES if label in seen]


def write_csv(grades: list[NotebookGrade], out: str | Path) -> Path:
    """One row per notebook: notebook, status, one column per exercise, score, note."""
    out = Path(out)
    labels = columns(grades)
    with out.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["notebook", "status", *labels, "score", "note"])
        for grade in grades:
            cells = [grade.exercises[label].verdict if label in grade.exercises else ""
                     for label in labels]
            writer.writerow([str(grade.path), grade.status, *cells, grade.score,
                             "; ".join(grade.notes[:3])])
    return out


def _feedback_names(grades: list[NotebookGrade]) -> list[str]:
    """A distinct file name per notebook: its path below the notebooks' common folder, '/' as '__'."""
    paths = [Path(os.path.abspath(grade.path)).with_suffix("") for grade in grades]
    common = Path(os.path.commonpath([p.parent for p in paths])) if paths else Path()
    names, used = [], Counter()
    for path in paths:
        stem = re.sub(r"[^\w.-]+", "_", "__".join(path.relative_to(common).parts)) or "notebook"
        used[stem] += 1
        names.append(f"{stem}.md" if used[stem] == 1 else f"{stem}-{used[stem]}.md")
    return names


def feedback_text(grade: NotebookGrade) -> str:
    """The Markdown an instructor can hand back: status, score, each exercise's check report."""
    text = _FEEDBACK[grade.lang]
    lines = [f"# {text['title'].format(name=Path(grade.path).name)}", "",
             text["status"].format(status=grade.status, score=grade.score,
                                   total=len(grade.exercises)), ""]
    if grade.notes:
        lines += [text["notes"], "", *[f"- {note}" for note in grade.notes], ""]
    if not grade.exercises:
        lines += [text["none"], ""]
    for exercise in grade.exercises.values():
        title = "" if not exercise.title else (
            f"（{exercise.title}）" if grade.lang == "ja" else f" ({exercise.title})")
        lines += [f"## {exercise.label}{title}: {text['verdict'][exercise.verdict]}", "",
                  f"`{exercise.function}`", "", "```text", exercise.report, "```", ""]
    return "\n".join(lines)


def write_feedback(grades: list[NotebookGrade], folder: str | Path) -> list[Path]:
    """One Markdown file per notebook in ``folder``; returns their paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for grade, name in zip(grades, _feedback_names(grades)):
        path = folder / name
        path.write_text(feedback_text(grade), encoding="utf-8")
        paths.append(path)
    return paths


def summary(grades: list[NotebookGrade]) -> str:
    """How many notebooks, how many of each status, the mean score per exercise."""
    statuses = Counter(grade.status for grade in grades)
    lines = [f"{len(grades)} notebooks: " + ", ".join(
        f"{statuses[s]} {s}" for s in STATUSES if statuses[s])]
    labels = columns(grades)
    if labels:
        lines.append("mean score per exercise (share of the notebooks holding it that pass):")
        for label in labels:
            held = [g.exercises[label].verdict for g in grades if label in g.exercises]
            verdicts = Counter(held)
            lines.append(f"  {label:<13} {verdicts['pass'] / len(held):5.2f}  ({len(held)} notebooks: "
                         + ", ".join(f"{verdicts[v]} {v}" for v in ("pass", "fail", "error", "missing")
                                     if verdicts[v]) + ")")
    return "\n".join(lines)


class _Progress:
    """A one-line progress bar on a terminal, one line per notebook otherwise."""

    def __init__(self, total: int, stream=sys.stderr):
        self.total, self.done, self.stream = total, 0, stream
        self.tty = hasattr(stream, "isatty") and stream.isatty()

    def show(self, label: str) -> None:
        width = 24
        filled = width * self.done // max(self.total, 1)
        line = f"[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} {label}"
        if self.tty:
            self.stream.write("\r\033[K" + line[:150])
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
