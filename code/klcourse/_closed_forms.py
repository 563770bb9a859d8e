"""Closed forms, looked up by (measure name, type of p, type of q), like torch's ``@register_kl``.

KL itself dispatches to ``torch.distributions.kl_divergence``, which already knows many pairs;
this registry adds the other measures for Normal pairs, and the Gaussian helpers used in the
chapters (1-D KL and entropy, multivariate KL, the factorised Gaussian fits of Bishop §10.1.2).
"""

import math
import weakref

import numpy as np
import torch
from torch.distributions import Distribution, MixtureSameFamily, Normal
from torch.distributions import kl_divergence as _torch_kl

from ._validate import (
    as_common_tensors,
    broadcastable,
    check_base,
    check_finite,
    check_positive,
    check_real_scalar,
    to_output,
)

_REGISTRY = {}  # (name, type of p, type of q) -> function(p, q, **kw)


def register_closed_form(name, type_p, type_q):
    """Decorator registering ``fn(p, q, **kw)`` as the closed form of measure ``name`` for a type pair.

    Parameters
    ----------
    name : str
        Measure name, such as "kl", "hellinger", "renyi", "alpha", "bhattacharyya", "wasserstein2".
    type_p, type_q : type
        Subclasses of ``torch.distributions.Distribution``; lookup walks both MROs, so a
        rule for a base class serves its subclasses unless a more specific rule exists.

    Returns
    -------
    callable
        The decorator; it returns the function unchanged.

    Examples
    --------
    >>> import torch
    >>> from torch.distributions import Laplace
    >>> from klcourse import closed_form, register_closed_form
    >>> @register_closed_form("mean_gap", Laplace, Laplace)
    ... def _laplace_mean_gap(p, q):
    ...     return (p.loc - q.loc).abs()
    >>> gap = closed_form("mean_gap", Laplace(0.0, 1.0), Laplace(3.0, 2.0))
    >>> print(gap.item() == 3.0)
    True
    """
    if not isinstance(name, str):
        raise ValueError(f"name must be a string; got {name!r}")
    for arg, t in (("type_p", type_p), ("type_q", type_q)):
        if not (isinstance(t, type) and issubclass(t, Distribution)):
            raise ValueError(f"{arg} must be a torch.distributions.Distribution subclass; got {t!r}")

    def decorator(fn):
        _REGISTRY[(name, type_p, type_q)] = fn
        return fn

    return decorator


def _registered():
    """One line per registered rule, for error messages."""
    return ", ".join(sorted(f"{n}({tp.__name__}, {tq.__name__})" for n, tp, tq in _REGISTRY))


def closed_form(name, p, q, **kw):
    """Evaluate the registered closed form of measure ``name`` between distributions p and q.

    Parameters
    ----------
    name : str
        Measure name (see Notes for what is registered).
    p, q : torch.distributions.Distribution
        The pair; batched distributions give batched results.
    **kw
        Extra parameters of the measure, such as ``alpha=`` for "renyi" and "alpha".

    Returns
    -------
    torch.Tensor
        Of the pair's batch shape, differentiable with respect to the parameters.

    Notes
    -----
    Registered for every pair torch knows: "kl" = KL(p ‖ q) by ``torch.distributions.kl_divergence``.
    Registered for (Normal, Normal): "hellinger" (squared, H² = 1 - BC ∈ [0, 1]),
    "bhattacharyya" (-log BC), "renyi" (order ``alpha`` >= 0), "alpha" (Amari, any real
    ``alpha``, (1 - ∫ p^α q^(1-α))/(α(1-α))) and "wasserstein2" (W2 = sqrt(Δμ² + Δσ²)).
    All Normal formulas come from log ∫ p^α q^(1-α) (Gil, Alajaji & Linder, Information
    Sciences 249, 2013). Registered for p a Normal or a 1-D mixture of Normals
    (``MixtureSameFamily``) and q a (batched) Normal, for ``fit_gaussian``:
    "l2_distance_squared" (∫(p - q)²), "cosine_similarity", "cross_entropy" (-E_p[log q]) and,
    for a mixture, "wasserstein2", all from ∫ N(x; a, s²) N(x; b, t²) dx = N(a; b, s² + t²)
    and p's moments. "cross_entropy" is also registered for any continuous p whose mean and
    variance torch knows (Laplace, uniform, exponential, ...): log q is quadratic in x. Lookup
    walks the MROs of type(p) and type(q); a missing rule raises a ``ValueError`` listing what is
    registered.

    Examples
    --------
    >>> import math
    >>> from klcourse import closed_form, hellinger, normal
    >>> p, q = normal(0.0, 1.0), normal(1.0, 2.0)
    >>> print(abs(closed_form("hellinger", p, q).item() - hellinger(p, q).item()) < 1e-10)
    True
    >>> print(abs(closed_form("wasserstein2", p, q).item() - math.sqrt(1.0 + 1.0)) < 1e-15)
    True
    """
    for arg, d in (("p", p), ("q", q)):
        if not isinstance(d, Distribution):
            raise ValueError(f"{arg} must be a torch.distributions.Distribution; got {type(d).__name__}")
    fn = _lookup(name, p, q)
    if fn is not None:
        return fn(p, q, **kw)
    raise ValueError(
        f"no closed form {name!r} for ({type(p).__name__}, {type(q).__name__}); registered: {_registered()}"
    )


def _lookup(name, p, q, registry=_REGISTRY):
    """The most specific rule for (name, type(p), type(q)) in ``registry``, walking both MROs; None if there is none.

    ``q`` may be a type instead of an instance (``_closed_derivatives`` looks up by the model's type).
    """
    for tp in type(p).__mro__:
        for tq in (q if isinstance(q, type) else type(q)).__mro__:
            fn = registry.get((name, tp, tq))
            if fn is not None:
                return fn
    return None


def closed_form_or_none(name, p, q, **kw):
    """The closed form of ``name`` for the pair if one is registered (for "kl": if torch's registry has the pair), else None.

    The continuous divergences call this first when no grid is given: one dispatch mechanism,
    ``_REGISTRY`` keyed by type pair, serves the closed forms and the quadrature's short cut.
    """
    fn = _lookup(name, p, q)
    if fn is None:
        return None
    if fn is _kl_by_torch:
        try:
            return _torch_kl(p, q)
        except NotImplementedError:
            return None
    return fn(p, q, **kw)


@register_closed_form("kl", Distribution, Distribution)
def _kl_by_torch(p, q):
    """KL(p ‖ q) from torch.distributions.kl_divergence (torch's own registry)."""
    try:
        return _torch_kl(p, q)
    except NotImplementedError as exc:
        raise ValueError(
            f"no closed form 'kl' for ({type(p).__name__}, {type(q).__name__}): "
            "torch.distributions.kl_divergence has no rule for this pair; use klcourse.kl_divergence (quadrature)"
        ) from exc


def _normal_log_affinity(p, q, alpha, beta=None):
    """log ∫ p^α q^β (β = 1-α) for Normals = β log σ_p + α log σ_q - ½ log σ*² - αβΔμ²/(2σ*²), σ*² = ασ_q² + βσ_p² (Gil et al. 2013)."""
    beta = 1.0 - alpha if beta is None else beta
    if alpha < 0.5:
        return _normal_log_affinity(q, p, beta, alpha)  # symmetric under (p, α) ↔ (q, β); β passed exactly
    ratio = (p.scale / q.scale) ** 2  # σ_p²/σ_q²
    var_star = q.scale**2 * (1 + beta * (ratio - 1))  # σ*² = σ_q² (1 + β(σ_p²/σ_q² - 1))
    positive = var_star > 0  # otherwise the integral diverges
    var_safe = torch.where(positive, var_star, 1.0)
    # written relative to α = 1 so every term is O(β): no cancellation as α → 1 (or α → 0 by symmetry)
    log_aff = (
        0.5 * beta * ratio.log()
        - 0.5 * torch.log1p(torch.where(positive, beta * (ratio - 1), 0.0))
        - alpha * beta * (p.loc - q.loc) ** 2 / (2 * var_safe)
    )
    return torch.where(positive, log_aff, math.inf)


def _alpha_argument(kw_alpha, minimum=None):
    """The required ``alpha=`` of the Rényi and Amari closed forms, as a float."""
    if kw_alpha is None:
        raise ValueError("alpha must be given for this closed form; got none")
    return check_real_scalar(kw_alpha, "alpha", minimum=minimum)


@register_closed_form("bhattacharyya", Normal, Normal)
def _normal_bhattacharyya(p, q):
    """Bhattacharyya distance -log ∫ √(pq) = Δμ²/(4(σ_p²+σ_q²)) + ½ log((σ_p²+σ_q²)/(2σ_pσ_q))."""
    return -_normal_log_affinity(p, q, 0.5)


@register_closed_form("hellinger", Normal, Normal)
def _normal_hellinger(p, q):
    """Squared Hellinger H² = 1 - BC = 1 - sqrt(2σ_pσ_q/(σ_p²+σ_q²)) exp(-Δμ²/(4(σ_p²+σ_q²)))."""
    return -torch.expm1(_normal_log_affinity(p, q, 0.5))


@register_closed_form("renyi", Normal, Normal)
def _normal_renyi(p, q, alpha=None):
    """Rényi divergence log ∫ p^α q^(1-α) / (α - 1); KL at α = 1 (Gil et al. 2013, Table 2)."""
    alpha = _alpha_argument(alpha, minimum=0.0)
    if alpha == 1.0:
        return _torch_kl(p, q)
    return _normal_log_affinity(p, q, alpha) / (alpha - 1)


@register_closed_form("alpha", Normal, Normal)
def _normal_alpha(p, q, alpha=None):
    """Amari α-divergence -expm1(log ∫ p^α q^(1-α)) / (α(1-α)); KL(p‖q) at α = 1, KL(q‖p) at α = 0."""
    alpha = _alpha_argument(alpha)
    if alpha == 1.0:
        return _torch_kl(p, q)
    if alpha == 0.0:
        return _torch_kl(q, p)
    return -torch.expm1(_normal_log_affinity(p, q, alpha)) / (alpha * (1 - alpha))


@register_closed_form("wasserstein2", Normal, Normal)
def _normal_wasserstein2(p, q):
    """W2 between Normals: sqrt((μ_p - μ_q)² + (σ_p - σ_q)²) (Dowson & Landau 1982, 1-D case)."""
    return torch.hypot(p.loc - q.loc, p.scale - q.scale)


def gaussian_kl(mu_p, sigma_p, mu_q, sigma_q):
    """KL(N(μ_p, σ_p²) ‖ N(μ_q, σ_q²)) = log(σ_q/σ_p) + (σ_p² + (μ_p - μ_q)²)/(2σ_q²) - ½.

    Parameters
    ----------
    mu_p, sigma_p, mu_q, sigma_q : float, array_like or torch.Tensor
        Means (finite) and standard deviations (> 0); they broadcast.

    Returns
    -------
    numpy.float64, numpy.ndarray or torch.Tensor
        Torch (differentiable) if any argument is a tensor, numpy float64 otherwise.

    Examples
    --------
    >>> import math
    >>> from klcourse import gaussian_kl
    >>> formula = math.log(2.0 / 1.0) + (1.0 ** 2 + (0.0 - 1.0) ** 2) / (2 * 2.0 ** 2) - 0.5
    >>> print(abs(gaussian_kl(0.0, 1.0, 1.0, 2.0) - formula) < 1e-15)
    True
    """
    (mu_p, sigma_p, mu_q, sigma_q), was_torch = as_common_tensors(
        [("mu_p", mu_p), ("sigma_p", sigma_p), ("mu_q", mu_q), ("sigma_q", sigma_q)]
    )
    check_finite(mu_p, "mu_p")
    check_positive(sigma_p, "sigma_p")
    check_finite(mu_q, "mu_q")
    check_positive(sigma_q, "sigma_q")
    return to_output(_torch_kl(Normal(mu_p, sigma_p), Normal(mu_q, sigma_q)), was_torch)


def gaussian_entropy(sigma, base=None):
    """Differential entropy of N(μ, σ²): ½ log(2πeσ²) (it does not depend on μ).

    Parameters
    ----------
    sigma : float, array_like or torch.Tensor
        Standard deviation(s), > 0.
    base : float, optional
        Logarithm base: None for nats, 2 for bits.

    Returns
    -------
    numpy.float64, numpy.ndarray or torch.Tensor
        Negative for σ < 1/sqrt(2πe): unlike discrete entropy, differential entropy can be < 0.

    Examples
    --------
    >>> import math
    >>> from klcourse import gaussian_entropy
    >>> print(abs(gaussian_entropy(2.0) - 0.5 * math.log(2 * math.pi * math.e * 4.0)) < 1e-15)
    True
    """
    log_base = check_base(base)
    (sigma,), was_torch = as_common_tensors([("sigma", sigma)])
    check_positive(sigma, "sigma")
    return to_output(Normal(torch.zeros_like(sigma), sigma).entropy() / log_base, was_torch)


def _check_gaussian(mean, cov, mean_name, cov_name):
    """mean [..., d] finite, cov [..., d, d] symmetric positive definite."""
    check_finite(mean, mean_name)
    check_finite(cov, cov_name)
    if mean.dim() < 1 or cov.dim() < 2 or cov.shape[-1] != cov.shape[-2] or cov.shape[-1] != mean.shape[-1]:
        raise ValueError(
            f"{mean_name} and {cov_name} must have shapes [d] and [d, d]; got {tuple(mean.shape)} and {tuple(cov.shape)}"
        )
    c = cov.detach()
    if not torch.allclose(c, c.transpose(-1, -2), rtol=1e-10, atol=1e-12):
        raise ValueError(f"{cov_name} must be symmetric; got {c.tolist()}")
    if bool((torch.linalg.cholesky_ex(c).info != 0).any()):
        raise ValueError(f"{cov_name} must be positive definite; got {c.tolist()}")


def mvn_kl(mean_p, cov_p, mean_q, cov_q):
    """KL(N(m_p, S_p) ‖ N(m_q, S_q)) between multivariate Normals.

    Parameters
    ----------
    mean_p, mean_q : array_like or torch.Tensor, shape [..., d]
        Means.
    cov_p, cov_q : array_like or torch.Tensor, shape [..., d, d]
        Symmetric positive definite covariance matrices.

    Returns
    -------
    numpy.float64, numpy.ndarray or torch.Tensor
        ½ [tr(S_q⁻¹ S_p) + (m_q - m_p)ᵀ S_q⁻¹ (m_q - m_p) - d + log(det S_q / det S_p)],
        computed as ``torch.distributions.kl_divergence`` computes it for two ``MultivariateNormal``.

    Examples
    --------
    >>> import numpy as np
    >>> from klcourse import mvn_kl
    >>> m_p, S_p = np.zeros(2), np.array([[1.0, 0.9], [0.9, 1.0]])
    >>> m_q, S_q = np.array([1.0, 0.0]), np.eye(2)
    >>> Sq_inv = np.linalg.inv(S_q)
    >>> formula = 0.5 * (np.trace(Sq_inv @ S_p) + (m_q - m_p) @ Sq_inv @ (m_q - m_p) - 2
    ...                  + np.log(np.linalg.det(S_q) / np.linalg.det(S_p)))
    >>> print(abs(mvn_kl(m_p, S_p, m_q, S_q) - formula) < 1e-12)
    True
    """
    (mean_p, cov_p, mean_q, cov_q), was_torch = as_common_tensors(
        [("mean_p", mean_p), ("cov_p", cov_p), ("mean_q", mean_q), ("cov_q", cov_q)]
    )
    _check_gaussian(mean_p, cov_p, "mean_p", "cov_p")
    _check_gaussian(mean_q, cov_q, "mean_q", "cov_q")
    if mean_p.shape[-1] != mean_q.shape[-1]:
        raise ValueError(f"p and q must have one dimension d; got {mean_p.shape[-1]} and {mean_q.shape[-1]}")
    batch = [a.shape[:-1] for a in (mean_p, mean_q)] + [c.shape[:-2] for c in (cov_p, cov_q)]
    if not broadcastable(*batch):
        raise ValueError(f"the leading (batch) axes of the means and covariances must broadcast; got {[tuple(b) for b in batch]}")
    return to_output(_mvn_kl(mean_p, cov_p, mean_q, cov_q), was_torch)


def _mvn_kl(mean_p, cov_p, mean_q, cov_q):
    """KL of two multivariate Normals, inputs trusted: torch's rule for two MultivariateNormal, written out.

    Building the distributions would call torch.broadcast_shapes, whose first call imports sympy (about a second).
    """
    scale_p, scale_q = torch.linalg.cholesky(cov_p), torch.linalg.cholesky(cov_q)  # [..., d, d]
    half_log_det = scale_q.diagonal(dim1=-2, dim2=-1).log().sum(-1) - scale_p.diagonal(dim1=-2, dim2=-1).log().sum(-1)
    trace = torch.linalg.solve_triangular(scale_q, scale_p, upper=False).pow(2).sum((-2, -1))  # tr(S_q⁻¹ S_p)
    z = torch.linalg.solve_triangular(scale_q, (mean_q - mean_p).unsqueeze(-1), upper=False)  # [..., d, 1]
    mahalanobis = z.squeeze(-1).pow(2).sum(-1)  # (m_q - m_p)ᵀ S_q⁻¹ (m_q - m_p)
    return half_log_det + 0.5 * (trace + mahalanobis - mean_p.shape[-1])


def factorized_gaussian_fit(mean, cov, direction):
    """The best factorised (diagonal-covariance) Gaussian Q for a Gaussian target P = N(mean, cov).

    Parameters
    ----------
    mean : array_like or torch.Tensor, shape [d]
        Mean of P.
    cov : array_like or torch.Tensor, shape [d, d]
        Covariance of P (symmetric positive definite).
    direction : {"forward", "reverse"}
        "forward" minimises KL(P ‖ Q) over factorised Q; "reverse" minimises KL(Q ‖ P).

    Returns
    -------
    (mean_q, cov_q) : tuple
        The mean of Q (equal to P's in both directions) and its diagonal covariance matrix [d, d]:
        "forward" keeps the marginal variances, diag(cov); "reverse" keeps the conditional
        variances 1 / diag(cov⁻¹), which are never larger (Bishop, PRML §10.1.2, eqs. 10.12-10.17).

    Notes
    -----
    Forward KL averages over P, so Q must cover all of P: it matches the marginals and,
    for a correlated P, spreads over regions P rarely visits. Reverse KL averages over Q,
    so Q must avoid where P is small: it shrinks to the precisions of P, 1/Q_jj = (cov⁻¹)_jj.

    Examples
    --------
    >>> import numpy as np
    >>> from klcourse import factorized_gaussian_fit
    >>> cov = np.array([[1.0, 0.9], [0.9, 1.0]])
    >>> _, cov_forward = factorized_gaussian_fit(np.zeros(2), cov, "forward")
    >>> _, cov_reverse = factorized_gaussian_fit(np.zeros(2), cov, "reverse")
    >>> print(np.allclose(np.diag(cov_forward), 1.0), np.allclose(np.diag(cov_reverse), 1 - 0.9 ** 2))
    True True
    """
    if direction not in ("forward", "reverse"):
        raise ValueError(f"direction must be 'forward' or 'reverse'; got {direction!r}")
    (mean, cov), was_torch = as_common_tensors([("mean", mean), ("cov", cov)])
    _check_gaussian(mean, cov, "mean", "cov")
    if direction == "forward":
        variances = torch.diagonal(cov, dim1=-2, dim2=-1)  # marginal variances, Bishop eq. 10.17
    else:
        variances = 1 / torch.diagonal(torch.linalg.inv(cov), dim1=-2, dim2=-1)  # 1/Λ_jj, Bishop eq. 10.13
    return to_output(mean, was_torch), to_output(torch.diag_embed(variances), was_torch)


# ----------------------------------------------------------------------------- a Normal model Q against a Normal mixture P
# Registered for the fits of ``fit_gaussian`` (P the target, Q = N(mu, sigma²) the model, batched),
# all from one identity: ∫ N(x; a, s²) N(x; b, t²) dx = N(a; b, s² + t²).


def _normal_components(p):
    """(weights [K], means [K], scales [K]) of a Normal or of a 1-D mixture of Normals; NotImplementedError otherwise."""
    if isinstance(p, Normal) and p.batch_shape == ():
        one = torch.ones((1,), dtype=p.loc.dtype, device=p.loc.device)
        return one, p.loc.reshape(1), p.scale.reshape(1)
    if (
        isinstance(p, MixtureSameFamily)
        and p.batch_shape == ()
        and isinstance(p.component_distribution, Normal)
        and p.component_distribution.batch_shape.numel() == p.mixture_distribution.probs.numel()
    ):
        c = p.component_distribution
        return p.mixture_distribution.probs.reshape(-1), c.loc.reshape(-1), c.scale.reshape(-1)
    raise NotImplementedError(f"{type(p).__name__} is not a Normal or a 1-D mixture of Normals")


def _gauss_overlap(a, b, var):
    """N(a; b, var) = ∫ N(x; a, s²) N(x; b, t²) dx with var = s² + t² (tensors, or numpy arrays)."""
    xp = np if isinstance(var, np.ndarray) else torch
    return xp.exp(-0.5 * (a - b) ** 2 / var) / xp.sqrt(2 * math.pi * var)


def _mixture_self_overlap(w, m, s):
    """∫ p² = Σ_jk w_j w_k N(m_j; m_k, s_j² + s_k²) (tensors, or numpy arrays)."""
    v = s[:, None] * s[:, None] + s[None, :] * s[None, :]  # [K, K]
    return (w[:, None] * w[None, :] * _gauss_overlap(m[:, None], m[None, :], v)).sum()


def _cross_overlap(w, m, s, q):
    """∫ p q = Σ_k w_k N(mu; m_k, s_k² + sigma²), batched over q: [B]."""
    mu, sigma = q.loc[..., None], q.scale[..., None]  # [B, 1]
    return (w * _gauss_overlap(mu, m, s**2 + sigma**2)).sum(-1)


@register_closed_form("l2_distance_squared", Normal, Normal)
@register_closed_form("l2_distance_squared", MixtureSameFamily, Normal)
def _mixture_l2_squared(p, q):
    """∫ (p - q)² = ∫p² - 2∫pq + 1/(2σ_q√π) for a Normal (mixture) p and a (batched) Normal q."""
    w, m, s = _normal_components(p)
    return _mixture_self_overlap(w, m, s) - 2 * _cross_overlap(w, m, s, q) + 1 / (2 * math.sqrt(math.pi) * q.scale)


@register_closed_form("cosine_similarity", Normal, Normal)
@register_closed_form("cosine_similarity", MixtureSameFamily, Normal)
def _mixture_cosine(p, q):
    """∫ pq / sqrt(∫p² ∫q²), with ∫q² = 1/(2σ_q√π)."""
    w, m, s = _normal_components(p)
    return _cross_overlap(w, m, s, q) / torch.sqrt(_mixture_self_overlap(w, m, s) / (2 * math.sqrt(math.pi) * q.scale))


@register_closed_form("cross_entropy", Normal, Normal)
@register_closed_form("cross_entropy", MixtureSameFamily, Normal)
def _mixture_cross_entropy(p, q):
    """-E_P[log q] = log σ_q + ½ log 2π + E_P[(X - μ_q)²]/(2σ_q²): needs only P's first two moments."""
    w, m, s = _normal_components(p)
    mean = (w * m).sum()
    var = (w * (s**2 + (m - mean) ** 2)).sum()
    return q.scale.log() + 0.5 * math.log(2 * math.pi) + (var + (mean - q.loc) ** 2) / (2 * q.scale**2)


def _moments(p):
    """(mean, variance) of a continuous scalar P as floats, by torch's formulas; the variance may be inf.

    NotImplementedError for a discrete P, where torch has no formula, or where it gives NaN.
    """
    if p.support.is_discrete:
        raise NotImplementedError(f"{type(p).__name__} is discrete: -E_P[log q] of a density q is not defined")
    mean, var = float(p.mean), float(p.variance)
    if var == math.inf:
        return 0.0, var  # E_P[(X - mu)²] diverges whatever the mean
    if not (math.isfinite(mean) and math.isfinite(var)):
        raise NotImplementedError(f"torch gives no finite mean and variance for {type(p).__name__}")
    return mean, var


@register_closed_form("cross_entropy", Distribution, Normal)
def _cross_entropy_by_moments(p, q):
    """-E_P[log q] = log σ_q + ½ log 2π + (Var_P + (E_P - μ_q)²)/(2σ_q²) for any continuous P (log q is quadratic
    in x, so P enters by its mean and variance only; infinite where Var_P is)."""
    mean, var = _moments(p)
    return q.scale.log() + 0.5 * math.log(2 * math.pi) + (var + (mean - q.loc) ** 2) / (2 * q.scale**2)


# ----------------------------------------------------------------------------- their exact derivatives in (mu, log sigma) and (mu, sigma)
# What the flow and Adam step with for these three closed forms (``_objectives._closed_derivatives``),
# looked up by the same type pair as the values. Every term sums g_k = N(mu; m_k, v_k) over P's
# components, v_k = s_k² + sigma². With a = (mu - m_k)/v_k and u = 1/v_k, the mu-derivatives
# G_n = ∂ⁿg/∂muⁿ are Hermite polynomials times g (Abramowitz & Stegun 22.7), G_{n+1} = -a G_n - n u G_{n-1}:
#     G_1 = -a g,   G_2 = (a² - u) g,   G_3 = -a (a² - 3u) g,   G_4 = (a⁴ - 6a²u + 3u²) g,
# and g solves the heat equation ∂g/∂v = ½ ∂²g/∂mu², so ∂g/∂v = G_2/2, ∂²g/∂mu∂v = G_3/2,
# ∂²g/∂v² = G_4/4. With D_n = Σ_k w_k G_n and t = log sigma, ∂v/∂t = 2 sigma², S = ∫ pq = D_0 has
#     ∂S/∂mu = D_1,  ∂S/∂t = sigma² D_2,  ∂²S/∂mu² = D_2,  ∂²S/∂mu∂t = sigma² D_3,
#     ∂²S/∂t² = sigma⁴ D_4 + 2 sigma² D_2.
# Each objective is written in (mu, log sigma) from these and carried to sigma by ``_to_sigma``
# (the other way round, forward KL's ∂²/∂t², small for a wide model, would come out as the
# difference of two terms near 1). Powers of sigma multiply and divide one at a time: sigma²
# overflows (sigma > 1e154) or underflows (sigma < 1e-162) where sigma D_n and d/sigma do not.

_DERIVATIVES = {}  # (name, type of p, type of q) -> builder(p, dtype, device) -> (derivatives, scalar)


def _register_closed_derivatives(name, type_p, type_q):
    """Decorator registering ``builder(p, dtype, device)`` as the exact derivatives of closed form ``name`` for a type pair."""

    def decorator(fn):
        _DERIVATIVES[(name, type_p, type_q)] = fn
        return fn

    return decorator


def _closed_form_derivatives(name, p, dtype, device):
    """(derivatives, scalar): the exact derivatives of closed form ``name`` for target p and a Normal model.

    ``derivatives(mu, sigma, log_sigma, log, hessian=True)`` takes [B, 1] tensors and returns the
    value [B], the gradient [B, 2] and the Hessian (h00, h01, h11) [B, 3] (None unless ``hessian``)
    in θ = (mu, log sigma) if ``log`` else (mu, sigma), as ``_objectives._pointwise_derivatives``
    does on a grid; ``scalar`` does the same for one model in Python floats (see ``_both_ways``).
    Raises ``NotImplementedError`` where no rule is registered or p is not a Normal (mixture).
    """
    fn = _lookup(name, p, Normal, _DERIVATIVES)
    if fn is None:
        raise NotImplementedError(f"no exact derivatives of {name!r} registered for ({type(p).__name__}, Normal)")
    return fn(p, dtype, device)


def _components_for(p, dtype, device, scale):
    """(scale w_k/√(2π), m_k, s_k²) [K] of a Normal (mixture), in the dtype and on the device of the models.

    With the weights scaled, ``_overlap_sums`` gives the derivatives of scale × S directly (one op fewer per term).
    """
    w, m, s = (t.detach().to(device, dtype) for t in _normal_components(p))
    return w * (scale / math.sqrt(2 * math.pi)), m, s * s


def _self_overlap(p):
    """∫p² of a Normal (mixture) as a float, summed in numpy: a fit's set-up, where a first torch op costs tens of microseconds."""
    return float(_mixture_self_overlap(*(np.asarray(t.detach().double().cpu().tolist()) for t in _normal_components(p))))


def _overlap_sums(components, mu, sigma, order):
    """D_n = Σ_k w_k ∂ⁿg_k/∂muⁿ for n = 0, ..., order, g_k = N(mu; m_k, s_k² + sigma²): [B, order + 1] (see above)."""
    w, m, s2 = components
    u = torch.addcmul(s2, sigma, sigma).reciprocal()  # 1/v [B, K]
    gap = m - mu  # [B, K]
    minus_a = gap * u
    G = [torch.exp(gap * minus_a * -0.5) * u.sqrt()]  # √(2π) g_k: 0 where it underflows, and so is every G_n
    G.append(minus_a * G[0])
    for n in range(1, order):
        G.append(torch.addcmul(minus_a * G[n], u, G[n - 1], value=-n))  # -a G_n - n u G_{n-1}
    return torch.stack(G, -2) @ w  # [B, order + 1, K] @ [K]


def _overlap_sums_arrays(components, mu, sigma, order):
    """The D_n of ``_overlap_sums`` for models in numpy arrays mu, sigma [B] (components as numpy arrays [K]): a list of order + 1 arrays [B]."""
    w, m, s2 = components
    u = 1.0 / (s2 + sigma[:, None] * sigma[:, None])  # [B, K]
    gap = m - mu[:, None]
    minus_a = gap * u
    G = [np.exp(gap * minus_a * -0.5) * np.sqrt(u)]
    G.append(minus_a * G[0])
    for n in range(1, order):
        G.append(minus_a * G[n] - n * u * G[n - 1])
    return [(g * w).sum(-1) for g in G]  # each product rounded, then summed (no fused multiply-add): symmetric terms cancel exactly


def _overlap_sums_floats(components, mu, sigma, order):
    """The D_n of ``_overlap_sums`` for one model in Python floats (components as tuples of floats): a list of order + 1."""
    D = [0.0] * (order + 1)
    ss = sigma * sigma
    for w, m, s2 in zip(*components):
        u = 1.0 / (s2 + ss)
        gap = m - mu
        minus_a = gap * u
        prev, cur = 0.0, w * math.exp(-0.5 * gap * minus_a) * math.sqrt(u)  # w g_k
        D[0] += cur
        for n in range(order):
            prev, cur = cur, minus_a * cur - n * u * prev  # -a G_n - n u G_{n-1}
            D[n + 1] += cur
    return D


def _to_sigma(f, h, sigma):
    """Derivatives in (mu, t = log sigma), f = (f_mu, f_t) and h = (h_mumu, h_mut, h_tt) or None, carried to (mu, sigma).

    ∂/∂sigma = (∂/∂t)/sigma, ∂²/∂mu∂sigma = (∂²/∂mu∂t)/sigma and ∂²/∂sigma² = (∂²/∂t² - ∂/∂t)/sigma² (from
    ∂/∂t = sigma ∂/∂sigma and ∂²/∂t² = sigma² ∂²/∂sigma² + sigma ∂/∂sigma). Tensors, numpy arrays or floats alike.
    """
    return (f[0], f[1] / sigma), None if h is None else (h[0], h[1] / sigma, (h[2] - f[1]) / sigma / sigma)


def _both_ways(compose):
    """(derivatives, scalar) from ``compose(mu, sigma, log_sigma, hessian)`` → (value, f, h) in (mu, log sigma).

    ``compose`` takes tensors [B, 1], numpy arrays [B] or floats alike; ``derivatives(mu, sigma, log_sigma, log,
    hessian=True)`` takes [B, 1] tensors and returns the value [B], gradient [B, 2] and Hessian (h00, h01, h11)
    [B, 3] (None unless ``hessian``) in θ = (mu, log sigma) if ``log`` else (mu, sigma); ``scalar`` takes and
    returns floats (tuples for the gradient and Hessian), for one model without a tensor, or numpy arrays [B]
    (tuples of arrays), for the batched flow's step control on the host.
    """

    def derivatives(mu, sigma, log_sigma, log, hessian=True):
        value, f, h = compose(mu, sigma, log_sigma, hessian)  # [B, 1] each
        if not log:
            f, h = _to_sigma(f, h, sigma)
        return value[:, 0], torch.cat(f, -1), None if h is None else torch.cat(h, -1)

    def scalar(mu, sigma, log_sigma, log, hessian=True):
        value, f, h = compose(mu, sigma, log_sigma, hessian)
        return (value, f, h) if log else (value, *_to_sigma(f, h, sigma))

    return derivatives, scalar


def _of_overlap_sums(p, scale, dtype, device, compose):
    """``_both_ways`` for ``compose(D, sigma, hessian)`` of the overlap sums D_n of scale × S (tensors [B, 1] or floats)."""
    w, m, s = (t.detach().double().cpu().tolist() for t in _normal_components(p))
    floats = tuple(x * (scale / math.sqrt(2 * math.pi)) for x in w), tuple(m), tuple(x * x for x in s)  # as _components_for
    arrays = tuple(np.array(f, dtype=np.float64) for f in floats)
    tensors = []  # made on the first batched call on the device (one model on the CPU never needs them); set whole, so
    # that two threads making them at once leave the same three tensors

    def by_tensors_or_floats(mu, sigma, log_sigma, hessian):
        order = 4 if hessian else 2
        if isinstance(sigma, torch.Tensor):
            if not tensors:
                tensors[:] = _components_for(p, dtype, device, scale)
            D = _overlap_sums(tensors, mu, sigma, order).split(1, -1)  # [B, 1] each
        elif isinstance(sigma, np.ndarray):
            D = _overlap_sums_arrays(arrays, mu, sigma, order)  # [B] each
        else:
            D = _overlap_sums_floats(floats, mu, sigma, order)
        return compose(D, sigma, hessian)

    return _both_ways(by_tensors_or_floats)


@_register_closed_derivatives("l2_distance_squared", Normal, Normal)
@_register_closed_derivatives("l2_distance_squared", MixtureSameFamily, Normal)
def _mixture_l2_squared_derivatives(p, dtype, device):
    """∫ (p - q)² = ∫p² - 2S + c/σ, c = 1/(2√π); with D_n the sums of -2S, in (mu, log σ):
    f = (D_1, σ²D_2 - c/σ), h = (D_2, σ²D_3, σ⁴D_4 + 2σ²D_2 + c/σ)."""
    self_overlap, c = _self_overlap(p), 1 / (2 * math.sqrt(math.pi))

    def compose(D, s, hessian):
        c_s, s2_d2 = c / s, s * (s * D[2])
        h = (D[2], s * (s * D[3]), s * (s * (s * (s * D[4]))) + 2 * s2_d2 + c_s) if hessian else None
        return self_overlap + D[0] + c_s, (D[1], s2_d2 - c_s), h

    return _of_overlap_sums(p, -2.0, dtype, device, compose)


@_register_closed_derivatives("cosine_similarity", Normal, Normal)
@_register_closed_derivatives("cosine_similarity", MixtureSameFamily, Normal)
def _mixture_cosine_derivatives(p, dtype, device):
    """∫ pq / sqrt(∫p² ∫q²) = kS r, r = sqrt(σ), k = sqrt(2√π / ∫p²); with D_n the sums of kS, in (mu, log σ)
    r's derivatives are r/2 and r/4: f = (D_1 r, (σ²D_2 + D_0/2) r), h = (D_2 r, (σ²D_3 + D_1/2) r, (σ⁴D_4 + 3σ²D_2 + D_0/4) r)."""

    def compose(D, s, hessian):
        r, s2_d2 = s**0.5, s * (s * D[2])
        h = None
        if hessian:
            h = (D[2] * r, (s * (s * D[3]) + 0.5 * D[1]) * r, (s * (s * (s * (s * D[4]))) + 3 * s2_d2 + 0.25 * D[0]) * r)
        return D[0] * r, (D[1] * r, (s2_d2 + 0.5 * D[0]) * r), h

    return _of_overlap_sums(p, math.sqrt(2 * math.sqrt(math.pi) / _self_overlap(p)), dtype, device, compose)


@_register_closed_derivatives("cross_entropy", Normal, Normal)
@_register_closed_derivatives("cross_entropy", MixtureSameFamily, Normal)
def _mixture_cross_entropy_derivatives(p, dtype, device):
    """-E_P[log q] needs only P's mean and variance (``_moment_cross_entropy``), here in numpy (a fit's set-up)."""
    w, m, s = (np.asarray(t.detach().double().cpu().tolist()) for t in _normal_components(p))
    mean = float((w * m).sum())
    return _moment_cross_entropy(mean, float((w * (s**2 + (m - mean) ** 2)).sum()))


@_register_closed_derivatives("cross_entropy", Distribution, Normal)
def _cross_entropy_by_moments_derivatives(p, dtype, device):
    """-E_P[log q] from P's mean and variance (torch's); NotImplementedError where the variance is infinite (so is the value)."""
    mean, var = _moments(p)
    if var == math.inf:
        raise NotImplementedError(f"{type(p).__name__} has infinite variance: -E_P[log q] is infinite")
    return _moment_cross_entropy(mean, var)


def _moment_cross_entropy(mean, var, mass=1.0, constant=0.0):
    """(derivatives, scalar) of constant - ∫ log q dμ for a measure μ of this mass, mean and variance (P itself, or
    a target tabulated on a grid: forward KL on a grid is exactly this, log q being quadratic in x).

    -∫ log q dμ = mass (log σ + ½ log 2π + ρ/2), ρ = (var + d²)/σ², d = mu - mean; in (mu, log σ):
    f = mass (d/σ², 1 - ρ), h = mass (1/σ², -2d/σ², 2ρ).
    """
    half_log_2pi = 0.5 * math.log(2 * math.pi)

    def compose(mu, s, log_sigma, hessian):
        d = mu - mean
        d_s2, ratio = d / s / s, (var + d * d) / s / s  # d/σ², ρ
        h = (mass / s / s, -2 * mass * d_s2, 2 * mass * ratio) if hessian else None
        return constant + mass * (log_sigma + half_log_2pi + 0.5 * ratio), (mass * d_s2, mass * (1 - ratio)), h

    return _both_ways(compose)


_QUANTILE_PRODUCTS = weakref.WeakKeyDictionary()  # p -> c(p), computed once per distribution object
_TAIL_SCALES = 9.0  # the trapezoid for c covers 9 widths past the outer components: 2e-19 of mass left out


def _quantile_product(p):
    """c = E_P[X Φ⁻¹(F_P(X))] = ∫₀¹ F_P⁻¹(u) Φ⁻¹(u) du, the trapezoidal rule in x at a tenth of the narrowest width (cached per p).

    The integrand is analytic and decays like p, so the rule converges geometrically (Trefethen &
    Weideman, SIAM Review 56, 2014); z = Φ⁻¹(F) is taken as -Φ⁻¹(1 - F) above the median,
    so it keeps full precision in the upper tail.
    """
    if p in _QUANTILE_PRODUCTS:
        return _QUANTILE_PRODUCTS[p]
    w, m, s = (t.detach().double().cpu() for t in _normal_components(p))
    lo, hi = (m - _TAIL_SCALES * s).min().item(), (m + _TAIL_SCALES * s).max().item()
    x = torch.linspace(lo, hi, math.ceil((hi - lo) / (s.min().item() / 10)) + 1, dtype=torch.float64)
    z = (x[:, None] - m) / s  # [N, K]
    cdf, sf = (w * torch.special.ndtr(z)).sum(-1), (w * torch.special.ndtr(-z)).sum(-1)
    q = torch.where(cdf < 0.5, torch.special.ndtri(cdf), -torch.special.ndtri(sf))  # Φ⁻¹(F_P(x)) [N]
    density = (w * torch.exp(-0.5 * z**2) / (s * math.sqrt(2 * math.pi))).sum(-1)
    c = torch.trapezoid(torch.where(torch.isfinite(q), x * q * density, 0.0), x).item()  # q = ±inf only where p underflows
    _QUANTILE_PRODUCTS[p] = c
    return c


@register_closed_form("wasserstein2", Distribution, Normal)
def _wasserstein2_by_quantile_product(p, q):
    """W2 of any continuous P against Normals, as for a mixture below, with c = E_P[X Φ⁻¹(F_P(X))] integrated once per P
    (``_quantile_product_in_u``, cached); inf where v_P is."""
    mean, var = _moments(p)
    if var == math.inf:
        return torch.full_like(q.loc, math.inf)
    if p not in _QUANTILE_PRODUCTS:
        _QUANTILE_PRODUCTS[p] = _quantile_product_in_u(p, mean, var)
    c = _QUANTILE_PRODUCTS[p]
    return torch.sqrt(((q.loc - mean) ** 2 + (var - c**2) + (q.scale - c) ** 2).clamp_min(0.0))


def _quantile_product_in_u(p, mean, var):
    """c = ∫₀¹ F_P⁻¹(u) Φ⁻¹(u) du by Gauss-Legendre panels halving towards u = 0 and u = 1, where both quantiles
    diverge like logs, to 2⁻⁵⁰ of each end (u = 1 - 2⁻⁵⁰ is the last that float64 tells from 1 to a few percent; the
    ends left out hold ~1e-13 of c); without torch's icdf for P, from W2(P, N(0, 1))² = m² + v - 2c + 1 (adaptive, ~1e-4)."""
    from ._continuous import _w2_default  # here, not at the top: _continuous imports this module
    from ._quadrature import gauss_legendre

    halvings = [2.0**-k for k in range(50, 1, -1)]
    breaks = torch.tensor([*halvings, 0.5, *(1.0 - h for h in reversed(halvings))], dtype=torch.float64)
    u, w = gauss_legendre(breaks)
    try:
        with torch.no_grad():
            x = p.icdf(u.to(p.mean.device)).double().cpu()  # u in float64 whatever P's dtype: near 1 float32 rounds to 1
    except NotImplementedError:
        standard = Normal(torch.tensor(0.0, dtype=torch.float64), torch.tensor(1.0, dtype=torch.float64))
        return 0.5 * (mean * mean + var + 1.0 - _w2_default(p, standard).item() ** 2)
    return (w * x * torch.special.ndtri(u)).sum().item()


@register_closed_form("wasserstein2", MixtureSameFamily, Normal)
def _mixture_wasserstein2(p, q):
    """W2² = E_P[(X - μ_q - σ_q Z)²], Z = Φ⁻¹(F_P(X)) ~ N(0, 1): (μ_q - m_P)² + v_P - 2σ_q c + σ_q², c from :func:`_quantile_product`."""
    w, m, s = _normal_components(p)
    mean = (w * m).sum()
    var = (w * (s**2 + (m - mean) ** 2)).sum()
    c = _quantile_product(p)
    return torch.sqrt(((q.loc - mean) ** 2 + (var - c**2) + (q.scale - c) ** 2).clamp_min(0.0))


_ENTROPIES = weakref.WeakKeyDictionary()  # p -> h(p), computed once per distribution object


def _entropy(p):
    """Differential entropy h(P) = -∫ p log p of a Normal mixture (cached per p), else by torch's formula.

    For a mixture of Normals: the trapezoidal rule at a twentieth of the narrowest width over 9
    widths past the outer components; p log p is analytic, so the rule converges geometrically.
    Raises NotImplementedError where torch has no formula (a mixture of other components).
    """
    if isinstance(p, Normal):
        return p.entropy().item()
    if p in _ENTROPIES:
        return _ENTROPIES[p]
    try:
        components = _normal_components(p)
    except NotImplementedError:
        return p.entropy().item()  # torch's formula (NotImplementedError where it has none)
    w, m, s = (np.asarray(t.detach().double().cpu().tolist()) for t in components)  # in numpy: a fit's set-up
    lo, hi = (m - _TAIL_SCALES * s).min(), (m + _TAIL_SCALES * s).max()
    x = np.linspace(lo, hi, math.ceil((hi - lo) / (s.min() / 20)) + 1)
    with np.errstate(divide="ignore"):  # a weight of 0 has log -inf and adds nothing
        log_p = np.logaddexp.reduce(np.log(w) - 0.5 * ((x[:, None] - m) / s) ** 2 - np.log(s) - 0.5 * math.log(2 * math.pi), -1)
    h = -float(np.trapezoid(np.exp(log_p) * log_p, x))
    _ENTROPIES[p] = h
    return h
