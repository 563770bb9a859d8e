"""Properties of KL: the chain rule, data processing, Pinsker's inequality, the local Fisher form.

Used in chapter "KL divergence" (sections on the properties of KL and on the VAE's KL term).
Discrete tables keep the support on the last axis (a joint table: X on axis -2, Y on axis -1),
as in ``_discrete``; every logarithm goes through its kernel ``_rel_entr``.
"""

import torch

from ._continuous import _tabulate, covering_grid
from ._discrete import _distributions, _rel_entr
from ._validate import (
    as_common_tensors,
    as_tensor,
    broadcastable,
    check_finite,
    check_probability_vector,
    check_scalar_distribution,
    to_output,
)


def pinsker_bound(kl):
    """Pinsker's upper bound on the total variation distance: TV(P, Q) <= sqrt(KL(P ‖ Q) / 2).

    Parameters
    ----------
    kl : float, array_like or torch.Tensor
        KL divergences in nats (>= 0; ``inf`` allowed, for which the bound is ``inf``).

    Returns
    -------
    numpy.float64, numpy.ndarray or torch.Tensor
        sqrt(kl / 2), elementwise; torch (differentiable) for torch input.

    Notes
    -----
    The bound holds with either direction of KL, since TV is symmetric, so the smaller of
    KL(P ‖ Q) and KL(Q ‖ P) gives the better bound. It says nothing once sqrt(KL/2) >= 1,
    because TV <= 1 always (Cover & Thomas, *Elements of Information Theory*, Lemma 11.6.1,
    with TV = ½ L1). KL must be in nats: in bits the constant changes.

    Examples
    --------
    >>> import math
    >>> from klcourse import pinsker_bound
    >>> a, b = 0.5, 0.6                      # two coins: TV = |a - b|
    >>> kl = a * math.log(a / b) + (1 - a) * math.log((1 - a) / (1 - b))
    >>> print(abs(a - b) <= pinsker_bound(kl), round(float(pinsker_bound(kl)), 4))
    True 0.101
    >>> print(pinsker_bound(float("inf")))
    inf
    """
    (t,), was_torch = as_common_tensors([("kl", kl)])
    values = t.detach()
    if bool(torch.isnan(values).any()) or bool((values < 0).any()):
        bad = values[torch.isnan(values) | (values < 0)].flatten()[0].item()
        raise ValueError(f"kl must contain only non-negative numbers (inf allowed); got {bad}")
    return to_output(torch.sqrt(t / 2), was_torch)


def conditional_kl(pxy, qxy, base=None):
    """Conditional relative entropy D(P_{Y|X} ‖ Q_{Y|X} | P_X) = Σ_x p(x) KL(p(·|x) ‖ q(·|x)).

    Parameters
    ----------
    pxy, qxy : array_like or torch.Tensor, shape [..., |X|, |Y|]
        Joint tables, X on axis -2 and Y on axis -1 (normalised over both axes, as counts are);
        leading axes broadcast.
    base : float, optional
        Logarithm base: None for nats, 2 for bits.

    Returns
    -------
    numpy.float64, numpy.ndarray or torch.Tensor, shape [...]
        Non-negative; ``inf`` where some p(x, y) > 0 has q(y | x) = 0 (including rows x that
        Q never produces).

    Notes
    -----
    The conditionals are averaged under P's marginal p(x), not Q's. With it the chain rule
    reads KL(P_XY ‖ Q_XY) = KL(P_X ‖ Q_X) + D(P_{Y|X} ‖ Q_{Y|X} | P_X) (Cover & Thomas,
    Theorem 2.5.3). Elementwise the sum is rel_entr(p(x, y), p(x) q(y | x)).

    Examples
    --------
    >>> import numpy as np
    >>> from klcourse import conditional_kl, kl_divergence
    >>> pxy = np.array([[0.6, 0.1], [0.05, 0.25]])
    >>> qxy = np.array([[0.4, 0.2], [0.2, 0.2]])
    >>> joint = kl_divergence(pxy.ravel(), qxy.ravel())
    >>> chain = kl_divergence(pxy.sum(1), qxy.sum(1)) + conditional_kl(pxy, qxy)
    >>> print(abs(joint - chain) < 1e-15)
    True
    """
    (a, b), _ = as_common_tensors([("pxy", pxy), ("qxy", qxy)])
    if a.dim() < 2 or b.dim() < 2 or a.shape[-2:] != b.shape[-2:]:
        raise ValueError(
            f"pxy and qxy must have the same shape [..., |X|, |Y|]; got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    (pxy, qxy), was_torch, log_base = _distributions([("pxy", pxy), ("qxy", qxy)], base, support_ndim=2)
    px = pxy.sum(-1, keepdim=True)  # [..., |X|, 1]
    qx = qxy.sum(-1, keepdim=True)  # [..., |X|, 1]
    q_cond = torch.where(qx > 0, qxy / torch.where(qx > 0, qx, 1.0), 0.0)  # [..., |X|, |Y|], q(y | x)
    return to_output(_rel_entr(pxy, px * q_cond).sum((-2, -1)) / log_base, was_torch)


def apply_channel(p, channel):
    """Distribution of the output of a noisy channel fed with p: (pK)(y) = Σ_x p(x) K(x, y).

    Parameters
    ----------
    p : array_like or torch.Tensor, shape [..., K]
        Input probabilities on the last axis.
    channel : array_like or torch.Tensor, shape [..., K, M]
        A Markov kernel: row x is the distribution of the output given input x, so each row is
        non-negative and sums to 1. Leading axes broadcast with p's.

    Returns
    -------
    numpy.float64, numpy.ndarray or torch.Tensor, shape [..., M]

    Notes
    -----
    Any processing of an outcome that does not look at which distribution produced it is
    such a channel: merging outcomes, adding noise, a deterministic function. The
    data-processing inequality says KL(pK ‖ qK) <= KL(p ‖ q) (Cover & Thomas, §2.8).

    Examples
    --------
    >>> from klcourse import apply_channel, kl_divergence
    >>> p, q = [0.5, 0.3, 0.2], [0.2, 0.3, 0.5]
    >>> merge = [[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]   # outcomes 0 and 1 become one
    >>> print(apply_channel(p, merge))
    [0.8 0.2]
    >>> print(kl_divergence(apply_channel(p, merge), apply_channel(q, merge)) <= kl_divergence(p, q))
    True
    """
    (p, channel), was_torch = as_common_tensors([("p", p), ("channel", channel)])
    check_probability_vector(p, "p")
    check_probability_vector(channel, "channel", support_ndim=1)
    if channel.dim() < 2 or channel.shape[-2] != p.shape[-1]:
        raise ValueError(
            f"channel must have shape [..., K, M] with K = {p.shape[-1]} rows, one per outcome of p; "
            f"got {tuple(channel.shape)}"
        )
    out = (p.unsqueeze(-2) @ channel).squeeze(-2)  # [..., 1, K] @ [..., K, M] -> [..., M]
    return to_output(out, was_torch)


def fisher_information(family, theta, grid=None):
    """Fisher information matrix F(θ) = E_θ[∇ log p_θ(X) ∇ log p_θ(X)ᵀ] of a 1-D family, by quadrature.

    Parameters
    ----------
    family : callable
        ``family(theta)`` takes a float64 tensor of shape [d] and returns a 1-D
        ``torch.distributions.Distribution`` whose ``log_prob`` is differentiable in theta.
    theta : array_like or torch.Tensor, shape [d]
        The parameters (finite).
    grid : Grid, optional
        Quadrature grid; default ``covering_grid(family(theta))``.

    Returns
    -------
    numpy.ndarray or torch.Tensor, shape [d, d]
        Symmetric and positive semi-definite; torch for torch ``theta``.

    Notes
    -----
    The scores ∇_θ log p_θ(x) come from autograd at every node, so any parameterisation
    works: N(μ, σ²) in (μ, σ) has F = diag(1/σ², 2/σ²), in (μ, log σ) diag(1/σ², 2). F is the
    second-order term of KL: KL(p_θ ‖ p_{θ+δ}) = ½ δᵀ F(θ) δ + O(|δ|³) (Amari, *Information
    Geometry and Its Applications*, §1.3). The family's support must not depend on θ. For a
    heavy-tailed family (a Cauchy, say) pass a ``grid`` of moderate width: the default one
    reaches the 1e-12 quantiles, far too wide for 4001 nodes.

    Examples
    --------
    >>> import numpy as np
    >>> from torch.distributions import Normal
    >>> from klcourse import fisher_information
    >>> F = fisher_information(lambda t: Normal(t[0], t[1]), [0.0, 2.0])   # (mu, sigma)
    >>> print(np.allclose(F, np.diag([1 / 4, 2 / 4]), atol=1e-10))
    True
    """
    if not callable(family):
        raise ValueError(f"family must be a callable theta -> torch distribution; got {type(family).__name__}")
    t, was_torch = as_tensor(theta, "theta")
    if t.dim() != 1 or t.numel() == 0:
        raise ValueError(f"theta must be a non-empty 1-D array of parameters; got shape {tuple(t.shape)}")
    check_finite(t, "theta")
    t = t.detach().to(torch.float64)
    dist = family(t)
    check_scalar_distribution(dist, "family(theta)")
    if grid is None:
        grid = covering_grid(dist)
    x = grid.x.to(t.device)  # [N] nodes

    log_p = family(t).log_prob(x).detach()  # [N]
    scores = _scores(family, t, x)  # [N, d]
    if not bool(torch.isfinite(scores).all()):
        raise ValueError("family must have a finite score d log p / d theta on the grid; got a non-finite one")
    weights = grid.w.to(t.device) * log_p.exp()  # [N], w_i p(x_i)
    F = torch.einsum("n,ni,nj->ij", weights, scores, scores)  # [d, d]
    return to_output(F, was_torch)


def _scores(family, t, x):
    """The scores ∇_θ log p_θ(x) at every node [N, d], by two reverse passes per parameter.

    g(v) = Jᵀv is linear in the dummy cotangent v [N], so ∂g_i/∂v = J[:, i], the i-th score
    column: the Jacobian column forward mode would give, without ``torch.autograd.forward_ad``
    (whose dual tensors send ``x - mu`` through a Python decomposition that imports
    ``torch._dynamo``, seconds on first use). The result is the same to the last bit.
    """
    theta = t.clone().requires_grad_(True)
    try:
        out = family(theta).log_prob(x)  # [N]
        if not out.requires_grad:  # log p does not depend on theta at all
            return torch.zeros(out.shape + t.shape, dtype=out.dtype, device=out.device)
        v = torch.zeros_like(out, requires_grad=True)
        # Jᵀv [d] as the gradient of the scalar Σ v·log p: autograd.grad's grad_outputs would import sympy
        (g,) = torch.autograd.grad((out * v).sum(), theta, create_graph=True, allow_unused=True)
    except RuntimeError as exc:
        raise ValueError(f"family must build a distribution whose log_prob torch can differentiate in theta; got: {exc}") from exc
    columns = []
    for i in range(t.numel()):
        column = None
        if g is not None and g[i].requires_grad:
            (column,) = torch.autograd.grad(g[i], v, retain_graph=True, allow_unused=True)
        columns.append(torch.zeros_like(out) if column is None else column.detach())  # None: log p ignores theta_i
    return torch.stack(columns, dim=-1)


def diagonal_gaussian_kl(mu, log_var):
    """KL(N(μ, diag σ²) ‖ N(0, I)) = ½ Σ_j (σ_j² + μ_j² - 1 - log σ_j²), the KL term of a VAE.

    Parameters
    ----------
    mu : array_like or torch.Tensor, shape [..., d]
        Means of the diagonal Gaussian (finite).
    log_var : array_like or torch.Tensor, shape [..., d]
        Log-variances log σ_j² (finite), as a VAE's encoder outputs them. Broadcasts with mu.

    Returns
    -------
    numpy.float64, numpy.ndarray or torch.Tensor, shape [...]
        The sum over the last axis; differentiable for torch input.

    Notes
    -----
    The coordinates are independent under both distributions, so the KL is the sum of d
    one-dimensional Gaussian KLs (the chain rule with conditionals equal to marginals), each
    log(1/σ_j) + (σ_j² + μ_j²)/2 - ½ (Kingma & Welling 2014, Appendix B). Written with
    ``expm1``, σ² - 1 - log σ² stays accurate when σ² is close to 1.

    Examples
    --------
    >>> import numpy as np
    >>> from klcourse import diagonal_gaussian_kl, gaussian_kl
    >>> mu, log_var = np.array([0.5, -1.0]), np.array([0.0, np.log(0.25)])
    >>> per_coordinate = gaussian_kl(mu, np.exp(log_var / 2), 0.0, 1.0).sum()
    >>> print(abs(diagonal_gaussian_kl(mu, log_var) - per_coordinate) < 1e-15)
    True
    """
    (mu, log_var), was_torch = as_common_tensors([("mu", mu), ("log_var", log_var)])
    check_finite(mu, "mu")
    check_finite(log_var, "log_var")
    if mu.dim() < 1 or log_var.dim() < 1:
        raise ValueError(f"mu and log_var must have a last axis d; got shapes {tuple(mu.shape)} and {tuple(log_var.shape)}")
    if not broadcastable(mu.shape, log_var.shape):
        raise ValueError(f"mu and log_var must broadcast; got shapes {tuple(mu.shape)} and {tuple(log_var.shape)}")
    terms = mu**2 + torch.expm1(log_var) - log_var  # [..., d], σ² - 1 - log σ² + μ²
    return to_output(0.5 * terms.sum(-1), was_torch)


def estimator_means(q, p, grid=None):
    """Exact expectations under q of Schulman's k1, k2, k3 (estimators of KL(q ‖ p)), by quadrature.

    Parameters
    ----------
    q : torch.distributions.Distribution
        The sampling distribution (1-D), as in ``kl_estimators``.
    p : torch.distributions.Distribution
        The other distribution (1-D).
    grid : Grid, optional
        Quadrature grid; default ``covering_grid(q, p)``.

    Returns
    -------
    dict of str to torch.Tensor
        ``{"k1": ..., "k2": ..., "k3": ...}``, 0-d each: E_q[k1] = E_q[k3] = KL(q ‖ p), and
        E_q[k2] = ½ E_q[(log r)²] with r = p/q.

    Notes
    -----
    With q = p_θ and p = p_{θ+δ}, log r = δᵀ∇ log p_θ + O(|δ|²), so E_q[k2] = ½ δᵀ F δ + O(|δ|³),
    the same second-order term as KL itself: that is why k2's bias vanishes faster than KL
    as p → q. E_q[k3] is computed as ∫ (p - q) - q log r, which needs no r at all.

    Examples
    --------
    >>> from klcourse import estimator_means, gaussian_kl, normal
    >>> means = estimator_means(normal(0.0, 1.0), normal(1.0, 1.0))
    >>> kl = gaussian_kl(0.0, 1.0, 1.0, 1.0)                    # 0.5
    >>> print(abs(means["k2"].item() - (kl + kl ** 2 / 2)) < 1e-10)   # bias KL²/2 for a mean shift
    True
    """
    check_scalar_distribution(q, "q")
    check_scalar_distribution(p, "p")
    log_q, log_p, grid = _tabulate(q, p, covering_grid(q, p) if grid is None else grid)  # [N] each
    q_val = log_q.exp()  # [N]
    log_r = torch.where(q_val > 0, log_p - log_q, 0.0)  # [N]; nodes where q underflows carry no weight
    k1 = grid.integrate(-q_val * log_r)
    k2 = grid.integrate(0.5 * q_val * log_r**2)
    k3 = grid.integrate(log_p.exp() - q_val - q_val * log_r)
    return {"k1": k1, "k2": k2, "k3": k3}


__all__ = [
    "pinsker_bound",
    "conditional_kl",
    "apply_channel",
    "fisher_information",
    "diagonal_gaussian_kl",
    "estimator_means",
]
