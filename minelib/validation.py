"""Input validation shared by every public entry point.

Errors name the argument, what was wrong and what is accepted, in the manner of scikit-learn's
``check_array``: bad input must fail here, never deep inside torch or as a silent NaN.
"""
from __future__ import annotations

import numbers

import numpy as np
import torch

from .runtime import resolve_device


def as_float_array(a, name: str, *, stacked: bool = False, keep_float32: bool = False) -> np.ndarray:
    """Return ``a`` as a float64 array of shape (n, d) (or (K, n, d) when ``stacked``); float32 input stays
    float32 when ``keep_float32`` (no copy of a large array the caller will narrow again anyway).

    Accepts numpy arrays, torch tensors and nested sequences of real numbers. A 1-D input is read
    as n samples of one variable. Raises ``TypeError`` for non-numeric data and ``ValueError`` for
    wrong shapes, empty input, NaN or inf.
    """
    if isinstance(a, torch.Tensor):
        if a.is_complex() or a.dtype == torch.bool:
            raise TypeError(f"{name} must hold real numbers; got a torch tensor of dtype {a.dtype}")
        # numpy has no bfloat16: widen it (exactly) first
        a = (a.detach().double() if a.dtype == torch.bfloat16 else a.detach()).cpu().numpy()
    else:
        try:
            a = np.asarray(a)
        except ValueError as err:  # numpy's "inhomogeneous shape"
            raise ValueError(f"{name} is a ragged sequence (rows of different lengths); every row needs the "
                             f"same number of features") from err
    if a.dtype == object or not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise TypeError(
            f"{name} must be a numeric array (integer or float dtype); got dtype {a.dtype}"
        )
    a = a.astype(np.float32 if keep_float32 and a.dtype == np.float32 else np.float64, copy=False)
    max_dim = 3 if stacked else 2
    if a.ndim == max_dim - 1:
        a = a[..., None]
    if a.ndim != max_dim:
        want = "(K, n, d) or (K, n)" if stacked else "(n, d) or (n,)"
        raise ValueError(f"{name} must have shape {want}; got an array of shape {a.shape}")
    if a.size == 0:
        raise ValueError(f"{name} is empty (shape {a.shape}); at least one sample and one feature are needed")
    if not np.isfinite(a).all():
        bad = int((~np.isfinite(a)).sum())
        raise ValueError(f"{name} contains {bad} NaN or infinite value(s); remove or impute them first")
    return a


def check_pair(x, z, *, min_rows: int, stacked: bool = False,
               keep_float32: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Validate two paired samples: numeric, finite, same number of rows, at least ``min_rows``
    (``keep_float32``: see :func:`as_float_array`)."""
    x = as_float_array(x, "x", stacked=stacked, keep_float32=keep_float32)
    z = as_float_array(z, "z", stacked=stacked, keep_float32=keep_float32)
    if stacked and x.shape[0] != z.shape[0]:
        raise ValueError(f"x and z must stack the same number of tasks; got {x.shape[0]} and {z.shape[0]}")
    nx, nz = x.shape[-2], z.shape[-2]
    if nx != nz:
        raise ValueError(f"x and z must have the same number of rows (paired samples); got {nx} and {nz}")
    if nx < min_rows:
        raise ValueError(f"x and z need at least {min_rows} rows for this method; got {nx}")
    return x, z


def check_positive_int(value, name: str, *, minimum: int = 1) -> int:
    """Return ``value`` as an int, raising if it is not an integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= {minimum}; got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value}")
    return int(value)


def check_fraction(value, name: str, *, low: float = 0.0, high: float = 1.0, closed_low: bool = False) -> float:
    """Return ``value`` as a float in (low, high] (or [low, high] when ``closed_low``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number; got {value!r}")
    value = float(value)
    ok_low = value >= low if closed_low else value > low
    if not (ok_low and value <= high and np.isfinite(value)):
        bracket = "[" if closed_low else "("
        raise ValueError(f"{name} must lie in {bracket}{low}, {high}]; got {value}")
    return value


def check_choice(value, name: str, choices) -> str:
    """Return ``value`` if it is one of ``choices`` (strings), else raise a ValueError listing them."""
    if not isinstance(value, str) or value.lower() not in choices:
        raise ValueError(f"unknown {name} {value!r}; accepted: {', '.join(sorted(choices))}")
    return value.lower()


def check_bool(value, name: str) -> bool:
    """Return ``value`` as a bool, raising if it is not one (a string such as ``"no"`` would read as True)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False; got {value!r}")
    return bool(value)


def check_widths(value, name: str) -> tuple[int, ...]:
    """Return layer widths as a tuple of positive ints (an empty sequence is no hidden layer)."""
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple, np.ndarray)):
        raise TypeError(f"{name} must be a sequence of layer widths (positive integers); got {value!r}")
    return tuple(check_positive_int(w, f"{name} entry") for w in value)


def check_adam_betas(value, name: str = "adam_betas") -> tuple[float, float]:
    """Return Adam's ``(beta1, beta2)`` as floats in [0, 1) (beta2 = 1 would divide by a zero bias correction)."""
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple, np.ndarray)) or len(value) != 2:
        raise ValueError(f"{name} must be two numbers in [0, 1); got {value!r}")
    b1, b2 = (check_fraction(b, name, high=1.0, closed_low=True) for b in value)
    if b1 >= 1.0 or b2 >= 1.0:
        raise ValueError(f"{name} must be two numbers in [0, 1); got {value!r}")
    return b1, b2


def check_device(device, name: str = "device") -> torch.device:
    """``device`` (``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or a ``torch.device``) as a torch.device that
    exists here: CUDA without a GPU is refused, naming ``name``, whether given as a string or a torch.device."""
    try:
        dev = resolve_device(device)
    except (TypeError, ValueError) as err:
        raise type(err)(f"{name}: {err}") from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{name}={device!r} asks for CUDA but torch sees no CUDA GPU; use 'auto' or 'cpu'")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"{name}={device!r}: accepted are 'auto', 'cpu', 'cuda', 'cuda:N'")
    return dev
