"""Argument checks shared by the public API.

Every message follows one template: what was expected, what was received,
and how to fix it.
"""

from __future__ import annotations

import difflib
import numbers

import numpy as np


def positive_int(value, name, owner):
    """Return ``value`` as an int if it is a positive integer, else raise ValueError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(
            f"{owner}: `{name}` must be a positive integer. Received: {name}={value!r}."
        )
    return int(value)


def int_tuple(value, n, name, owner):
    """Normalise an int or a sequence of ``n`` ints into a tuple of positive ints.

    ``Conv2D(32, 3)`` means a 3x3 kernel, like in Keras.
    """
    try:
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            items = (value,) * n
        else:
            items = tuple(value)
    except TypeError:
        items = None
    if (
        items is None
        or len(items) != n
        or any(isinstance(v, bool) or not isinstance(v, numbers.Integral) or v <= 0 for v in items)
    ):
        raise ValueError(
            f"{owner}: `{name}` must be a positive integer or a tuple of {n} positive integers. "
            f"Received: {name}={value!r}."
        )
    return tuple(int(v) for v in items)


def choice(value, options, name, owner):
    """Check that a string option is one of ``options`` (case-insensitive)."""
    key = value.lower() if isinstance(value, str) else value
    if key not in options:
        raise ValueError(
            f"{owner}: `{name}` must be one of {list(options)}. Received: {name}={value!r}."
        )
    return key


def unknown_name(kind, name, valid):
    """ValueError for an unknown identifier, listing the valid ones and the closest match."""
    valid = sorted(valid)
    close = difflib.get_close_matches(str(name).lower(), valid, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return ValueError(f"Unknown {kind} {name!r}.{hint} Valid names: {', '.join(valid)}.")


def float_in_range(value, name, owner, low, high, low_inclusive=True, high_inclusive=False):
    """Check a real number lies in the given interval and return it as float."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and np.isfinite(value)
    if ok:
        ok = (value >= low if low_inclusive else value > low) and (
            value <= high if high_inclusive else value < high
        )
    if not ok:
        lb = "[" if low_inclusive else "("
        hb = "]" if high_inclusive else ")"
        raise ValueError(
            f"{owner}: `{name}` must be a number in {lb}{low}, {high}{hb}. Received: {name}={value!r}."
        )
    return float(value)


def accepted_arguments(cls, extra=()):
    """Every keyword ``cls`` takes (its own ``__init__`` and its bases'), for "did you mean" hints."""
    import inspect

    names = set(extra)
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is not None:
            names.update(p for p in inspect.signature(init).parameters if p not in ("self", "kwargs"))
    return sorted(names)


def reject_unknown_kwargs(kwargs, allowed, owner):
    """TypeError for keyword arguments a class does not take."""
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        close = {u: difflib.get_close_matches(u, allowed, n=1) for u in unknown}
        hints = "; ".join(f"{u!r} (did you mean {c[0]!r}?)" if c else repr(u) for u, c in close.items())
        raise TypeError(f"{owner} got unexpected keyword argument(s): {hints}.")


# Values checked per piece by :func:`all_finite`: a mask of 1 MiB at a time, not one as big as the data
_FINITE_PIECE = 2**20


def all_finite(array):
    """Whether every value of a float array is finite (no NaN, no infinity).

    ``np.isfinite(array).all()`` first makes a mask as big as the array: 154 MB for
    CIFAR-10's training images, and on a fresh process its pages alone cost more
    than a second. This checks a contiguous array a piece at a time instead, and any
    other through its smallest and largest values (a NaN anywhere makes both NaN,
    an infinity is one of them), so nothing array-sized is allocated.
    """
    if array.size == 0:
        return True
    if not (array.flags.c_contiguous or array.flags.f_contiguous):
        return bool(np.isfinite(array.min()) and np.isfinite(array.max()))
    flat = array.reshape(-1, order="A")                   # a view: the array is contiguous
    step = _FINITE_PIECE
    return all(np.isfinite(flat[i:i + step]).all() for i in range(0, flat.size, step))


def as_float_array(x, name, owner, dtype=np.float32):
    """Convert user data to a finite float array, with clear errors.

    A ``np.matrix`` becomes a plain array; a masked array is refused (its mask
    would be silently dropped).

    Raises
    ------
    TypeError
        For non-numeric data (strings, objects) and masked arrays.
    ValueError
        For scalars, empty arrays, NaN or infinity, and numbers beyond the range of ``dtype``.
    """
    if isinstance(x, np.ma.MaskedArray):
        raise TypeError(
            f"{owner}: `{name}` is a masked array; convlearn would ignore its mask. Fill the masked values "
            f"first, e.g. {name} = {name}.filled(0), or drop those samples."
        )
    if type(x) is np.ndarray and x.dtype.kind in "biuf":
        arr = x
    else:
        try:
            arr = np.asarray(x)
            if type(arr) is not np.ndarray:               # np.matrix and other subclasses: a plain view
                arr = arr.view(np.ndarray)
        except (ValueError, TypeError) as exc:
            raise TypeError(
                f"{owner}: `{name}` must be a numeric array; could not convert it ({exc}). "
                "Pass a NumPy array of numbers, all rows the same length."
            ) from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(
            f"{owner}: `{name}` must be a numeric array (int or float); got dtype {arr.dtype}. "
            "Convert it first, e.g. np.asarray(x, dtype='float32')."
        )
    if arr.ndim == 0:
        raise ValueError(
            f"{owner}: `{name}` is a single number ({arr.item()!r}); it must be a batch of samples with the "
            f"batch axis first, e.g. np.array([[...]]) for one sample."
        )
    if arr.size == 0 or arr.shape[0] == 0:
        raise ValueError(f"{owner}: `{name}` is empty (shape {arr.shape}); pass at least one sample.")
    if arr.dtype.kind == "f" and not all_finite(arr):
        bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(
            f"{owner}: `{name}` contains {bad} NaN or infinite value(s). "
            "Clean the data first, e.g. x = np.nan_to_num(x), or drop those samples."
        )
    with np.errstate(over="ignore"):                      # checked just below, with a clear message
        out = arr.astype(dtype, copy=False)
    if out.dtype.kind == "f" and out is not arr and not all_finite(out):
        limit = np.finfo(out.dtype).max
        largest = float(np.max(np.abs(arr)))
        raise ValueError(
            f"{owner}: `{name}` holds numbers up to {largest:.3g}, beyond what {out.dtype} can hold "
            f"({limit:.3g}). Scale the data first (e.g. divide by its largest value)."
        )
    return out
