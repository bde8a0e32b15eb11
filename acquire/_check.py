"""Validation helpers and the project's warning class.

Every error names the parameter, what is allowed and what was received,
with "did you mean" for names (after MNE-Python's ``_check_option`` and
scikit-learn's parameter constraints).
"""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Iterable


class FrontendWarning(UserWarning):
    """Warning raised by ecgfe for questionable but legal settings."""


def suggest(name: str, choices: Iterable[str]) -> str:
    """Return ``" Did you mean 'x'?"`` for the closest choice, or ``""``."""
    hint = difflib.get_close_matches(str(name), list(choices), n=1, cutoff=0.5)
    return f" Did you mean {hint[0]!r}?" if hint else ""


def check_option(param: str, value: str, allowed: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``allowed``, else raise ValueError with a hint."""
    allowed = list(allowed)
    if value not in allowed:
        raise ValueError(
            f"{param} must be one of {', '.join(map(repr, sorted(allowed)))}; "
            f"got {value!r}.{suggest(value, allowed)}"
        )
    return value


def check_positive(param: str, value: float, *, allow_zero: bool = False) -> float:
    """Return ``float(value)`` if a finite real number > 0 (or >= 0), else raise ValueError (never TypeError)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{param} must be a number; got {value!r}.")
    v = float(value)
    ok = math.isfinite(v) and (v >= 0 if allow_zero else v > 0)
    if not ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{param} must be finite and {bound}; got {value!r}.")
    return v


def check_below_nyquist(param: str, freq_hz: float, fs_hz: float) -> float:
    """Return ``freq_hz`` if 0 < freq_hz < fs_hz/2, else raise ValueError naming the fix."""
    f = check_positive(param, freq_hz)
    if not f < fs_hz / 2:
        raise ValueError(
            f"{param}={f:g} Hz is at or above Nyquist (fs_hz/2 = {fs_hz / 2:g} Hz); "
            f"lower it or raise the sampling rate."
        )
    return f
