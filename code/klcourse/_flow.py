"""The gradient flow dθ/dt = -∇L(θ), for a batch of starts at once, and the constants of every fitting method.

Used by ``fit_gaussian`` and ``basins``. θ is (mu, log sigma) or (mu, sigma); each row of a batch
is one start with its own step size, and the rows still moving advance together: every step is
one batched evaluation of the loss with its gradient and Hessian (exact where the objective gives
them, else a 9-point stencil per row), on the device of the tensors; the step control works on
the results as numpy arrays on the host, where a [B]-sized operation costs a microsecond and not
several (the same code on CPU and CUDA). One start on the CPU, and
Adam and gradient descent, run in Python floats in ``_flow_one`` with the same decisions and
constants.
"""

from __future__ import annotations

import math

import numpy as np
import torch

# --- constants of the flow, each with why its value -------------------------------------
# A step is accepted where the gradient it reaches matches the quadratic model's prediction to
# rtol |g|, or to _FLOW_MISMATCH_CONVEX |g| if larger where the Hessian is positive definite:
# there nearby paths converge and a step's error dies out; elsewhere paths part (on a ridge
# between basins most of all) and an error can carry a path across.
_FLOW_MISMATCH_CONVEX = 0.1
# A step may raise the loss by rounding only: this many float eps, relative.
_LOSS_RISE_EPS = 4
# Step-size control for an error ∝ t² (Hairer, Nørsett & Wanner, II.4): grow at most 5×, shrink at
# most 5×, aim at 0.9 of the allowed error; a step leaving the domain shrinks t 4×.
_GROWTH_MAX, _SHRINK_MAX, _SAFETY, _OUT_OF_DOMAIN_SHRINK = 5.0, 0.2, 0.9, 0.25
# The step has collapsed when t |g| falls below this fraction of |θ|: stop, unconverged.
_COLLAPSE = 1e-15
# ... or after this many rejected steps in a row: a finite error ratio shrinks t by at least _SAFETY
# (0.9) each time, so t has fallen by 0.9^400 ≈ 5e-19; a NaN derivative makes t NaN, and only this
# cap stops that loop.
_REJECTIONS_MAX = 400
# No progress: the loss fell by less than _PLATEAU_DROP (relative) over _PLATEAU_STEPS accepted
# steps (a non-smooth objective between its kinks).
_PLATEAU_STEPS, _PLATEAU_DROP = 20, 1e-14
# Newton polish: at most this many steps, to a gradient norm below tol × _POLISH_FACTOR, so the
# result is the minimum to about 1e-8 even where the valley is flat.
_POLISH_STEPS, _POLISH_FACTOR = 5, 1e-3
# Central differences at eps^(1/3)·max(1, |θ|): truncation and rounding errors balance there.
_STENCIL_POWER = 1 / 3
# A non-smooth (grid-kinked) objective is differenced across this many grid spacings, so that a
# difference averages over several kinks. Not a measured optimum: tests/test_tolerances.py found
# the L1 gradient at (-4.3, 1.7) closer to a fine-grid reference with 0.01 spacings than with 10.
_KINK_SPACINGS = 10
# In the sigma parameterisation the difference step stays below this fraction of sigma.
_SIGMA_STEP_FRACTION = 0.25
# (1 - e^{-z})/λ by its series where |z| is below this (no cancellation); exp arguments are capped
# at this size (exp(700) is the largest power of e in float64); log sigma above it overflows.
_SERIES_BELOW, _EXP_CAP = 1e-8, 700.0
# Points recorded between a step's ends, as fractions of its time (for smooth paths in figures).
_BETWEEN = (0.25, 0.5, 0.75)
# Floor of a curvature or an error ratio before dividing by it: the first step's time 1/max|λ| where the
# Hessian is ~0 (the step control shrinks a step too long), and the growth factor where a step's error is
# ~0 (capped at _GROWTH_MAX anyway).
_DIVISION_FLOOR = 1e-12
# Adam's defaults (Kingma & Ba 2015, as torch.optim.Adam): they define the method, not a tolerance.
_ADAM_BETA1, _ADAM_BETA2, _ADAM_EPS = 0.9, 0.999, 1e-8


_STENCIL = torch.tensor(
    [[0, 0], [1, 0], [-1, 0], [0, 1], [0, -1], [1, 1], [-1, -1], [1, -1], [-1, 1]], dtype=torch.float64
)  # [9, 2]: the centre, the four axis neighbours, the four diagonals
# The central differences as weights on the 9 losses (columns: 2h₀ g₀, 2h₁ g₁, h₀² H₀₀, 4h₀h₁ H₀₁, h₁² H₁₁)
_DIFFERENCES = torch.tensor(
    [
        [0, 0, -2, 0, -2],
        [1, 0, 1, 0, 0],
        [-1, 0, 1, 0, 0],
        [0, 1, 0, 0, 1],
        [0, -1, 0, 0, 1],
        [0, 0, 0, 1, 0],
        [0, 0, 0, 1, 0],
        [0, 0, 0, -1, 0],
        [0, 0, 0, -1, 0],
    ],
    dtype=torch.float64,
)  # [9, 5]
_ON_DEVICE = {}  # (dtype, device) → the two tables there, made once


def host_dtype(dtype):
    """The numpy dtype of the step control's arrays for a fit in torch ``dtype`` (float64 or float32)."""
    return np.float64 if dtype == torch.float64 else np.float32


def _stencil_for(theta):
    """_STENCIL and _DIFFERENCES in theta's dtype and on its device."""
    key = (theta.dtype, theta.device)
    if key not in _ON_DEVICE:
        _ON_DEVICE[key] = (_STENCIL.to(theta), _DIFFERENCES.to(theta))
    return _ON_DEVICE[key]


class Problem:
    """The loss (objective as minimised) as a function of θ [B, 2] in one parameterisation."""

    def __init__(self, value, maximised, log, dtype, device, smooth, spacing, derivatives=None, scalar=None):
        self.value = value
        # exact (value, gradient, Hessian) in θ for [B, 1] tensors (a pointwise objective on a grid, a closed form), or None
        self.derivatives = derivatives
        # the same for one model in Python floats (mu, sigma, log_sigma, log, hessian), or None: see _flow_one
        self.scalar = scalar
        self.sign = -1.0 if maximised else 1.0
        self.log = log  # θ₁ = log sigma (else sigma)
        self.dtype, self.device = dtype, device
        self.smooth = smooth
        self.spacing = spacing  # largest grid spacing (0 for a closed form)
        self.eps = torch.finfo(dtype).eps

    def loss(self, theta):
        """Loss at rows θ [B, 2] → [B] (callers never pass sigma <= 0)."""
        mu, s = theta[:, :1], theta[:, 1:]  # [B, 1] each
        if self.log:
            return self.sign * self.value(mu, s.exp(), s)
        return self.sign * self.value(mu, s, s.log())

    def admissible(self, theta):
        """Rows that are finite, with sigma > 0 (sigma) or log sigma < 700 (log sigma): θ [B, 2] numpy → [B] bool."""
        ok = np.isfinite(theta).all(-1)
        return ok & (theta[:, 1] < _EXP_CAP) if self.log else ok & (theta[:, 1] > 0)

    def on_host(self, hessian):
        """``stencil`` (``hessian``) or ``value_and_grad`` taking and giving numpy arrays, for the step control.

        Where the objective gives its derivatives for models in floats (``scalar``: the closed forms,
        forward KL on a grid), they take the [B] numpy arrays as they are and no tensor is made; else
        θ goes to the tensors' device and the results come back.
        """
        if self.scalar is not None and self.smooth:
            return lambda theta: self._host_exact(theta, hessian)
        method = self.stencil if hessian else self.value_and_grad

        def call(theta):
            out = method(torch.from_numpy(theta).to(device=self.device, dtype=self.dtype))
            return tuple(x.detach().cpu().numpy() for x in out)

        return call

    def _host_exact(self, theta, hessian):
        """Loss [B], gradient [B, 2] and Hessian [B, 3] (if ``hessian``) from ``scalar`` on the numpy arrays θ [B, 2]."""
        mu, s = theta[:, 0], theta[:, 1]
        value, g, h = self.scalar(mu, np.exp(s), s, True, hessian) if self.log else self.scalar(mu, s, np.log(s), False, hessian)
        out = self.sign * value, self.sign * np.stack(g, -1)
        return (*out, self.sign * np.stack(h, -1)) if hessian else out

    def value_and_grad(self, theta):
        """Loss [B] and its exact gradient [B, 2] (from the objective's derivatives where it gives them, else by autograd)."""
        if self.derivatives is not None and self.smooth:
            mu, s = theta[:, :1], theta[:, 1:]
            value, g, _ = (self.derivatives(mu, s.exp(), s, True, hessian=False) if self.log
                           else self.derivatives(mu, s, s.log(), False, hessian=False))
            return self.sign * value, self.sign * g
        with torch.enable_grad():
            t = theta.detach().requires_grad_(True)
            loss = self.loss(t)
            (g,) = torch.autograd.grad(loss.sum(), t)
        return loss.detach(), g

    def stencil(self, theta):
        """Loss [B], gradient [B, 2] and Hessian (h00, h01, h11) [B, 3]: exact where the objective gives them, else central differences from one batched call on 9 points per row."""
        if self.derivatives is not None and self.smooth:
            mu, s = theta[:, :1], theta[:, 1:]  # [B, 1] each
            value, g, hess = self.derivatives(mu, s.exp(), s, True) if self.log else self.derivatives(mu, s, s.log(), False)
            return self.sign * value, self.sign * g, self.sign * hess
        h = self.eps**_STENCIL_POWER * theta.abs().clamp_min(1.0)  # [B, 2]
        if not self.smooth:  # difference across several kinks: the slope of the integral, not of one piece
            wide = _KINK_SPACINGS * self.spacing
            h = torch.stack([h[:, 0].clamp_min(wide), h[:, 1].clamp_min(wide / (theta[:, 1].exp() if self.log else 1.0))], -1)
        if not self.log:
            h = torch.stack([h[:, 0], torch.minimum(h[:, 1], _SIGMA_STEP_FRACTION * theta[:, 1])], -1)
        stencil, differences = _stencil_for(theta)
        rows = theta[:, None, :] + stencil * h[:, None, :]  # [B, 9, 2]
        with torch.no_grad():
            L = self.loss(rows.reshape(-1, 2)).reshape(-1, 9)  # [B, 9]
        h0, h1 = h[:, :1], h[:, 1:]
        d = (L @ differences) / torch.cat([2 * h0, 2 * h1, h0 * h0, 4 * h0 * h1, h1 * h1], -1)  # [B, 5]
        return L[:, 0], d[:, :2], d[:, 2:]


def eig2(h):
    """Eigenvalues (small, large) [B] each and unit eigenvectors [B, 2] each of [[a, b], [b, d]] given as h [B, 3]."""
    a, b, d = h[:, 0], h[:, 1], h[:, 2]
    mid, rad = 0.5 * (a + d), np.hypot(0.5 * (a - d), b)
    angle = 0.5 * np.arctan2(2 * b, a - d)  # direction of the large eigenvalue's eigenvector
    big = np.stack([np.cos(angle), np.sin(angle)], -1)
    small = np.stack([-big[:, 1], big[:, 0]], -1)
    return (mid - rad, mid + rad), (small, big)


def _phi(lam, t):
    """∫₀ᵗ e^{-λs} ds = (1 - e^{-λt})/λ: the flow of a quadratic along one eigenvector; elementwise."""
    z = lam * t
    series = np.abs(z) < _SERIES_BELOW
    exact = -np.expm1(-np.maximum(z, -_EXP_CAP)) / np.where(series, 1.0, lam)
    return np.where(series, t * (1 - 0.5 * z), np.where(-z > _EXP_CAP, math.inf, exact))


def quadratic_flow(g, h, times, eig=None):
    """Displacements [B, T, 2] and predicted gradients [B, T, 2] after times [B, T] on the flow of the quadratic model (g, H).

    ``eig``: ``eig2(h)`` if the caller has it already. Along eigenvector v_k with eigenvalue λ_k the
    gradient's component c_k decays as e^{-λ_k t} and θ moves by -c_k (1 - e^{-λ_k t})/λ_k.
    """
    (l0, l1), (v0, v1) = eig2(h) if eig is None else eig
    lam = np.stack([l0, l1], -1)[:, None, :]  # [B, 1, 2]
    vecs = np.stack([v0, v1], -2)[:, None, :, :]  # [B, 1, 2 (k), 2]
    c = (vecs * g[:, None, None, :]).sum(-1)  # [B, 1, 2]: the gradient's components
    t = times[..., None]  # [B, T, 1]
    moved = (_phi(lam, t) * c)[..., None] * vecs  # [B, T, 2 (k), 2]
    left = (np.exp(np.minimum(-lam * t, _EXP_CAP)) * c)[..., None] * vecs
    return -moved.sum(-2), left.sum(-2)


def _norm(v):
    """Euclidean norm of each row of v [B, 2] → [B]."""
    return np.sqrt((v * v).sum(-1))


def _newton(theta, g, h):
    """θ - H⁻¹g [B, 2], and whether H is positive definite [B]."""
    a, b, d = h[:, 0], h[:, 1], h[:, 2]
    det = a * d - b * b
    pd = (a > 0) & (det > 0)
    det = np.where(pd, det, 1.0)
    step = np.stack([(d * g[:, 0] - b * g[:, 1]) / det, (a * g[:, 1] - b * g[:, 0]) / det], -1)
    return theta - step, pd


def _newton_polish(problem, theta, g, h, tol):
    """Newton steps with the last stencil Hessian, to |g| < tol × _POLISH_FACTOR: first with the stencil's gradient, then with the exact one."""
    value_and_grad = problem.on_host(hessian=False)
    target = tol * _POLISH_FACTOR
    trial, pd = _newton(theta, g, h)  # from the end of a converged flow this step usually finishes the job
    ok = pd & problem.admissible(trial)
    trial_loss, trial_g = value_and_grad(np.where(ok[:, None], trial, theta))
    first = ok & np.isfinite(trial_loss) & (_norm(trial_g) < target)
    loss, g = value_and_grad(theta)
    theta = np.where(first[:, None], trial, theta)
    loss, g = np.where(first, trial_loss, loss), np.where(first[:, None], trial_g, g)
    going = ~first
    for _ in range(_POLISH_STEPS):
        trial, pd = _newton(theta, g, h)
        going = going & (_norm(g) >= target) & pd & problem.admissible(trial)
        if not going.any():
            break
        trial_loss, trial_g = value_and_grad(np.where(going[:, None], trial, theta))
        going = going & np.isfinite(trial_loss) & (_norm(trial_g) < _norm(g))
        theta = np.where(going[:, None], trial, theta)
        loss, g = np.where(going, trial_loss, loss), np.where(going[:, None], trial_g, g)
    return theta, loss, g


def flow(problem, theta, steps, tol, t0, rtol):
    """Integrate the gradient flow from every row of θ [B, 2] by exponential steps on the local quadratic model.

    Each step moves along the exact flow of the quadratic model (g, H) for the row's time t and
    is accepted only where the gradient found there matches the model's prediction to ``rtol``
    |g| (see ``_FLOW_MISMATCH_CONVEX``) and the loss did not rise; t then grows, else it shrinks.
    Where H is positive definite and t is large the step is Newton's, so the path ends at the
    minimum of the basin the flow is in, with quadratic convergence (Hochbruck & Ostermann, Acta
    Numerica 2010, for exponential integrators). A row that is done leaves the batch: each step
    works on the rows still moving only.

    The loss and its derivatives are evaluated on the tensors' device, one batched call a step;
    the step control works on their results as numpy arrays on the host (a step makes some 150
    operations on [B]-sized arrays, each a microsecond in numpy and several as a tensor).

    θ is a numpy array [B, 2] in the problem's dtype (``host_dtype``). Returns θ [B, 2], loss [B],
    gradient [B, 2], Hessian [B, 3], accepted steps [B] (numpy arrays) and the paths: one array
    [T_b, 3] of (θ₀, θ₁, loss) per row.
    """
    with np.errstate(all="ignore"):  # inf and NaN are handled as values, as torch does
        return _flow(problem, theta.copy(), steps, tol, t0, rtol)


def _flow(problem, theta, steps, tol, t0, rtol):
    """``flow`` on numpy arrays."""
    stencil = problem.on_host(hessian=True)
    B, dtype = theta.shape[0], theta.dtype
    loss, g, h = stencil(theta)
    (l0, l1), _ = eig2(h)
    t = np.full_like(loss, t0) if t0 is not None else 1.0 / np.maximum(np.maximum(np.abs(l0), np.abs(l1)), _DIVISION_FLOOR)
    accepted = np.zeros(B, dtype=np.int64)  # each row's end is written into theta, loss, g, h, accepted
    # the rows still moving: their index into the batch, and their state
    rows = np.arange(B)
    th, ls, gr, he, tt, n_acc = theta, loss, g, h, t, accepted
    recent = np.repeat(loss[:, None], _PLATEAU_STEPS, 1)  # the last losses, oldest first
    n_recent = np.ones(B, dtype=np.int64)
    rejected = np.zeros(B, dtype=bool)
    rejections = np.zeros(B, dtype=np.int64)  # rejected steps in a row
    stop = ~np.isfinite(loss)
    record = [(rows, np.concatenate([theta, loss[:, None]], -1)[:, None, :])]  # (rows, their points [k, m, 3] or steps [k, 17])
    times = np.array((1.0,) + _BETWEEN, dtype=theta.dtype)  # the step's end, then the points between
    theta, loss, g, h = theta.copy(), loss.copy(), g.copy(), h.copy()
    while True:
        gn = _norm(gr)
        keep = ~stop & (n_acc < steps) & (gn >= tol)
        if not keep.all():  # rows that are done leave the batch
            out = rows[~keep]
            theta[out], loss[out], g[out], h[out], accepted[out] = th[~keep], ls[~keep], gr[~keep], he[~keep], n_acc[~keep]
            if not keep.any():
                break
            rows, th, ls, gr, he, tt, gn, n_acc = rows[keep], th[keep], ls[keep], gr[keep], he[keep], tt[keep], gn[keep], n_acc[keep]
            recent, n_recent, rejected, rejections, stop = recent[keep], n_recent[keep], rejected[keep], rejections[keep], stop[keep]
        eig = eig2(he)
        allowed = np.where(eig[0][0] > 0, max(rtol, _FLOW_MISMATCH_CONVEX), rtol)
        step, predicted = quadratic_flow(gr, he, tt[:, None] * times, eig)
        trial = (th + step[:, 0]).astype(dtype, copy=False)
        ok = problem.admissible(trial)
        if ok.all():
            t_loss, t_g, t_h = stencil(trial)
        else:
            t_loss, t_g, t_h = ls.copy(), gr.copy(), he.copy()
            if ok.any():
                t_loss[ok], t_g[ok], t_h[ok] = stencil(trial[ok])
        # error / allowed error; inf where the step leaves the domain or raises the loss
        good = ok & np.isfinite(t_loss) & (t_loss <= ls + _LOSS_RISE_EPS * problem.eps * np.maximum(np.abs(ls), 1.0))
        ratio = np.where(good, _norm(t_g - predicted[:, 0]) / (allowed * gn), math.inf)
        acc = ratio <= 1.0
        if acc.any():
            # the step, for the paths (the points between its ends follow the quadratic model: see _step_points)
            record.append((rows[acc], np.concatenate([th, ls[:, None], gr, he, step[:, 1:].reshape(len(th), -1), trial, t_loss[:, None]], -1)[acc]))
            th = np.where(acc[:, None], trial, th)
            ls = np.where(acc, t_loss, ls)
            gr = np.where(acc[:, None], t_g, gr)
            he = np.where(acc[:, None], t_h, he)
            recent = np.where(acc[:, None], np.concatenate([recent[:, 1:], ls[:, None]], -1), recent)
            n_recent = np.where(acc, np.minimum(n_recent + 1, _PLATEAU_STEPS), n_recent)
            # no progress over many accepted steps
            stop = stop | (acc & (n_recent == _PLATEAU_STEPS) & (recent[:, 0] - ls <= _PLATEAU_DROP * (1.0 + np.abs(ls))))
            n_acc = n_acc + acc
        finite = np.isfinite(ratio)
        grow = np.where(rejected, 1.0, _GROWTH_MAX)
        factor = np.minimum(grow, np.maximum(_SAFETY / np.sqrt(np.maximum(ratio, _DIVISION_FLOOR)), _SHRINK_MAX))
        tt = np.where(finite, tt * factor, tt * _OUT_OF_DOMAIN_SHRINK).astype(dtype, copy=False)
        rejections = np.where(acc, 0, rejections + 1)
        # the step size collapsed: stop unconverged
        stop = stop | (~finite & (tt * gn <= _COLLAPSE * (1.0 + np.abs(th).sum(-1)))) | (rejections >= _REJECTIONS_MAX)
        rejected = ratio > 1.0
    finite = np.isfinite(loss)
    if problem.smooth and finite.any():
        th, ls, gr = _newton_polish(problem, theta[finite], g[finite], h[finite], tol)
        theta[finite], loss[finite], g[finite] = th, ls, gr
        record.append((finite.nonzero()[0], np.concatenate([th, ls[:, None]], -1)[:, None, :]))
    elif finite.any():
        loss[finite], g[finite] = problem.on_host(hessian=False)(theta[finite])
    return theta, loss, g, h, accepted, _paths(record, B)


def _step_points(steps):
    """Accepted steps as recorded by ``flow`` (θ, loss, g, H, the three displacements between, θ's end, its loss) [k, 17]
    → the points between and the end [k, 4, 3]; the points between take the quadratic model's loss."""
    th, ls, gr, he = steps[:, 0:2], steps[:, 2], steps[:, 3:5], steps[:, 5:8]
    d = steps[:, 8:14].reshape(-1, 3, 2)
    model_loss = (
        ls[:, None]
        + (gr[:, None, :] * d).sum(-1)
        + 0.5 * (he[:, None, 0] * d[..., 0] ** 2 + 2 * he[:, None, 1] * d[..., 0] * d[..., 1] + he[:, None, 2] * d[..., 1] ** 2)
    )
    between = np.concatenate([th[:, None, :] + d, model_loss[..., None]], -1)  # [k, 3, 3]
    return np.concatenate([between, steps[:, None, 14:17]], 1)


def _paths(record, B):
    """Per row, the recorded (θ₀, θ₁, loss) entries in order: list of [T_b, 3] numpy arrays."""
    steps = [block for _, block in record if block.ndim == 2]
    points = iter(np.split(_step_points(np.concatenate(steps)), np.cumsum([len(b) for b in steps])[:-1]) if steps else ())
    blocks = [next(points) if block.ndim == 2 else block for _, block in record]  # [k, m, 3] each
    row_of = np.concatenate([np.repeat(rows, b.shape[1]) for (rows, _), b in zip(record, blocks)])
    entries = np.concatenate([b.reshape(-1, 3) for b in blocks])
    order = np.argsort(row_of, kind="stable")  # by row; within a row, in the order recorded
    return np.split(entries[order], np.cumsum(np.bincount(row_of, minlength=B))[:-1])
