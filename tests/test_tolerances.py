"""Every tolerance of the fitting core guarded: each passes its checks as shipped and fails one when made 1000× looser.

The checks are independent of the constants they guard: scipy's ODE solver and quadrature,
closed forms (moment matching, log 2 at a mode), a finer grid, a loop that must end. ``GUARDED``
maps each constant to its 1000 times looser value (larger tolerance, coarser grid, fewer nodes
or steps) and to the one check that fails with it; ``test_a_looser_constant_fails`` runs only
that check.

The fitting core's other named constants are not tolerances, or loosening them 1000 times
changes no result by design (measured on this branch), so no test pretends to guard them:

_flow
  _GROWTH_MAX, _SHRINK_MAX, _SAFETY, _OUT_OF_DOMAIN_SHRINK  step-size control (Hairer-Nørsett-Wanner): how fast t
      adapts, not how accurate a step is (the error is bounded by rtol and _FLOW_MISMATCH_CONVEX).
  _COLLAPSE       1e-12 (1000×) changes no fit of the 56 probed (7 objectives × 2 parameterisations × 4 starts) beyond
      the step count: an l1 flow stops after 8 instead of 27 steps at the same point (1e-13 in mu).
  _KINK_SPACINGS  not guarded: at 0.01 (1000× fewer spacings) the l1 gradient is *closer* to a fine-grid reference
      (0.7% against 3.8e4 relative error at (-4.3, 1.7)); see the branch's report.
  _STENCIL_POWER  the exponent that balances truncation and rounding of a central difference (a definition).
  _EXP_CAP        the float64 range of exp (a limit of the number format, not an accuracy).
  _DIVISION_FLOOR keeps a division finite (a first step where the Hessian is ~0, the growth after an exact step);
      what it produces is bounded elsewhere (the step control, _GROWTH_MAX): 1e-9 (1000×) changes not one bit of
      the comparing-losses chapter's 9 basin maps (1,620 fits) and 11 batches of fits.
  _BETWEEN        where a path is drawn between a step's ends (figures only).
  _ADAM_BETA1, _ADAM_BETA2, _ADAM_EPS, _STENCIL, _DIFFERENCES  define Adam and the 9-point stencil;
  _ON_DEVICE      a cache of the stencil's tables per dtype and device.
_fit
  _PARAMETERIZATIONS, _METHODS  names; _DEFAULT_LR  Adam's torch default (the seed's) and gd's step, method settings;
  _MAX_HISTORY    rows kept for figures.
_objectives
  _LOG_SQRT_2PI   a mathematical constant; _REGISTRY the table of objectives; _LOG_P_WIDTHS a cache of
      _log_p_width's results (emptied for every looser run below); _CLOSED_EVALUATORS a cache of closed-form
      evaluators per target object.
  _MIN_NODES      not guarded: the floor of 401 nodes binds only where the trapezoid is exact to rounding already
      (a Normal target and model: 64 nodes at a third of sigma); it bound for a Laplace target, whose default grid
      is now made of Gauss-Legendre panels (_PANEL_NODES, _PANEL_SPACINGS, guarded).
_landscape
  _CHUNK          batching only: test_landscape checks that chunks give the values of one batch.
  _RTOL_SINGLE    100 (1000×) gives local_minima's three MSE minima to 1e-9: each polishing fit starts in its basin.
  _MAX_RESTARTS, _OFF_SADDLE  not guarded: no course target was found whose screening start ends at a saddle
      (symmetric mixtures ±1 … ±5, widths 0.5 and 1; MSE, KL both ways, JS, He²: the axis flows end at minima).
_continuous, _quadrature
  LOG2, _INF are mathematical constants. _GL, _INNER, _REACH, _GENERIC_REACH, _U_REACH and SETTLED_RTOL set the
  default quadrature of kl_divergence & co.; fits do not use them (their default grid takes only covering_interval's
  quantiles).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats
from torch.distributions import Exponential, Laplace, Uniform

import klcourse._closed_forms as closed_module
import klcourse._fit as fit_module
import klcourse._flow as flow_module
import klcourse._flow_one as flow_one_module
import klcourse._landscape as landscape_module
import klcourse._objectives as objectives_module
from klcourse import Grid, bimodal_target, fit_gaussian, gaussian_mixture, local_minima, normal, objective_value
from reference_flows import mse_flow_scipy, mse_path_scipy
from test_fit_speed import _threads_seen

P = bimodal_target()  # ½N(-5, 1) + ½N(10, 1)
NARROW = gaussian_mixture([0.5, 0.5], [-1.0, 1.0], [0.05, 0.5])  # a component 20 times narrower than the model below
GRID = Grid.uniform(-40.0, 55.0, 1901)


def _rel(a, b):
    return abs(a - b) / abs(b)


# ----------------------------------------------------------------------------- the checks (None: passed)


def check_basin_edges():
    """The flow keeps scipy's basin edges (starts 0.02 apart across each edge) and follows scipy's path."""
    for mu0, par in [(-0.58, "sigma"), (-0.61, "sigma"), (-2.63, "log_sigma"), (-2.65, "log_sigma")]:
        fit = fit_gaussian(P, "mse", mu0, 1.0, parameterization=par, rtol=1e-3)
        if abs(fit.mu - mse_flow_scipy(mu0, 1.0, par)) > 1e-4:
            return f"the flow from mu0={mu0} ({par}) ends at mu={fit.mu:.6g}, scipy's at {mse_flow_scipy(mu0, 1.0, par):.6g}"
    path = fit_gaussian(P, "mse", -3.0, 1.0, parameterization="sigma", rtol=1e-3).history[:, :2]
    scipy_path = mse_path_scipy(-3.0, 1.0, np.concatenate([[0.0], np.geomspace(1e-3, 1e4, 20000)]))
    off = max(np.hypot(*(scipy_path - point).T).min() for point in path)
    return f"the path leaves scipy's by {off:.3g} (0.0045 as shipped)" if off > 0.02 else None


def check_known_minima():
    """Forward KL's minimum is moment matching (2.5, √57.25); reverse KL's at a mode is (-5, 1) with value log 2; reverse
    KL's against a Normal target is the target, to 1e-11 (its closed form has no exact derivatives: the Newton polish's job)."""
    fit = fit_gaussian(P, "forward_kl", 0.0, 1.0)
    if not fit.grad_norm < 1e-11 or abs(fit.sigma - math.sqrt(57.25)) > 1e-10:
        return f"forward KL: |grad| {fit.grad_norm:.2g}, sigma off √57.25 by {abs(fit.sigma - math.sqrt(57.25)):.2g}"
    fit = fit_gaussian(normal(1.5, 2.0), "reverse_kl", 0.0, 1.0)
    if not fit.grad_norm < 1e-11 or abs(fit.mu - 1.5) > 1e-11 or abs(fit.sigma - 2.0) > 1e-11:
        return f"reverse KL against N(1.5, 2²): |grad| {fit.grad_norm:.2g}, ends at ({fit.mu!r}, {fit.sigma!r})"
    fit = fit_gaussian(P, "reverse_kl", -3.0, 1.5, grid=GRID)
    if abs(fit.mu + 5) > 1e-8 or abs(fit.sigma - 1) > 1e-8 or abs(fit.loss - math.log(2)) > 1e-12:
        return f"reverse KL ends at ({fit.mu:.10g}, {fit.sigma:.10g}) with {fit.loss!r}, not (-5, 1) with log 2"
    return None


def check_default_grid():
    """A grid-path fit on the default grid agrees with one on a wider, ten times finer grid to 1e-10."""
    js = fit_gaussian(P, "js", -4.0, 1.5)
    ref = fit_gaussian(P, "js", -4.0, 1.5, grid=Grid.uniform(-60.0, 75.0, 13501))
    return f"JS on the default grid is off by {_rel(js.loss, ref.loss):.2g} relative" if _rel(js.loss, ref.loss) > 1e-10 else None


def check_narrow_component():
    """JS against a component of width 0.05: the default grid agrees with a 1e-4 grid to 1e-9 (2e-11 as shipped)."""
    got = objective_value(NARROW, "js", 0.0, 1.0).item()
    ref = objective_value(NARROW, "js", 0.0, 1.0, grid=Grid.uniform(-12.0, 12.0, 240001)).item()
    return f"JS off by {_rel(got, ref):.2g} relative" if _rel(got, ref) > 1e-9 else None


def check_kinked_grid():
    """L1 (a kink per crossing) against the narrow component: default grid and a 1e-4 grid agree to 1e-5 (3.3e-6 as shipped)."""
    got = objective_value(NARROW, "l1", 0.0, 1.0).item()
    ref = objective_value(NARROW, "l1", 0.0, 1.0, grid=Grid.uniform(-12.0, 12.0, 240001)).item()
    return f"L1 off by {_rel(got, ref):.2g} relative" if _rel(got, ref) > 1e-5 else None


def check_bend_between_modes():
    """Reverse KL of a model spanning both modes (log p bends over 1/15 between them): default grid = fine grid to 1e-9."""
    got = objective_value(P, "reverse_kl", 2.5, 5.0).item()
    ref = objective_value(P, "reverse_kl", 2.5, 5.0, grid=Grid.uniform(-60.0, 75.0, 270001)).item()
    return f"reverse KL off by {_rel(got, ref):.2g} relative" if _rel(got, ref) > 1e-9 else None


def check_laplace_target():
    """JS and He² of targets with a cusp or an edge (Laplace, uniform, exponential) on the default grid against scipy
    quad: 1e-9 (at most 2e-11 as shipped; the trapezoid erred by 0.2-1.5% there)."""
    one = torch.tensor(1.0, dtype=torch.float64)
    targets = (
        (Laplace(0 * one, one), lambda x: 0.5 * math.exp(-abs(x)), [0.0]),
        (Uniform(-1 * one, 2 * one), lambda x: 1 / 3 if -1 <= x < 2 else 0.0, [-1.0, 2.0]),
        (Exponential(one), lambda x: math.exp(-x) if x >= 0 else 0.0, [0.0]),
    )
    q = lambda x: stats.norm.pdf(x, 0.5, 1.0)  # noqa: E731
    for target, p, points in targets:
        kernels = {
            "js": lambda x: 0.5 * sum(a * math.log(2 * a / (p(x) + q(x))) for a in (p(x), q(x)) if a > 0),
            "hellinger": lambda x: 0.5 * (math.sqrt(p(x)) - math.sqrt(q(x))) ** 2,
        }
        for name, f in kernels.items():
            ref = integrate.quad(f, -35, 35, points=points + [0.5], limit=500, epsabs=0, epsrel=1e-13)[0]
            got = objective_value(target, name, 0.5, 1.0).item()
            if _rel(got, ref) > 1e-9:
                return f"{name} of {type(target).__name__} off by {_rel(got, ref):.2g} relative"
    return None


def check_closed_forward_kl():
    """Forward KL's closed form (its entropy term by a trapezoid) against scipy quad to 1e-10, on a fresh target (h(P) is cached)."""
    target = bimodal_target()
    p = lambda x: 0.5 * stats.norm.pdf(x, -5, 1) + 0.5 * stats.norm.pdf(x, 10, 1)  # noqa: E731
    f = lambda x: p(x) * (math.log(p(x)) - stats.norm.logpdf(x, 0.0, 3.0)) if p(x) > 0 else 0.0  # noqa: E731
    ref = integrate.quad(f, -45, 50, points=[-5.0, 0.0, 10.0], limit=1000, epsabs=0, epsrel=1e-13)[0]
    got = objective_value(target, "forward_kl", 0.0, 3.0).item()
    return f"forward KL off by {_rel(got, ref):.2g} relative" if _rel(got, ref) > 1e-10 else None


def check_negative_values_refused():
    """A target truncated at ±4 (6e-5 of its mass lost) gives forward KL -2.9e-7: refused; truncated at ±6 (-1e-15): fitted."""
    for a, refused in ((4.0, True), (6.0, False)):
        grid = Grid.uniform(-a, a, 801)
        values = torch.tensor(stats.norm.pdf(grid.x.numpy()))
        try:
            fit_gaussian(values, "forward_kl", 0.3, 1.2, grid=grid)
        except ValueError as e:
            if not refused:
                return f"truncated at ±{a}: refused ({e})"
            continue
        if refused:
            return f"truncated at ±{a}: a negative forward KL was returned, not refused"
    return None


def check_threads():
    """A batch of 40 small grid fits runs on one intra-op thread, and torch's setting is restored."""
    seen = _threads_seen()
    return f"threads seen inside, after: {seen}" if seen != ({1}, 2) else None


def check_rejections_end():
    """A flow whose Hessian is NaN (every step rejected, t NaN, so no step-size collapse) ends within 1,000 steps a start."""
    count = [0]

    def counting(original):
        def spy(*a, **k):
            count[0] += 1
            if count[0] > 5000:
                raise RuntimeError("still rejecting steps after 5,000 tries")
            return original(*a, **k)
        return spy

    stencil, batched, one = flow_module.Problem.stencil, flow_module.quadratic_flow, flow_one_module._quadratic_flow

    def nan_hessian(self, theta):
        loss, g, h = stencil(self, theta)
        return loss, g, torch.full_like(h, math.nan)

    flow_module.Problem.stencil = nan_hessian
    flow_module.quadratic_flow, flow_one_module._quadratic_flow = counting(batched), counting(one)  # one call a step
    try:
        for starts in (0.0, [0.0, 3.0]):  # the one-start flow and the batched flow
            count[0] = 0
            fits = fit_gaussian(P, "js", starts, 1.0, grid=GRID)
            if any(f.converged for f in (fits if isinstance(fits, list) else [fits])):
                return "a flow with NaN derivatives claims convergence"
    except RuntimeError as e:
        return str(e)
    finally:
        flow_module.Problem.stencil, flow_module.quadratic_flow, flow_one_module._quadratic_flow = stencil, batched, one
    return None


def check_tails():
    """The default grid's ends, where JS must agree to 1e-10 relative: for a Laplace target (its own 1e-12 quantiles
    bind) with scipy quad; for a model 90 away from P (the model's 7.03 sigma bind) with ten more widths of nodes
    on each side."""
    laplace = Laplace(torch.tensor(0.0, dtype=torch.float64), torch.tensor(1.0, dtype=torch.float64))
    p, q = (lambda x: 0.5 * math.exp(-abs(x))), (lambda x: stats.norm.pdf(x, 0.0, 1.0))  # noqa: E731
    integrand = lambda x: 0.5 * (p(x) * math.log(2 * p(x) / (p(x) + q(x))) + q(x) * math.log(2 * q(x) / (p(x) + q(x))))  # noqa: E731
    ref = integrate.quad(integrand, -35, 35, points=[0.0], limit=500, epsabs=0, epsrel=1e-13)[0]
    got = objective_value(laplace, "js", 0.0, 1.0).item()
    if _rel(got, ref) > 1e-10:
        return f"JS for Laplace and N(0.0, 1.0) is off scipy quad by {_rel(got, ref):.2g}"
    for target, mu, sigma in ((P, 90.0, 1.0),):
        grid = objectives_module._default_grid(target, [(mu, sigma)])
        h, n = (grid.x[1] - grid.x[0]).item(), len(grid.x)
        k = math.ceil(10 * max(sigma, target.stddev.item()) / h)
        wider = Grid.uniform(grid.x[0].item() - k * h, grid.x[-1].item() + k * h, n + 2 * k)  # the same nodes, and more
        got, ref = (objective_value(target, "js", mu, sigma, grid=g).item() for g in (grid, wider))
        if _rel(got, ref) > 1e-10:
            return f"JS for {type(target).__name__} and N({mu}, {sigma}) changes by {_rel(got, ref):.2g} on a wider grid"
    return None


def check_phi_series():
    """(1 - e^{-λt})/λ of both flows against math.expm1 (exact in float64) to 1e-14, for λt from 1e-9 to 1e-4."""
    worst = (0.0, 0.0)
    for z in (1e-9, 3e-9, 1e-8, 3e-7, 1e-6, 3e-6, 3e-5, 1e-4):
        for lam in (1.0, -2.0):
            t = z / abs(lam)
            exact = -math.expm1(-lam * t) / lam
            batched = flow_module._phi(np.array([[lam]]), np.array([[t]])).item()
            worst = max(worst, (max(_rel(batched, exact), _rel(flow_one_module._phi(lam, t), exact)), lam * t))
    return f"phi off by {worst[0]:.2g} relative at λt={worst[1]:g}" if worst[0] > 1e-14 else None


def check_l1_sigma_moves():
    """L1 in the sigma parameterisation from sigma0 = 0.5 (difference steps near sigma): the flow moves and lowers the loss."""
    fit = fit_gaussian(P, "l1", 4.0, 0.5, parameterization="sigma", grid=GRID)
    start = objective_value(P, "l1", 4.0, 0.5, grid=GRID).item()
    return f"L1 from (4, 0.5): {fit.steps} steps, loss {fit.loss:.6g} from {start:.6g}" if fit.loss > 0.75 * start else None


def check_l1_monotone():
    """Along L1 flows (sigma parameterisation) the loss at accepted steps never rises by more than 4 float eps (rounding)."""
    eps = np.finfo(np.float64).eps
    for mu0, sigma0 in ((-3.0, 1.0), (0.0, 1.0), (4.0, 0.5)):
        fit = fit_gaussian(P, "l1", mu0, sigma0, parameterization="sigma", grid=GRID)
        assert len(fit.history) == 1 + 4 * fit.steps  # start, then 3 points between and the end of each step
        ends = fit.history[::4, 2]
        rise = (np.diff(ends) / np.maximum(1.0, np.abs(ends[:-1]))).max() / eps
        if rise > 4:
            return f"L1 from ({mu0}, {sigma0}): the loss rose by {rise:.0f} eps in one step"
    return None


def check_l1_symmetric_minimum():
    """L1 from (4, 0.5) in log sigma ends on P's symmetry axis mu = 2.5 to 1e-3 (7e-7 as shipped)."""
    fit = fit_gaussian(P, "l1", 4.0, 0.5, grid=GRID)
    return f"L1 ends at mu={fit.mu:.6g}, not on the axis 2.5" if abs(fit.mu - 2.5) > 1e-3 else None


def check_minima_box():
    """local_minima reports no minimum outside its mesh box: mesh from mu = -4.95 drops the mode at -5."""
    found = local_minima(P, "mse", mus=np.linspace(-4.95, 12.0, 41), sigmas=np.geomspace(0.5, 20.0, 21))
    mus = sorted(round(m.mu, 6) for m in found)
    return f"local_minima found {mus}, with -5 outside the box" if mus != [2.5, 10.0] else None


CHECKS = {f.__name__: f for f in (
    check_basin_edges, check_known_minima, check_default_grid, check_narrow_component, check_kinked_grid,
    check_bend_between_modes, check_laplace_target, check_closed_forward_kl, check_negative_values_refused,
    check_threads, check_rejections_end, check_tails, check_phi_series, check_l1_sigma_moves, check_l1_monotone,
    check_l1_symmetric_minimum, check_minima_box,
)}

GUARDED = [  # (module, constant, 1000 times looser, the check that fails with it)
    (flow_module, "_FLOW_MISMATCH_CONVEX", 100.0, check_basin_edges),
    (flow_module, "_POLISH_FACTOR", 1.0, check_known_minima),
    (flow_module, "_POLISH_STEPS", 0, check_known_minima),  # 5/1000 rounds to no Newton step after the first
    (flow_module, "_PLATEAU_STEPS", 1, check_basin_edges),  # 20/1000 rounds to a window of one step
    (flow_module, "_PLATEAU_DROP", 1e-11, check_l1_symmetric_minimum),
    (flow_module, "_LOSS_RISE_EPS", 4000, check_l1_monotone),
    (flow_module, "_REJECTIONS_MAX", 400_000, check_rejections_end),
    (flow_module, "_SERIES_BELOW", 1e-5, check_phi_series),
    (flow_module, "_SIGMA_STEP_FRACTION", 250.0, check_l1_sigma_moves),
    (fit_module, "_DEFAULT_STEPS", 10, check_basin_edges),
    (fit_module, "_NEGATIVE_SLACK", 1e-6, check_negative_values_refused),
    (fit_module, "_ONE_THREAD_BELOW", 100_000, check_threads),
    (objectives_module, "_TAIL_MASS", 1e-9, check_tails),
    (objectives_module, "_Z_TAIL", float(stats.norm.isf(1e-9)), check_tails),  # the z of a 1000× larger tail
    (objectives_module, "_SPACING_SMOOTH", 1000 / 3, check_narrow_component),
    (objectives_module, "_SPACING_KINKED", 1000 / 30, check_kinked_grid),
    (objectives_module, "_PANEL_SPACINGS", 8000, check_laplace_target),
    (objectives_module, "_PANEL_NODES", 0.016, check_laplace_target),  # no such Gauss-Legendre rule: the grid cannot be made
    (objectives_module, "_MAX_NODES", 20, check_default_grid),
    (objectives_module, "_BEND_PROBE_NODES", 20, check_bend_between_modes),
    (closed_module, "_TAIL_SCALES", 9.0 / 1000, check_closed_forward_kl),
    (landscape_module, "_SAME_MINIMUM", 1e-2, check_minima_box),
]


def _run(check):
    """The check's failure message, or None; an exception is a failure too."""
    try:
        return check()
    except Exception as e:  # noqa: BLE001 (a looser constant may break a fit outright)
        return f"{type(e).__name__}: {e}"


@pytest.mark.parametrize("name", list(CHECKS))
def test_the_check_passes_as_shipped(name):
    assert _run(CHECKS[name]) is None


@pytest.mark.parametrize("module, name, looser, check", GUARDED, ids=[g[1] for g in GUARDED])
def test_a_looser_constant_fails(monkeypatch, module, name, looser, check):
    monkeypatch.setattr(module, name, looser)
    monkeypatch.setattr(objectives_module, "_LOG_P_WIDTHS", {})  # no width remembered from a run with the shipped value
    assert _run(check) is not None


def test_every_constant_is_guarded_or_listed():
    """Each module-level UPPER_CASE constant of the fitting core is in GUARDED or named in this module's docstring."""
    guarded = {g[1] for g in GUARDED}
    modules = (flow_module, fit_module, objectives_module, landscape_module)
    names = {n for m in modules for n in vars(m) if n.lstrip("_").isupper() and not callable(getattr(m, n))}
    missing = sorted(n for n in names - guarded - {"OBJECTIVES"} if n not in __doc__)
    assert not missing, f"neither guarded nor listed: {missing}"


def test_the_tail_z_is_the_quantile_of_the_tail_mass():
    assert objectives_module._Z_TAIL == pytest.approx(stats.norm.isf(objectives_module._TAIL_MASS), abs=1e-6)
