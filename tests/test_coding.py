"""Tests for klcourse._coding: Huffman codes and their expected length (chapter "Entropy")."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from klcourse import expected_code_length, huffman_code


def entropy_bits(p):
    p = np.asarray(p, dtype=float)
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


probability_vectors = st.lists(st.floats(0.0, 1.0), min_size=1, max_size=9).filter(
    lambda v: sum(v) > 1e-3).map(lambda v: [x / sum(v) for x in v])


def test_dyadic_source_gets_lengths_minus_log2_p():
    assert huffman_code([0.5, 0.25, 0.125, 0.125]) == ("0", "10", "110", "111")


def test_cover_thomas_example_5_6_1():
    # Cover & Thomas (2006), Example 5.6.1: lengths 2, 2, 2, 3, 3 and L = 2.3 bits
    p = [0.25, 0.25, 0.2, 0.15, 0.15]
    code = huffman_code(p)
    assert sorted(len(c) for c in code) == [2, 2, 2, 3, 3]
    assert expected_code_length(p, code) == pytest.approx(2.3, abs=1e-12)


def test_accepts_numpy_and_torch():
    p = [0.4, 0.3, 0.2, 0.1]
    assert huffman_code(np.array(p)) == huffman_code(torch.tensor(p, dtype=torch.float64)) == huffman_code(p)
    assert isinstance(expected_code_length(p, huffman_code(p)), np.float64)


def test_one_symbol_source():
    assert huffman_code([1.0]) == ("0",)
    assert expected_code_length([1.0], ("0",)) == 1.0


@settings(max_examples=60, deadline=None)
@given(probability_vectors)
def test_prefix_free_kraft_equality_and_source_coding_bounds(p):
    code = huffman_code(p)
    assert len(code) == len(p)
    for i, a in enumerate(code):
        for j, b in enumerate(code):
            assert i == j or not b.startswith(a)
    if len(p) > 1:  # Huffman's tree is full: Kraft's sum is exactly 1
        assert sum(2.0 ** -len(c) for c in code) == pytest.approx(1.0)
    L, H = expected_code_length(p, code), entropy_bits(p)
    assert H - 1e-9 <= L
    if max(p) < 1:
        assert L < H + 1
    else:  # a certain symbol: H = 0, yet every codeword has a bit
        assert L == 1


@settings(max_examples=60, deadline=None)
@given(probability_vectors.filter(lambda v: min(v) > 1e-9))
def test_no_longer_than_the_shannon_code(p):
    # Shannon's code, lengths ceil(-log2 p_i), is a valid prefix code; Huffman's is optimal
    # (a one-symbol source is the exception: Shannon's length is 0, Huffman's codeword "0")
    shannon = sum(x * math.ceil(-math.log2(x)) for x in p)
    L = expected_code_length(p, huffman_code(p))
    assert L <= shannon + 1e-9 or len(p) == 1


@pytest.mark.parametrize("p, match", [
    ([0.5, 0.6], "p must sum to 1"),
    ([1.2, -0.2], "p must be non-negative"),
    ([[0.5, 0.5]], "p must be a 1-D probability vector"),
    ([], "p must be non-empty"),
    ([0.5, float("nan")], "p must contain only finite numbers"),
])
def test_invalid_p(p, match):
    with pytest.raises(ValueError, match=match):
        huffman_code(p)
    with pytest.raises(ValueError, match=match):
        expected_code_length(p, ["0", "1"])


@pytest.mark.parametrize("codewords, match", [
    (["0"], r"one codeword per symbol \(2\); got 1 codewords"),
    ("01", "one codeword per symbol .*got a string"),
    (["0", ""], "non-empty strings of 0 and 1; got ''"),
    (["0", "12"], "non-empty strings of 0 and 1; got '12'"),
])
def test_invalid_codewords(codewords, match):
    with pytest.raises(ValueError, match=match):
        expected_code_length([0.5, 0.5], codewords)
