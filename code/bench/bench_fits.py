"""Benchmark: the seed notebook's four fits against ``klcourse.fit_gaussian`` (run by ``make bench``).

Three blocks of the same four fits (forward KL from (0, 1); MSE from (0, 1) and from (5, 1);
cosine similarity from (5, 1)):

seed    the seed's procedure as written: float32, ``torch.optim.Adam`` at lr 1e-3 for 10,000
        steps on sigma itself, the 1000-point grid ``seed_grid()``, P the *sum* of the two
        Normal densities, losses ``F.kl_div(log q, p)`` (reduction 'mean'), ``F.mse_loss(q, p)``
        and ``-F.cosine_similarity(q, p, dim=0)``, keeping every third value of q at every step
        for the animation, as the seed does;
same    ``fit_gaussian`` on exactly the seed's objectives (same P, grid and 'mean' reductions,
        written as quadrature weights 1/1000), sigma parameterisation;
course  ``fit_gaussian`` on the course's formulation: P = 0.5 N(-5, 1) + 0.5 N(10, 1), the
        integrals KL(P ‖ Q), ∫(p - q)² and the cosine similarity of densities, default grid.

Each fit runs in a fresh child process, which reports its wall and CPU time (the seed once,
after a short warm-up; fit_gaussian once right after the imports, as a reader's first call,
then 20 more times: median and best), the growth
of its peak resident memory over the baseline after imports and set-up, and the final (mu, sigma).
Then the course block again, each fit in five fresh processes quiet and five with two busy-loop processes
keeping both cores busy (medians compared), and
the "Run all" time of the two heaviest chapters from a fresh kernel (``chapters.py``).
The "true local optimum" of each row is found independently of klcourse: scipy's Nelder-Mead
in (mu, log sigma) at tolerance 1e-10, started where the row ended, on the row's own objective
(numpy on the seed's grid for seed/same, numpy on a fine independent grid for course). The distance is the
Euclidean distance in (mu, sigma) between the row's result and that optimum.
"""

from __future__ import annotations

import json
import math
import resource
import statistics
import subprocess
import sys
import time

FITS = [  # (name, seed loss, start)
    ("forward KL from (0, 1)", "kl_div", (0.0, 1.0)),
    ("MSE from (0, 1)", "mse_loss", (0.0, 1.0)),
    ("MSE from (5, 1)", "mse_loss", (5.0, 1.0)),
    ("cosine from (5, 1)", "cosine_similarity", (5.0, 1.0)),
]
COURSE_OBJECTIVE = {"kl_div": "forward_kl", "mse_loss": "mse", "cosine_similarity": "cosine"}


# ----------------------------------------------------------------------------- child: one fit


def _peak_kib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _seed_fit(loss_name, start, steps):
    """The seed notebook's optimisation loop, rewritten with the same numerics (float32, Adam, 'mean')."""
    import torch
    import torch.nn.functional as F

    from klcourse import seed_grid

    x = seed_grid()
    p = torch.distributions.Normal(-5.0, 1.0).log_prob(x).exp() + torch.distributions.Normal(10.0, 1.0).log_prob(x).exp()
    mu = torch.tensor([start[0]], requires_grad=True)
    sigma = torch.tensor([start[1]], requires_grad=True)
    optimiser = torch.optim.Adam([mu, sigma])
    frames = []
    for _ in range(steps):
        log_q = torch.distributions.Normal(mu, sigma).log_prob(x)
        q = log_q.exp()
        frames.append(q.detach().numpy()[::3])
        if loss_name == "kl_div":
            loss = F.kl_div(log_q, p)
        elif loss_name == "mse_loss":
            loss = F.mse_loss(q, p)
        else:
            loss = -F.cosine_similarity(q, p, dim=0)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return mu.item(), sigma.item()


def _same_problem(loss_name):
    """The seed's P (sum of densities, float64) and grid with weights 1/1000: its 'mean' reductions as quadrature."""
    import torch

    from klcourse import Grid, seed_grid

    x = seed_grid(torch.float64)
    p = torch.distributions.Normal(-5.0, 1.0).log_prob(x).exp() + torch.distributions.Normal(10.0, 1.0).log_prob(x).exp()
    return p, Grid(x, torch.full_like(x, 1.0 / len(x))), COURSE_OBJECTIVE[loss_name]


def child(block, index):
    import torch

    from klcourse import bimodal_target, fit_gaussian

    if block == "seed":
        torch.set_num_threads(1)  # the seed's loop on one thread: its fastest
    name, loss_name, start = FITS[index]
    if block == "seed":
        _seed_fit(loss_name, start, 50)  # warm-up
        base = _peak_kib()
        t0, c0 = time.perf_counter(), time.process_time()
        mu, sigma = _seed_fit(loss_name, start, 10_000)
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
        best = seconds
    else:
        if block == "same":
            target, grid, objective = _same_problem(loss_name)
            kwargs = dict(grid=grid, parameterization="sigma")
        else:
            target, objective, kwargs = bimodal_target(), COURSE_OBJECTIVE[loss_name], dict(parameterization="sigma")
        t0 = time.perf_counter()
        fit = fit_gaussian(target, objective, *start, **kwargs)  # the first call after the imports: no warm-up
        first = time.perf_counter() - t0
        base = _peak_kib()
        times, cpus = [], []
        for _ in range(20):
            t0, c0 = time.perf_counter(), time.process_time()
            fit = fit_gaussian(target, objective, *start, **kwargs)
            times.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
        seconds, cpu, best = statistics.median(times), statistics.median(cpus), min(times)
        seconds = max(seconds, first)  # the ratio counts the first call (a reader makes one), or the median if slower
        mu, sigma = fit.mu, fit.sigma
        assert fit.converged, (block, name, fit.grad_norm)
    print(json.dumps(dict(seconds=seconds, cpu=cpu, best=best, peak_mib=(_peak_kib() - base) / 1024, mu=mu, sigma=sigma)))


# ----------------------------------------------------------------------------- parent: references and table


def _seed_objective(loss_name):
    """The seed's loss as a numpy float64 function of (mu, sigma) on its grid (independent of klcourse)."""
    import numpy as np

    x = np.linspace(-15.0, 15.0, 1000)
    norm_pdf = lambda m, s: np.exp(-0.5 * ((x - m) / s) ** 2) / (s * math.sqrt(2 * math.pi))
    p = norm_pdf(-5.0, 1.0) + norm_pdf(10.0, 1.0)

    def loss(mu, sigma):
        q = norm_pdf(mu, sigma)
        if loss_name == "kl_div":
            log_q = -0.5 * ((x - mu) / sigma) ** 2 - math.log(sigma) - 0.5 * math.log(2 * math.pi)
            return float(np.mean(p * (np.log(p) - log_q)))
        if loss_name == "mse_loss":
            return float(np.mean((q - p) ** 2))
        return -float(q @ p / (np.linalg.norm(q) * np.linalg.norm(p)))

    return loss


def _course_objective(loss_name):
    """The course's integral objective as a function of (mu, sigma), in numpy: trapezoid on [-150, 160] at spacing 0.005.

    Independent of klcourse; for Gaussians of width >= 0.5 this rule is exact to rounding
    (Trefethen & Weideman, SIAM Review 56, 2014).
    """
    import numpy as np

    x = np.linspace(-150.0, 160.0, 62001)
    dx = x[1] - x[0]
    log_norm = lambda m, s: -0.5 * ((x - m) / s) ** 2 - math.log(s) - 0.5 * math.log(2 * math.pi)
    log_p = np.logaddexp(log_norm(-5.0, 1.0), log_norm(10.0, 1.0)) + math.log(0.5)
    p = np.exp(log_p)
    integral = lambda f: float(np.sum(f) * dx)  # the integrands vanish at both ends

    def loss(mu, sigma):
        log_q = log_norm(mu, sigma)
        q = np.exp(log_q)
        if loss_name == "kl_div":
            return integral(p * (log_p - log_q))
        if loss_name == "mse_loss":
            return integral((p - q) ** 2)
        return -integral(p * q) / math.sqrt(integral(p * p) * integral(q * q))

    return loss


def _optimum(loss, mu, sigma):
    """Nelder-Mead in (mu, log sigma) from (mu, sigma), tolerance 1e-10: the local optimum there."""
    from scipy.optimize import minimize

    res = minimize(
        lambda v: loss(v[0], math.exp(v[1])),
        [mu, math.log(sigma)],
        method="Nelder-Mead",
        options=dict(xatol=1e-10, fatol=1e-15, maxiter=1500),
    )
    return res.x[0], math.exp(res.x[1])


def _burners(n=2):
    """n processes that keep a core busy each (``while True: pass``), to time fits under load."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


UNDER_LOAD_RUNS = 5  # child processes per fit, quiet and loaded: a fit of about 1 ms meets a scheduler time slice or not


def _under_load():
    """The course block's fits, each in UNDER_LOAD_RUNS fresh processes quiet and as many with two busy-loop
    processes running: per fit, the list of each process's figure (first call, or median if slower), quiet and loaded."""

    def run(index):
        out = subprocess.run([sys.executable, __file__, "--child", "course", str(index)], capture_output=True, text=True, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])["seconds"]

    quiet = [[run(index) for _ in range(UNDER_LOAD_RUNS)] for index in range(len(FITS))]
    burners = _burners()
    try:
        loaded = [[run(index) for _ in range(UNDER_LOAD_RUNS)] for index in range(len(FITS))]
    finally:
        for b in burners:
            b.kill()
            b.wait()
    return quiet, loaded


def _chapters():
    """'Run all' of the two heaviest chapters from a fresh kernel, each in its own process (chapters.py)."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    out = {}
    for name in ("comparing-losses", "mode-seeking"):
        sys.path.insert(0, str(Path(__file__).parent))
        from chapters import run_chapter

        out[name] = run_chapter(root / "book" / "en" / f"{name}.md")[0]
    return out


def main():
    rows = []
    for block in ("seed", "same", "course"):
        for index, (name, loss_name, start) in enumerate(FITS):
            out = subprocess.run(
                [sys.executable, __file__, "--child", block, str(index)], capture_output=True, text=True, check=True
            )
            r = json.loads(out.stdout.strip().splitlines()[-1])
            loss = _course_objective(loss_name) if block == "course" else _seed_objective(loss_name)
            opt = _optimum(loss, r["mu"], r["sigma"])
            r.update(block=block, name=name, index=index, opt=opt, dist=math.hypot(r["mu"] - opt[0], r["sigma"] - opt[1]))
            rows.append(r)
            print(f"  done: {block:6s} {name}", file=sys.stderr)
    seed = {r["index"]: r for r in rows if r["block"] == "seed"}
    fmt_time = lambda t: f"{t:7.3f} s " if t >= 0.1 else f"{t * 1e3:7.2f} ms"
    head = (
        f"{'block':7s} {'fit':23s} {'wall time':>10s} {'best wall':>10s} {'CPU time':>10s} {'peak mem':>9s} "
        f"{'final (mu, sigma)':>23s} {'optimum (mu, sigma)':>23s} {'distance':>8s} {'speed-up wall / CPU':>20s}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        final = f"({r['mu']:.6f}, {r['sigma']:.6f})"
        opt = f"({r['opt'][0]:.6f}, {r['opt'][1]:.6f})"
        ref = seed[r["index"]]
        speed = "1x / 1x" if r["block"] == "seed" else f"{ref['seconds'] / r['seconds']:,.0f}x / {ref['cpu'] / r['cpu']:,.0f}x"
        print(
            f"{r['block']:7s} {r['name']:23s} {fmt_time(r['seconds']):>10s} {fmt_time(r['best']):>10s} {fmt_time(r['cpu']):>10s} "
            f"{r['peak_mib']:5.1f} MiB {final:>23s} {opt:>23s} {r['dist']:8.1e} {speed:>20s}"
        )
    fits = [r for r in rows if r["block"] != "seed"]
    print(
        f"\nfit_gaussian: slowest {max(r['seconds'] for r in fits) * 1e3:.2f} ms wall (median), {max(r['best'] for r in fits) * 1e3:.2f} ms "
        f"best of 20, {max(r['cpu'] for r in fits) * 1e3:.2f} ms CPU per fit; smallest speed-up "
        f"{min(seed[r['index']]['seconds'] / r['seconds'] for r in fits):,.0f}x (wall), "
        f"{min(seed[r['index']]['cpu'] / r['cpu'] for r in fits):,.0f}x (CPU); largest distance from the optimum "
        f"{max(r['dist'] for r in fits):.1e} (goal: >= 2,000x and <= 1e-6)."
    )
    print(
        "The seed is timed once after a warm-up (one run of 4 s averages over other jobs' noise), on one torch thread; fit_gaussian\n"
        "once right after the imports, then 20 times: the slower of that first call and the median, and the best (timeit's convention).\n"
        "CPU time: the process's own (median); wall time also counts waiting for a core while other jobs share the machine.\n"
        "Speed-ups compare medians. Peak mem: growth of the process's peak RSS over its baseline after set-up."
    )
    quiet, loaded = _under_load()
    print(
        f"\nfit_gaussian (course formulation), first call or median if slower, in {UNDER_LOAD_RUNS} fresh processes each, "
        "quiet vs two busy-loop processes running:"
    )
    for (name, _, _), q, l in zip(FITS, quiet, loaded):
        mq, ml = statistics.median(q), statistics.median(l)
        print(
            f"  {name:23s} quiet median {mq * 1e3:5.2f} ms   under load median {ml * 1e3:5.2f} ms"
            f"   ratio {ml / mq:5.2f} (goal <= 2)   under load, each: {' '.join(f'{x * 1e3:.2f}' for x in l)} ms"
        )
    print(
        "  Under load a fit either runs through or waits out a time slice of the scheduler, which two busy loops on\n"
        "  two cores hold: a few ms, added to a fit of about 1 ms in some of the runs. The ratio compares the medians."
    )
    print("\n'Run all' from a fresh kernel (kernel start not counted):")
    for name, seconds in _chapters().items():
        print(f"  {name:17s} {seconds:6.2f} s  (goal: {'4' if name == 'comparing-losses' else '2'} s)")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], int(sys.argv[3]))
    else:
        main()
