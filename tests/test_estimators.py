"""Schulman's k1, k2, k3 estimators of KL(q ‖ p) from samples of q."""

import math

import pytest
import torch
from torch.distributions import Uniform

from klcourse import (
    EstimatorStats,
    bimodal_target,
    estimator_stats,
    gaussian_kl,
    kl_divergence,
    kl_estimators,
    normal,
)

torch.set_num_threads(1)


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def test_k1_and_k3_are_unbiased_and_k2_is_biased_by_the_known_amount():
    # q = N(0, 1), p = N(1, 1): log r = x - ½, KL(q ‖ p) = ½, E[k2] = ½ E[(x - ½)²] = 5/8
    q, p = normal(0.0, 1.0), normal(1.0, 1.0)
    k = kl_estimators(q, p, 400_000, generator=_gen(0))
    assert k["k1"].mean().item() == pytest.approx(0.5, rel=0.01)
    assert k["k3"].mean().item() == pytest.approx(0.5, rel=0.01)
    assert k["k2"].mean().item() == pytest.approx(0.625, rel=0.01)


def test_estimates_are_of_kl_q_to_p_not_p_to_q():
    q, p = normal(0.0, 2.0), normal(1.0, 1.0)  # p narrower than q: r = p/q is bounded, k3 has a variance
    k = kl_estimators(q, p, 400_000, generator=_gen(1))
    forward, reverse = gaussian_kl(0.0, 2.0, 1.0, 1.0), gaussian_kl(1.0, 1.0, 0.0, 2.0)
    for name in ("k1", "k3"):
        assert k[name].mean().item() == pytest.approx(forward, rel=0.01)  # KL(q ‖ p), samples from q
        assert abs(k[name].mean().item() - reverse) > 0.5


def test_signs_and_per_sample_spread():
    q, p = normal(0.0, 1.0), normal(1.0, 1.0)
    k = kl_estimators(q, p, 400_000, generator=_gen(2))
    assert (k["k1"] < 0).any()  # k1 is negative for many samples
    assert (k["k2"] >= 0).all() and (k["k3"] >= 0).all()
    # per-sample std / true KL: k1 = ½ - x has std 1 → 2; k3 = e^Y - 1 - Y, Y ~ N(-½, 1) has Var = e - 2
    assert k["k1"].std().item() / 0.5 == pytest.approx(2.0, rel=0.01)
    assert k["k3"].std().item() / 0.5 == pytest.approx(2 * math.sqrt(math.e - 2), rel=0.02)


def test_same_generator_seed_same_draws_and_global_rng_path():
    q, p = normal(0.0, 1.0), normal(0.5, 1.0)
    a = kl_estimators(q, p, 1000, generator=_gen(3))
    b = kl_estimators(q, p, 1000, generator=_gen(3))
    c = kl_estimators(q, p, 1000, generator=_gen(4))
    assert torch.equal(a["k1"], b["k1"]) and not torch.equal(a["k1"], c["k1"])
    torch.manual_seed(0)
    d = kl_estimators(q, p, 1000)
    torch.manual_seed(0)
    assert torch.equal(d["k3"], kl_estimators(q, p, 1000)["k3"])


def test_mixture_and_inverse_cdf_sampling_paths():
    target = bimodal_target()
    p = normal(0.0, 4.0)  # not centred between the modes: a sampler stuck on one mode is caught
    k = kl_estimators(target, p, 200_000, generator=_gen(5))
    # k1, not k3: p's tails are heavier than q's, so E_q[r²] diverges and k3 has no variance
    assert k["k1"].mean().item() == pytest.approx(kl_divergence(target, p).item(), rel=0.01)
    u = Uniform(torch.tensor(0.0, dtype=torch.float64), torch.tensor(1.0, dtype=torch.float64))
    k = kl_estimators(u, normal(0.5, 1.0), 200_000, generator=_gen(6))
    assert k["k1"].mean().item() == pytest.approx(kl_divergence(u, normal(0.5, 1.0)).item(), rel=0.01)


def test_estimator_stats_table():
    stats = estimator_stats(normal(0.0, 1.0), normal(1.0, 1.0), n=100, repeats=400, seed=0)
    assert set(stats) == {"k1", "k2", "k3"} and all(isinstance(s, EstimatorStats) for s in stats.values())
    assert stats["k1"].true_kl == pytest.approx(0.5, rel=1e-15)
    # std of a 100-sample mean: per-sample std / 10, so rel_std ≈ 0.2 (k1), 0.17 (k3)
    assert stats["k1"].rel_std == pytest.approx(0.2, rel=0.1)
    assert stats["k3"].rel_std == pytest.approx(2 * math.sqrt(math.e - 2) / 10, rel=0.1)
    assert stats["k2"].bias == pytest.approx(0.125, rel=0.1)
    assert abs(stats["k1"].bias) < 3 * stats["k1"].std / math.sqrt(400)
    for s in stats.values():
        assert s.bias == pytest.approx(s.mean - s.true_kl) and s.rel_std == pytest.approx(s.std / s.true_kl)
    again = estimator_stats(normal(0.0, 1.0), normal(1.0, 1.0), n=100, repeats=400, seed=0)
    assert again == stats


def test_estimator_stats_falls_back_to_quadrature_without_a_closed_form():
    stats = estimator_stats(bimodal_target(), normal(2.5, 8.0), n=50, repeats=20, seed=1)
    assert stats["k1"].true_kl == pytest.approx(kl_divergence(bimodal_target(), normal(2.5, 8.0)).item(), rel=1e-15)
