"""Reference gradient flows computed without klcourse, for tests of its fits and checks."""

from __future__ import annotations

import math

from scipy.integrate import solve_ivp


def mse_path_scipy(mu0, sigma0, times):
    """Independent: points (mu, sigma) [T, 2] of the MSE gradient flow in the sigma parameterisation at the given times."""
    import numpy as np

    sol = solve_ivp(lambda t, y: [-c for c in _mse_grad(*y)], (0.0, float(max(times))), [mu0, sigma0], method="LSODA",
                    rtol=1e-10, atol=1e-12, dense_output=True)
    return np.asarray(sol.sol(times)).T


def _mse_grad(mu, s):
    """Gradient in (mu, sigma) of ∫(p - q)² for P = ½N(-5, 1) + ½N(10, 1) and Q = N(mu, s²), by the closed form."""
    v = 1.0 + s * s
    g_mu, g_s = 0.0, -1.0 / (2.0 * math.sqrt(math.pi) * s * s)
    for m in (-5.0, 10.0):
        n = 0.5 * math.exp(-((mu - m) ** 2) / (2 * v)) / math.sqrt(2 * math.pi * v)
        g_mu += 2.0 * n * (mu - m) / v
        g_s -= 2.0 * n * s * ((mu - m) ** 2 / v**2 - 1.0 / v)
    return g_mu, g_s


def mse_flow_scipy(mu0, sigma0, parameterization):
    """Independent: the gradient flow of the closed-form MSE ∫(p - q)² integrated by scipy.

    ∫(p - q)² = ∫p² - 2 Σ_k w_k N(mu; m_k, 1 + s²) + 1 / (2√π s) for P = Σ_k w_k N(m_k, 1).
    """

    def grad(mu, s):
        v = 1.0 + s * s
        g_mu, g_s = 0.0, -1.0 / (2.0 * math.sqrt(math.pi) * s * s)
        for m in (-5.0, 10.0):
            n = 0.5 * math.exp(-((mu - m) ** 2) / (2 * v)) / math.sqrt(2 * math.pi * v)
            g_mu += 2.0 * n * (mu - m) / v
            g_s -= 2.0 * n * s * ((mu - m) ** 2 / v**2 - 1.0 / v)
        return g_mu, g_s

    def rhs(t, y):
        s = math.exp(y[1]) if parameterization == "log_sigma" else y[1]
        g_mu, g_s = grad(y[0], s)
        return [-g_mu, -g_s * (s if parameterization == "log_sigma" else 1.0)]

    y0 = [mu0, math.log(sigma0) if parameterization == "log_sigma" else sigma0]
    return solve_ivp(rhs, (0.0, 1e5), y0, method="LSODA", rtol=1e-10, atol=1e-12).y[0, -1]
