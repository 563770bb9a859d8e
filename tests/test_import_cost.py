"""What keeps the chapters' "Run all" short: no second-long lazy imports inside torch, no repeated probes.

torch imports sympy on the first call of ``torch.broadcast_shapes`` (and of ``autograd.grad``
with ``grad_outputs``), and torch._dynamo on the first ``torch.optim`` step or forward-mode
dual op: each about a second on a 2-core machine. The library's own paths avoid all three.
"""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

import klcourse._objectives as objectives_module
from klcourse import bimodal_target, fit_gaussian, gaussian_mixture, mvn_kl
from klcourse._validate import broadcastable

_USES = """
import json, sys, numpy as np, torch
from torch.distributions import Normal
import klcourse as kc
kc.kl_divergence([0.5, 0.5], [0.9, 0.1]); kc.cross_entropy([0.5, 0.5], [0.9, 0.1])
kc.diagonal_gaussian_kl(np.zeros((2, 3)), np.zeros(3))
kc.mvn_kl(np.zeros(2), np.eye(2), np.ones(2), 2 * np.eye(2))
kc.fisher_information(lambda t: Normal(t[0], t[1]), [0.0, 1.0])
kc.minimize_factorized_kl(np.zeros(2), np.array([[2.0, 1.2], [1.2, 1.0]]), "reverse")
print(json.dumps([m for m in ("sympy", "torch._dynamo") if m in sys.modules]))
"""


def test_library_paths_import_neither_sympy_nor_dynamo():
    out = subprocess.run([sys.executable, "-c", _USES], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


@pytest.mark.parametrize(
    "shapes, expected",
    [
        (((3, 1, 5), (4, 5)), True),
        (((5,), (2, 3, 5)), True),
        (((), (2, 3)), True),
        (((2, 5), (3, 5)), False),
        (((2, 1), (1, 3), (2, 3)), True),
        (((2, 1), (1, 3), (4, 3)), False),
        (((3,), (), (2,)), False),
        (((5,), (3, 1)), True),
    ],
)
def test_broadcastable_follows_torch(shapes, expected):
    assert broadcastable(*shapes) is expected
    try:
        torch.broadcast_shapes(*shapes)
        assert expected
    except RuntimeError:
        assert not expected


def test_mvn_kl_broadcasts_batches_and_rejects_mismatched_ones():
    cov_a = np.array([[1.0, 0.8], [0.8, 1.5]])
    cov_b = np.array([[2.0, -0.3], [-0.3, 1.0]])
    covs = torch.tensor(np.stack([cov_a, cov_b]))  # [2, 2, 2]
    means = torch.zeros(3, 1, 2, dtype=torch.float64)  # [3, 1, 2]
    batched = mvn_kl(means, covs, torch.ones(2, dtype=torch.float64), torch.tensor(cov_b))  # [3, 2]
    assert batched.shape == (3, 2)
    for j, cov in enumerate((cov_a, cov_b)):
        assert batched[0, j].item() == pytest.approx(mvn_kl(np.zeros(2), cov, np.ones(2), cov_b), rel=1e-14)
    with pytest.raises(ValueError, match=r"batch\) axes of the means and covariances must broadcast; got \[\(3,\), "):
        mvn_kl(np.zeros((3, 2)), np.stack([cov_a, cov_b]), np.zeros(2), cov_b)


def test_log_p_width_is_probed_once_per_target(monkeypatch):
    calls = []
    probe = objectives_module._log_density
    monkeypatch.setattr(objectives_module, "_LOG_P_WIDTHS", {})
    monkeypatch.setattr(objectives_module, "_log_density", lambda dist, x: calls.append(len(x)) or probe(dist, x))
    target = gaussian_mixture([0.4, 0.6], [-4.0, 6.0], [1.0, 1.5])
    first = [fit_gaussian(target, "alpha", mu0=m, sigma0=1.0, alpha=0.5) for m in (-4.0, 6.0)]
    probes = [n for n in calls if n == objectives_module._BEND_PROBE_NODES]
    assert len(probes) == 1  # the second fit reuses the first probe
    same = gaussian_mixture([0.4, 0.6], [-4.0, 6.0], [1.0, 1.5])  # a new object with the same parameters
    again = fit_gaussian(same, "alpha", mu0=-4.0, sigma0=1.0, alpha=0.5)
    assert (again.mu, again.sigma, again.loss) == (first[0].mu, first[0].sigma, first[0].loss)
    fit_gaussian(gaussian_mixture([0.4, 0.6], [-4.0, 6.0], [1.0, 0.5]), "alpha", mu0=-4.0, sigma0=1.0, alpha=0.5)
    assert len([n for n in calls if n == objectives_module._BEND_PROBE_NODES]) == 2  # another target: a new probe


def test_log_p_width_remembered_value_is_the_probed_one():
    P = bimodal_target()
    lo, hi = -12.0, 17.0
    objectives_module._LOG_P_WIDTHS.clear()
    fresh = objectives_module._log_p_width(P, lo, hi)
    remembered = objectives_module._log_p_width(bimodal_target(), lo, hi)
    assert fresh == remembered and fresh == pytest.approx(0.1345, abs=1e-4)  # 1/√(15²/4 - 1) at the crease
    assert objectives_module._log_p_width(P, lo, hi + 1.0) != pytest.approx(0.0)  # another range is probed anew
    assert len(objectives_module._LOG_P_WIDTHS) == 2
    assert np.isfinite(fresh)
