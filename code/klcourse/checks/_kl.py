"""Checks for the exercises of chapter "KL divergence".

* :func:`check_kl` — discrete ``KL(p ‖ q)`` with the conventions built in (normalise,
  0·log 0 = 0, ``inf`` for disjoint support), exercise ``ex-kl-1``.
* :func:`check_grid_kl` — ``∫ p log(p/q) dx`` as a Riemann sum of log-densities on a grid,
  exercise ``ex-kl-2``.

Expected values come from the library (:func:`klcourse.kl_divergence`, the grid kernel
behind :func:`klcourse.kl_divergence` for densities); each typical mistake is computed the way a learner would get it
wrong, so that the report can name it. A learner's ``nan`` matches no value (NaN equals
nothing), so a ``nan`` answer gets its own hint through ``run_cases(nan_hint=...)``.
"""

from __future__ import annotations

import math

import torch
from torch.distributions import Normal, Uniform

from klcourse._continuous import _kl_grid, _log_density
from klcourse._discrete import _rel_entr, cross_entropy, kl_divergence
from klcourse._targets import bimodal_target, seed_grid
from klcourse.checks._report import Case, run_cases

_HINTS = {
    "swapped": {
        "en": "p and q are swapped: this is KL(q ‖ p); the first argument is the distribution "
              "the expectation is taken over",
        "ja": "p と q が入れ替わっている（これは KL(q ‖ p)）。期待値をとる分布が第 1 引数である",
    },
    "base2": {
        "en": "this is in bits (log base 2); use the natural logarithm for nats",
        "ja": "ビット単位（底 2 の対数）になっている。ナット単位にするには自然対数を使うこと",
    },
    "base10": {
        "en": "this uses log base 10; use the natural logarithm for nats",
        "ja": "常用対数（底 10）を使っている。ナット単位にするには自然対数を使うこと",
    },
    "cross_entropy": {
        "en": "this is the cross-entropy H(p, q) = -Σ p log q; KL subtracts the entropy: "
              "KL(p ‖ q) = H(p, q) - H(p)",
        "ja": "これは交差エントロピー H(p, q) = -Σ p log q である。KL はそこからエントロピーを引いたもの: "
              "KL(p ‖ q) = H(p, q) - H(p)",
    },
    "sign": {
        "en": "the sign is flipped: Σ p log(q/p) is -KL(p ‖ q); the ratio inside the log is p/q",
        "ja": "符号が逆である。Σ p log(q/p) は -KL(p ‖ q)。対数の中の比は p/q",
    },
    "unnormalised": {
        "en": "the inputs were used as given; divide p and q by their sums first (they may be "
              "counts), otherwise the result is not a KL divergence and can even be negative",
        "ja": "入力をそのまま使っている。p と q はそれぞれの和で割って正規化すること（度数でもよい）。"
              "正規化しないと KL ダイバージェンスにならず、負になることさえある",
    },
    "epsilon": {
        "en": "a small epsilon was added to q, which turns the true answer inf into a large finite "
              "number; where p > 0 and q = 0 the divergence is +inf",
        "ja": "q に小さな ε を足したため、本来 inf になる答えが大きな有限値になっている。"
              "p > 0 かつ q = 0 となる点があれば、ダイバージェンスは +inf である",
    },
    "skipped": {
        "en": "terms with p > 0 and q = 0 were skipped; each is +inf, so the divergence is inf",
        "ja": "p > 0 かつ q = 0 の項を飛ばしている。その項は +inf なので、ダイバージェンスは inf になる",
    },
    "nan": {
        "en": "nan: 0·log(0/q) must count as 0 (mask the terms where p = 0 before multiplying, "
              "since 0·(-inf) and 0/0 are nan)",
        "ja": "nan になっている。0·log(0/q) は 0 とみなすこと（0·(-inf) や 0/0 は nan になるので、"
              "掛ける前に p = 0 の項を除く）",
    },
    "missing_dx": {
        "en": "Δx is missing: a sum of pointwise terms approximates the integral only when each "
              "term is multiplied by the grid spacing dx",
        "ja": "Δx が抜けている。点ごとの項の和に格子間隔 dx を掛けて、はじめて積分の近似になる",
    },
    "mean": {
        "en": "this is the mean of the pointwise terms (F.kl_div's reduction='mean'); the integral "
              "is their sum times dx, not divided by the number of points",
        "ja": "これは点ごとの項の平均（F.kl_div の reduction='mean'）である。積分の近似は項の和に dx を"
              "掛けたもので、点の数で割るのではない",
    },
    "exp_log": {
        "en": "exp then log underflows: exp(log_q) is exactly 0 far in the tails (float32), and "
              "log 0 = -inf; use log_p and log_q directly",
        "ja": "exp してから log をとるとアンダーフローする。裾では exp(log_q) が（float32 で）ちょうど 0 "
              "になり log 0 = -inf となる。log_p と log_q をそのまま使うこと",
    },
    "no_p": {
        "en": "each term must be weighted by p = exp(log_p): the integrand is p·(log p - log q)",
        "ja": "各項に p = exp(log_p) の重みを掛けること。被積分関数は p·(log p - log q)",
    },
}


def _t(values):
    """A float64 tensor (the learner's functions receive torch tensors)."""
    return torch.tensor(values, dtype=torch.float64)


def _discrete_case(label, p, q):
    """Case for ``fn(p, q)``: expected KL of the normalised inputs, and the typical wrong values."""
    p_raw, q_raw = _t(p), _t(q)
    pn, qn = p_raw / p_raw.sum(), q_raw / q_raw.sum()
    mistakes = [
        ("swapped", kl_divergence(qn, pn)),
        ("base2", kl_divergence(pn, qn, base=2)),
        ("base10", kl_divergence(pn, qn, base=10)),
        ("cross_entropy", cross_entropy(pn, qn)),
        ("sign", -kl_divergence(pn, qn)),
    ]
    if not (torch.allclose(p_raw, pn) and torch.allclose(q_raw, qn)):
        mistakes.append(("unnormalised", _rel_entr(p_raw, q_raw).sum()))
    if bool(((pn > 0) & (qn == 0)).any()):
        support = pn > 0
        mistakes.append(("skipped", _rel_entr(pn[support & (qn > 0)], qn[support & (qn > 0)]).sum()))
        for eps in (1e-6, 1e-8, 1e-10, 1e-12, 1e-15):
            mistakes.append(("epsilon", _rel_entr(pn, qn + eps).sum()))
    return Case(label=label, args=(p_raw.clone(), q_raw.clone()), expected=kl_divergence(pn, qn),
                mistakes=tuple((_HINTS[key], value) for key, value in mistakes))


def check_kl(fn, lang="en"):
    """Check a learner's ``fn(p, q) -> KL(p ‖ q)`` for discrete distributions (exercise ex-kl-1).

    Parameters
    ----------
    fn : callable
        Takes two 1-D float64 tensors of non-negative weights (probabilities or counts, to be
        normalised) and returns ``KL(p ‖ q)`` in nats as a float or a 0-d tensor/array:
        ``0·log(0/q) = 0``, and ``inf`` (never ``nan``) when some ``p_i > 0`` has ``q_i = 0``.
    lang : {"en", "ja"}, default "en"
        Language of the report.

    Returns
    -------
    CheckReport
        True when every case passed; for a wrong answer it names the likely mistake: p and q
        swapped, log base 2 or 10, cross-entropy instead of KL, flipped sign, inputs not
        normalised, an epsilon added to q or infinite terms skipped, and ``nan`` from 0·log 0.

    Examples
    --------
    >>> from scipy.stats import entropy
    >>> def scipy_kl(p, q):
    ...     return entropy(p.numpy(), q.numpy())   # normalises, uses nats, returns inf
    >>> print(bool(check_kl(scipy_kl)))
    True
    """
    cases = [
        _discrete_case("p = [0.2, 0.5, 0.3], q = [0.1, 0.3, 0.6]", [0.2, 0.5, 0.3], [0.1, 0.3, 0.6]),
        _discrete_case({"en": "p has a zero: p = [0.5, 0.5, 0], q = [0.2, 0.3, 0.5]",
                        "ja": "p に 0 がある: p = [0.5, 0.5, 0]、q = [0.2, 0.3, 0.5]"}, [0.5, 0.5, 0.0], [0.2, 0.3, 0.5]),
        _discrete_case({"en": "p = q with a zero: [0.25, 0.75, 0]", "ja": "p = q で 0 がある: [0.25, 0.75, 0]"},
                       [0.25, 0.75, 0.0], [0.25, 0.75, 0.0]),
        _discrete_case({"en": "disjoint support: p = [0.5, 0.5, 0, 0], q = [0, 0, 0.5, 0.5]",
                        "ja": "台が重ならない: p = [0.5, 0.5, 0, 0]、q = [0, 0, 0.5, 0.5]"},
                       [0.5, 0.5, 0.0, 0.0], [0.0, 0.0, 0.5, 0.5]),
        _discrete_case({"en": "q = 0 where p > 0: p = [0.4, 0.4, 0.2], q = [0.5, 0.5, 0]",
                        "ja": "p > 0 で q = 0: p = [0.4, 0.4, 0.2]、q = [0.5, 0.5, 0]"},
                       [0.4, 0.4, 0.2], [0.5, 0.5, 0.0]),
        _discrete_case({"en": "counts: p = [1, 2, 1], q = [2, 1, 1]", "ja": "度数: p = [1, 2, 1]、q = [2, 1, 1]"},
                       [1.0, 2.0, 1.0], [2.0, 1.0, 1.0]),
    ]
    return run_cases("check_kl", fn, cases, lang=lang, nan_hint=_HINTS["nan"])


def _grid_case(label, x, log_p, log_q):
    """Case for ``fn(log_p, log_q, dx)`` on an evenly spaced grid: expected Σ p (log p - log q) Δx."""
    dx = (x[1] - x[0]).item()
    n = len(x)
    lp, lq = log_p.double(), log_q.double()  # the expected values from the same numbers, in float64
    riemann = torch.full_like(lp, dx)  # [N] rectangle-rule weights
    value = _kl_grid(lp, lq, riemann)
    mistakes = [
        ("missing_dx", value / dx),
        ("mean", value / (dx * n)),
        ("swapped", _kl_grid(lq, lp, riemann)),
        ("no_p", ((lp - lq) * riemann).sum()),
    ]
    q32 = log_q.exp()
    if bool(((q32 == 0) & (log_p.exp() > 0)).any()):  # exp then log: log 0 = -inf where p > 0
        mistakes.append(("exp_log", math.inf))
    return Case(label=label, args=(log_p.clone(), log_q.clone(), dx), expected=value,
                mistakes=tuple((_HINTS[key], value) for key, value in mistakes))


def check_grid_kl(fn, lang="en"):
    """Check a learner's ``fn(log_p, log_q, dx) -> ∫ p log(p/q) dx`` on a grid (exercise ex-kl-2).

    Parameters
    ----------
    fn : callable
        Takes the log-densities ``log_p`` and ``log_q`` (1-D tensors, float64 or float32, with
        ``-inf`` outside a support) tabulated on an evenly spaced grid with spacing ``dx`` (a
        float), and returns the Riemann sum ``Σ_i p_i (log p_i - log q_i) dx`` with
        ``p_i = exp(log p_i)``, terms with ``p_i = 0`` counting as 0.
    lang : {"en", "ja"}, default "en"
        Language of the report.

    Returns
    -------
    CheckReport
        True when every case passed (relative tolerance 1e-4, for float32 inputs); names the
        likely mistake: Δx missing, the mean of the terms (``reduction='mean'``), p and q
        swapped, the weight p missing, exp-then-log underflow (``inf``), or ``nan`` from 0·log 0.

    Notes
    -----
    The cases are two Normals in float64, the seed notebook's grid ``seed_grid()`` in float32
    with the course's target P and Q = N(0, 1) (where ``exp(log_q)`` underflows to 0), and a
    uniform P whose log-density is ``-inf`` off [0, 1].

    Examples
    --------
    >>> import torch
    >>> def riemann_kl(log_p, log_q, dx):
    ...     p = log_p.exp()
    ...     return torch.where(p > 0, p * (log_p - log_q), 0.0).sum() * dx
    >>> print(bool(check_grid_kl(riemann_kl)))
    True
    """
    x64 = torch.linspace(-12.0, 12.0, 2001, dtype=torch.float64)
    x32 = seed_grid()
    xu = torch.linspace(-1.0, 2.0, 1501, dtype=torch.float64)
    cases = [
        _grid_case({"en": "P = N(0, 1), Q = N(1, 2²), 2001 points on [-12, 12]", "ja": "P = N(0, 1)、Q = N(1, 2²)、[-12, 12] 上の 2001 点"}, x64,
                   Normal(_t(0.0), _t(1.0)).log_prob(x64), Normal(_t(1.0), _t(2.0)).log_prob(x64)),
        _grid_case({"en": "the seed notebook's grid in float32: P = 0.5 N(-5, 1) + 0.5 N(10, 1), Q = N(0, 1)",
                    "ja": "float32 のシードのノートブックの格子: P = 0.5 N(-5, 1) + 0.5 N(10, 1)、Q = N(0, 1)"}, x32,
                   bimodal_target().log_prob(x32.double()).float(), Normal(0.0, 1.0).log_prob(x32)),
        _grid_case({"en": "P = U(0, 1) (log p = -inf outside), Q = N(0.5, 1)", "ja": "P = U(0, 1)（外側で log p = -inf）、Q = N(0.5, 1)"}, xu,
                   _log_density(Uniform(_t(0.0), _t(1.0)), xu), Normal(_t(0.5), _t(1.0)).log_prob(xu)),
    ]
    return run_cases("check_grid_kl", fn, cases, lang=lang, rtol=1e-4, nan_hint=_HINTS["nan"])
