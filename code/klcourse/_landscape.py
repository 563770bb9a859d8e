"""Loss landscapes over (mu, sigma), their local minima, and the basins the gradient flow drains into.

Used in the chapters on mode-seeking and mean-seeking fits and on what the seed notebook got
wrong: the landscape shows *why* a fit lands where it does, and the basin map shows that the
answer depends on the start and on the parameterisation, not only on the objective.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
from torch.distributions import Distribution

from ._continuous import _bounds
from ._fit import (_DEFAULT_STEPS, FitOptions, FitResult, _check_device, _check_objective_kw, _check_options, _check_rtol,
                   _fit_many, _one_thread, _threads_for)
from ._objectives import _evaluator, _smallest_scale
from ._validate import check_positive_int, check_real_scalar

# Model log-densities evaluated per batch (rows × grid nodes): each temporary array of a grid
# kernel is then 512 KiB of float64 and stays in the CPU's cache. The eight 60 × 50 landscapes of
# comparing-losses took 0.28 s in a fresh process, against 0.40 s at 250,000 (2 MB arrays) and
# 0.33 s at 32,768; at 2,000,000 (16 MB) every operation streams main memory (JS alone 0.30 s).
_CHUNK = 65_536
_SAME_MINIMUM = 1e-5  # two fits ended at one minimum if (mu, log sigma) agree to this
_MAX_RESTARTS = 2  # generations of restarts off a saddle per candidate: at most 1 + 2 + 4 fits each
_RTOL_SINGLE = 0.1  # local_minima's polishing fits use fit_gaussian's default: each starts inside its basin
_OFF_SADDLE = 0.01  # restarts lie this far either side of a saddle, along its descending direction


class LocalMinimum(NamedTuple):
    """A local minimum of an objective over (mu, sigma); ``loss`` is the objective as minimised.

    Examples
    --------
    >>> m = LocalMinimum(-5.0, 1.0, 0.6931471805599453)
    >>> mu, sigma, loss = m
    >>> print(m.sigma == sigma == 1.0)
    True
    """

    mu: float
    sigma: float
    loss: float


def _as_vector(values, name):
    """A non-empty 1-D float64 numpy array of finite numbers."""
    arr = np.asarray(values.detach().cpu() if isinstance(values, torch.Tensor) else values, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0 or not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be a non-empty 1-D sequence of finite numbers; got shape {arr.shape}")
    return arr


def _as_sigmas(values, name):
    """Like :func:`_as_vector`, all entries positive."""
    arr = _as_vector(values, name)
    if np.any(arr <= 0):
        raise ValueError(f"{name} must be positive; got {arr[arr <= 0][0]:g}")
    return arr


def _values(ev, mus, sigmas):
    """Natural values on the (sigma, mu) mesh [S, M], in chunks of at most _CHUNK model densities."""
    mu_rows = torch.as_tensor(np.tile(mus, len(sigmas)), dtype=torch.float64)[:, None]  # [S·M, 1]
    sigma_rows = torch.as_tensor(np.repeat(sigmas, len(mus)), dtype=torch.float64)[:, None]
    chunk = max(1, _CHUNK // ev.nodes)
    out = []
    with torch.no_grad(), _threads_for(len(mu_rows) * ev.nodes):
        for i in range(0, len(mu_rows), chunk):
            s = sigma_rows[i : i + chunk]
            out.append(ev.value(mu_rows[i : i + chunk], s, s.log()).cpu())
    return torch.cat(out).numpy().reshape(len(sigmas), len(mus))


def landscape(target, objective, mus, sigmas, grid=None, **kw):
    """The objective's value for every model N(mu, sigma²) on a mesh of mus and sigmas.

    Parameters
    ----------
    target : torch.distributions.Distribution or torch.Tensor
        P, as in :func:`fit_gaussian` (density values need ``grid``).
    objective : str
        A key of :data:`OBJECTIVES`.
    mus, sigmas : array_like, 1-D
        The mesh; sigmas positive.
    grid : Grid or torch.Tensor, optional
        Quadrature grid; default: one grid covering the target and every model on the mesh.
    **kw
        ``alpha=`` for ``"alpha"``, ``order=`` for ``"wasserstein"``.

    Returns
    -------
    numpy.ndarray, shape [len(sigmas), len(mus)]
        The natural value (as :func:`objective_value`: the similarity itself for ``"cosine"``);
        row i is sigma = sigmas[i], ready for ``contour(mus, sigmas, L)``.

    Notes
    -----
    One batched call of the objective's grid kernel per chunk of models: a 100 × 100 mesh
    takes a fraction of a second.

    Examples
    --------
    >>> import numpy as np
    >>> from klcourse import bimodal_target, landscape, objective_value
    >>> L = landscape(bimodal_target(), "mse", [-5.0, 2.5, 10.0], [1.0, 10.0])
    >>> L.shape
    (2, 3)
    >>> print(abs(L[1, 1] - objective_value(bimodal_target(), "mse", 2.5, 10.0).item()) < 1e-12)
    True
    """
    spec, options = _check_objective_kw(objective, kw)
    mus, sigmas = _as_vector(mus, "mus"), _as_sigmas(sigmas, "sigmas")
    models = [(mus.min(), sigmas.max()), (mus.max(), sigmas.max()), (mus.mean(), sigmas.min())]
    with _one_thread():
        ev = _evaluator(target, spec, options, grid, models, torch.float64, torch.device("cpu"))
    return _values(ev, mus, sigmas)


def _default_mesh(target):
    """mus over the target's central range, sigmas log-spaced from a quarter of its narrowest scale to twice its spread."""
    if not isinstance(target, Distribution):
        raise ValueError("mus and sigmas must be given when target is a tensor of density values; got None")
    lo, hi = _bounds(target, 1e-3)
    sd = target.stddev.item()
    small = _smallest_scale(target) or sd
    return np.linspace(lo, hi, 61), np.geomspace(small / 4, 2 * sd, 41)


def _same(a, b):
    """Whether two (mu, sigma) points are one minimum (to 1e-5 in mu and in log sigma)."""
    return abs(a[0] - b[0]) <= _SAME_MINIMUM * (1 + abs(a[0])) and abs(math.log(a[1] / b[1])) <= _SAME_MINIMUM


def local_minima(target, objective, mus=None, sigmas=None, grid=None, parameterization="log_sigma", values=None, **kw):
    """All local minima of an objective over (mu, sigma): screened on a mesh, then polished.

    Parameters
    ----------
    target : torch.distributions.Distribution or torch.Tensor
        P, as in :func:`fit_gaussian`.
    objective : str
        A key of :data:`OBJECTIVES`; for ``"cosine"`` the minima of -similarity (the maxima).
    mus, sigmas : array_like, optional
        The screening mesh. Default: 61 mus over the target's range (0.1% quantiles) and 41
        log-spaced sigmas from a quarter of its narrowest component to twice its spread.
    grid : Grid or torch.Tensor, optional
        Quadrature grid shared by the screening and the polishing.
    parameterization : {"log_sigma", "sigma"}
        Of the polishing fits (the minima do not depend on it).
    values : array_like, shape [len(sigmas), len(mus)], optional
        The objective's natural values on this mesh, as :func:`landscape` returns them for the
        same target, objective and grid: the screening then uses them instead of evaluating
        the mesh again (a chapter that draws the landscape has them already).
    **kw
        ``alpha=`` or ``order=``.

    Returns
    -------
    list of LocalMinimum
        (mu, sigma, loss), sorted by loss; only minima whose polishing fit converged to a
        minimum (``FitResult.is_minimum``) inside the mesh's box, ``min(mus) <= mu <= max(mus)``
        and ``min(sigmas) <= sigma <= max(sigmas)``.

    Notes
    -----
    Every mesh point no higher than its eight neighbours is a candidate; ``fit_gaussian`` (the
    gradient flow, ending with Newton steps) takes it to the minimum of its basin, and
    duplicates are merged. A flow started on a symmetry axis can end at a saddle (gradient
    zero, Hessian with a negative eigenvalue); it is restarted 0.01 to either side along the
    descending direction, at most twice in succession per candidate and once per saddle. A fit
    that ends at a flat point (gradient and Hessian zero: for density values on a grid, a model
    whose mass lies off the grid) or outside the box is dropped, not restarted. A minimum
    narrower than the mesh spacing, or outside the box, is missed.

    Examples
    --------
    >>> from klcourse import bimodal_target, local_minima
    >>> for m in local_minima(bimodal_target(), "mse"):
    ...     print(f"{m.mu:.6f} {m.sigma:.6f} {m.loss:.7f}")
    -5.000000 1.961459 0.1036659
    10.000000 1.961459 0.1036659
    2.500000 10.233264 0.1091401

    A landscape already computed on the mesh saves evaluating it twice:

    >>> import numpy as np
    >>> from klcourse import landscape
    >>> mus, sigmas = np.linspace(-10.0, 15.0, 26), np.geomspace(0.5, 20.0, 16)
    >>> L = landscape(bimodal_target(), "mse", mus, sigmas)
    >>> found = local_minima(bimodal_target(), "mse", mus, sigmas, values=L)
    >>> print(found == local_minima(bimodal_target(), "mse", mus, sigmas))
    True
    """
    spec, options = _check_objective_kw(objective, kw)
    if mus is None or sigmas is None:
        default_mus, default_sigmas = _default_mesh(target)
        mus = default_mus if mus is None else mus
        sigmas = default_sigmas if sigmas is None else sigmas
    mus, sigmas = _as_vector(mus, "mus"), _as_sigmas(sigmas, "sigmas")
    if values is not None:
        values = np.asarray(values, dtype=np.float64)
        if values.shape != (len(sigmas), len(mus)):
            raise ValueError(f"values must have shape [len(sigmas), len(mus)] = {(len(sigmas), len(mus))}; got {values.shape}")
    models = [(mus.min(), sigmas.max()), (mus.max(), sigmas.max()), (mus.mean(), sigmas.min())]
    with _one_thread():
        ev = _evaluator(target, spec, options, grid, models, torch.float64, torch.device("cpu"))
    grid = ev.grid  # shared by every polishing fit (None for a closed form)
    L = (-1.0 if spec.maximised else 1.0) * (_values(ev, mus, sigmas) if values is None else values)  # [S, M] loss
    padded = np.pad(L, 1, constant_values=np.inf)
    neighbours = np.stack(
        [padded[1 + di : 1 + di + L.shape[0], 1 + dj : 1 + dj + L.shape[1]] for di in (-1, 0, 1) for dj in (-1, 0, 1) if di or dj]
    )  # [8, S, M]
    candidates = np.argwhere(np.all(L[None] <= neighbours, axis=0) & np.isfinite(L))
    box = (mus.min(), mus.max(), sigmas.min(), sigmas.max())
    found, saddles = [], []
    starts = [(mus[j], sigmas[i]) for i, j in candidates]
    for restarts in range(_MAX_RESTARTS + 1):  # each generation of starts is one batched computation
        if not starts:
            break
        fits = _fit_many(target, spec, options, np.array([s[0] for s in starts]), np.array([s[1] for s in starts]),
                         parameterization, "flow", None, _DEFAULT_STEPS, _RTOL_SINGLE, grid, FitOptions())
        starts = []
        for fit in fits:
            end = (fit.mu, fit.sigma)
            if not _inside(end, box):
                continue
            if fit.is_minimum:
                if not any(_same(end, (m.mu, m.sigma)) for m in found):
                    found.append(LocalMinimum(fit.mu, fit.sigma, fit.loss))
            elif _is_saddle(fit) and restarts < _MAX_RESTARTS and not any(_same(end, s) for s in saddles):
                saddles.append(end)
                starts.extend(_off_saddle(fit))
    return sorted(found, key=lambda m: (round(m.loss, 12), m.mu))


def _inside(point, box):
    """Whether (mu, sigma) lies in the box [mu_lo, mu_hi] × [sigma_lo, sigma_hi], to the tolerance of ``_same``."""
    (mu, sigma), (mu_lo, mu_hi, sigma_lo, sigma_hi) = point, box
    slack = _SAME_MINIMUM * (1 + max(abs(mu_lo), abs(mu_hi)))
    log_slack = _SAME_MINIMUM
    return (
        mu_lo - slack <= mu <= mu_hi + slack
        and math.log(sigma_lo) - log_slack <= math.log(sigma) <= math.log(sigma_hi) + log_slack
    )


def _is_saddle(fit):
    """Converged where the Hessian has a negative eigenvalue (a flat point, Hessian zero, is not one)."""
    return fit.converged and bool(np.linalg.eigvalsh(fit.hessian)[0] < 0)


def _off_saddle(fit):
    """Two starts 0.01 either side of a saddle along its most negative curvature direction."""
    _, vectors = np.linalg.eigh(fit.hessian)
    v = vectors[:, 0]  # eigenvector of the smallest eigenvalue, in the fit's coordinates
    theta = np.array([fit.mu, math.log(fit.sigma) if fit.parameterization == "log_sigma" else fit.sigma])
    out = []
    for t in (theta + _OFF_SADDLE * v, theta - _OFF_SADDLE * v):
        sigma = math.exp(t[1]) if fit.parameterization == "log_sigma" else t[1]
        if sigma > 0:
            out.append((t[0], sigma))
    return out


@dataclass(frozen=True, repr=False)
class Basins:
    """Where the gradient flow from each start ends: the result of :func:`basins`.

    Attributes
    ----------
    labels : numpy.ndarray of int, shape [len(sigma_starts), len(mu_starts)]
        Index into ``minima`` of the minimum reached from each start; -1 if that fit did not
        converge to a minimum (it stopped early, or at a saddle on a symmetry axis).
    minima : list of LocalMinimum
        The minima reached, in order of first discovery (or as given).
    mu_starts, sigma_starts : numpy.ndarray
        The starts.
    objective, parameterization : str
        What was fitted, and in which coordinates.
    results : list of list of FitResult
        ``results[i][j]`` is the fit from (mu_starts[j], sigma_starts[i]), with its path.

    Examples
    --------
    >>> from klcourse import basins, bimodal_target
    >>> b = basins(bimodal_target(), "reverse_kl", [-3.0, 8.0], [1.0])
    >>> b.labels.tolist(), [round(m.mu, 6) for m in b.minima]
    ([[0, 1]], [-5.0, 10.0])
    >>> print(b.results[0][1].mu == b.minima[1].mu)
    True
    """

    labels: np.ndarray
    minima: list
    mu_starts: np.ndarray
    sigma_starts: np.ndarray
    objective: str
    parameterization: str
    results: list

    def __repr__(self):
        """One line per minimum with its share of the starts, after a line on the map (the fits are attributes)."""
        n = self.labels.size
        lines = [f"Basins({self.objective!r} in (mu, {self.parameterization}): {len(self.sigma_starts)} × {len(self.mu_starts)} starts, "
                 f"{int((self.labels < 0).sum())} unlabelled"]
        lines += [f"  minimum {k}: mu={m.mu:.6g}, sigma={m.sigma:.6g}, loss={m.loss:.6g}, "
                  f"{100.0 * (self.labels == k).sum() / n:.1f}% of the starts" for k, m in enumerate(self.minima)]
        return "\n".join(lines) + ")"


def basins(target, objective, mu_starts, sigma_starts, parameterization="log_sigma", grid=None, minima=None,
           rtol=1e-3, options=None, **kw):
    """Run the gradient flow (``fit_gaussian``, method "flow") from every start and label the minimum it reaches.

    Parameters
    ----------
    target : torch.distributions.Distribution or torch.Tensor
        P, as in :func:`fit_gaussian`.
    objective : str
        A key of :data:`OBJECTIVES`.
    mu_starts, sigma_starts : array_like, 1-D
        The starts form the mesh sigma_starts × mu_starts.
    parameterization : {"log_sigma", "sigma"}
        The coordinates of the flow: the basins depend on it.
    grid : Grid or torch.Tensor, optional
        Quadrature grid shared by every fit.
    minima : list of LocalMinimum, optional
        Label against these (e.g. from :func:`local_minima`, so two basin maps share colours);
        a converged fit that matches none of them is appended.
    rtol : float, default 1e-3
        The flow's error per step (see :func:`fit_gaussian`): tighter than a single fit's
        default, since a map is asked which basin each start is in, and its starts come close
        to the boundaries.
    options : FitOptions, optional
        As in :func:`fit_gaussian` (``device`` and ``dtype`` most of all).
    **kw
        ``alpha=`` or ``order=``.

    Returns
    -------
    Basins

    Notes
    -----
    All starts run as one batched gradient flow (``fit_gaussian`` with a batch of starts): each
    start keeps its own step size and stops when it has converged; every step evaluates the
    loss for all live starts in one call, on the device of the target's tensors.

    Examples
    --------
    From (-1, 1) the MSE flow reaches the left mode with sigma as the parameter, the wide
    compromise with log sigma:

    >>> from klcourse import basins, bimodal_target
    >>> for par in ("sigma", "log_sigma"):
    ...     b = basins(bimodal_target(), "mse", [-1.0], [1.0], parameterization=par)
    ...     m = b.minima[b.labels[0, 0]]
    ...     print(par, round(m.mu, 4), round(m.sigma, 4))
    sigma -5.0 1.9615
    log_sigma 2.5 10.2333
    """
    spec, objective_options = _check_objective_kw(objective, kw)
    mu_starts, sigma_starts = _as_vector(mu_starts, "mu_starts"), _as_sigmas(sigma_starts, "sigma_starts")
    rtol, options = _check_rtol(rtol), _check_options(options)
    found = list(minima) if minima is not None else []
    labels = np.full((len(sigma_starts), len(mu_starts)), -1, dtype=int)
    mus, sigmas = np.tile(mu_starts, len(sigma_starts)), np.repeat(sigma_starts, len(mu_starts))  # row-major over [S, M]
    fits = _fit_many(target, spec, objective_options, mus, sigmas, parameterization, "flow", None, _DEFAULT_STEPS, rtol,
                     grid, options)  # one batched flow; the default grid covers every start
    for n, fit in enumerate(fits):
        if not fit.is_minimum:
            continue
        match = [k for k, m in enumerate(found) if _same((fit.mu, fit.sigma), (m.mu, m.sigma))]
        if not match:
            found.append(LocalMinimum(fit.mu, fit.sigma, fit.loss))
            match = [len(found) - 1]
        labels[divmod(n, len(mu_starts))] = match[0]
    results = [fits[i * len(mu_starts) : (i + 1) * len(mu_starts)] for i in range(len(sigma_starts))]
    return Basins(labels, found, mu_starts, sigma_starts, objective, parameterization, results)


class BasinBoundary(NamedTuple):
    """Where a start's basin ends along a segment of starts: the result of :func:`basin_boundary`.

    Attributes
    ----------
    mu, sigma : float
        The start (mu0, sigma0) in the middle of the last bracket: the boundary, to ``width / 2``.
    width : float
        Length in (mu, sigma) of the last bracket, at most ``xtol``.
    inside, outside : FitResult
        The fits from the bracket's two ends: ``inside`` still reaches the minimum that the flow
        from ``start`` reaches, ``outside`` does not.

    Examples
    --------
    In (mu, log sigma) the MSE flow from (-5, 1) reaches the left peak and from (0, 1) the wide
    compromise; to two decimals:

    >>> from klcourse import basin_boundary, bimodal_target
    >>> edge = basin_boundary(bimodal_target(), "mse", (-5.0, 1.0), (0.0, 1.0), xtol=0.01)
    >>> print(f"{edge.mu:.2f} {edge.sigma:g}", edge.width <= 0.01, round(edge.inside.mu, 4), round(edge.outside.sigma, 4))
    -2.64 1 True -5.0 10.2333
    """

    mu: float
    sigma: float
    width: float
    inside: FitResult
    outside: FitResult


def _as_start(value, name):
    """A start (mu0, sigma0) as a float64 array [2] with sigma0 > 0."""
    arr = _as_vector(value, name)
    if arr.size != 2 or arr[1] <= 0:
        raise ValueError(f"{name} must be a start (mu0, sigma0) with sigma0 > 0; got {value!r}")
    return arr


def basin_boundary(target, objective, start, end, parameterization="log_sigma", grid=None, rtol=1e-3, xtol=1e-4,
                   points=63, options=None, **kw):
    """Where, on the segment of starts from ``start`` to ``end``, the gradient flow stops reaching ``start``'s minimum.

    Parameters
    ----------
    target : torch.distributions.Distribution or torch.Tensor
        P, as in :func:`fit_gaussian`.
    objective : str
        A key of :data:`OBJECTIVES`.
    start, end : (float, float)
        The ends (mu0, sigma0) of the segment, sigma0 > 0. The flow from ``start`` must reach a
        local minimum, and the flow from ``end`` must not reach the same one.
    parameterization : {"log_sigma", "sigma"}
        The coordinates of the flow: the basins depend on it.
    grid : Grid or torch.Tensor, optional
        Quadrature grid shared by every fit; default: one grid covering the target and both ends
        (hence every start between them).
    rtol : float, default 1e-3
        The flow's error per step, as in :func:`basins`: the starts come close to the boundary.
    xtol : float, default 1e-4
        Stop once the bracket (two starts, one either side of the boundary) is at most this
        long, measured in (mu, sigma).
    points : int, default 63
        Starts per round, evenly spaced inside the bracket and run as one batched flow; 1 makes
        the search a bisection of single fits.
    options : FitOptions, optional
        As in :func:`fit_gaussian`.
    **kw
        ``alpha=`` or ``order=``.

    Returns
    -------
    BasinBoundary

    Raises
    ------
    ValueError
        For a malformed start, non-positive ``xtol``, if the flow from ``start`` reaches no
        minimum, or if the flow from ``end`` reaches the same minimum as the flow from ``start``.

    Notes
    -----
    A search by rounds of batched scans instead of bisection: each round runs the flow from
    ``points`` starts evenly spaced inside the bracket (at first the whole segment) as one
    batched computation (as :func:`basins` does), and keeps the first pair of neighbours
    between which the flow stops reaching ``start``'s minimum. The bracket shrinks by a factor
    ``points + 1`` per round: with the defaults a segment of length 5 takes 3 rounds, where
    bisection takes 16 fits one after another. A batched flow costs little more than a single
    one (it runs as long as its slowest start), so few rounds of many starts are the faster
    search, by far on a GPU. A fit that ends at a saddle or does not converge counts as
    outside the basin. Where the basins alternate along the segment, the boundary found is
    the first change seen from ``start`` at the resolution of the first round.

    Examples
    --------
    On the line sigma0 = 1 the MSE flow in (mu, sigma) reaches the left peak from mu0 = -5 and
    the wide compromise from mu0 = 0; its basin boundary lies between:

    >>> from klcourse import basin_boundary, bimodal_target
    >>> edge = basin_boundary(bimodal_target(), "mse", (-5.0, 1.0), (0.0, 1.0), parameterization="sigma")
    >>> print(f"mu0 = {edge.mu:.3f}, sigma0 = {edge.sigma:g}", edge.width <= 1e-4)
    mu0 = -0.595, sigma0 = 1 True
    >>> round(edge.inside.mu, 4), round(edge.outside.mu, 4)
    (-5.0, 2.5)
    """
    spec, objective_options = _check_objective_kw(objective, kw)
    a, b = _as_start(start, "start"), _as_start(end, "end")
    length = float(np.hypot(*(b - a)))
    if length == 0:
        raise ValueError(f"end must differ from start; got {end!r} twice")
    if check_real_scalar(xtol, "xtol") <= 0:
        raise ValueError(f"xtol must be a positive number; got {xtol!r}")
    points = check_positive_int(points, "points")
    rtol, options = _check_rtol(rtol), _check_options(options)
    if grid is None:  # one default grid for every fit: the one a batch of both ends gets (it covers every start between)
        with _one_thread():
            grid = _evaluator(target, spec, objective_options, None, [tuple(a), tuple(b)], options.dtype,
                              _check_device(options.device, target)).grid

    def run(starts):  # [n, 2] -> list of FitResult, one batched flow
        return _fit_many(target, spec, objective_options, starts[:, 0], starts[:, 1], parameterization, "flow", None,
                         _DEFAULT_STEPS, rtol, grid, options)

    first, last = run(a[None])[0], run(b[None])[0]  # one start each: on the CPU the single-start flow is the fastest
    if not first.is_minimum:
        raise ValueError(f"start must be a start from which the flow reaches a local minimum; from {start!r} it stops at "
                         f"({first.mu:.6g}, {first.sigma:.6g}), {'not a minimum' if first.converged else 'not converged'}")

    def inside(fit):
        return fit.is_minimum and _same((fit.mu, fit.sigma), (first.mu, first.sigma))

    if inside(last):
        raise ValueError(f"end must lie outside the basin of start; the flow from both reaches ({first.mu:.6g}, {first.sigma:.6g})")
    lo, hi, fit_lo, fit_hi = 0.0, 1.0, first, last  # fractions of the way from start to end
    while (hi - lo) * length > xtol:
        ts = lo + (hi - lo) * np.arange(1, points + 1) / (points + 1)  # [points]
        fits = run(a + ts[:, None] * (b - a))
        k = next((i for i, fit in enumerate(fits) if not inside(fit)), points)  # first start outside
        if k < points:
            hi, fit_hi = ts[k], fits[k]
        if k > 0:
            lo, fit_lo = ts[k - 1], fits[k - 1]
    mu, sigma = a + 0.5 * (lo + hi) * (b - a)
    return BasinBoundary(float(mu), float(sigma), float((hi - lo) * length), fit_lo, fit_hi)
