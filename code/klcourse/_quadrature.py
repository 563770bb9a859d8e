"""The default quadrature of the continuous divergences: Gauss-Legendre panels between breakpoints.

One rule decides where a 1-D distribution lives: each distribution (each component of a
mixture) is an *atom* with a location, a scale, a support and a reach, and its breakpoints
are ``loc ± scale·2^k`` for k = -3 … reach (clipped to its support, with the support's ends).
Every panel between two neighbouring breakpoints of all atoms gets 16 Gauss-Legendre nodes:
each density is smooth on each panel at its own scale, however different the scales are
(Normal(0, 0.01) against Normal(0, 100)), and geometric panels reach heavy tails (Cauchy,
Student t) out to 2^80 scales with a few hundred nodes. A panel never has a node on a
support's end, so a density that jumps there (a Uniform) costs nothing.

The reach is where the atom's density is negligible (a Normal: 64σ, e^-2048) or, for heavy
tails, where its mass beyond is below 1e-24. Whether the *integrand* has settled there is
checked, not assumed: every integral is also evaluated without the last one and two octaves
of every atom (``levels``), and ``settled`` returns the value if the last octave changes it by
less than 1e-9 relative, ``inf`` if the octaves' contributions do not shrink (a divergent
integral, such as KL(Cauchy ‖ Normal)), and raises a ``ValueError`` otherwise.

``covering_interval`` is the same rule for callers that want one interval, such as a uniform
grid for fitting or the x-range of a figure.
"""

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch.distributions import Cauchy, Laplace, MixtureSameFamily, Normal, StudentT, Uniform

_GL = {n: tuple(torch.tensor(a, dtype=torch.float64) for a in np.polynomial.legendre.leggauss(n)) for n in (8, 16)}
_INNER = -3  # the innermost breakpoints are loc ± scale/8
_REACH = {Normal: 6, Laplace: 10, Cauchy: 80, StudentT: 80, Uniform: 2}  # log2 of the standardised reach
_GENERIC_REACH = 80
_U_REACH = 120  # the u-grid of W2 reaches u = 2^-120 at both ends
SETTLED_RTOL = 1e-9


@dataclass(frozen=True)
class Atom:
    """One distribution (or mixture component) seen by the quadrature: location, scale, support, reach (log2 of scales)."""

    loc: float
    scale: float
    lo: float
    hi: float
    reach: int
    generic: bool = False
    kind: type = None
    df: float = math.inf

    def breakpoints(self):
        """loc ± scale·2^k for k = -3 … reach, the support's finite ends, and for a generic atom 2^-j steps towards them."""
        offsets = [0.0] + [s * 2.0**k for k in range(_INNER, self.reach + 1) for s in (-1.0, 1.0)]
        points = [self.loc + self.scale * o for o in offsets]
        for end in (self.lo, self.hi):
            if math.isfinite(end):
                points.append(end)
                if self.generic:  # a density may be singular at the end (Gamma with shape < 1)
                    toward = 1.0 if end == self.lo else -1.0
                    points += [end + toward * self.scale * 2.0**-j for j in range(0, 60)]
        return [x for x in points if self.lo <= x <= self.hi and math.isfinite(x)]


def _floats(t):
    return torch.as_tensor(t).detach().to(torch.float64).cpu().reshape(-1).tolist()


def _support(dist):
    """Finite or infinite ends of an interval support, as floats."""
    support = dist.support
    lo = getattr(support, "lower_bound", -math.inf)
    hi = getattr(support, "upper_bound", math.inf)
    return (min(_floats(lo)) if lo is not None else -math.inf), (max(_floats(hi)) if hi is not None else math.inf)


def atoms(dist, name="p"):
    """The atoms of a 1-D distribution: one per component of a mixture of a known family, else one."""
    if dist.support.is_discrete:
        raise ValueError(f"{name} must be a continuous distribution; got {type(dist).__name__}")
    if isinstance(dist, MixtureSameFamily) and type(dist.component_distribution) in _REACH:
        return _family_atoms(dist.component_distribution)
    if type(dist) in _REACH:
        return _family_atoms(dist)
    return [_generic_atom(dist, name)]


def _family_atoms(dist):
    """Atoms of a (batched) Normal, Laplace, Cauchy, Student t or Uniform, from its parameters."""
    reach = _REACH[type(dist)]
    if isinstance(dist, Uniform):
        lows, highs = _floats(dist.low), _floats(dist.high)
        return [Atom(0.5 * (a + b), 0.5 * (b - a), a, b, reach, kind=Uniform) for a, b in zip(lows, highs)]
    locs, scales = _floats(dist.loc.expand(dist.batch_shape)), _floats(dist.scale.expand(dist.batch_shape))
    dfs = _floats(dist.df.expand(dist.batch_shape)) if isinstance(dist, StudentT) else [math.inf] * len(locs)
    return [Atom(m, s, -math.inf, math.inf, reach, kind=type(dist), df=df) for m, s, df in zip(locs, scales, dfs)]


def _generic_atom(dist, name):
    """An atom from the quartiles (icdf) or the mean and standard deviation; support from ``dist.support``."""
    lo, hi = _support(dist)
    try:
        u = torch.tensor([0.25, 0.5, 0.75], dtype=torch.float64, device=dist.mean.device)
        q1, med, q3 = _floats(dist.icdf(u))
        loc, scale = med, 0.5 * (q3 - q1)
    except (NotImplementedError, ValueError):
        try:
            loc, scale = _floats(dist.mean)[0], _floats(dist.stddev)[0]
        except NotImplementedError:
            loc = scale = math.nan
    if not (math.isfinite(loc) and math.isfinite(scale) and scale > 0):
        raise ValueError(
            f"cannot place a default grid on {name} = {type(dist).__name__} (no quantiles, no finite mean and "
            "standard deviation): pass grid=Grid.uniform(lo, hi, n)"
        )
    return Atom(loc, scale, lo, hi, _GENERIC_REACH, generic=True)


def tilted_atoms(atoms_p, atoms_q, alpha):
    """For α outside [0, 1], where p^α q^(1-α) peaks beyond both: for each Normal atom of p (of q if α < 0), against a Normal
    atom the Gaussian p_i^α q_j^(1-α), against a Laplace atom the Normal's points (α-1)σ²/(α b) either side; for each
    Uniform atom of p, its ends at the scale on which q^(1-α) grows there."""
    if alpha < 0:
        return tilted_atoms(atoms_q, atoms_p, 1.0 - alpha)
    beta = 1.0 - alpha
    out = []
    for a in atoms_p:
        if a.kind is Uniform:  # p^α q^(1-α) grows towards p's support ends as q^(1-α) does: panels at its e-folding length
            for end in (a.lo, a.hi):
                for b in atoms_q:
                    slope = ((alpha - 1) * abs(end - b.loc) / b.scale**2 if b.kind is Normal
                             else (alpha - 1) / b.scale if b.kind is Laplace else 0.0)
                    if slope > 0:
                        out.append(Atom(end, 1.0 / slope, a.lo, a.hi, _REACH[Normal], kind=Uniform))
        if a.kind is not Normal:
            continue
        for b in atoms_q:
            if b.kind is Normal:
                precision = alpha / a.scale**2 + beta / b.scale**2
                if precision > 0:
                    loc = (alpha * a.loc / a.scale**2 + beta * b.loc / b.scale**2) / precision
                    out.append(Atom(loc, precision**-0.5, -math.inf, math.inf, _REACH[Normal], kind=Normal))
            elif b.kind is Laplace:
                shift = (alpha - 1) * a.scale**2 / (alpha * b.scale)
                out += [Atom(a.loc + s * shift, a.scale / math.sqrt(alpha), -math.inf, math.inf, _REACH[Normal], kind=Normal)
                        for s in (-1.0, 1.0)]
    return out


def _decay(atom):
    """(A, B, C) with log p(x) ≈ -A x² - B |x| - C log |x| in both tails; None for an atom of unknown tails."""
    if atom.generic:
        return None
    if atom.kind is Normal:
        return (1 / (2 * atom.scale**2), 0.0, 0.0)
    if atom.kind is Laplace:
        return (0.0, 1 / atom.scale, 0.0)
    if atom.kind is Cauchy:
        return (0.0, 0.0, 2.0)
    return (0.0, 0.0, atom.df + 1)  # Student t


def hull(atom_list):
    """The smallest interval holding every atom's support."""
    return min(a.lo for a in atom_list), max(a.hi for a in atom_list)


def tilted_is_infinite(atoms_p, atoms_q, alpha):
    """Whether ∫ p^α q^(1-α) diverges, for α > 1 (or α < 0, by symmetry): True, False, or None when a tail is unknown.

    Infinite if p has mass outside q's support hull, or if in a tail p^α q^(1-α) ≈ exp(-αT_p + (α-1)T_q) decays no
    faster than 1/|x|, T = A x² + B|x| + C log|x| of the heaviest component (Uniforms have no tail).
    """
    if alpha < 0:
        return tilted_is_infinite(atoms_q, atoms_p, 1.0 - alpha)
    (plo, phi), (qlo, qhi) = hull(atoms_p), hull(atoms_q)
    if plo < qlo or phi > qhi:
        return True
    tails_p = [_decay(a) for a in atoms_p if a.kind is not Uniform]
    if not tails_p:
        return False  # p is bounded inside q's support
    tails_q = [_decay(a) for a in atoms_q if a.kind is not Uniform]
    if None in tails_p or None in tails_q or not tails_q:
        return None
    heaviest_p, heaviest_q = min(tails_p), min(tails_q)
    e = [alpha * a - (alpha - 1) * b for a, b in zip(heaviest_p, heaviest_q)]  # decay of the integrand
    return not (e[0] > 0 or (e[0] == 0 and (e[1] > 0 or (e[1] == 0 and e[2] > 1))))


def support_not_covered(atoms_p, atoms_q):
    """Whether p has mass outside the hull of q's support (then KL(p ‖ q) = inf)."""
    (plo, phi), (qlo, qhi) = hull(atoms_p), hull(atoms_q)
    return plo < qlo or phi > qhi


# ----------------------------------------------------------------------------- panels


@dataclass(frozen=True)
class Panels:
    """Nodes x [N] and weights [3, N]: the full rule (row 2) and the rule without the last one (row 1) and two (row 0) octaves."""

    x: torch.Tensor
    levels: torch.Tensor
    breaks: torch.Tensor

    @property
    def w(self):
        return self.levels[2]


def gauss_legendre(breaks, nodes=16):
    """Gauss-Legendre nodes (16 or 8) on each panel between sorted breakpoints [B]: x [n(B-1)], w [n(B-1)]."""
    t, weights = _GL[nodes]
    a, b = breaks[:-1, None], breaks[1:, None]  # [P, 1]
    half = 0.5 * (b - a)
    x = (a + b) * 0.5 + half * t.to(breaks)  # [P, n]
    w = half * weights.to(breaks)  # [P, n]
    return x.reshape(-1), w.reshape(-1)


def _depth(x, atom_list):
    """For each node, min over atoms of log2(|x - loc|/scale) - reach: ≤ -2 in the core, in (-1, 0] in the last octave."""
    loc = torch.tensor([a.loc for a in atom_list], dtype=torch.float64)  # [A]
    scale = torch.tensor([a.scale for a in atom_list], dtype=torch.float64)
    reach = torch.tensor([a.reach for a in atom_list], dtype=torch.float64)
    z = (x[:, None] - loc).abs() / scale  # [N, A]
    return (torch.log2(z) - reach).min(-1).values  # [N]


def panels(atom_list, extra_breaks=(), device=None):
    """The composite Gauss-Legendre rule for these atoms, with the truncation levels of ``settled``."""
    points = sorted({x for a in atom_list for x in a.breakpoints()} | set(extra_breaks))
    breaks = torch.tensor(points, dtype=torch.float64)
    x, w = gauss_legendre(breaks)
    lo, hi = min(a.loc for a in atom_list), max(a.loc for a in atom_list)
    between = [Atom(0.5 * (lo + hi), 0.5 * (hi - lo), lo, hi, 2)] if hi > lo else []  # between the atoms is no tail
    depth = _depth(x, atom_list + between)
    levels = torch.stack([w * (depth <= -2), w * (depth <= -1), w])  # [3, N]
    return Panels(x.to(device), levels.to(device), breaks)


def crossings(f, breaks, x):
    """Points where f changes sign between neighbouring nodes or breakpoints (60 bisection steps): the kinks of |f|."""
    pts = torch.cat([breaks.to(x), x]).sort().values  # [M]
    with torch.no_grad():
        s = torch.sign(torch.nan_to_num(f(pts), nan=0.0))
        change = (s[:-1] * s[1:]) < 0
        a, b = pts[:-1][change], pts[1:][change]
        if a.numel() == 0:
            return []
        sa = s[:-1][change]
        for _ in range(60):
            mid = 0.5 * (a + b)
            same = torch.sign(torch.nan_to_num(f(mid), nan=0.0)) == sa
            a, b = torch.where(same, mid, a), torch.where(same, b, mid)
    return _floats(0.5 * (a + b))


def settled(values, what, finite=False):
    """The full value [3] → [] if the last octave changed it by < 1e-9 relative; inf if the octaves do not shrink
    (unless the value is known to be ``finite``); else raise."""
    v0, v1, v2 = values.detach().tolist()
    if not math.isfinite(v2) and not finite:
        return values[2]
    d2, d1 = abs(v2 - v1), abs(v1 - v0)
    if d2 <= SETTLED_RTOL * abs(v2):
        return values[2]
    if d2 >= 0.99 * d1 and not finite:  # each octave adds as much as the last, or more: the integral diverges
        return torch.full_like(values[2], math.inf)
    raise ValueError(
        f"{what}: the integrand's tails converge too slowly for the default grid to promise 1e-6 "
        f"(the last octave still adds {d2 / abs(v2):.1e} of the value); pass grid=Grid.uniform(lo, hi, n) "
        "or Grid.from_points(x) and judge the accuracy yourself"
    )


def covering_interval(*dists, tail=1e-12):
    """[lo, hi] (floats) holding all but ``tail`` of every distribution's (every component's) mass on each side."""
    lo, hi = math.inf, -math.inf
    for d in dists:
        for a, b in _quantile_pairs(d, tail):
            lo, hi = min(lo, a), max(hi, b)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError("cannot choose an interval covering these distributions: pass grid=Grid.uniform(lo, hi, n)")
    return lo, hi


def _quantile_pairs(dist, tail):
    """(F⁻¹(tail), F⁻¹(1 - tail)) of each atom of dist."""
    comps = dist.component_distribution if isinstance(dist, MixtureSameFamily) else dist
    if type(comps) in (Normal, Laplace, Cauchy, Uniform):
        u = torch.tensor(tail, dtype=torch.float64)
        lows = _floats(_quantile_lower(comps, u.expand(comps.batch_shape)))
        highs = _floats(_quantile_upper(comps, u.expand(comps.batch_shape)))
        return list(zip(lows, highs))
    if type(comps) is StudentT:  # P(|T| > t) <= tail for t = scale·z with z from the Cauchy bound when df >= 1
        return [(a.loc - a.scale * _student_z(df, tail), a.loc + a.scale * _student_z(df, tail))
                for a, df in zip(_family_atoms(comps), _floats(comps.df.expand(comps.batch_shape)))]
    from ._continuous import _generic_bounds  # icdf or bisection on cdf

    return [_generic_bounds(dist, tail)]


def _student_z(df, tail):
    """z with P(T_df > z) <= tail, from the tail bound P(T > z) <= c_df z^-df / df (bisection-free, a little wide)."""
    log_c = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi) + (df + 1) / 2 * math.log(df)
    return max(1.0, math.exp((log_c - math.log(df) - math.log(tail)) / df))


# ----------------------------------------------------------------------------- CDFs and quantiles with accurate tails


def cdf_sf(dist, x):
    """(F(x), 1 - F(x)) [N], each accurate in its own tail for the known families and their mixtures; None if no cdf."""
    if isinstance(dist, MixtureSameFamily) and type(dist.component_distribution) in _CDF_SF:
        w = dist.mixture_distribution.probs  # [K]
        F, S = _CDF_SF[type(dist.component_distribution)](dist.component_distribution, x[:, None])  # [N, K]
        return (F * w).sum(-1), (S * w).sum(-1)
    if type(dist) in _CDF_SF:
        return _CDF_SF[type(dist)](dist, x)
    from ._continuous import _cdf

    try:
        F = _cdf(dist, x)
    except NotImplementedError:
        return None
    return F, 1.0 - F


def _normal_cdf_sf(d, x):
    z = (x - d.loc) / (d.scale * math.sqrt(2.0))
    return 0.5 * torch.erfc(-z), 0.5 * torch.erfc(z)  # torch.special.ndtr(z) is 0.5(1 + erf): 0 below z = -8.3


def _laplace_cdf_sf(d, x):
    z = (x - d.loc) / d.scale
    half_tail = 0.5 * torch.exp(-z.abs())
    return torch.where(z < 0, half_tail, 1 - half_tail), torch.where(z < 0, 1 - half_tail, half_tail)


def _cauchy_cdf_sf(d, x):
    z = (x - d.loc) / d.scale
    one = torch.ones_like(z)
    return torch.atan2(one, -z) / math.pi, torch.atan2(one, z) / math.pi


def _uniform_cdf_sf(d, x):
    width = d.high - d.low
    return ((x - d.low) / width).clamp(0, 1), ((d.high - x) / width).clamp(0, 1)


_CDF_SF = {Normal: _normal_cdf_sf, Laplace: _laplace_cdf_sf, Cauchy: _cauchy_cdf_sf, Uniform: _uniform_cdf_sf}


def _quantile_lower(d, u):
    """F⁻¹(u) for u <= ½, accurate as u → 0, for the families of ``_CDF_SF``."""
    if isinstance(d, Normal):
        return d.loc + d.scale * torch.special.ndtri(u)
    if isinstance(d, Laplace):
        return d.loc + d.scale * torch.log(2 * u)
    if isinstance(d, Cauchy):
        return d.loc - d.scale / torch.tan(math.pi * u)
    return d.low + u * (d.high - d.low)


def _quantile_upper(d, s):
    """F⁻¹(1 - s) for s <= ½, accurate as s → 0."""
    if isinstance(d, Normal):
        return d.loc - d.scale * torch.special.ndtri(s)
    if isinstance(d, Laplace):
        return d.loc - d.scale * torch.log(2 * s)
    if isinstance(d, Cauchy):
        return d.loc + d.scale / torch.tan(math.pi * s)
    return d.high - s * (d.high - d.low)


def quantile(dist, s, upper, bracket):
    """F⁻¹(s) (upper=False) or F⁻¹(1 - s) (upper=True) at s [N] <= ½; bisection with one Newton step for the gradient."""
    if type(dist) in _CDF_SF:
        return (_quantile_upper if upper else _quantile_lower)(dist, s)
    if isinstance(dist, MixtureSameFamily) and type(dist.component_distribution) in _CDF_SF:
        comp = (_quantile_upper if upper else _quantile_lower)(dist.component_distribution, s[:, None])  # [N, K]
        a, b = comp.detach().min(-1).values, comp.detach().max(-1).values  # the mixture's quantile lies between
    else:
        if not upper and not isinstance(dist, MixtureSameFamily):
            try:
                return dist.icdf(s)
            except NotImplementedError:
                pass
        a, b = (torch.full_like(s, v) for v in bracket)
    with torch.no_grad():
        root = _solve_tail(dist, s, upper, a, b)
    # one Newton step at the root: the same value, and the gradient of the implicit function F(x(θ); θ) = u
    from ._continuous import _log_density

    F, S = cdf_sf(dist, root)
    density = _log_density(dist, root).exp().clamp_min(torch.finfo(root.dtype).tiny)
    step = torch.where(density > 0, ((s - S) if upper else (F - s)) / density, 0.0)
    return root - step if not upper else root + step


def _solve_tail(dist, s, upper, a, b):
    """x in [a, b] with log F(x) = log s (or log S(x) = log s): Newton on the log of the tail, bisection when it leaves the bracket."""
    from ._continuous import _log_density

    log_s = s.log()
    x = 0.5 * (a + b)
    for _ in range(100):
        F, S = cdf_sf(dist, x)
        tail = (S if upper else F).clamp_min(torch.finfo(x.dtype).tiny)
        excess = tail.log() - log_s  # > 0: the quantile lies above x (upper) or below it (lower)
        if bool((excess.abs() <= 1e-14).all()):
            return x
        above = (excess > 0) if upper else (excess < 0)
        a, b = torch.where(above, x, a), torch.where(above, b, x)
        slope = _log_density(dist, x).exp() / tail * (-1.0 if upper else 1.0)  # d log(tail)/dx
        newton = x - excess / slope
        inside = torch.isfinite(newton) & (newton > a) & (newton < b)
        step = torch.where(inside, newton, 0.5 * (a + b))
        if bool((b - a <= 4e-16 * (a.abs() + b.abs())).all()):
            return step
        x = step
    return x


def u_panels(extra):
    """Gauss-Legendre panels in s ∈ (0, ½] with breakpoints 2^-k (k ≤ 120) and ``extra``, and the levels of ``settled``."""
    points = sorted({0.5} | {2.0**-k for k in range(1, _U_REACH + 1)} | {s for s in extra if 2.0**-_U_REACH < s < 0.5})
    s, w = gauss_legendre(torch.tensor(points, dtype=torch.float64), nodes=8)  # from 2^-200 to ½; the levels check what lies below
    octave = -torch.log2(s)  # [N], 1 … 200
    levels = torch.stack([w * (octave <= _U_REACH - 2), w * (octave <= _U_REACH - 1), w])
    return s, levels
