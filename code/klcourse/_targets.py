"""Target distributions used throughout the course: validated Normals and Gaussian mixtures."""

import torch
from torch.distributions import Categorical, MixtureSameFamily, Normal

from ._validate import SUM_TOLERANCE, as_common_tensors, check_finite, check_positive


def normal(mu, sigma):
    """A validated 1-D Normal distribution N(mu, sigma²).

    Parameters
    ----------
    mu : float or torch.Tensor
        Mean (finite). Tensors keep their dtype, device and gradient.
    sigma : float or torch.Tensor
        Standard deviation (finite, > 0).

    Returns
    -------
    torch.distributions.Normal
        Float64 unless a tensor argument fixes another dtype.

    Notes
    -----
    Unlike ``torch.distributions.Normal``, which accepts ``sigma = 0`` until it is sampled,
    this raises a ``ValueError`` that names the argument.

    Examples
    --------
    >>> import math, torch
    >>> from klcourse import normal
    >>> q = normal(2.0, 3.0)
    >>> x = torch.tensor(1.0, dtype=torch.float64)
    >>> formula = -0.5 * ((1.0 - 2.0) / 3.0) ** 2 - math.log(3.0 * math.sqrt(2 * math.pi))
    >>> print(abs(q.log_prob(x).item() - formula) < 1e-12)
    True
    """
    (mu, sigma), _ = as_common_tensors([("mu", mu), ("sigma", sigma)])  # float64 unless a tensor says otherwise
    check_finite(mu, "mu")
    check_positive(sigma, "sigma")
    return Normal(mu, sigma)


def gaussian_mixture(weights, means, sigmas):
    """A 1-D Gaussian mixture Σ_k w_k N(m_k, s_k²) as a ``MixtureSameFamily``.

    Parameters
    ----------
    weights : array_like or torch.Tensor, shape [K]
        Mixture weights: non-negative, summing to 1 (absolute tolerance 1e-6 in float64).
    means : array_like or torch.Tensor, shape [K]
        Component means (finite).
    sigmas : array_like or torch.Tensor, shape [K]
        Component standard deviations (> 0).

    Returns
    -------
    torch.distributions.MixtureSameFamily
        ``MixtureSameFamily(Categorical(probs=weights), Normal(means, sigmas))``; its
        ``log_prob`` is computed in log space (logsumexp over components), so it never
        underflows the way ``log(sum of densities)`` does.

    Examples
    --------
    >>> import math, torch
    >>> from klcourse import gaussian_mixture
    >>> p = gaussian_mixture([0.25, 0.75], [0.0, 4.0], [1.0, 2.0])
    >>> x = torch.tensor(1.0, dtype=torch.float64)
    >>> pdf = lambda x, m, s: math.exp(-0.5 * ((x - m) / s) ** 2) / (s * math.sqrt(2 * math.pi))
    >>> by_hand = 0.25 * pdf(1.0, 0.0, 1.0) + 0.75 * pdf(1.0, 4.0, 2.0)
    >>> print(abs(p.log_prob(x).exp().item() - by_hand) < 1e-12)
    True
    """
    (weights, means, sigmas), _ = as_common_tensors([("weights", weights), ("means", means), ("sigmas", sigmas)])
    shapes = {tuple(weights.shape), tuple(means.shape), tuple(sigmas.shape)}
    if len(shapes) != 1 or weights.dim() != 1 or weights.numel() == 0:
        raise ValueError(
            "weights, means and sigmas must be non-empty 1-D sequences of one length; got shapes "
            f"{tuple(weights.shape)}, {tuple(means.shape)} and {tuple(sigmas.shape)}"
        )
    check_finite(weights, "weights")
    w = weights.detach()
    if bool((w < 0).any()):
        raise ValueError(f"weights must be non-negative; got a negative entry {w[w < 0].min().item():g}")
    if abs(w.sum().item() - 1) > SUM_TOLERANCE.get(w.dtype, 1e-6):
        raise ValueError(f"weights must sum to 1; got a sum of {w.sum().item():.10g}")
    check_finite(means, "means")
    check_positive(sigmas, "sigmas")
    return MixtureSameFamily(Categorical(probs=weights), Normal(means, sigmas))


def bimodal_target():
    """The course's target P = 0.5 N(-5, 1) + 0.5 N(10, 1), in float64.

    Returns
    -------
    torch.distributions.MixtureSameFamily
        A proper density (it integrates to 1), unlike the seed notebook's sum of the two
        Normal densities, which integrates to 2.

    Notes
    -----
    Moment matching gives its forward-KL optimum among Normals: mean 2.5 and variance
    1 + 0.5·(-5 - 2.5)² + 0.5·(10 - 2.5)² = 57.25.

    Examples
    --------
    >>> from klcourse import bimodal_target
    >>> p = bimodal_target()
    >>> print(abs(p.mean.item() - 2.5) < 1e-12, abs(p.variance.item() - 57.25) < 1e-12)
    True True
    """
    return gaussian_mixture([0.5, 0.5], [-5.0, 10.0], [1.0, 1.0])


def seed_grid(dtype=torch.float32):
    """The seed notebook's evaluation grid ``torch.linspace(-15, 15, 1000)``.

    Parameters
    ----------
    dtype : torch.dtype, default torch.float32
        The seed used PyTorch's default float32; pass ``torch.float64`` for the same 1000
        points in double precision.

    Returns
    -------
    torch.Tensor, shape [1000]
        Points only. Wrap them with ``Grid.from_points`` to integrate on them.

    Notes
    -----
    It exists to reproduce the seed notebook's numbers (the bench and the "what went wrong"
    chapter). New code should use ``covering_grid``, which covers the distributions'
    tails with enough points for accurate quadrature.

    Examples
    --------
    >>> import torch
    >>> from klcourse import seed_grid
    >>> x = seed_grid()
    >>> print(x.shape == (1000,), bool(torch.equal(x, torch.linspace(-15, 15, 1000))))
    True True
    """
    return torch.linspace(-15, 15, 1000, dtype=dtype)
