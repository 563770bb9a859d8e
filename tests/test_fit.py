"""Tests of klcourse._fit: fitting N(mu, sigma²) to a target by minimising an objective.

Reference values: FINDINGS.md (scipy quadrature + Nelder-Mead, tolerance 1e-9), moment
matching for forward KL, and an independent integration of the gradient flow by scipy.
"""

import dataclasses
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate
from scipy.integrate import solve_ivp
from scipy.stats import norm

from reference_flows import mse_flow_scipy

from klcourse import (
    OBJECTIVES,
    FitOptions,
    FitResult,
    Grid,
    basins,
    bimodal_target,
    fit_gaussian,
    gaussian_mixture,
    normal,
    objective_value,
    seed_grid,
    wasserstein,
)

P = bimodal_target()
SMALL_GRID = Grid.uniform(-40.0, 50.0, 361)  # spacing 0.25: accurate for sigma >= 0.75, cheap for gradcheck

# ----------------------------------------------------------------------------- FINDINGS reference values

FINDINGS_MINIMA = [
    # objective, start, (mu, sigma), natural value
    ("forward_kl", (0.0, 1.0), (2.5, math.sqrt(57.25)), None),
    ("reverse_kl", (-4.0, 1.5), (-5.0, 1.0), math.log(2)),
    ("reverse_kl", (9.0, 0.7), (10.0, 1.0), math.log(2)),
    ("mse", (-4.0, 2.5), (-5.0, 1.961459), 0.1036659),
    ("mse", (9.0, 1.5), (10.0, 1.961459), 0.1036659),
    ("mse", (2.0, 8.0), (2.5, 10.233263), 0.1091401),
    ("cosine", (-4.5, 1.3), (-5.0, 1.0), 1 / math.sqrt(2)),
    ("cosine", (9.5, 0.8), (10.0, 1.0), 0.7071068),
    ("cosine", (3.0, 8.0), (2.5, 10.607021), 0.4772030),
]


@pytest.mark.parametrize("objective, start, optimum, value", FINDINGS_MINIMA)
def test_flow_reaches_the_findings_local_optima(objective, start, optimum, value):
    fit = fit_gaussian(P, objective, *start)
    assert fit.converged and fit.grad_norm < 1e-11  # Newton steps polish to tol/1000
    assert fit.mu == pytest.approx(optimum[0], abs=1e-6)
    assert fit.sigma == pytest.approx(optimum[1], abs=1e-6)
    if value is not None:
        assert fit.value == pytest.approx(value, abs=1e-7)


def test_forward_kl_value_at_moment_matching():
    fit = fit_gaussian(P, "forward_kl")
    # KL(P ‖ Q*) = -H(P) + ½ log(2πe·57.25); H(P) by independent numpy quadrature
    x = np.linspace(-30, 35, 65001)
    p = 0.5 * (np.exp(-0.5 * (x + 5) ** 2) + np.exp(-0.5 * (x - 10) ** 2)) / math.sqrt(2 * math.pi)
    entropy = -np.sum(p * np.log(p)) * (x[1] - x[0])
    assert fit.loss == pytest.approx(-entropy + 0.5 * math.log(2 * math.pi * math.e * 57.25), abs=1e-9)


def test_cosine_loss_is_minus_the_similarity():
    fit = fit_gaussian(P, "cosine", 9.5, 0.8)
    assert fit.loss == pytest.approx(-fit.value, abs=0) and fit.value > 0


def _w2_optimum_by_scipy():
    """σ* = E[X Φ⁻¹(F_P(X))] by scipy quadrature in x; μ* = E X = 2.5 and W2* = sqrt(Var X - σ*²), Var X = 57.25."""
    pdf = lambda x: 0.5 * norm.pdf(x, -5, 1) + 0.5 * norm.pdf(x, 10, 1)

    def z(x):  # Φ⁻¹(F_P(x)), from the upper tail above the midpoint so that F_P does not round to 1
        if x < 2.5:
            return norm.ppf(0.5 * norm.cdf(x, -5, 1) + 0.5 * norm.cdf(x, 10, 1))
        return norm.isf(0.5 * norm.sf(x, -5, 1) + 0.5 * norm.sf(x, 10, 1))

    sigma, _ = integrate.quad(lambda x: x * z(x) * pdf(x), -25, 40, points=[-5, 2.5, 10], limit=400, epsabs=1e-13, epsrel=1e-13)
    return 2.5, sigma, math.sqrt(57.25 - sigma**2)


def test_wasserstein_fit_reaches_the_scipy_optimum():
    # P's quantile function jumps from about -2 to 7 at u = 1/2: a u-grid quadrature with a node
    # there ended at sigma 6.5698, W2 3.7471 instead of 6.5644978, 3.7626279
    mu, sigma, w2 = _w2_optimum_by_scipy()
    fit = fit_gaussian(P, "wasserstein", 0.0, 1.0)
    assert fit.is_minimum
    assert fit.mu == pytest.approx(mu, abs=1e-5)
    assert fit.sigma == pytest.approx(sigma, rel=1e-5)
    assert fit.value == pytest.approx(w2, rel=1e-5)


@pytest.mark.parametrize("mu, sigma", [(2.5, 6.5644978), (0.0, 1.0), (-5.0, 1.0), (10.0, 3.0), (2.5, 20.0), (7.0, 0.3)])
def test_wasserstein_objective_agrees_with_the_public_w2(mu, sigma):
    model = torch.distributions.Normal(torch.tensor(mu, dtype=torch.float64), torch.tensor(sigma, dtype=torch.float64))
    reference = wasserstein(P, model, order=2).item()
    assert objective_value(P, "wasserstein", mu, sigma).item() == pytest.approx(reference, rel=1e-6)


# ----------------------------------------------------------------------------- FINDINGS row 7, measured


@pytest.mark.parametrize(
    "start, parameterization, optimum",
    [
        ((0.0, 1.0), "sigma", (2.5, 10.233263)),  # both coordinates drain (0, 1) into the wide minimum ...
        ((0.0, 1.0), "log_sigma", (2.5, 10.233263)),
        ((-1.0, 1.0), "sigma", (-5.0, 1.961459)),  # ... from (-1, 1) the parameterisation decides
        ((-1.0, 1.0), "log_sigma", (2.5, 10.233263)),
    ],
)
def test_mse_gradient_flow_basins(start, parameterization, optimum):
    fit = fit_gaussian(P, "mse", *start, parameterization=parameterization)
    assert (fit.mu, fit.sigma) == pytest.approx(optimum, abs=1e-6)


@pytest.mark.parametrize("parameterization, optimum", [("sigma", (-5.0, 1.961459)), ("log_sigma", (2.5, 10.233263))])
def test_adam_from_zero_one_reaches_what_findings_row_7_reports(parameterization, optimum):
    # Adam (the seed's optimiser) moves mu at sigma's pace: with sigma as the parameter it ends
    # at the left mode from (0, 1), where the gradient flow would not.
    adam = fit_gaussian(P, "mse", 0.0, 1.0, parameterization=parameterization, method="adam", lr=0.1, steps=100)
    polished = fit_gaussian(P, "mse", adam.mu, adam.sigma, parameterization=parameterization)
    assert (polished.mu, polished.sigma) == pytest.approx(optimum, abs=1e-6)


def _reference_flow_end(start, parameterization):
    """Integrate dθ/dt = -∇L with scipy's RK45, the gradient by autograd through objective_value."""

    def grad(theta):
        mu = torch.tensor(theta[0], dtype=torch.float64, requires_grad=True)
        s = torch.tensor(theta[1], dtype=torch.float64, requires_grad=True)
        sigma = s.exp() if parameterization == "log_sigma" else s
        value = objective_value(P, "mse", mu, sigma, grid=SMALL_GRID)
        return [float(g) for g in torch.autograd.grad(value, (mu, s))]

    theta0 = [start[0], math.log(start[1]) if parameterization == "log_sigma" else start[1]]
    sol = solve_ivp(lambda t, y: [-g for g in grad(y)], (0.0, 3e3), theta0, rtol=1e-5, atol=1e-7)
    return sol.y[0, -1]


@pytest.mark.parametrize("start, parameterization", [((0.0, 1.0), "sigma"), ((-1.0, 1.0), "sigma")])
def test_flow_ends_where_an_independent_ode_solver_does(start, parameterization):
    fit = fit_gaussian(P, "mse", *start, parameterization=parameterization, grid=SMALL_GRID)
    mu_reference = _reference_flow_end(start, parameterization)
    basin = lambda mu: -1 if mu < -2 else (1 if mu > 7 else 0)
    assert basin(fit.mu) == basin(mu_reference)


# Starts on sigma0 = 1 just inside the compromise's basin (its edge is at mu0 = -0.596 with sigma
# as the parameter, -2.641 with log sigma) and just outside it, against scipy's LSODA on the
# closed-form MSE. A loose flow (rtol 0.1) carries the first kind across the ridge.
NEAR_THE_EDGE = [(-0.58, "sigma"), (-0.61, "sigma"), (-2.63, "log_sigma"), (-2.65, "log_sigma")]


@pytest.mark.parametrize("mu0, parameterization", NEAR_THE_EDGE)
def test_a_tight_flow_stays_in_its_basin_next_to_the_edge(mu0, parameterization):
    reference = mse_flow_scipy(mu0, 1.0, parameterization)
    fit = fit_gaussian(P, "mse", mu0, 1.0, parameterization=parameterization, rtol=1e-3)
    assert fit.mu == pytest.approx(reference, abs=1e-4)


def test_basins_use_the_tight_flow():
    b = basins(P, "mse", [-0.58, -0.61], [1.0], parameterization="sigma")
    ends = [round(b.minima[label].mu, 4) for label in b.labels[0]]
    assert ends == [round(mse_flow_scipy(m, 1.0, "sigma"), 4) for m in (-0.58, -0.61)] == [2.5, -5.0]


@pytest.mark.parametrize("rtol", [0.0, 1.0, -0.1, float("nan")])
def test_rtol_must_lie_between_0_and_1(rtol):
    with pytest.raises(ValueError, match="rtol must be a (number between 0 and 1|finite real number)"):
        fit_gaussian(P, "mse", 0.0, 1.0, rtol=rtol)


# ----------------------------------------------------------------------------- gradients


@pytest.mark.parametrize(
    "objective, kw",
    [
        ("forward_kl", {}),
        ("reverse_kl", {}),
        ("js", {}),
        ("hellinger", {}),
        ("alpha", {"alpha": 0.5}),
        ("alpha", {"alpha": 2.0}),
        ("wasserstein", {}),
        ("wasserstein", {"order": 1}),
        ("mse", {}),
        ("l1", {}),
        ("cosine", {}),
    ],
)
def test_gradcheck_objectives_in_mu_and_sigma(objective, kw):
    mu = torch.tensor(1.3, dtype=torch.float64, requires_grad=True)
    sigma = torch.tensor(3.7, dtype=torch.float64, requires_grad=True)
    f = lambda m, s: objective_value(P, objective, m, s, grid=SMALL_GRID, **kw)
    assert torch.autograd.gradcheck(f, (mu, sigma), eps=1e-6, atol=1e-7, rtol=1e-5)


@pytest.mark.parametrize("objective", ["forward_kl", "reverse_kl", "js", "hellinger", "mse", "cosine"])
@settings(max_examples=3, deadline=None)
@given(mu0=st.floats(-3.0, 8.0), log_sigma0=st.floats(-0.5, 1.5), parameterization=st.sampled_from(["sigma", "log_sigma"]))
def test_fit_ends_with_a_vanishing_gradient(objective, mu0, log_sigma0, parameterization):
    fit = fit_gaussian(P, objective, mu0, math.exp(log_sigma0), parameterization=parameterization, grid=SMALL_GRID)
    assert fit.converged and fit.grad_norm < 1e-8
    # the gradient again, independently: autograd through the public objective_value
    mu = torch.tensor(fit.mu, dtype=torch.float64, requires_grad=True)
    sigma = torch.tensor(fit.sigma, dtype=torch.float64, requires_grad=True)
    sign = -1.0 if objective == "cosine" else 1.0
    g_mu, g_sigma = torch.autograd.grad(sign * objective_value(P, objective, mu, sigma, grid=SMALL_GRID), (mu, sigma))
    g_theta = g_sigma * fit.sigma if parameterization == "log_sigma" else g_sigma  # dL/dlog σ = σ dL/dσ
    assert math.hypot(g_mu.item(), g_theta.item()) < 1e-8


@settings(max_examples=5, deadline=None)
@given(
    weights=st.lists(st.floats(0.1, 1.0), min_size=2, max_size=4),
    means=st.lists(st.floats(-6.0, 6.0), min_size=4, max_size=4),
    sigmas=st.lists(st.floats(0.5, 2.0), min_size=4, max_size=4),
)
def test_forward_kl_fit_is_moment_matching(weights, means, sigmas):
    k = len(weights)
    w = np.array(weights) / sum(weights)
    m, s = np.array(means[:k]), np.array(sigmas[:k])
    target = gaussian_mixture(w, m, s)
    mean = float(w @ m)
    sd = math.sqrt(float(w @ (s**2 + m**2)) - mean**2)
    fit = fit_gaussian(target, "forward_kl", 0.0, 1.0)
    assert fit.converged
    assert (fit.mu, fit.sigma) == pytest.approx((mean, sd), abs=1e-6)


# ----------------------------------------------------------------------------- the seed's setting


def test_density_values_on_the_seed_grid_unnormalised():
    x = seed_grid(torch.float64)
    p = torch.distributions.Normal(-5.0, 1.0).log_prob(x).exp() + torch.distributions.Normal(10.0, 1.0).log_prob(x).exp()
    fit = fit_gaussian(p, "forward_kl", 0.0, 1.0, grid=x)
    # minimising -Σ w p log q over Normals: the weighted moments of p on the trapezoid grid
    grid = Grid.from_points(x)
    wp = (grid.w * p).numpy()
    mean = float(wp @ x.numpy() / wp.sum())
    sd = math.sqrt(float(wp @ (x.numpy() - mean) ** 2 / wp.sum()))
    assert fit.converged
    assert (fit.mu, fit.sigma) == pytest.approx((mean, sd), abs=1e-7)


# ----------------------------------------------------------------------------- methods, history, result


def test_history_is_a_short_path_from_start_to_result():
    for method, kw in [("flow", {}), ("adam", {"lr": 0.05, "steps": 600}), ("gd", {"lr": 20.0, "steps": 300})]:
        fit = fit_gaussian(P, "mse", 1.0, 2.0, method=method, **kw)
        assert isinstance(fit, FitResult) and fit.method == method
        assert fit.history.shape[1] == 3 and 2 <= len(fit.history) <= 200
        assert tuple(fit.history[0, :2]) == pytest.approx((1.0, 2.0))
        assert tuple(fit.history[-1]) == pytest.approx((fit.mu, fit.sigma, fit.loss))


def test_record_every_keeps_every_kth_step():
    fit = fit_gaussian(P, "mse", 1.0, 2.0, method="gd", lr=20.0, steps=50, options=FitOptions(record_every=10))
    assert len(fit.history) == 6  # steps 0, 10, ..., 50


def test_sigma_parameterisation_keeps_sigma_positive():
    # plain gradient descent with a huge step would push sigma below 0; the step is halved instead
    fit = fit_gaussian(P, "reverse_kl", -5.0, 3.0, parameterization="sigma", method="gd", lr=50.0, steps=30)
    assert np.all(fit.history[:, 1] > 0) and math.isfinite(fit.loss)


def test_adam_defaults_reproduce_the_seed_schedule():
    fit = fit_gaussian(P, "forward_kl", 0.0, 1.0, method="adam", parameterization="sigma", steps=20)
    assert fit.steps == 20 and not fit.converged
    # lr 1e-3: Adam's first steps move each coordinate by about 1e-3
    assert abs(fit.history[-1, 0] - fit.history[0, 0]) == pytest.approx(0.02, rel=0.05)


def test_result_model_and_minimum_check():
    fit = fit_gaussian(P, "reverse_kl", 8.0, 1.0)
    assert isinstance(fit.model, torch.distributions.Normal) and fit.model.loc.item() == fit.mu
    assert fit.is_minimum and np.all(np.linalg.eigvalsh(fit.hessian) > 0)
    assert not dataclasses.replace(fit, hessian=np.diag([1.0, -1.0])).is_minimum  # a saddle
    assert not dataclasses.replace(fit, converged=False).is_minimum


def test_reverse_kl_has_a_third_minimum_between_the_modes():
    # E_q[(-log p)''] > 0 at mu = 2.5: the kink of -log p between the modes is outweighed
    fit = fit_gaussian(P, "reverse_kl", 2.5, 3.0)
    assert fit.is_minimum and fit.mu == pytest.approx(2.5, abs=1e-9)
    assert (fit.sigma, fit.value) == pytest.approx((6.145692, 8.603398), abs=1e-6)


def test_adam_is_torch_adam():
    fit = fit_gaussian(P, "mse", 1.0, 2.0, method="adam", lr=0.05, steps=5, options=FitOptions(record_every=1), parameterization="sigma")
    param = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    optimiser = torch.optim.Adam([param], lr=0.05)
    for k in range(5):
        optimiser.zero_grad()
        objective_value(P, "mse", param[0], param[1]).backward()
        optimiser.step()
        assert tuple(fit.history[k + 1, :2]) == pytest.approx(tuple(param.tolist()), abs=1e-12)


def test_objectives_registry_names():
    assert list(OBJECTIVES) == ["forward_kl", "reverse_kl", "js", "hellinger", "mse", "l1", "cosine", "alpha", "wasserstein"]
    assert OBJECTIVES["cosine"].maximised and not OBJECTIVES["mse"].maximised
    assert OBJECTIVES["alpha"].options == ("alpha",) and not OBJECTIVES["l1"].smooth


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_fit_on_cuda_matches_cpu():
    cpu = fit_gaussian(P, "mse", -1.0, 1.0, parameterization="sigma")
    gpu = fit_gaussian(P, "mse", -1.0, 1.0, parameterization="sigma", options=FitOptions(device="cuda"))
    assert gpu.converged and (gpu.mu, gpu.sigma) == pytest.approx((cpu.mu, cpu.sigma), abs=1e-7)


# ----------------------------------------------------------------------------- validation messages


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(objective="kl"), r"objective must be one of 'forward_kl', 'reverse_kl'.*; got 'kl'"),
        (dict(objective="alpha"), r"alpha must be given for the 'alpha' objective; got None"),
        (dict(objective="mse", alpha=0.5), r"alpha is used only by the 'alpha' objective; got alpha=0.5 with 'mse'"),
        (dict(objective="wasserstein", order=3), r"order must be 1 or 2; got 3"),
        (dict(objective="mse", order=1), r"order is used only by the 'wasserstein' objective"),
        (dict(sigma0=0.0), r"sigma0 must be positive; got 0.0"),
        (dict(sigma0=-1.0), r"sigma0 must be positive; got -1.0"),
        (dict(mu0=math.nan), r"mu0 must be a finite real number; got nan"),
        (dict(parameterization="variance"), r"parameterization must be 'log_sigma' or 'sigma'; got 'variance'"),
        (dict(method="lbfgs"), r"method must be 'flow', 'adam' or 'gd'; got 'lbfgs'"),
        (dict(lr=-1.0, method="adam"), r"lr must be a positive number or None; got -1.0"),
        (dict(steps=0), r"steps must be an integer >= 1; got 0"),
        (dict(lr=0.1), r"lr is the learning rate of method 'adam' or 'gd'; got lr with method 'flow'"),
        (dict(options={"tol": 1e-3}), r"options must be a FitOptions or None; got dict"),
        (dict(mu0=[0.0, 1.0], sigma0=[1.0, 2.0, 3.0]), r"mu0 and sigma0 must be numbers or 1-D sequences of one length; got 2 and 3"),
        (dict(grid=[0.0, 1.0]), r"grid must be a Grid, a 1-D tensor of points or None; got list"),
        (dict(target="P"), r"target must be a 1-D torch distribution or a tensor of density values on the grid; got str"),
        (dict(target=torch.ones(5)), r"grid must be given when target is a tensor of density values"),
        (dict(target=torch.ones(5), grid=torch.linspace(0, 1, 6)), r"target must hold one density value per grid node"),
        (dict(target=-torch.ones(6), grid=torch.linspace(0, 1, 6)), r"target must hold finite, non-negative density values"),
        (dict(target=torch.ones(6), grid=torch.linspace(0, 1, 6), objective="wasserstein"), r"target must be a torch distribution for the 'wasserstein'"),
    ],
)
def test_fit_gaussian_validation_messages(kwargs, message):
    args = dict(target=P, objective="mse", mu0=0.0, sigma0=1.0)
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        fit_gaussian(args.pop("target"), args.pop("objective"), args.pop("mu0"), args.pop("sigma0"), **args)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_cuda_requested_without_cuda():
    with pytest.raises(ValueError, match=r"device must be available on this machine; got 'cuda' but CUDA is not available"):
        fit_gaussian(P, "mse", options=FitOptions(device="cuda"))


@pytest.mark.parametrize(
    "args, kw, message",
    [
        ((P, "mse", 0.0, 0.0), {}, r"sigma must be positive; got 0.0"),
        ((P, "mse", math.inf, 1.0), {}, r"mu must be a finite real number; got inf"),
        ((P, "mse", 0.0, 1.0), {"beta": 1}, r"kw must be alpha= or order=; got \['beta'\]"),
        ((P, "alpha", 0.0, 1.0), {}, r"alpha must be given for the 'alpha' objective; got None"),
    ],
)
def test_objective_value_validation_messages(args, kw, message):
    with pytest.raises(ValueError, match=message):
        objective_value(*args, **kw)


@pytest.mark.parametrize("mu, sigma", [(1.0, 2.0), (-3.0, 0.5)])
def test_wasserstein_fit_to_a_gaussian_target_recovers_it(mu, sigma):
    """A Gaussian target has an icdf with an unbounded tail: the fit must not return inf."""
    result = fit_gaussian(normal(mu, sigma), "wasserstein")
    assert math.isfinite(result.loss)
    assert result.mu == pytest.approx(mu, abs=1e-6) and result.sigma == pytest.approx(sigma, abs=1e-6)


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(tol=0.0), r"tol must be a positive number; got 0.0"),
        (dict(record_every=0), r"record_every must be an integer >= 1; got 0"),
        (dict(dtype=torch.float16), r"dtype must be torch.float64 or torch.float32"),
        (dict(first_time=-1.0), r"first_time must be a positive number or None; got -1.0"),
    ],
)
def test_fit_options_validation_messages(options, message):
    with pytest.raises(ValueError, match=message):
        FitOptions(**options)
