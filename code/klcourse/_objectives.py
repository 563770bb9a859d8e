"""The objectives a Normal model Q = N(mu, sigma²) is fitted by, and how each is evaluated for a target P.

Used by ``fit_gaussian``, ``objective_value``, ``landscape``, ``local_minima`` and ``basins``.
P is the target and Q the model: "forward" KL is KL(P ‖ Q) and "reverse" KL is KL(Q ‖ P).

Two ways to evaluate an objective for a batch of models, tried in this order:

1. a closed form, looked up in the registry of ``_closed_forms`` by the type pair (P, Q)
   (``closed_form``): MSE, cosine and forward KL for a Normal or a mixture of Normals, W2
   for both, and reverse KL, squared Hellinger and α for a Normal target; forward KL also for
   any continuous target whose mean, variance and entropy torch knows (Laplace, uniform, ...).
   MSE, cosine and forward KL also give the flow their exact gradient and Hessian in closed
   form, looked up the same way (``_closed_derivatives``), in tensors for a batch and in Python
   floats for one model; the others are differenced;
2. otherwise a grid kernel of ``_continuous`` on log p tabulated once on a fixed grid, applied to
   a batch of model log-densities ``[B, N]`` (a target given as density values on a grid
   always takes this way, as does any objective with no closed form for its target). On a grid,
   a pointwise objective (Σ w φ(log p, log q)) also gives the flow its exact gradient and Hessian
   in one pass (``_pointwise_derivatives``); forward KL also for one model in floats, from the
   tabulated target's mass, mean and variance (``_forward_kl_moments``).
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Callable

import numpy as np
import torch
from torch.distributions import Distribution, Laplace, MixtureSameFamily, Normal

from ._closed_forms import _closed_form_derivatives, _entropy, _moment_cross_entropy, closed_form
from ._continuous import (
    LOG2,
    Grid,
    _alpha_grid,
    _bounds,
    _cdf,
    _cosine_grid,
    _hellinger_grid,
    _js_grid,
    _kl_grid,
    _l1_grid,
    _l2sq_grid,
    _log_density,
    _u_grid,
    _w1_grid,
    _w2_grid,
)
from ._quadrature import gauss_legendre
from ._validate import check_real_scalar, check_scalar_distribution

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
# The default grid leaves this much mass of P and of each model outside on each side, so its
# truncation error stays below the 1e-10 the values are checked to; _Z_TAIL = Φ⁻¹(1 - _TAIL_MASS).
_TAIL_MASS = 1e-12
_Z_TAIL = 7.034484
# Grid spacing as a fraction of the narrowest scale: the trapezoidal rule on a Gaussian of width
# s at spacing s/3 errs by exp(-2π²·9) ≈ 1e-77 (Trefethen & Weideman, SIAM Review 56, 2014);
# a non-smooth objective (L1, W1) has a kink per node and needs ten times finer spacing.
_SPACING_SMOOTH = 1 / 3
_SPACING_KINKED = 1 / 30
_MIN_NODES, _MAX_NODES = 401, 20001  # a default grid never coarser than 401 nodes nor larger than 20,001
# Where P's density has a cusp or an edge (Laplace, uniform, exponential, ...), the trapezoidal rule
# errs by O(h²) or O(h) (1-4% on the default grid); the default grid is then made of Gauss-Legendre
# panels of _PANEL_NODES nodes, each _PANEL_SPACINGS grid spacings wide (twice the nodes of the
# trapezoid's), ending on every such point: each panel's integrand is smooth, and the rule on it
# converges geometrically.
_PANEL_NODES, _PANEL_SPACINGS = 16, 8
_BEND_PROBE_NODES = 20001  # nodes of the probe for log p's sharpest bend: resolves a bend 1/2000 of P's range

# ----------------------------------------------------------------------------- objectives


@dataclass(frozen=True)
class Objective:
    """One entry of :data:`OBJECTIVES`: what is minimised when Q = N(mu, sigma²) is fitted to P.

    Attributes
    ----------
    name : str
        The key, e.g. ``"forward_kl"``.
    formula : str
        The natural value in symbols, P the target and Q the model, e.g. ``"KL(P ‖ Q)"``.
    maximised : bool
        True for a similarity (``"cosine"``): the fit minimises ``loss = -value``.
    options : tuple of str
        Keyword arguments the objective takes (``("alpha",)``, ``("order",)`` or ``()``).
    sharp_log_p : bool
        True where the integrand weighs log p by the model, not by p (``"reverse_kl"``,
        ``"alpha"``): there log p's sharpest bend, between the modes of a mixture, must be
        resolved by the grid, not only its components' widths.
    pointwise : bool
        True where the grid value is a sum Σ w φ(log p, log q) over the nodes with φ smooth (every
        objective here but L1, cosine and Wasserstein): the gradient and Hessian in θ then follow
        exactly from φ's first two derivatives in log q, in one pass over the grid
        (``_pointwise_derivatives``), instead of from differences.
    smooth : bool
        False for ``"l1"``: on a grid, Σ w |p - q| has a kink wherever p = q at a node, so
        its gradient jumps by O(Δx) and cannot fall below a small ``tol`` (W1, ``"wasserstein"``
        with ``order=1``, is non-smooth in the same way).

    Examples
    --------
    >>> from klcourse import OBJECTIVES
    >>> OBJECTIVES["reverse_kl"].formula, OBJECTIVES["cosine"].maximised
    ('KL(Q ‖ P)', True)
    >>> print(sorted(OBJECTIVES) == sorted(["forward_kl", "reverse_kl", "js", "hellinger", "alpha",
    ...                                     "wasserstein", "mse", "l1", "cosine"]))
    True
    """

    name: str
    formula: str
    maximised: bool
    options: tuple
    sharp_log_p: bool
    pointwise: bool
    smooth: bool
    build: Callable = field(repr=False)  # (table, **options) → value(mu [B,1], sigma [B,1], log_sigma [B,1]) → [B]
    kernel: Callable | None = field(default=None, repr=False)  # pointwise: (log_p, log_q [B,N], w, **options) → [B]
    node_derivatives: Callable | None = field(default=None, repr=False)  # pointwise: → (value [B], w φ' [B,N], w φ'' [B,N])
    closed: Callable | None = field(default=None, repr=False)  # (target, **options) → (Normal Q [B] → [B]), or raises
    # (target, dtype, device) → (derivatives, the same for one model in floats) of the closed form, or raises
    closed_derivatives: Callable | None = field(default=None, repr=False)
    # (table) → the grid value's derivatives for one model in floats, where a few sums over the grid give them
    grid_scalar: Callable | None = field(default=None, repr=False)


_REGISTRY: dict = {}

#: The objectives ``fit_gaussian``, ``objective_value`` and ``landscape`` accept, by name.
OBJECTIVES = MappingProxyType(_REGISTRY)


def _register(name, formula, *, maximised=False, options=(), sharp_log_p=False, smooth=True, closed=None,
              closed_derivatives=None):
    """Register a builder of batched objective values under ``name`` (dispatch by name, not if-chains).

    ``closed(target, **options)`` returns the objective as a function of a batched Normal Q
    through ``closed_form``; it raises ``ValueError`` or ``NotImplementedError`` where the
    registry has no rule for the target, and the grid builder is used instead.
    ``closed_derivatives(target, dtype, device)``, where the closed form has them, returns its
    exact ``derivatives`` with the contract of ``_pointwise_derivatives`` and the same for one model
    in Python floats (``_closed_forms._both_ways``); it raises ``NotImplementedError`` for a target
    it does not know, and the flow differences the closed form.
    """

    def decorate(build):
        _REGISTRY[name] = Objective(name, formula, maximised, tuple(options), sharp_log_p, pointwise=False, smooth=smooth,
                                    build=build, closed=closed, closed_derivatives=closed_derivatives)
        return build

    return decorate


def _log_normal(x, mu, sigma, log_sigma):
    """log N(x; mu, sigma²) = -z²/2 - log sigma - log √(2π), z = (x - mu)/sigma: [B,1] params, [N] x → [B, N]."""
    z = (x - mu) / sigma  # [B, N]
    return -0.5 * z * z - log_sigma - _LOG_SQRT_2PI


def _density_objective(kernel):
    """Builder for an objective that is a grid kernel of (log p, log q)."""

    def build(table, **options):
        def value(mu, sigma, log_sigma):
            return kernel(table.log_p, _log_normal(table.x, mu, sigma, log_sigma), table.w, **options)  # [B]

        return value

    return build


def _autograd_pointwise(kernel, log_p, ell, w, options, second=True):
    """Σ w φ [B] and w φ', w φ'' [B, N] in ℓ = log q by autograd (φ acts node by node, so its Hessian in ℓ is diagonal)."""
    with torch.enable_grad():
        ell = ell.detach().requires_grad_(True)
        value = kernel(log_p, ell, w, **options)  # [B]
        (d1,) = torch.autograd.grad(value.sum(), ell, create_graph=second)
        d2 = torch.autograd.grad(d1.sum(), ell, allow_unused=True)[0] if second and d1.requires_grad else None
    d2 = torch.zeros_like(d1) if second and d2 is None else d2  # φ linear in ℓ (forward KL): φ'' = 0
    # where q underflows to 0 the exact φ' and φ'' are their limits as q → 0 (0 for every term
    # that depends on ℓ non-linearly: each carries a power of q), but autograd's second pass
    # through exp can give 0·inf = NaN there
    lost = ell.detach().exp() == 0  # [B, N]
    return value.detach(), torch.where(lost & d1.isnan(), 0.0, d1.detach()), d2 if not second else torch.where(lost & d2.isnan(), 0.0, d2)


def _limit_zero(x):
    """x with NaN set to 0, infinities kept: a product 0·inf of a density that underflows and a log ratio
    that is infinite, whose limit is 0. (``torch.where(q > 0, ..., 0)`` gives the same, but on the CPU
    it costs ten times as much as ``nan_to_num``: a basin map spent a fifth of its time in it.)"""
    return torch.nan_to_num(x, nan=0.0, posinf=math.inf, neginf=-math.inf)


def _js_pointwise(log_p, ell, w, second=True):
    """JS's Σ w φ [B] with w φ', w φ'' [B, N] in closed form: with m = (p + q)/2 and r = q/(p + q),
    φ' = ½ q (ℓ - log m) and φ'' = ½ q (ℓ - log m + 1 - r) (autograd's second pass through
    logaddexp gives NaN where one density underflows). The value is ``_js_grid``'s, term for term."""
    log_m = torch.logaddexp(log_p, ell) - LOG2  # [B, N]; ℓ is finite, so no (-inf, -inf) pair
    q, p = ell.exp(), log_p.exp()
    gap = ell - log_m  # log(q/m)
    q_term = _limit_zero(q * gap)
    value = 0.5 * ((_limit_zero(p * (log_p - log_m)) + q_term) * w).sum(-1)
    d1 = q_term * (0.5 * w)
    if not second:
        return value, d1, None
    r = (gap - LOG2).exp()  # q/(p + q)
    return value, d1, d1 + _limit_zero((1 - r) * q) * (0.5 * w)


# φ' and φ'' of the other pointwise objectives in closed form (weights included), in ℓ = log q with
# q = e^ℓ; each is the exact limit where a density underflows, and none needs autograd's two passes.
# Each value is its grid kernel's, term for term, from the same intermediate arrays.


def _forward_kl_pointwise(log_p, ell, w, second=True):
    """KL(P ‖ Q): φ = w p (log p - ℓ) is linear in ℓ, so φ' = -w p and φ'' = 0."""
    return _kl_grid(log_p, ell, w), -w * log_p.exp(), torch.zeros_like(ell) if second else None


def _reverse_kl_pointwise(log_p, ell, w, second=True):
    """KL(Q ‖ P): φ = w q (ℓ - log p), φ' = w q (ℓ - log p + 1), φ'' = w q (ℓ - log p + 2); 0 where q underflows."""
    q = ell.exp()
    q_term = _limit_zero(q * (ell - log_p))  # inf where p = 0 < q: so is the value
    d1 = (q_term + q) * w
    return (q_term * w).sum(-1), d1, d1 + q * w if second else None


def _hellinger_pointwise(log_p, ell, w, second=True):
    """He²: φ = ½ w (√p - √q)², φ' = ½ w (q - √(pq)), φ'' = ½ w (q - ½√(pq))."""
    root_p, root_q = (0.5 * log_p).exp(), (0.5 * ell).exp()
    value = 0.5 * ((root_p - root_q) ** 2 * w).sum(-1)
    q, root, half_w = root_q * root_q, root_p * root_q, 0.5 * w
    return value, half_w * (q - root), half_w * (q - 0.5 * root) if second else None


def _mse_pointwise(log_p, ell, w, second=True):
    """∫(p - q)²: φ = w (p - q)², φ' = 2 w q (q - p), φ'' = 2 w q (2q - p)."""
    p, q = log_p.exp(), ell.exp()
    return _l2sq_grid(log_p, ell, w), 2 * w * q * (q - p), 2 * w * q * (2 * q - p) if second else None


def _alpha_pointwise(log_p, ell, w, second=True, *, alpha):
    """D_α(P ‖ Q): with t = p^α q^(1-α), φ' = w (q - t)/α and φ'' = φ' + w t (at α = 0, the limit w q (ℓ - log p)).

    q - t = -q·expm1(α (log p - ℓ)) without cancellation where |α (log p - ℓ)| <= 1 (small α, or p
    near q); t from logs elsewhere, so that it neither overflows nor vanishes where q underflows.
    """
    t = torch.where(log_p > -math.inf, (alpha * log_p + (1 - alpha) * ell).exp(), 0.0 if alpha > 0 else ell.exp())
    if alpha == 0:
        q = ell.exp()
        d1 = torch.where(q > 0, q * (ell - log_p), 0.0)
    else:
        ar = alpha * torch.where(log_p > -math.inf, log_p - ell, 0.0)
        d1 = torch.where((ar.abs() <= 1) & (log_p > -math.inf), -ell.exp() * torch.expm1(ar), ell.exp() - t) / alpha
    return _alpha_grid(log_p, ell, w, alpha), w * d1, w * (d1 + t) if second else None


def _pointwise_derivatives(spec, table, options):
    """Value [B], gradient [B, 2] and Hessian (h00, h01, h11) [B, 3] in θ of Σ w φ(log p, log q), exactly, in one pass.

    With ℓ = log q at each node, ∂L/∂θ = Σ φ' ∂ℓ/∂θ and ∂²L/∂θ² = Σ (φ'' ∂ℓ/∂θ ∂ℓ/∂θᵀ + φ' ∂²ℓ/∂θ²),
    where φ' and φ'' (weights included) come from the objective's own formulas where it has them
    (JS), else from autograd on the kernel (``_autograd_pointwise``). For z = (x - mu)/sigma,
    ℓ = -z²/2 - log sigma - log √(2π) has ∂ℓ/∂mu = z/sigma, and in θ = (mu, log sigma)
    ∂ℓ/∂θ₁ = z² - 1, ∂²ℓ/∂mu∂θ₁ = -2z/sigma, ∂²ℓ/∂θ₁² = -2z²; in θ = (mu, sigma)
    ∂ℓ/∂sigma = (z² - 1)/sigma, ∂²ℓ/∂mu∂sigma = -2z/sigma², ∂²ℓ/∂sigma² = (1 - 3z²)/sigma²;
    ∂²ℓ/∂mu² = -1/sigma² in both. So every sum is a moment s_k = Σ φ' zᵏ or t_k = Σ φ'' zᵏ:
    in (mu, log sigma) g = (s₁/σ, s₂ - s₀), H = ((t₂ - s₀)/σ², (t₃ - t₁ - 2s₁)/σ, t₄ - 2t₂ + t₀ - 2s₂);
    in (mu, sigma) g = (s₁, s₂ - s₀)/σ, H = (t₂ - s₀, t₃ - t₁ - 2s₁, t₄ - 2t₂ + t₀ + s₀ - 3s₂)/σ².
    """
    node_derivatives = spec.node_derivatives or (
        lambda log_p, ell, w, second, **o: _autograd_pointwise(spec.kernel, log_p, ell, w, o, second)
    )

    def derivatives(mu, sigma, log_sigma, log, hessian=True):
        z = (table.x - mu) / sigma  # [B, N]
        zz = z * z
        ell = -0.5 * zz - log_sigma - _LOG_SQRT_2PI
        value, d1, d2 = node_derivatives(table.log_p, ell, table.w, second=hessian, **options)
        # the moments take 6 products of [B, N] arrays; the chain rule term by term took 17
        d1z = d1 * z
        s0, s1, s2 = d1.sum(-1), d1z.sum(-1), (d1z * z).sum(-1)  # [B] each
        sg = sigma[:, 0]
        grad = torch.stack([s1 / sg, s2 - s0 if log else (s2 - s0) / sg], -1)
        if not hessian:
            return value.detach(), grad, None
        d2z = d2 * z
        d2zz = d2z * z
        t0, t1, t2, t3, t4 = d2.sum(-1), d2z.sum(-1), d2zz.sum(-1), (d2zz * z).sum(-1), (d2zz * zz).sum(-1)
        h00 = (t2 - s0) / (sg * sg)
        if log:
            hess = torch.stack([h00, (t3 - t1 - 2 * s1) / sg, t4 - 2 * t2 + t0 - 2 * s2], -1)
        else:
            hess = torch.stack([h00, (t3 - t1 - 2 * s1) / (sg * sg), (t4 - 2 * t2 + t0 + s0 - 3 * s2) / (sg * sg)], -1)
        return value.detach(), grad, hess

    return derivatives


def _register_pointwise(name, formula, kernel, node_derivatives=None, grid_scalar=None, **kw):
    """Register an objective whose grid value is Σ w φ(log p, log q), ``kernel(log_p, log_q, w, **options)`` → [B].

    ``node_derivatives(log_p, log_q, w, second, **options)`` → (value, w φ', w φ'' or None unless
    ``second``), if given, replaces autograd (``_autograd_pointwise``) for the flow's derivatives.
    ``grid_scalar(table)``, if given, returns the same derivatives for one model in floats
    (``_Evaluator.scalar``), from sums over the grid made once.
    """
    _register(name, formula, **kw)(_density_objective(kernel))
    _REGISTRY[name] = replace(_REGISTRY[name], pointwise=True, kernel=kernel, node_derivatives=node_derivatives,
                              grid_scalar=grid_scalar)


def _measure(name, swap=False):
    """The closed form of measure ``name`` between P and Q (or Q and P)."""

    def closed(target, **options):
        if swap:
            return lambda q: closed_form(name, q, target, **options)
        return lambda q: closed_form(name, target, q, **options)

    return closed


def _closed_forward_kl(target):
    """KL(P ‖ Q) = H(P, Q) - h(P): the cross-entropy in closed form, h(P) once per target."""
    entropy = _entropy(target)
    return lambda q: closed_form("cross_entropy", target, q) - entropy


def _measure_derivatives(name):
    """The exact (derivatives, scalar) of measure ``name``'s closed form between P and a Normal Q."""
    return lambda target, dtype, device: _closed_form_derivatives(name, target, dtype, device)


def _closed_forward_kl_derivatives(target, dtype, device):
    """KL(P ‖ Q)'s derivatives: the cross-entropy's, its value less h(P) (tensors and floats)."""
    entropy = _entropy(target)

    def less_entropy(cross_entropy):
        def derivatives(mu, sigma, log_sigma, log, hessian=True):
            value, grad, hess = cross_entropy(mu, sigma, log_sigma, log, hessian)
            return value - entropy, grad, hess

        return derivatives

    return tuple(less_entropy(d) for d in _closed_form_derivatives("cross_entropy", target, dtype, device))


def _forward_kl_moments(table):
    """Forward KL on a grid for one model in floats: log q is quadratic in x, so Σ w p (log p - log q) is exactly
    Σ w p log p plus the cross-entropy of P's mass, mean and variance on the grid (``_moment_cross_entropy``)."""
    x, w, log_p = (t.detach().double().cpu() for t in (table.x, table.w, table.log_p))
    wp = w * log_p.exp()
    mass = wp.sum().item()
    if not 0 < mass < math.inf:  # no mass on the grid: the tensor path and its checks handle it
        return None
    mean = (wp * x).sum().item() / mass
    variance = (wp * (x - mean) ** 2).sum().item() / mass
    return _moment_cross_entropy(mean, variance, mass, _kl_grid(log_p, torch.zeros_like(log_p), w).item())[1]


def _closed_wasserstein(target, order):
    """W2 in closed form (W1 has none here)."""
    if order != 2:
        raise NotImplementedError("W1 has no closed form registered")
    return lambda q: closed_form("wasserstein2", target, q)


_register_pointwise("forward_kl", "KL(P ‖ Q)", _kl_grid, _forward_kl_pointwise, _forward_kl_moments,
                    closed=_closed_forward_kl, closed_derivatives=_closed_forward_kl_derivatives)
_register_pointwise("reverse_kl", "KL(Q ‖ P)", lambda log_p, log_q, w: _kl_grid(log_q, log_p, w), _reverse_kl_pointwise,
                    sharp_log_p=True, closed=_measure("kl", swap=True))
_register_pointwise("js", "JS(P, Q)", _js_grid, _js_pointwise)
_register_pointwise("hellinger", "He²(P, Q)", _hellinger_grid, _hellinger_pointwise, closed=_measure("hellinger"))
_register_pointwise("mse", "∫ (p - q)² dx", _l2sq_grid, _mse_pointwise, closed=_measure("l2_distance_squared"),
                    closed_derivatives=_measure_derivatives("l2_distance_squared"))
_register("l1", "∫ |p - q| dx", smooth=False)(_density_objective(_l1_grid))
_register("cosine", "∫ pq / √(∫p² ∫q²)", maximised=True, closed=_measure("cosine_similarity"),
          closed_derivatives=_measure_derivatives("cosine_similarity"))(_density_objective(_cosine_grid))
# Amari α-divergence D_α(P ‖ Q): α → 1 is KL(P ‖ Q), α → 0 is KL(Q ‖ P)
_register_pointwise("alpha", "D_α(P ‖ Q)", _alpha_grid, _alpha_pointwise, options=("alpha",), sharp_log_p=True,
                    closed=_measure("alpha"))


@_register("wasserstein", "W_order(P, Q)", options=("order",), closed=_closed_wasserstein)
def _build_wasserstein(table, order):
    """W1 = ∫ |F_p - F_q| dx on the x-grid; W2 on the x-grid too (see ``_w2_in_x``)."""
    if order == 1:
        cdf_p = _cdf(table.dist, table.x)  # [N]: 0 below and 1 above a bounded support

        def value(mu, sigma, log_sigma):
            return _w1_grid(cdf_p, torch.special.ndtr((table.x - mu) / sigma), table.w)

        return value
    return _w2_in_x(table)


def _w2_in_x(table):
    """W2 = (∫ (x - mu - sigma z(x))² p(x) dx)^½, z = Φ⁻¹(F_p(x)): the monotone map of ``_w2_transport``, smooth in x.

    A mixture's quantile function F_p⁻¹ jumps across the gap between its modes, so a u-grid
    quadrature of (F_p⁻¹(u) - mu - sigma Φ⁻¹(u))² errs by O(Δu) there; in x the integrand is smooth.
    """
    dist = table.dist
    x = table.x.detach().to(_device_of(dist), torch.float64)
    with torch.no_grad():
        u, wp = _u_grid(dist, Grid(x, table.w.detach().to(x)))  # F_p(x), p(x) w: [N]
        z = torch.special.ndtri(u)  # [N]; float64 before any cast: Φ⁻¹ near u = 1 needs it
    z, wp = z.to(table.x), wp.to(table.x)

    def value(mu, sigma, log_sigma):
        return _w2_grid(table.x, mu + sigma * z, wp)  # model quantile at F_p(x): [B, N]

    return value


# ----------------------------------------------------------------------------- the target on a grid


@dataclass(frozen=True)
class _Table:
    """The target tabulated once: nodes x [N], weights w [N], log p [N], and the distribution (or None)."""

    x: torch.Tensor
    w: torch.Tensor
    log_p: torch.Tensor
    dist: Distribution | None


def _smallest_scale(dist):
    """The narrowest standard deviation in the target (a mixture's narrowest component)."""
    if isinstance(dist, MixtureSameFamily):
        return _smallest_scale_of(dist.component_distribution)
    return _smallest_scale_of(dist)


def _smallest_scale_of(dist):
    """min stddev of a (batched) distribution, or None if torch does not implement it."""
    try:
        return dist.stddev.detach().min().item()
    except NotImplementedError:
        return None


def _is_smooth(spec, options):
    """Whether the objective is differentiable on a grid (W1 is not, W2 is)."""
    return spec.smooth and options.get("order") != 1


_LOG_P_WIDTHS: dict = {}  # _log_p_width's results by (target's parameters, range)


def _log_p_width(dist, lo, hi):
    """Narrowest feature of log p: 1/sqrt(max |(log p)''|) on a fine grid (σ for a Normal; σ²/separation between two modes).

    Remembered per target for a Normal or a mixture of Normals (keyed by its parameters' values,
    dtype and device), so that fitting one P from many starts probes log p once, not once per fit.
    """
    key = None
    comps = dist.component_distribution if isinstance(dist, MixtureSameFamily) else dist
    if isinstance(comps, Normal):
        params = (comps.loc, comps.scale) + ((dist.mixture_distribution.logits,) if comps is not dist else ())
        key = (type(dist), type(comps), str(comps.loc.dtype), str(comps.loc.device), lo, hi) + tuple(
            tuple(t.detach().flatten().tolist()) for t in params
        )
        if key in _LOG_P_WIDTHS:
            return _LOG_P_WIDTHS[key]
    x = torch.linspace(lo, hi, _BEND_PROBE_NODES, dtype=torch.float64)
    with torch.no_grad():
        log_p = _log_density(dist, x.to(_device_of(dist))).cpu().double()
    bend = (log_p[2:] - 2 * log_p[1:-1] + log_p[:-2]).abs() / (x[1] - x[0]).item() ** 2  # [N-2]
    bend = bend[torch.isfinite(bend)]
    width = 1.0 / math.sqrt(bend.max().item()) if bend.numel() and bend.max().item() > 0 else None
    if key is not None:
        if len(_LOG_P_WIDTHS) >= 256:  # a bound, for a long session that fits many different targets
            _LOG_P_WIDTHS.pop(next(iter(_LOG_P_WIDTHS)))
        _LOG_P_WIDTHS[key] = width
    return width


def _default_grid(dist, models, smooth=True, sharp_log_p=False):
    """Trapezoidal grid covering P, the models N(mu, σ²) and N(mean_P, (1.5 sd_P)²), spacing a third of the narrowest scale.

    Each Normal is covered up to 1e-12 of its mass per tail; a non-smooth objective gets a
    ten times finer spacing (a thirtieth of the narrowest scale). The trapezoidal rule on Gaussians of width s with spacing s/3 errs by about
    exp(-2π²·9) ≈ 1e-77 (Trefethen & Weideman, SIAM Review 56, 2014): the grid's ends, not its
    spacing, limit the accuracy. With ``sharp_log_p`` the scales include the narrowest bend of
    log p (1/15 between the modes of the course's target), at most 20,001 nodes.
    """
    models = list(models)
    try:
        mean, sd = dist.mean.item(), dist.stddev.item()
    except NotImplementedError:
        mean = sd = math.nan
    if math.isfinite(mean) and math.isfinite(sd):
        models.append((mean, 1.5 * sd))
    lo, hi = _bounds(dist, _TAIL_MASS)
    scales = [_log_p_width(dist, lo, hi) if sharp_log_p else _smallest_scale(dist)]
    lo = min([lo] + [m - _Z_TAIL * s for m, s in models])
    hi = max([hi] + [m + _Z_TAIL * s for m, s in models])
    scales = [s for s in scales + [s for _, s in models] if s is not None and s > 0]
    spacing = min(scales) * (_SPACING_SMOOTH if smooth else _SPACING_KINKED)
    n = math.ceil((hi - lo) / spacing) + 1
    if (hi - lo) / (_MAX_NODES - 1) > min(scales):  # even capped, the spacing would not resolve the narrowest scale
        raise ValueError(
            f"cannot choose a default grid for {type(dist).__name__}: covering all but {_TAIL_MASS:g} of its mass needs "
            f"[{lo:.3g}, {hi:.3g}], too wide for spacing {min(scales):.3g} with {_MAX_NODES} nodes (heavy tails?); "
            "pass grid=Grid.uniform(lo, hi, n) and read the value as the divergence restricted to that range"
        )
    breaks = [b for b in _breakpoints(dist) if lo <= b <= hi]
    if breaks:  # p has a cusp or an edge there (or at an end): Gauss-Legendre panels that end on it (see _PANEL_SPACINGS)
        edges = sorted({lo, hi, *breaks})
        width = max(_PANEL_SPACINGS * spacing, (hi - lo) * _PANEL_NODES / _MAX_NODES)  # about _MAX_NODES nodes at most
        points = [a + (b - a) * k / m for a, b in zip(edges, edges[1:]) for m in [math.ceil((b - a) / width)] for k in range(m)] + [hi]
        x, w = gauss_legendre(torch.tensor(points, dtype=torch.float64), nodes=_PANEL_NODES)
        return Grid(x, w)
    return Grid.uniform(lo, hi, min(max(n, _MIN_NODES), _MAX_NODES))


def _breakpoints(dist):
    """Where P's density is not smooth: the finite ends of its support and the cusp of a Laplace (each component's, in a mixture)."""
    parts = dist.component_distribution if isinstance(dist, MixtureSameFamily) else dist
    points = [getattr(parts.support, end, None) for end in ("lower_bound", "upper_bound")]
    if isinstance(parts, Laplace):
        points.append(parts.loc)
    return sorted({float(v) for point in points if point is not None for v in torch.as_tensor(point).reshape(-1).tolist()
                   if math.isfinite(v)})


def _check_objective(objective, alpha, order):
    """Validate the objective's name and its options; return (Objective, options dict)."""
    if objective not in _REGISTRY:
        names = ", ".join(repr(k) for k in _REGISTRY)
        raise ValueError(f"objective must be one of {names}; got {objective!r}")
    spec = _REGISTRY[objective]
    if "alpha" in spec.options:
        if alpha is None:
            raise ValueError("alpha must be given for the 'alpha' objective; got None")
        alpha = check_real_scalar(alpha, "alpha")
    elif alpha is not None:
        raise ValueError(f"alpha is used only by the 'alpha' objective; got alpha={alpha!r} with {objective!r}")
    if "order" in spec.options:
        order = 2 if order is None else order
        if isinstance(order, bool) or order not in (1, 2):
            raise ValueError(f"order must be 1 or 2; got {order!r}")
    elif order is not None:
        raise ValueError(f"order is used only by the 'wasserstein' objective; got order={order!r} with {objective!r}")
    options = {"alpha": alpha} if "alpha" in spec.options else {"order": int(order)} if "order" in spec.options else {}
    return spec, options


def _tabulate_target(target, grid, models, spec, options, dtype, device):
    """Validate target and grid; tabulate log p once (a distribution, or density values given on the grid's nodes)."""
    if isinstance(grid, torch.Tensor):
        grid = Grid.from_points(grid.detach().to(torch.float64).cpu())
    elif grid is not None and not isinstance(grid, Grid):
        raise ValueError(f"grid must be a Grid, a 1-D tensor of points or None; got {type(grid).__name__}")
    if isinstance(target, Distribution):
        check_scalar_distribution(target, "target")
        if grid is None:
            grid = _default_grid(target, models, _is_smooth(spec, options), spec.sharp_log_p)
        x = grid.x.detach().to(torch.float64).cpu()
        with torch.no_grad():
            log_p = _log_density(target, x.to(_device_of(target))).to(torch.float64).cpu()
        dist = target
    elif isinstance(target, (torch.Tensor, np.ndarray)):
        if grid is None:
            raise ValueError("grid must be given when target is a tensor of density values on its nodes; got None")
        if spec.name == "wasserstein":
            raise ValueError("target must be a torch distribution for the 'wasserstein' objective; got density values")
        values = torch.as_tensor(target).detach().to(torch.float64).cpu()
        if values.shape != grid.x.shape:
            raise ValueError(
                f"target must hold one density value per grid node; got shape {tuple(values.shape)} for {len(grid.x)} nodes"
            )
        if not bool(torch.isfinite(values).all()) or bool((values < 0).any()):
            raise ValueError("target must hold finite, non-negative density values")
        x, log_p, dist = grid.x.detach().to(torch.float64).cpu(), values.log(), None
    else:
        raise ValueError(
            f"target must be a 1-D torch distribution or a tensor of density values on the grid; got {type(target).__name__}"
        )
    w = grid.w.detach().to(torch.float64).cpu()
    return _Table(x.to(device, dtype), w.to(device, dtype), log_p.to(device, dtype), dist)


def _device_of(dist):
    """The device of a distribution's parameters (CPU if it has none)."""
    tensors = [v for v in vars(dist).values() if isinstance(v, torch.Tensor)]
    return tensors[0].device if tensors else torch.device("cpu")


# ----------------------------------------------------------------------------- one evaluator per (target, objective)


@dataclass(frozen=True)
class _Evaluator:
    """The objective's natural value for a batch of models, by closed form or on a grid.

    ``value(mu, sigma, log_sigma)`` takes [B, 1] tensors and returns [B]; ``grid`` is None for a
    closed form; ``spacing`` is the grid's largest spacing (0 for a closed form); ``nodes`` the
    work per model (grid nodes, 1 for a closed form); ``derivatives(mu, sigma, log_sigma, log)``,
    for a pointwise objective on a grid and for a closed form that has them (MSE, cosine,
    forward KL), returns the value [B] with its exact gradient [B, 2] and Hessian [B, 3] in
    θ = (mu, log sigma) (``log``) or (mu, sigma), else it is None; ``scalar``, for those closed
    forms and for forward KL on a grid, does the same for one model in Python floats (no tensor),
    else it is None.
    """

    value: Callable
    grid: Grid | None
    spacing: float
    nodes: int
    table: _Table | None
    derivatives: Callable | None = None
    scalar: Callable | None = None


def _closed_value(spec, target, options, dtype, device, known=False):
    """The objective through the closed-form registry, or None where it has no rule for this target.

    Whether it has one is found by evaluating it once, unless ``known`` (its exact derivatives were
    found for the target: they are registered with the values, for the same type pairs).
    """
    if spec.closed is None or not isinstance(target, Distribution) or _device_of(target) != device:
        return None
    try:
        fn = spec.closed(target, **options)
        if not known:
            fn(Normal(torch.zeros(1, dtype=dtype, device=device), torch.ones(1, dtype=dtype, device=device)))
    except (ValueError, NotImplementedError):
        return None

    def value(mu, sigma, log_sigma):
        return fn(Normal(mu[:, 0], sigma[:, 0], validate_args=False)).to(mu.dtype)  # [B]

    return value


def _closed_derivatives(spec, target, options, dtype, device):
    """The closed form's exact (derivatives, scalar) (see ``_Evaluator``), or (None, None) where it has none for the target."""
    if spec.closed_derivatives is None:
        return None, None
    try:
        return spec.closed_derivatives(target, dtype, device, **options)
    except NotImplementedError:
        return None, None


# A closed form depends on the target and nothing else (no grid, no start): its evaluator is made once
# per target object, objective, options, dtype and device (None where there is no closed form), as
# the entropies and quantile products of _closed_forms are remembered per target object.
_CLOSED_EVALUATORS = weakref.WeakKeyDictionary()


def _closed_evaluator(spec, target, options, dtype, device):
    """The closed form's ``_Evaluator`` for this target, remembered (see ``_CLOSED_EVALUATORS``); None where it has none."""
    if not isinstance(target, Distribution):
        return None
    known = _CLOSED_EVALUATORS.setdefault(target, {})
    key = (spec.name, tuple(sorted(options.items())), dtype, device)
    if key not in known:
        derivatives, scalar = _closed_derivatives(spec, target, options, dtype, device)
        value = _closed_value(spec, target, options, dtype, device, known=derivatives is not None)
        known[key] = None if value is None else _Evaluator(value, None, 0.0, 1, None, derivatives, scalar)
    return known[key]


def _evaluator(target, spec, options, grid, models, dtype, device):
    """Closed form where the registry has one for the target's type, else the grid (given, or the default for ``models``)."""
    if isinstance(target, Distribution):
        check_scalar_distribution(target, "target")
    closed = _closed_evaluator(spec, target, options, dtype, device)
    if closed is not None:
        if grid is not None and not isinstance(grid, (Grid, torch.Tensor)):
            raise ValueError(f"grid must be a Grid, a 1-D tensor of points or None; got {type(grid).__name__}")
        return closed
    table = _tabulate_target(target, grid, models, spec, options, dtype, device)
    spacing = (table.x[1:] - table.x[:-1]).max().item()
    derivatives = _pointwise_derivatives(spec, table, options) if spec.pointwise else None
    scalar = spec.grid_scalar(table) if spec.grid_scalar is not None else None
    return _Evaluator(spec.build(table, **options), Grid(table.x, table.w), spacing, len(table.x), table, derivatives, scalar)
