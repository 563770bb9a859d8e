"""The fast paths of fitting: closed forms against scipy, the batched flow against single fits,
one intra-op thread for small problems, short reprs and heavy tails. The tolerances of the fitting
core are guarded in tests/test_tolerances.py."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats
from torch.distributions import Cauchy

import klcourse._objectives as objectives_module
from klcourse import FitOptions, Grid, basins, bimodal_target, fit_gaussian, gaussian_mixture, normal, objective_value
from reference_flows import mse_flow_scipy

P = bimodal_target()
P2 = gaussian_mixture([0.3, 0.7], [-3.0, 4.0], [0.3, 2.0])
TARGETS = {"P": (P, [0.5, 0.5], [-5.0, 10.0], [1.0, 1.0]), "P2": (P2, [0.3, 0.7], [-3.0, 4.0], [0.3, 2.0])}
MODELS = [(-5.0, 1.0), (2.5, 10.2), (0.0, 0.3), (17.0, 20.0), (-12.0, 0.5), (4.0, 2.0)]


def _scipy_value(objective, w, m, s, mu, sigma):
    """The objective by scipy.integrate.quad on the mixture's densities (independent of klcourse)."""
    p = lambda x: sum(wk * stats.norm.pdf(x, mk, sk) for wk, mk, sk in zip(w, m, s))  # noqa: E731
    q = lambda x: stats.norm.pdf(x, mu, sigma)  # noqa: E731
    lo, hi = min(min(m) - 40 * max(s), mu - 40 * sigma), max(max(m) + 40 * max(s), mu + 40 * sigma)
    pts = sorted({*m, mu})
    quad = lambda f: integrate.quad(f, lo, hi, points=pts, limit=1000, epsabs=0, epsrel=1e-13)[0]  # noqa: E731
    if objective == "mse":
        return quad(lambda x: (p(x) - q(x)) ** 2)
    if objective == "cosine":
        return quad(lambda x: p(x) * q(x)) / math.sqrt(quad(lambda x: p(x) ** 2) * quad(lambda x: q(x) ** 2))
    return quad(lambda x: p(x) * (math.log(p(x)) - stats.norm.logpdf(x, mu, sigma)) if p(x) > 0 else 0.0)  # forward KL


@pytest.mark.parametrize("objective", ["mse", "cosine", "forward_kl"])
@pytest.mark.parametrize("name", list(TARGETS))
def test_closed_forms_match_quadrature_to_1e10(objective, name):
    target, w, m, s = TARGETS[name]
    for mu, sigma in MODELS:
        got = objective_value(target, objective, mu, sigma).item()
        assert got == pytest.approx(_scipy_value(objective, w, m, s, mu, sigma), rel=1e-10, abs=1e-300)


def test_wasserstein2_closed_form_matches_the_quantile_integral():
    from scipy import optimize

    cdf = lambda x: 0.3 * stats.norm.cdf(x, -3, 0.3) + 0.7 * stats.norm.cdf(x, 4, 2)  # noqa: E731
    quantile = lambda u: optimize.brentq(lambda x: cdf(x) - u, -40, 50, xtol=1e-15)  # noqa: E731
    for mu, sigma in MODELS[:3]:
        ref = integrate.quad(lambda u: (quantile(u) - mu - sigma * stats.norm.ppf(u)) ** 2, 0, 1, limit=400, points=[0.3])[0]
        assert objective_value(P2, "wasserstein", mu, sigma).item() == pytest.approx(math.sqrt(ref), rel=1e-8)


def test_closed_form_and_grid_give_the_same_fit():
    grid_target = P.log_prob(torch.linspace(-60, 75, 5401, dtype=torch.float64)).exp()  # density values: the grid path
    exact = fit_gaussian(P, "mse", 0.0, 1.0, parameterization="sigma")
    on_grid = fit_gaussian(grid_target, "mse", 0.0, 1.0, parameterization="sigma", grid=torch.linspace(-60, 75, 5401, dtype=torch.float64))
    assert (exact.mu, exact.sigma) == pytest.approx((on_grid.mu, on_grid.sigma), abs=1e-7)  # both at the minimum to tol
    assert exact.loss == pytest.approx(on_grid.loss, rel=1e-10)


@pytest.mark.parametrize("objective", ["mse", "reverse_kl", "js"])
def test_a_batch_of_starts_gives_the_single_fits(objective):
    mus, sigmas = [-6.0, 0.0, 2.5, 9.0], [1.0, 1.0, 3.0, 0.7]
    batch = fit_gaussian(P, objective, mus, sigmas, grid=Grid.uniform(-40.0, 55.0, 1901))
    for fit, m, s in zip(batch, mus, sigmas):
        one = fit_gaussian(P, objective, m, s, grid=Grid.uniform(-40.0, 55.0, 1901))
        assert fit.steps == one.steps  # the same accepted steps: the batched and the one-start flow decide alike
        assert (fit.mu, fit.sigma) == pytest.approx((one.mu, one.sigma), abs=1e-7)  # both at the minimum, to tol
        assert fit.history.shape == one.history.shape and np.allclose(fit.history, one.history, atol=5e-3)  # measured up to 2.7e-3: see the report


def test_basins_is_one_batched_flow_and_keeps_the_scipy_edges():
    b = basins(P, "mse", [-0.58, -0.61, 3.0], [1.0, 2.0], parameterization="sigma")
    ends = [round(b.minima[k].mu, 4) for k in b.labels[0, :2]]
    assert ends == [round(mse_flow_scipy(m, 1.0, "sigma"), 4) for m in (-0.58, -0.61)]
    assert b.results[1][2].mu == pytest.approx(fit_gaussian(P, "mse", 3.0, 2.0, parameterization="sigma", rtol=1e-3).mu, abs=1e-7)


def _threads_seen(objective="l1"):  # a grid objective the flow evaluates through its value (not pointwise)
    """torch's intra-op thread counts seen inside the objective during a batch of 40 grid fits, and the count after it."""
    seen, spec = [], objectives_module.OBJECTIVES[objective]
    original, derivatives = spec.build, spec.node_derivatives  # the value, and the exact derivatives the flow uses

    def spy(table, **options):
        fn = original(table, **options)
        return lambda *a: (seen.append(torch.get_num_threads()), fn(*a))[1]

    def spy_derivatives(*a, **k):
        seen.append(torch.get_num_threads())
        return derivatives(*a, **k)

    before = torch.get_num_threads()
    object.__setattr__(spec, "build", spy)
    object.__setattr__(spec, "node_derivatives", spy_derivatives)
    try:
        torch.set_num_threads(2)
        starts = np.linspace(-6.0, 11.0, 40)
        fit_gaussian(P, objective, starts, 1.5, grid=Grid.uniform(-40.0, 55.0, 1401))  # 9 × 40 rows × 1,401 nodes a step
        after = torch.get_num_threads()
    finally:
        object.__setattr__(spec, "build", original)
        object.__setattr__(spec, "node_derivatives", derivatives)
        torch.set_num_threads(before)
    return set(seen), after


def test_small_fits_run_on_one_thread_and_restore_the_setting():
    assert _threads_seen() == ({1}, 2)


def test_reprs_fit_in_a_few_lines():
    fit = fit_gaussian(P, "mse", 0.0, 1.0)
    assert len(repr(fit).splitlines()) == 2 and "mu=2.5" in repr(fit)
    b = basins(P, "reverse_kl", [-3.0, 2.5, 8.0], [1.0, 4.0])
    assert len(repr(b).splitlines()) == 1 + len(b.minima) <= 4


def test_heavy_tails_are_refused_not_answered_wrongly():
    cauchy = Cauchy(torch.tensor(0.0, dtype=torch.float64), torch.tensor(1.0, dtype=torch.float64))
    for objective in ("reverse_kl", "mse"):  # forward KL has its answer, inf (E[X²] diverges): test_closed_forms
        with pytest.raises(ValueError, match=r"cannot choose a default grid for Cauchy: .*pass grid="):
            fit_gaussian(cauchy, objective, 0.0, 1.0)
    with pytest.raises(ValueError, match=r"came out negative .* pass a grid covering both"):
        fit_gaussian(cauchy, "reverse_kl", 0.0, 1.0, grid=Grid.uniform(-3.0, 3.0, 601))
    fit = fit_gaussian(cauchy, "reverse_kl", 0.0, 1.0, grid=Grid.uniform(-30.0, 30.0, 3001))
    assert fit.value > 0
