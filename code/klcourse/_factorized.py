"""A factorised (diagonal) Gaussian fitted to a multivariate Gaussian by minimising KL numerically.

Used in chapter "Mode-seeking vs mean-seeking" (two dimensions) to check the closed forms of
``factorized_gaussian_fit`` against a direct minimisation of ``mvn_kl``. Newton's method with the
Hessian from automatic differentiation: the minimum is reached to rounding error in a few
steps, without ``torch.optim`` (whose first step imports ``torch._dynamo``, about a second).
"""

import torch

from ._closed_forms import _check_gaussian, _mvn_kl
from ._fit import _one_thread
from ._validate import as_common_tensors, check_positive, check_positive_int, check_real_scalar, to_output


def minimize_factorized_kl(mean, cov, direction, mean0=None, var0=None, tol=1e-10, max_iter=100):
    """Minimise KL between P = N(mean, cov) and a factorised Q = N(m, diag(v)) numerically, over m and v.

    Parameters
    ----------
    mean : array_like or torch.Tensor, shape [d]
        Mean of the target P.
    cov : array_like or torch.Tensor, shape [d, d]
        Covariance of P (symmetric positive definite).
    direction : {"forward", "reverse"}
        "forward" minimises KL(P ‖ Q) (``mvn_kl(mean, cov, m, diag(v))``); "reverse" minimises
        KL(Q ‖ P) (``mvn_kl(m, diag(v), mean, cov)``).
    mean0, var0 : array_like or torch.Tensor, shape [d], optional
        The start: m = ``mean0`` (default zeros) and v = ``var0`` (default ones, positive).
    tol : float
        Converged when every component of the gradient in (m, log v) is at most ``tol`` (default
        1e-10); the steps go on while they still lower the KL, to rounding error.
    max_iter : int
        At most this many Newton steps (default 100).

    Returns
    -------
    (mean_q, cov_q) : tuple
        The minimiser's mean [d] and diagonal covariance [d, d], as ``factorized_gaussian_fit``
        returns them (torch in, torch out; numpy otherwise).

    Raises
    ------
    RuntimeError
        If the gradient is still above ``tol`` after ``max_iter`` steps.

    Notes
    -----
    The parameters are θ = (m, log v), so that every θ is a valid Q. Each step solves
    (H + λI) δ = -g with the gradient g and Hessian H of ``mvn_kl`` by automatic differentiation
    (λ = 0 where H is positive definite, else the smallest λ = 10⁻⁸·2^k that makes it so:
    the KL is not convex in θ far from the minimum), then halves the step until the KL
    decreases, or, once the KL changes only by its rounding error, until the gradient
    halves (Nocedal & Wright, *Numerical Optimization*, 2nd ed., §3.4). Near the minimum the
    full Newton step is taken and convergence is quadratic; it stops where no step helps.

    Examples
    --------
    >>> import numpy as np
    >>> from klcourse import factorized_gaussian_fit, minimize_factorized_kl
    >>> cov = np.array([[2.0, 1.2], [1.2, 1.0]])
    >>> m, c = minimize_factorized_kl(np.zeros(2), cov, "reverse", mean0=[0.5, -0.5])
    >>> _, closed = factorized_gaussian_fit(np.zeros(2), cov, "reverse")
    >>> print(np.allclose(np.diag(c), np.diag(closed), rtol=1e-12, atol=0), np.abs(m).max() < 1e-12)
    True True
    """
    if direction not in ("forward", "reverse"):
        raise ValueError(f"direction must be 'forward' or 'reverse'; got {direction!r}")
    (mean, cov), was_torch = as_common_tensors([("mean", mean), ("cov", cov)])
    _check_gaussian(mean, cov, "mean", "cov")
    if mean.dim() != 1:
        raise ValueError(f"mean must have shape [d]; got {tuple(mean.shape)}")
    d = mean.shape[0]
    start = []
    for name, value, default in (("mean0", mean0, torch.zeros_like(mean)), ("var0", var0, torch.ones_like(mean))):
        if value is None:
            start.append(default)
            continue
        (value,), _ = as_common_tensors([(name, value)])
        if value.shape != (d,):
            raise ValueError(f"{name} must have shape [{d}], like mean; got {tuple(value.shape)}")
        start.append(value.to(mean))
    mean0, var0 = start
    check_positive(var0, "var0")
    tol = check_real_scalar(tol, "tol", minimum=0.0)
    check_positive_int(max_iter, "max_iter")

    mean, cov = mean.detach(), cov.detach()

    def kl(theta):
        m, log_var = theta[:d], theta[d:]
        cov_q = torch.diag(log_var.exp())
        return _mvn_kl(mean, cov, m, cov_q) if direction == "forward" else _mvn_kl(m, cov_q, mean, cov)  # mvn_kl, checked once above

    def value_grad(theta, hessian=False):
        theta = theta.detach().requires_grad_(True)
        value = kl(theta)
        (grad,) = torch.autograd.grad(value, theta, create_graph=hessian)
        if not hessian:
            return value.detach(), grad.detach(), None
        rows = [torch.autograd.grad(grad[i], theta, retain_graph=i < 2 * d - 1)[0] for i in range(2 * d)]
        return value.detach(), grad.detach(), torch.stack(rows).detach()

    with _one_thread():  # d×d problems (a second only waits; MKL wakes it for every factorisation)
        theta = torch.cat([mean0, var0.log()]).detach()
        value, grad, hess = value_grad(theta, hessian=True)
        for _ in range(max_iter):
            step, t, accepted = _newton_step(grad, hess), 1.0, False
            while t >= 1e-12:  # halve until the KL decreases, or (at rounding level) the gradient halves
                trial = theta + t * step
                v_new, g_new, _ = value_grad(trial)
                rounding = 8 * torch.finfo(value.dtype).eps * abs(value.item())  # the KL's own rounding error
                accepted = bool(v_new < value) or (v_new.item() <= value.item() + rounding and bool(g_new.norm() < grad.norm() / 2))
                if accepted or grad.abs().max().item() <= tol:  # converged: a shorter step will not help either
                    break
                t /= 2
            if not accepted:
                break
            theta = trial.detach()
            value, grad, hess = value_grad(theta, hessian=True)
    if grad.abs().max().item() > tol:
        raise RuntimeError(
            f"minimize_factorized_kl stopped with largest gradient {grad.abs().max().item():.3g} > tol={tol:g} "
            f"(max_iter={max_iter})"
        )
    return to_output(theta[:d], was_torch), to_output(torch.diag(theta[d:].exp()), was_torch)


def _newton_step(grad, hess):
    """δ solving (H + λI) δ = -g with the smallest λ in {0, 1e-8·2^k} that makes H + λI positive definite."""
    eye = torch.eye(len(grad), dtype=grad.dtype, device=grad.device)
    shift = 0.0
    while True:
        factor, info = torch.linalg.cholesky_ex(hess + shift * eye)
        if int(info) == 0:
            return torch.cholesky_solve(-grad[:, None], factor)[:, 0]
        shift = 1e-8 if shift == 0.0 else 2 * shift
