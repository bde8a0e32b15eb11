"""Standard profiles: the limits and set-ups of one standard per TOML file, validated on load."""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from acquire._check import check_positive, suggest


#: Folder of the built-in standard profiles, one TOML file each.
STANDARDS_DIR = Path(__file__).with_name("standards")
#: The tests, in report order.
TESTS = ("cmr", "noise", "input_impedance", "frequency_response", "impulse", "gain", "offset")

_NUM, _NUMS, _INT, _STR, _BOOL, _LIMIT = "number", "list of numbers", "integer", "string", "bool", "limit"
_SETUP = {"source": _STR, "assumption": _BOOL}
_OPTIONAL = {"note", "fixture"}
#: Keys of each test section (all required except ``note``).
SCHEMA = {
    "cmr": {"cm_v_rms": _NUM, "mains_hz": _NUMS, "network_r_ohm": _NUM, "network_c_f": _NUM,
            "generator_c_f": _NUM, "node_c_f": _NUM,
            "offsets_v": _NUMS, "window_s": _NUM, "fixture": _STR, "limit_pv_v": _LIMIT},
    "noise": {"network_r_ohm": _NUM, "network_c_f": _NUM, "n_windows": _INT, "window_s": _NUM,
              "min_passing": _INT, "limit_pv_v": _LIMIT},
    "input_impedance": {"network_r_ohm": _NUM, "network_c_f": _NUM, "frequencies_hz": _NUMS,
                        "offsets_v": _NUMS, "amplitude_v": _NUM, "limit_drop": _LIMIT},
    "frequency_response": {"reference_hz": _NUM, "amplitude_v": _NUM, "points": "points"},
    "impulse": {"amplitude_v": _NUM, "width_s": _NUM, "gap_s": _NUM, "window_s": _NUM,
                "limit_slope_v_per_s": _LIMIT, "limit_displacement_v": _LIMIT},
    "gain": {"amplitude_v": _NUM, "f_hz": _NUM, "limit_error": _LIMIT},
    "offset": {"offsets_v": _NUMS, "amplitude_v": _NUM, "f_hz": _NUM, "limit_change": _LIMIT},
}
_LIMIT_KEYS = {"value": _NUM, "source": _STR, "assumption": _BOOL}
_POINT_KEYS = {"f_hz": _NUM, "min_ratio": _NUM, "max_ratio": _NUM, "source": _STR, "assumption": _BOOL}



@dataclass(frozen=True)
class Limit:
    """One limit of a standard profile, with its source.

    ``assumption`` is True where the reference facts mark the number
    unconfirmed or it was inferred; the report labels such rows.
    """

    value: float
    source: str
    assumption: bool
    note: str = ""


@dataclass(frozen=True)
class Standard:
    """A standard profile: name, title, and the set-up and limits of each test it defines.

    ``tests`` maps a test name (see :data:`TESTS`) to its section: set-up
    values, ``source``/``assumption``/``note`` of the set-up, :class:`Limit`
    objects under ``limit_*`` keys, and for ``frequency_response`` a list of
    ``points`` (dicts with ``f_hz``, ``min_ratio``, ``max_ratio``, ``source``,
    ``assumption``, ``note``).
    """

    name: str
    title: str
    path: Path
    tests: Mapping[str, Mapping[str, object]]


def standard_names() -> list[str]:
    """Names of the built-in standard profiles, sorted."""
    return sorted(p.stem for p in STANDARDS_DIR.glob("*.toml"))


def _typed(where: str, key: str, kind: str, value):
    """``value`` checked against ``kind``; ValueError naming ``where.key`` otherwise."""
    def bad():
        return ValueError(f"{where}.{key} must be a {kind}; got {value!r}.")

    is_num = isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == _NUM:
        if not is_num or not math.isfinite(value):
            raise bad()
        return float(value)
    if kind == _NUMS:
        if not isinstance(value, list) or not value:
            raise bad()
        return tuple(_typed(where, key, _NUM, v) for v in value)
    if kind == _INT:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{where}.{key} must be an integer >= 1; got {value!r}.")
        return value
    if kind == _STR:
        if not isinstance(value, str):
            raise bad()
        return value
    if kind == _BOOL:
        if not isinstance(value, bool):
            raise bad()
        return value
    if kind == _LIMIT:
        table = _table(f"{where}.{key}", value, _LIMIT_KEYS)
        return Limit(**table)
    if not isinstance(value, list) or not value:  # points
        raise ValueError(f"{where}.{key} must be a non-empty array of tables [[{where}.{key}]]; got {value!r}.")
    points = [_table(f"{where}.{key}[{i}]", p, _POINT_KEYS) for i, p in enumerate(value)]
    for i, p in enumerate(points):
        if not 0 <= p["min_ratio"] < p["max_ratio"]:
            raise ValueError(f"{where}.{key}[{i}] needs 0 <= min_ratio < max_ratio; got "
                             f"{p['min_ratio']!r}, {p['max_ratio']!r}.")
        check_positive(f"{where}.{key}[{i}].f_hz", p["f_hz"])
    return points


def _table(where: str, table, keys: Mapping[str, str]) -> dict:
    """A TOML table checked against ``keys`` (all required) plus the optional keys."""
    if not isinstance(table, Mapping):
        raise ValueError(f"{where} must be a table; got {table!r}.")
    allowed = set(keys) | _OPTIONAL
    for key in table:
        if key not in allowed:
            raise ValueError(f"unknown key {where}.{key}; allowed: {', '.join(sorted(allowed))}."
                             f"{suggest(key, allowed)}")
    missing = [k for k in keys if k not in table]
    if missing:
        raise ValueError(f"{where} is missing {', '.join(missing)}.")
    out = {k: _typed(where, k, kind, table[k]) for k, kind in keys.items()}
    out.update({k: _typed(where, k, _STR, table[k]) for k in _OPTIONAL if k in table})
    out.setdefault("note", "")
    return out


def _parse_standard(data: dict, path: Path) -> Standard:
    where = path.name
    for key in data:
        if key not in ("name", "title", *TESTS):
            raise ValueError(f"{where}: unknown key or test {key!r}; allowed: name, title, "
                             f"{', '.join(TESTS)}.{suggest(key, TESTS)}")
    tests = {name: _table(f"{where}: [{name}]", data[name], {**SCHEMA[name], **_SETUP})
             for name in TESTS if name in data}
    if not tests:
        raise ValueError(f"{where} defines no test; give at least one of {', '.join(TESTS)}.")
    for name, section in tests.items():
        for key, value in section.items():
            if key.endswith(("_v_rms", "_ohm", "_hz", "_s", "amplitude_v")) and not key.startswith("limit"):
                for v in np.atleast_1d(value):
                    check_positive(f"{where}: [{name}] {key}", v)
    return Standard(name=str(data.get("name", path.stem)), title=str(data.get("title", path.stem)),
                    path=path, tests=tests)


def load_standard(name: str | Path) -> Standard:
    """A standard profile by built-in name, or from a TOML file path.

    Parameters
    ----------
    name : str or Path
        One of :func:`standard_names` (``iec60601-2-27``, ``iec60601-2-25``,
        ``aami-ec11``, ``aami-ec13``; case-insensitive), or the path of a
        ``.toml`` file with the same layout (copy a built-in file and edit
        it to correct or extend a limit; a test left out is not run).

    Raises
    ------
    ValueError
        Unknown name (with "did you mean"), unreadable file, invalid TOML,
        unknown or missing keys, wrong types.
    """
    text = str(name)
    path = Path(text)
    if path.suffix.lower() != ".toml":
        key = text.strip().lower()
        names = standard_names()
        if key not in names:
            raise ValueError(f"standard must be one of {', '.join(names)} or a .toml file path; "
                             f"got {text!r}.{suggest(key, names)}")
        path = STANDARDS_DIR / f"{key}.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"cannot read standard file {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"standard file {path} is not valid TOML: {exc}") from None
    return _parse_standard(data, path)
