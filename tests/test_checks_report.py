"""Checks never mislead (issue 12): a missing ``return``, a wrong type, a result of shape (1,), a value just
outside the tolerance — each is reported as what it is, in English and in Japanese."""

import math

import pytest
import torch

import klcourse as kc
from klcourse._continuous import _kl_grid
from klcourse.checks import check_entropy, check_grid_kl, check_ise, check_kl, check_moment_match


def grid_kl(log_p, log_q, dx):
    lp, lq = log_p.double(), log_q.double()
    return _kl_grid(lp, lq, torch.full_like(lp, dx))


def ise(p, q, dx):
    return ((p - q) ** 2).sum() * dx


def moments(weights, means, sigmas):
    w = [v / sum(weights) for v in weights]
    mu = sum(a * m for a, m in zip(w, means))
    return mu, math.sqrt(sum(a * (s**2 + (m - mu) ** 2) for a, m, s in zip(w, means, sigmas)))


# (check, a correct answer, the check's relative tolerance, its number of cases)
CHECKS = {
    "check_kl": (check_kl, kc.kl_divergence, 1e-5, 6),
    "check_entropy": (check_entropy, kc.entropy, 1e-5, 7),
    "check_grid_kl": (check_grid_kl, grid_kl, 1e-4, 3),
    "check_ise": (check_ise, ise, 1e-5, 3),
    "check_moment_match": (check_moment_match, moments, 1e-5, 5),
}


def _scaled(fn, factor):
    def wrong(*args, **kwargs):
        value = fn(*args, **kwargs)
        if isinstance(value, tuple):
            return tuple(v * factor for v in value)
        return value * factor

    return wrong


def _returns_none(fn):
    def forgot_return(*args, **kwargs):
        fn(*args, **kwargs)

    return forgot_return


def _as_dict(fn):
    return lambda *args, **kwargs: {"value": fn(*args, **kwargs)}


def _as_shape_1(fn):
    return lambda *args, **kwargs: torch.atleast_1d(torch.as_tensor(fn(*args, **kwargs)))


@pytest.mark.parametrize("name", CHECKS)
def test_the_package_passes_its_own_exercises(name):
    check, correct, _, n = CHECKS[name]
    report = check(correct)
    assert report.passed, str(report)
    assert str(report) == f"{name}: all {n} cases passed."
    assert str(check(correct, lang="ja")) == f"{name}: {n} 件すべて合格"


@pytest.mark.parametrize("name", CHECKS)
def test_a_value_ten_tolerances_off_fails_so_a_looser_tolerance_is_caught(name):
    """Off by 10 × rtol: fails at the check's tolerance, and would pass if it were loosened 1000×."""
    check, correct, rtol, n = CHECKS[name]
    report = check(_scaled(correct, 1 + 10 * rtol))  # cases whose answer is 0 or inf still pass
    assert not report.passed and len(report.failed_cases) >= 2, str(report)
    assert check(_scaled(correct, 1 + 0.01 * rtol)).passed  # well inside the tolerance: passes


@pytest.mark.parametrize("name", CHECKS)
def test_a_missing_return_is_named(name):
    check, correct, _, n = CHECKS[name]
    lines = str(check(_returns_none(correct))).splitlines()
    assert lines[0] == f"{name}: {n} of {n} cases failed."
    assert all(line.endswith(": your function returned None (is a `return` missing?)") for line in lines[1:])
    assert len(lines) == n + 1  # no hint about nan or 0·log 0 under them
    ja = str(check(_returns_none(correct), lang="ja")).splitlines()
    assert ja[0] == f"{name}: {n} 件中 {n} 件が不合格"
    assert all(line.endswith(": 関数が None を返した（return を書き忘れていないか）") for line in ja[1:])


@pytest.mark.parametrize("name", CHECKS)
def test_a_wrong_type_says_what_came_back(name):
    check, correct, _, n = CHECKS[name]
    lines = str(check(_as_dict(correct))).splitlines()
    assert lines[0] == f"{name}: {n} of {n} cases failed."
    assert all(": expected a number or an array of numbers, got dict: {'value': " in line for line in lines[1:])
    ja = str(check(_as_dict(correct), lang="ja")).splitlines()
    assert all("数または数の配列を返すこと。返り値は dict: {'value': " in line for line in ja[1:])


@pytest.mark.parametrize("name", ["check_kl", "check_entropy", "check_grid_kl", "check_ise"])
def test_a_scalar_of_shape_1_is_read_as_the_scalar(name):
    check, correct, _, _ = CHECKS[name]
    assert check(_as_shape_1(correct)).passed


def test_a_wrong_shape_is_named_as_the_problem():
    report = check_kl(lambda p, q: torch.stack([kc.kl_divergence(p, q)] * 2))
    assert str(report).splitlines()[1].endswith(": expected a value of shape (), got shape (2,)")
    ja = check_kl(lambda p, q: torch.stack([kc.kl_divergence(p, q)] * 2), lang="ja")
    assert str(ja).splitlines()[1].endswith(": 正しい値の形状は () だが、返り値の形状は (2,)")


def test_a_wrong_value_names_the_mistake_in_both_languages():
    swapped = lambda p, q: kc.kl_divergence(q, p)  # noqa: E731
    en, ja = str(check_kl(swapped)).splitlines(), str(check_kl(swapped, lang="ja")).splitlines()
    assert en[0] == "check_kl: 3 of 6 cases failed." and ja[0] == "check_kl: 6 件中 3 件が不合格"
    assert en[1] == "  case p = [0.2, 0.5, 0.3], q = [0.1, 0.3, 0.6]: expected 0.186098, got 0.193326"
    assert ja[1] == "  ケース p = [0.2, 0.5, 0.3], q = [0.1, 0.3, 0.6]: 正しい値 0.186098、返り値 0.193326"
    assert ja[3].startswith("  ケース p に 0 がある: p = [0.5, 0.5, 0]、q = [0.2, 0.3, 0.5]: 正しい値 0.713558、返り値 inf")
    assert "期待値 " not in "\n".join(ja) and "しました" not in "\n".join(ja) and "です" not in ja[0]


def test_a_mistake_given_as_a_function_is_computed_only_for_a_failed_case():
    from klcourse.checks._report import Case, run_cases

    calls = []

    def costly():  # stands for a mistake whose value takes a fit
        calls.append(1)
        return 3.0

    case = Case(label="x = 1", args=(1.0,), expected=2.0, mistakes=(({"en": "tripled", "ja": "3 倍した"}, costly),))
    assert run_cases("check_double", lambda x: 2 * x, [case]).passed and calls == []
    report = run_cases("check_double", lambda x: 3 * x, [case])
    assert not report.passed and calls == [1] and "tripled" in str(report)
