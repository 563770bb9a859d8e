"""Exact gradients and Hessians of the pointwise objectives on a grid (what the flow steps with),
against autograd through the whole value, and the flow's stop when derivatives are not finite."""

from __future__ import annotations

import math

import pytest
import torch

import klcourse._flow as flow_module
from klcourse import Grid, bimodal_target, fit_gaussian, gaussian_mixture
from klcourse._objectives import _check_objective, _pointwise_derivatives, _tabulate_target

GRID = Grid.uniform(-40.0, 55.0, 1901)
TARGETS = {"P": bimodal_target(), "P2": gaussian_mixture([0.3, 0.7], [-3.0, 4.0], [0.3, 2.0])}
CASES = [("forward_kl", None), ("reverse_kl", None), ("js", None), ("hellinger", None), ("mse", None),
         ("alpha", 0.0), ("alpha", 0.05), ("alpha", 0.3), ("alpha", 0.7), ("alpha", 1.0)]
MODELS = [(-5.2, 0.9), (2.5, 7.5), (0.0, 0.4), (9.0, 3.0), (-12.0, 0.6)]
# autograd's own second pass through JS's logaddexp is NaN where a density underflows, so JS's
# reference is taken on a grid and models where neither does
JS_GRID, JS_MODELS = Grid.uniform(-12.0, 17.0, 581), [(-5.2, 0.9), (2.5, 7.5), (0.0, 1.2), (9.0, 3.0), (-8.0, 1.0)]


def _setup(target, objective, alpha, grid=GRID):
    spec, options = _check_objective(objective, alpha, None)
    table = _tabulate_target(target, grid, [], spec, options, torch.float64, torch.device("cpu"))
    return spec.build(table, **options), _pointwise_derivatives(spec, table, options)


@pytest.mark.parametrize("target", sorted(TARGETS))
@pytest.mark.parametrize("objective, alpha", CASES, ids=[f"{o}-{a}" for o, a in CASES])
@pytest.mark.parametrize("log", [True, False], ids=["log_sigma", "sigma"])
def test_exact_derivatives_match_autograd_through_the_value(target, objective, alpha, log):
    models = JS_MODELS if objective == "js" else MODELS
    value, derivatives = _setup(TARGETS[target], objective, alpha, JS_GRID if objective == "js" else GRID)

    def loss(theta):  # θ [2] → scalar, autograd all the way through
        mu, s = theta[0].reshape(1, 1), theta[1].reshape(1, 1)
        return value(mu, s.exp(), s)[0] if log else value(mu, s, s.log())[0]

    thetas = torch.tensor([[m, math.log(s) if log else s] for m, s in models], dtype=torch.float64)
    mu, s = thetas[:, :1], thetas[:, 1:]
    v, g, h = derivatives(mu, s.exp(), s, True) if log else derivatives(mu, s, s.log(), False)
    for b, theta in enumerate(thetas):
        ref_g = torch.autograd.functional.jacobian(loss, theta)
        ref_h = torch.autograd.functional.hessian(loss, theta)
        assert v[b].item() == pytest.approx(loss(theta).item(), rel=1e-12, abs=1e-300)
        scale_g, scale_h = ref_g.abs().max().item() + 1e-12, ref_h.abs().max().item() + 1e-12
        assert (g[b] - ref_g).abs().max().item() <= 1e-9 * scale_g
        assert (h[b] - torch.stack([ref_h[0, 0], ref_h[0, 1], ref_h[1, 1]])).abs().max().item() <= 1e-9 * scale_h


def test_derivatives_stay_finite_where_a_density_underflows():
    # JS far from the target: q or p underflows to 0 on most nodes (autograd's second pass gives NaN there)
    _, derivatives = _setup(TARGETS["P"], "js", None)
    mu = torch.tensor([[-10.0], [15.0], [2.5]], dtype=torch.float64)
    sigma = torch.tensor([[0.5], [0.3], [16.0]], dtype=torch.float64)
    v, g, h = derivatives(mu, sigma, sigma.log(), True)
    assert torch.isfinite(v).all() and torch.isfinite(g).all() and torch.isfinite(h).all()


def test_the_flow_stops_when_its_derivatives_are_not_finite(monkeypatch):
    original = flow_module.Problem.stencil

    def nan_hessian(self, theta):
        loss, g, h = original(self, theta)
        return loss, g, torch.full_like(h, math.nan)

    monkeypatch.setattr(flow_module.Problem, "stencil", nan_hessian)
    for starts in (0.0, [0.0, 3.0]):  # the one-start flow and the batched flow
        fits = fit_gaussian(TARGETS["P"], "js", starts, 1.0, grid=GRID)
        for fit in fits if isinstance(fits, list) else [fits]:
            assert not fit.converged and fit.steps == 0


@pytest.mark.parametrize("objective, alpha", [c for c in CASES if c[0] != "js"], ids=[f"{o}-{a}" for o, a in CASES if o != "js"])
def test_closed_node_derivatives_match_the_autograd_fallback_node_by_node(objective, alpha):
    # _autograd_pointwise serves an objective registered without its own φ', φ'': it must agree
    from klcourse._objectives import _autograd_pointwise

    spec, options = _check_objective(objective, alpha, None)
    table = _tabulate_target(TARGETS["P2"], GRID, [], spec, options, torch.float64, torch.device("cpu"))
    mu = torch.tensor([[m] for m, _ in MODELS], dtype=torch.float64)
    sigma = torch.tensor([[s] for _, s in MODELS], dtype=torch.float64)
    ell = -0.5 * ((table.x - mu) / sigma) ** 2 - sigma.log() - 0.5 * math.log(2 * math.pi)
    v, d1, d2 = spec.node_derivatives(table.log_p, ell, table.w, second=True, **options)
    ref_v, ref_d1, ref_d2 = _autograd_pointwise(spec.kernel, table.log_p, ell, table.w, options)
    assert torch.allclose(v, ref_v, rtol=1e-12, atol=0)
    for ours, ref in ((d1.expand_as(ell), ref_d1), (d2, ref_d2)):
        assert torch.allclose(ours, ref, rtol=1e-9, atol=1e-12 * ref.abs().max().item())


@pytest.mark.parametrize("log", [True, False], ids=["log_sigma", "sigma"])
def test_forward_kl_on_a_grid_for_one_model_in_floats_matches_the_grid_sums(log):
    # the seed's target: density values of mass 2 on its 1000-point grid; and a mixture tabulated on GRID
    from klcourse import seed_grid

    x = seed_grid(torch.float64)
    seed_p = torch.distributions.Normal(-5.0, 1.0).log_prob(x).exp() + torch.distributions.Normal(10.0, 1.0).log_prob(x).exp()
    spec, options = _check_objective("forward_kl", None, None)
    for target, grid in ((seed_p, Grid.from_points(x)), (TARGETS["P2"], GRID)):
        table = _tabulate_target(target, grid, [], spec, options, torch.float64, torch.device("cpu"))
        derivatives, scalar = _pointwise_derivatives(spec, table, options), spec.grid_scalar(table)
        for mu, sigma in MODELS:
            th = torch.tensor([[mu, math.log(sigma) if log else sigma]], dtype=torch.float64)
            s = th[:, 1:]
            v, g, h = derivatives(th[:, :1], s.exp(), s, True) if log else derivatives(th[:, :1], s, s.log(), False)
            fv, fg, fh = scalar(mu, sigma, math.log(sigma), log, True)
            assert fv == pytest.approx(v.item(), rel=1e-12)
            assert list(fg) == pytest.approx(g[0].tolist(), rel=1e-9, abs=1e-12 * g.abs().max().item())
            assert list(fh) == pytest.approx(h[0].tolist(), rel=1e-9, abs=1e-12 * h.abs().max().item())
            assert scalar(mu, sigma, math.log(sigma), log, False)[2] is None
    empty = _tabulate_target(torch.zeros(len(x), dtype=torch.float64), Grid.from_points(x), [], spec, options, torch.float64,
                             torch.device("cpu"))
    assert spec.grid_scalar(empty) is None  # no mass: no moments, the tensor path says why
