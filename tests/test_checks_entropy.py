"""Tests for klcourse.checks._entropy: the checks of chapter "Entropy".

Each check must accept correct answers (in both languages, written with torch, numpy or
scipy) and reject each typical mistake with the hint that names it.
"""

import math

import numpy as np
import pytest
import scipy.stats
import torch
import torch.nn.functional as F

from klcourse.checks import check_cross_entropy, check_entropy

# --- learners' entropies: correct ones ------------------------------------------------------


def entropy_xlogy(p, base=None):
    h = -torch.special.xlogy(p, p).sum()
    return h if base is None else h / math.log(base)


def entropy_numpy(p, base=None):
    p = np.asarray(p)
    p = p[p > 0]
    h = -(p * np.log(p)).sum()
    return h if base is None else h / np.log(base)


def entropy_scipy(p, base=None):
    return scipy.stats.entropy(p.numpy(), base=base)


# --- learners' entropies: typical mistakes --------------------------------------------------


def entropy_nan(p, base=None):  # 0 * log 0 = nan
    h = -(p * torch.log(p)).sum()
    return h if base is None else h / math.log(base)


def entropy_log2(p, base=None):  # bits, always
    return -torch.special.xlogy(p, p).sum() / math.log(2)


def entropy_log2_unless_base(p, base=None):  # bits when base is None
    return entropy_xlogy(p, 2 if base is None else base)


def entropy_ignores_base(p, base=None):  # nats, always
    return -torch.special.xlogy(p, p).sum()


def entropy_times_log_base(p, base=None):
    h = -torch.special.xlogy(p, p).sum()
    return h if base is None else h * math.log(base)


def entropy_sign(p, base=None):
    return -entropy_xlogy(p, base)


def entropy_mean(p, base=None):
    h = -torch.special.xlogy(p, p).mean()
    return h if base is None else h / math.log(base)


def entropy_raises(p, base=None):
    raise NotImplementedError


# --- learners' cross-entropies --------------------------------------------------------------


def ce_logsumexp(logits, target):
    log_q = logits - torch.logsumexp(logits, dim=-1, keepdim=True)
    return -log_q.gather(-1, target[:, None]).mean()


def ce_torch(logits, target):
    return F.cross_entropy(logits, target)


def ce_naive(logits, target):  # exp overflows at large logits
    q = logits.exp() / logits.exp().sum(-1, keepdim=True)
    return -q.log().gather(-1, target[:, None]).mean()


def ce_no_softmax(logits, target):
    return -logits.gather(-1, target[:, None]).mean()


def ce_no_log(logits, target):
    return -torch.softmax(logits, -1).gather(-1, target[:, None]).mean()


def ce_sum(logits, target):
    return F.cross_entropy(logits, target, reduction="sum")


def ce_sign(logits, target):
    return -ce_logsumexp(logits, target)


def ce_bits(logits, target):
    return ce_logsumexp(logits, target) / math.log(2)


def ce_mean_over_classes(logits, target):
    p = F.one_hot(target, logits.shape[-1]).to(logits.dtype)
    return -(p * torch.log_softmax(logits, -1)).mean()


def ce_swapped(logits, target):
    p = F.one_hot(target, logits.shape[-1]).to(logits.dtype)
    return -(torch.softmax(logits, -1) * torch.log(p)).sum(-1).mean()


# --- tests ----------------------------------------------------------------------------------


@pytest.mark.parametrize("fn", [entropy_xlogy, entropy_numpy, entropy_scipy])
@pytest.mark.parametrize("lang", ["en", "ja"])
def test_check_entropy_accepts_correct_answers(fn, lang):
    report = check_entropy(fn, lang=lang)
    assert report.passed, str(report)
    assert bool(report)
    assert ("all 7 cases passed" if lang == "en" else "7 件すべて合格") in str(report)


@pytest.mark.parametrize("fn, en, ja", [
    (entropy_nan, "0·log 0 in code is 0·(-inf) = nan", "0·(-inf) = nan"),
    (entropy_log2, "this is in bits (log base 2); with base=None", "ビット単位（底 2 の対数）"),
    (entropy_log2_unless_base, "this is in bits (log base 2); with base=None", "自然対数（ナット単位）"),
    (entropy_ignores_base, "base was ignored", "base を無視している"),
    (entropy_times_log_base, "you multiplied by log(base)", "log(base) を掛けている"),
    (entropy_sign, "the sign is flipped", "符号が逆である"),
    (entropy_mean, "you averaged the terms", "項の平均をとっている"),
])
def test_check_entropy_names_each_mistake(fn, en, ja):
    report_en, report_ja = check_entropy(fn), check_entropy(fn, lang="ja")
    assert not report_en.passed and not bool(report_ja)
    assert "likely mistake: " + en.split(";")[0] in str(report_en) or en in str(report_en), str(report_en)
    assert ja in str(report_ja), str(report_ja)
    assert report_en.failed_cases == report_ja.failed_cases


def test_check_entropy_nan_hint_sits_under_the_zero_cases_only():
    report = check_entropy(entropy_nan)
    assert report.failed_cases == ["p = [0.5, 0.25, 0.25, 0]", "p = [0, 0.1, 0, 0.9], base = 2"]
    lines = str(report).splitlines()
    for label in report.failed_cases:
        at = next(i for i, line in enumerate(lines) if f"case {label}:" in line)
        assert "got nan" in lines[at]
        assert "0·log 0 = 0" in lines[at + 1]


def test_check_entropy_ignored_base_only_fails_cases_with_a_base():
    report = check_entropy(entropy_ignores_base)
    assert all("base" in label for label in report.failed_cases)
    assert len(report.failed_cases) == 4


def test_check_entropy_reports_an_exception():
    report = check_entropy(entropy_raises)
    assert len(report.failed_cases) == 7
    assert "your function raised NotImplementedError" in str(report)


@pytest.mark.parametrize("fn", [ce_logsumexp, ce_torch])
@pytest.mark.parametrize("lang", ["en", "ja"])
def test_check_cross_entropy_accepts_correct_answers(fn, lang):
    report = check_cross_entropy(fn, lang=lang)
    assert report.passed, str(report)


@pytest.mark.parametrize("fn, en, ja", [
    (ce_no_softmax, "the logits were used as log-probabilities", "ロジットをそのまま対数確率"),
    (ce_no_log, "this is the mean of -Q(y)", "-Q(y) の平均"),
    (ce_sum, "you summed over the batch", "バッチについて和をとっている"),
    (ce_sign, "the sign is flipped: the loss is -log Q(y)", "符号が逆である"),
    (ce_bits, "this is in bits (log base 2); the classification loss", "分類の損失は自然対数"),
    (ce_mean_over_classes, "you averaged over the classes too", "クラス方向にも平均"),
    (ce_swapped, "P and Q are swapped", "P と Q が入れ替わっている"),
])
def test_check_cross_entropy_names_each_mistake(fn, en, ja):
    report_en, report_ja = check_cross_entropy(fn), check_cross_entropy(fn, lang="ja")
    assert not report_en.passed and not report_ja.passed
    assert en in str(report_en), str(report_en)
    assert ja in str(report_ja), str(report_ja)


def test_check_cross_entropy_naive_softmax_fails_only_at_large_logits_with_the_nan_hint():
    report = check_cross_entropy(ce_naive)
    assert report.failed_cases == ["large logits [[1000, 999, 990], [-5, 1000, 998]], target [0, 2]"]
    assert "got nan" in str(report) and "torch.logsumexp" in str(report)
    assert "オーバーフロー" in str(check_cross_entropy(ce_naive, lang="ja"))


def test_check_cross_entropy_expected_values_match_pytorch():
    # the check's expected values come from klcourse.cross_entropy; they must be F.cross_entropy's
    from klcourse.checks import _entropy

    g = torch.Generator().manual_seed(2026)
    z = 2.0 * torch.randn(4, 3, generator=g, dtype=torch.float64)
    case = _entropy._cross_entropy_case("c", z.tolist(), [0, 2, 1, 2])
    assert float(case.expected) == pytest.approx(F.cross_entropy(z, torch.tensor([0, 2, 1, 2])).item(), rel=1e-12)
    big = _entropy._cross_entropy_case("big", [[1000.0, 999.0, 990.0], [-5.0, 1000.0, 998.0]], [0, 2])
    reference = F.cross_entropy(torch.tensor([[1000.0, 999.0, 990.0], [-5.0, 1000.0, 998.0]], dtype=torch.float64),
                                torch.tensor([0, 2]))
    assert float(big.expected) == pytest.approx(reference.item(), rel=1e-12)
    assert math.isfinite(float(big.expected))


@pytest.mark.parametrize("check", [check_entropy, check_cross_entropy])
def test_checks_reject_bad_arguments(check):
    with pytest.raises(ValueError, match="lang must be one of"):
        check(entropy_xlogy, lang="fr")
    with pytest.raises(ValueError, match="the function to check must be callable"):
        check(42)
