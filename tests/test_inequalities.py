"""Properties of KL (klcourse._inequalities): against scipy, closed forms and quadrature, plus properties."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import integrate, stats
from torch.distributions import Cauchy, Exponential, Normal

from klcourse import (
    Grid,
    apply_channel,
    conditional_kl,
    diagonal_gaussian_kl,
    estimator_means,
    fisher_information,
    gaussian_kl,
    kl_divergence,
    mvn_kl,
    normal,
    pinsker_bound,
)

torch.set_num_threads(1)
PROPERTY = settings(max_examples=60, derandomize=True, deadline=None)


def simplex(k, zeros=True):
    """Strategy: a probability vector of length k (optionally with exact zeros)."""
    low = 0.0 if zeros else 0.05
    return arrays(np.float64, k, elements=st.floats(low, 1.0)).filter(lambda a: a.sum() > 0.1).map(lambda a: a / a.sum())


# ------------------------------------------------------------------ Pinsker


def test_pinsker_formula_and_inf():
    assert pinsker_bound(0.0) == 0.0
    assert pinsker_bound(2.0) == 1.0
    assert pinsker_bound(math.inf) == math.inf
    t = torch.tensor([0.5, 8.0], dtype=torch.float64, requires_grad=True)
    out = pinsker_bound(t)
    assert isinstance(out, torch.Tensor) and torch.allclose(out, torch.tensor([0.5, 2.0], dtype=torch.float64))
    out.sum().backward()  # d sqrt(k/2)/dk = 1/(4 sqrt(k/2))
    assert torch.allclose(t.grad, 1 / (4 * torch.tensor([0.5, 2.0], dtype=torch.float64)))


@PROPERTY
@given(simplex(4), simplex(4))
def test_pinsker_holds_for_discrete_pairs(p, q):
    tv = 0.5 * np.abs(p - q).sum()
    bound = min(pinsker_bound(stats.entropy(p, q)), pinsker_bound(stats.entropy(q, p)))
    assert tv <= bound + 1e-12


def test_pinsker_is_tight_for_close_coins():
    # Bernoulli(1/2) against Bernoulli(1/2 + e): TV = e, KL = 2e² + O(e⁴), so TV / bound -> 1
    e = 1e-3
    kl = stats.entropy([0.5, 0.5], [0.5 + e, 0.5 - e])
    assert 0.999 < e / pinsker_bound(kl) <= 1.0


@pytest.mark.parametrize("bad", [-0.1, math.nan, [0.1, -1.0]])
def test_pinsker_rejects_bad_kl(bad):
    with pytest.raises(ValueError, match="kl must contain only non-negative numbers"):
        pinsker_bound(bad)


# ------------------------------------------------------------------ chain rule


def conditional_kl_by_loops(pxy, qxy):
    """Independent reference: Σ_x p(x) KL(p(.|x) ‖ q(.|x)) with scipy, row by row."""
    total = 0.0
    for prow, qrow in zip(pxy, qxy):
        px, qx = prow.sum(), qrow.sum()
        if px == 0:
            continue
        if qx == 0:
            return math.inf
        total += px * stats.entropy(prow / px, qrow / qx)
    return total


@PROPERTY
@given(simplex(6), simplex(6, zeros=False))
def test_chain_rule_and_reference(p, q):
    pxy, qxy = p.reshape(2, 3), q.reshape(2, 3)
    cond = conditional_kl(pxy, qxy)
    assert cond == pytest.approx(conditional_kl_by_loops(pxy, qxy), rel=1e-12, abs=1e-14)
    joint = stats.entropy(p, q)
    marginal = stats.entropy(pxy.sum(1), qxy.sum(1))
    assert joint == pytest.approx(marginal + cond, rel=1e-10, abs=1e-13)
    assert cond >= -1e-15


def test_conditional_kl_product_model_is_mutual_information():
    pxy = np.array([[0.60, 0.10], [0.05, 0.25]])
    product = np.outer(pxy.sum(1), pxy.sum(0))
    mi = stats.entropy(pxy.ravel(), product.ravel())
    assert conditional_kl(pxy, product) == pytest.approx(mi, rel=1e-12)


def test_conditional_kl_infinite_and_base_and_batch():
    pxy = np.array([[0.5, 0.0], [0.25, 0.25]])
    qxy = np.array([[0.5, 0.5], [0.0, 0.0]])  # Q never produces x = 1
    assert conditional_kl(pxy, qxy) == math.inf
    a = np.array([[0.3, 0.2], [0.1, 0.4]])
    b = np.array([[0.25, 0.25], [0.25, 0.25]])
    assert conditional_kl(a, b, base=2) == pytest.approx(conditional_kl(a, b) / math.log(2), rel=1e-14)
    batch = conditional_kl(torch.tensor(np.stack([a, b])), torch.tensor(b))
    assert batch.shape == (2,) and batch[1].item() == 0.0


def test_conditional_kl_rejects():
    # tables are normalised over both axes, as the package's discrete measures normalise counts
    counts_p, counts_q = np.array([[3.0, 1.0], [2.0, 2.0]]), np.array([[1.0, 1.0], [1.0, 5.0]])
    assert conditional_kl(counts_p, counts_q) == pytest.approx(
        conditional_kl(counts_p / 8, counts_q / 8), rel=1e-14)
    assert conditional_kl(counts_p, counts_q) > 0.0
    with pytest.raises(ValueError, match="pxy"):
        conditional_kl([[0.5, -0.5], [0.5, 0.5]], [[0.25, 0.25], [0.25, 0.25]])
    with pytest.raises(ValueError, match="pxy and qxy must have the same shape"):
        conditional_kl(np.full((2, 3), 1 / 6), np.full((3, 3), 1 / 9))


# ------------------------------------------------------------------ data processing


@PROPERTY
@given(simplex(5), simplex(5, zeros=False), arrays(np.float64, (5, 3), elements=st.floats(0.01, 1.0)))
def test_data_processing_inequality(p, q, raw):
    channel = raw / raw.sum(1, keepdims=True)
    out_p, out_q = apply_channel(p, channel), apply_channel(q, channel)
    np.testing.assert_allclose(out_p, p @ channel, rtol=1e-14, atol=1e-16)
    assert stats.entropy(out_p, out_q) <= stats.entropy(p, q) + 1e-12


def test_apply_channel_batch_and_identity():
    p = torch.tensor([[0.2, 0.8], [0.5, 0.5]], dtype=torch.float64)
    eye = torch.eye(2, dtype=torch.float64)
    assert torch.equal(apply_channel(p, eye), p)
    swap = torch.tensor([[0.0, 1.0], [1.0, 0.0]], dtype=torch.float64)
    assert torch.equal(apply_channel(p, swap), p.flip(-1))
    # a permutation is invertible: KL is unchanged (equality in the data-processing inequality)
    assert kl_divergence(apply_channel(p[0], swap), apply_channel(p[1], swap)) == pytest.approx(
        kl_divergence(p[0], p[1]).item(), rel=1e-14)


def test_apply_channel_rejects():
    with pytest.raises(ValueError, match="channel must sum to 1"):
        apply_channel([0.5, 0.5], [[0.5, 0.6], [0.5, 0.5]])
    with pytest.raises(ValueError, match="channel must have shape"):
        apply_channel([0.5, 0.5], [[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    with pytest.raises(ValueError, match="p must sum to 1"):
        apply_channel([0.5, 0.6], [[1.0, 0.0], [0.0, 1.0]])


# ------------------------------------------------------------------ Fisher information


@pytest.mark.parametrize(
    "family, theta, expected, rtol",
    [
        (lambda t: Normal(t[0], t[1]), [1.0, 2.0], np.diag([1 / 4, 2 / 4]), 1e-6),            # (mu, sigma)
        (lambda t: Normal(t[0], t[1].exp()), [0.0, math.log(3.0)], np.diag([1 / 9, 2.0]), 1e-6),  # (mu, log sigma)
        (lambda t: Exponential(t[0]), [2.0], np.array([[1 / 4]]), 1e-4),                      # 1 / rate²
        # 1 / (2 γ²); the scale score does not decay, so the grid's ends at ±3000 miss 2/(πγ·3000) ≈ 6e-4 of F
        (lambda t: Cauchy(t[0], t[1]), [0.0, 1.5], np.diag([1 / (2 * 1.5**2)] * 2), 1e-3),
    ],
)
def test_fisher_information_closed_forms(family, theta, expected, rtol):
    grid = Grid.uniform(-3000.0, 3000.0, 200_001) if family(torch.tensor(theta)).__class__ is Cauchy else None
    F = fisher_information(family, theta, grid=grid)
    np.testing.assert_allclose(F, expected, rtol=rtol, atol=1e-9)


def test_fisher_is_the_second_order_term_of_kl():
    F = fisher_information(lambda t: Normal(t[0], t[1]), [0.0, 1.0])
    direction = np.array([1.0, 1.0]) / math.sqrt(2)
    errors = []
    for t in (0.1, 0.01):
        d = t * direction
        exact = gaussian_kl(0.0, 1.0, d[0], 1.0 + d[1])
        errors.append(abs(exact - 0.5 * d @ F @ d))
    assert errors[1] < errors[0] / 500  # the error is O(t³)


def test_fisher_information_torch_in_torch_out_and_rejects():
    F = fisher_information(lambda t: Normal(t[0], t[1]), torch.tensor([0.0, 1.0], dtype=torch.float64))
    assert isinstance(F, torch.Tensor) and F.shape == (2, 2)
    with pytest.raises(ValueError, match="family must be a callable"):
        fisher_information(Normal(0.0, 1.0), [0.0, 1.0])
    with pytest.raises(ValueError, match="theta must be a non-empty 1-D array"):
        fisher_information(lambda t: Normal(t[0], t[1]), [[0.0, 1.0]])
    with pytest.raises(ValueError, match="theta must contain only finite numbers"):
        fisher_information(lambda t: Normal(t[0], t[1]), [math.nan, 1.0])


# ------------------------------------------------------------------ VAE term


def test_diagonal_gaussian_kl_against_mvn_and_torch():
    g = np.random.default_rng(0)
    mu, log_var = g.normal(size=(4, 3)), g.normal(size=(4, 3))
    ours = diagonal_gaussian_kl(mu, log_var)
    for i in range(4):
        ref = mvn_kl(mu[i], np.diag(np.exp(log_var[i])), np.zeros(3), np.eye(3))
        assert ours[i] == pytest.approx(ref, rel=1e-12)
    q = torch.distributions.Independent(Normal(torch.tensor(mu), torch.tensor(log_var / 2).exp()), 1)
    prior = torch.distributions.Independent(Normal(torch.zeros(3, dtype=torch.float64), 1.0), 1)
    np.testing.assert_allclose(ours, torch.distributions.kl_divergence(q, prior).numpy(), rtol=1e-12)


def test_diagonal_gaussian_kl_small_log_var_and_gradient():
    # σ² - 1 - log σ² ≈ (log σ²)²/2 for small log σ²: expm1 keeps it accurate
    assert diagonal_gaussian_kl([0.0], [1e-8]) == pytest.approx(0.25e-16, rel=1e-6)
    mu = torch.tensor([0.3, -0.2], dtype=torch.float64, requires_grad=True)
    lv = torch.tensor([0.1, -0.5], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(diagonal_gaussian_kl, (mu, lv))


def test_diagonal_gaussian_kl_rejects():
    with pytest.raises(ValueError, match="log_var must contain only finite numbers"):
        diagonal_gaussian_kl([0.0], [math.inf])
    with pytest.raises(ValueError, match="mu and log_var must broadcast"):
        diagonal_gaussian_kl([0.0, 1.0], [0.0, 0.0, 0.0])


# ------------------------------------------------------------------ exact estimator means


@pytest.mark.parametrize("q, p", [((0.0, 1.0), (1.0, 1.0)), ((0.0, 1.0), (0.5, 1.5)), ((1.0, 2.0), (0.0, 1.0))])
def test_estimator_means_against_scipy(q, p):
    means = estimator_means(normal(*q), normal(*p))
    log_r = lambda x: stats.norm.logpdf(x, *p) - stats.norm.logpdf(x, *q)  # noqa: E731
    dq = lambda x: stats.norm.pdf(x, *q)  # noqa: E731
    k2 = integrate.quad(lambda x: dq(x) * 0.5 * log_r(x) ** 2, -40, 40, limit=400)[0]
    kl = gaussian_kl(*q, *p)
    assert means["k1"].item() == pytest.approx(kl, rel=1e-9)
    assert means["k3"].item() == pytest.approx(kl, rel=1e-9)
    assert means["k2"].item() == pytest.approx(k2, rel=1e-8)


def test_estimator_means_rejects():
    with pytest.raises(ValueError, match="q must be a torch.distributions.Distribution"):
        estimator_means(0.0, normal(0.0, 1.0))
