"""klcourse-grade: learners' notebooks run in their own kernels and cannot fake a pass.

Small notebooks with the entropy chapter's first exercise are written here in both formats
the grader reads (MyST directives; tagged heading cells with ``klcourse`` metadata). Each
attempt to fool the grader gets its own notebook and must not pass; a notebook that never
returns, one that kills its kernel and one that exhausts its memory each get a status and a
row. Tests that start kernels are marked ``slow`` (a few seconds per notebook).
"""

from __future__ import annotations

import csv
import sys
import time
from pathlib import Path

import hypothesis  # noqa: F401  (see below)
import jupytext
import nbformat
import pytest

# hypothesis's pytest plugin imports hypothesis at the end of the session when no test did;
# on CPython 3.11.7, parsing it then (pytest rewrites its asserts) fails with "AST constructor
# recursion depth mismatch" once these tests have run (a bug in the recursion check of
# CPython 3.11's ast module). Importing it here, before any test runs, keeps that parse at
# collection time.

from klcourse.checks import CODING_EXERCISES
from klcourse.grading import grade_notebook, main
from klcourse.grading._submission import NotGradable, read_submission

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import student  # noqa: E402

EXERCISE = {
    "en": "```{exercise} Write your own entropy\n:label: ex-entropy-1\n\n**[coding · ★☆☆]** "
          "Write `my_entropy(p, base=None)`.\n```",
    "ja": "```{exercise} エントロピーを自分で書く\n:label: ex-entropy-1\n\n**[コーディング・★☆☆]** "
          "関数 `my_entropy(p, base=None)` を書け。\n```",
}
SETUP = "import math\nimport torch"
STUB = "def my_entropy(p, base=None):\n    ...  # your code here\n    raise NotImplementedError"
SOLUTION = ("def my_entropy(p, base=None):\n    h = -torch.special.xlogy(p, p).sum()\n"
            "    return h if base is None else h / math.log(base)")
WRONG = "def my_entropy(p, base=None):\n    return 0.0"


def myst_notebook(*code, lang="en", markdown=None):
    """A notebook in today's format: the exercise as a MyST directive, then code cells."""
    cells = [nbformat.v4.new_markdown_cell(markdown or EXERCISE[lang])]
    cells += [nbformat.v4.new_code_cell(source) for source in (SETUP, *code)]
    return nbformat.v4.new_notebook(cells=cells)


def tagged_notebook(*code, lang="en", label="ex-entropy-1", anchor="ex-entropy-1"):
    """A notebook in the tagged format: klcourse metadata and an anchored heading cell."""
    title = "Write your own entropy" if lang == "en" else "エントロピーを自分で書く"
    heading = nbformat.v4.new_markdown_cell(f'<a id="{anchor}"></a>\n### {title}',
                                            metadata={"klcourse": {"exercise": label}})
    cells = [heading] + [nbformat.v4.new_code_cell(source) for source in (SETUP, *code)]
    return nbformat.v4.new_notebook(cells=cells, metadata={
        "klcourse": {"page": "entropy", "lang": lang, "edition": "student"}})


def save(nb, folder, name):
    path = Path(folder) / name
    nbformat.write(nb, path)
    return path


def grade(tmp_path, nb, name="nb.ipynb", **kw):
    kw.setdefault("timeout", 60)
    return grade_notebook(save(nb, tmp_path, name), **kw)


def verdict(result, label="ex-entropy-1"):
    return result.exercises[label].verdict


# --- reading submissions (no kernel) ----------------------------------------------------------

def test_bad_files_get_a_reason_not_a_traceback(tmp_path):
    (tmp_path / "essay.ipynb").write_text("Dear instructor, ...", encoding="utf-8")
    (tmp_path / "empty.ipynb").write_text("{}", encoding="utf-8")
    other = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Week 3: pandas"),
                                            nbformat.v4.new_code_cell("import pandas")])
    save(other, tmp_path, "other.ipynb")
    conceptual = myst_notebook(markdown="```{exercise} Units\n:label: ex-entropy-3\n\n"
                                        "**[conceptual · ★☆☆]** Why?\n```")
    save(conceptual, tmp_path, "conceptual.ipynb")
    reasons = {}
    for name in ("essay.ipynb", "empty.ipynb", "other.ipynb", "conceptual.ipynb", "absent.ipynb"):
        with pytest.raises(NotGradable) as info:
            read_submission(tmp_path / name)
        reasons[name] = str(info.value)
    assert reasons["essay.ipynb"].startswith("not a Jupyter notebook")
    assert "not" in reasons["empty.ipynb"]
    assert reasons["other.ipynb"] == "holds no coding exercise of this course"
    assert reasons["conceptual.ipynb"] == "holds no coding exercise (only ex-entropy-3)"
    assert reasons["absent.ipynb"] == "no such file"
    result = grade_notebook(tmp_path / "essay.ipynb")
    assert (result.status, result.score, result.exercises) == ("invalid", 0, {})
    # JSON that looks like a notebook but is not one in its details
    (tmp_path / "odd.ipynb").write_text('{"cells": [1, "x"], "metadata": {"klcourse": {"page": ["a"]}}, '
                                        '"nbformat": 4, "nbformat_minor": 5}', encoding="utf-8")
    odd = grade_notebook(tmp_path / "odd.ipynb")
    assert odd.status == "invalid" and odd.notes[0].startswith("not a")
    odd_meta = tagged_notebook(STUB)
    odd_meta.metadata["klcourse"] = {"page": ["entropy"], "lang": {"x": 1}}
    sub = read_submission(save(odd_meta, tmp_path, "odd_meta.ipynb"))
    assert sub.lang == "en" and sub.labels == ["ex-entropy-1", "ex-entropy-4"]


def test_both_formats_name_the_chapters_exercises_and_language(tmp_path):
    myst = read_submission(save(myst_notebook(STUB, lang="ja"), tmp_path, "a.ipynb"))
    tagged = read_submission(save(tagged_notebook(STUB), tmp_path, "b.ipynb"))
    for sub in (myst, tagged):
        # the chapter has two coding exercises; the notebook holds one of them
        assert sub.labels == ["ex-entropy-1", "ex-entropy-4"]
        assert sub.found == {"ex-entropy-1"}
        assert not sub.reader_edition and not sub.tampering
    assert (myst.lang, tagged.lang) == ("ja", "en")
    assert tagged.titles["ex-entropy-1"] == "Write your own entropy"


def test_reader_notebooks_are_recognised_as_holding_solutions():
    sub = read_submission(ROOT / "book" / "ja" / "kl-divergence.ipynb")
    assert sub.reader_edition and sub.lang == "ja"
    assert sub.labels == ["ex-kl-1", "ex-kl-2"] and sub.found == {"ex-kl-1", "ex-kl-2"}


# --- running in a kernel ----------------------------------------------------------------------

@pytest.mark.slow
def test_a_correct_function_passes_and_a_wrong_one_fails_with_the_checks_report(tmp_path):
    good = grade(tmp_path, tagged_notebook(SOLUTION), "good.ipynb")
    assert (good.status, verdict(good), good.score) == ("ok", "pass", 1)
    assert "all 7 cases passed" in good.exercises["ex-entropy-1"].report
    assert verdict(good, "ex-entropy-4") == "missing"
    bad = grade(tmp_path, myst_notebook(WRONG), "bad.ipynb", lang="ja")
    assert (bad.status, verdict(bad), bad.score) == ("ok", "fail", 0)
    assert "正しい値 0.693147、返り値 0" in bad.exercises["ex-entropy-1"].report


# Each attempt leaves my_entropy wrong (a stub or a constant) and tries to be graded "pass".
TAMPERING = {
    "prints passed": (
        [STUB, 'print("check_entropy: all 7 cases passed.")\nprint(True)'], "ok"),
    "reassigns the check": (
        [WRONG, "import klcourse.checks\nklcourse.checks.check_entropy = lambda fn, lang='en': True\n"
                "from klcourse.checks import check_entropy\nassert check_entropy(my_entropy)"], "tampered"),
    "patches the comparison": (
        [WRONG, "import klcourse.checks._report as r\nr._close = lambda *a, **k: True\n"
                "r.run_cases.__code__ = (lambda *a, **k: True).__code__"], "tampered"),
    "patches the report class": (
        [STUB, "import klcourse.checks\n"
               "klcourse.checks.CheckReport.passed = property(lambda self: True)\n"
               "klcourse.checks.CheckReport.__bool__ = lambda self: True"], "tampered"),
    "replaces the package module": (
        [WRONG, "import sys, types\nfake = types.ModuleType('klcourse.checks')\n"
                "fake.check_entropy = lambda fn, lang='en': True\nsys.modules['klcourse.checks'] = fake\n"
                "import klcourse\nklcourse.checks = fake"], "tampered"),
    "silences the grader's channel": (
        [WRONG, "import IPython.display\nIPython.display.display = lambda *a, **k: None"], "tampered"),
    "garbles the kernel's messages": (
        [WRONG, "import json\njson.dumps = lambda *a, **k: 'passed'"], "crashed"),
    "patches the package while being checked": (
        ["def my_entropy(p, base=None):\n    import klcourse.checks._report as r\n"
         "    r._close = lambda *a, **k: True\n    return 0.0"], "tampered"),
}


@pytest.mark.slow
@pytest.mark.parametrize("attempt", TAMPERING)
def test_tampering_does_not_pass(tmp_path, attempt):
    code, status = TAMPERING[attempt]
    result = grade(tmp_path, myst_notebook(*code))
    assert verdict(result) in ("fail", "error") and result.score == 0
    assert result.status == status
    if status == "tampered":
        assert any("klcourse" in note for note in result.notes)


@pytest.mark.slow
def test_edited_outputs_and_metadata_do_not_pass(tmp_path):
    nb = tagged_notebook(STUB, "from klcourse.checks import check_entropy\ncheck_entropy(my_entropy)")
    # the learner pastes a passing report as the outputs, and marks the notebook as graded
    for cell in nb.cells[-2:]:
        cell.execution_count = 1
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout",
                                               text="check_entropy: all 7 cases passed.\n"),
                        nbformat.v4.new_output("execute_result", data={"text/plain": "True"},
                                               execution_count=1)]
    nb.metadata["klcourse"].update(edition="reader", grade="pass", score=2)
    result = grade(tmp_path, nb, "outputs.ipynb")
    assert (result.status, verdict(result), result.score) == ("ok", "error", 0)
    # a heading whose metadata was edited to claim another exercise is reported
    relabelled = grade(tmp_path, tagged_notebook(STUB, label="ex-entropy-4"), "meta.ipynb")
    assert relabelled.status == "tampered" and relabelled.score == 0
    assert "ex-entropy-4" in relabelled.notes[0]


@pytest.mark.slow
def test_a_notebook_that_never_returns_is_graded_timeout_within_the_limit(tmp_path):
    start = time.monotonic()
    result = grade(tmp_path, myst_notebook(SOLUTION, "while True:\n    pass"), timeout=5)
    elapsed = time.monotonic() - start
    assert (result.status, verdict(result)) == ("timeout", "error")
    assert "5 s" in result.notes[0] and "cell 4" in result.notes[0]
    # the limit plus the kernel's start-up and shutdown (seconds on a loaded machine)
    assert elapsed < 5 + 40, elapsed
    # a function that never returns when checked: the cases already asked count, the rest error
    hang = grade(tmp_path, myst_notebook("def my_entropy(p, base=None):\n    while True:\n        pass"),
                 timeout=5)
    assert (hang.status, verdict(hang)) == ("timeout", "error")
    assert "did not return" in hang.exercises["ex-entropy-1"].report


DEATHS = {
    "SIGKILL": "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)",
    "os._exit": "import os\nos._exit(3)",
    "exit()": "exit()",  # IPython's exit: the kernel shuts down once the cell has run
}


@pytest.mark.slow
@pytest.mark.parametrize("death", DEATHS)
def test_a_kernel_that_dies_is_graded_crashed(tmp_path, death):
    result = grade(tmp_path, myst_notebook(DEATHS[death], SOLUTION))
    assert (result.status, verdict(result), result.score) == ("crashed", "error", 0)
    assert "kernel died" in result.notes[0]
    assert "in cell 3" in result.notes[0]  # exit() too: its reply asks the grader to stop there


@pytest.mark.slow
def test_a_function_that_kills_its_kernel_when_checked_is_graded_crashed(tmp_path):
    result = grade(tmp_path, myst_notebook("def my_entropy(p, base=None):\n    import os\n    os._exit(1)"))
    assert (result.status, verdict(result)) == ("crashed", "error")


@pytest.mark.slow
def test_sys_exit_and_memory_exhaustion_are_survived(tmp_path):
    # IPython turns sys.exit into an error in its cell; a MemoryError under the cap likewise
    nb = myst_notebook("import sys\nsys.exit(1)", "hog = bytearray(64 * 2**30)", SOLUTION)
    result = grade(tmp_path, nb, memory=4 << 30)
    assert (result.status, verdict(result)) == ("ok", "pass")
    notes = " ".join(result.notes)
    assert "cell 3 raised SystemExit" in notes and "cell 4 raised MemoryError" in notes


@pytest.mark.slow
def test_a_mixed_batch_in_both_languages(tmp_path, capsys):
    save(myst_notebook(SOLUTION), tmp_path, "alice.ipynb")
    save(tagged_notebook(STUB, lang="ja"), tmp_path, "bob.ipynb")
    (tmp_path / "carol.ipynb").write_text("not json", encoding="utf-8")
    kl = myst_notebook(markdown="```{exercise} KL\n:label: ex-kl-1\n\n**[coding · ★★☆]** `my_kl(p, q)`\n```")
    save(kl, tmp_path, "dave.ipynb")
    names = ["alice.ipynb", "bob.ipynb", "carol.ipynb", "dave.ipynb", "erin.ipynb"]
    out = tmp_path / "grades.csv"
    code = main(["--out", str(out), "--timeout", "60", *[str(tmp_path / n) for n in names]])
    captured = capsys.readouterr()
    assert code == 1  # some files could not be read
    assert "carol.ipynb: not a Jupyter notebook" in captured.err
    assert "erin.ipynb: no such file" in captured.err
    assert "5 notebooks: 3 ok, 2 invalid" in captured.out
    rows = {Path(row["notebook"]).name: row for row in csv.DictReader(out.open(encoding="utf-8"))}
    assert list(rows["alice.ipynb"]) == ["notebook", "status", "ex-entropy-1", "ex-entropy-4",
                                         "ex-kl-1", "ex-kl-2", "score", "note"]
    assert [rows["alice.ipynb"][k] for k in ("status", "ex-entropy-1", "ex-entropy-4", "ex-kl-1", "score")] \
        == ["ok", "pass", "missing", "", "1"]
    assert [rows["bob.ipynb"][k] for k in ("status", "ex-entropy-1", "score")] == ["ok", "error", "0"]
    assert [rows["dave.ipynb"][k] for k in ("ex-entropy-1", "ex-kl-1", "ex-kl-2")] == ["", "missing", "missing"]
    assert rows["carol.ipynb"]["status"] == "invalid"
    feedback = out.parent / "grades-feedback"
    assert sorted(p.name for p in feedback.iterdir()) == sorted(n.replace(".ipynb", ".md") for n in names)
    bob = (feedback / "bob.md").read_text(encoding="utf-8")
    assert "関数が例外を送出した: NotImplementedError" in bob and "## ex-entropy-1" in bob
    alice = (feedback / "alice.md").read_text(encoding="utf-8")
    assert "all 7 cases passed" in alice and "Score: **1** of 2" in alice


# --- the chapters' own notebooks ----------------------------------------------------------------

CHAPTERS = list(dict.fromkeys(ex.page for ex in CODING_EXERCISES.values()))
CHAPTER_TIMEOUT = 1800  # comparing-losses runs for minutes on a loaded machine


@pytest.mark.slow
@pytest.mark.parametrize("lang", ["en", "ja"])
@pytest.mark.parametrize("page", CHAPTERS)
def test_reader_notebooks_pass_and_student_notebooks_score_zero(tmp_path, lang, page):
    reader = grade_notebook(ROOT / "book" / lang / f"{page}.ipynb", timeout=CHAPTER_TIMEOUT)
    assert reader.status == "ok", reader.notes
    assert reader.exercises and all(g.verdict == "pass" for g in reader.exercises.values()), \
        {k: g.report for k, g in reader.exercises.items()}
    # the student edition: solutions stripped from the source, as `make student` does
    md = ROOT / "book" / lang / f"{page}.md"
    nb = jupytext.reads(student.strip_text(md.read_text(encoding="utf-8")), fmt="md:myst")
    result = grade(tmp_path, nb, f"{page}.ipynb", timeout=CHAPTER_TIMEOUT)
    assert (result.status, result.score) == ("ok", 0), result.notes
    assert set(result.exercises) == set(reader.exercises)
    assert all(g.verdict in ("fail", "error") for g in result.exercises.values())
