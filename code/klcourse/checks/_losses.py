"""Checks for the exercises of chapter "Comparing losses".

* :func:`check_ise` — the integrated squared error ``∫ (p - q)² dx`` (the "MSE between
  densities") as a Riemann sum of density values on a grid, exercise ``ex-losses-2``.
* :func:`check_landing` — where the gradient flow from a start ends, for a given objective
  and parameterisation, exercise ``ex-losses-3``.

The expected values come from the library (the grid kernel behind
:func:`klcourse.l2_distance_squared` and the ``"mse"`` objective, and
:func:`klcourse.fit_gaussian`), never typed in; each typical mistake is computed the way a
learner would get it wrong, so that the report can name it.
"""

from __future__ import annotations

import torch

from klcourse._continuous import _l1_grid, _l2sq_grid
from klcourse._fit import fit_gaussian
from klcourse._targets import bimodal_target, gaussian_mixture, normal, seed_grid
from klcourse.checks._report import Case, run_cases

_HINTS = {
    "missing_dx": {
        "en": "Δx is missing: the sum of squared differences approximates the integral only "
              "when each term is multiplied by the grid spacing dx",
        "ja": "Δx が抜けている。差の 2 乗の和に格子間隔 dx を掛けて、はじめて積分の近似になる",
    },
    "mean": {
        "en": "this is the mean of the squared differences (F.mse_loss with reduction='mean'); "
              "the integral is their sum times dx, not divided by the number of points",
        "ja": "これは差の 2 乗の平均（F.mse_loss の reduction='mean'）である。積分の近似は和に dx を"
              "掛けたもので、点の数で割るのではない",
    },
    "not_squared": {
        "en": "the differences are not squared: positive and negative differences cancel, and "
              "Σ (p - q) dx only compares total masses (it is about 0 for any two densities)",
        "ja": "差を 2 乗していない。正と負の差が打ち消し合い、Σ (p - q) dx は全体の質量を比べるだけに"
              "なる（2 つの密度どうしならいつもほぼ 0）",
    },
    "absolute": {
        "en": "this is the L1 distance Σ |p - q| dx; the integrated squared error squares the "
              "differences instead of taking their absolute value",
        "ja": "これは L1 距離 Σ |p - q| dx である。積分二乗誤差では差の絶対値ではなく 2 乗をとる",
    },
    "root": {
        "en": "this is the L2 norm sqrt(Σ (p - q)² dx); the integrated squared error is its "
              "square, without the square root",
        "ja": "これは L2 ノルム sqrt(Σ (p - q)² dx) である。積分二乗誤差はその 2 乗で、平方根をとらない",
    },
    "nearest": {
        "en": "this is the peak nearest to the start; run the fit instead: the flow can end at "
              "the wide compromise at mu = 2.5 or even at the farther peak",
        "ja": "これは出発点にいちばん近い山である。フィットを実際に走らせること。勾配流は mu = 2.5 の"
              "幅の広い妥協点や、遠いほうの山に行き着くこともある",
    },
    "other_parameterization": {
        "en": "this is where the flow ends in the other parameterisation; pass "
              "parameterization= on to fit_gaussian (the flows in (mu, sigma) and in "
              "(mu, log sigma) differ)",
        "ja": "これはもう一方のパラメータ化での行き先である。parameterization= を fit_gaussian に"
              "そのまま渡すこと（(mu, sigma) と (mu, log sigma) では勾配流が異なる）",
    },
    "start": {
        "en": "this is the starting mean mu0; return the mean where the fit ends",
        "ja": "これは出発点の平均 mu0 である。フィットが行き着いた平均を返すこと",
    },
    "sigma": {
        "en": "this is the fitted sigma; return the fitted mean mu",
        "ja": "これはフィット後の sigma である。フィット後の平均 mu を返すこと",
    },
    "normalised": {
        "en": "p was rescaled to integrate to 1 inside the function; the loss must compare the "
              "values it is given. Normalise the target where you build it (the seed's "
              "P = N(-5, 1) + N(10, 1) integrates to 2), not inside the loss",
        "ja": "関数の中で p を積分 1 に正規化している。損失は与えられた値どうしを比べなければならない。"
              "正規化は目標分布を作る段階で行うこと（シードのノートブックの P = N(-5, 1) + N(10, 1) は積分すると 2 になる）。"
              "損失の中で直してはいけない",
    },
}


def _case(label, x, p, q, unnormalised=False):
    """Case for ``fn(p_values, q_values, dx)``: expected Σ (p - q)² dx, and the typical wrong values."""
    dx = (x[1] - x[0]).item()
    riemann = torch.full_like(x, dx)  # [N] rectangle-rule weights
    log_p, log_q = p.log(), q.log()  # [N] the library's kernels take log-densities
    value = _l2sq_grid(log_p, log_q, riemann)
    mistakes = [
        ("missing_dx", value / dx),
        ("mean", value / (dx * len(x))),
        ("not_squared", ((p - q) * riemann).sum()),
        ("absolute", _l1_grid(log_p, log_q, riemann)),
        ("root", value.sqrt()),
    ]
    if unnormalised:
        mass = (p * riemann).sum()
        mistakes.append(("normalised", _l2sq_grid(log_p - mass.log(), log_q, riemann)))
    return Case(label=label, args=(p.clone(), q.clone(), dx), expected=value,
                mistakes=tuple((_HINTS[key], wrong) for key, wrong in mistakes))


def check_ise(fn, lang="en"):
    """Check a learner's ``fn(p_values, q_values, dx) -> ∫ (p - q)² dx`` on a grid (exercise ex-losses-2).

    Parameters
    ----------
    fn : callable
        Takes the values of two densities ``p_values`` and ``q_values`` (1-D float64 tensors)
        on an evenly spaced grid with spacing ``dx`` (a float) and returns the Riemann sum
        ``Σ_i (p_i - q_i)² dx`` as a float or a 0-d tensor/array. The values are compared as
        given: one case passes a ``p`` that integrates to 2, as the seed notebook's did.
    lang : {"en", "ja"}, default "en"
        Language of the report.

    Returns
    -------
    CheckReport
        True when every case passed; for a wrong answer it names the likely mistake: Δx
        missing, the mean of the squared differences (``F.mse_loss``), differences not
        squared, absolute instead of squared differences (L1), a square root (the L2 norm),
        or ``p`` rescaled inside the function.

    Notes
    -----
    The densities vanish at both ends of every grid, so the trapezoidal rule
    (``torch.trapezoid``) gives the same answer as the rectangle rule and passes too.

    Examples
    --------
    >>> import torch
    >>> def ise(p_values, q_values, dx):
    ...     return ((p_values - q_values) ** 2).sum() * dx
    >>> print(bool(check_ise(ise)))
    True
    >>> print(bool(check_ise(lambda p, q, dx: torch.trapezoid((p - q) ** 2, dx=dx))))
    True
    """
    x_wide = torch.linspace(-25.0, 30.0, 3501, dtype=torch.float64)
    x_std = torch.linspace(-12.0, 12.0, 1201, dtype=torch.float64)
    x_seed = seed_grid(torch.float64)
    seed_sum = gaussian_mixture([0.5, 0.5], [-5.0, 10.0], [1.0, 1.0]).log_prob(x_seed).exp() * 2.0
    cases = [
        _case({"en": "P = 0.5 N(-5, 1) + 0.5 N(10, 1), Q = N(-5, 1.961459²), 3501 points on [-25, 30]",
               "ja": "P = 0.5 N(-5, 1) + 0.5 N(10, 1)、Q = N(-5, 1.961459²)、[-25, 30] 上の 3501 点"}, x_wide,
              bimodal_target().log_prob(x_wide).exp(), normal(-5.0, 1.961459).log_prob(x_wide).exp()),
        _case({"en": "P = N(0, 1), Q = N(1, 2²), 1201 points on [-12, 12]", "ja": "P = N(0, 1)、Q = N(1, 2²)、[-12, 12] 上の 1201 点"}, x_std,
              normal(0.0, 1.0).log_prob(x_std).exp(), normal(1.0, 2.0).log_prob(x_std).exp()),
        _case({"en": "the seed notebook's P = N(-5, 1) + N(10, 1) (integrates to 2), Q = N(0, 1), seed_grid()",
               "ja": "シードのノートブックの P = N(-5, 1) + N(10, 1)（積分すると 2）、Q = N(0, 1)、seed_grid()"}, x_seed,
              seed_sum, normal(0.0, 1.0).log_prob(x_seed).exp(), unnormalised=True),
    ]
    return run_cases("check_ise", fn, cases, lang=lang)


# (objective, mu0, sigma0, parameterization): starts near basin boundaries, where the
# parameterisation or the start decides, and where the nearest peak is not the answer.
_LANDING_CASES = (
    ("cosine", 0.0, 1.0, "sigma"),
    ("cosine", 0.0, 1.0, "log_sigma"),
    ("mse", -1.0, 1.0, "sigma"),
    ("mse", 5.0, 1.0, "sigma"),
    ("js", 0.0, 1.0, "log_sigma"),
    ("reverse_kl", 3.0, 8.0, "log_sigma"),
    ("mse", -8.0, 4.0, "sigma"),
)


def _landing_case(objective, mu0, sigma0, parameterization):
    """Case for ``fn(objective, mu0, sigma0, parameterization)``: the mean where the gradient flow ends."""
    target = bimodal_target()
    fit = fit_gaussian(target, objective, mu0, sigma0, parameterization=parameterization)
    other = "log_sigma" if parameterization == "sigma" else "sigma"
    mistakes = [
        ("other_parameterization", lambda: fit_gaussian(target, objective, mu0, sigma0, parameterization=other).mu),  # fitted if needed
        ("nearest", -5.0 if mu0 < 2.5 else 10.0),
        ("start", mu0),
        ("sigma", fit.sigma),
    ]
    return Case(label={"en": f"{objective} from ({mu0:g}, {sigma0:g}) in {parameterization}",
                       "ja": f"{objective}、出発点 ({mu0:g}, {sigma0:g})、{parameterization} でのパラメータ化"},
                args=(objective, mu0, sigma0), kwargs={"parameterization": parameterization},
                expected=fit.mu, mistakes=tuple((_HINTS[key], wrong) for key, wrong in mistakes))


def check_landing(fn, lang="en"):
    """Check a learner's ``fn(objective, mu0, sigma0, parameterization) -> mu`` (exercise ex-losses-3).

    Parameters
    ----------
    fn : callable
        Takes an objective name (a key of :data:`klcourse.OBJECTIVES`), a start ``mu0``,
        ``sigma0`` and ``parameterization`` (``"sigma"`` or ``"log_sigma"``, passed by keyword),
        and returns the mean mu of the model Q = N(mu, sigma²) where the gradient flow from
        that start ends, for the course's target P = 0.5 N(-5, 1) + 0.5 N(10, 1).
    lang : {"en", "ja"}, default "en"
        Language of the report.

    Returns
    -------
    CheckReport
        True when every case passed (absolute tolerance 1e-4); names the likely mistake: the
        peak nearest to the start instead of a fit, the other parameterisation, the start
        itself, or the fitted sigma instead of mu.

    Examples
    --------
    >>> from klcourse import bimodal_target, fit_gaussian
    >>> def landing(objective, mu0, sigma0, parameterization):
    ...     fit = fit_gaussian(bimodal_target(), objective, mu0, sigma0, parameterization=parameterization)
    ...     return fit.mu
    >>> print(bool(check_landing(landing)))
    True
    """
    cases = [_landing_case(*case) for case in _LANDING_CASES]
    return run_cases("check_landing", fn, cases, lang=lang, rtol=0.0, atol=1e-4)
