"""Entropy and divergences of discrete distributions, all built on one elementwise kernel.

The support is the LAST axis; leading axes are a batch. ``_rel_entr`` is the only place
that takes a logarithm: each public function validates its arguments, normalises them,
applies the kernel, sums over the support and divides by log(base), the way
``scipy.stats.entropy`` does. ``kl_divergence`` and ``js_divergence`` also take two torch
distributions, and then hand them to the continuous versions (dispatch by type, as
``torch.distributions.kl_divergence`` does).
"""

import math

import torch
from torch.distributions import Distribution

from . import _continuous
from ._validate import as_common_tensors, check_base, check_same_support, normalised_weights, to_output


def _rel_entr(p, q):
    """Elementwise p·log(p/q): 0 where p = 0, inf where p > 0 = q (scipy.special.rel_entr)."""
    positive = p > 0
    p_safe = torch.where(positive, p, 1.0)  # log only of positive numbers: finite values, finite gradients
    q_safe = torch.where(positive & (q > 0), q, 1.0)
    term = p * (torch.log(p_safe) - torch.log(q_safe))
    return torch.where(positive, torch.where(q > 0, term, math.inf), 0.0)


def _distributions(named, base, support_ndim=1):
    """Convert and validate probability tables; return (tensors, was_torch, log_base)."""
    log_base = check_base(base)
    tensors, was_torch = as_common_tensors(named)
    tensors = [normalised_weights(t, name, support_ndim) for (name, _), t in zip(named, tensors)]
    if len(tensors) == 2:
        check_same_support(*tensors)
    return tensors, was_torch, log_base


def entropy(p, base=None):
    """Shannon entropy H(p) = -Σ_i p_i log p_i over the last axis.

    Parameters
    ----------
    p : array_like or torch.Tensor, shape [..., K]
        Non-negative weights on the last axis (probabilities, or counts: divided by their sum); leading axes are a batch.
    base : float, optional
        Logarithm base: None for nats, 2 for bits.

    Returns
    -------
    numpy.float64, numpy.ndarray or torch.Tensor, shape [...]
        A torch tensor (differentiable, same dtype and device) for torch input, numpy float64 otherwise.

    Notes
    -----
    0·log 0 = 0, so zero-probability outcomes contribute nothing. H(p) = -Σ rel_entr(p, 1).

    Examples
    --------
    >>> import math
    >>> from klcourse import entropy
    >>> print(entropy([0.5, 0.5], base=2))
    1.0
    >>> p = [0.5, 0.25, 0.25, 0.0]
    >>> print(abs(entropy(p) - (0.5 * math.log(2) + 0.5 * math.log(4))) < 1e-15)
    True
    """
    (p,), was_torch, log_base = _distributions([("p", p)], base)
    # 0 - x rather than -x: a certain outcome gives +0.0, not -0.0 (which prints as "-0")
    h = 0.0 - _rel_entr(p, torch.ones_like(p)).sum(-1) / log_base
    return to_output(h, was_torch)


def cross_entropy(p, q, base=None):
    """Cross-entropy H(p, q) = -Σ_i p_i log q_i over the last axis.

    Parameters
    ----------
    p, q : array_like or torch.Tensor, shape [..., K]
        Non-negative weights on the last axis (normalised, as in ``entropy``); leading axes broadcast.
    base : float, optional
        Logarithm base: None for nats, 2 for bits.

    Returns
    -------
    numpy.float64, numpy.ndarray or torch.Tensor, shape [...]
        ``inf`` where some q_i = 0 < p_i.

    Notes
    -----
    Elementwise -p log q = rel_entr(p, q) - rel_entr(p, 1), so H(p, q) = H(p) + KL(p ‖ q):
    the average code length when outcomes follow p but the code was built for q.

    Examples
    --------
    >>> import math
    >>> from klcourse import cross_entropy
    >>> p, q = [0.5, 0.5], [0.9, 0.1]
    >>> print(abs(cross_entropy(p, q) - -(0.5 * math.log(0.9) + 0.5 * math.log(0.1))) < 1e-15)
    True
    >>> print(cross_entropy([0.5, 0.5], [1.0, 0.0]))
    inf
    """
    (p, q), was_torch, log_base = _distributions([("p", p), ("q", q)], base)
    h = (_rel_entr(p, q) - _rel_entr(p, torch.ones_like(p))).sum(-1) / log_base
    return to_output(h, was_torch)


def _continuous_pair(fn, p, q, base, grid, name):
    """Both torch distributions: the continuous measure, in the given base; one of each: a ValueError."""
    if not (isinstance(p, Distribution) and isinstance(q, Distribution)):
        raise ValueError(
            f"p and q must both be arrays of probabilities or both torch distributions; "
            f"got {type(p).__name__} and {type(q).__name__}"
        )
    log_base = check_base(base)
    value = fn(p, q, grid=grid)
    return value / log_base if base is not None else value


def _no_grid(grid, name):
    if grid is not None:
        raise ValueError(f"grid is used only when p and q are torch distributions; got grid with arrays in {name}")


def kl_divergence(p, q, base=None, *, grid=None):
    """Kullback-Leibler divergence KL(p ‖ q) of two discrete distributions or two densities.

    Discrete: Σ_i p_i log(p_i / q_i) over the last axis. Continuous (two 1-D torch
    distributions): ∫ p(x) log(p(x)/q(x)) dx, dispatched by type as
    ``torch.distributions.kl_divergence`` is.

    Parameters
    ----------
    p, q : array_like, torch.Tensor or torch.distributions.Distribution
        Arrays: shape [..., K], non-negative weights on the last axis (probabilities or counts;
        each is divided by its sum, as in ``scipy.stats.entropy``); leading axes broadcast.
        Distributions: 1-D (batch_shape and event_shape ``()``), mixtures included.
    base : float, optional
        Logarithm base: None for nats, 2 for bits.
    grid : Grid, optional
        Distributions only: a quadrature grid to use instead of the default, which is a closed
        form where ``torch.distributions.kl_divergence`` has one and adaptive quadrature
        otherwise (see Notes).

    Returns
    -------
    numpy.float64, numpy.ndarray or torch.Tensor, shape [...]
        Non-negative; 0 only for p = q; ``inf`` where p puts mass where q has none, or where
        the integral diverges (never NaN). Torch (differentiable) for tensors and distributions.

    Notes
    -----
    Not symmetric: KL(p ‖ q) ≠ KL(q ‖ p) in general. With P the target and Q the model, forward
    KL is ``kl_divergence(P, Q)`` and reverse KL is ``kl_divergence(Q, P)``. For distributions
    without a closed form the default quadrature puts Gauss-Legendre panels at every
    distribution's location ± scale·2^k, so scales 1e6 apart and heavy tails are resolved; it
    returns the value to about 1e-9 relative, ``inf`` when the tails make the integral diverge,
    or raises a ``ValueError`` when it cannot promise the accuracy.

    Examples
    --------
    >>> import math
    >>> from scipy.stats import entropy as scipy_entropy
    >>> from klcourse import kl_divergence, normal
    >>> p, q = [0.1, 0.4, 0.5], [0.3, 0.3, 0.4]
    >>> print(abs(kl_divergence(p, q, base=2) - scipy_entropy(p, q, base=2)) < 1e-15)
    True
    >>> print(kl_divergence([1, 1], [1, 3]) == kl_divergence([0.5, 0.5], [0.25, 0.75]))  # counts
    True
    >>> print(kl_divergence([0.5, 0.5], [1.0, 0.0]))
    inf
    >>> value = kl_divergence(normal(0.0, 0.01), normal(0.0, 100.0))
    >>> print(abs(value.item() - (math.log(1e4) + 0.01**2 / (2 * 100.0**2) - 0.5)) < 1e-12)
    True
    """
    if isinstance(p, Distribution) or isinstance(q, Distribution):
        return _continuous_pair(_continuous.kl, p, q, base, grid, "kl_divergence")
    _no_grid(grid, "kl_divergence")
    (p, q), was_torch, log_base = _distributions([("p", p), ("q", q)], base)
    return to_output(_rel_entr(p, q).sum(-1) / log_base, was_torch)


def js_divergence(p, q, base=None, *, grid=None):
    """Jensen-Shannon divergence JS(p, q) = ½ KL(p ‖ m) + ½ KL(q ‖ m), m = (p + q)/2, discrete or continuous.

    Parameters
    ----------
    p, q : array_like, torch.Tensor or torch.distributions.Distribution
        Arrays: shape [..., K], non-negative weights on the last axis (normalised, as in
        ``kl_divergence``); leading axes broadcast. Or two 1-D torch distributions.
    base : float, optional
        Logarithm base: None for nats, 2 for bits.
    grid : Grid, optional
        Distributions only: a quadrature grid instead of the default adaptive quadrature.

    Returns
    -------
    numpy.float64, numpy.ndarray or torch.Tensor, shape [...]
        The divergence (not its square root, the JS distance): symmetric, finite, in
        [0, log 2] nats, i.e. [0, 1] bit; log 2 for disjoint supports.

    Notes
    -----
    For densities that jump (a Uniform at its support's ends) a uniform grid errs by O(Δx) on
    the panel across the jump; the default quadrature has a panel end there instead, and the
    result is clamped to [0, log 2] (which also removes the quadrature error of a grid you pass
    beyond the range).

    Examples
    --------
    >>> import math
    >>> from klcourse import js_divergence, normal
    >>> print(js_divergence([1.0, 0.0], [0.0, 1.0], base=2))
    1.0
    >>> p, q = [0.2, 0.8], [0.6, 0.4]
    >>> print(js_divergence(p, q) == js_divergence(q, p))
    True
    >>> far_apart = js_divergence(normal(0.0, 1.0), normal(100.0, 1.0))
    >>> print(abs(far_apart.item() - math.log(2)) < 1e-9)
    True
    """
    if isinstance(p, Distribution) or isinstance(q, Distribution):
        return _continuous_pair(_continuous.js, p, q, base, grid, "js_divergence")
    _no_grid(grid, "js_divergence")
    (p, q), was_torch, log_base = _distributions([("p", p), ("q", q)], base)
    m = (p + q) / 2
    js = 0.5 * (_rel_entr(p, m).sum(-1) + _rel_entr(q, m).sum(-1)) / log_base
    return to_output(js, was_torch)


def information_content(p, base=None):
    """Surprisal -log p of events with probabilities p, elementwise.

    Parameters
    ----------
    p : float, array_like or torch.Tensor, any shape
        Probabilities in [0, 1]; they need not sum to 1 (each entry is one event).
    base : float, optional
        Logarithm base: None for nats, 2 for bits.

    Returns
    -------
    numpy.float64, numpy.ndarray or torch.Tensor, same shape as p
        ``inf`` where p = 0 (an impossible event is infinitely surprising).

    Notes
    -----
    Entropy is the expected surprisal: H(p) = Σ_i p_i · (-log p_i).

    Examples
    --------
    >>> from klcourse import entropy, information_content
    >>> print(information_content(0.125, base=2))
    3.0
    >>> p = [0.5, 0.25, 0.25]
    >>> print(abs(sum(pi * s for pi, s in zip(p, information_content(p))) - entropy(p)) < 1e-15)
    True
    """
    log_base = check_base(base)
    (p,), was_torch = as_common_tensors([("p", p)])
    if p.numel() == 0:
        raise ValueError(f"p must be non-empty; got shape {tuple(p.shape)}")
    values = p.detach()
    bad = ~((values >= 0) & (values <= 1))  # also catches NaN
    if bool(bad.any()):
        raise ValueError(f"p must be probabilities in [0, 1]; got {values[bad].flatten()[0].item():g}")
    return to_output(_rel_entr(torch.ones_like(p), p) / log_base, was_torch)  # 1·log(1/p)


def joint_entropy(pxy, base=None):
    """Joint entropy H(X, Y) = -Σ_{x,y} p(x, y) log p(x, y) of a joint table.

    Parameters
    ----------
    pxy : array_like or torch.Tensor, shape [..., |X|, |Y|]
        Joint probabilities (or counts, divided by their sum over both axes), X on axis -2 and Y on axis -1.
    base : float, optional
        Logarithm base: None for nats, 2 for bits.

    Returns
    -------
    numpy.float64, numpy.ndarray or torch.Tensor, shape [...]

    Examples
    --------
    >>> import numpy as np
    >>> from klcourse import entropy, joint_entropy
    >>> px, py = np.array([0.3, 0.7]), np.array([0.1, 0.2, 0.7])
    >>> independent = np.outer(px, py)
    >>> print(abs(joint_entropy(independent) - (entropy(px) + entropy(py))) < 1e-15)
    True
    """
    (pxy,), was_torch, log_base = _distributions([("pxy", pxy)], base, support_ndim=2)
    h = 0.0 - _rel_entr(pxy, torch.ones_like(pxy)).sum((-2, -1)) / log_base  # 0 - x: +0.0, never -0.0
    return to_output(h, was_torch)


def conditional_entropy(pxy, base=None):
    """Conditional entropy H(Y | X) = -Σ_{x,y} p(x, y) log p(y | x), X on axis -2, Y on axis -1.

    Parameters
    ----------
    pxy : array_like or torch.Tensor, shape [..., |X|, |Y|]
        Joint probabilities (or counts, divided by their sum) over the last two axes.
    base : float, optional
        Logarithm base: None for nats, 2 for bits.

    Returns
    -------
    numpy.float64, numpy.ndarray or torch.Tensor, shape [...]
        In [0, H(Y)]; equals H(X, Y) - H(X) (the chain rule).

    Notes
    -----
    Elementwise p(x, y) log(p(x, y) / p(x)) = rel_entr(p(x, y), p(x)), with p(x) = Σ_y p(x, y)
    ≥ p(x, y), so no term is infinite.

    Examples
    --------
    >>> from klcourse import conditional_entropy, entropy, joint_entropy
    >>> pxy = [[0.25, 0.25], [0.5, 0.0]]
    >>> print(abs(conditional_entropy(pxy) - (joint_entropy(pxy) - entropy([0.5, 0.5]))) < 1e-15)
    True
    """
    (pxy,), was_torch, log_base = _distributions([("pxy", pxy)], base, support_ndim=2)
    px = pxy.sum(-1, keepdim=True)  # [..., |X|, 1]
    h = 0.0 - _rel_entr(pxy, px).sum((-2, -1)) / log_base  # 0 - x: +0.0, never -0.0
    return to_output(h, was_torch)


def mutual_information(pxy, base=None):
    """Mutual information I(X; Y) = KL(p(x, y) ‖ p(x) p(y)), X on axis -2, Y on axis -1.

    Parameters
    ----------
    pxy : array_like or torch.Tensor, shape [..., |X|, |Y|]
        Joint probabilities (or counts, divided by their sum) over the last two axes.
    base : float, optional
        Logarithm base: None for nats, 2 for bits.

    Returns
    -------
    numpy.float64, numpy.ndarray or torch.Tensor, shape [...]
        Non-negative, 0 exactly when X and Y are independent; equals H(X) + H(Y) - H(X, Y).

    Examples
    --------
    >>> from klcourse import mutual_information
    >>> print(mutual_information([[0.5, 0.0], [0.0, 0.5]], base=2))  # Y copies a fair bit X
    1.0
    >>> print(abs(mutual_information([[0.12, 0.28], [0.18, 0.42]])) < 1e-15)  # independent
    True
    """
    (pxy,), was_torch, log_base = _distributions([("pxy", pxy)], base, support_ndim=2)
    px = pxy.sum(-1, keepdim=True)  # [..., |X|, 1]
    py = pxy.sum(-2, keepdim=True)  # [..., 1, |Y|]
    mi = _rel_entr(pxy, px * py).sum((-2, -1)) / log_base
    return to_output(mi, was_torch)
