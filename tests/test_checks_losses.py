"""Checks of chapter "Comparing losses": check_ise accepts correct answers and names each typical mistake."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from reference_flows import mse_flow_scipy

from klcourse import bimodal_target, fit_gaussian, l2_distance_squared, normal
from klcourse.checks import check_ise, check_landing
from klcourse.checks._losses import _HINTS, _LANDING_CASES, _case, _landing_case


def ise(p, q, dx):
    return ((p - q) ** 2).sum() * dx


def ise_numpy(p, q, dx):
    """Independent: numpy on the values as arrays."""
    return float(np.sum((np.asarray(p) - np.asarray(q)) ** 2) * dx)


def ise_trapezoid(p, q, dx):
    return torch.trapezoid((p - q) ** 2, dx=dx)


def ise_mse_sum(p, q, dx):
    """F.mse_loss used as an integral: reduction='sum', times dx."""
    return F.mse_loss(q, p, reduction="sum") * dx


def ise_missing_dx(p, q, dx):
    return ((p - q) ** 2).sum()


def ise_mean(p, q, dx):  # the seed's loss
    return F.mse_loss(q, p)


def ise_not_squared(p, q, dx):
    return (p - q).sum() * dx


def ise_absolute(p, q, dx):
    return (p - q).abs().sum() * dx


def ise_root(p, q, dx):
    return ise(p, q, dx).sqrt()


def ise_normalised_inside(p, q, dx):
    return ise(p / (p.sum() * dx), q, dx)


@pytest.mark.parametrize("fn", [ise, ise_numpy, ise_trapezoid, ise_mse_sum])
@pytest.mark.parametrize("lang", ["en", "ja"])
def test_check_ise_accepts_correct_answers(fn, lang):
    report = check_ise(fn, lang=lang)
    assert report.passed, str(report)
    assert str(report) == ("check_ise: all 3 cases passed." if lang == "en" else "check_ise: 3 件すべて合格")


@pytest.mark.parametrize(
    "fn, hint, n_failed",
    [
        (ise_missing_dx, "missing_dx", 3),
        (ise_mean, "mean", 3),
        (ise_not_squared, "not_squared", 3),
        (ise_absolute, "absolute", 3),
        (ise_root, "root", 3),
        (ise_normalised_inside, "normalised", 1),
    ],
)
@pytest.mark.parametrize("lang", ["en", "ja"])
def test_check_ise_names_the_mistake(fn, hint, n_failed, lang):
    report = check_ise(fn, lang=lang)
    assert not report.passed
    assert len(report.failed_cases) == n_failed
    text = str(report)
    assert _HINTS[hint][lang] in text
    others = [key for key in _HINTS if key != hint and _HINTS[key][lang] in text]
    assert others == []


def test_check_ise_reports_an_exception():
    def broken(p, q, dx):
        raise RuntimeError("not written yet")

    report = check_ise(broken)
    assert not report
    assert "RuntimeError: not written yet" in str(report)


def test_expected_values_match_closed_form_quadrature_and_findings():
    # ∫ (p - q)² for two Normals: 1/(2√π s) + 1/(2√π t) - 2 N(a; b, s² + t²)
    x = torch.linspace(-12.0, 12.0, 1201, dtype=torch.float64)
    case = _case("gaussians", x, normal(0.0, 1.0).log_prob(x).exp(), normal(1.0, 2.0).log_prob(x).exp())
    closed = 1 / (2 * math.sqrt(math.pi)) + 1 / (4 * math.sqrt(math.pi)) - 2 * math.exp(-1 / 10) / math.sqrt(10 * math.pi)
    assert float(case.expected) == pytest.approx(closed, rel=1e-10)
    xw = torch.linspace(-25.0, 30.0, 3501, dtype=torch.float64)
    mode = _case("mode", xw, bimodal_target().log_prob(xw).exp(), normal(-5.0, 1.961459).log_prob(xw).exp())
    assert float(mode.expected) == pytest.approx(0.1036659, abs=1e-7)  # FINDINGS row 7
    assert float(mode.expected) == pytest.approx(
        l2_distance_squared(bimodal_target(), normal(-5.0, 1.961459)).item(), rel=1e-9)



# ----------------------------------------------------------------------------- check_landing


def landing(objective, mu0, sigma0, parameterization):
    return fit_gaussian(bimodal_target(), objective, mu0, sigma0, parameterization=parameterization).mu


def landing_nearest(objective, mu0, sigma0, parameterization):
    return -5.0 if mu0 < 2.5 else 10.0


def landing_default_parameterization(objective, mu0, sigma0, parameterization):
    return fit_gaussian(bimodal_target(), objective, mu0, sigma0).mu


def landing_start(objective, mu0, sigma0, parameterization):
    return mu0


def landing_sigma(objective, mu0, sigma0, parameterization):
    return fit_gaussian(bimodal_target(), objective, mu0, sigma0, parameterization=parameterization).sigma


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_check_landing_accepts_a_correct_answer(lang):
    report = check_landing(landing, lang=lang)
    assert report.passed, str(report)
    assert report.n_cases == len(_LANDING_CASES)


@pytest.mark.parametrize("case", [c for c in _LANDING_CASES if c[0] == "mse"])
def test_check_landing_expected_values_match_an_independent_gradient_flow(case):
    _, mu0, sigma0, parameterization = case
    assert float(_landing_case(*case).expected) == pytest.approx(mse_flow_scipy(mu0, sigma0, parameterization), abs=1e-4)


def test_check_landing_cosine_cases_are_the_findings():
    # FINDINGS row 8: cosine maxima at the peaks (similarity 1/√2) and the wide one at mu = 2.5;
    # from (0, 1) the flow in (mu, sigma) reaches the left peak, in (mu, log sigma) the wide maximum
    assert float(_landing_case("cosine", 0.0, 1.0, "sigma").expected) == pytest.approx(-5.0, abs=1e-6)
    assert float(_landing_case("cosine", 0.0, 1.0, "log_sigma").expected) == pytest.approx(2.5, abs=1e-6)


@pytest.mark.parametrize(
    "fn, hint",
    [
        (landing_nearest, "nearest"),
        (landing_default_parameterization, "other_parameterization"),
        (landing_start, "start"),
        (landing_sigma, "sigma"),
    ],
)
@pytest.mark.parametrize("lang", ["en", "ja"])
def test_check_landing_names_the_mistake(fn, hint, lang):
    report = check_landing(fn, lang=lang)
    assert not report.passed
    assert _HINTS[hint][lang] in str(report)
