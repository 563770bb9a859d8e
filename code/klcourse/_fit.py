"""Fitting one Normal Q = N(mu, sigma²) to a target P by minimising a divergence on a grid.

Used in the chapters on mode-seeking and mean-seeking fits, on comparing objectives and on
what the seed notebook got wrong. P is the target and Q the model throughout: "forward" KL
is KL(P ‖ Q) and "reverse" KL is KL(Q ‖ P).

The target's log-density is tabulated once on a fixed grid; every objective is one of the
grid kernels of ``_continuous`` applied to a batch of model log-densities ``[B, N]``, so a
whole finite-difference stencil (or a landscape) is one vectorised call.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Callable

import numpy as np
import torch
from torch.distributions import Distribution, MixtureSameFamily, Normal

from ._continuous import (
    Grid,
    _alpha_grid,
    _bounds,
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
from ._validate import check_positive_int, check_real_scalar, check_scalar_distribution

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_PARAMETERIZATIONS = ("log_sigma", "sigma")
_METHODS = ("flow", "adam", "gd")
_DEFAULT_LR = {"adam": 1e-3, "gd": 0.1}
_DEFAULT_STEPS = 10_000
_MAX_HISTORY = 200
# An accepted flow step: |actual - predicted gradient| <= rtol |gradient| (fit_gaussian's rtol),
# or <= _FLOW_MISMATCH_CONVEX |gradient| if larger where the Hessian is positive definite: there
# nearby paths converge and a step's error dies out. Where it is not, nearby paths part (on the
# ridge between two basins most of all) and a step's error can carry the path across.
_FLOW_MISMATCH_CONVEX = 0.1
_POLISH_STEPS = 5
_Z_TAIL = 7.034484  # Φ⁻¹(1 - 1e-12): the grid leaves 1e-12 of each Normal outside on each side
_PLATEAU_STEPS = 20


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
    smooth: bool
    build: Callable = field(repr=False)  # (table, **options) → value(mu [B,1], sigma [B,1], log_sigma [B,1]) → [B]


_REGISTRY: dict = {}

#: The objectives ``fit_gaussian``, ``objective_value`` and ``landscape`` accept, by name.
OBJECTIVES = MappingProxyType(_REGISTRY)


def _register(name, formula, *, maximised=False, options=(), sharp_log_p=False, smooth=True):
    """Register a builder of batched objective values under ``name`` (dispatch by name, not if-chains)."""

    def decorate(build):
        _REGISTRY[name] = Objective(name, formula, maximised, tuple(options), sharp_log_p, smooth, build)
        return build

    return decorate


def _log_normal(x, mu, sigma, log_sigma):
    """log N(x; mu, sigma²) = -z²/2 - log sigma - log √(2π), z = (x - mu)/sigma: [B,1] params, [N] x → [B, N]."""
    z = (x - mu) / sigma  # [B, N]
    return -0.5 * z * z - log_sigma - _LOG_SQRT_2PI


def _density_objective(kernel):
    """Builder for an objective that is a grid kernel of (log p, log q)."""

    def build(table):
        def value(mu, sigma, log_sigma):
            return kernel(table.log_p, _log_normal(table.x, mu, sigma, log_sigma), table.w)  # [B]

        return value

    return build


_register("forward_kl", "KL(P ‖ Q)")(_density_objective(_kl_grid))
_register("reverse_kl", "KL(Q ‖ P)", sharp_log_p=True)(_density_objective(lambda log_p, log_q, w: _kl_grid(log_q, log_p, w)))
_register("js", "JS(P, Q)")(_density_objective(_js_grid))
_register("hellinger", "H²(P, Q)")(_density_objective(_hellinger_grid))
_register("mse", "∫ (p - q)² dx")(_density_objective(_l2sq_grid))
_register("l1", "∫ |p - q| dx", smooth=False)(_density_objective(_l1_grid))
_register("cosine", "∫ pq / √(∫p² ∫q²)", maximised=True)(_density_objective(_cosine_grid))


@_register("alpha", "D_α(P ‖ Q)", options=("alpha",), sharp_log_p=True)
def _build_alpha(table, alpha):
    """Amari α-divergence D_α(P ‖ Q): α → 1 is KL(P ‖ Q), α → 0 is KL(Q ‖ P)."""

    def value(mu, sigma, log_sigma):
        return _alpha_grid(table.log_p, _log_normal(table.x, mu, sigma, log_sigma), table.w, alpha)

    return value


@_register("wasserstein", "W_order(P, Q)", options=("order",))
def _build_wasserstein(table, order):
    """W1 = ∫ |F_p - F_q| dx on the x-grid; W2 on the x-grid too (see ``_w2_in_x``)."""
    if order == 1:
        cdf_p = table.dist.cdf(table.x)  # [N]

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


def _log_p_width(dist, lo, hi):
    """Narrowest feature of log p: 1/sqrt(max |(log p)''|) on a fine grid (σ for a Normal; σ²/separation between two modes)."""
    x = torch.linspace(lo, hi, 20001, dtype=torch.float64)
    with torch.no_grad():
        log_p = _log_density(dist, x.to(_device_of(dist))).cpu().double()
    bend = (log_p[2:] - 2 * log_p[1:-1] + log_p[:-2]).abs() / (x[1] - x[0]).item() ** 2  # [N-2]
    bend = bend[torch.isfinite(bend)]
    return 1.0 / math.sqrt(bend.max().item()) if bend.numel() and bend.max().item() > 0 else None


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
    lo, hi = _bounds(dist, 1e-12)
    scales = [_log_p_width(dist, lo, hi) if sharp_log_p else _smallest_scale(dist)]
    lo = min([lo] + [m - _Z_TAIL * s for m, s in models])
    hi = max([hi] + [m + _Z_TAIL * s for m, s in models])
    scales = [s for s in scales + [s for _, s in models] if s is not None and s > 0]
    n = math.ceil((hi - lo) / (min(scales) / (3 if smooth else 30))) + 1
    return Grid.uniform(lo, hi, min(max(n, 401), 20001))


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


def _check_device(device):
    """None → CPU; a CUDA device only when CUDA is available."""
    device = torch.device("cpu" if device is None else device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device must be available on this machine; got {str(device)!r} but CUDA is not available")
    return device


def _check_dtype(dtype):
    """float64 (default) or float32."""
    if dtype not in (torch.float64, torch.float32):
        raise ValueError(f"dtype must be torch.float64 or torch.float32; got {dtype!r}")
    return dtype


# ----------------------------------------------------------------------------- the problem in one parameterisation


class _Problem:
    """The loss (objective as minimised) as a function of θ = (mu, sigma) or (mu, log sigma), batched."""

    def __init__(self, value, maximised, parameterization, dtype, device, smooth, spacing):
        self.value = value
        self.smooth = smooth
        self.spacing = spacing  # largest grid spacing: the finite-difference step of a non-smooth objective
        self.sign = -1.0 if maximised else 1.0
        self.log = parameterization == "log_sigma"
        self.dtype, self.device = dtype, device
        self.eps = torch.finfo(dtype).eps

    def loss(self, theta):
        """Loss at rows θ [B, 2] → [B] (sigma <= 0 rows give NaN; callers never ask for them)."""
        mu, s = theta[:, :1], theta[:, 1:]  # [B, 1] each
        if self.log:
            return self.sign * self.value(mu, s.exp(), s)
        return self.sign * self.value(mu, s, s.log())

    def tensor(self, rows):
        """Python rows → θ tensor [B, 2]."""
        return torch.tensor(rows, dtype=self.dtype, device=self.device)

    def sigma(self, theta):
        """sigma from θ (a pair of floats)."""
        return math.exp(theta[1]) if self.log else theta[1]

    def admissible(self, theta):
        """θ is finite and, in the sigma parameterisation, sigma > 0."""
        ok = math.isfinite(theta[0]) and math.isfinite(theta[1])
        return ok and (self.log or theta[1] > 0) and (not self.log or theta[1] < 700)

    def value_and_grad(self, theta):
        """Loss and its exact gradient at θ (autograd, one row)."""
        t = self.tensor([theta]).requires_grad_(True)
        loss = self.loss(t)
        (g,) = torch.autograd.grad(loss.sum(), t)
        return loss.item(), g[0].tolist()

    def stencil(self, theta):
        """Loss, central-difference gradient and Hessian at θ from one batched call on a 9-point stencil."""
        h0 = self.eps ** (1 / 3) * max(1.0, abs(theta[0]))
        h1 = self.eps ** (1 / 3) * max(1.0, abs(theta[1]))
        if not self.smooth:  # difference across several kinks: the slope of the integral, not of one piece
            h0 = max(h0, 10 * self.spacing)
            h1 = max(h1, 10 * self.spacing / (1.0 if not self.log else math.exp(theta[1])))
        if not self.log:
            h1 = min(h1, theta[1] / 4)
        m, s = theta
        rows = [
            (m, s), (m + h0, s), (m - h0, s), (m, s + h1), (m, s - h1),
            (m + h0, s + h1), (m - h0, s - h1), (m + h0, s - h1), (m - h0, s + h1),
        ]  # fmt: skip
        with torch.no_grad():
            L = self.loss(self.tensor(rows)).tolist()  # [9]
        g = [(L[1] - L[2]) / (2 * h0), (L[3] - L[4]) / (2 * h1)]
        h00 = (L[1] - 2 * L[0] + L[2]) / h0**2
        h11 = (L[3] - 2 * L[0] + L[4]) / h1**2
        h01 = (L[5] + L[6] - L[7] - L[8]) / (4 * h0 * h1)
        return L[0], g, (h00, h01, h11)


# ----------------------------------------------------------------------------- optimisers


def _eig2(h):
    """Eigenvalues (small, large) and unit eigenvectors of the symmetric 2×2 matrix [[a, b], [b, d]]."""
    a, b, d = h
    mid, rad = 0.5 * (a + d), math.hypot(0.5 * (a - d), b)
    angle = 0.5 * math.atan2(2 * b, a - d)  # direction of the large eigenvalue's eigenvector
    big = (math.cos(angle), math.sin(angle))
    return (mid - rad, mid + rad), ((-big[1], big[0]), big)


def _phi(lam, t):
    """∫_0^t e^{-λs} ds = (1 - e^{-λt})/λ (t when λt → 0): the flow of a quadratic along one eigenvector."""
    z = lam * t
    if abs(z) < 1e-8:
        return t * (1 - 0.5 * z)
    if -z > 700:
        return math.inf
    return -math.expm1(-z) / lam


def _quadratic_flow(g, h, times):
    """Displacements and predicted gradients after each time t of the gradient flow of the quadratic model (g, H)."""
    (l0, l1), (v0, v1) = _eig2(h)
    c0 = v0[0] * g[0] + v0[1] * g[1]
    c1 = v1[0] * g[0] + v1[1] * g[1]
    out = []
    for t in times:
        p0, p1 = _phi(l0, t), _phi(l1, t)
        e0 = math.exp(min(-l0 * t, 700.0))
        e1 = math.exp(min(-l1 * t, 700.0))
        step = (-(p0 * c0 * v0[0] + p1 * c1 * v1[0]), -(p0 * c0 * v0[1] + p1 * c1 * v1[1]))
        grad = (e0 * c0 * v0[0] + e1 * c1 * v1[0], e0 * c0 * v0[1] + e1 * c1 * v1[1])
        out.append((step, grad))
    return out


def _newton_step(theta, g, h):
    """θ - H⁻¹g, or None where H is not positive definite."""
    a, b, d = h
    det = a * d - b * b
    if not (a > 0 and det > 0):
        return None
    return (theta[0] - (d * g[0] - b * g[1]) / det, theta[1] - (a * g[1] - b * g[0]) / det)


def _newton_polish(problem, theta, g, h, tol):
    """Newton steps with the last stencil Hessian, to |g| < tol/1000: first with the stencil's gradient, then with the exact (autograd) one."""
    done = lambda grad: math.hypot(*grad) < 1e-3 * tol
    trial = _newton_step(theta, g, h)  # from the end of a converged flow this step usually finishes the job
    if trial is not None and problem.admissible(trial):
        trial_loss, trial_g = problem.value_and_grad(trial)
        if math.isfinite(trial_loss) and done(trial_g):
            return trial, trial_loss, trial_g
    loss, g = problem.value_and_grad(theta)
    for _ in range(_POLISH_STEPS):
        trial = None if done(g) else _newton_step(theta, g, h)
        if trial is None or not problem.admissible(trial):
            break
        trial_loss, trial_g = problem.value_and_grad(trial)
        if not (math.isfinite(trial_loss) and math.hypot(*trial_g) < math.hypot(*g)):
            break
        theta, loss, g = trial, trial_loss, trial_g
    return theta, loss, g


def _flow(problem, theta, steps, tol, t0, path, rtol):
    """Gradient flow dθ/dt = -∇L by exponential steps on the local quadratic model, with error control.

    Each step moves along the exact flow of the quadratic model (g, H) for a time t and is
    accepted only if the gradient found there matches the model's prediction to ``rtol`` |g|
    (to 10% where H is positive definite, if ``rtol`` is smaller) and the loss did not rise;
    t then grows, else it shrinks. Where H is positive definite
    and t is large the step is Newton's, so the path ends at the minimum of the basin the
    flow is in, with quadratic convergence (Hochbruck & Ostermann, Acta Numerica 2010, for
    exponential integrators).
    """
    loss, g, h = problem.stencil(theta)
    path.append((theta, loss))
    if not math.isfinite(loss):
        return theta, loss, g, h, 0
    (l0, l1), _ = _eig2(h)
    t = t0 if t0 is not None else 1.0 / max(abs(l0), abs(l1), 1e-12)
    accepted, recent, rejected = 0, [loss], False
    while accepted < steps and math.hypot(*g) >= tol:
        gnorm = math.hypot(*g)
        allowed = max(rtol, _FLOW_MISMATCH_CONVEX) if _eig2(h)[0][0] > 0 else rtol
        (step, predicted), *between = _quadratic_flow(g, h, (t, 0.25 * t, 0.5 * t, 0.75 * t))
        trial = (theta[0] + step[0], theta[1] + step[1])
        ratio = math.inf  # error / allowed error; inf for a step that leaves the domain or raises the loss
        if problem.admissible(trial):
            trial_loss, trial_g, trial_h = problem.stencil(trial)
            if math.isfinite(trial_loss) and trial_loss <= loss + 4 * problem.eps * max(1.0, abs(loss)):
                miss = math.hypot(trial_g[0] - predicted[0], trial_g[1] - predicted[1])
                ratio = miss / (allowed * gnorm)
        if ratio <= 1.0:
            for (dm, ds), _ in between:  # points between the ends follow the same quadratic model
                model_loss = loss + g[0] * dm + g[1] * ds + 0.5 * (h[0] * dm * dm + 2 * h[1] * dm * ds + h[2] * ds * ds)
                path.append(((theta[0] + dm, theta[1] + ds), model_loss))
            theta, loss, g, h = trial, trial_loss, trial_g, trial_h
            path.append((theta, loss))
            accepted += 1
            recent = (recent + [loss])[-_PLATEAU_STEPS:]
            if len(recent) == _PLATEAU_STEPS and recent[0] - loss <= 1e-14 * (1.0 + abs(loss)):
                break  # no progress over many accepted steps (between the kinks of a non-smooth objective)
        if math.isfinite(ratio):  # error ∝ t²; no growth right after a rejection (Hairer, Nørsett & Wanner, II.4)
            t *= min(1.0 if rejected else 5.0, max(0.2, 0.9 / math.sqrt(max(ratio, 1e-12))))
        else:
            t *= 0.25
            if t * gnorm <= 1e-15 * (1.0 + abs(theta[0]) + abs(theta[1])):
                break  # the step size collapsed: stop unconverged
        rejected = ratio > 1.0
    if math.isfinite(loss) and problem.smooth:
        theta, loss, g = _newton_polish(problem, theta, g, h, tol)
        path.append((theta, loss))
    elif math.isfinite(loss):
        loss, g = problem.value_and_grad(theta)
    return theta, loss, g, h, accepted


def _first_order(problem, theta, steps, tol, lr, method, path, record_every):
    """Gradient descent or Adam (Kingma & Ba 2015, Algorithm 1, torch.optim.Adam's defaults) with the exact gradient.

    Written out rather than calling ``torch.optim`` (whose first step imports torch._dynamo, a
    second or two). In the sigma parameterisation a step that would make sigma <= 0 is halved
    until it does not.
    """
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    m, v = [0.0, 0.0], [0.0, 0.0]
    loss, g, done = math.nan, [math.nan, math.nan], 0
    for done in range(steps + 1):
        loss, g = problem.value_and_grad(theta)
        if record_every is None or done % record_every == 0:
            path.append((theta, loss))
        if done == steps or not math.isfinite(loss) or math.hypot(*g) < tol:
            break
        if method == "adam":
            t = done + 1
            m = [beta1 * mi + (1 - beta1) * gi for mi, gi in zip(m, g)]
            v = [beta2 * vi + (1 - beta2) * gi * gi for vi, gi in zip(v, g)]
            step = [-lr * (mi / (1 - beta1**t)) / (math.sqrt(vi / (1 - beta2**t)) + eps) for mi, vi in zip(m, v)]
        else:
            step = [-lr * gi for gi in g]
        if not all(math.isfinite(d) for d in step):
            break
        trial = (theta[0] + step[0], theta[1] + step[1])
        while not problem.admissible(trial):
            step = [0.5 * d for d in step]
            trial = (theta[0] + step[0], theta[1] + step[1])
        theta = trial
    if path[-1][0] != theta:
        path.append((theta, loss))
    h = problem.stencil(theta)[2] if math.isfinite(loss) else (math.nan,) * 3
    return theta, loss, g, h, done


# ----------------------------------------------------------------------------- public API


@dataclass(frozen=True)
class FitResult:
    """The outcome of :func:`fit_gaussian`.

    Attributes
    ----------
    mu, sigma : float
        The fitted model Q = N(mu, sigma²).
    loss : float
        The objective as minimised at (mu, sigma) (for ``"cosine"``, minus the similarity).
    value : float
        The objective's natural value (for ``"cosine"``, the similarity itself).
    converged : bool
        Whether the gradient norm fell below ``tol`` (``grad_norm < tol``), and nothing more:
        the fit stopped at a stationary point, which need not be a minimum. A saddle (a flow
        started on a symmetry axis) and a flat region (a model whose mass lies off the grid of
        a tabulated target, where the loss is constant) also give ``converged=True``; use
        :attr:`is_minimum` to tell a minimum from them.
    grad_norm : float
        Norm of the exact (autograd) gradient of ``loss`` in the fitted parameterisation.
    steps : int
        Optimiser steps taken (accepted steps for ``"flow"``).
    history : numpy.ndarray, shape [T, 3]
        (mu, sigma, loss) along the path, first row the start, last row the result;
        at most 200 rows unless ``record_every`` was given.
    objective, parameterization, method : str
        What was fitted, and how.
    hessian : numpy.ndarray, shape [2, 2]
        Hessian of ``loss`` at the result in the fitted parameterisation (central differences).

    Examples
    --------
    >>> from klcourse import bimodal_target, fit_gaussian
    >>> fit = fit_gaussian(bimodal_target(), "mse", -4.0, 2.0)
    >>> fit.history.shape[1], float(fit.history[0, 0]), fit.is_minimum
    (3, -4.0, True)
    >>> print(abs(fit.model.log_prob(fit.model.loc).exp().item() - 1 / (fit.sigma * 2.5066282746310002)) < 1e-15)
    True
    """

    mu: float
    sigma: float
    loss: float
    value: float
    converged: bool
    grad_norm: float
    steps: int
    history: np.ndarray
    objective: str
    parameterization: str
    method: str
    hessian: np.ndarray

    @property
    def is_minimum(self):
        """Converged (gradient norm below ``tol``) with a positive definite Hessian: a local minimum, not a saddle or a flat point.

        A flow started on a symmetry axis can end at a saddle (one negative eigenvalue), and a
        model off a tabulated target's grid sits on a flat region (Hessian zero); both have
        ``converged=True`` and ``is_minimum=False``.
        """
        return self.converged and bool(np.all(np.linalg.eigvalsh(self.hessian) > 0))

    @property
    def model(self):
        """The fitted model as a float64 ``torch.distributions.Normal``."""
        return Normal(torch.tensor(self.mu, dtype=torch.float64), torch.tensor(self.sigma, dtype=torch.float64))


def _history(path, problem, subsample):
    """Rows (mu, sigma, loss), evenly subsampled by index to at most 200 rows (first and last kept)."""
    rows = np.array([(th[0], problem.sigma(th), loss) for th, loss in path], dtype=np.float64)  # [T, 3]
    if subsample and len(rows) > _MAX_HISTORY:
        rows = rows[np.unique(np.linspace(0, len(rows) - 1, _MAX_HISTORY).round().astype(int))]
    return rows


def fit_gaussian(
    target,
    objective,
    mu0=0.0,
    sigma0=1.0,
    *,
    parameterization="log_sigma",
    method="flow",
    lr=None,
    steps=None,
    tol=1e-8,
    rtol=0.1,
    grid=None,
    alpha=None,
    order=None,
    device=None,
    dtype=torch.float64,
    record_every=None,
):
    """Fit Q = N(mu, sigma²) to the target P by minimising ``objective``, starting at (mu0, sigma0).

    Parameters
    ----------
    target : torch.distributions.Distribution or torch.Tensor
        P: a 1-D distribution (mixtures included), or density values on the nodes of
        ``grid`` (need not integrate to 1: the seed notebook's sum of two densities works).
    objective : str
        A key of :data:`OBJECTIVES`: ``"forward_kl"`` KL(P ‖ Q), ``"reverse_kl"`` KL(Q ‖ P),
        ``"js"``, ``"hellinger"`` (H²), ``"alpha"`` (needs ``alpha``), ``"wasserstein"``
        (``order`` 2 by default), ``"mse"`` ∫(p - q)², ``"l1"`` ∫|p - q|, ``"cosine"`` (maximised).
    mu0, sigma0 : float
        The start; sigma0 > 0.
    parameterization : {"log_sigma", "sigma"}
        Coordinates in which the gradient is taken: θ = (mu, log sigma) or (mu, sigma).
        They have the same minima but different gradient flows, hence different basins.
    method : {"flow", "adam", "gd"}
        ``"flow"`` follows the gradient flow dθ/dt = -∇L(θ) (see Notes) and ends at the
        minimum of the basin it starts in. ``"adam"`` is Adam with ``torch.optim.Adam``'s update
        and defaults (lr 1e-3), as in the seed notebook, and ``"gd"`` plain gradient descent
        (default lr 0.1); they stop after ``steps`` steps or when the gradient norm falls below ``tol``.
    lr : float, optional
        Learning rate (``"adam"``, ``"gd"``) or first time step of the flow (default 1/|λ|max
        of the Hessian at the start).
    steps : int, optional
        Maximum number of steps; default 10,000.
    tol : float, default 1e-8
        Convergence: norm of the gradient of the loss in the chosen parameterisation.
    rtol : float, default 0.1
        ``"flow"`` only: the error allowed in each step, relative to the gradient (see Notes).
        The default ends in the right basin unless the start lies within about 0.05 of a basin
        boundary; 1e-3 (as :func:`basins` uses) within about 0.002, at two to three times the cost.
    grid : Grid or torch.Tensor, optional
        Quadrature grid or its points (trapezoid weights). Default: a trapezoidal grid covering
        P, the start and N(mean_P, (1.5 sd_P)²), with spacing a third of the narrowest scale.
    alpha : float, optional
        For ``"alpha"`` only.
    order : {1, 2}, optional
        For ``"wasserstein"`` only; default 2.
    device : str or torch.device, optional
        ``"cuda"`` to compute on the GPU; default CPU.
    dtype : torch.dtype, default torch.float64
        float64, or float32 (which cannot reach the default ``tol``).
    record_every : int, optional
        Record every k-th step in ``history``; default: every step, then evenly subsampled
        to at most 200 rows.

    Returns
    -------
    FitResult

    Raises
    ------
    ValueError
        For an unknown objective, parameterization or method, a missing ``alpha``, a
        non-positive ``sigma0``, ``lr``, ``steps`` or ``tol``, or an unusable target or grid.

    Notes
    -----
    ``method="flow"`` integrates the gradient flow with exponential steps on the local
    quadratic model (gradient and Hessian from one batched 9-point stencil): a step of time t
    moves along the model's exact flow and is accepted only where the model predicted the
    new gradient to ``rtol`` (to 10% where the Hessian is positive definite: there nearby
    paths converge, so an error dies out; elsewhere they part, and near the ridge between
    two basins an error can carry the path into the neighbouring basin). Where the Hessian
    is positive definite the steps grow into Newton steps; once the gradient norm is below
    ``tol``, Newton steps checked with the autograd gradient take it below ``tol``/1000, so
    the result is the minimum to about 1e-8 even where the valley is flat. Checked against
    scipy's ODE solvers on the same gradient (tests/test_fit.py): the MSE basin boundary on
    sigma0 = 1 in the sigma parameterisation lies at mu0 = -0.596; the flow puts it at -0.553
    with the default rtol and at -0.595 with rtol=1e-3.

    In the sigma parameterisation sigma stays positive: a step that would cross 0 is rejected
    (flow) or halved (adam, gd).

    ``"l1"`` and W1 are not differentiable on a grid (a kink wherever p = q at a node): their
    flow uses differences across several kinks and usually stops near, not at, a minimum,
    with ``converged=False``.

    The default grid also covers the starting model, so it changes with the start; the
    minima it gives agree across starts to about 1e-10. Pass one ``grid`` for identical sums.

    Examples
    --------
    Forward KL against a mixture is minimised by moment matching:

    >>> import math
    >>> from klcourse import bimodal_target, fit_gaussian
    >>> fit = fit_gaussian(bimodal_target(), "forward_kl", 0.0, 1.0)
    >>> print(fit.converged, round(fit.mu, 6), round(fit.sigma, 6))
    True 2.5 7.566373
    >>> print(abs(fit.sigma - math.sqrt(57.25)) < 1e-7)
    True

    Reverse KL seeks a mode; its value there is log 2:

    >>> fit = fit_gaussian(bimodal_target(), "reverse_kl", 8.0, 1.0)
    >>> print(round(fit.mu, 4), round(fit.sigma, 4), abs(fit.loss - math.log(2)) < 1e-7)
    10.0 1.0 True
    """
    spec, options = _check_objective(objective, alpha, order)
    mu0 = check_real_scalar(mu0, "mu0")
    sigma0 = check_real_scalar(sigma0, "sigma0")
    if sigma0 <= 0:
        raise ValueError(f"sigma0 must be positive; got {sigma0!r}")
    if parameterization not in _PARAMETERIZATIONS:
        raise ValueError(f"parameterization must be 'log_sigma' or 'sigma'; got {parameterization!r}")
    if method not in _METHODS:
        raise ValueError(f"method must be 'flow', 'adam' or 'gd'; got {method!r}")
    if lr is not None and check_real_scalar(lr, "lr") <= 0:
        raise ValueError(f"lr must be a positive number or None; got {lr!r}")
    steps = _DEFAULT_STEPS if steps is None else check_positive_int(steps, "steps")
    if check_real_scalar(tol, "tol") <= 0:
        raise ValueError(f"tol must be a positive number; got {tol!r}")
    if not 0 < check_real_scalar(rtol, "rtol") < 1:
        raise ValueError(f"rtol must be a number between 0 and 1; got {rtol!r}")
    if record_every is not None:
        record_every = check_positive_int(record_every, "record_every")
    device, dtype = _check_device(device), _check_dtype(dtype)
    table = _tabulate_target(target, grid, [(mu0, sigma0)], spec, options, dtype, device)
    spacing = (table.x[1:] - table.x[:-1]).max().item()
    smooth = _is_smooth(spec, options)
    problem = _Problem(spec.build(table, **options), spec.maximised, parameterization, dtype, device, smooth, spacing)

    theta = (mu0, math.log(sigma0) if problem.log else sigma0)
    path = []
    if method == "flow":
        theta, loss, g, h, done = _flow(problem, theta, steps, tol, lr, path, float(rtol))
        if record_every is not None:
            path = path[::record_every] + ([path[-1]] if (len(path) - 1) % record_every else [])
    else:
        lr = _DEFAULT_LR[method] if lr is None else float(lr)
        theta, loss, g, h, done = _first_order(problem, theta, steps, tol, lr, method, path, record_every)
    grad_norm = math.hypot(*g)
    return FitResult(
        mu=theta[0],
        sigma=problem.sigma(theta),
        loss=loss,
        value=problem.sign * loss,
        converged=bool(grad_norm < tol),
        grad_norm=grad_norm,
        steps=done,
        history=_history(path, problem, subsample=record_every is None),
        objective=objective,
        parameterization=parameterization,
        method=method,
        hessian=np.array([[h[0], h[1]], [h[1], h[2]]]),
    )


def objective_value(target, objective, mu, sigma, grid=None, **kw):
    """The objective's natural value for the model Q = N(mu, sigma²) and the target P.

    Parameters
    ----------
    target : torch.distributions.Distribution or torch.Tensor
        P, as in :func:`fit_gaussian`.
    objective : str
        A key of :data:`OBJECTIVES`.
    mu, sigma : float or torch.Tensor
        The model; 0-d tensors that require grad give a differentiable result.
    grid : Grid or torch.Tensor, optional
        As in :func:`fit_gaussian`.
    **kw
        ``alpha=`` for ``"alpha"``, ``order=`` for ``"wasserstein"``.

    Returns
    -------
    torch.Tensor
        0-d float64: KL(P ‖ Q) for ``"forward_kl"``, the similarity for ``"cosine"`` (not
        minus it), and so on.

    Examples
    --------
    >>> import math
    >>> from klcourse import bimodal_target, objective_value
    >>> value = objective_value(bimodal_target(), "reverse_kl", -5.0, 1.0)
    >>> print(abs(value.item() - math.log(2)) < 1e-9)
    True
    >>> cos = objective_value(bimodal_target(), "cosine", 10.0, 1.0)
    >>> print(abs(cos.item() - 1 / math.sqrt(2)) < 1e-9)
    True
    """
    unknown = set(kw) - {"alpha", "order"}
    if unknown:
        raise ValueError(f"kw must be alpha= or order=; got {sorted(unknown)}")
    spec, options = _check_objective(objective, kw.get("alpha"), kw.get("order"))
    mu_t = torch.as_tensor(mu, dtype=torch.float64)
    sigma_t = torch.as_tensor(sigma, dtype=torch.float64)
    check_real_scalar(mu_t.detach(), "mu")
    if check_real_scalar(sigma_t.detach(), "sigma") <= 0:
        raise ValueError(f"sigma must be positive; got {sigma!r}")
    table = _tabulate_target(target, grid, [(mu_t.item(), sigma_t.item())], spec, options, torch.float64, mu_t.device)
    value = spec.build(table, **options)
    return value(mu_t.reshape(1, 1), sigma_t.reshape(1, 1), sigma_t.log().reshape(1, 1))[0]
