"""Checks of chapter "KL divergence": they accept a correct answer and name each typical mistake."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.special import rel_entr
from scipy.stats import entropy as scipy_entropy

from klcourse.checks import check_grid_kl, check_kl
from klcourse import bimodal_target, kl_divergence, normal, seed_grid
from klcourse.checks._kl import _HINTS, _grid_case


# ----------------------------------------------------------------------------- check_kl


def kl_scipy(p, q):
    """An independent correct answer: scipy normalises, uses nats and returns inf."""
    return scipy_entropy(np.asarray(p), np.asarray(q))


def kl_torch(p, q):
    p, q = p / p.sum(), q / q.sum()
    return torch.where(p > 0, p * (p.log() - q.log()), torch.zeros_like(p)).sum()


def kl_swapped(p, q):
    return kl_torch(q, p)


def kl_bits(p, q):
    return kl_torch(p, q) / math.log(2)


def kl_log10(p, q):
    return kl_torch(p, q) / math.log(10)


def kl_cross_entropy(p, q):
    p, q = p / p.sum(), q / q.sum()
    return -torch.where(p > 0, p * q.log(), torch.zeros_like(p)).sum()


def kl_sign(p, q):
    return -kl_torch(p, q)


def kl_naive(p, q):  # 0·log(0/q) and 0/0 give nan
    p, q = p / p.sum(), q / q.sum()
    return (p * (p / q).log()).sum()


def kl_epsilon(p, q):
    p, q = p / p.sum(), q / q.sum()
    return torch.where(p > 0, p * (p.log() - (q + 1e-10).log()), torch.zeros_like(p)).sum()


def kl_skip_infinite(p, q):
    p, q = p / p.sum(), q / q.sum()
    keep = (p > 0) & (q > 0)
    return (p[keep] * (p[keep] / q[keep]).log()).sum()


def kl_unnormalised(p, q):
    return torch.from_numpy(rel_entr(p.numpy(), q.numpy())).sum()


@pytest.mark.parametrize("fn", [kl_scipy, kl_torch])
@pytest.mark.parametrize("lang", ["en", "ja"])
def test_check_kl_accepts_correct_answers(fn, lang):
    report = check_kl(fn, lang=lang)
    assert report.passed, str(report)
    assert str(report) == ("check_kl: all 6 cases passed." if lang == "en" else "check_kl: 6 件すべて合格")


@pytest.mark.parametrize(
    "fn, hint",
    [
        (kl_swapped, "swapped"),
        (kl_bits, "base2"),
        (kl_log10, "base10"),
        (kl_cross_entropy, "cross_entropy"),
        (kl_sign, "sign"),
        (kl_naive, "nan"),
        (kl_epsilon, "epsilon"),
        (kl_skip_infinite, "skipped"),
        (kl_unnormalised, "unnormalised"),
    ],
)
@pytest.mark.parametrize("lang", ["en", "ja"])
def test_check_kl_names_the_mistake(fn, hint, lang):
    report = check_kl(fn, lang=lang)
    assert not report.passed
    assert _HINTS[hint][lang] in str(report)


def test_check_kl_hints_only_the_mistake_made():
    text = str(check_kl(kl_unnormalised))
    others = [key for key in _HINTS if key != "unnormalised" and _HINTS[key]["en"] in text]
    assert others == []
    assert "1 of 6 cases failed" in text


def test_check_kl_reports_an_exception():
    def broken(p, q):
        raise RuntimeError("not written yet")

    report = check_kl(broken)
    assert not report
    assert "RuntimeError: not written yet" in str(report)


# ----------------------------------------------------------------------------- check_grid_kl


def grid_kl(log_p, log_q, dx):
    p = log_p.exp()
    return torch.where(p > 0, p * (log_p - log_q), torch.zeros_like(p)).sum() * dx


def grid_kl_numpy(log_p, log_q, dx):
    """Independent: scipy's rel_entr on float64 densities recovered without underflow."""
    lp, lq = log_p.double().numpy(), log_q.double().numpy()
    p = np.exp(lp)
    terms = p * np.where(p > 0, lp - lq, 0.0)
    return terms.sum() * dx


def grid_kl_f_kl_div(log_p, log_q, dx):
    """F.kl_div used correctly: log q as input, p as target, reduction='sum', times dx."""
    return F.kl_div(log_q, log_p.exp(), reduction="sum") * dx


def grid_missing_dx(log_p, log_q, dx):
    return grid_kl(log_p, log_q, dx) / dx


def grid_mean(log_p, log_q, dx):
    return F.kl_div(log_q, log_p.exp(), reduction="mean")


def grid_batchmean(log_p, log_q, dx):  # on a 1-D tensor 'batchmean' divides by the number of points too
    return F.kl_div(log_q, log_p.exp(), reduction="batchmean")


def grid_swapped(log_p, log_q, dx):
    return grid_kl(log_q, log_p, dx)


def grid_exp_log(log_p, log_q, dx):
    return F.kl_div(log_q.exp().log(), log_p.exp(), reduction="sum") * dx


def grid_no_p(log_p, log_q, dx):
    return (log_p - log_q).sum() * dx


def grid_naive(log_p, log_q, dx):
    return (log_p.exp() * (log_p - log_q)).sum() * dx


@pytest.mark.parametrize("fn", [grid_kl, grid_kl_numpy, grid_kl_f_kl_div])
@pytest.mark.parametrize("lang", ["en", "ja"])
def test_check_grid_kl_accepts_correct_answers(fn, lang):
    report = check_grid_kl(fn, lang=lang)
    assert report.passed, str(report)


def test_check_grid_kl_expected_values_match_closed_form_and_quadrature():
    x = torch.linspace(-12.0, 12.0, 2001, dtype=torch.float64)
    case = _grid_case("gaussians", x, normal(0.0, 1.0).log_prob(x), normal(1.0, 2.0).log_prob(x))
    closed = math.log(2.0) + (1.0 + 1.0) / 8.0 - 0.5  # KL(N(0,1) ‖ N(1,2²))
    assert float(case.expected) == pytest.approx(closed, rel=1e-10)
    x32 = seed_grid()
    seed = _grid_case("seed", x32, bimodal_target().log_prob(x32.double()).float(),
                      torch.distributions.Normal(0.0, 1.0).log_prob(x32))
    assert float(seed.expected) == pytest.approx(kl_divergence(bimodal_target(), normal(0.0, 1.0)).item(), rel=1e-4)


@pytest.mark.parametrize(
    "fn, hint",
    [
        (grid_missing_dx, "missing_dx"),
        (grid_mean, "mean"),
        (grid_batchmean, "mean"),
        (grid_swapped, "swapped"),
        (grid_exp_log, "exp_log"),
        (grid_no_p, "no_p"),
        (grid_naive, "nan"),
    ],
)
@pytest.mark.parametrize("lang", ["en", "ja"])
@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides:UserWarning")  # grid_mean: PyTorch's own warning
def test_check_grid_kl_names_the_mistake(fn, hint, lang):
    report = check_grid_kl(fn, lang=lang)
    assert not report.passed
    assert _HINTS[hint][lang] in str(report)


def test_check_grid_kl_exp_log_fails_only_where_float32_underflows():
    text = str(check_grid_kl(grid_exp_log))
    assert "1 of 3 cases failed" in text
    assert "seed notebook's grid" in text
