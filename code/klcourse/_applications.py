"""KL in machine-learning practice: the ELBO, KL-regularised RL, estimators used as losses, distillation.

Used in the chapter "Mode-seeking vs mean-seeking" (section "Where each direction appears in
practice"). Distributions are categorical, given as probabilities or logits on the LAST axis;
leading axes are a batch. Every function returns torch tensors (differentiable where the
inputs are) and builds on the discrete kernel of ``_discrete``.
"""

import torch

from ._discrete import kl_divergence
from ._validate import as_tensor, check_finite, check_probability_vector, check_real_scalar, check_same_support


def _probabilities(x, name):
    """A validated probability table as a floating tensor."""
    t, _ = as_tensor(x, name)
    check_probability_vector(t, name)
    return t


def _logits(x, name):
    """Validated finite logits [..., K] as a floating tensor."""
    t, _ = as_tensor(x, name)
    if t.dim() < 1 or t.numel() == 0:
        raise ValueError(f"{name} must be a non-empty array of logits with the classes on the last axis; got shape {tuple(t.shape)}")
    check_finite(t, name)
    return t


def _positive(value, name):
    """A finite real number > 0 (a temperature, a KL weight)."""
    v = check_real_scalar(value, name)
    if v <= 0:
        raise ValueError(f"{name} must be a positive number; got {value!r}")
    return v


def elbo(q, joint):
    """Evidence lower bound E_q[log p(x, z) - log q(z)] for a discrete latent z.

    Parameters
    ----------
    q : array_like or torch.Tensor, shape [..., K]
        The approximate posterior q(z) over K values of z (non-negative, summing to 1).
    joint : array_like or torch.Tensor, shape [..., K]
        p(x, z) for the observed x and every z: non-negative, with a positive sum p(x)
        (it does not sum to 1).

    Returns
    -------
    torch.Tensor, shape [...]
        The ELBO; ``-inf`` where q puts mass on a z with p(x, z) = 0.

    Notes
    -----
    log p(x) = ELBO(q) + KL(q ‖ p(z | x)) for every q, with p(z | x) = p(x, z) / p(x)
    (Bishop 2006, eq. 10.2-10.4). Since KL >= 0 the ELBO is a lower bound on log p(x), and
    maximising it over q is minimising the reverse KL to the posterior: the unknown p(x)
    never has to be computed.

    Examples
    --------
    >>> import torch
    >>> from klcourse import elbo, kl_divergence
    >>> joint = torch.tensor([0.10, 0.02, 0.03], dtype=torch.float64)    # p(x, z), z = 0, 1, 2
    >>> q = torch.tensor([0.5, 0.25, 0.25], dtype=torch.float64)
    >>> posterior = joint / joint.sum()
    >>> gap = joint.sum().log() - (elbo(q, joint) + kl_divergence(q, posterior))
    >>> print(abs(gap.item()) < 1e-15)
    True
    """
    q = _probabilities(q, "q")
    joint_t, _ = as_tensor(joint, "joint")
    joint_t = joint_t.to(dtype=q.dtype, device=q.device)
    check_same_support(q, joint_t)
    check_finite(joint_t, "joint")
    if bool((joint_t < 0).any()):
        raise ValueError(f"joint must be non-negative; got {joint_t[joint_t < 0].min().item():g}")
    if bool((joint_t.sum(-1) <= 0).any()):
        raise ValueError("joint must have a positive sum p(x) on the last axis; got a sum of 0")
    evidence = joint_t.sum(-1, keepdim=True)  # [..., 1], p(x)
    posterior = joint_t / evidence  # [..., K], p(z | x)
    return evidence.squeeze(-1).log() - kl_divergence(q, posterior)


def tilted_distribution(ref, rewards, beta):
    """The optimum of KL-regularised reward maximisation: pi*(y) = pi_ref(y) e^{r(y)/beta} / Z.

    Parameters
    ----------
    ref : array_like or torch.Tensor, shape [..., K]
        The reference policy pi_ref over K outcomes (probabilities).
    rewards : array_like or torch.Tensor, shape [..., K]
        The reward r(y) of each outcome (finite).
    beta : float
        Weight of the KL penalty, > 0.

    Returns
    -------
    (torch.Tensor, torch.Tensor)
        ``(tilted, log_z)``: pi* [..., K] and log Z [...], with
        Z = Σ_y pi_ref(y) e^{r(y)/beta}.

    Notes
    -----
    For every policy pi,

        E_pi[r] - beta KL(pi ‖ pi_ref) = beta log Z - beta KL(pi ‖ pi*),

    so maximising the regularised reward is fitting pi to pi* by REVERSE KL (Rafailov et
    al. 2023, eq. 4; Korbak et al. 2022). The maximum, beta log Z, is reached at pi = pi*.
    As beta -> 0, pi* concentrates on the highest reward that pi_ref allows; as beta -> inf
    it returns to pi_ref. Computed in log space (logsumexp), so large r/beta do not overflow.

    Examples
    --------
    >>> import torch
    >>> from klcourse import kl_divergence, kl_regularized_objective, tilted_distribution
    >>> ref = torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64)
    >>> r = torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64)
    >>> tilted, log_z = tilted_distribution(ref, r, beta=0.5)
    >>> pi = torch.tensor([0.2, 0.2, 0.6], dtype=torch.float64)
    >>> lhs = kl_regularized_objective(pi, ref, r, beta=0.5)
    >>> rhs = 0.5 * log_z - 0.5 * kl_divergence(pi, tilted)
    >>> print(abs((lhs - rhs).item()) < 1e-14)
    True
    """
    ref = _probabilities(ref, "ref")
    r, _ = as_tensor(rewards, "rewards")
    r = r.to(dtype=ref.dtype, device=ref.device)
    check_same_support(ref, r)
    check_finite(r, "rewards")
    beta = _positive(beta, "beta")
    log_unnormalised = torch.where(ref > 0, ref.log(), -torch.inf) + r / beta  # [..., K]
    log_z = torch.logsumexp(log_unnormalised, dim=-1)  # [...]
    return (log_unnormalised - log_z.unsqueeze(-1)).exp(), log_z


def kl_regularized_objective(policy, ref, rewards, beta):
    """The objective of KL-regularised RL fine-tuning: E_pi[r] - beta KL(pi ‖ pi_ref).

    Parameters
    ----------
    policy : array_like or torch.Tensor, shape [..., K]
        The policy pi (probabilities).
    ref : array_like or torch.Tensor, shape [..., K]
        The reference policy pi_ref (probabilities).
    rewards : array_like or torch.Tensor, shape [..., K]
        The reward of each outcome (finite).
    beta : float
        Weight of the KL penalty, > 0.

    Returns
    -------
    torch.Tensor, shape [...]
        The objective; ``-inf`` where pi puts mass where pi_ref has none.

    Notes
    -----
    The penalty is the reverse KL, with the trained policy first (Ziegler et al. 2019);
    see :func:`tilted_distribution` for the policy that maximises it.

    Examples
    --------
    >>> from klcourse import kl_regularized_objective
    >>> print(float(kl_regularized_objective([0.5, 0.5], [0.5, 0.5], [1.0, 3.0], beta=1.0)))
    2.0
    """
    pi = _probabilities(policy, "policy")
    ref_t = _probabilities(ref, "ref").to(dtype=pi.dtype, device=pi.device)
    r, _ = as_tensor(rewards, "rewards")
    r = r.to(dtype=pi.dtype, device=pi.device)
    check_same_support(pi, ref_t)
    check_same_support(pi, r)
    check_finite(r, "rewards")
    beta = _positive(beta, "beta")
    return (pi * r).sum(-1) - beta * kl_divergence(pi, ref_t)


def estimator_loss_gradients(logits, ref_logits):
    """Expected gradients, in the logits, of Schulman's k1, k2, k3 used as LOSSES on the policy's own samples.

    Parameters
    ----------
    logits : array_like or torch.Tensor, shape [..., K]
        Logits theta of the trained policy pi_theta = softmax(theta).
    ref_logits : array_like or torch.Tensor, shape [..., K]
        Logits of the reference policy pi_ref.

    Returns
    -------
    dict of str to torch.Tensor, each [..., K]
        ``"k1"``, ``"k2"``, ``"k3"``: E_{y ~ pi_theta}[∇_theta k(y)] with the sample y held
        fixed (what autograd computes when the estimate is the loss and y came from the
        policy), where r = pi_ref(y)/pi_theta(y), k1 = -log r, k2 = ½(log r)², k3 = r - 1 - log r;
        ``"reverse_kl"``: ∇_theta KL(pi_theta ‖ pi_ref), the gradient the penalty is meant
        to have; ``"forward_kl"``: ∇_theta KL(pi_ref ‖ pi_theta).

    Notes
    -----
    Differentiating a per-sample estimate is not differentiating its expectation, because
    the sampling distribution depends on theta too. With y fixed, ∇ log pi_theta(y) has mean
    zero under pi_theta, so

    - k1 gives 0 on average: as a loss it does nothing (as a reward, in a score-function
      gradient, it would give the reverse-KL gradient);
    - k2 gives E[log(pi_theta/pi_ref) ∇ log pi_theta] = ∇ KL(pi_theta ‖ pi_ref) exactly;
    - k3 gives E[(1 - r) ∇ log pi_theta] = -E_{pi_ref}[∇ log pi_theta] = ∇ KL(pi_ref ‖ pi_theta):
      the gradient of the FORWARD KL, although k3 estimates the reverse KL without bias.

    The expectations are exact sums over the K outcomes, weighted by pi_theta held constant;
    the two true gradients come from autograd through :func:`kl_divergence`.

    Examples
    --------
    >>> import torch
    >>> from klcourse import estimator_loss_gradients
    >>> g = estimator_loss_gradients(torch.tensor([0.0, 1.0, 2.0]), torch.tensor([1.0, 0.0, 0.0]))
    >>> close = lambda a, b: bool(torch.allclose(a, b, atol=1e-12))
    >>> print(close(g["k1"], torch.zeros(3, dtype=torch.float64)), close(g["k2"], g["reverse_kl"]),
    ...       close(g["k3"], g["forward_kl"]))
    True True True
    """
    theta = _logits(logits, "logits").double()
    ref_theta = _logits(ref_logits, "ref_logits").to(dtype=theta.dtype, device=theta.device)
    check_same_support(theta, ref_theta)
    theta = theta.detach().clone().requires_grad_(True)
    log_pi = torch.log_softmax(theta, dim=-1)  # [..., K], log pi_theta(y) for every y
    log_ref = torch.log_softmax(ref_theta, dim=-1).detach()  # [..., K]
    weight = log_pi.detach().exp()  # [..., K], pi_theta(y): the sampling distribution, held fixed
    log_r = log_ref - log_pi  # [..., K], log pi_ref(y)/pi_theta(y) as a function of theta
    losses = {"k1": -log_r, "k2": 0.5 * log_r**2, "k3": torch.expm1(log_r) - log_r}
    out = {}
    for name, k in losses.items():
        (out[name],) = torch.autograd.grad((weight * k).sum(), theta, retain_graph=True)
    pi, ref = log_pi.exp(), log_ref.exp()
    (out["reverse_kl"],) = torch.autograd.grad(kl_divergence(pi, ref).sum(), theta, retain_graph=True)
    (out["forward_kl"],) = torch.autograd.grad(kl_divergence(ref, pi).sum(), theta)
    return out


def _distillation_inputs(student_logits, teacher_logits, temperature, scale):
    """Validated student and teacher logits (one dtype and device) and the temperature."""
    s = _logits(student_logits, "student_logits")
    t = _logits(teacher_logits, "teacher_logits").to(dtype=s.dtype, device=s.device)
    check_same_support(s, t)
    T = _positive(temperature, "temperature")
    if not isinstance(scale, bool):
        raise ValueError(f"scale must be True or False; got {scale!r}")
    return s, t, T


def distillation_loss(student_logits, teacher_logits, temperature, scale=True):
    """Hinton's soft-target loss: T² KL(softmax(t/T) ‖ softmax(s/T)), the teacher as target.

    Parameters
    ----------
    student_logits : array_like or torch.Tensor, shape [..., K]
        Logits s of the student (the model being trained).
    teacher_logits : array_like or torch.Tensor, shape [..., K]
        Logits t of the teacher (the target).
    temperature : float
        T > 0; T = 1 is the ordinary softmax, larger T softens both distributions.
    scale : bool, default True
        Multiply by T², as Hinton et al. (2015) do, so that the gradient's size does not
        shrink like 1/T² when T grows.

    Returns
    -------
    torch.Tensor, shape [...]
        The loss for each row (no reduction over the batch); differentiable in the student's
        logits when those are a tensor that requires grad.

    Notes
    -----
    This is the FORWARD KL with the teacher's softened distribution p_T = softmax(t/T) as
    the target and the student's q_T = softmax(s/T) as the model; the cross-entropy
    -Σ p_T log q_T that implementations use differs from it by H(p_T), a constant.
    Its gradient is :func:`distillation_gradient`.

    Examples
    --------
    >>> import torch
    >>> from klcourse import distillation_loss, kl_divergence
    >>> s, t = torch.tensor([1.0, 0.0, -1.0]), torch.tensor([2.0, 0.5, 0.0])
    >>> direct = 4.0 * kl_divergence(torch.softmax(t / 2, -1), torch.softmax(s / 2, -1))
    >>> print(torch.allclose(distillation_loss(s, t, temperature=2.0), direct))
    True
    """
    s, t, T = _distillation_inputs(student_logits, teacher_logits, temperature, scale)
    p = torch.softmax(t / T, dim=-1).detach()  # [..., K], the soft targets
    q = torch.softmax(s / T, dim=-1)  # [..., K]
    loss = kl_divergence(p, q)
    return loss * T**2 if scale else loss


def distillation_gradient(student_logits, teacher_logits, temperature, scale=True):
    """Gradient of :func:`distillation_loss` in the student's logits: T (q_T - p_T), or (q_T - p_T)/T unscaled.

    Parameters
    ----------
    student_logits, teacher_logits : array_like or torch.Tensor, shape [..., K]
        As in :func:`distillation_loss`.
    temperature : float
        T > 0.
    scale : bool, default True
        With the T² factor (gradient T (q_T - p_T)) or without ((q_T - p_T) / T).

    Returns
    -------
    torch.Tensor, shape [..., K]

    Notes
    -----
    ∂/∂s_i KL(p_T ‖ softmax(s/T)) = (q_T,i - p_T,i) / T. For large T,
    q_T - p_T ≈ ((s - mean s) - (t - mean t)) / (K T), so the unscaled gradient shrinks like
    1/T² and the scaled one tends to ((s - mean s) - (t - mean t)) / K: matching the logits
    (Hinton et al. 2015, §2.1).

    Examples
    --------
    >>> import torch
    >>> from klcourse import distillation_gradient, distillation_loss
    >>> s = torch.tensor([1.0, 0.0, -1.0], dtype=torch.float64, requires_grad=True)
    >>> t = torch.tensor([2.0, 0.5, 0.0], dtype=torch.float64)
    >>> distillation_loss(s, t, temperature=3.0).backward()
    >>> print(torch.allclose(s.grad, distillation_gradient(s.detach(), t, temperature=3.0)))
    True
    """
    s, t, T = _distillation_inputs(student_logits, teacher_logits, temperature, scale)
    diff = torch.softmax(s.detach() / T, dim=-1) - torch.softmax(t / T, dim=-1)  # [..., K], q_T - p_T
    return diff * T if scale else diff / T
