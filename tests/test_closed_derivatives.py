"""Exact gradients and Hessians of the closed forms (MSE, cosine, forward KL for a Normal or a mixture
of Normals), what the flow and Adam step with, against autograd through the closed-form value."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.distributions import Categorical, Laplace, MixtureSameFamily

import klcourse._flow as flow_module
from klcourse import bimodal_target, closed_form, fit_gaussian, gaussian_mixture, normal, objective_value
from klcourse._closed_forms import _closed_form_derivatives
from klcourse._objectives import _check_objective, _closed_derivatives, _closed_value, _evaluator

CPU = torch.device("cpu")
TARGETS = {
    "normal": normal(1.5, 2.0),
    "bimodal": bimodal_target(),
    "three": gaussian_mixture([0.2, 0.5, 0.3], [-4.0, 1.0, 6.0], [0.5, 1.5, 0.8]),
}
OBJECTIVES = ["mse", "cosine", "forward_kl"]
# inside, between and beyond the modes; the last row is far out, where every g_k underflows to 0
MODELS = [(-5.2, 0.9), (2.5, 7.5), (0.3, 0.4), (11.0, 3.0), (60.0, 0.3)]


def _setup(target, objective, dtype=torch.float64, scalar=False):
    spec, options = _check_objective(objective, None, None)
    derivatives, one = _closed_derivatives(spec, target, options, dtype, CPU)
    return _closed_value(spec, target, options, dtype, CPU), one if scalar else derivatives


def _call(derivatives, thetas, log, **kw):
    mu, s = thetas[:, :1], thetas[:, 1:]
    return derivatives(mu, s.exp(), s, True, **kw) if log else derivatives(mu, s, s.log(), False, **kw)


def _thetas(models, log):
    return torch.tensor([[m, math.log(s) if log else s] for m, s in models], dtype=torch.float64)


@pytest.mark.parametrize("target", sorted(TARGETS))
@pytest.mark.parametrize("objective", OBJECTIVES)
@pytest.mark.parametrize("log", [True, False], ids=["log_sigma", "sigma"])
def test_closed_derivatives_match_autograd_through_the_closed_form(target, objective, log):
    value, derivatives = _setup(TARGETS[target], objective)
    assert derivatives is not None

    def natural(theta):  # θ [2] → the objective's natural value, autograd all the way through the closed form
        mu, s = theta[0].reshape(1, 1), theta[1].reshape(1, 1)
        return value(mu, s.exp(), s)[0] if log else value(mu, s, s.log())[0]

    thetas = _thetas(MODELS, log)
    v, g, h = _call(derivatives, thetas, log)  # B = 5
    assert v.shape == (5,) and g.shape == (5, 2) and h.shape == (5, 3)
    assert torch.isfinite(v).all() and torch.isfinite(g).all() and torch.isfinite(h).all()
    for b, theta in enumerate(thetas):
        ref_g = torch.autograd.functional.jacobian(natural, theta)
        ref_h = torch.autograd.functional.hessian(natural, theta)
        ref_h = torch.stack([ref_h[0, 0], ref_h[0, 1], ref_h[1, 1]])
        assert v[b].item() == pytest.approx(natural(theta).item(), rel=1e-12, abs=1e-15)
        assert (g[b] - ref_g).abs().max().item() <= 1e-9 * ref_g.abs().max().item() + 1e-300
        assert (h[b] - ref_h).abs().max().item() <= 1e-9 * ref_h.abs().max().item() + 1e-300
        v1, g1, h1 = _call(derivatives, thetas[b : b + 1], log)  # B = 1: the same row
        assert v1.shape == (1,) and torch.allclose(v1, v[b : b + 1], rtol=1e-14, atol=0)
        assert torch.allclose(g1, g[b : b + 1], rtol=1e-14, atol=0) and torch.allclose(h1, h[b : b + 1], rtol=1e-14, atol=0)


@pytest.mark.parametrize("objective", OBJECTIVES)
@pytest.mark.parametrize("log", [True, False], ids=["log_sigma", "sigma"])
def test_far_out_rows_are_finite(objective, log):
    # mu = 60, sigma = 0.3 and smaller: N(mu; m_k, v_k) underflows to 0; no NaN from 0 × inf
    _, derivatives = _setup(TARGETS["bimodal"], objective)
    thetas = _thetas([(60.0, 0.3), (-80.0, 0.05), (1e4, 1e-3)], log)
    for hessian in (True, False):
        v, g, h = _call(derivatives, thetas, log, hessian=hessian)
        assert torch.isfinite(v).all() and torch.isfinite(g).all()
        assert h is None or torch.isfinite(h).all()
    # a model narrower than 1e-162 at P's mean: sigma² underflows; a derivative may overflow to ±inf but is never NaN
    v, g, h = _call(derivatives, _thetas([(2.5, 1e-200)], log), log)
    assert not (v.isnan().any() or g.isnan().any() or h.isnan().any())
    if objective == "mse":  # all that is left is ∫q² = 1/(2 sigma √π) and ∫p²
        v, g, _ = _call(derivatives, thetas[:1], log)
        assert v.item() == pytest.approx(objective_value(TARGETS["bimodal"], "mse", 60.0, 0.3).item(), rel=1e-14)
        assert g[0, 0].item() == 0.0


def test_wide_models_keep_forward_kl_exact_and_every_objective_finite():
    # forward KL's ∂²/∂(log sigma)² = 2(v_P + (mu - m_P)²)/sigma² must not be the difference of two terms near 1;
    # at sigma = e^400, sigma² overflows: no inf × 0
    thetas = torch.tensor([[2.5, math.log(1e7)], [0.0, 400.0]], dtype=torch.float64)
    _, derivatives = _setup(TARGETS["bimodal"], "forward_kl")
    _, _, h = _call(derivatives, thetas, log=True)
    assert h[0, 2].item() == pytest.approx(2 * 57.25 / 1e14, rel=1e-12)
    assert 0.0 <= h[1, 2].item() < 1e-300
    for objective in OBJECTIVES:
        _, derivatives = _setup(TARGETS["bimodal"], objective)
        for log in (True, False):
            rows = thetas if log else torch.stack([thetas[:, 0], thetas[:, 1].exp()], -1)
            v, g, h = _call(derivatives, rows, log)
            assert torch.isfinite(v).all() and torch.isfinite(g).all() and torch.isfinite(h).all()


@pytest.mark.parametrize("objective", OBJECTIVES)
@pytest.mark.parametrize("log", [True, False], ids=["log_sigma", "sigma"])
def test_without_the_hessian_it_is_none_and_the_rest_unchanged(objective, log):
    _, derivatives = _setup(TARGETS["three"], objective)
    thetas = _thetas(MODELS, log)
    v, g, h = _call(derivatives, thetas, log)
    v0, g0, h0 = _call(derivatives, thetas, log, hessian=False)
    assert h is not None and h0 is None
    assert torch.equal(v0, v) and torch.equal(g0, g)


def _finite_scale(row):
    """1e-13 of the largest finite entry: the absolute tolerance for entries near 0 (an inf entry must match exactly)."""
    finite = row[torch.isfinite(row)]
    return 1e-13 * (finite.abs().max().item() if finite.numel() else 0.0) + 1e-300


@pytest.mark.parametrize("target", sorted(TARGETS))
@pytest.mark.parametrize("objective", OBJECTIVES)
@pytest.mark.parametrize("log", [True, False], ids=["log_sigma", "sigma"])
def test_one_model_in_floats_gives_the_tensor_rows(target, objective, log):
    # the same math on Python floats, for a one-start fit without tensors
    _, derivatives = _setup(TARGETS[target], objective)
    _, scalar = _setup(TARGETS[target], objective, scalar=True)
    models = MODELS + [(2.5, 1e-200), (0.0, math.exp(400.0))]
    thetas = _thetas(models, log)
    for hessian in (True, False):
        v, g, h = _call(derivatives, thetas, log, hessian=hessian)
        for b, (mu, sigma) in enumerate(models):
            sv, sg, sh = scalar(mu, sigma, math.log(sigma), log, hessian)
            assert isinstance(sv, float) and len(sg) == 2 and all(isinstance(x, float) for x in sg)
            assert sv == pytest.approx(v[b].item(), rel=1e-13, abs=1e-300)
            assert sg == pytest.approx(g[b].tolist(), rel=1e-13, abs=_finite_scale(g[b]))
            if hessian:
                assert len(sh) == 3 and sh == pytest.approx(h[b].tolist(), rel=1e-13, abs=_finite_scale(h[b]))
            else:
                assert sh is None


@pytest.mark.parametrize("target", sorted(TARGETS))
@pytest.mark.parametrize("objective", OBJECTIVES)
@pytest.mark.parametrize("log", [True, False], ids=["log_sigma", "sigma"])
def test_models_in_numpy_arrays_give_the_tensor_rows(target, objective, log):
    # the same math on numpy arrays [B]: the batched flow's step control calls it on the host
    _, derivatives = _setup(TARGETS[target], objective)
    _, scalar = _setup(TARGETS[target], objective, scalar=True)
    models = MODELS + [(2.5, 1e-200), (0.0, math.exp(400.0))]
    thetas = _thetas(models, log)
    mu, sigma = np.array([m for m, _ in models]), np.array([s for _, s in models])
    for hessian in (True, False):
        v, g, h = _call(derivatives, thetas, log, hessian=hessian)
        with np.errstate(all="ignore"):  # as in the flow: overflow and underflow are values here
            av, ag, ah = scalar(mu, sigma, np.log(sigma), log, hessian)
        assert isinstance(av, np.ndarray) and av.shape == (len(models),) and len(ag) == 2
        for b in range(len(models)):
            assert av[b] == pytest.approx(v[b].item(), rel=1e-13, abs=1e-300)
            assert [ag[0][b], ag[1][b]] == pytest.approx(g[b].tolist(), rel=1e-13, abs=_finite_scale(g[b]))
            if hessian:
                assert [x[b] for x in ah] == pytest.approx(h[b].tolist(), rel=1e-13, abs=_finite_scale(h[b]))
        assert hessian or ah is None


def test_cosine_gives_the_similarity_and_the_flow_maximises_it():
    target = TARGETS["bimodal"]
    _, derivatives = _setup(target, "cosine")
    thetas = _thetas([(10.0, 1.0), (-5.0, 2.0)], log=True)
    v, g, h = _call(derivatives, thetas, log=True)
    q = normal(torch.tensor([10.0, -5.0], dtype=torch.float64), torch.tensor([1.0, 2.0], dtype=torch.float64))
    assert torch.allclose(v, closed_form("cosine_similarity", target, q), rtol=1e-13, atol=0)
    assert (v > 0).all()
    assert (h[:, 0] < 0).all()  # near a mode the similarity is concave in mu: a maximum, not a minimum
    fit = fit_gaussian(target, "cosine", 9.0, 1.5)
    assert fit.is_minimum and fit.value > 0.5 and fit.loss == -fit.value


@pytest.mark.parametrize("objective", OBJECTIVES)
@pytest.mark.parametrize("parameterization", ["log_sigma", "sigma"])
@pytest.mark.parametrize("method", ["flow", "adam"])
def test_the_fits_step_with_the_closed_derivatives(monkeypatch, objective, parameterization, method):
    # the loss itself is never called: no differences, no autograd
    def refuse(self, theta):
        raise AssertionError("the closed-form fit evaluated the loss instead of its exact derivatives")

    monkeypatch.setattr(flow_module.Problem, "loss", refuse)
    steps = 20 if method == "adam" else 200
    fits = fit_gaussian(TARGETS["bimodal"], objective, [-3.0, 4.0], 2.0, parameterization=parameterization, method=method,
                        steps=steps)
    assert all(math.isfinite(f.loss) for f in fits)
    if method == "flow":
        assert all(f.converged and f.is_minimum for f in fits)


def test_float32_models_get_float32_derivatives():
    thetas = _thetas(MODELS[:4], log=True)
    for objective in OBJECTIVES:
        _, d64 = _setup(TARGETS["bimodal"], objective)
        _, d32 = _setup(TARGETS["bimodal"], objective, torch.float32)
        ref, got = _call(d64, thetas, True), _call(d32, thetas.float(), True)
        for r, x in zip(ref, got):
            assert x.dtype == torch.float32
            assert torch.allclose(x.double(), r, rtol=1e-4, atol=1e-5 * r.abs().max().item())


def test_other_targets_and_objectives_have_no_closed_derivatives():
    laplaces = MixtureSameFamily(Categorical(torch.tensor([0.5, 0.5])), Laplace(torch.tensor([-2.0, 2.0]), torch.ones(2)))
    with pytest.raises(NotImplementedError, match="not a Normal or a 1-D mixture of Normals"):
        _closed_form_derivatives("cross_entropy", laplaces, torch.float64, CPU)
    with pytest.raises(NotImplementedError, match="no exact derivatives of 'hellinger'"):
        _closed_form_derivatives("hellinger", TARGETS["normal"], torch.float64, CPU)
    for objective in OBJECTIVES:
        spec, options = _check_objective(objective, None, None)
        assert _closed_derivatives(spec, laplaces, options, torch.float64, CPU) == (None, None)
    # hellinger has a closed form for a Normal target but no exact derivatives: the flow differences it
    spec, options = _check_objective("hellinger", None, None)
    ev = _evaluator(TARGETS["normal"], spec, options, None, [(0.0, 1.0)], torch.float64, CPU)
    assert ev.grid is None and ev.derivatives is None and ev.scalar is None
    spec, options = _check_objective("mse", None, None)
    ev = _evaluator(TARGETS["normal"], spec, options, None, [(0.0, 1.0)], torch.float64, CPU)
    assert ev.grid is None and ev.derivatives is not None and ev.scalar is not None


def test_a_closed_form_evaluator_is_made_once_per_target_objective_and_options():
    from klcourse import normal
    from klcourse._objectives import _check_objective, _evaluator

    def made(target, objective, alpha=None, dtype=torch.float64):
        spec, options = _check_objective(objective, alpha, None)
        return _evaluator(target, spec, options, None, [(0.0, 1.0)], dtype, torch.device("cpu"))

    P, Q = bimodal_target(), bimodal_target()
    assert made(P, "mse") is made(P, "mse")  # remembered
    assert made(P, "mse") is not made(Q, "mse")  # another target object, even an equal one
    assert made(P, "mse") is not made(P, "cosine") and made(P, "mse") is not made(P, "mse", dtype=torch.float32)
    N = normal(0.0, 1.0)
    one, zero = torch.ones(1, 1, dtype=torch.float64), torch.zeros(1, 1, dtype=torch.float64)
    low, high = made(N, "alpha", 0.2), made(N, "alpha", 0.7)  # D_α for N(0, 1) and N(1, 1) depends on α(1 - α)
    assert low is not high and low.value(one, one, zero).item() != pytest.approx(high.value(one, one, zero).item(), rel=1e-6)
    assert made(P, "reverse_kl").grid is not None  # no closed form: a grid, made for the starts each time
    assert made(P, "reverse_kl") is not made(P, "reverse_kl")
