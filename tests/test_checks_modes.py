"""Tests for klcourse.checks._modes: the checks of chapter "Mode-seeking vs mean-seeking".

Each check must accept a correct answer (in both languages) and reject each typical mistake
with the hint that names it.
"""

import functools
import math

import pytest

from klcourse import fit_gaussian, gaussian_mixture, objective_value
from klcourse.checks import check_moment_match, check_reverse_kl_modes


def _moments(weights, means, sigmas, *, normalise=True, between=True, square=True):
    total = sum(weights) if normalise else 1.0
    w = [v / total for v in weights]
    mu = sum(wk * mk for wk, mk in zip(w, means))
    within = sum(wk * (sk**2 if square else sk) for wk, sk in zip(w, sigmas))
    spread = sum(wk * (mk - mu) ** 2 for wk, mk in zip(w, means)) if between else 0.0
    return mu, within + spread


def moment_match(weights, means, sigmas):
    mu, var = _moments(weights, means, sigmas)
    return mu, math.sqrt(var)


def forgets_between(weights, means, sigmas):
    mu, var = _moments(weights, means, sigmas, between=False)
    return mu, math.sqrt(var)


def std_as_variance(weights, means, sigmas):
    mu, var = _moments(weights, means, sigmas, square=False)
    return mu, math.sqrt(var)


def returns_variance(weights, means, sigmas):
    return _moments(weights, means, sigmas)


def unnormalised(weights, means, sigmas):
    mu, var = _moments(weights, means, sigmas, normalise=False)
    return mu, math.sqrt(var)


@functools.lru_cache(maxsize=None)
def _cached_fits(weights, means, sigmas):
    target = gaussian_mixture(list(weights), list(means), list(sigmas))
    return tuple(fit_gaussian(target, "reverse_kl", mu0=m, sigma0=s) for m, s in zip(means, sigmas))


def _fits(weights, means, sigmas):
    return _cached_fits(tuple(weights), tuple(means), tuple(sigmas))


def lowest_mode(weights, means, sigmas):
    best = min(_fits(weights, means, sigmas), key=lambda f: f.loss)
    return best.mu, best.sigma, best.loss


def lowest_mode_other_starts(weights, means, sigmas):
    # other starts and the other parameterisation reach the same minima
    target = gaussian_mixture(weights, means, sigmas)
    fits = [fit_gaussian(target, "reverse_kl", mu0=m + 0.2, sigma0=1.0, parameterization="sigma") for m in means]
    best = min(fits, key=lambda f: f.loss)
    return best.mu, best.sigma, best.loss


def tallest_mode(weights, means, sigmas):
    k = max(range(len(weights)), key=lambda i: weights[i] / sigmas[i])
    fit = _fits(weights, means, sigmas)[k]
    return fit.mu, fit.sigma, fit.loss


def first_mode(weights, means, sigmas):
    fit = _fits(weights, means, sigmas)[0]
    return fit.mu, fit.sigma, fit.loss


def forward_fit(weights, means, sigmas):
    target = gaussian_mixture(weights, means, sigmas)
    fit = fit_gaussian(target, "forward_kl", 0.0, 1.0)
    return fit.mu, fit.sigma, objective_value(target, "reverse_kl", fit.mu, fit.sigma).item()


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_moment_match_accepts_correct_answer(lang):
    report = check_moment_match(moment_match, lang=lang)
    assert report.passed and bool(report)
    assert "5" in str(report)


@pytest.mark.parametrize("wrong, hint_en, hint_ja", [
    (forgets_between, "between-component variance", "成分間の分散"),
    (std_as_variance, "squared standard deviations", "標準偏差の 2 乗"),
    (returns_variance, "you returned the variance", "分散を返している"),
    (unnormalised, "divide them by their sum", "和で割って正規化"),
])
def test_moment_match_names_each_mistake(wrong, hint_en, hint_ja):
    report = check_moment_match(wrong)
    assert not report.passed
    assert hint_en in str(report)
    assert hint_ja in str(check_moment_match(wrong, lang="ja"))


def test_unnormalised_weights_fail_only_the_unnormalised_case():
    report = check_moment_match(unnormalised)
    assert report.failed_cases == ["unnormalised weights (1, 1), as in the seed notebook"]


def test_moment_match_reports_a_function_that_raises():
    def broken(weights, means, sigmas):
        raise NotImplementedError

    report = check_moment_match(broken)
    assert not report.passed
    assert "NotImplementedError" in str(report)


def test_moment_match_expected_value_is_the_course_optimum():
    # the report prints the expected value of the bimodal case: sigma = sqrt(57.25)
    report = check_moment_match(forgets_between)
    assert f"{math.sqrt(57.25):.6g}" in str(report)


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_reverse_kl_modes_accepts_correct_answers(lang):
    assert check_reverse_kl_modes(lowest_mode, lang=lang).passed
    assert check_reverse_kl_modes(lowest_mode_other_starts, lang=lang).passed


@pytest.mark.parametrize("wrong, hint_en, hint_ja", [
    (tallest_mode, "under the tallest peak", "最も高い山"),
    (first_mode, "from the first component only", "最初の成分"),
    (forward_fit, "forward-KL (moment-matched)", "順方向KL"),
])
def test_reverse_kl_modes_names_each_mistake(wrong, hint_en, hint_ja):
    report = check_reverse_kl_modes(wrong)
    assert not report.passed
    assert hint_en in str(report)
    assert hint_ja in str(check_reverse_kl_modes(wrong, lang="ja"))


def test_first_mode_is_right_when_the_heaviest_component_comes_first():
    # the case with the heavy component listed first passes; the other two fail
    report = check_reverse_kl_modes(first_mode)
    assert report.failed_cases == ["0.3 N(-3, 0.3²) + 0.7 N(4, 2²)",
                                   "0.25 N(-6, 0.5²) + 0.45 N(0, 1.5²) + 0.3 N(7, 0.4²)"]


def test_reverse_kl_minimum_is_close_to_minus_log_weight():
    # the property the exercise teaches: KL near component k is about -log w_k
    mu, sigma, kl = lowest_mode([0.3, 0.7], [-3.0, 4.0], [0.3, 2.0])
    assert kl == pytest.approx(-math.log(0.7), abs=0.01)
    assert mu == pytest.approx(4.0, abs=0.1)


def test_reverse_kl_modes_passes_fresh_lists_that_a_learner_may_edit():
    seen = []

    def normalises_in_place(weights, means, sigmas):
        seen.append(type(weights))
        weights[0] = 99.0                      # a careless learner edits the list it was given
        return lowest_mode([0.3, 0.7], [-3.0, 4.0], [0.3, 2.0])

    check_reverse_kl_modes(normalises_in_place)
    assert seen == [list, list, list]
    assert check_reverse_kl_modes(lowest_mode).passed
