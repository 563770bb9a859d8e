"""Fitting one Normal Q = N(mu, sigma²) to a target P: the public function and its result.

Used in the chapters on mode-seeking and mean-seeking fits, on comparing objectives and on
what the seed notebook got wrong. P is the target and Q the model throughout. The objectives
and how they are evaluated live in ``_objectives``, the gradient flow in ``_flow``.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch.distributions import Distribution, Normal

from ._flow import Problem, flow, host_dtype
from ._flow_one import first_order, flow_one
from ._objectives import OBJECTIVES, Objective, _check_objective, _device_of, _evaluator, _is_smooth
from ._validate import check_positive_int, check_real_scalar

__all__ = ["OBJECTIVES", "Objective", "FitOptions", "FitResult", "fit_gaussian", "objective_value"]

_PARAMETERIZATIONS = ("log_sigma", "sigma")
_METHODS = ("flow", "adam", "gd")
_DEFAULT_LR = {"adam": 1e-3, "gd": 0.1}  # Adam's torch default (as in the seed); a plain step that is stable on the course's targets
_DEFAULT_STEPS = 10_000  # the seed notebook's number of Adam steps
_NEGATIVE_SLACK = 1e-9  # a divergence below -1e-9 is no rounding error: the grid missed mass (checked values are 1e-10 exact)
_MAX_HISTORY = 200  # rows kept in FitResult.history: enough for a smooth path in a figure
# Below this many model-density evaluations per step (rows × grid nodes) the work runs on one
# intra-op thread: torch's other threads would spin waiting for work that takes microseconds,
# and under load they steal the cores the work needs (a fit took 350 ms instead of 5 ms).
_ONE_THREAD_BELOW = 100_000_000


@contextmanager
def _threads_for(work):
    """One intra-op thread for small work (see ``_ONE_THREAD_BELOW``), restoring torch's setting afterwards."""
    old = torch.get_num_threads()
    if work >= _ONE_THREAD_BELOW or old == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _one_thread():
    """One intra-op thread, for work known to be small: tabulating a target, one model, a d×d problem."""
    return _threads_for(0)


@dataclass(frozen=True)
class FitOptions:
    """Rarely needed settings of :func:`fit_gaussian` and :func:`basins`.

    Attributes
    ----------
    tol : float, default 1e-8
        Convergence: norm of the gradient of the loss in the chosen parameterisation.
    first_time : float, optional
        ``"flow"`` only: the first time step (default 1/|λ|max of the Hessian at the start).
    device : str or torch.device, optional
        Where to compute; default: the device of the target's tensors (CUDA when they are there).
    dtype : torch.dtype, default torch.float64
        float64, or float32 (which cannot reach the default ``tol``).
    record_every : int, optional
        Record every k-th step in ``history``; default: every step, then evenly subsampled
        to at most 200 rows.

    Examples
    --------
    >>> from klcourse import FitOptions, bimodal_target, fit_gaussian
    >>> fit = fit_gaussian(bimodal_target(), "mse", 0.0, 1.0, options=FitOptions(tol=1e-4))
    >>> print(fit.converged, fit.grad_norm < 1e-4)
    True True
    """

    tol: float = 1e-8
    first_time: float | None = None
    device: object = None
    dtype: torch.dtype = torch.float64
    record_every: int | None = None

    def __post_init__(self):
        if check_real_scalar(self.tol, "tol") <= 0:
            raise ValueError(f"tol must be a positive number; got {self.tol!r}")
        if self.first_time is not None and check_real_scalar(self.first_time, "first_time") <= 0:
            raise ValueError(f"first_time must be a positive number or None; got {self.first_time!r}")
        if self.dtype not in (torch.float64, torch.float32):
            raise ValueError(f"dtype must be torch.float64 or torch.float32; got {self.dtype!r}")
        if self.record_every is not None:
            check_positive_int(self.record_every, "record_every")


# ----------------------------------------------------------------------------- the result


@dataclass(frozen=True, repr=False)
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
        Norm of the exact gradient of ``loss`` in the fitted parameterisation (from the objective's
        own derivatives in closed form or on a grid, else by autograd).
    steps : int
        Optimiser steps taken (accepted steps for ``"flow"``).
    history : numpy.ndarray, shape [T, 3]
        (mu, sigma, loss) along the path, first row the start, last row the result;
        at most 200 rows unless ``FitOptions.record_every`` was given.
    objective, parameterization, method : str
        What was fitted, and how.
    hessian : numpy.ndarray, shape [2, 2]
        Hessian of ``loss`` at the result in the fitted parameterisation: exact for MSE, cosine
        and forward KL in closed form (a Normal or Normal-mixture target; for forward KL any
        continuous target with torch's mean, variance and entropy) and for a pointwise
        objective on a grid (every one but L1, cosine and Wasserstein), else by central differences.

    Examples
    --------
    >>> from klcourse import bimodal_target, fit_gaussian
    >>> fit = fit_gaussian(bimodal_target(), "mse", -4.0, 2.0)
    >>> fit.history.shape[1], float(fit.history[0, 0]), fit.is_minimum
    (3, -4.0, True)
    >>> print(abs(fit.model.log_prob(fit.model.loc).exp().item() - 1 / (fit.sigma * 2.5066282746310002)) < 1e-15)
    True
    >>> print(fit)  # doctest: +ELLIPSIS
    FitResult('mse', flow in (mu, log_sigma): mu=-5, sigma=1.96146, value=0.103666, a local minimum,
              ... steps, |grad| ..., history [... × 3])
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

    def __repr__(self):
        """Two lines: what was fitted, where it ended and whether that is a minimum (the arrays are attributes)."""
        kind = "a local minimum" if self.is_minimum else "converged, not a minimum" if self.converged else "not converged"
        return (
            f"FitResult({self.objective!r}, {self.method} in (mu, {self.parameterization}): mu={self.mu:.6g}, "
            f"sigma={self.sigma:.6g}, value={self.value:.6g}, {kind},\n"
            f"          {self.steps} steps, |grad| {self.grad_norm:.1e}, history [{len(self.history)} × 3])"
        )

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


def _history(rows, problem, subsample):
    """Rows (mu, sigma, loss) from (θ₀, θ₁, loss), evenly subsampled by index to at most 200 rows (first and last kept)."""
    rows = np.array(rows, dtype=np.float64).reshape(-1, 3)
    if problem.log:
        rows[:, 1] = np.exp(rows[:, 1])
    if subsample and len(rows) > _MAX_HISTORY:
        rows = rows[np.unique(np.linspace(0, len(rows) - 1, _MAX_HISTORY).round().astype(int))]
    return rows


def _check_device(device, target):
    """None → the target's device; a CUDA device only when CUDA is available."""
    if device is None:
        device = _device_of(target) if isinstance(target, Distribution) else getattr(target, "device", "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device must be available on this machine; got {str(device)!r} but CUDA is not available")
    return device


def _starts(mu0, sigma0):
    """(mu0 [B], sigma0 [B], batched?) from scalars or equal-length 1-D sequences; sigma0 > 0."""
    batched = any(isinstance(v, (list, tuple, np.ndarray, torch.Tensor)) and np.ndim(v) > 0 for v in (mu0, sigma0))
    if not batched:
        mu, sigma = check_real_scalar(mu0, "mu0"), check_real_scalar(sigma0, "sigma0")
        if sigma <= 0:
            raise ValueError(f"sigma0 must be positive; got {sigma0!r}")
        return np.array([mu]), np.array([sigma]), False
    mus = np.asarray(mu0.detach().cpu() if isinstance(mu0, torch.Tensor) else mu0, dtype=np.float64).ravel()
    sigmas = np.asarray(sigma0.detach().cpu() if isinstance(sigma0, torch.Tensor) else sigma0, dtype=np.float64).ravel()
    mus, sigmas = np.broadcast_arrays(mus, sigmas) if min(mus.size, sigmas.size) == 1 else (mus, sigmas)
    if mus.shape != sigmas.shape or mus.size == 0:
        raise ValueError(f"mu0 and sigma0 must be numbers or 1-D sequences of one length; got {mus.size} and {sigmas.size}")
    if not (np.all(np.isfinite(mus)) and np.all(np.isfinite(sigmas))):
        raise ValueError("mu0 and sigma0 must hold finite numbers")
    if np.any(sigmas <= 0):
        raise ValueError(f"sigma0 must be positive; got {sigmas[sigmas <= 0][0]:g}")
    return np.array(mus), np.array(sigmas), True


def _fit_many(target, spec, options, mus, sigmas, parameterization, method, lr, steps, rtol, grid, opts):
    """The fits from every start (mus [B], sigmas [B]) as one batched computation: list of FitResult."""
    device = _check_device(opts.device, target)
    models = list(zip(mus.tolist(), sigmas.tolist()))
    with _one_thread():  # tabulating the target
        ev = _evaluator(target, spec, options, grid, models, opts.dtype, device)
    log = parameterization == "log_sigma"
    problem = Problem(ev.value, spec.maximised, log, opts.dtype, device, _is_smooth(spec, options), ev.spacing, ev.derivatives,
                      ev.scalar if opts.dtype == torch.float64 else None)  # floats are float64
    # [B, 2] on the host, in the fit's dtype: the step control works on numpy arrays, one start in floats
    theta = np.stack([mus, np.log(sigmas) if log else sigmas], -1).astype(host_dtype(opts.dtype))
    with _threads_for(9 * len(mus) * ev.nodes):
        if method == "flow":
            run = flow_one if len(mus) == 1 and device.type == "cpu" else flow  # one CPU start: Python floats are faster
            theta, loss, g, h, done, paths = run(problem, theta, steps, opts.tol, opts.first_time, rtol)
            if opts.record_every is not None:
                k = opts.record_every
                paths = [np.concatenate([p[::k], p[-1:]]) if (len(p) - 1) % k else p[::k] for p in paths]
        else:
            lr = _DEFAULT_LR[method] if lr is None else lr
            outs = [first_order(problem, theta[b : b + 1], steps, opts.tol, lr, method, opts.record_every) for b in range(len(mus))]
            theta, loss, g, h = (np.concatenate([o[i] for o in outs]) for i in range(4))
            done, paths = np.concatenate([o[4] for o in outs]), [o[5][0] for o in outs]
    theta, loss, g, h = (a.astype(np.float64) for a in (theta, loss, g, h))
    if spec.name != "cosine" and np.any(loss < -_NEGATIVE_SLACK):  # every other objective is a divergence or a distance
        raise ValueError(
            f"target's {spec.name} came out negative ({loss.min():.3g}) on the quadrature grid: the grid does not hold the "
            "mass of the target and the model (heavy tails?); pass a grid covering both"
        )
    results = []
    for b in range(len(mus)):
        grad_norm = float(math.hypot(*g[b]))
        sigma = float(math.exp(theta[b, 1]) if log else theta[b, 1])
        results.append(
            FitResult(
                mu=float(theta[b, 0]),
                sigma=sigma,
                loss=float(loss[b]),
                value=float(problem.sign * loss[b]),
                converged=bool(grad_norm < opts.tol),
                grad_norm=grad_norm,
                steps=int(done[b]),
                history=_history(paths[b], problem, subsample=opts.record_every is None),
                objective=spec.name,
                parameterization=parameterization,
                method=method,
                hessian=np.array([[h[b, 0], h[b, 1]], [h[b, 1], h[b, 2]]]),
            )
        )
    return results


def _check_fit_arguments(objective, alpha, order, parameterization, method, lr, steps, rtol, options):
    """Validate fit_gaussian's arguments: (Objective, options dict, steps, rtol, FitOptions)."""
    spec, objective_options = _check_objective(objective, alpha, order)
    if parameterization not in _PARAMETERIZATIONS:
        raise ValueError(f"parameterization must be 'log_sigma' or 'sigma'; got {parameterization!r}")
    if method not in _METHODS:
        raise ValueError(f"method must be 'flow', 'adam' or 'gd'; got {method!r}")
    if lr is not None:
        if method == "flow":
            raise ValueError("lr is the learning rate of method 'adam' or 'gd'; got lr with method 'flow' "
                             "(its first time step is FitOptions.first_time)")
        if check_real_scalar(lr, "lr") <= 0:
            raise ValueError(f"lr must be a positive number or None; got {lr!r}")
        lr = float(lr)
    steps = _DEFAULT_STEPS if steps is None else check_positive_int(steps, "steps")
    return spec, objective_options, lr, steps, _check_rtol(rtol), _check_options(options)


def _check_objective_kw(objective, kw):
    """Validate ``objective`` and a public function's ``**kw`` (only alpha= and order=): (Objective, options dict)."""
    unknown = set(kw) - {"alpha", "order"}
    if unknown:
        raise ValueError(f"kw must be alpha= or order=; got {sorted(unknown)}")
    return _check_objective(objective, kw.get("alpha"), kw.get("order"))


def _check_rtol(rtol):
    """The flow's error per step as a float in (0, 1)."""
    if not 0 < check_real_scalar(rtol, "rtol") < 1:
        raise ValueError(f"rtol must be a number between 0 and 1; got {rtol!r}")
    return float(rtol)


def _check_options(options):
    """``options`` as a FitOptions (None: the defaults)."""
    if options is None:
        return FitOptions()
    if not isinstance(options, FitOptions):
        raise ValueError(f"options must be a FitOptions or None; got {type(options).__name__}")
    return options


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
    rtol=0.1,
    grid=None,
    alpha=None,
    order=None,
    options=None,
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
    mu0, sigma0 : float or 1-D sequence
        The start; sigma0 > 0. Sequences (of one length, or one of them a single number) give a
        batch of starts, fitted as one batched computation by the flow (``"adam"`` and ``"gd"``
        run them one after another); the result is then a list.
    parameterization : {"log_sigma", "sigma"}
        Coordinates in which the gradient is taken: θ = (mu, log sigma) or (mu, sigma).
        They have the same minima but different gradient flows, hence different basins.
    method : {"flow", "adam", "gd"}
        ``"flow"`` follows the gradient flow dθ/dt = -∇L(θ) (see Notes) and ends at the
        minimum of the basin it starts in. ``"adam"`` is Adam with ``torch.optim.Adam``'s update
        and defaults (lr 1e-3), as in the seed notebook, and ``"gd"`` plain gradient descent
        (default lr 0.1); they stop after ``steps`` steps or when the gradient norm falls below ``tol``.
    lr : float, optional
        The learning rate of ``"adam"`` (default 1e-3) and ``"gd"`` (default 0.1); the flow has
        none (its time steps are chosen by error control).
    steps : int, optional
        Maximum number of steps; default 10,000.
    rtol : float, default 0.1
        ``"flow"`` only: the error allowed in each step, relative to the gradient (see Notes).
        The default ends in the right basin unless the start lies within about 0.05 of a basin
        boundary; 1e-3 (as :func:`basins` uses) within about 0.002, at two to three times the cost.
    grid : Grid or torch.Tensor, optional
        Quadrature grid or its points (trapezoid weights), used where the objective has no
        closed form for the target (see Notes) and for a target given as density values.
        Default: a trapezoidal grid covering P, the start and N(mean_P, (1.5 sd_P)²), with
        spacing a third of the narrowest scale; where P's density has a cusp or an edge (Laplace,
        uniform, exponential, ...), Gauss-Legendre panels ending on it instead.
    alpha : float, optional
        For ``"alpha"`` only.
    order : {1, 2}, optional
        For ``"wasserstein"`` only; default 2.
    options : FitOptions, optional
        Rarely needed settings: ``tol`` (1e-8, on the gradient norm), the flow's
        ``first_time``, ``device`` (default: the target's), ``dtype``, ``record_every``.

    Returns
    -------
    FitResult, or a list of FitResult for a batch of starts

    Raises
    ------
    ValueError
        For an unknown objective, parameterization or method, a missing ``alpha``, a
        non-positive ``sigma0``, ``lr`` or ``steps``, ``lr`` with the flow, or an unusable
        target or grid.

    Notes
    -----
    ``method="flow"`` integrates the gradient flow with exponential steps on the local
    quadratic model (gradient and Hessian exact for MSE, cosine and forward KL in closed form and
    for a pointwise objective on a grid, else from one batched 9-point stencil of central
    differences): a step of time t
    moves along the model's exact flow and is accepted only where the model predicted the
    new gradient to ``rtol`` (to 10% where the Hessian is positive definite: there nearby
    paths converge, so an error dies out; elsewhere they part, and near the ridge between
    two basins an error can carry the path into the neighbouring basin). Where the Hessian
    is positive definite the steps grow into Newton steps; once the gradient norm is below
    ``tol``, Newton steps checked with the exact gradient take it below ``tol``/1000, so
    the result is the minimum to about 1e-8 even where the valley is flat. Checked against
    scipy's ODE solvers on the same gradient (tests/test_fit.py): the MSE basin boundary on
    sigma0 = 1 in the sigma parameterisation lies at mu0 = -0.596; the flow puts it at -0.553
    with the default rtol and at -0.595 with rtol=1e-3.

    In the sigma parameterisation sigma stays positive: a step that would cross 0 is rejected
    (flow) or halved (adam, gd).

    ``"l1"`` and W1 are not differentiable on a grid (a kink wherever p = q at a node): their
    flow uses differences across several kinks and usually stops near, not at, a minimum,
    with ``converged=False``.

    How the objective is evaluated: where the closed-form registry (``closed_form``) has a
    rule for the target's type (MSE, cosine, forward KL and W2 for a Normal or a mixture of
    Normals; forward KL and W2 also for any continuous target whose moments (and, for W2,
    quantiles) torch knows; reverse KL, He² and α for a Normal target), that, exact to rounding;
    otherwise the quadrature rule of ``grid``. The default grid also covers the starting model, so it
    changes with the start; the minima it gives agree across starts to about 1e-10. Pass one
    ``grid`` for identical sums.

    Small problems run on one torch thread (restored afterwards): torch's idle threads spin,
    and on a busy machine they slow a fit of a few milliseconds by a factor of ten or more.

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

    A batch of starts is one computation:

    >>> fits = fit_gaussian(bimodal_target(), "mse", [-4.0, 2.5, 9.0], 2.0)
    >>> [round(f.mu, 4) for f in fits]
    [-5.0, 2.5, 10.0]
    """
    spec, objective_options, lr, steps, rtol, options = _check_fit_arguments(
        objective, alpha, order, parameterization, method, lr, steps, rtol, options
    )
    mus, sigmas, batched = _starts(mu0, sigma0)
    fits = _fit_many(target, spec, objective_options, mus, sigmas, parameterization, method, lr, steps, rtol, grid, options)
    return fits if batched else fits[0]


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
    spec, options = _check_objective_kw(objective, kw)
    mu_t = torch.as_tensor(mu, dtype=torch.float64)
    sigma_t = torch.as_tensor(sigma, dtype=torch.float64)
    check_real_scalar(mu_t.detach(), "mu")
    if check_real_scalar(sigma_t.detach(), "sigma") <= 0:
        raise ValueError(f"sigma must be positive; got {sigma!r}")
    with _one_thread():  # one model
        ev = _evaluator(target, spec, options, grid, [(mu_t.item(), sigma_t.item())], torch.float64, mu_t.device)
        return ev.value(mu_t.reshape(1, 1), sigma_t.reshape(1, 1), sigma_t.log().reshape(1, 1))[0]
