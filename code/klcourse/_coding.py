"""Prefix codes: entropy as the length of the shortest messages (used in chapter "Entropy").

Huffman's construction gives an optimal binary prefix code for a known source; its
expected length L satisfies H(p) <= L < H(p) + 1 bits (for any source in which no symbol
is certain), with L = H(p) exactly when every probability is a power of 1/2
(Cover & Thomas 2006, §5.4–5.8).
"""

from __future__ import annotations

import heapq
import itertools

import numpy as np

from ._validate import as_tensor, check_probability_vector


def _probabilities(p):
    """Validate ``p`` as one probability vector and return it as a list of floats."""
    t, _ = as_tensor(p, "p")
    if t.dim() != 1:
        raise ValueError(f"p must be a 1-D probability vector; got shape {tuple(t.shape)}")
    check_probability_vector(t, "p")
    return [float(v) for v in t.tolist()]


def huffman_code(p):
    """An optimal binary prefix code for a source with probabilities ``p`` (Huffman's code).

    Parameters
    ----------
    p : array_like, shape (n,)
        Probabilities of the n source symbols (non-negative, summing to 1).

    Returns
    -------
    tuple of str
        One codeword of ``"0"``/``"1"`` characters per symbol, in the order of ``p``.
        No codeword is a prefix of another, so a stream of codewords decodes uniquely.

    Raises
    ------
    ValueError
        If ``p`` is not a 1-D probability vector.

    Notes
    -----
    Repeatedly merge the two least probable nodes (Huffman 1952; Cover & Thomas 2006,
    §5.6); the first node taken gets the bit ``0``. Ties are broken by the order in
    which nodes were created, so the code is deterministic. A one-symbol source gets the
    codeword ``"0"``. The expected length ``expected_code_length(p, code)`` lies in
    ``[H(p), H(p) + 1)`` bits, and equals H(p) when every p_i is a power of 1/2. (When
    one symbol has probability 1, H(p) = 0 while every codeword still has at least one
    bit, so L = 1.)

    Examples
    --------
    >>> import numpy as np
    >>> p = [0.5, 0.25, 0.125, 0.125]
    >>> code = huffman_code(p)
    >>> code
    ('0', '10', '110', '111')
    >>> bits = -np.sum(np.array(p) * np.log2(p))          # entropy in bits: 1.75
    >>> bool(np.isclose(expected_code_length(p, code), bits))
    True
    """
    probs = _probabilities(p)
    if len(probs) == 1:
        return ("0",)
    codes = [""] * len(probs)
    order = itertools.count()
    # heap of (probability, creation order, symbols under this node)
    heap = [(prob, next(order), [i]) for i, prob in enumerate(probs)]
    heapq.heapify(heap)
    while len(heap) > 1:
        p0, _, first = heapq.heappop(heap)
        p1, _, second = heapq.heappop(heap)
        for i in first:
            codes[i] = "0" + codes[i]
        for i in second:
            codes[i] = "1" + codes[i]
        heapq.heappush(heap, (p0 + p1, next(order), first + second))
    return tuple(codes)


def expected_code_length(p, codewords):
    """Expected length in bits, sum_i p_i len(c_i), of a binary code used on a source ``p``.

    Parameters
    ----------
    p : array_like, shape (n,)
        Probabilities of the n source symbols.
    codewords : sequence of str, length n
        The codeword of each symbol, in the order of ``p``.

    Returns
    -------
    numpy.float64
        The average number of bits sent per symbol.

    Raises
    ------
    ValueError
        If ``p`` is not a 1-D probability vector, or ``codewords`` does not hold one
        non-empty string of ``0``/``1`` per symbol.

    Examples
    --------
    >>> import numpy as np
    >>> p = [0.4, 0.3, 0.2, 0.1]
    >>> L = expected_code_length(p, huffman_code(p))
    >>> round(float(L), 12)                                # 0.4·1 + 0.3·2 + 0.2·3 + 0.1·3
    1.9
    >>> H = -np.sum(np.array(p) * np.log2(p))              # 1.846... bits
    >>> bool(H <= L < H + 1)
    True
    """
    probs = _probabilities(p)
    words = list(codewords) if not isinstance(codewords, str) else None
    if words is None or len(words) != len(probs):
        got = "a string" if words is None else f"{len(words)} codewords"
        raise ValueError(f"codewords must hold one codeword per symbol ({len(probs)}); got {got}")
    for word in words:
        if not isinstance(word, str) or not word or set(word) - {"0", "1"}:
            raise ValueError(f"codewords must be non-empty strings of 0 and 1; got {word!r}")
    return np.float64(sum(prob * len(word) for prob, word in zip(probs, words)))
