"""Target tensors given by users: arrays, ``.npy`` files and a plain text format, checked.

The text format: a first line ``I J K``, then the I*J*K integer entries in C order (the
last index fastest), separated by spaces or newlines; ``#`` starts a comment.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

_INT32_MAX = 2**31 - 1


def load_target(target, field: str) -> np.ndarray:
    """A nonzero 3-way integer tensor from an array (nested lists) or a ``.npy`` or text file.

    Args:
      target: an array-like, or a path (str or os.PathLike) to a ``.npy`` or text file.
      field: "z2" (entries are taken mod 2, as ``gamify verify --field z2`` takes a
        scheme's: :func:`outside_z2` tells whether any was not 0 or 1) or "z" (entries must
        fit in int32).

    Returns:
      int64[I, J, K].

    Raises:
      ValueError: one line saying what is wrong (missing file, bad text, wrong entries, zero).
    """
    return _checked(_read_target(target), field)


def _read_target(target) -> np.ndarray:
    if isinstance(target, (str, os.PathLike)):
        path = Path(target).expanduser()
        if not path.is_file():
            raise ValueError(f"target file not found: {path}")
        if path.suffix == ".npy":
            try:
                return np.load(path, allow_pickle=False)
            except (ValueError, OSError, EOFError) as error:
                raise ValueError(f"cannot read {path} as .npy: {error}") from None
        return _read_text(path)
    try:
        return np.asarray(target)
    except ValueError:
        raise ValueError("target must be a rectangular 3-way array of integers") from None


def _read_text(path: Path) -> np.ndarray:
    """The text format: a line 'I J K', then I*J*K integers in C order; '#' starts a comment."""
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"cannot read {path}: {error}") from None
    words = [line.split("#")[0].split() for line in lines]
    numbered = [(number, line) for number, line in enumerate(words, 1) if line]
    if not numbered:
        raise ValueError(f"{path} is empty (expected a line 'I J K', then the entries)")
    number, header = numbered[0]
    if len(header) != 3 or not all(word.isdigit() and int(word) > 0 for word in header):
        raise ValueError(f"{path} line {number}: expected 'I J K', got {' '.join(header)!r}")
    shape = tuple(int(word) for word in header)
    entries = [word for _, line in numbered[1:] for word in line]
    if len(entries) != math.prod(shape):
        raise ValueError(f"{path}: shape {shape} needs {math.prod(shape)} entries, found {len(entries)}")
    try:
        return np.asarray([int(word) for word in entries], np.int64).reshape(shape)
    except (ValueError, OverflowError) as error:
        raise ValueError(f"{path}: an entry is not an integer ({error})") from None


def outside_z2(target) -> bool:
    """Whether a target (as :func:`load_target` takes it) has entries other than 0 and 1,
    which over z2 are taken mod 2."""
    return not np.isin(_read_target(target), (0, 1)).all()


def _checked(array: np.ndarray, field: str) -> np.ndarray:
    if array.ndim != 3 or 0 in array.shape:
        raise ValueError(f"target must be a nonempty 3-way array, got shape {array.shape}")
    if array.dtype == np.bool_:
        array = array.astype(np.int64)
    if (
        np.issubdtype(array.dtype, np.floating)
        and np.all(np.isfinite(array))
        and np.all(array == np.round(array))
    ):
        array = array.astype(np.int64)  # e.g. a .npy saved as float with whole numbers
    if not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"target entries must be integers, got {array.dtype}")
    if field == "z" and np.abs(array).max() > _INT32_MAX:
        raise ValueError("target entries must fit in int32")
    if field == "z2":
        array = array % 2
    if not array.any():
        raise ValueError("target is zero" + (" mod 2" if field == "z2" else "") + " (nothing to decompose)")
    return array.astype(np.int64)
