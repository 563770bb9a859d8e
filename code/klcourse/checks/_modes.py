"""Checks for the exercises of chapter "Mode-seeking vs mean-seeking".

* :func:`check_moment_match` — the Gaussian that minimises the forward KL to a Gaussian
  mixture (moment matching), exercise ``ex-mode-2``.
* :func:`check_reverse_kl_modes` — the lowest of the reverse-KL local minima of a Gaussian
  mixture, exercise ``ex-mode-4``.

Expected values come from the library (the mixture's own mean and variance; fits by
:func:`klcourse.fit_gaussian`), never typed in; each typical mistake is computed the way a
learner would get it wrong, so that the report can name it.
"""

from __future__ import annotations

import dataclasses
import functools

import torch

from klcourse._fit import fit_gaussian, objective_value
from klcourse._targets import gaussian_mixture
from klcourse.checks._report import Case, CheckReport, run_cases

# (weights, means, sigmas): the course's bimodal target, the chapter's unequal-weights target,
# the seed notebook's unnormalised sum, a three-component mixture and a single Normal.
_MOMENT_CASES = (
    ({"en": "bimodal 0.5 N(-5, 1) + 0.5 N(10, 1)", "ja": "二峰 0.5 N(-5, 1) + 0.5 N(10, 1)"},
     (0.5, 0.5), (-5.0, 10.0), (1.0, 1.0)),
    ({"en": "unequal weights 0.3 N(-3, 0.3²) + 0.7 N(4, 2²)", "ja": "重みが異なる 0.3 N(-3, 0.3²) + 0.7 N(4, 2²)"},
     (0.3, 0.7), (-3.0, 4.0), (0.3, 2.0)),
    ({"en": "unnormalised weights (1, 1), as in the seed notebook",
      "ja": "正規化していない重み (1, 1)（シードのノートブックと同じ）"}, (1.0, 1.0), (-5.0, 10.0), (1.0, 1.0)),
    ({"en": "three components", "ja": "成分が三つ"}, (0.2, 0.5, 0.3), (-1.0, 0.5, 3.0), (0.5, 1.5, 0.8)),
    ({"en": "one component N(2, 3²)", "ja": "成分が一つ N(2, 3²)"}, (1.0,), (2.0,), (3.0,)),
)

# Targets for the reverse-KL exercise: the chapter's example in both orders (so that "the first
# component" and "the tallest component" are different mistakes), and a three-component mixture.
_REVERSE_CASES = (
    ("0.3 N(-3, 0.3²) + 0.7 N(4, 2²)", (0.3, 0.7), (-3.0, 4.0), (0.3, 2.0)),
    ("0.7 N(4, 2²) + 0.3 N(-3, 0.3²)", (0.7, 0.3), (4.0, -3.0), (2.0, 0.3)),
    ("0.25 N(-6, 0.5²) + 0.45 N(0, 1.5²) + 0.3 N(7, 0.4²)", (0.25, 0.45, 0.3), (-6.0, 0.0, 7.0), (0.5, 1.5, 0.4)),
)

_HINTS = {
    "within": {
        "en": "sigma² must also include the spread of the component means around mu "
              "(the between-component variance Σ w_k (m_k - mu)²), not only Σ w_k s_k²",
        "ja": "σ² には成分内の分散 Σ w_k s_k² だけでなく、成分の平均が mu のまわりに散らばる分"
              "（成分間の分散 Σ w_k (m_k - mu)²）も含まれる",
    },
    "std_as_var": {
        "en": "the within-component part of the variance is Σ w_k s_k² (squared standard "
              "deviations), not Σ w_k s_k",
        "ja": "分散の成分内の部分は Σ w_k s_k²（標準偏差の 2 乗）であり、Σ w_k s_k ではない",
    },
    "variance": {
        "en": "you returned the variance; return the standard deviation sigma = sqrt(variance)",
        "ja": "分散を返している。標準偏差 sigma = sqrt(分散) を返すこと",
    },
    "unnormalised": {
        "en": "the weights were used as given; divide them by their sum first, since they "
              "need not sum to 1",
        "ja": "重みをそのまま使っている。重みの和が 1 とは限らないので、まず和で割って正規化すること",
    },
    "first": {
        "en": "this is the minimum reached from the first component only; start a fit at every "
              "component and keep the one with the lowest reverse KL",
        "ja": "最初の成分から始めたフィットの局所最小しか見ていない。すべての成分から始めて、"
              "逆方向KLが最も小さいものを選ぶこと",
    },
    "tallest": {
        "en": "this is the minimum under the tallest peak; reverse KL prefers the component with "
              "the most mass (weight), which need not be the tallest",
        "ja": "最も高い山の上の局所最小を選んでいる。逆方向KLが好むのは最も質量（重み）の大きい成分であり、"
              "最も高い成分とは限らない",
    },
    "forward": {
        "en": "this is the forward-KL (moment-matched) Gaussian; the exercise asks for a minimum "
              "of KL(Q ‖ P), with the model Q first",
        "ja": "これは順方向KL（モーメントマッチング）のガウス分布である。求めるのはモデル Q を"
              "先に書いた KL(Q ‖ P) の局所最小",
    },
}


def _moments(weights, means, sigmas):
    """Mean and standard deviation of the mixture, from torch's ``MixtureSameFamily``."""
    w = torch.tensor(weights, dtype=torch.float64)
    mixture = gaussian_mixture(w / w.sum(), means, sigmas)
    return mixture.mean.item(), mixture.variance.sqrt().item()


def _mistaken_moments(weights, means, sigmas):
    """(mu, sigma) returned by each typical mistake, keyed like ``_HINTS``."""
    w = torch.tensor(weights, dtype=torch.float64)
    m = torch.tensor(means, dtype=torch.float64)
    s = torch.tensor(sigmas, dtype=torch.float64)
    mu, sigma = _moments(weights, means, sigmas)
    p = w / w.sum()
    raw_mu = (w * m).sum()
    return {
        "within": (mu, (p * s**2).sum().sqrt().item()),
        "std_as_var": (mu, (p * (s + (m - mu) ** 2)).sum().sqrt().item()),
        "variance": (mu, sigma**2),
        "unnormalised": (raw_mu.item(), (w * (s**2 + (m - raw_mu) ** 2)).sum().sqrt().item()),
    }


def check_moment_match(fn, lang="en") -> CheckReport:
    """Check a learner's ``fn(weights, means, sigmas) -> (mu, sigma)`` (exercise ex-mode-2).

    Parameters
    ----------
    fn : callable
        Takes the mixture's weights (non-negative, not necessarily summing to 1), component
        means and component standard deviations, and returns ``(mu, sigma)``: the mean and
        standard deviation of the Gaussian that minimises the forward KL ``KL(P ‖ Q)`` from
        the normalised mixture P.
    lang : {"en", "ja"}, default "en"
        Language of the report.

    Returns
    -------
    CheckReport
        True when every case passed; prints which cases failed and the likely mistake
        (between-component variance forgotten, standard deviations used as variances,
        variance returned instead of sigma, weights not normalised).

    Examples
    --------
    >>> import math
    >>> def moment_match(weights, means, sigmas):
    ...     total = sum(weights)
    ...     w = [v / total for v in weights]
    ...     mu = sum(wk * mk for wk, mk in zip(w, means))
    ...     var = sum(wk * (sk**2 + (mk - mu) ** 2) for wk, mk, sk in zip(w, means, sigmas))
    ...     return mu, math.sqrt(var)
    >>> print(bool(check_moment_match(moment_match)))
    True
    """
    cases = []
    for label, weights, means, sigmas in _MOMENT_CASES:
        wrong = _mistaken_moments(weights, means, sigmas)
        cases.append(Case(label=label, args=(list(weights), list(means), list(sigmas)),
                          expected=_moments(weights, means, sigmas),
                          mistakes=tuple((_HINTS[key], value) for key, value in wrong.items())))
    return run_cases("check_moment_match", fn, cases, lang=lang)


def _reverse_fit(weights, means, sigmas, mu0, sigma0):
    """(mu, sigma, reverse KL) of the gradient-flow fit of KL(Q ‖ P) from (mu0, sigma0)."""
    fit = fit_gaussian(gaussian_mixture(weights, means, sigmas), "reverse_kl", mu0=mu0, sigma0=sigma0)
    return fit.mu, fit.sigma, fit.loss


def check_reverse_kl_modes(fn, lang="en") -> CheckReport:
    """Check a learner's ``fn(weights, means, sigmas) -> (mu, sigma, kl)`` (exercise ex-mode-4).

    Parameters
    ----------
    fn : callable
        Takes a Gaussian mixture P (weights summing to 1, component means, component standard
        deviations) and returns the Gaussian ``N(mu, sigma²)`` at the lowest local minimum of the
        reverse KL ``KL(Q ‖ P)`` among the fits started at the components, with its value ``kl``.
    lang : {"en", "ja"}, default "en"
        Language of the report.

    Returns
    -------
    CheckReport
        True when every case passed (relative tolerance 1e-4); names the likely mistake when
        the answer is the fit from the first component only, the fit under the tallest peak,
        or the forward-KL (moment-matched) Gaussian.

    Notes
    -----
    The expected answer starts :func:`klcourse.fit_gaussian` (gradient flow, objective
    ``"reverse_kl"``) at every component ``(m_k, s_k)`` and keeps the fit with the lowest KL.
    For well-separated components the minimum near component k has KL close to
    ``-log w_k``: the reverse KL rewards mass, not height.

    Examples
    --------
    >>> from klcourse import fit_gaussian, gaussian_mixture
    >>> def lowest_mode(weights, means, sigmas):
    ...     target = gaussian_mixture(weights, means, sigmas)
    ...     fits = [fit_gaussian(target, "reverse_kl", mu0=m, sigma0=s) for m, s in zip(means, sigmas)]
    ...     best = min(fits, key=lambda f: f.loss)
    ...     return best.mu, best.sigma, best.loss
    >>> print(bool(check_reverse_kl_modes(lowest_mode)))
    True
    """
    # fresh lists for every call, so that a function that edits its arguments cannot change the cases
    cases = [dataclasses.replace(case, args=tuple(list(arg) for arg in case.args)) for case in _reverse_cases()]
    return run_cases("check_reverse_kl_modes", fn, cases, lang=lang, rtol=1e-4, atol=1e-6)


@functools.lru_cache(maxsize=None)
def _reverse_cases():
    """The cases of :func:`check_reverse_kl_modes`, fitted once per session (one fit per component)."""
    cases = []
    for label, weights, means, sigmas in _REVERSE_CASES:
        fits = [_reverse_fit(weights, means, sigmas, m, s) for m, s in zip(means, sigmas)]
        heights = [w / s for w, s in zip(weights, sigmas)]  # peak height ∝ w_k / s_k
        forward_mu, forward_sigma = _moments(weights, means, sigmas)
        forward_kl = objective_value(gaussian_mixture(weights, means, sigmas), "reverse_kl",
                                     forward_mu, forward_sigma).item()
        mistakes = (
            (_HINTS["tallest"], fits[max(range(len(fits)), key=heights.__getitem__)]),
            (_HINTS["first"], fits[0]),
            (_HINTS["forward"], (forward_mu, forward_sigma, forward_kl)),
        )
        cases.append(Case(label=label, args=(weights, means, sigmas),
                          expected=min(fits, key=lambda fit: fit[2]), mistakes=mistakes))
    return tuple(cases)
