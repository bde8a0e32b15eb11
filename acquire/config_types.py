"""The type and physical range of every configuration key, checked before anything is built.

A value of the wrong type is an error, never coerced: ``cmrr_db = true``,
``run.seed = 1.5`` and ``channels = [true]`` are refused, as is a number
outside the range a physical front end can have (a gain of 1e300, an
imbalance of 1e300 ohms). Each message names the key, what is allowed and
what was received.
"""

from __future__ import annotations

import math

NUMBER, INT, BOOL, STR, TABLE = "a number", "an integer", "true or false", "a string", "a table"
NUMBERS, CHANNELS = "a list of numbers", "a list of channel names or indices"

#: Allowed kinds per key (a key not listed is a number).
KINDS: dict[str, dict[str, tuple[str, ...]]] = {
    "source": {"name": (STR,), "channels": (CHANNELS,), "seed": (INT,), "record_dir": (STR,)},
    "run": {"seed": (INT,), "settle_s": (NUMBER, STR), "score_exclude_s": (NUMBER, STR), "start": (STR,)},
    "mains": {"harmonic_ratios": (TABLE,), "harmonic_phases_rad": (TABLE,)},
    "body": {"mode": (STR,), "grounded": (BOOL,), "drl_kind": (STR,)},
    "electrodes": {"imbalance": (NUMBER, STR, TABLE), "offset_v": (NUMBER, NUMBERS), "imbalance_lead": (STR,)},
    "amplifier": {"preset": (STR,), "file": (STR,), "design": (STR, TABLE), "cmrr_polarity": (NUMBER, STR),
                  "cmrr_hf_point": (NUMBERS,), "input_cm_range_v": (NUMBERS,)},
    "post": {"aa_kind": (STR,), "ac_coupling_order": (INT,), "aa_order": (INT,)},
    "adc": {"n_bits": (INT,)},
}

#: Physical ranges (inclusive) of numeric keys: what a real front end can have.
RANGES: dict[str, tuple[float, float]] = {
    "source.start_s": (0.0, 1e7), "source.duration_s": (0.0, 1e7), "source.heart_rate_bpm": (10.0, 400.0),
    "run.fs_sim_hz": (1.0, 1e7), "run.chunk_s": (1e-4, 3600.0),
    "mains.frequency_hz": (1.0, 1e3), "mains.mains_v_rms": (0.0, 1e4),
    "body.cm_v_rms": (0.0, 1e3), "body.c_body_mains_f": (0.0, 1e-6), "body.c_body_ground_f": (0.0, 1e-6),
    "body.z_ref_ohm": (0.0, 1e12), "body.drl_loop_gain": (0.0, 1e9), "body.c_iso_f": (0.0, 1e-3),
    "electrodes.imbalance": (0.0, 1e9), "electrodes.r_s_ohm": (0.0, 1e9), "electrodes.r_d_ohm": (0.0, 1e12),
    "electrodes.c_d_f": (0.0, 1.0), "electrodes.cable_c_f": (0.0, 1e-6),
    "amplifier.gain_v_per_v": (1e-3, 1e6), "amplifier.cmrr_db": (0.0, 300.0),
    "amplifier.bandwidth_hz": (1e-3, 1e10), "amplifier.gbw_hz": (1e-3, 1e12),
    "amplifier.z_cm_r_ohm": (1.0, math.inf), "amplifier.z_cm_c_f": (0.0, 1e-6),
    "amplifier.noise_corner_hz": (0.0, 1e6),  # a 1/f corner; above 1 MHz it is no longer a corner of an ECG part
    "post.gain2_v_per_v": (1e-3, 1e6), "post.aa_hz": (0.0, 1e7), "post.ac_coupling_hz": (0.0, 1e3),
    "post.aa_order": (1, 10), "post.ac_coupling_order": (1, 10),  # 0 Hz: no such stage; orders: post.MAX_ORDER
    "adc.n_bits": (1, 32), "adc.vref_v": (1e-6, 1e3),
    "adc.pga_gain_v_per_v": (1e-3, 1e4), "adc.fs_adc_hz": (1.0, 1e7),
}
#: Keys where 0 means "none" and any other value must be at least this large: a time constant or
#: corner many decades beyond the simulation's band (e.g. 1e-308 ohm) is not a component, and its
#: pole (1/(R C) ~ 1e300 rad/s) overflows the circuit solution.
ZERO_OR_AT_LEAST = {"electrodes.r_d_ohm": 1e-3, "electrodes.c_d_f": 1e-15, "electrodes.cable_c_f": 1e-18,
                    "amplifier.z_cm_c_f": 1e-18, "amplifier.dc_block_hz": 1e-6}
#: Keys that are pairs of numbers: (f_hz, cmrr_db) and (low_v, high_v).
PAIRS = ("amplifier.cmrr_hf_point", "amplifier.input_cm_range_v")
#: Seeds: the unsigned 32-bit integers (any of them seeds numpy's generators, and a run is reproducible
#: from the number alone).
SEED_RANGE = (0, 2**32 - 1)
SEED_KEYS = ("source.seed", "run.seed")


def kind_of(value) -> str | None:
    """The configuration kind of ``value`` (bool is never a number)."""
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, int):
        return INT
    if isinstance(value, float):
        return NUMBER
    if isinstance(value, str):
        return STR
    if isinstance(value, dict):
        return TABLE
    if isinstance(value, (list, tuple)):
        if all(kind_of(v) in (NUMBER, INT) for v in value):
            return NUMBERS
        if all(kind_of(v) in (STR, INT) for v in value):
            return CHANNELS
    return None


def check_value(key: str, value) -> None:
    """Raise ValueError when ``value`` is not of a kind ``key`` allows or lies outside its physical range."""
    section, _, name = key.partition(".")
    allowed = KINDS.get(section, {}).get(name, (NUMBER,))
    kind = kind_of(value)
    ok = kind in allowed or (kind == INT and NUMBER in allowed) or (kind == NUMBERS and CHANNELS in allowed)
    if not ok:
        raise ValueError(f"{key} must be {' or '.join(allowed)}; got {value!r} ({kind or type(value).__name__}).")
    if key in PAIRS and len(value) != 2:
        raise ValueError(f"{key} must be a pair of numbers [a, b]; got {value!r}.")
    if kind == NUMBER and math.isnan(value):
        raise ValueError(f"{key} must be a number, not NaN; got {value!r}.")
    if kind == INT and key in SEED_KEYS and not SEED_RANGE[0] <= value <= SEED_RANGE[1]:
        raise ValueError(f"{key} must be an integer from {SEED_RANGE[0]} to {SEED_RANGE[1]}; got {value!r}.")
    if kind in (NUMBER, INT) and key in RANGES:
        lo, hi = RANGES[key]
        if not (lo <= value <= hi):
            raise ValueError(f"{key}={value!r} is outside the physical range {lo:g} to {hi:g}.")
    floor = ZERO_OR_AT_LEAST.get(key)
    if kind in (NUMBER, INT) and floor is not None and value != 0 and value < floor:
        raise ValueError(f"{key}={value!r} is neither 0 (none) nor at least {floor:g}.")
    if key == "source.channels":
        check_unique_channels(value)


def check_unique_channels(channels) -> None:
    """Raise ValueError when a channel name or index is listed twice (``--channel MLII --channel MLII``)."""
    seen = set()
    for c in channels:
        if c in seen:
            raise ValueError(f"source.channels lists {c!r} twice; name each channel once; "
                             f"got {list(channels)!r}.")
        seen.add(c)


def check_types(cfg: dict) -> None:
    """Check every key of every section (the ``[[digital]]`` stages are checked by their builders)."""
    for section, table in cfg.items():
        if section == "digital":
            if not isinstance(table, list) or not all(isinstance(s, dict) for s in table):
                raise ValueError("[[digital]] must be an array of tables, one per stage.")
            continue
        for name, value in table.items():
            check_value(f"{section}.{name}", value)
