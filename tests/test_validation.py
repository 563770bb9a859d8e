"""Every public boundary rejects invalid input with a one-line ValueError that names the argument."""

import math

import numpy as np
import pytest
import torch
from torch.distributions import Normal

from klcourse import (
    Grid,
    alpha_divergence,
    bimodal_target,
    closed_form,
    conditional_entropy,
    covering_grid,
    cross_entropy,
    entropy,
    estimator_stats,
    factorized_gaussian_fit,
    gaussian_entropy,
    gaussian_kl,
    gaussian_mixture,
    hellinger,
    information_content,
    joint_entropy,
    js_divergence,
    kl_divergence,
    kl_estimators,
    mutual_information,
    mvn_kl,
    normal,
    register_closed_form,
    renyi_divergence,
    wasserstein,
)

N01 = normal(0.0, 1.0)
GOOD = [0.5, 0.5]
EYE = np.eye(2)

BAD_INPUTS = [
    # discrete: p, q, base, pxy
    ("negative entry", entropy, ([0.5, 0.6, -0.1],), {}, r"^p must be non-negative; got a negative entry -0\.1$"),
    ("nan entry", entropy, ([0.5, math.nan],), {}, r"^p must contain only finite numbers; got nan$"),
    ("inf entry", kl_divergence, (GOOD, [math.inf, 0.0]), {}, r"^q must contain only finite numbers; got inf$"),
    ("all zeros", kl_divergence, ([0.0, 0.0], GOOD), {}, r"^p must have a positive sum along the last axis \(probabilities or counts\); got all zeros$"),
    ("all zeros in a batch row", entropy, ([[0.5, 0.5], [0.0, 0.0]],), {}, r"^p must have a positive sum along the last axis"),
    ("distribution to entropy", entropy, (N01,), {}, r"^p must be an array or tensor of probabilities; got a torch distribution, Normal$"),
    ("one of each", kl_divergence, (GOOD, N01), {}, r"^p and q must both be arrays of probabilities or both torch distributions; got list and Normal$"),
    ("None", kl_divergence, (None, GOOD), {}, r"^p must be an array of real numbers; got NoneType None$"),
    ("dict", entropy, ({"a": 0.5},), {}, r"^p must be an array of real numbers; got dict \{'a': 0\.5\}$"),
    ("grid with arrays", js_divergence, (GOOD, GOOD), {"grid": "x"}, r"^grid is used only when p and q are torch distributions; got grid with arrays in js_divergence$"),
    ("shape mismatch", kl_divergence, ([0.2, 0.3, 0.5], GOOD), {}, r"^p and q must have the same shape \(leading axes may broadcast\); got \(3,\) and \(2,\)$"),
    ("batch mismatch", js_divergence, (np.full((2, 2), 0.5), np.full((3, 2), 0.5)), {}, r"^p and q must have the same shape.*got \(2, 2\) and \(3, 2\)$"),
    ("support sizes broadcast", kl_divergence, ([[1.0], [1.0]], [[0.5, 0.5]]), {}, r"^p and q must have the same shape.*got \(2, 1\) and \(1, 2\)$"),
    ("empty", entropy, ([],), {}, r"^p must be non-empty; got shape \(0,\)$"),
    ("scalar", entropy, (1.0,), {}, r"^p must have at least one axis \(the support\); got shape \(\)$"),
    ("strings", cross_entropy, (GOOD, ["a", "b"]), {}, r"^q must hold real numbers; got dtype <U1$"),
    ("ragged", entropy, ([[0.5, 0.5], [1.0]],), {}, r"^p must be a rectangular array of real numbers"),
    ("complex tensor", entropy, (torch.tensor([0.5 + 0j, 0.5]),), {}, r"^p must hold real numbers; got dtype torch\.complex64$"),
    ("base 0", entropy, (GOOD,), {"base": 0}, r"^base must be a positive number other than 1 or None; got 0$"),
    ("base 1", kl_divergence, (GOOD, GOOD), {"base": 1}, r"^base must be a positive number other than 1 or None; got 1$"),
    ("base negative", js_divergence, (GOOD, GOOD), {"base": -2.0}, r"^base must be .* or None; got -2\.0$"),
    ("base string", entropy, (GOOD,), {"base": "2"}, r"^base must be .* or None; got '2'$"),
    ("base bool", entropy, (GOOD,), {"base": True}, r"^base must be .* or None; got True$"),
    ("base inf", entropy, (GOOD,), {"base": math.inf}, r"^base must be .* or None; got inf$"),
    ("pxy 1-D", joint_entropy, (GOOD,), {}, r"^pxy must have at least 2 axes; got shape \(2,\)$"),
    ("pxy zeros", mutual_information, ([[0.0, 0.0], [0.0, 0.0]],), {}, r"^pxy must have a positive sum along the last 2 axes"),
    ("pxy negative", conditional_entropy, ([[0.5, 0.6], [0.0, -0.1]],), {}, r"^pxy must be non-negative; got a negative entry -0\.1$"),
    ("surprisal above 1", information_content, ([0.5, 1.5],), {}, r"^p must be probabilities in \[0, 1\]; got 1\.5$"),
    ("surprisal nan", information_content, (math.nan,), {}, r"^p must be probabilities in \[0, 1\]; got nan$"),
    ("surprisal empty", information_content, ([],), {}, r"^p must be non-empty; got shape \(0,\)$"),
    ("surprisal base", information_content, (0.5,), {"base": 1}, r"^base must be a positive number other than 1 or None; got 1$"),
    # targets
    ("weights negative", gaussian_mixture, ([1.2, -0.2], [0.0, 1.0], [1.0, 1.0]), {}, r"^weights must be non-negative; got a negative entry -0\.2$"),
    ("weights sum", gaussian_mixture, ([0.5, 0.4], [0.0, 1.0], [1.0, 1.0]), {}, r"^weights must sum to 1; got a sum of 0\.9$"),
    ("weights nan", gaussian_mixture, ([math.nan, 0.5], [0.0, 1.0], [1.0, 1.0]), {}, r"^weights must contain only finite numbers; got nan$"),
    ("sigmas zero", gaussian_mixture, ([0.5, 0.5], [0.0, 1.0], [1.0, 0.0]), {}, r"^sigmas must be positive; got 0$"),
    ("means inf", gaussian_mixture, ([0.5, 0.5], [0.0, math.inf], [1.0, 1.0]), {}, r"^means must contain only finite numbers; got inf$"),
    ("lengths", gaussian_mixture, ([0.5, 0.5], [0.0], [1.0, 1.0]), {}, r"^weights, means and sigmas must be non-empty 1-D sequences of one length; got shapes \(2,\), \(1,\) and \(2,\)$"),
    ("no components", gaussian_mixture, ([], [], []), {}, r"^weights, means and sigmas must be non-empty 1-D sequences of one length"),
    ("normal sigma", normal, (0.0, -1.0), {}, r"^sigma must be positive; got -1$"),
    ("normal mu", normal, (math.nan, 1.0), {}, r"^mu must contain only finite numbers; got nan$"),
    # continuous
    ("p not a distribution", hellinger, ([0.5, 0.5], N01), {}, r"^p must be a torch\.distributions\.Distribution; got list$"),
    ("q batched", js_divergence, (N01, Normal(torch.zeros(3), torch.ones(3))), {}, r"^q must be a 1-D distribution with batch_shape \(\) and event_shape \(\); got batch_shape \(3,\) and event_shape \(\)$"),
    ("grid type", kl_divergence, (N01, N01), {"grid": torch.linspace(-5, 5, 11)}, r"^grid must be a Grid or None; got Tensor$"),
    ("order", wasserstein, (N01, N01), {"order": 3}, r"^order must be 1 or 2; got 3$"),
    ("alpha nan", alpha_divergence, (N01, N01, math.nan), {}, r"^alpha must be a finite real number; got nan$"),
    ("alpha string", alpha_divergence, (N01, N01, "0.5"), {}, r"^alpha must be a finite real number; got '0\.5'$"),
    ("renyi alpha negative", renyi_divergence, (N01, N01, -0.5), {}, r"^alpha must be a finite real number >= 0; got -0\.5$"),
    ("grid lo hi", Grid.uniform, (1.0, 0.0, 11), {}, r"^lo must be less than hi; got lo=1 and hi=0$"),
    ("grid n", Grid.uniform, (0.0, 1.0, 1), {}, r"^n must be an integer >= 2; got 1$"),
    ("grid rule", Grid.uniform, (0.0, 1.0, 11), {"rule": "midpoint"}, r"^rule must be 'trapezoid' or 'simpson'; got 'midpoint'$"),
    ("simpson even", Grid.uniform, (0.0, 1.0, 10), {"rule": "simpson"}, r"^n must be odd for Simpson's rule; got 10$"),
    ("grid points order", Grid.from_points, (torch.tensor([0.0, 2.0, 1.0]),), {}, r"^x must be strictly increasing$"),
    ("grid points type", Grid.from_points, ([0.0, 1.0],), {}, r"^x must be a 1-D floating tensor of at least 2 points"),
    ("grid shapes", Grid, (torch.zeros(3), torch.zeros(2)), {}, r"^x and w must be 1-D of one length >= 2; got shapes \(3,\) and \(2,\)$"),
    ("covering nothing", covering_grid, (), {}, r"^dists must name at least one distribution; got none$"),
    ("covering tail", covering_grid, (N01,), {"tail": 0.7}, r"^tail must be in \(0, 0\.5\); got 0\.7$"),
    ("covering n", covering_grid, (N01,), {"n": 2.5}, r"^n must be an integer >= 2; got 2\.5$"),
    ("covering dist", covering_grid, (N01, "N(0,1)"), {}, r"^dists\[1\] must be a torch\.distributions\.Distribution; got str$"),
    # closed forms
    ("no rule", closed_form, ("hellinger", bimodal_target(), N01), {}, r"^no closed form 'hellinger' for \(MixtureSameFamily, Normal\); registered: "),
    ("unknown name", closed_form, ("kullback", N01, N01), {}, r"^no closed form 'kullback' for \(Normal, Normal\); registered: .*kl\(Distribution, Distribution\)"),
    ("closed form p", closed_form, ("kl", 0.0, N01), {}, r"^p must be a torch\.distributions\.Distribution; got float$"),
    ("renyi needs alpha", closed_form, ("renyi", N01, N01), {}, r"^alpha must be given for this closed form; got none$"),
    ("renyi alpha negative", closed_form, ("renyi", N01, N01), {"alpha": -1.0}, r"^alpha must be a finite real number >= 0; got -1\.0$"),
    ("register type", register_closed_form, ("kl", float, Normal), {}, r"^type_p must be a torch\.distributions\.Distribution subclass; got <class 'float'>$"),
    ("register name", register_closed_form, (3, Normal, Normal), {}, r"^name must be a string; got 3$"),
    ("gaussian_kl sigma", gaussian_kl, (0.0, 1.0, 0.0, 0.0), {}, r"^sigma_q must be positive; got 0$"),
    ("gaussian_kl mu", gaussian_kl, (math.inf, 1.0, 0.0, 1.0), {}, r"^mu_p must contain only finite numbers; got inf$"),
    ("gaussian_entropy sigma", gaussian_entropy, ([1.0, -2.0],), {}, r"^sigma must be positive; got -2$"),
    ("gaussian_entropy base", gaussian_entropy, (1.0,), {"base": 0.0}, r"^base must be a positive number other than 1 or None; got 0\.0$"),
    ("mvn shapes", mvn_kl, ([0.0, 0.0], np.eye(3), [0.0, 0.0], EYE), {}, r"^mean_p and cov_p must have shapes \[d\] and \[d, d\]; got \(2,\) and \(3, 3\)$"),
    ("mvn symmetric", mvn_kl, ([0.0, 0.0], EYE, [0.0, 0.0], [[1.0, 0.5], [0.0, 1.0]]), {}, r"^cov_q must be symmetric; got \[\[1\.0, 0\.5\], \[0\.0, 1\.0\]\]$"),
    ("mvn definite", mvn_kl, ([0.0, 0.0], [[1.0, 2.0], [2.0, 1.0]], [0.0, 0.0], EYE), {}, r"^cov_p must be positive definite; got \[\[1\.0, 2\.0\], \[2\.0, 1\.0\]\]$"),
    ("mvn dimensions", mvn_kl, ([0.0], [[1.0]], [0.0, 0.0], EYE), {}, r"^p and q must have one dimension d; got 1 and 2$"),
    ("mvn nan", mvn_kl, ([0.0, math.nan], EYE, [0.0, 0.0], EYE), {}, r"^mean_p must contain only finite numbers; got nan$"),
    ("fit direction", factorized_gaussian_fit, ([0.0, 0.0], EYE, "sideways"), {}, r"^direction must be 'forward' or 'reverse'; got 'sideways'$"),
    ("fit cov", factorized_gaussian_fit, ([0.0, 0.0], -EYE, "forward"), {}, r"^cov must be positive definite"),
    # estimators
    ("estimator n", kl_estimators, (N01, N01, 0), {}, r"^n must be an integer >= 1; got 0$"),
    ("estimator generator", kl_estimators, (N01, N01, 10), {"generator": 0}, r"^generator must be a torch\.Generator or None; got int$"),
    ("estimator q", kl_estimators, ("q", N01, 10), {}, r"^q must be a torch\.distributions\.Distribution; got str$"),
    ("stats repeats", estimator_stats, (N01, N01, 10, 1, 0), {}, r"^repeats must be an integer >= 2; got 1$"),
    ("stats seed", estimator_stats, (N01, N01, 10, 5, "0"), {}, r"^seed must be an integer; got '0'$"),
    (
        "estimator sampler",
        kl_estimators,
        (torch.distributions.Gamma(torch.tensor(2.0), torch.tensor(1.0)), torch.distributions.Gamma(torch.tensor(3.0), torch.tensor(1.0)), 10),
        {"generator": torch.Generator()},
        r"^q must be a Normal, a mixture of Normals or have an icdf to sample with a generator; got Gamma \(pass generator=None\)$",
    ),
]


@pytest.mark.parametrize("fn,args,kwargs,message", [case[1:] for case in BAD_INPUTS], ids=[case[0] for case in BAD_INPUTS])
def test_bad_input_raises_value_error_naming_the_argument(fn, args, kwargs, message):
    with pytest.raises(ValueError, match=message) as info:
        fn(*args, **kwargs)
    assert "\n" not in str(info.value)  # one line


def test_counts_are_normalised_as_scipy_does():
    from scipy.stats import entropy as scipy_entropy

    assert kl_divergence([1, 2, 1], [2, 1, 1]) == pytest.approx(scipy_entropy([1, 2, 1], [2, 1, 1]), rel=1e-15)
    assert kl_divergence([1, 2, 1], [2, 1, 1]) == pytest.approx(kl_divergence([0.25, 0.5, 0.25], [0.5, 0.25, 0.25]), rel=1e-15)
    assert entropy([3, 1], base=2) == pytest.approx(scipy_entropy([3, 1], base=2), rel=1e-15)
    assert js_divergence([2, 0], [0, 5], base=2) == 1.0
    assert joint_entropy([[1, 1], [1, 1]]) == pytest.approx(math.log(4), rel=1e-15)
    batch = entropy(np.array([[1.0, 1.0], [2.0, 0.0]]))  # each row normalised on its own
    assert batch[0] == pytest.approx(math.log(2)) and batch[1] == 0.0
    gaussian_mixture([1 / 3] * 3, [0.0, 1.0, 2.0], [1.0, 1.0, 1.0])  # rounding in the weights is accepted


def test_certain_outcomes_give_plus_zero_not_minus_zero():
    for value in (entropy([1.0, 0.0]), joint_entropy([[1.0, 0.0], [0.0, 0.0]]), conditional_entropy([[0.5, 0.0], [0.0, 0.5]])):
        assert value == 0.0 and math.copysign(1.0, value) == 1.0, value


def test_infinite_is_an_answer_not_an_error():
    assert kl_divergence([1.0, 0.0], [0.0, 1.0]) == math.inf
    assert information_content(0.0) == math.inf
