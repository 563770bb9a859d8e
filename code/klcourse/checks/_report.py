"""Running a learner's function against reference cases and reporting in their language.

Each check in :mod:`klcourse.checks` is a list of :class:`Case` objects: the arguments, the
value a correct answer returns (computed by the library, never typed in), and the values
that typical mistakes return, each with a hint. :func:`run_cases` calls the learner's
function on every case and returns a :class:`CheckReport` that says which case failed,
what was expected, what came back, and, when the value matches a known mistake, names it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

_TEXT = {
    "en": {
        "passed": "{name}: all {n} cases passed.",
        "failed": "{name}: {k} of {n} cases failed.",
        "case": "  case {case}: expected {expected}, got {got}",
        "hint": "    likely mistake: {hint}",
        "raised": "  case {case}: your function raised {error}",
        "shape": "  case {case}: expected a value of shape {expected}, got shape {got}",
        "none": "  case {case}: your function returned None (is a `return` missing?)",
        "type": "  case {case}: expected a number or an array of numbers, got {kind}: {value}",
    },
    "ja": {
        "passed": "{name}: {n} 件すべて合格",
        "failed": "{name}: {n} 件中 {k} 件が不合格",
        "case": "  ケース {case}: 正しい値 {expected}、返り値 {got}",
        "hint": "    考えられる原因: {hint}",
        "raised": "  ケース {case}: 関数が例外を送出した: {error}",
        "shape": "  ケース {case}: 正しい値の形状は {expected} だが、返り値の形状は {got}",
        "none": "  ケース {case}: 関数が None を返した（return を書き忘れていないか）",
        "type": "  ケース {case}: 数または数の配列を返すこと。返り値は {kind}: {value}",
    },
}


@dataclass(frozen=True)
class Case:
    """One call of the learner's function and what it should return.

    ``mistakes`` maps a hint (``{"en": ..., "ja": ...}``) to the value that mistake produces,
    or to a function of no arguments that computes it, called only when the case has failed
    (for a mistake whose value costs a fit).
    ``label`` is one string (formulas only) or ``{"en": ..., "ja": ...}``.
    """

    label: str | dict
    args: tuple
    expected: Any
    mistakes: tuple[tuple[dict[str, str], Any], ...] = ()
    kwargs: dict = field(default_factory=dict)


@dataclass
class CheckReport:
    """What a check found; true when every case passed. Prints as a short report."""

    name: str
    n_cases: int
    lines: list[str]
    failed_cases: list[str]
    lang: str = "en"

    @property
    def passed(self) -> bool:
        return not self.failed_cases

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        text = _TEXT[self.lang]
        head = (text["passed"].format(name=self.name, n=self.n_cases) if self.passed else
                text["failed"].format(name=self.name, k=len(self.failed_cases), n=self.n_cases))
        return "\n".join([head, *self.lines])

    def __repr__(self) -> str:
        return str(self)

    def _repr_pretty_(self, printer, cycle) -> None:  # IPython shows the report, not a repr
        printer.text(str(self))


def _as_array(value: Any) -> np.ndarray:
    """Learner output (float, numpy, torch, list) as a float64 array; TypeError/ValueError if it is not numbers."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    if isinstance(value, (dict, str, bytes, set)):
        raise TypeError(type(value).__name__)
    return np.asarray(value, dtype=np.float64)


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _label(case: Case, lang: str) -> str:
    return case.label if isinstance(case.label, str) else case.label[lang]


def _close(got: np.ndarray, want: np.ndarray, rtol: float, atol: float) -> bool:
    """Equal within tolerance, with inf matching inf and nan never matching."""
    return got.shape == want.shape and bool(np.all(np.isclose(got, want, rtol=rtol, atol=atol)))


def _fmt(value: np.ndarray) -> str:
    if value.ndim == 0:
        v = float(value)
        return "inf" if math.isinf(v) else f"{v:.6g}"
    return np.array2string(value, precision=6)


def run_cases(name: str, fn: Callable, cases: list[Case], lang: str = "en",
              rtol: float = 1e-5, atol: float = 1e-8,
              nan_hint: dict[str, str] | None = None) -> CheckReport:
    """Call ``fn`` on every case and compare with the expected values.

    ``nan_hint`` names the likely mistake when a result holds ``nan`` and matches no listed
    mistake (``nan`` equals nothing, so it cannot be listed as a mistake's value).
    """
    if lang not in _TEXT:
        raise ValueError(f"lang must be one of {sorted(_TEXT)}; got {lang!r}")
    if not callable(fn):
        raise ValueError(f"the function to check must be callable; got {type(fn).__name__}")
    text, lines, failed = _TEXT[lang], [], []
    for case in cases:
        label = _label(case, lang)
        try:
            result = fn(*case.args, **case.kwargs)
        except Exception as error:  # the learner's code: report, do not crash the check
            failed.append(label)
            lines.append(text["raised"].format(case=label, error=f"{type(error).__name__}: {error}"))
            continue
        if result is None:
            failed.append(label)
            lines.append(text["none"].format(case=label))
            continue
        try:
            got = _as_array(result)
        except (TypeError, ValueError):
            failed.append(label)
            lines.append(text["type"].format(case=label, kind=type(result).__name__, value=_short(result)))
            continue
        want = _as_array(case.expected)
        if got.shape != want.shape and got.size == want.size == 1:
            got = got.reshape(want.shape)  # a scalar returned as shape (1,) or (1, 1) is read as the scalar
        if _close(got, want, rtol, atol):
            continue
        failed.append(label)
        if got.shape != want.shape:
            lines.append(text["shape"].format(case=label, expected=want.shape, got=got.shape))
            continue
        lines.append(text["case"].format(case=label, expected=_fmt(want), got=_fmt(got)))
        hints = [hint for hint, value in case.mistakes if _close(got, _as_array(value() if callable(value) else value), rtol, atol)]
        if not hints and nan_hint is not None and bool(np.isnan(got).any()):
            hints = [nan_hint]
        if hints:
            lines.append(text["hint"].format(hint=hints[0][lang]))
    return CheckReport(name=name, n_cases=len(cases), lines=lines, failed_cases=failed, lang=lang)
