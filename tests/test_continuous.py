"""Continuous divergences by quadrature: scipy.integrate.quad references, gradients, edge cases."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, optimize, special
from scipy.stats import norm
from torch.distributions import Exponential, Gamma, Normal, Uniform
from torch.distributions import kl_divergence as torch_kl

from klcourse import (
    Grid,
    alpha_divergence,
    bimodal_target,
    cosine_similarity,
    covering_grid,
    gaussian_mixture,
    hellinger,
    js_divergence,
    kl_divergence,
    l1_distance,
    l2_distance_squared,
    normal,
    renyi_divergence,
    seed_grid,
    total_variation,
    wasserstein,
)
from klcourse._continuous import (
    _alpha_grid,
    _cosine_grid,
    _hellinger_grid,
    _js_grid,
    _kl_grid,
    _l1_grid,
    _l2sq_grid,
    _log_density,
    _renyi_grid,
    _tv_grid,
    _u_grid,
    _w2_grid,
)

torch.set_num_threads(1)
F64 = torch.float64
LOG2 = math.log(2)


# ------------------------------------------------------------------ scipy reference densities


class Ref:
    """A 1-D Gaussian mixture in plain math/scipy.special: log-density, CDF and quantile function."""

    def __init__(self, weights, means, sigmas):
        self.components = list(zip(weights, means, sigmas))

    def torch(self):
        if len(self.components) == 1:
            _, m, s = self.components[0]
            return normal(m, s)
        return gaussian_mixture(*(list(c) for c in zip(*self.components)))

    def logpdf(self, x):
        logs = [math.log(w) - 0.5 * ((x - m) / s) ** 2 - math.log(s * math.sqrt(2 * math.pi)) for w, m, s in self.components]
        top = max(logs)
        return top + math.log(sum(math.exp(v - top) for v in logs))

    def pdf(self, x):
        return math.exp(self.logpdf(x))

    def cdf(self, x):
        return sum(w * 0.5 * math.erfc(-(x - m) / (s * math.sqrt(2))) for w, m, s in self.components)

    def ppf(self, u):
        if len(self.components) == 1:
            _, m, s = self.components[0]
            return m + s * float(special.ndtri(u))
        return optimize.brentq(lambda x: self.cdf(x) - u, -80, 80, xtol=1e-14, rtol=1e-15)

    def breakpoints(self):
        return sorted(m for _, m, _ in self.components)


def quad(f, points):
    value, _ = integrate.quad(f, -60, 60, points=points, limit=400, epsabs=1e-14, epsrel=1e-12)
    return value


STD = Ref([1.0], [0.0], [1.0])
WIDE = Ref([1.0], [1.0], [2.0])
NARROW = Ref([1.0], [-1.0], [0.5])
TARGET = Ref([0.5, 0.5], [-5.0, 10.0], [1.0, 1.0])
SKEWED = Ref([0.3, 0.7], [0.0, 3.0], [0.7, 1.5])
MOMENT = Ref([1.0], [2.5], [math.sqrt(57.25)])
PAIRS = [(STD, WIDE), (NARROW, WIDE), (TARGET, STD), (STD, TARGET), (TARGET, MOMENT), (SKEWED, NARROW)]
PAIR_IDS = ["std-wide", "narrow-wide", "target-std", "std-target", "target-moment", "skewed-narrow"]


def ref_measures(p, q):
    pts = p.breakpoints() + q.breakpoints()
    lp, lq = p.logpdf, q.logpdf
    ref = {
        "kl": quad(lambda x: math.exp(lp(x)) * (lp(x) - lq(x)), pts),
        "hellinger": 1 - quad(lambda x: math.exp(0.5 * (lp(x) + lq(x))), pts),
        "tv": 0.5 * quad(lambda x: abs(p.pdf(x) - q.pdf(x)), pts),
        "l1": quad(lambda x: abs(p.pdf(x) - q.pdf(x)), pts),
        "l2sq": quad(lambda x: (p.pdf(x) - q.pdf(x)) ** 2, pts),
        "w1": quad(lambda x: abs(p.cdf(x) - q.cdf(x)), pts),
    }
    lm = lambda x: np.logaddexp(lp(x), lq(x)) - LOG2  # noqa: E731
    ref["js"] = 0.5 * quad(lambda x: math.exp(lp(x)) * (lp(x) - lm(x)) + math.exp(lq(x)) * (lq(x) - lm(x)), pts)
    pq, pp, qq = (quad(lambda x: p.pdf(x) * q.pdf(x), pts), quad(lambda x: p.pdf(x) ** 2, pts), quad(lambda x: q.pdf(x) ** 2, pts))
    ref["cosine"] = pq / math.sqrt(pp * qq)
    for a in (0.3, 0.5):
        affinity = quad(lambda x: math.exp(a * lp(x) + (1 - a) * lq(x)), pts)
        ref[f"alpha{a}"] = (1 - affinity) / (a * (1 - a))
        ref[f"renyi{a}"] = math.log(affinity) / (a - 1)
    w2sq, _ = integrate.quad(lambda u: (p.ppf(u) - q.ppf(u)) ** 2, 0, 1, points=[0.3, 0.5, 0.7], limit=400, epsabs=1e-11)
    ref["w2"] = math.sqrt(w2sq)
    return ref


OURS = {
    "kl": kl_divergence,
    "js": js_divergence,
    "hellinger": hellinger,
    "tv": total_variation,
    "l1": l1_distance,
    "l2sq": l2_distance_squared,
    "cosine": cosine_similarity,
    "w1": lambda p, q: wasserstein(p, q, order=1),
    "w2": lambda p, q: wasserstein(p, q, order=2),
    "alpha0.3": lambda p, q: alpha_divergence(p, q, 0.3),
    "alpha0.5": lambda p, q: alpha_divergence(p, q, 0.5),
    "renyi0.3": lambda p, q: renyi_divergence(p, q, 0.3),
    "renyi0.5": lambda p, q: renyi_divergence(p, q, 0.5),
}
KINKED = {"tv", "l1", "w1"}  # |·| makes the trapezoidal rule second order only


@pytest.mark.parametrize("pair", PAIRS, ids=PAIR_IDS)
def test_every_measure_matches_scipy_quad(pair):
    p, q = pair
    ref = ref_measures(p, q)
    tp, tq = p.torch(), q.torch()
    for name, f in OURS.items():
        got = f(tp, tq)
        assert got.shape == () and got.dtype == F64
        tol = 5e-5 if name in KINKED else 1e-8
        assert got.item() == pytest.approx(ref[name], rel=tol, abs=1e-10), name


def test_alpha_and_renyi_above_one_match_quad_on_the_widened_default_grid():
    p, q = NARROW, WIDE  # σ_q > σ_p, so ∫ p^α q^(1-α) converges for α = 2, 3
    pts = p.breakpoints() + q.breakpoints()
    for a in (2.0, 3.0):
        affinity = quad(lambda x: math.exp(a * p.logpdf(x) + (1 - a) * q.logpdf(x)), pts)
        assert renyi_divergence(p.torch(), q.torch(), a).item() == pytest.approx(math.log(affinity) / (a - 1), rel=1e-9)
        assert alpha_divergence(p.torch(), q.torch(), a).item() == pytest.approx((1 - affinity) / (a * (1 - a)), rel=1e-9)
    # equal widths: the integrand peaks at μ_p + (α - 1)(μ_p - μ_q), outside both distributions
    assert renyi_divergence(normal(0.0, 1.0), normal(3.0, 1.0), 3.0).item() == pytest.approx(3.0 * 9 / 2, rel=1e-10)


def test_non_gaussian_supports_match_torch_closed_forms():
    g1, g2 = Gamma(torch.tensor(3.0, dtype=F64), torch.tensor(1.0, dtype=F64)), Gamma(torch.tensor(4.0, dtype=F64), torch.tensor(2.0, dtype=F64))
    assert kl_divergence(g1, g2).item() == pytest.approx(torch_kl(g1, g2).item(), rel=1e-6)  # no icdf: ends by bisection on cdf
    e1, e2 = Exponential(torch.tensor(1.0, dtype=F64)), Exponential(torch.tensor(3.0, dtype=F64))
    assert kl_divergence(e1, e2).item() == pytest.approx(torch_kl(e1, e2).item(), rel=1e-3)  # density jumps at 0: O(Δx)


def test_w2_between_two_mixtures_uses_the_tabulated_quantile():
    # neither distribution has an icdf in torch: a mixture quantile comes from Newton steps on the log of its CDF
    w2sq, _ = integrate.quad(lambda u: (TARGET.ppf(u) - SKEWED.ppf(u)) ** 2, 0, 1, points=[0.3, 0.5, 0.7], limit=400)
    assert wasserstein(TARGET.torch(), SKEWED.torch(), 2).item() == pytest.approx(math.sqrt(w2sq), rel=1e-5)
    assert wasserstein(TARGET.torch(), TARGET.torch(), 2).item() == 0.0


# ------------------------------------------------------------------ results the course relies on (FINDINGS.md)


def test_forward_kl_is_stationary_at_moment_matching():
    mu = torch.tensor(2.5, dtype=F64, requires_grad=True)
    sigma = torch.tensor(math.sqrt(57.25), dtype=F64, requires_grad=True)
    grads = torch.autograd.grad(kl_divergence(bimodal_target(), Normal(mu, sigma)), (mu, sigma))
    assert max(abs(g.item()) for g in grads) < 1e-9
    off = torch.autograd.grad(kl_divergence(bimodal_target(), Normal(mu, sigma * 0.9)), (mu,))[0]
    assert abs(off.item()) < 1e-9  # mean matching holds for any σ


def test_reverse_kl_at_a_mode_is_log_2():
    for m in (-5.0, 10.0):
        assert kl_divergence(normal(m, 1.0), bimodal_target()).item() == pytest.approx(LOG2, abs=1e-12)


def test_mse_and_cosine_optima_from_the_findings():
    target = bimodal_target()
    assert l2_distance_squared(target, normal(-5.0, 1.961459)).item() == pytest.approx(0.1036659, abs=5e-8)
    assert l2_distance_squared(target, normal(2.5, 10.233263)).item() == pytest.approx(0.1091401, abs=5e-8)
    assert cosine_similarity(target, normal(10.0, 1.0)).item() == pytest.approx(1 / math.sqrt(2), abs=1e-12)
    assert cosine_similarity(target, normal(2.5, 10.607021)).item() == pytest.approx(0.4772030, abs=5e-8)


KERNELS = {
    "kl": (_kl_grid, kl_divergence),
    "js": (_js_grid, js_divergence),
    "hellinger": (_hellinger_grid, hellinger),
    "tv": (_tv_grid, total_variation),
    "l1": (_l1_grid, l1_distance),
    "l2sq": (_l2sq_grid, l2_distance_squared),
    "cosine": (_cosine_grid, cosine_similarity),
    "alpha0.3": (lambda a, b, w: _alpha_grid(a, b, w, 0.3), lambda p, q, grid: alpha_divergence(p, q, 0.3, grid=grid)),
    "renyi2": (lambda a, b, w: _renyi_grid(a, b, w, 2.0), lambda p, q, grid: renyi_divergence(p, q, 2.0, grid=grid)),
}


@pytest.mark.parametrize("name", list(KERNELS))
def test_grid_kernels_take_one_target_against_a_batch_of_models(name):
    kernel, public = KERNELS[name]
    target = bimodal_target()
    grid = covering_grid(target, normal(0.0, 12.0))
    log_p = _log_density(target, grid.x)  # [N], computed once
    mus = torch.tensor([[-5.0, 2.5], [10.0, 0.0]], dtype=F64)
    sigmas = torch.tensor([[1.0, 7.0], [2.0, 3.0]], dtype=F64)
    log_q = Normal(mus[..., None], sigmas[..., None]).log_prob(grid.x)  # [2, 2, N]
    batched = kernel(log_p, log_q, grid.w)
    assert batched.shape == (2, 2)
    for i in range(2):
        for j in range(2):
            one = public(target, normal(mus[i, j], sigmas[i, j]), grid=grid).item()
            assert batched[i, j].item() == pytest.approx(one, rel=1e-12)


def test_w2_kernel_with_a_precomputed_target_u_grid():
    # how fitting evaluates W2 for many Normal models: u = F_P(x) and z = Φ⁻¹(u) once, then μ + σ z
    target = bimodal_target()
    grid = covering_grid(target, normal(0.0, 12.0))
    u, wu = _u_grid(target, grid)
    z = torch.special.ndtri(u)  # [N]
    mus, sigmas = torch.tensor([[-5.0], [2.5]], dtype=F64), torch.tensor([[1.0], [7.0]], dtype=F64)
    batched = _w2_grid(grid.x, mus + sigmas * z, wu)  # [2]
    for i in range(2):
        assert batched[i].item() == pytest.approx(wasserstein(target, normal(mus[i, 0], sigmas[i, 0]), 2).item(), rel=1e-12)


# ------------------------------------------------------------------ log space, limits, identities


def test_log_space_keeps_far_tails_finite():
    # exp-then-log underflows: q's density is exactly 0 at the grid points where p lives.
    p, q = normal(0.0, 1.0), normal(40.0, 1.0)
    grid = covering_grid(p, q)
    assert (q.log_prob(grid.x).exp() == 0).any()
    assert kl_divergence(p, q).item() == pytest.approx(40.0**2 / 2, rel=1e-11)  # p's 2e-12 tails lie off the grid
    assert js_divergence(p, q).item() == pytest.approx(LOG2, abs=1e-12)


def test_alpha_limits_are_the_two_kl_directions():
    p, q = bimodal_target(), normal(1.0, 4.0)
    forward, reverse = kl_divergence(p, q).item(), kl_divergence(q, p).item()
    for eps in (1e-4, 1e-7, 1e-11):  # 1e-11: no cancellation on either side (1 - (1 - α) is not α)
        tol = max(10 * eps, 1e-9)
        assert alpha_divergence(p, q, 1 - eps).item() == pytest.approx(forward, rel=tol)
        assert alpha_divergence(p, q, 1 + eps).item() == pytest.approx(forward, rel=tol)
        assert alpha_divergence(p, q, eps).item() == pytest.approx(reverse, rel=tol)
        assert renyi_divergence(p, q, 1 - eps).item() == pytest.approx(forward, rel=tol)
    assert alpha_divergence(p, q, 1.0).item() == pytest.approx(forward, rel=1e-12)
    assert alpha_divergence(p, q, 0.0).item() == pytest.approx(reverse, rel=1e-12)
    assert renyi_divergence(p, q, 1.0).item() == pytest.approx(forward, rel=1e-11)


def test_alpha_identities():
    p, q = normal(0.0, 1.0), bimodal_target()
    assert alpha_divergence(p, q, 0.5).item() == pytest.approx(4 * hellinger(p, q).item(), rel=1e-10)
    assert alpha_divergence(p, q, 0.2).item() == pytest.approx(alpha_divergence(q, p, 0.8).item(), rel=1e-12)
    h2 = hellinger(p, q).item()
    assert renyi_divergence(p, q, 0.5).item() == pytest.approx(-2 * math.log(1 - h2), rel=1e-10)
    orders = [0.1, 0.5, 0.9, 1.0]
    values = [renyi_divergence(p, q, a).item() for a in orders]
    assert values == sorted(values)  # non-decreasing in α
    assert renyi_divergence(p, q, 0.0).item() == pytest.approx(0.0, abs=1e-11)  # -log Q(supp p)


def test_symmetries_and_ranges():
    p, q = bimodal_target(), normal(1.0, 3.0)
    for f in (js_divergence, hellinger, total_variation, l1_distance, l2_distance_squared, cosine_similarity, wasserstein):
        assert f(p, q).item() == pytest.approx(f(q, p).item(), rel=1e-12)
    assert wasserstein(p, q, 2).item() == pytest.approx(wasserstein(q, p, 2).item(), rel=1e-9)
    assert l1_distance(p, q).item() == pytest.approx(2 * total_variation(p, q).item(), rel=1e-15)
    assert 0 <= hellinger(p, q).item() <= 1 and 0 <= total_variation(p, q).item() <= 1
    assert total_variation(p, q).item() <= math.sqrt(kl_divergence(p, q).item() / 2)  # Pinsker
    assert hellinger(p, q).item() <= total_variation(p, q).item() <= math.sqrt(2 * hellinger(p, q).item())
    assert wasserstein(p, q, 1).item() <= wasserstein(p, q, 2).item()
    for f in (kl_divergence, js_divergence, hellinger, total_variation, l2_distance_squared, wasserstein):
        assert f(q, q).item() == pytest.approx(0.0, abs=1e-12)
    assert cosine_similarity(q, q).item() == pytest.approx(1.0, rel=1e-14)


# ------------------------------------------------------------------ gradients


FIXED = Grid.uniform(-20.0, 25.0, 3001)
GRAD_MEASURES = [
    ("kl", kl_divergence),
    ("js", js_divergence),
    ("hellinger", hellinger),
    ("tv", total_variation),
    ("alpha0.5", lambda p, q, grid: alpha_divergence(p, q, 0.5, grid=grid)),
    ("alpha2", lambda p, q, grid: alpha_divergence(p, q, 2.0, grid=grid)),
    ("alpha-1", lambda p, q, grid: alpha_divergence(p, q, -1.0, grid=grid)),
    ("renyi0.5", lambda p, q, grid: renyi_divergence(p, q, 0.5, grid=grid)),
    ("renyi2", lambda p, q, grid: renyi_divergence(p, q, 2.0, grid=grid)),
    ("l2sq", l2_distance_squared),
    ("l1", l1_distance),
    ("cosine", cosine_similarity),
    ("w1", lambda p, q, grid: wasserstein(p, q, 1, grid=grid)),
    ("w2", lambda p, q, grid: wasserstein(p, q, 2, grid=grid)),
]


@pytest.mark.parametrize("name,f", GRAD_MEASURES, ids=[m[0] for m in GRAD_MEASURES])
def test_gradcheck_with_respect_to_normal_parameters(name, f):
    params = tuple(torch.tensor(v, dtype=F64, requires_grad=True) for v in (0.3, 1.1, 1.7, 1.6))

    def value(m1, s1, m2, s2):
        return f(Normal(m1, s1), Normal(m2, s2), grid=FIXED)

    assert torch.autograd.gradcheck(value, params)


@pytest.mark.parametrize("name,f", [GRAD_MEASURES[0], GRAD_MEASURES[4], GRAD_MEASURES[-1]], ids=["kl", "alpha0.5", "w2"])
def test_gradcheck_with_respect_to_mixture_parameters(name, f):
    w = torch.tensor([0.4, 0.6], dtype=F64, requires_grad=True)
    m = torch.tensor([-2.0, 3.0], dtype=F64, requires_grad=True)
    s = torch.tensor([1.0, 1.5], dtype=F64, requires_grad=True)

    def value(w, m, s, mu):
        return f(gaussian_mixture(w / w.sum(), m, s), Normal(mu, torch.tensor(2.0, dtype=F64)), grid=FIXED)

    assert torch.autograd.gradcheck(value, (w, m, s, torch.tensor(0.5, dtype=F64, requires_grad=True)))


def test_gradients_flow_on_the_default_grid_and_float32_parameters_work():
    mu = torch.tensor(1.0, dtype=torch.float32, requires_grad=True)
    value = kl_divergence(bimodal_target(), Normal(mu, torch.tensor(3.0)))
    value.backward()
    assert value.dtype == F64 and torch.isfinite(mu.grad)


# ------------------------------------------------------------------ disjoint supports: inf, never nan


def _uniform(a, b):
    return Uniform(torch.tensor(a, dtype=F64), torch.tensor(b, dtype=F64))


def test_disjoint_uniforms_give_inf_not_nan():
    p, q = _uniform(0.0, 1.0), _uniform(2.0, 3.0)
    assert kl_divergence(p, q).item() == math.inf and kl_divergence(q, p).item() == math.inf
    assert renyi_divergence(p, q, 0.5).item() == math.inf
    assert alpha_divergence(p, q, 2.0).item() == math.inf
    assert renyi_divergence(p, q, 2.0).item() == math.inf  # 0^2 · 0^-1 counts as 0 off p's support
    # finite answers on disjoint supports (the default grid has nodes either side of each jump)
    assert js_divergence(p, q).item() == pytest.approx(LOG2, rel=1e-3)
    assert hellinger(p, q).item() == pytest.approx(1.0, rel=1e-3)
    assert total_variation(p, q).item() == pytest.approx(1.0, rel=1e-3)
    assert alpha_divergence(p, q, 0.5).item() == pytest.approx(4.0, rel=1e-3)
    assert cosine_similarity(p, q).item() == 0.0
    assert wasserstein(p, q, 1).item() == pytest.approx(2.0, rel=1e-3)
    assert wasserstein(p, q, 2).item() == pytest.approx(2.0, rel=1e-3)
    # F_U is 0 below and 1 above its support, where torch's Uniform.cdf would raise
    w1_ref, _ = integrate.quad(lambda x: abs(min(max(x, 0.0), 1.0) - norm.cdf(x, 0.5, 1.0)), -15, 15, points=[0.0, 0.5, 1.0])
    assert wasserstein(p, normal(0.5, 1.0), 1).item() == pytest.approx(w1_ref, rel=1e-5)
    for f in OURS.values():
        assert not math.isnan(f(p, q).item())


DISJOINT_UNIFORMS = [((0.0, 1.0), (2.0, 3.0)), ((2.0, 3.0), (0.0, 1.0)), ((0.0, 1.0), (1.0, 2.0)), ((-4.0, -3.99), (0.5, 7.0))]


@pytest.mark.parametrize("a, b", DISJOINT_UNIFORMS)
def test_disjoint_uniforms_reach_the_bounds_exactly_and_never_exceed_them(a, b):
    # the trapezoidal rule across a jump errs by O(Δx): the 4001-node default grid gave 0.69323 and 1.000125
    p, q = _uniform(*a), _uniform(*b)
    for value, bound in ((js_divergence(p, q).item(), LOG2), (hellinger(p, q).item(), 1.0), (total_variation(p, q).item(), 1.0)):
        assert value <= bound
        assert value == pytest.approx(bound, abs=1e-9)


@settings(max_examples=40, deadline=None)
@given(
    start=st.floats(-5.0, 5.0),
    widths=st.tuples(st.floats(0.01, 5.0), st.floats(0.01, 5.0)),
    gap=st.floats(0.0, 3.0),
    swap=st.booleans(),
)
def test_disjoint_uniforms_never_exceed_the_bounds(start, widths, gap, swap):
    p, q = _uniform(start, start + widths[0]), _uniform(start + widths[0] + gap, start + widths[0] + gap + widths[1])
    p, q = (q, p) if swap else (p, q)
    assert 0.0 <= js_divergence(p, q).item() <= LOG2
    assert 0.0 <= hellinger(p, q).item() <= 1.0
    assert 0.0 <= total_variation(p, q).item() <= 1.0


def _uniform_closed_forms(a, b, c, d):
    """JS, H² and TV of U(a, b) and U(c, d) from the overlap length and the two heights."""
    overlap, hp, hq = max(0.0, min(b, d) - max(a, c)), 1 / (b - a), 1 / (d - c)
    only_p, only_q, hm = 1 - overlap * hp, 1 - overlap * hq, (hp + hq) / 2  # mass off the overlap; m's height on it
    js_ref = 0.5 * (only_p + only_q) * LOG2 + 0.5 * overlap * (hp * math.log(hp / hm) + hq * math.log(hq / hm))
    return js_ref, 1 - overlap * math.sqrt(hp * hq), 0.5 * (only_p + only_q + overlap * abs(hp - hq))


@pytest.mark.parametrize("a, b, c, d", [(0.0, 1.0, 0.5, 1.5), (0.0, 2.0, 0.5, 1.0), (-1.0, 1.0, -1.0, 3.0), (0.3, 0.7, 0.0, 5.0)])
def test_overlapping_uniforms_match_closed_forms(a, b, c, d):
    p, q = _uniform(a, b), _uniform(c, d)
    js_ref, h_ref, tv_ref = _uniform_closed_forms(a, b, c, d)
    assert js_divergence(p, q).item() == pytest.approx(js_ref, abs=1e-9)
    assert hellinger(p, q).item() == pytest.approx(h_ref, abs=1e-9)
    assert total_variation(p, q).item() == pytest.approx(tv_ref, abs=1e-9)


def test_support_mismatch_is_inf_in_one_direction_only():
    narrow, wide = _uniform(0.0, 1.0), _uniform(0.0, 2.0)
    assert kl_divergence(narrow, wide).item() == pytest.approx(LOG2, rel=1e-3)
    assert kl_divergence(wide, narrow).item() == math.inf
    assert kl_divergence(normal(0.5, 1.0), narrow).item() == math.inf
    assert renyi_divergence(narrow, wide, 0.0).item() == pytest.approx(LOG2, rel=1e-3)  # -log Q(supp p)
    assert renyi_divergence(wide, narrow, 0.0).item() == pytest.approx(0.0, abs=1e-3)
    assert renyi_divergence(narrow, _uniform(0.9, 10.0), 0.0).item() == pytest.approx(math.log(91), rel=1e-2)
    assert renyi_divergence(wide, narrow, 2.0).item() == math.inf


def test_densities_that_underflow_do_not_overflow_the_tilted_integrand():
    # p = N(0, 0.1) is subnormal (log p < -708) on some nodes of the default grid, where
    # (q/p)^0.99 overflows: the kernels form p^α q^(1-α) as one exp there
    mu = torch.tensor(0.0, dtype=F64, requires_grad=True)
    p, q = Normal(mu, torch.tensor(0.1, dtype=F64)), normal(0.0, 3.0)
    a = 0.01
    value = renyi_divergence(p, q, a)
    var_star = a * 9.0 + (1 - a) * 0.01  # closed form: log ∫ p^α q^(1-α) = (1-α) log σ_p + α log σ_q - ½ log σ*²
    log_aff = (1 - a) * math.log(0.1) + a * math.log(3.0) - 0.5 * math.log(var_star)
    assert value.item() == pytest.approx(log_aff / (a - 1), rel=1e-9)
    (grad,) = torch.autograd.grad(value, (mu,))
    assert torch.isfinite(grad)


def test_kernels_take_minus_inf_log_densities_without_nan_values_or_gradients():
    inf = math.inf
    log_p = torch.tensor([-inf, math.log(0.5), math.log(0.5), -inf, -inf], dtype=F64, requires_grad=True)
    log_q = torch.tensor([-inf, -inf, math.log(0.5), math.log(0.5), -inf], dtype=F64, requires_grad=True)
    w = torch.ones(5, dtype=F64)
    assert _kl_grid(log_p, log_q, w).item() == math.inf
    finite = [_js_grid, _hellinger_grid, _tv_grid, lambda a, b, w: _alpha_grid(a, b, w, 0.3), lambda a, b, w: _renyi_grid(a, b, w, 0.5)]
    expected = [0.5 * LOG2, 1 - 0.5, 0.5, (1 - 0.5) / (0.3 * 0.7), -2 * math.log(0.5)]
    for kernel, value in zip(finite, expected):
        out = kernel(log_p, log_q, w)
        assert out.item() == pytest.approx(value, rel=1e-14)
        grads = torch.autograd.grad(out, (log_p, log_q))
        assert not any(torch.isnan(g).any() for g in grads), kernel


def test_positive_measure_forms_for_an_unnormalised_target():
    # the seed's target, the SUM of the two densities, integrates to 2: the α kernel uses Amari's form
    # for positive measures, so α = ½ is still 4 H² (H² = ½ ∫ (√p - √q)²) and α → 1 the generalised KL
    grid = Grid.uniform(-20.0, 25.0, 4001)
    log_p = _log_density(bimodal_target(), grid.x) + LOG2  # [N], ∫ p = 2
    log_q = Normal(torch.tensor(1.0, dtype=F64), torch.tensor(4.0, dtype=F64)).log_prob(grid.x)
    h2 = _hellinger_grid(log_p, log_q, grid.w).item()
    assert h2 == pytest.approx(0.5 * grid.integrate(((0.5 * log_p).exp() - (0.5 * log_q).exp()) ** 2).item(), rel=1e-14)
    assert _alpha_grid(log_p, log_q, grid.w, 0.5).item() == pytest.approx(4 * h2, rel=1e-12)
    generalised_kl = (_kl_grid(log_p, log_q, grid.w) + grid.integrate(log_q.exp() - log_p.exp())).item()
    assert _alpha_grid(log_p, log_q, grid.w, 1 - 1e-9).item() == pytest.approx(generalised_kl, rel=1e-8)
    assert _alpha_grid(log_p, log_q, grid.w, 1.0).item() == pytest.approx(generalised_kl, rel=1e-14)
    reverse_generalised = (_kl_grid(log_q, log_p, grid.w) + grid.integrate(log_p.exp() - log_q.exp())).item()
    assert _alpha_grid(log_p, log_q, grid.w, 0.0).item() == pytest.approx(reverse_generalised, rel=1e-14)
    # Rényi normalises p on the grid: scaling p does not change it, near α = 1 or far from it
    for a in (0.3, 1 - 1e-9, 1.0, 2.0):
        assert _renyi_grid(log_p, log_q, grid.w, a).item() == pytest.approx(_renyi_grid(log_p - LOG2, log_q, grid.w, a).item(), rel=1e-9)


def test_disjoint_support_gradients_are_not_nan():
    low = torch.tensor(2.0, dtype=F64, requires_grad=True)
    q = Uniform(low, torch.tensor(3.0, dtype=F64))
    (js_divergence(_uniform(0.0, 1.0), q) + hellinger(_uniform(0.0, 1.0), q)).backward()
    assert not torch.isnan(low.grad)


# ------------------------------------------------------------------ grids


def test_grid_rules_and_constructors():
    line = Grid.uniform(0.0, 1.0, 11)
    assert line.integrate(1 + line.x).item() == pytest.approx(1.5, rel=1e-15)  # trapezoid is exact for lines
    trap = Grid.uniform(-12.0, 12.0, 801)
    assert trap.integrate(torch.exp(-trap.x**2 / 2)).item() == pytest.approx(math.sqrt(2 * math.pi), rel=1e-14)
    simpson = Grid.uniform(0.0, 2.0, 11, rule="simpson")
    assert simpson.integrate(simpson.x**3).item() == pytest.approx(4.0, rel=1e-14)
    assert simpson.w.sum().item() == pytest.approx(2.0, rel=1e-15)
    points = torch.tensor([0.0, 0.5, 2.0, 3.0], dtype=F64)
    assert Grid.from_points(points).integrate(points).item() == pytest.approx(4.5)  # exact for linear f
    seed = Grid.from_points(seed_grid().double())
    assert len(seed.x) == 1000 and seed.w.sum().item() == pytest.approx(30.0, rel=1e-6)


def test_covering_grid_covers_every_distribution_and_component():
    a, b = normal(-3.0, 0.5), gaussian_mixture([0.2, 0.8], [0.0, 20.0], [1.0, 3.0])
    grid = covering_grid(a, b, n=101)
    assert len(grid.x) == 101 and grid.x.dtype == F64
    assert grid.x[0].item() == pytest.approx(0.0 - 1.0 * norm.isf(1e-12), rel=1e-9)  # the N(0, 1) component
    assert grid.x[-1].item() == pytest.approx(20.0 + 3.0 * norm.isf(1e-12), rel=1e-6)  # 1 - 1e-12 is inexact
    uniform_grid = covering_grid(_uniform(0.0, 1.0), n=11)
    assert uniform_grid.x[0].item() == pytest.approx(0.0, abs=1e-11) and uniform_grid.x[-1].item() == pytest.approx(1.0)
    loose = covering_grid(normal(0.0, 1.0), tail=1e-3)
    assert loose.x[-1].item() == pytest.approx(norm.isf(1e-3), rel=1e-9)
    gamma = Gamma(torch.tensor(3.0, dtype=F64), torch.tensor(1.0, dtype=F64))  # no icdf in torch
    gamma_grid = covering_grid(gamma)
    assert gamma.cdf(gamma_grid.x[0]).item() == pytest.approx(1e-12, rel=1e-6)
    assert 1 - gamma.cdf(gamma_grid.x[-1]).item() == pytest.approx(1e-12, rel=1e-3)
