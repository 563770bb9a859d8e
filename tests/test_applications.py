"""KL in practice: the ELBO, the tilted target of KL-regularised RL, k1/k2/k3 as losses, distillation.

References are computed independently: numpy/scipy for the identities, Monte Carlo with
per-sample autograd for the estimator gradients, finite differences (gradcheck) for distillation.
"""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import logsumexp, rel_entr, softmax
from scipy.stats import entropy as scipy_entropy

from klcourse import (
    distillation_gradient,
    distillation_loss,
    elbo,
    estimator_loss_gradients,
    kl_regularized_objective,
    tilted_distribution,
)

torch.set_num_threads(1)

simplex = st.lists(st.floats(0.05, 1.0), min_size=2, max_size=6).map(lambda w: np.array(w) / np.sum(w))


# --- ELBO --------------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_elbo_plus_kl_to_the_posterior_is_the_log_evidence(data):
    joint = np.array(data.draw(st.lists(st.floats(1e-4, 1.0), min_size=2, max_size=6)))
    q = data.draw(st.lists(st.floats(0.01, 1.0), min_size=len(joint), max_size=len(joint)).map(lambda w: np.array(w) / np.sum(w)))
    log_evidence = math.log(joint.sum())
    kl_post = rel_entr(q, joint / joint.sum()).sum()
    reference = np.sum(q * (np.log(joint) - np.log(q)))  # E_q[log p(x, z) - log q(z)]
    value = elbo(q, joint).item()
    assert value == pytest.approx(reference, abs=1e-12)
    assert value + kl_post == pytest.approx(log_evidence, abs=1e-12)
    assert value <= log_evidence + 1e-12


def test_elbo_is_the_log_evidence_at_the_posterior_and_minus_inf_off_its_support():
    joint = torch.tensor([0.2, 0.0, 0.05], dtype=torch.float64)
    assert elbo(joint / joint.sum(), joint).item() == pytest.approx(math.log(0.25), abs=1e-15)
    assert elbo([0.5, 0.25, 0.25], joint).item() == -math.inf


def test_elbo_rejects_bad_input():
    with pytest.raises(ValueError, match="joint must be non-negative"):
        elbo([0.5, 0.5], [0.1, -0.1])
    with pytest.raises(ValueError, match="joint must have a positive sum"):
        elbo([0.5, 0.5], [0.0, 0.0])
    with pytest.raises(ValueError, match="q must sum to 1"):
        elbo([0.5, 0.6], [0.1, 0.1])
    with pytest.raises(ValueError, match="same shape"):
        elbo([0.5, 0.5], [0.1, 0.1, 0.1])


# --- the tilted target --------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(ref=simplex, data=st.data(), beta=st.floats(0.05, 20.0))
def test_regularised_objective_is_beta_log_z_minus_beta_reverse_kl_to_the_tilted_target(ref, data, beta):
    k = len(ref)
    r = np.array(data.draw(st.lists(st.floats(-3.0, 3.0), min_size=k, max_size=k)))
    pi = data.draw(st.lists(st.floats(0.01, 1.0), min_size=k, max_size=k).map(lambda w: np.array(w) / np.sum(w)))
    log_z = logsumexp(np.log(ref) + r / beta)
    tilted_ref = ref * np.exp(r / beta - log_z)
    objective = np.sum(pi * r) - beta * rel_entr(pi, ref).sum()
    tilted, lz = tilted_distribution(ref, r, beta)
    assert lz.item() == pytest.approx(log_z, abs=1e-12)
    np.testing.assert_allclose(tilted.numpy(), tilted_ref, rtol=1e-12, atol=1e-15)
    assert kl_regularized_objective(pi, ref, r, beta).item() == pytest.approx(objective, abs=1e-10)
    assert objective == pytest.approx(beta * log_z - beta * rel_entr(pi, tilted_ref).sum(), abs=1e-10)


def test_the_tilted_target_maximises_the_objective_and_sharpens_as_beta_falls():
    ref = np.array([0.4, 0.3, 0.2, 0.1])
    r = np.array([0.0, 0.5, 1.0, 2.0])
    rng = np.random.default_rng(0)
    for beta in (0.1, 1.0, 10.0):
        tilted, log_z = tilted_distribution(ref, r, beta)
        best = kl_regularized_objective(tilted, ref, r, beta).item()
        assert best == pytest.approx(beta * log_z.item(), abs=1e-12)
        for pi in rng.dirichlet(np.ones(4), size=200):
            assert kl_regularized_objective(pi, ref, r, beta).item() <= best + 1e-12
    # not monotone in beta in general, but pi* -> pi_ref as beta -> inf and -> the best response as beta -> 0
    np.testing.assert_allclose(tilted_distribution(ref, r, 1e4)[0].numpy(), ref, rtol=1e-3)
    assert scipy_entropy(tilted_distribution(ref, r, 0.01)[0].numpy()) < 1e-6 < scipy_entropy(ref)
    assert tilted_distribution(ref, r, 1e-3)[0][-1].item() == pytest.approx(1.0, abs=1e-12)


def test_tilted_target_is_stable_for_large_rewards_and_keeps_the_reference_zeros():
    tilted, log_z = tilted_distribution([0.5, 0.5, 0.0], [1000.0, 0.0, 5000.0], beta=0.01)
    assert torch.isfinite(log_z).all() and tilted[0].item() == pytest.approx(1.0) and tilted[2].item() == 0.0


def test_tilted_and_objective_reject_bad_input():
    with pytest.raises(ValueError, match="beta must be a positive number"):
        tilted_distribution([0.5, 0.5], [0.0, 1.0], beta=0.0)
    with pytest.raises(ValueError, match="rewards must contain only finite"):
        tilted_distribution([0.5, 0.5], [0.0, math.nan], beta=1.0)
    with pytest.raises(ValueError, match="ref must sum to 1"):
        kl_regularized_objective([0.5, 0.5], [0.5, 0.6], [0.0, 1.0], beta=1.0)
    with pytest.raises(ValueError, match="beta must be a finite real number"):
        kl_regularized_objective([0.5, 0.5], [0.5, 0.5], [0.0, 1.0], beta="big")


# --- k1, k2, k3 as losses -------------------------------------------------------------------------


def test_estimator_gradients_match_closed_forms():
    theta = torch.tensor([0.3, -1.0, 2.0, 0.0], dtype=torch.float64)
    ref_theta = torch.tensor([1.0, 0.0, -0.5, 0.2], dtype=torch.float64)
    g = estimator_loss_gradients(theta, ref_theta)
    pi, ref = torch.softmax(theta, -1), torch.softmax(ref_theta, -1)
    log_ratio = (pi / ref).log()
    reverse = pi * (log_ratio - (pi * log_ratio).sum())  # ∇ KL(pi ‖ ref) for softmax logits
    forward = pi - ref  # ∇ KL(ref ‖ pi) = ∇ (-Σ ref log softmax)
    torch.testing.assert_close(g["reverse_kl"], reverse, rtol=0, atol=1e-14)
    torch.testing.assert_close(g["forward_kl"], forward, rtol=0, atol=1e-14)
    torch.testing.assert_close(g["k1"], torch.zeros(4, dtype=torch.float64), rtol=0, atol=1e-14)
    torch.testing.assert_close(g["k2"], reverse, rtol=0, atol=1e-14)
    torch.testing.assert_close(g["k3"], forward, rtol=0, atol=1e-14)


def test_estimator_gradients_match_monte_carlo_with_the_sample_held_fixed():
    theta0 = torch.tensor([0.5, -0.5, 1.0], dtype=torch.float64)
    ref_theta = torch.tensor([0.0, 0.8, -0.3], dtype=torch.float64)
    n = 60_000
    gen = torch.Generator().manual_seed(3)
    y = torch.multinomial(torch.softmax(theta0, -1), n, replacement=True, generator=gen)  # [n]
    theta = theta0.clone().requires_grad_(True)
    log_r = torch.log_softmax(ref_theta, -1)[y] - torch.log_softmax(theta, -1)[y]  # [n]
    estimates = {"k1": -log_r, "k2": 0.5 * log_r**2, "k3": torch.expm1(log_r) - log_r}
    exact = estimator_loss_gradients(theta0, ref_theta)
    for name, k in estimates.items():
        (mc,) = torch.autograd.grad(k.mean(), theta, retain_graph=True)
        assert torch.allclose(mc, exact[name], atol=0.02), name


def test_estimator_gradients_batch_and_reject_bad_input():
    g = estimator_loss_gradients(torch.zeros(2, 3), torch.tensor([[0.0, 1.0, 2.0], [2.0, 1.0, 0.0]]))
    assert g["k3"].shape == (2, 3)
    with pytest.raises(ValueError, match="logits must contain only finite"):
        estimator_loss_gradients([0.0, math.inf], [0.0, 0.0])
    with pytest.raises(ValueError, match="same shape"):
        estimator_loss_gradients([0.0, 1.0], [0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="ref_logits must be a non-empty array"):
        estimator_loss_gradients([0.0], [])


# --- distillation -------------------------------------------------------------------------------


@pytest.mark.parametrize("temperature", [0.5, 1.0, 4.0])
def test_distillation_loss_is_t_squared_times_forward_kl_teacher_first(temperature):
    s = np.array([[1.0, 0.2, -0.5, 3.0], [0.0, 0.0, 1.0, -1.0]])
    t = np.array([[2.0, 1.0, 0.0, 0.5], [1.0, -1.0, 0.0, 0.0]])
    p, q = softmax(t / temperature, axis=-1), softmax(s / temperature, axis=-1)
    reference = temperature**2 * rel_entr(p, q).sum(-1)
    np.testing.assert_allclose(distillation_loss(s, t, temperature).numpy(), reference, rtol=1e-12)
    np.testing.assert_allclose(distillation_loss(s, t, temperature, scale=False).numpy(), reference / temperature**2, rtol=1e-12)
    reverse = temperature**2 * rel_entr(q, p).sum(-1)
    assert not np.allclose(distillation_loss(s, t, temperature).numpy(), reverse)


def test_distillation_gradient_passes_gradcheck_and_tends_to_logit_matching():
    t = torch.tensor([2.0, 1.0, 0.0, -1.5, 0.3], dtype=torch.float64)
    s0 = torch.tensor([0.5, 0.5, -0.2, 0.0, 1.0], dtype=torch.float64)
    for temperature in (1.0, 3.0):
        for scale in (True, False):
            assert torch.autograd.gradcheck(lambda s: distillation_loss(s, t, temperature, scale), (s0.clone().requires_grad_(True),))
            s = s0.clone().requires_grad_(True)
            distillation_loss(s, t, temperature, scale).backward()
            torch.testing.assert_close(s.grad, distillation_gradient(s0, t, temperature, scale), rtol=0, atol=1e-14)
    limit = ((s0 - s0.mean()) - (t - t.mean())) / 5  # Hinton et al.'s high-temperature limit
    errors = [(distillation_gradient(s0, t, T) - limit).abs().max().item() for T in (10.0, 100.0, 1000.0)]
    assert errors[2] < 1e-3 and errors[0] / errors[1] == pytest.approx(10, rel=0.05) == errors[1] / errors[2]  # falls like 1/T
    unscaled = [distillation_gradient(s0, t, T, scale=False).norm().item() * T**2 for T in (100.0, 1000.0)]
    assert unscaled[0] == pytest.approx(unscaled[1], rel=1e-3)  # the unscaled gradient shrinks like 1/T²


def test_distillation_rejects_bad_input():
    with pytest.raises(ValueError, match="temperature must be a positive number"):
        distillation_loss([0.0, 1.0], [1.0, 0.0], temperature=-1.0)
    with pytest.raises(ValueError, match="scale must be True or False"):
        distillation_gradient([0.0, 1.0], [1.0, 0.0], temperature=1.0, scale=2)
    with pytest.raises(ValueError, match="teacher_logits must contain only finite"):
        distillation_loss([0.0, 1.0], [math.nan, 0.0], temperature=1.0)
