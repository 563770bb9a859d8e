"""One start in Python floats: the gradient flow (the batched flow of ``_flow`` step for step), Adam and gradient descent.

Used by ``fit_gaussian`` for a single start on the CPU and for ``"adam"``/``"gd"``: a flow takes
some 30 steps and Adam thousands, and a tensor operation costs microseconds even on one number,
so the batched flow's hundred-odd operations per step would cost more than the loss itself. The
decisions are those of ``_flow.flow`` with the same constants (read from ``_flow``);
tests/test_fit_speed.py checks that both give the same fits. Where the objective gives its
derivatives for one model in floats (``Problem.scalar``: the closed forms for a Normal mixture),
no tensor is made at all.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from . import _flow as F


class _Scalar:
    """A ``_flow.Problem`` seen one start at a time: θ a pair of floats; loss, gradient and Hessian as floats."""

    def __init__(self, problem):
        self.problem, self.smooth, self.eps, self.log = problem, problem.smooth, problem.eps, problem.log
        self.sign, self.exact = problem.sign, problem.scalar if problem.smooth else None

    def _t(self, theta):
        return torch.tensor([theta], dtype=self.problem.dtype, device=self.problem.device)

    def _exact(self, theta, hessian):
        """Loss, gradient and Hessian (or None) from the objective's own float derivatives."""
        mu, s = theta
        value, g, h = self.exact(mu, math.exp(s), s, True, hessian) if self.log else self.exact(mu, s, math.log(s), False, hessian)
        sign = self.sign
        return sign * value, (sign * g[0], sign * g[1]), None if h is None else (sign * h[0], sign * h[1], sign * h[2])

    def admissible(self, theta):
        ok = math.isfinite(theta[0]) and math.isfinite(theta[1])
        return ok and (theta[1] < F._EXP_CAP if self.log else theta[1] > 0)

    def value_and_grad(self, theta):
        if self.exact is not None:
            return self._exact(theta, False)[:2]
        loss, g = self.problem.value_and_grad(self._t(theta))
        return loss.item(), g[0].tolist()

    def stencil(self, theta):
        if self.exact is not None:
            return self._exact(theta, True)
        loss, g, h = self.problem.stencil(self._t(theta))
        return loss.item(), g[0].tolist(), tuple(h[0].tolist())


def _eig2(h):
    """Eigenvalues (small, large) and unit eigenvectors of the symmetric 2×2 matrix [[a, b], [b, d]]."""
    a, b, d = h
    mid, rad = 0.5 * (a + d), math.hypot(0.5 * (a - d), b)
    angle = 0.5 * math.atan2(2 * b, a - d)  # direction of the large eigenvalue's eigenvector
    big = (math.cos(angle), math.sin(angle))
    return (mid - rad, mid + rad), ((-big[1], big[0]), big)


def _phi(lam, t):
    """∫_0^t e^{-λs} ds = (1 - e^{-λt})/λ (t when λt → 0): the flow of a quadratic along one eigenvector."""
    z = lam * t
    if abs(z) < F._SERIES_BELOW:
        return t * (1 - 0.5 * z)
    if -z > F._EXP_CAP:
        return math.inf
    return -math.expm1(-z) / lam


def _quadratic_flow(g, h, times):
    """Displacements and predicted gradients after each time t of the gradient flow of the quadratic model (g, H)."""
    (l0, l1), (v0, v1) = _eig2(h)
    c0 = v0[0] * g[0] + v0[1] * g[1]
    c1 = v1[0] * g[0] + v1[1] * g[1]
    out = []
    for t in times:
        p0, p1 = _phi(l0, t), _phi(l1, t)
        e0 = math.exp(min(-l0 * t, F._EXP_CAP))
        e1 = math.exp(min(-l1 * t, F._EXP_CAP))
        step = (-(p0 * c0 * v0[0] + p1 * c1 * v1[0]), -(p0 * c0 * v0[1] + p1 * c1 * v1[1]))
        grad = (e0 * c0 * v0[0] + e1 * c1 * v1[0], e0 * c0 * v0[1] + e1 * c1 * v1[1])
        out.append((step, grad))
    return out


def _newton_step(theta, g, h):
    """θ - H⁻¹g, or None where H is not positive definite."""
    a, b, d = h
    det = a * d - b * b
    if not (a > 0 and det > 0):
        return None
    return (theta[0] - (d * g[0] - b * g[1]) / det, theta[1] - (a * g[1] - b * g[0]) / det)


def _newton_polish(problem, theta, g, h, tol):
    """Newton steps with the last stencil Hessian, to |g| < tol/1000: first with the stencil's gradient, then with the exact (autograd) one."""
    done = lambda grad: math.hypot(*grad) < F._POLISH_FACTOR * tol  # noqa: E731
    trial = _newton_step(theta, g, h)  # from the end of a converged flow this step usually finishes the job
    if trial is not None and problem.admissible(trial):
        trial_loss, trial_g = problem.value_and_grad(trial)
        if math.isfinite(trial_loss) and done(trial_g):
            return trial, trial_loss, trial_g
    loss, g = problem.value_and_grad(theta)
    for _ in range(F._POLISH_STEPS):
        trial = None if done(g) else _newton_step(theta, g, h)
        if trial is None or not problem.admissible(trial):
            break
        trial_loss, trial_g = problem.value_and_grad(trial)
        if not (math.isfinite(trial_loss) and math.hypot(*trial_g) < math.hypot(*g)):
            break
        theta, loss, g = trial, trial_loss, trial_g
    return theta, loss, g


def _flow(problem, theta, steps, tol, t0, path, rtol):
    """Gradient flow dθ/dt = -∇L by exponential steps on the local quadratic model, with error control.

    Each step moves along the exact flow of the quadratic model (g, H) for a time t and is
    accepted only if the gradient found there matches the model's prediction to ``rtol`` |g|
    (to 10% where H is positive definite, if ``rtol`` is smaller) and the loss did not rise;
    t then grows, else it shrinks. Where H is positive definite
    and t is large the step is Newton's, so the path ends at the minimum of the basin the
    flow is in, with quadratic convergence (Hochbruck & Ostermann, Acta Numerica 2010, for
    exponential integrators).
    """
    loss, g, h = problem.stencil(theta)
    path.append((theta, loss))
    if not math.isfinite(loss):
        return theta, loss, g, h, 0
    (l0, l1), _ = _eig2(h)
    t = t0 if t0 is not None else 1.0 / max(abs(l0), abs(l1), F._DIVISION_FLOOR)
    accepted, recent, rejected, rejections = 0, [loss], False, 0
    while accepted < steps and math.hypot(*g) >= tol:
        gnorm = math.hypot(*g)
        allowed = max(rtol, F._FLOW_MISMATCH_CONVEX) if _eig2(h)[0][0] > 0 else rtol
        (step, predicted), *between = _quadratic_flow(g, h, (t,) + tuple(f * t for f in F._BETWEEN))
        trial = (theta[0] + step[0], theta[1] + step[1])
        ratio = math.inf  # error / allowed error; inf for a step that leaves the domain or raises the loss
        if problem.admissible(trial):
            trial_loss, trial_g, trial_h = problem.stencil(trial)
            if math.isfinite(trial_loss) and trial_loss <= loss + F._LOSS_RISE_EPS * problem.eps * max(1.0, abs(loss)):
                miss = math.hypot(trial_g[0] - predicted[0], trial_g[1] - predicted[1])
                ratio = miss / (allowed * gnorm)
        if ratio <= 1.0:
            for (dm, ds), _ in between:  # points between the ends follow the same quadratic model
                model_loss = loss + g[0] * dm + g[1] * ds + 0.5 * (h[0] * dm * dm + 2 * h[1] * dm * ds + h[2] * ds * ds)
                path.append(((theta[0] + dm, theta[1] + ds), model_loss))
            theta, loss, g, h = trial, trial_loss, trial_g, trial_h
            path.append((theta, loss))
            accepted += 1
            recent = (recent + [loss])[-F._PLATEAU_STEPS :]
            if len(recent) == F._PLATEAU_STEPS and recent[0] - loss <= F._PLATEAU_DROP * (1.0 + abs(loss)):
                break  # no progress over many accepted steps (between the kinks of a non-smooth objective)
        if math.isfinite(ratio):  # error ∝ t²; no growth right after a rejection (Hairer, Nørsett & Wanner, II.4)
            t *= min(1.0 if rejected else F._GROWTH_MAX, max(F._SHRINK_MAX, F._SAFETY / math.sqrt(max(ratio, F._DIVISION_FLOOR))))
        else:
            t *= F._OUT_OF_DOMAIN_SHRINK
            if t * gnorm <= F._COLLAPSE * (1.0 + abs(theta[0]) + abs(theta[1])):
                break  # the step size collapsed: stop unconverged
        rejected = ratio > 1.0
        rejections = rejections + 1 if rejected else 0
        if rejections >= F._REJECTIONS_MAX:
            break  # the step size collapsed: stop unconverged
    if math.isfinite(loss) and problem.smooth:
        theta, loss, g = _newton_polish(problem, theta, g, h, tol)
        path.append((theta, loss))
    elif math.isfinite(loss):
        loss, g = problem.value_and_grad(theta)
    return theta, loss, g, h, accepted




def flow_one(problem, theta, steps, tol, t0, rtol):
    """``_flow.flow`` for one start θ [1, 2] (numpy), with the same outputs."""
    path = []
    th, loss, g, h, done = _flow(_Scalar(problem), tuple(theta[0].tolist()), steps, tol, t0, path, rtol)
    return _outputs(problem, th, loss, g, h, done, [(a[0], a[1], b) for a, b in path])


def _outputs(problem, theta, loss, g, h, done, path):
    """One row's result as ``_flow.flow`` returns it: θ [1, 2], loss [1], gradient [1, 2], Hessian [1, 3], steps [1], [path [T, 3]]."""
    row = lambda v: np.array([list(v)], dtype=F.host_dtype(problem.dtype))  # noqa: E731  (rounded as the batched flow's rows)
    return row(theta), row([loss])[0], row(g), row(h), np.array([done]), [np.array(path, dtype=np.float64)]


def first_order(problem, theta, steps, tol, lr, method, record_every):
    """Gradient descent or Adam (Kingma & Ba 2015, Algorithm 1, torch.optim.Adam's defaults) with the exact gradient, one row θ [1, 2].

    Written out rather than calling ``torch.optim`` (whose first step imports torch._dynamo, a
    second or two). In the sigma parameterisation a step that would make sigma <= 0 is halved
    until it does not.
    """
    view = _Scalar(problem)
    th = theta[0].tolist()
    m, v = [0.0, 0.0], [0.0, 0.0]
    loss, g, done, path = math.nan, [math.nan, math.nan], 0, []
    for done in range(steps + 1):
        loss, g = view.value_and_grad(th)
        if record_every is None or done % record_every == 0:
            path.append((th[0], th[1], loss))
        if done == steps or not math.isfinite(loss) or math.hypot(*g) < tol:
            break
        if method == "adam":
            k = done + 1
            m = [F._ADAM_BETA1 * mi + (1 - F._ADAM_BETA1) * gi for mi, gi in zip(m, g)]
            v = [F._ADAM_BETA2 * vi + (1 - F._ADAM_BETA2) * gi * gi for vi, gi in zip(v, g)]
            step = [-lr * (mi / (1 - F._ADAM_BETA1**k)) / (math.sqrt(vi / (1 - F._ADAM_BETA2**k)) + F._ADAM_EPS) for mi, vi in zip(m, v)]
        else:
            step = [-lr * gi for gi in g]
        if not all(math.isfinite(d) for d in step):
            break
        trial = [th[0] + step[0], th[1] + step[1]]
        while not (math.isfinite(trial[0]) and math.isfinite(trial[1]) and (problem.log or trial[1] > 0)):
            step = [0.5 * d for d in step]
            trial = [th[0] + step[0], th[1] + step[1]]
        th = trial
    if (path[-1][0], path[-1][1]) != (th[0], th[1]):
        path.append((th[0], th[1], loss))
    h = view.stencil(th)[2] if math.isfinite(loss) else (math.nan,) * 3
    return _outputs(problem, th, loss, g, h, done, path)
