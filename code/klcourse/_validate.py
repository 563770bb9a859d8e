"""Validation at the public boundary: one-line ``ValueError`` messages that name the argument.

Public functions call these helpers once, on entry; inner kernels trust their inputs.
"""

import math
import numbers
from itertools import zip_longest

import numpy as np
import torch
from torch.distributions import Distribution

#: Absolute tolerance for "sums to 1", by floating dtype (float64 1e-6, float32 1e-4).
SUM_TOLERANCE = {torch.float64: 1e-6, torch.float32: 1e-4, torch.float16: 1e-2, torch.bfloat16: 1e-2}


def as_tensor(x, name):
    """Convert a list / numpy array / torch tensor to a floating tensor; return (tensor, was_torch)."""
    if isinstance(x, Distribution):
        raise ValueError(f"{name} must be an array or tensor of probabilities; got a torch distribution, {type(x).__name__}")
    if isinstance(x, torch.Tensor):
        if x.is_complex() or x.dtype == torch.bool:
            raise ValueError(f"{name} must hold real numbers; got dtype {x.dtype}")
        return (x if x.is_floating_point() else x.to(torch.float64)), True
    try:
        arr = np.asarray(x)
    except ValueError as exc:  # ragged nested lists
        raise ValueError(f"{name} must be a rectangular array of real numbers; got {x!r}") from exc
    if arr.dtype.kind == "O":  # None, a dict, a mixture of numbers and other things
        raise ValueError(f"{name} must be an array of real numbers; got {type(x).__name__} {_short(x)}")
    if arr.dtype.kind not in "iuf":
        raise ValueError(f"{name} must hold real numbers; got dtype {arr.dtype}")
    return torch.as_tensor(arr, dtype=torch.float64), False


def _short(x, limit=60):
    """repr(x) cut to ``limit`` characters, for messages."""
    text = repr(x)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def as_common_tensors(named):
    """Convert several named inputs; torch inputs fix dtype and device for all; return (tensors, any_torch)."""
    converted = [as_tensor(value, name) for name, value in named]
    torch_ones = [t for t, was_torch in converted if was_torch]
    any_torch = bool(torch_ones)
    if not any_torch:
        return [t for t, _ in converted], False
    dtype = torch_ones[0].dtype
    for t in torch_ones[1:]:
        dtype = torch.promote_types(dtype, t.dtype)
    device = torch_ones[0].device
    return [t.to(dtype=dtype, device=device) for t, _ in converted], True


def to_output(t, as_torch):
    """Torch in, torch out; otherwise numpy float64 (0-d results as ``numpy.float64``)."""
    if as_torch:
        return t
    return np.asarray(t.detach().cpu().numpy(), dtype=np.float64)[()]


def check_finite(t, name):
    """Reject NaN and infinite entries."""
    bad = ~torch.isfinite(t.detach())
    if bool(bad.any()):
        raise ValueError(f"{name} must contain only finite numbers; got {t.detach()[bad].flatten()[0].item()}")


def _check_nonnegative_table(t, name, support_ndim):
    """Shape, emptiness, finiteness and sign of a table of weights; return its detached values."""
    if t.dim() < support_ndim:
        what = "at least one axis (the support)" if support_ndim == 1 else f"at least {support_ndim} axes"
        raise ValueError(f"{name} must have {what}; got shape {tuple(t.shape)}")
    if t.numel() == 0:
        raise ValueError(f"{name} must be non-empty; got shape {tuple(t.shape)}")
    check_finite(t, name)
    values = t.detach()
    if bool((values < 0).any()):
        raise ValueError(f"{name} must be non-negative; got a negative entry {values[values < 0].min().item():g}")
    return values


def check_probability_vector(t, name, support_ndim=1):
    """A probability table: non-empty, finite, non-negative, summing to 1 over its last ``support_ndim`` axes."""
    values = _check_nonnegative_table(t, name, support_ndim)
    sums = values.sum(dim=tuple(range(-support_ndim, 0)))
    worst = (sums - 1).abs().max()
    if worst.item() > SUM_TOLERANCE.get(t.dtype, 1e-6):
        axes = "the last axis" if support_ndim == 1 else f"the last {support_ndim} axes"
        bad = sums.flatten()[(sums - 1).abs().flatten().argmax()].item()
        raise ValueError(f"{name} must sum to 1 along {axes}; got a sum of {bad:.10g}")


def normalised_weights(t, name, support_ndim=1):
    """Non-negative weights (probabilities or counts) divided by their sum over the last ``support_ndim`` axes, as
    ``scipy.stats.entropy`` does; non-empty, finite, with a positive sum."""
    values = _check_nonnegative_table(t, name, support_ndim)
    axes = tuple(range(-support_ndim, 0))
    sums = t.sum(dim=axes, keepdim=True)
    if bool((sums.detach() == 0).any()):
        where = "the last axis" if support_ndim == 1 else f"the last {support_ndim} axes"
        raise ValueError(f"{name} must have a positive sum along {where} (probabilities or counts); got all zeros")
    return t / sums


def broadcastable(*shapes):
    """Whether the shapes broadcast together (numpy's rule).

    Checked here, not by ``torch.broadcast_shapes``, whose first call imports sympy (about a second).
    """
    return all(len({n for n in sizes if n != 1}) <= 1 for sizes in zip_longest(*(reversed(tuple(s)) for s in shapes), fillvalue=1))


def check_same_support(p, q):
    """p and q must agree on the support axis and broadcast over leading axes."""
    if not (broadcastable(p.shape, q.shape) and p.shape[-1:] == q.shape[-1:]):
        raise ValueError(
            f"p and q must have the same shape (leading axes may broadcast); got {tuple(p.shape)} and {tuple(q.shape)}"
        )


def check_base(base):
    """``base`` is None (nats) or a positive real number other than 1; return log(base) or 1.0."""
    ok = (
        base is None
        or (isinstance(base, numbers.Real) and not isinstance(base, bool) and math.isfinite(base) and base > 0 and base != 1)
    )
    if not ok:
        raise ValueError(f"base must be a positive number other than 1 or None; got {base!r}")
    return 1.0 if base is None else math.log(base)


def check_real_scalar(value, name, *, minimum=None):
    """A finite real Python/numpy/0-d torch number (optionally >= minimum); return it as float."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if ok and minimum is not None and value < minimum:
        ok = False
    if not ok:
        what = "a finite real number" if minimum is None else f"a finite real number >= {minimum:g}"
        raise ValueError(f"{name} must be {what}; got {value!r}")
    return float(value)


def check_positive(t, name):
    """Every entry finite and strictly positive (standard deviations, scales)."""
    check_finite(t, name)
    values = t.detach()
    if bool((values <= 0).any()):
        raise ValueError(f"{name} must be positive; got {values[values <= 0].flatten()[0].item():g}")


def check_scalar_distribution(d, name):
    """A torch distribution over the real line with batch_shape () and event_shape ()."""
    if not isinstance(d, Distribution):
        raise ValueError(f"{name} must be a torch.distributions.Distribution; got {type(d).__name__}")
    if tuple(d.batch_shape) != () or tuple(d.event_shape) != ():
        raise ValueError(
            f"{name} must be a 1-D distribution with batch_shape () and event_shape (); "
            f"got batch_shape {tuple(d.batch_shape)} and event_shape {tuple(d.event_shape)}"
        )


def check_positive_int(value, name, *, minimum=1):
    """An integer >= minimum (sample counts, grid sizes)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")
    return int(value)
