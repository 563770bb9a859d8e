"""minimize_factorized_kl: Newton's method on mvn_kl reaches the closed forms of factorized_gaussian_fit."""

import numpy as np
import pytest
import torch
from scipy import optimize

from klcourse import factorized_gaussian_fit, minimize_factorized_kl, mvn_kl

COV_3D = np.array([[2.0, 0.8, -0.5], [0.8, 1.5, 0.3], [-0.5, 0.3, 1.0]])
MEAN_3D = np.array([1.0, -2.0, 0.5])


@pytest.mark.parametrize("direction", ["forward", "reverse"])
@pytest.mark.parametrize("mean0, var0", [(None, None), ([5.0, 5.0, -5.0], [0.01, 30.0, 2.0]), ([-20.0, 0.0, 3.0], None)])
def test_reaches_the_closed_form_from_far_starts(direction, mean0, var0):
    mean_q, cov_q = minimize_factorized_kl(MEAN_3D, COV_3D, direction, mean0=mean0, var0=var0)
    closed_mean, closed_cov = factorized_gaussian_fit(MEAN_3D, COV_3D, direction)
    np.testing.assert_allclose(mean_q, closed_mean, rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.diag(cov_q), np.diag(closed_cov), rtol=1e-12)
    assert np.count_nonzero(cov_q - np.diag(np.diag(cov_q))) == 0


@pytest.mark.parametrize("direction", ["forward", "reverse"])
def test_agrees_with_scipy_on_the_same_objective(direction):
    """An independent minimiser (scipy's BFGS on mvn_kl in numpy) finds the same variances."""
    def objective(theta):
        m, cov_q = theta[:3], np.diag(np.exp(theta[3:]))
        return mvn_kl(MEAN_3D, COV_3D, m, cov_q) if direction == "forward" else mvn_kl(m, cov_q, MEAN_3D, COV_3D)

    best = optimize.minimize(objective, np.zeros(6), method="BFGS", options={"gtol": 1e-10})
    _, cov_q = minimize_factorized_kl(MEAN_3D, COV_3D, direction)
    np.testing.assert_allclose(np.diag(cov_q), np.exp(best.x[3:]), rtol=1e-6)


def test_torch_in_torch_out_on_the_input_device_and_dtype():
    mean = torch.zeros(2, dtype=torch.float64)
    cov = torch.tensor([[2.0, 1.2], [1.2, 1.0]], dtype=torch.float64)
    m, c = minimize_factorized_kl(mean, cov, "reverse", mean0=[0.5, -0.5])
    assert isinstance(m, torch.Tensor) and isinstance(c, torch.Tensor) and c.shape == (2, 2) and c.dtype == torch.float64
    assert torch.allclose(c.diagonal(), torch.tensor([0.56, 0.28], dtype=torch.float64), rtol=1e-14, atol=0)
    # at the optimum the two directions give the same value, -½ log(1 - ρ²), for d = 2
    rho2 = 1.2**2 / 2.0
    for direction in ("forward", "reverse"):
        m, c = minimize_factorized_kl(mean, cov, direction, mean0=[0.5, -0.5])
        kl = mvn_kl(mean, cov, m, c) if direction == "forward" else mvn_kl(m, c, mean, cov)
        assert abs(kl.item() + 0.5 * np.log(1 - rho2)) < 1e-14


def test_too_few_steps_raise_instead_of_returning_an_unconverged_fit():
    with pytest.raises(RuntimeError, match=r"largest gradient .* > tol=1e-10 \(max_iter=2\)"):
        minimize_factorized_kl(MEAN_3D, COV_3D, "reverse", mean0=[30.0, 30.0, 30.0], max_iter=2)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(direction="sideways"), r"^direction must be 'forward' or 'reverse'; got 'sideways'$"),
        (dict(mean0=[0.0, 0.0]), r"^mean0 must have shape \[3\], like mean; got \(2,\)$"),
        (dict(var0=[1.0, 0.0, 1.0]), r"^var0 must be positive; got 0$"),
        (dict(tol=-1.0), r"^tol must be a finite real number >= 0; got -1\.0$"),
        (dict(max_iter=0), r"^max_iter must be an integer >= 1; got 0$"),
        (dict(cov=[[1.0, 2.0], [2.0, 1.0]], mean=[0.0, 0.0]), r"^cov must be positive definite"),
    ],
)
def test_bad_input_names_the_argument(kwargs, message):
    args = dict(mean=MEAN_3D, cov=COV_3D, direction="forward") | kwargs
    with pytest.raises(ValueError, match=message):
        minimize_factorized_kl(**args)
