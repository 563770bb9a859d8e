"""Checks for the exercises of chapter "Entropy".

* :func:`check_entropy` — discrete entropy ``H(p)`` with ``0·log 0 = 0`` and a ``base``
  argument, exercise ``ex-entropy-1``.
* :func:`check_cross_entropy` — the classification loss: mean cross-entropy of integer labels
  under ``softmax(logits)``, like ``torch.nn.functional.cross_entropy``, exercise
  ``ex-entropy-4``.

Expected values come from the library (:func:`klcourse.entropy`,
:func:`klcourse.cross_entropy` of one-hot labels against the softmax), never typed in; each
typical mistake is computed the way a learner would get it wrong, so that the report can
name it. A learner's ``nan`` matches no value (NaN equals nothing), so a ``nan`` answer gets
its own hint through ``run_cases(nan_hint=...)``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from klcourse._discrete import cross_entropy, entropy
from klcourse.checks._report import Case, run_cases

_HINTS = {
    "bits_for_nats": {
        "en": "this is in bits (log base 2); with base=None use the natural logarithm (nats)",
        "ja": "ビット単位（底 2 の対数）になっている。base=None のときは自然対数（ナット単位）を使うこと",
    },
    "ignored_base": {
        "en": "base was ignored: this is in nats; divide the natural-log entropy by log(base) "
              "(the value is off by the factor ln(base), e.g. ln 2 for bits)",
        "ja": "base を無視している（ナット単位のまま）。自然対数で求めたエントロピーを log(base) で割ること"
              "（値が ln(base) 倍、ビットなら ln 2 倍ずれる）",
    },
    "times_log_base": {
        "en": "you multiplied by log(base); converting nats to base b divides by log(b)",
        "ja": "log(base) を掛けている。ナットから底 b の単位への変換は log(b) で割る",
    },
    "always_bits": {
        "en": "this is in bits whatever base is; divide the natural-log entropy by log(base)",
        "ja": "base によらずビット単位になっている。自然対数で求めたエントロピーを log(base) で割ること",
    },
    "sign": {
        "en": "the sign is flipped: H(p) = -Σ p log p is never negative (log p <= 0)",
        "ja": "符号が逆である。H(p) = -Σ p log p は負にならない（log p <= 0 なので）",
    },
    "mean": {
        "en": "you averaged the terms (mean over outcomes); entropy is their sum, Σ -p log p",
        "ja": "項の平均をとっている。エントロピーは項の和 Σ -p log p である",
    },
    "entropy_nan": {
        "en": "nan: an outcome with p = 0 must contribute 0 (0·log 0 = 0), but 0·log 0 in code is "
              "0·(-inf) = nan; use torch.special.xlogy(p, p) or keep only the terms with p > 0",
        "ja": "nan になっている。p = 0 の結果の寄与は 0（0·log 0 = 0）だが、コードでは 0·log 0 が "
              "0·(-inf) = nan になる。torch.special.xlogy(p, p) を使うか、p > 0 の項だけを足すこと",
    },
    "no_softmax": {
        "en": "the logits were used as log-probabilities: they are not normalised; take the "
              "log-softmax first, log Q = z - logsumexp(z)",
        "ja": "ロジットをそのまま対数確率として使っている（正規化されていない）。先に log-softmax "
              "log Q = z - logsumexp(z) をとること",
    },
    "no_log": {
        "en": "this is the mean of -Q(y); the loss is the mean of -log Q(y)",
        "ja": "これは -Q(y) の平均である。損失は -log Q(y) の平均",
    },
    "sum": {
        "en": "you summed over the batch; F.cross_entropy averages over it (reduction='mean')",
        "ja": "バッチについて和をとっている。F.cross_entropy はバッチ平均をとる（reduction='mean'）",
    },
    "all_mean": {
        "en": "you averaged over the classes too; sum -P log Q over the classes, then average over "
              "the batch",
        "ja": "クラス方向にも平均をとっている。-P log Q をクラスについて足してから、バッチについて平均すること",
    },
    "ce_sign": {
        "en": "the sign is flipped: the loss is -log Q(y), which is never negative",
        "ja": "符号が逆である。損失は -log Q(y) であり、負にならない",
    },
    "ce_bits": {
        "en": "this is in bits (log base 2); the classification loss uses the natural logarithm",
        "ja": "ビット単位（底 2 の対数）になっている。分類の損失は自然対数を使う",
    },
    "swapped": {
        "en": "P and Q are swapped: H(P, Q) = -Σ P log Q with P the one-hot label, so only "
              "log Q(y) of the label's class enters",
        "ja": "P と Q が入れ替わっている。H(P, Q) = -Σ P log Q で P は one-hot のラベルなので、"
              "ラベルのクラスの log Q(y) だけが現れる",
    },
    "ce_nan": {
        "en": "nan: exp(logits) overflowed (exp(1000) = inf in float64 and inf/inf = nan); compute "
              "log Q = z - logsumexp(z) with torch.logsumexp or torch.log_softmax",
        "ja": "nan になっている。exp(ロジット) がオーバーフローした（float64 でも exp(1000) = inf、"
              "inf/inf = nan）。torch.logsumexp か torch.log_softmax で log Q = z - logsumexp(z) を計算すること",
    },
}


def _t(values):
    """A float64 tensor (the learner's functions receive torch tensors)."""
    return torch.tensor(values, dtype=torch.float64)


def _entropy_case(label, p, base):
    """Case for ``fn(p, base=base)``: expected H(p) and the typical wrong values."""
    p = _t(p)
    value = entropy(p, base=base)
    nats = entropy(p)
    mistakes = [("sign", -value), ("mean", value / p.numel())]
    if base is None:
        mistakes.insert(0, ("bits_for_nats", entropy(p, base=2)))
    else:
        mistakes[:0] = [("ignored_base", nats), ("times_log_base", nats * math.log(base))]
        if base != 2:
            mistakes.insert(1, ("always_bits", entropy(p, base=2)))
    kwargs = {} if base is None else {"base": base}
    return Case(label=label, args=(p.clone(),), kwargs=kwargs, expected=value,
                mistakes=tuple((_HINTS[key], v) for key, v in mistakes))


def _cross_entropy_case(label, logits, target):
    """Case for ``fn(logits, target)``: expected mean H(one-hot, softmax) and the typical wrong values."""
    z, y = _t(logits), torch.tensor(target)  # [N, K], [N]
    n, k = z.shape
    p = F.one_hot(y, num_classes=k).to(z.dtype)  # [N, K] one-hot labels
    q = torch.softmax(z, dim=-1)  # [N, K]
    value = cross_entropy(p, q).mean()
    picked = z.gather(-1, y[:, None])[:, 0]  # [N] logit of each label
    mistakes = [
        ("no_softmax", -picked.mean()),
        ("no_log", -q.gather(-1, y[:, None]).mean()),
        ("ce_sign", -value),
        ("ce_bits", cross_entropy(p, q, base=2).mean()),
        ("all_mean", value / k),
        ("swapped", cross_entropy(q, p).mean()),
    ]
    if n > 1:
        mistakes.append(("sum", value * n))
    return Case(label=label, args=(z.clone(), y.clone()), expected=value,
                mistakes=tuple((_HINTS[key], v) for key, v in mistakes))


def check_entropy(fn, lang="en"):
    """Check a learner's ``fn(p, base=None) -> H(p)`` for a discrete distribution (exercise ex-entropy-1).

    Parameters
    ----------
    fn : callable
        Takes a 1-D float64 tensor of probabilities ``p`` (summing to 1, possibly with zeros)
        and an optional ``base`` (None for nats, else a positive number other than 1), and
        returns the entropy ``-Σ p log p / log(base)`` as a float or a 0-d tensor/array, with
        ``0·log 0 = 0``.
    lang : {"en", "ja"}, default "en"
        Language of the report.

    Returns
    -------
    CheckReport
        True when every case passed; for a wrong answer it names the likely mistake: bits
        instead of nats, ``base`` ignored (off by the factor ln(base)), multiplied instead of
        divided by log(base), a flipped sign, the mean of the terms instead of their sum, and
        ``nan`` from 0·log 0.

    Examples
    --------
    >>> from scipy.stats import entropy as scipy_entropy
    >>> def my_entropy(p, base=None):
    ...     return scipy_entropy(p.numpy(), base=base)   # 0·log 0 = 0 built in
    >>> print(bool(check_entropy(my_entropy)))
    True
    """
    cases = [
        _entropy_case("p = [0.5, 0.5]", [0.5, 0.5], None),
        _entropy_case("p = [0.7, 0.2, 0.1]", [0.7, 0.2, 0.1], None),
        _entropy_case("p = [1/2, 1/4, 1/8, 1/8], base = 2", [1 / 2, 1 / 4, 1 / 8, 1 / 8], 2),
        _entropy_case("p = [0.2, 0.3, 0.5], base = 10", [0.2, 0.3, 0.5], 10),
        _entropy_case("p = [0.5, 0.25, 0.25, 0]", [0.5, 0.25, 0.25, 0.0], None),
        _entropy_case("p = [0, 0.1, 0, 0.9], base = 2", [0.0, 0.1, 0.0, 0.9], 2),
        _entropy_case("p = [1/8] * 8, base = 2", [1 / 8] * 8, 2),
    ]
    return run_cases("check_entropy", fn, cases, lang=lang, nan_hint=_HINTS["entropy_nan"])


def check_cross_entropy(fn, lang="en"):
    """Check a learner's ``fn(logits, target)`` against the classification loss (exercise ex-entropy-4).

    Parameters
    ----------
    fn : callable
        Takes ``logits``, a float64 tensor of shape [N, K], and ``target``, an integer tensor
        of shape [N] with class labels in ``0 .. K-1``, and returns the mean over the batch of
        the cross-entropy ``H(P_i, Q_i) = -log Q_i(target[i])`` in nats, where P_i is the
        one-hot label and ``Q_i = softmax(logits[i])`` (what ``F.cross_entropy`` computes).
    lang : {"en", "ja"}, default "en"
        Language of the report.

    Returns
    -------
    CheckReport
        True when every case passed; for a wrong answer it names the likely mistake: logits
        used without the (log-)softmax, -Q instead of -log Q, a flipped sign, bits instead of
        nats, the sum instead of the mean over the batch, a mean over the classes too, P and
        Q swapped, and ``nan`` from ``exp`` overflowing at large logits.

    Notes
    -----
    One case has logits near 1000, where ``exp`` overflows even in float64: only a log-space
    computation (``torch.logsumexp``, ``torch.log_softmax``) passes it.

    Examples
    --------
    >>> import torch.nn.functional as F
    >>> def torch_loss(logits, target):
    ...     return F.cross_entropy(logits, target)
    >>> print(bool(check_cross_entropy(torch_loss)))
    True
    """
    g = torch.Generator().manual_seed(2026)
    cases = [
        _cross_entropy_case({"en": "logits [4, 3], random", "ja": "logits [4, 3]、乱数"}, (2.0 * torch.randn(4, 3, generator=g, dtype=torch.float64)).tolist(),
                            [0, 2, 1, 2]),
        _cross_entropy_case({"en": "logits [1, 3] = [[1, 2, 3]], target [0]", "ja": "logits [1, 3] = [[1, 2, 3]]、target [0]"}, [[1.0, 2.0, 3.0]], [0]),
        _cross_entropy_case({"en": "logits [6, 5], random", "ja": "logits [6, 5]、乱数"}, (3.0 * torch.randn(6, 5, generator=g, dtype=torch.float64)).tolist(),
                            [4, 0, 1, 3, 2, 0]),
        _cross_entropy_case({"en": "large logits [[1000, 999, 990], [-5, 1000, 998]], target [0, 2]",
                             "ja": "大きな logits [[1000, 999, 990], [-5, 1000, 998]]、target [0, 2]"},
                            [[1000.0, 999.0, 990.0], [-5.0, 1000.0, 998.0]], [0, 2]),
    ]
    return run_cases("check_cross_entropy", fn, cases, lang=lang, nan_hint=_HINTS["ce_nan"])
