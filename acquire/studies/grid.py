"""Parameter grids: ``--vary`` specifications and their Cartesian product, with bounded sizes.

``KEY=START:STOP:STEP`` ranges are expanded in decimal arithmetic (no
floating-point accumulation), each range to at most :data:`MAX_RANGE_VALUES`
values, and a grid to at most ``max_points`` points (:data:`MAX_POINTS` by
default), counted before any point is built: a mistyped step or a product
of long ranges is a one-line error, not memory exhaustion.
"""

from __future__ import annotations

import itertools
import json
import math
from decimal import Decimal, InvalidOperation, Overflow, localcontext

from acquire.config import parse_value

#: Most values one range may expand to (a guard against a mistyped step).
MAX_RANGE_VALUES = 10_000
#: Default most points (or units) of one study (``--max-points`` raises it): a guard against a grid
#: whose product would exhaust memory.
MAX_POINTS = 100_000
#: The forms of --vary, for messages.
VARY_FORM = "KEY=START:STOP:STEP or KEY=v1,v2,... (e.g. amplifier.cmrr_db=60:140:20)"


def parse_vary(spec: str) -> tuple[str, list]:
    """Parse one ``--vary`` specification into ``(key, values)``.

    Parameters
    ----------
    spec : str
        ``KEY=START:STOP:STEP``: ``START, START+STEP, ...`` up to and
        including ``STOP`` when it lies on the grid; integers when all three
        are integers. ``KEY=v1,v2,...``: TOML literals or bare strings
        (``electrodes.imbalance=0,iec,100e3``); a single value is a one-point
        sweep.

    Returns
    -------
    key : str
    values : list

    Raises
    ------
    ValueError
        Missing ``=``, a range without three numeric parts, a zero step, a
        step pointing away from ``STOP`` (empty range), too many values,
        empty or repeated list items. Key names are checked against the
        configuration by :func:`point_config`.

    Notes
    -----
    Range values are computed in decimal arithmetic from the literals as
    written, ``START + i*STEP``, so ``0.1:0.3:0.1`` is exactly
    ``[0.1, 0.2, 0.3]``: no floating-point accumulation, and the end point is
    included exactly when it lies on the grid.
    """
    key, sep, raw = str(spec).partition("=")
    key, raw = key.strip(), raw.strip()
    if not sep or not key or not raw:
        raise ValueError(f"--vary expects {VARY_FORM}; got {spec!r}.")
    if ":" in raw and "," not in raw and raw[0] not in "[\"'":
        return key, _parse_range(key, raw)
    values = parse_value(f"[{raw}]")
    if not isinstance(values, list):
        values = [parse_value(item.strip()) for item in raw.split(",")]
    if any(v == "" for v in values):
        raise ValueError(f"--vary {key}: empty value in the list {raw!r}.")
    seen = [json.dumps(v, sort_keys=True) for v in values]
    if len(set(seen)) != len(seen):
        raise ValueError(f"--vary {key}: repeated value in the list {raw!r}.")
    return key, values


def _parse_range(key: str, raw: str) -> list:
    """Values of ``START:STOP:STEP`` (see :func:`parse_vary`)."""
    parts = [p.strip() for p in raw.split(":")]
    if len(parts) != 3:
        raise ValueError(f"--vary {key}: a range is START:STOP:STEP (three numbers); got {raw!r}"
                         f"{' (missing STEP)' if len(parts) == 2 else ''}.")
    try:
        start, stop, step = (Decimal(p) for p in parts)
    except InvalidOperation:
        raise ValueError(f"--vary {key}: START, STOP and STEP must be numbers; got {raw!r}.") from None
    if not all(d.is_finite() and math.isfinite(float(d)) for d in (start, stop, step)):
        raise ValueError(f"--vary {key}: START, STOP and STEP must be finite; got {raw!r}.")
    if step == 0:
        raise ValueError(f"--vary {key}: STEP must not be 0; got {raw!r}.")
    with localcontext() as ctx:  # 0:1e999999999:1 overflows to Infinity instead of raising
        ctx.traps[Overflow] = False
        span = (stop - start) / step
    if span < 0:
        raise ValueError(f"--vary {key}: empty range {raw!r}: a {'positive' if step > 0 else 'negative'} "
                         f"STEP cannot go from {start} to {stop}.")
    if span >= MAX_RANGE_VALUES:
        count = f"{int(span) + 1}" if span < 10 ** 30 else "over 1e30"
        raise ValueError(f"--vary {key}: range {raw!r} has {count} values; at most {MAX_RANGE_VALUES}.")
    n = int(span) + 1
    as_int = all(isinstance(parse_value(p), int) and not isinstance(parse_value(p), bool) for p in parts)
    return [int(start + i * step) if as_int else float(start + i * step) for i in range(n)]


def sweep_points(varies, max_points: int = MAX_POINTS) -> list[dict]:
    """The Cartesian product of ``[(key, values), ...]`` as override dicts, first key slowest.

    Raises
    ------
    ValueError
        No key, a key given twice, a key with no values, or more than
        ``max_points`` points (counted before any is built).
    """
    varies = list(varies)
    if not varies:
        raise ValueError(f"a sweep needs at least one --vary {VARY_FORM}.")
    keys = [k for k, _ in varies]
    for k, values in varies:
        if keys.count(k) > 1:
            raise ValueError(f"--vary {k} is given {keys.count(k)} times; give each key once "
                             f"(list all its values in one --vary).")
        if not values:
            raise ValueError(f"--vary {k} has no values.")
    check_count(math.prod(len(v) for _, v in varies), max_points, " x ".join(str(len(v)) for _, v in varies))
    return [dict(zip(keys, combo)) for combo in itertools.product(*(v for _, v in varies))]


def check_count(n: int, max_points: int, detail: str = "") -> None:
    """Refuse a study of ``n`` points (or units) above ``max_points``, naming the count and the option."""
    if isinstance(max_points, bool) or not isinstance(max_points, int) or max_points < 1:
        raise ValueError(f"--max-points must be an integer >= 1; got {max_points!r}.")
    if n > max_points:
        raise ValueError(f"the study has {n} points{f' ({detail})' if detail else ''}; at most {max_points} "
                         f"unless --max-points (max_points=) allows more.")
