"""The run configuration: one TOML document describes the whole chain.

Sections follow the signal path: ``[source]``, ``[run]``, ``[mains]``,
``[body]``, ``[electrodes]``, ``[amplifier]``, ``[post]``, ``[adc]`` and an
array of tables ``[[digital]]``. A configuration is a plain nested dict; this
module loads it, merges it over the defaults, applies ``dotted.key=value``
overrides, checks the key names (with "did you mean") and writes it back as
TOML. The physical validation happens when the chain is built
(:func:`acquire.frontend.build_frontend`), by the parameter dataclasses.
"""

from __future__ import annotations

import copy
import math
import tomllib
from pathlib import Path

from acquire._check import suggest
from acquire.config_types import check_types
from frontend_models.presets import MODEL_KEYS

#: Defaults: a diagnostic-band front end on a 60 Hz grid, patient floating at
#: a realistic body common-mode voltage (120 V mains, 3 pF to mains, 300 pF to
#: ground: 1.19 V rms, facts.md 2.1), the standards' 51 kOhm || 47 nF
#: imbalance, a classic in-amp, a 24-bit 500 SPS converter.
DEFAULTS: dict = {
    "source": {"name": "synthetic", "channels": [], "start_s": 0.0, "duration_s": 60.0,
               "heart_rate_bpm": 72.0, "seed": 0},
    "run": {"fs_sim_hz": 8000.0, "chunk_s": 2.0, "seed": 0, "settle_s": "auto",
            "score_exclude_s": "auto", "start": "steady"},
    "mains": {"frequency_hz": 60.0},
    "body": {"mode": "displacement", "grounded": False},
    "electrodes": {"imbalance": "iec", "offset_v": 0.0},
    "amplifier": {"preset": "ina128"},
    "post": {},
    "adc": {},
    "digital": [
        {"kind": "highpass", "corner_hz": 0.05, "order": 1},
        {"kind": "notch", "f0_hz": 60.0, "harmonics": [1, 2], "q": 30.0},
        {"kind": "lowpass", "cutoff_hz": 150.0},
    ],
}

#: Keys allowed in each section beyond those in DEFAULTS (optional: absent means the
#: preset's value or the builder's default, e.g. acquire.frontend.POST_DEFAULTS).
OPTIONAL_KEYS: dict[str, set[str]] = {
    "source": {"record_dir"},
    "run": set(),
    "mains": {"mains_v_rms", "offset_hz", "drift_hz_rms", "drift_tau_s", "harmonic_ratios", "harmonic_phases_rad",
              "am_depth", "am_hz"},
    "body": {"cm_v_rms", "c_body_mains_f", "c_body_ground_f", "z_ref_ohm", "drl_loop_gain",
             "drl_bandwidth_hz", "drl_kind", "drl_unity_hz", "drl_current_limit_a", "c_iso_f",
             "loop_area_m2", "flux_density_t"},
    "electrodes": {"r_s_ohm", "r_d_ohm", "c_d_f", "noise_v_rms", "offset_drift_v_per_rts", "imbalance_lead",
                   "cable_c_f", "cable_c_mismatch"},
    "amplifier": {*MODEL_KEYS, "gain_v_per_v", "cmrr_db", "bandwidth_hz", "gbw_hz", "noise_v_per_rthz",
                  "noise_corner_hz", "current_noise_a_per_rthz", "bias_current_a", "offset_v",
                  "offset_current_a", "output_swing_v", "cmrr_corner_hz", "cmrr_hf_point",
                  "input_cm_range_v", "dc_block_hz", "z_cm_r_ohm", "z_cm_c_f", "z_cm_mismatch",
                  "cmrr_polarity"},
    "post": {"ac_coupling_hz", "ac_coupling_order", "gain2_v_per_v", "aa_hz", "aa_order", "aa_kind"},
    "adc": {"n_bits", "vref_v", "pga_gain_v_per_v", "fs_adc_hz", "noise_v_rms"},
}


class ConfigError(ValueError):
    """A configuration that cannot be read or has an unknown or malformed key."""


def default_config() -> dict:
    """A fresh copy of the defaults."""
    return copy.deepcopy(DEFAULTS)


def load_config(path: str | Path | None = None, overrides: list[str] = ()) -> dict:
    """Read a TOML config (or none), merge it over the defaults, apply overrides.

    Parameters
    ----------
    path : path or None
        TOML file; None uses the defaults alone.
    overrides : list of str
        ``"section.key=value"`` strings; values are TOML literals (``1e-3``,
        ``true``, ``[1, 2]``) or bare strings (``ina128``).

    Raises
    ------
    ConfigError
        Unreadable file, invalid TOML, unknown section or key.
    """
    cfg = default_config()
    if path is not None:
        path = Path(path)
        if path.exists() and not path.is_file():
            raise ConfigError(f"config {path} is not a regular file (a directory, FIFO or device); "
                              f"give a TOML file.")
        try:
            user = tomllib.loads(path.read_text())
        except OSError as exc:
            raise ConfigError(f"cannot read config {path}: {exc.strerror or exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config {path} is not valid TOML: {exc}") from None
        merge(cfg, user)
    for item in overrides:
        set_dotted(cfg, item)
    check_keys(cfg)
    return cfg


def merge(cfg: dict, user: dict) -> None:
    """Merge ``user`` into ``cfg`` in place; ``[[digital]]`` replaces the default list."""
    for section, value in user.items():
        if section not in DEFAULTS:
            raise ConfigError(f"unknown config section [{section}]; sections are "
                              f"{', '.join(DEFAULTS)}.{suggest(section, DEFAULTS)}")
        if section == "digital":
            if not isinstance(value, list):
                raise ConfigError("[[digital]] must be an array of tables, one per stage.")
            cfg["digital"] = copy.deepcopy(value)
        elif not isinstance(value, dict):
            raise ConfigError(f"[{section}] must be a table; got {value!r}.")
        else:
            if section == "amplifier" and set(MODEL_KEYS) & set(value):
                cfg["amplifier"] = {}
            cfg[section].update(copy.deepcopy(value))


def parse_value(text: str):
    """A TOML literal (number, bool, array, quoted string) or else the bare string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def set_dotted(cfg: dict, item: str) -> None:
    """Apply one ``section.key=value`` (or ``digital.N.key=value``) override string in place."""
    key, sep, raw = item.partition("=")
    if not sep:
        raise ConfigError(f"--set expects section.key=value (e.g. amplifier.cmrr_db=100); got {item!r}.")
    set_value(cfg, key.strip(), parse_value(raw.strip()))


def set_value(cfg: dict, key: str, value) -> None:
    """Set the dotted ``key`` (``section.key`` or ``digital.N.key``) of ``cfg`` to ``value`` in place.

    Setting a model key (``amplifier.preset``, ``file``, ...) starts the amplifier
    table afresh, so a preset's values never mix with another's overrides.
    """
    parts = key.split(".")
    if len(parts) < 2 or not all(parts):
        raise ConfigError(f"a config key is section.key (e.g. amplifier.cmrr_db); got {key!r}.")
    if parts[0] == "digital":
        if len(parts) != 3 or not parts[1].isdigit() or int(parts[1]) >= len(cfg["digital"]):
            raise ConfigError(f"digital keys are digital.<index>.<key> with index 0.."
                              f"{len(cfg['digital']) - 1}; got {key!r}.")
        cfg["digital"][int(parts[1])][parts[2]] = value
        return
    if len(parts) != 2:
        raise ConfigError(f"a config key is section.key; got {key!r}.")
    section, name = parts
    if section not in DEFAULTS:
        raise ConfigError(f"unknown config section {section!r} in {key!r}.{suggest(section, DEFAULTS)}")
    if section == "amplifier" and name in MODEL_KEYS:
        cfg["amplifier"] = {}
    cfg[section][name] = value


def resolve_config(config=None, *, sets=(), values=None) -> dict:
    """The one resolution of a run's configuration, used by the CLI and the Python API alike.

    Parameters
    ----------
    config : path, dict or None
        A TOML file or a nested dict (sections as in the TOML file) merged
        over :data:`DEFAULTS`.
    sets : sequence of str
        ``"section.key=value"`` overrides (``--set``), values as TOML literals.
    values : dict, optional
        ``{"section.key": value}`` typed overrides, applied last (the CLI's
        shortcut options and the API's ``section__key=value`` arguments).

    Returns
    -------
    dict
        The checked configuration. When the ``[[digital]]`` list is the
        default one, its mains-tuned stages follow ``mains.frequency_hz``
        (a user's own list is kept as written); without a ``mains_v_rms``
        the grid's nominal voltage is filled in (230 V at 50 Hz, 120 V at 60 Hz).
    """
    if isinstance(config, dict):
        cfg = default_config()
        merge(cfg, config)
        check_keys(cfg)
    else:
        cfg = load_config(config)
    for item in sets:
        set_dotted(cfg, item)
    for key, value in (values or {}).items():
        set_value(cfg, key, value)
    check_keys(cfg)
    check_types(cfg)
    _track_mains(cfg)
    _nominal_mains_voltage(cfg)
    return cfg


def _nominal_mains_voltage(cfg: dict) -> None:
    """A grid's nominal voltage unless one is given: 230 V on 50 Hz, 120 V on 60 Hz (``--mains-hz 50`` is Europe)."""
    from acquire.analog.mains import NOMINAL_V_RMS

    f = cfg["mains"]["frequency_hz"]
    if "mains_v_rms" not in cfg["mains"] and isinstance(f, (int, float)) and float(f) in NOMINAL_V_RMS:
        cfg["mains"]["mains_v_rms"] = NOMINAL_V_RMS[float(f)]


def _track_mains(cfg: dict) -> None:
    """Retune the default digital stages' mains frequency to the configured mains."""
    if cfg["digital"] != DEFAULTS["digital"]:
        return
    f = float(cfg["mains"]["frequency_hz"])
    for spec in cfg["digital"]:
        for key in ("f0_hz", "mains_hz"):
            if key in spec and float(spec[key]) in (50.0, 60.0):
                spec[key] = f


def allowed_keys(section: str) -> set[str]:
    """The key names a section accepts."""
    return set(DEFAULTS[section]) | OPTIONAL_KEYS[section]


def check_keys(cfg: dict) -> None:
    """Raise ConfigError naming the first unknown key, with a suggestion."""
    for section, table in cfg.items():
        if section == "digital":
            continue
        allowed = allowed_keys(section)
        for name in table:
            if name not in allowed:
                raise ConfigError(f"unknown key {section}.{name}; allowed: "
                                  f"{', '.join(sorted(allowed))}.{suggest(name, allowed)}")


def to_toml(cfg: dict) -> str:
    """Serialise a configuration as TOML (tables, then the [[digital]] array)."""
    lines = []
    for section, table in cfg.items():
        if section == "digital":
            continue
        lines.append(f"[{section}]")
        lines += [f"{k} = {toml_value(v)}" for k, v in table.items() if v is not None]
        lines.append("")
    for stage in cfg.get("digital", []):
        lines.append("[[digital]]")
        lines += [f"{k} = {toml_value(v)}" for k, v in stage.items() if v is not None]
        lines.append("")
    return "\n".join(lines)


def toml_value(v) -> str:
    """One value as a TOML literal."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f'"{k}" = {toml_value(x)}' for k, x in v.items()) + " }"
    raise ConfigError(f"cannot write {v!r} ({type(v).__name__}) to TOML.")
