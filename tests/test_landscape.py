"""Tests of klcourse._landscape: landscapes, local minima and basins of the gradient flow."""

import dataclasses
import math
import threading
import time

import numpy as np
import pytest
import torch

from klcourse import (Grid, LocalMinimum, basin_boundary, basins, bimodal_target, fit_gaussian, landscape, local_minima,
                      objective_value, seed_grid)
from klcourse._landscape import _off_saddle

P = bimodal_target()
GRID = Grid.uniform(-60.0, 65.0, 501)


def test_landscape_rows_are_sigmas_and_values_match_objective_value():
    mus, sigmas = np.array([-5.0, 0.0, 2.5, 10.0]), np.array([1.0, 3.0, 10.0])
    L = landscape(P, "cosine", mus, sigmas, grid=GRID)
    assert L.shape == (3, 4)
    for i, s in enumerate(sigmas):
        for j, m in enumerate(mus):
            assert L[i, j] == pytest.approx(objective_value(P, "cosine", m, s, grid=GRID).item(), abs=1e-13)
    assert L[0, 0] == pytest.approx(1 / math.sqrt(2), abs=1e-9)  # a mode: the similarity 1/√2


def test_landscape_in_chunks_equals_one_batch(monkeypatch):
    mus, sigmas = np.linspace(-8, 12, 7), np.geomspace(0.7, 12, 5)
    whole = landscape(P, "reverse_kl", mus, sigmas, grid=GRID)
    monkeypatch.setattr("klcourse._landscape._CHUNK", 3 * len(GRID.x))  # three models per batch
    assert np.array_equal(landscape(P, "reverse_kl", mus, sigmas, grid=GRID), whole)


def test_local_minima_of_mse_are_the_findings_three():
    found = local_minima(P, "mse", np.linspace(-10, 15, 26), np.geomspace(0.5, 20, 16))
    expected = [(-5.0, 1.961459, 0.1036659), (10.0, 1.961459, 0.1036659), (2.5, 10.233263, 0.1091401)]
    assert len(found) == 3 and all(isinstance(m, LocalMinimum) for m in found)
    for m, (mu, sigma, loss) in zip(found, expected):
        assert (m.mu, m.sigma) == pytest.approx((mu, sigma), abs=1e-6)
        assert m.loss == pytest.approx(loss, abs=1e-7)


def test_local_minima_of_cosine_are_maxima_of_the_similarity():
    found = local_minima(P, "cosine", np.linspace(-10, 15, 26), np.geomspace(0.5, 20, 16))
    assert [(round(m.mu, 6), round(m.sigma, 6), round(-m.loss, 7)) for m in found] == [
        (-5.0, 1.0, 0.7071068),
        (10.0, 1.0, 0.7071068),
        (2.5, 10.607021, 0.477203),
    ]


def test_local_minima_from_a_given_landscape_skip_the_screening(monkeypatch):
    mus, sigmas = np.linspace(-10, 15, 26), np.geomspace(0.5, 20, 16)
    fresh = local_minima(P, "js", mus, sigmas, grid=GRID)
    L = landscape(P, "js", mus, sigmas, grid=GRID)

    def no_screening(*args):
        raise AssertionError("the mesh was evaluated again")

    monkeypatch.setattr("klcourse._landscape._values", no_screening)
    assert local_minima(P, "js", mus, sigmas, grid=GRID, values=L) == fresh
    assert local_minima(P, "js", mus, sigmas, grid=GRID, values=L.tolist()) == fresh
    with pytest.raises(ValueError, match=r"values must have shape \[len\(sigmas\), len\(mus\)\] = \(16, 26\); got \(26, 16\)"):
        local_minima(P, "js", mus, sigmas, grid=GRID, values=L.T)


def _within(seconds, call):
    """call() in a daemon thread; its result, or a failure if it has not returned after ``seconds`` (it used to loop forever)."""
    out = []
    worker = threading.Thread(target=lambda: out.append(call()), daemon=True)
    start = time.perf_counter()
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"local_minima still running after {seconds} s"
    assert out, "local_minima raised"
    return out[0], time.perf_counter() - start


def test_local_minima_on_density_values_stops_off_the_grid():
    # the seed's setting: density values on seed_grid(); mesh points beyond ±15 put Q's mass off
    # the grid, where the loss is flat (gradient and Hessian 0) and restarts used to go on forever
    x = seed_grid(torch.float64)
    p = torch.distributions.Normal(-5.0, 1.0).log_prob(x).exp() + torch.distributions.Normal(10.0, 1.0).log_prob(x).exp()
    mus, sigmas = np.linspace(-30.0, 30.0, 31), np.geomspace(0.2, 40.0, 21)
    found, seconds = _within(10.0, lambda: local_minima(p, "mse", mus, sigmas, grid=x))
    assert seconds < 10.0
    for mode in (-5.0, 10.0):  # Q on one component: ∫ (p - q)² = ∫ φ² = 1/(2√π), the other component's
        m = next(m for m in found if abs(m.mu - mode) < 0.1)
        assert (m.mu, m.sigma, m.loss) == pytest.approx((mode, 1.0, 1 / (2 * math.sqrt(math.pi))), abs=1e-6)
    for m in found:  # every one a minimum inside the mesh's box, confirmed by a fresh fit from it
        assert -30.0 <= m.mu <= 30.0 and 0.2 <= m.sigma <= 40.0
        assert fit_gaussian(p, "mse", m.mu, m.sigma, grid=x).is_minimum


def test_local_minima_drops_fits_that_leave_the_mesh_box():
    # from this box the flow reaches the wide minimum (2.5, 10.23), outside sigma <= 6: not reported
    assert local_minima(P, "mse", np.linspace(0.0, 5.0, 6), np.geomspace(2.0, 6.0, 5)) == []
    found = local_minima(P, "mse", np.linspace(0.0, 5.0, 6), np.geomspace(2.0, 12.0, 7))
    assert [(round(m.mu, 4), round(m.sigma, 4)) for m in found] == [(2.5, 10.2333)]


def test_off_saddle_steps_along_the_descending_direction():
    fit = fit_gaussian(P, "mse", 2.0, 8.0)
    saddle = dataclasses.replace(fit, hessian=np.array([[1.0, 0.0], [0.0, -2.0]]))  # descends along log sigma
    starts = _off_saddle(saddle)
    assert sorted(round(math.log(s / fit.sigma), 12) for _, s in starts) == [-0.01, 0.01]
    assert all(m == pytest.approx(fit.mu, abs=1e-15) for m, _ in starts)


def test_basins_depend_on_the_parameterisation():
    by_sigma = basins(P, "mse", [-1.0, 0.0], [1.0], parameterization="sigma")
    by_log = basins(P, "mse", [-1.0, 0.0], [1.0], parameterization="log_sigma")
    left = by_sigma.minima[by_sigma.labels[0, 0]]
    assert (left.mu, left.sigma) == pytest.approx((-5.0, 1.961459), abs=1e-6)
    assert by_sigma.labels[0, 1] != by_sigma.labels[0, 0]
    assert by_log.labels[0, 0] == by_log.labels[0, 1]
    wide = by_log.minima[by_log.labels[0, 0]]
    assert (wide.mu, wide.sigma) == pytest.approx((2.5, 10.233263), abs=1e-6)
    assert by_sigma.results[0][0].parameterization == "sigma" and by_sigma.labels.shape == (1, 2)


def test_basins_label_against_given_minima_and_mark_failures():
    minima = [LocalMinimum(2.5, 10.233263603, 0.1091401), LocalMinimum(-5.0, 1.961459189, 0.1036659)]
    b = basins(P, "mse", [-1.0, 0.0], [1.0], parameterization="sigma", minima=minima)
    assert b.labels.tolist() == [[1, 0]] and len(b.minima) == 2
    flat = basins(P, "cosine", [40.0], [0.5])  # no overlap with P: the gradient underflows, no minimum is reached
    assert flat.labels.tolist() == [[-1]]


def test_comparing_losses_basin_maps_at_rtol_1e_2_are_the_maps_at_1e_4():
    # the chapter comparing-losses draws its nine maps with rtol=1e-2 (half the time of 1e-3): on its
    # 15 × 12 starts every start must reach the minimum it reaches with a flow a hundred times tighter
    page_grid = Grid.uniform(-80.0, 95.0, 1401)
    mu_starts, sigma_starts = np.linspace(-10.0, 15.0, 15), np.geomspace(0.5, 16.0, 12)
    maps = [(obj, par) for obj in ("mse", "cosine", "forward_kl", "reverse_kl", "js", "hellinger", "wasserstein")
            for par in (("sigma", "log_sigma") if obj in ("mse", "cosine") else ("log_sigma",))]

    def ends(b):  # the minimum each start reaches, rounded past the flow's tolerance
        return [[(round(b.minima[k].mu, 4), round(b.minima[k].sigma, 4)) if k >= 0 else None for k in row] for row in b.labels]

    for obj, par in maps:
        loose, tight = (basins(P, obj, mu_starts, sigma_starts, parameterization=par, grid=page_grid, rtol=rtol)
                        for rtol in (1e-2, 1e-4))
        assert ends(loose) == ends(tight), (obj, par)
        assert len({m for row in ends(tight) for m in row}) >= 2 or obj in ("forward_kl", "wasserstein")


def test_basin_boundary_of_mse_on_sigma0_1_separates_the_two_landings():
    edge = basin_boundary(P, "mse", (-5.0, 1.0), (0.0, 1.0), parameterization="sigma", xtol=1e-3)
    assert edge.sigma == 1.0 and edge.width <= 1e-3
    assert edge.mu == pytest.approx(-0.595, abs=2e-3)  # scipy's ODE solvers put it at -0.596 (tests/test_fit.py)
    assert (round(edge.inside.mu, 6), round(edge.outside.mu, 6)) == (-5.0, 2.5)
    # checked by single fits (another implementation of the flow) just either side of the boundary
    for offset, landing in ((-edge.width, -5.0), (edge.width, 2.5)):
        fit = fit_gaussian(P, "mse", edge.mu + offset, 1.0, parameterization="sigma", rtol=1e-3)
        assert fit.mu == pytest.approx(landing, abs=1e-6)


def test_basin_boundaries_are_mirror_images():
    # P is symmetric about 2.5: the basins of the two peaks are mirror images, the wide compromise's between them
    left = basin_boundary(P, "mse", (-5.0, 1.0), (10.0, 1.0), parameterization="sigma", xtol=0.01)
    right = basin_boundary(P, "mse", (10.0, 1.0), (-5.0, 1.0), parameterization="sigma", xtol=0.01)
    assert left.width <= 0.01 and right.width <= 0.01
    assert right.mu == pytest.approx(5.0 - left.mu, abs=left.width + right.width)
    assert (round(left.inside.mu, 6), round(right.inside.mu, 6)) == (-5.0, 10.0)
    assert round(left.outside.mu, 6) == round(right.outside.mu, 6) == 2.5


def test_basin_boundary_along_sigma0_and_its_rounds(monkeypatch):
    # the cosine flow in (mu, sigma) from (0, sigma0): the left peak for narrow starts, the broad maximum for wide ones
    import klcourse._landscape as module

    batches = []
    fit_many = module._fit_many
    monkeypatch.setattr(module, "_fit_many", lambda *a: batches.append(len(a[3])) or fit_many(*a))
    edge = basin_boundary(P, "cosine", (0.0, 1.0), (0.0, 16.0), parameterization="sigma", xtol=0.01, points=7)
    assert edge.mu == 0.0 and edge.sigma == pytest.approx(3.22, abs=0.01)
    assert (round(edge.inside.mu, 6), round(edge.outside.mu, 6)) == (-5.0, 2.5)
    assert batches == [1, 1, 7, 7, 7, 7]  # each end, then rounds shrinking the bracket 15 -> 1.9 -> 0.23 -> 0.029 -> 0.0037
    assert edge.width == pytest.approx(15 / 8**4)


def test_basin_boundary_shares_one_default_grid(monkeypatch):
    import klcourse._landscape as module

    grids = []
    fit_many = module._fit_many
    monkeypatch.setattr(module, "_fit_many", lambda *a: grids.append(a[10]) or fit_many(*a))
    edge = basin_boundary(P, "reverse_kl", (-5.0, 1.0), (10.0, 1.0), xtol=5.0, points=3)  # reverse KL needs a grid
    assert len(grids) == 3 and grids[0] is not None and all(g is grids[0] for g in grids)
    assert -5.0 < edge.mu < 10.0 and edge.width == pytest.approx(3.75) and round(edge.inside.mu, 6) == -5.0


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: landscape(P, "mse", [], [1.0]), r"mus must be a non-empty 1-D sequence of finite numbers; got shape \(0,\)"),
        (lambda: landscape(P, "mse", [0.0], [[1.0]]), r"sigmas must be a non-empty 1-D sequence of finite numbers"),
        (lambda: landscape(P, "mse", [0.0], [0.0, 1.0]), r"sigmas must be positive; got 0"),
        (lambda: landscape(P, "mse", [0.0], [1.0], beta=2), r"kw must be alpha= or order=; got \['beta'\]"),
        (lambda: landscape(P, "nope", [0.0], [1.0]), r"objective must be one of"),
        (lambda: landscape(P, "alpha", [0.0], [1.0], alpah=0.5), r"kw must be alpha= or order=; got \['alpah'\]"),
        (lambda: basins(P, "mse", [0.0], [1.0], rtol="0.1"), r"rtol must be a finite real number; got '0.1'"),
        (lambda: basins(P, "mse", [0.0], [1.0], options={"tol": 1e-3}), r"options must be a FitOptions or None; got dict"),
        (lambda: basin_boundary(P, "mse", (-5.0, 1.0), (0.0, 1.0), rtol=1.0), r"rtol must be a number between 0 and 1; got 1.0"),
        (lambda: local_minima(torch.ones(5), "mse", grid=torch.linspace(0, 1, 5)), r"mus and sigmas must be given when target is a tensor"),
        (lambda: basins(P, "mse", [0.0], [-1.0]), r"sigma_starts must be positive; got -1"),
        (lambda: basins(P, "mse", [math.nan], [1.0]), r"mu_starts must be a non-empty 1-D sequence of finite numbers"),
        (lambda: basin_boundary(P, "mse", (-5.0, 1.0), (-6.0, 1.0)), r"end must lie outside the basin of start; the flow from both reaches \(-5, 1.96146\)"),
        (lambda: basin_boundary(P, "mse", (-5.0, 0.0), (0.0, 1.0)), r"start must be a start \(mu0, sigma0\) with sigma0 > 0; got \(-5.0, 0.0\)"),
        (lambda: basin_boundary(P, "mse", (-5.0, 1.0), (1.0, 2.0, 3.0)), r"end must be a start \(mu0, sigma0\)"),
        (lambda: basin_boundary(P, "mse", (-5.0, 1.0), (-5.0, 1.0)), r"end must differ from start"),
        (lambda: basin_boundary(P, "mse", (-5.0, 1.0), (0.0, 1.0), xtol=0.0), r"xtol must be a positive number; got 0.0"),
        (lambda: basin_boundary(P, "mse", (-5.0, 1.0), (0.0, 1.0), points=0), r"points must be"),
        (lambda: basin_boundary(P, "cosine", (40.0, 0.5), (-5.0, 1.0)), r"start must be a start from which the flow reaches a local minimum"),
    ],
)
def test_validation_messages(call, message):
    with pytest.raises(ValueError, match=message):
        call()
