"""Running one submission in its own kernel and judging its functions from outside it.

The learner's notebook runs, cell after cell, in a fresh IPython kernel (a separate process,
see :mod:`klcourse.grading._kernel`). The checks then run **here**, in the grader's process,
on a stand-in for the learner's function: each call sends the case's arguments to the kernel,
the learner's function runs there, and only the value it returned comes back (as numbers in
JSON). The comparison with the expected value, the tolerances and the report never run in the
kernel, so nothing the notebook does there — printing "passed", replacing
``klcourse.checks.check_entropy``, patching the package — can make a case pass: the function
has to return the right numbers. What the notebook changes in the package is still looked for
(a fingerprint of every ``klcourse`` module taken before and after the notebook's cells) and
reported as ``tampered``.
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import numpy as np
import torch
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from jupyter_client import AsyncKernelManager
from jupyter_client.kernelspec import KernelSpecManager

from klcourse.checks import CODING_EXERCISES
from klcourse.grading._submission import NotGradable, Submission, read_submission

MIME = "text/x-klcourse-grade"
KERNEL_NAME = "klcourse-grade"
DEFAULT_TIMEOUT = 600.0
DEFAULT_MEMORY = 4 << 30
_MAX_VALUES = 100_000  # a returned array larger than this is not read back
# environment variables the kernel inherits; everything else (tokens, keys...) stays out
_ENV_KEEP = ("PATH", "HOME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "VIRTUAL_ENV", "PYTHONPATH",
             "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")

_TEXT = {
    "en": {
        "timeout": "the notebook did not finish within {limit:g} s (cell {cell} was still running)",
        "timeout_check": "{function} did not return within the time limit of {limit:g} s",
        "crashed": "the kernel died in cell {cell} (killed, os._exit, exit(), or out of memory)",
        "crashed_check": "the kernel died while {function} was running",
        "timeout_late": "the cells and the checks together did not finish within {limit:g} s",
        "no_answer": "the kernel gave the grader no answer (the notebook changed IPython or json)",
        "garbled": "the kernel stopped answering in the Jupyter protocol ({error})",
        "crashed_late": "the kernel died after the notebook's cells had run (exit(), a thread, or "
                        "while a function was being checked)",
        "start": "the kernel could not start: {error}",
        "not_checked": "not checked: {reason}",
        "missing_cell": "the exercise is not in the notebook",
        "missing_function": "the notebook defines no function {function}",
        "not_callable": "{function} is not a function",
        "tampered": "the notebook changed the course package: {names}",
        "cell_error": "cell {cell} raised {error}",
        "unreadable": "returned {value}, not a number or an array of numbers",
        "reader": "this notebook is the reader edition, which holds the solutions",
    },
    "ja": {
        "timeout": "制限時間 {limit:g} 秒以内にノートブックの実行が終わりませんでした（セル {cell} が実行中でした）",
        "timeout_check": "{function} が制限時間 {limit:g} 秒以内に値を返しませんでした",
        "crashed": "セル {cell} の実行中にカーネルが停止しました（強制終了、os._exit、exit()、メモリ不足など）",
        "crashed_check": "{function} の実行中にカーネルが停止しました",
        "timeout_late": "セルの実行とチェックが合わせて {limit:g} 秒以内に終わりませんでした",
        "no_answer": "カーネルから採点プログラムに応答がありませんでした（ノートブックが IPython か json を書き換えました）",
        "garbled": "カーネルが Jupyter のプロトコルで応答しなくなりました（{error}）",
        "crashed_late": "セルの実行が終わった後にカーネルが停止しました（exit()、スレッド、または関数のチェック中）",
        "start": "カーネルを起動できませんでした: {error}",
        "not_checked": "チェックしていません: {reason}",
        "missing_cell": "この演習がノートブックにありません",
        "missing_function": "ノートブックに関数 {function} が定義されていません",
        "not_callable": "{function} が関数ではありません",
        "tampered": "ノートブックがコースのパッケージを書き換えました: {names}",
        "cell_error": "セル {cell} で例外が発生しました: {error}",
        "unreadable": "数値または数値の配列ではない値 {value} を返しました",
        "reader": "このノートブックは解答を含む閲覧用の版です",
    },
}


@dataclass
class ExerciseGrade:
    """One coding exercise of one notebook: ``pass``, ``fail``, ``error`` or ``missing``, and why."""

    label: str
    function: str
    verdict: str
    report: str
    title: str = ""


@dataclass
class NotebookGrade:
    """One notebook: its status (``ok``, ``timeout``, ``crashed``, ``tampered`` or ``invalid``)."""

    path: Path
    status: str
    lang: str
    exercises: dict[str, ExerciseGrade] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def score(self) -> int:
        return sum(grade.verdict == "pass" for grade in self.exercises.values())


class _Stopped(Exception):
    """The kernel can no longer answer (time limit, or it died)."""


def _one_line(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}".splitlines()[0][:300]


def _remote_error(name: str) -> type[Exception]:
    """An exception class named like the one the learner's function raised in the kernel."""
    name = re.sub(r"\W", "", str(name))[:60] or "Exception"
    return type(name if name[0].isalpha() else f"E{name}", (Exception,), {})


def _encode(value):
    """A case's argument as JSON-able data (the kernel rebuilds it with ``_decode``)."""
    if isinstance(value, torch.Tensor):
        return {"tensor": value.tolist(), "dtype": str(value.dtype).removeprefix("torch.")}
    if isinstance(value, np.ndarray):
        return {"array": value.tolist(), "dtype": str(value.dtype)}
    if isinstance(value, tuple):
        return {"tuple": [_encode(v) for v in value]}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot send a {type(value).__name__} to the kernel")


# Runs in the kernel. Rebuilds the arguments, calls the learner's function, returns numbers.
_CALL = '''\
def _klcourse_grade_call(request):
    import json, numpy, torch
    from IPython.display import display
    request = json.loads(request)
    def decode(x):
        if isinstance(x, list):
            return [decode(v) for v in x]
        if isinstance(x, dict):
            if "tensor" in x:
                return torch.tensor(x["tensor"], dtype=getattr(torch, x["dtype"]))
            if "array" in x:
                return numpy.array(x["array"], dtype=x["dtype"])
            return tuple(decode(v) for v in x["tuple"])
        return x
    out = {"call": request["call"]}
    fn = globals().get(request["function"], None)
    if request.get("probe"):
        out["defined"] = request["function"] in globals()
        out["callable"] = callable(fn)
    else:
        try:
            value = fn(*decode(request["args"]), **{k: decode(v) for k, v in request["kwargs"].items()})
        except BaseException as error:
            out["raised"] = [type(error).__name__, str(error)[:500]]
        else:
            try:
                if hasattr(value, "detach"):
                    value = value.detach().cpu().numpy()
                array = numpy.asarray(value, dtype=numpy.float64)
                if array.size > %(max)d:
                    out["unreadable"] = "an array of %%d values" %% array.size
                else:
                    out["shape"], out["data"] = list(array.shape), array.ravel().tolist()
            except BaseException:
                out["unreadable"] = repr(value)[:200]
    display({%(mime)r: json.dumps(out)}, raw=True)
_klcourse_grade_call(__REQUEST__)
del _klcourse_grade_call
''' % {"max": _MAX_VALUES, "mime": MIME}

# Runs in the kernel before the learner's first cell and after the last one: one mark per
# attribute of every klcourse module (and per attribute of its classes), to see what changed.
_MARKS = '''\
def _klcourse_grade_marks():
    import json, sys
    import klcourse, klcourse.checks
    from IPython.display import display
    marks = {}
    for name in sorted(sys.modules):
        if not (name == "klcourse" or name.startswith("klcourse.")) or name.startswith("klcourse.grading"):
            continue
        module = sys.modules[name]
        marks[name] = str(id(module))
        for attr, value in list(vars(module).items()):
            if attr.startswith("__") and attr.endswith("__"):
                continue
            key = name + "." + attr
            marks[key] = str(id(value))
            code = getattr(value, "__code__", None)
            if code is not None:
                marks[key + ".__code__"] = "%%d %%d %%d %%d" %% (id(code), hash(code.co_code),
                    id(getattr(value, "__defaults__", None)), id(getattr(value, "__kwdefaults__", None)))
            if isinstance(value, type) and str(getattr(value, "__module__", "")).startswith("klcourse"):
                for item, member in list(vars(value).items()):
                    if item not in ("__dict__", "__weakref__", "__doc__"):
                        marks[key + "." + item] = str(id(member))
    display({%(mime)r: json.dumps({"marks": marks})}, raw=True)
_klcourse_grade_marks()
del _klcourse_grade_marks
''' % {"mime": MIME}


class _Client(NotebookClient):
    """nbclient that keeps only what grading needs: the learner cells' errors and our answers."""

    first_grader_cell = 0
    learner_errors: list

    def output(self, outs, msg, display_id, cell_index):
        if cell_index < self.first_grader_cell and cell_index > 0:
            if msg["msg_type"] == "error" and len(self.learner_errors) < 20:
                content = msg["content"]
                self.learner_errors.append((cell_index, f"{content.get('ename')}: "
                                            f"{str(content.get('evalue'))[:300]}"))
            return None
        data = msg["content"].get("data") if msg["msg_type"] == "display_data" else None
        if not isinstance(data, dict) or not isinstance(data.get(MIME), str) or len(outs) >= 4:
            return None
        return super().output(outs, msg, display_id, cell_index)


def _kernel_env(memory: int) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if key in _ENV_KEEP or key.startswith("LC_")}
    env.update(MPLBACKEND="Agg", PYTHONUNBUFFERED="1", KLCOURSE_GRADE_MEMORY=str(int(memory)))
    return env


class _Session:
    """One kernel running one submission, with a wall-clock deadline for everything in it."""

    def __init__(self, submission: Submission, scratch: Path, timeout: float, memory: int,
                 text: dict):
        self.submission, self.timeout, self.memory, self.text = submission, timeout, memory, text
        specs = scratch / "kernels" / KERNEL_NAME
        specs.mkdir(parents=True)
        (specs / "kernel.json").write_text(json.dumps({
            "argv": [sys.executable, "-m", "klcourse.grading._kernel", "-f", "{connection_file}"],
            "display_name": "klcourse-grade (sandboxed)",
            "language": "python",
        }), encoding="utf-8")
        work = scratch / "work"
        work.mkdir()
        cells, self.origin = [nbformat.v4.new_code_cell(_MARKS)], {0: 0}
        for number, cell in enumerate(submission.nb.cells, start=1):
            if cell.get("cell_type") == "code" and isinstance(cell.get("source", ""), str):
                self.origin[len(cells)] = number  # our cell index -> the learner's cell number
                cells.append(nbformat.v4.new_code_cell(cell["source"]))
        self.nb = nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": {
            "name": KERNEL_NAME, "display_name": "klcourse-grade", "language": "python"}})
        specs = KernelSpecManager(kernel_dirs=[str(scratch / "kernels")], ensure_native_kernel=False)
        manager = AsyncKernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=specs)
        self.client = _Client(self.nb, km=manager, kernel_name=KERNEL_NAME, allow_errors=True,
                              timeout_func=self._cell_timeout, startup_timeout=120,
                              shutdown_kernel="immediate", record_timing=False,
                              resources={"metadata": {"path": str(work)}})
        self.client.learner_errors = []
        self.client.first_grader_cell = len(cells)
        self.asked_exit = False  # a cell called IPython's exit(): the kernel stops once that cell has run
        self.client.on_cell_executed = self._saw_reply
        self.deadline = math.inf
        self.stopped: str | None = None   # "timeout" or "crashed" once the kernel cannot answer
        self.stop_note = ""

    def _saw_reply(self, cell, cell_index, execute_reply) -> None:
        """Note an ``exit()``: its reply carries an "ask_exit" payload, and the kernel may still answer the next cell before it stops."""
        payload = ((execute_reply or {}).get("content") or {}).get("payload") or []
        self.asked_exit = self.asked_exit or any(item.get("source") == "ask_exit" for item in payload)

    def _cell_timeout(self, cell) -> int:
        return max(1, math.ceil(self.deadline - time.monotonic()))

    def _run(self, source: str) -> list:
        """Run grader code in the kernel; return its answers (our MIME type only)."""
        if self.stopped:
            raise _Stopped(self.stopped)
        if time.monotonic() >= self.deadline:
            self.stopped = "timeout"
            raise _Stopped("timeout")
        cell = nbformat.v4.new_code_cell(source)
        self.nb.cells.append(cell)
        index = len(self.nb.cells) - 1
        try:
            self.client.execute_cell(cell, index, store_history=False)
        except CellTimeoutError:
            self.stopped = "timeout"
            self.stop_note = self.stop_note or self.text["timeout_late"].format(limit=self.timeout)
            raise _Stopped("timeout") from None
        except DeadKernelError:
            self.stopped = "crashed"
            self.stop_note = self.stop_note or self.text["crashed_late"]
            raise _Stopped("crashed") from None
        except Exception as error:  # the kernel's messages no longer make sense
            self.stopped = "crashed"
            self.stop_note = self.stop_note or self.text["garbled"].format(error=_one_line(error))
            raise _Stopped("crashed") from None
        answers = []
        for output in self.nb.cells[index].get("outputs", []):
            try:
                answers.append(json.loads(output["data"][MIME]))
            except (KeyError, TypeError, ValueError):
                continue
        return [a for a in answers if isinstance(a, dict)]

    def call(self, function: str, args=(), kwargs=None, probe=False) -> dict:
        token = secrets.token_hex(8)
        request = {"call": token, "function": function, "probe": probe,
                   "args": [_encode(a) for a in args],
                   "kwargs": {k: _encode(v) for k, v in (kwargs or {}).items()}}
        answers = [a for a in self._run(_CALL.replace("__REQUEST__", repr(json.dumps(request)))) if a.get("call") == token]
        return answers[0] if answers else {"unreadable": "nothing"}

    def marks(self) -> dict[str, str]:
        answers = [a for a in self._run(_MARKS) if isinstance(a.get("marks"), dict)]
        return answers[0]["marks"] if answers else {}

    def execute(self, text: dict) -> dict[str, str]:
        """Run the marks cell and every learner cell; return the marks taken before them."""
        client = self.client
        before: dict[str, str] = {}
        for index, cell in enumerate(self.nb.cells):
            if time.monotonic() >= self.deadline:
                self.stopped, self.stop_note = "timeout", text["timeout"].format(limit=self.timeout, cell=self.origin[index])
                break
            try:
                client.execute_cell(cell, index)
            except CellTimeoutError:
                self.stopped, self.stop_note = "timeout", text["timeout"].format(limit=self.timeout, cell=self.origin[index])
                break
            except DeadKernelError:
                self.stopped, self.stop_note = "crashed", text["crashed"].format(cell=self.origin[index])
                break
            except Exception as error:  # the kernel's messages no longer make sense
                self.stopped, self.stop_note = "crashed", text["garbled"].format(error=_one_line(error))
                break
            if self.asked_exit:  # the kernel is shutting down: what it still answers is a race, not the notebook
                self.stopped, self.stop_note = "crashed", text["crashed"].format(cell=self.origin[index])
                break
            if index == 0:
                outputs = [o for o in cell.get("outputs", []) if MIME in o.get("data", {})]
                before = json.loads(outputs[0]["data"][MIME])["marks"] if outputs else {}
        return before


class _Learner:
    """Stands in for the learner's function inside a check: every call is answered by the kernel."""

    def __init__(self, session: _Session, function: str, text: dict):
        self.session, self.function, self.text = session, function, text
        self.raised = 0

    def __call__(self, *args, **kwargs):
        try:
            answer = self.session.call(self.function, args, kwargs)
        except _Stopped as stop:
            self.raised += 1
            key = "timeout_check" if str(stop) == "timeout" else "crashed_check"
            raise _remote_error("GradingStopped")(self.text[key].format(
                function=self.function, limit=self.session.timeout)) from None
        if "raised" in answer:
            self.raised += 1
            name, message = (list(answer["raised"]) + ["", ""])[:2]
            raise _remote_error(name)(str(message))
        try:
            return np.array(answer["data"], dtype=np.float64).reshape(
                [int(n) for n in answer["shape"]])
        except (KeyError, TypeError, ValueError):
            self.raised += 1
            raise TypeError(self.text["unreadable"].format(
                value=str(answer.get("unreadable", "?"))[:200])) from None


def _judge(session: _Session, submission: Submission, label: str, lang: str) -> ExerciseGrade:
    exercise, text = CODING_EXERCISES[label], _TEXT[lang]
    title = submission.titles.get(label, "")

    def grade(verdict, report):
        return ExerciseGrade(label, exercise.function, verdict, report, title)

    if label not in submission.found:
        return grade("missing", text["missing_cell"])
    if session.stopped:
        reason = session.stop_note or text["timeout"].format(limit=session.timeout, cell="?")
        return grade("error", text["not_checked"].format(reason=reason))
    try:
        probe = session.call(exercise.function, probe=True)
    except _Stopped:
        return grade("error", text["not_checked"].format(reason=session.stopped))
    if "defined" not in probe:  # the notebook broke the kernel's way of answering
        return grade("error", text["no_answer"])
    if not probe.get("defined"):
        return grade("missing", text["missing_function"].format(function=exercise.function))
    if not probe.get("callable"):
        return grade("error", text["not_callable"].format(function=exercise.function))
    learner = _Learner(session, exercise.function, text)
    report = exercise.check(learner, lang=lang)
    if report.passed:
        return grade("pass", str(report))
    verdict = "error" if learner.raised >= len(report.failed_cases) else "fail"
    return grade(verdict, str(report))


def _changed(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """Names of the package whose object, code or defaults the notebook replaced or removed."""
    changed = sorted({key.removesuffix(".__code__") for key, mark in before.items()
                      if after.get(key) != mark})
    return [key for key in changed if not any(key.startswith(other + ".") for other in changed)]


def grade_notebook(path: str | Path, *, timeout: float = DEFAULT_TIMEOUT,
                   memory: int = DEFAULT_MEMORY, lang: str | None = None) -> NotebookGrade:
    """Run one notebook in a fresh, limited kernel and grade each of its coding exercises.

    Parameters
    ----------
    path : str or Path
        The submitted notebook.
    timeout : float, default 600
        Wall-clock seconds for the notebook's cells and the checks together (the kernel's
        start-up is not counted).
    memory : int, default 4 GiB
        Address-space cap of the kernel process, in bytes.
    lang : {"en", "ja"} or None
        Language of the reports; None takes the notebook's own.

    Returns
    -------
    NotebookGrade
        Never raises for a bad submission: an unreadable file is graded ``invalid`` with a note.
    """
    if lang not in (None, "en", "ja"):
        raise ValueError(f"lang must be 'en', 'ja' or None; got {lang!r}")
    if not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds; got {timeout!r}")
    start = time.monotonic()
    try:
        submission = read_submission(path)
    except NotGradable as reason:
        return NotebookGrade(Path(path), "invalid", lang or "en", notes=[str(reason)],
                             seconds=time.monotonic() - start)
    except Exception as error:  # a notebook malformed in a way nbformat lets through
        reason = f"not a readable Jupyter notebook ({type(error).__name__}: {error})"
        return NotebookGrade(Path(path), "invalid", lang or "en", notes=[reason.splitlines()[0][:300]],
                             seconds=time.monotonic() - start)
    lang = lang or submission.lang
    text = _TEXT[lang]
    grade = NotebookGrade(submission.path, "ok", lang)
    if submission.tampering:
        grade.status = "tampered"
        grade.notes += submission.tampering
    if submission.reader_edition:
        grade.notes.append(text["reader"])
    with tempfile.TemporaryDirectory(prefix="klcourse-grade-") as scratch:
        session = _Session(submission, Path(scratch), timeout, memory, text)
        try:
            with session.client.setup_kernel(env=_kernel_env(memory), cleanup_kc=True,
                                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL):
                session.deadline = time.monotonic() + timeout
                before = session.execute(text)
                after = {} if session.stopped else session.marks()
                # no answer at all means the notebook broke what the grader asks with
                changed = _changed(before, after) if after or session.stopped else ["klcourse"]
                for label in submission.labels:
                    grade.exercises[label] = _judge(session, submission, label, lang)
                if not session.stopped:  # the learner's function may patch while it is checked
                    changed = sorted(set(changed) | set(_changed(before, session.marks())))
                if changed:
                    grade.status = "tampered"
                    grade.notes.append(text["tampered"].format(names=", ".join(changed[:10])))
        except _Stopped:
            pass
        except Exception as error:  # the kernel failed to start or vanished between calls
            session.stopped = session.stopped or "crashed"
            session.stop_note = session.stop_note or text["start"].format(error=_one_line(error))
        for label in submission.labels:
            if label not in grade.exercises:
                grade.exercises[label] = _judge(session, submission, label, lang)
        if session.stopped:
            grade.status = session.stopped
            if session.stop_note:
                grade.notes.insert(0, session.stop_note)
        grade.notes += [text["cell_error"].format(cell=session.origin[cell], error=error)
                        for cell, error in session.client.learner_errors]
    grade.seconds = time.monotonic() - start
    return grade
