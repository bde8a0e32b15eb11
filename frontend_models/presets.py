"""Datasheet presets: real parts' numbers, each with its source, as amplifier parameters.

The numbers live in ``presets.toml`` beside this module (see its header for
the layout); users can write their own part in the same format and load it
with :func:`load_user_preset`.
"""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

from acquire._check import check_option, check_positive, suggest
from acquire.analog.impedance import ParallelRC
from frontend_models.inamp import InAmpParams

PRESETS_PATH = Path(__file__).with_name("presets.toml")

KINDS = ("inamp", "hr_afe", "ecg_afe")
TOP_KEYS = ("kind", "description", "amp", "adc", "post", "sources", "limits", "assumptions")
#: [amp] keys passed to InAmpParams unchanged.
AMP_DIRECT = ("gain_v_per_v", "cmrr_db", "cmrr_hf_point", "cmrr_corner_hz", "bandwidth_hz", "gbw_hz",
              "noise_v_per_rthz", "noise_corner_hz", "current_noise_a_per_rthz", "bias_current_a",
              "offset_current_a", "offset_v", "output_swing_v", "input_cm_range_v", "dc_block_hz")
#: [amp] keys that depend on the gain or build an InAmpParams field.
AMP_DERIVED = ("cmrr_db_by_gain", "cmrr_hf_hz", "cmrr_hf_db_by_gain", "bandwidth_hz_by_gain",
               "output_noise_v_per_rthz", "output_offset_v", "z_cm_r_ohm", "z_cm_c_f",
               "z_diff_r_ohm", "z_diff_c_f")
AMP_PAIRS = ("cmrr_hf_point", "input_cm_range_v")
ADC_KEYS = ("n_bits", "vref_v", "pga_gain_v_per_v", "fs_adc_hz", "noise_v_rms")
POST_KEYS = ("hp_hz", "hp_order", "gain2_v_per_v", "lp_hz", "lp_order")
INT_KEYS = ("n_bits", "hp_order", "lp_order")
LIMITS = ("min", "max")


@dataclass(frozen=True)
class Preset:
    """A part's model: amplifier parameters at its default gain, tables, ADC and post stage.

    Attributes
    ----------
    name, kind, description : str
        ``kind`` is "inamp", "hr_afe" (AD8232-style: in-amp + gain/filter
        stage), "ecg_afe" (delta-sigma AFE: unity-gain input model; the
        PGA gain and total noise are in ``adc``) or "diffpair" (a designed
        stage, :func:`designed_preset`).
    amp : InAmpParams
        The amplifier at ``amp_fields["gain_v_per_v"]``.
    amp_fields : dict
        The raw ``[amp]`` table (gain tables keyed by float gain), for
        :func:`amp_params_for_gain`.
    adc, post : dict or None
        ``[adc]`` (n_bits, vref_v, pga_gain_v_per_v, fs_adc_hz, noise_v_rms)
        and ``[post]`` (hp_hz, hp_order, gain2_v_per_v, lp_hz, lp_order).
    sources, limits, assumptions : dict
        Field name -> source string; -> "min"/"max" (typical otherwise);
        -> why the value was assumed or derived.
    """

    name: str
    kind: str
    description: str
    amp: InAmpParams
    amp_fields: dict
    adc: dict | None = None
    post: dict | None = None
    sources: dict = field(default_factory=dict)
    limits: dict = field(default_factory=dict)
    assumptions: dict = field(default_factory=dict)

    @property
    def tables(self) -> dict:
        """The gain tables (``*_by_gain``) of ``amp_fields``."""
        return {k: v for k, v in self.amp_fields.items() if k.endswith("_by_gain")}


def _interp_log_gain(table: dict, gain: float, *, log_value: bool, gbw_above: bool = False) -> float:
    """Interpolate ``table`` (gain -> value) linearly in log10(gain).

    Values are interpolated linearly (dB quantities) or in log10 (``log_value``,
    bandwidths). Outside the table the end values are held, except above the
    highest gain when ``gbw_above``: there value * gain is held (constant
    gain-bandwidth product, facts.md section 4).
    """
    gains = np.array(sorted(table))
    values = np.array([table[g] for g in gains], dtype=float)
    if gbw_above and gain > gains[-1]:
        return float(values[-1] * gains[-1] / gain)
    y = np.log10(values) if log_value else values
    out = float(np.interp(math.log10(gain), np.log10(gains), y))
    return 10 ** out if log_value else out


def amp_params_for_gain(preset: Preset, gain_v_per_v: float) -> InAmpParams:
    """The preset's amplifier at another gain.

    Parameters
    ----------
    preset : Preset
    gain_v_per_v : float

    Returns
    -------
    InAmpParams

    Notes
    -----
    ``cmrr_db_by_gain`` and ``cmrr_hf_db_by_gain`` are interpolated linearly
    in dB against log10(gain) and held beyond the table (datasheet CMRR
    plateaus at high gain, e.g. INA826 and INA128 G=100 vs 1000);
    ``bandwidth_hz_by_gain`` linearly in log10(bandwidth) against
    log10(gain), held below the table and continued with a constant
    gain-bandwidth product above it. Output-stage terms are referred to the
    input: e_n = sqrt(e_ni^2 + (e_no/G)^2) (INA826 datasheet, facts.md 3) and
    V_os = V_os,in + V_os,out/G (INA128 form).
    """
    return _amp_from_fields(preset.amp_fields, gain_v_per_v)


def _amp_from_fields(f: dict, gain_v_per_v: float) -> InAmpParams:
    gain = check_positive("gain_v_per_v", gain_v_per_v)
    kw = {k: f[k] for k in AMP_DIRECT if k in f}
    kw["gain_v_per_v"] = gain
    if "cmrr_db_by_gain" in f:
        kw["cmrr_db"] = _interp_log_gain(f["cmrr_db_by_gain"], gain, log_value=False)
    if "cmrr_hf_db_by_gain" in f:
        kw["cmrr_hf_point"] = (f["cmrr_hf_hz"], _interp_log_gain(f["cmrr_hf_db_by_gain"], gain, log_value=False))
    if "bandwidth_hz_by_gain" in f:
        kw["bandwidth_hz"] = _interp_log_gain(f["bandwidth_hz_by_gain"], gain, log_value=True, gbw_above=True)
    if "output_noise_v_per_rthz" in f:
        kw["noise_v_per_rthz"] = math.hypot(f.get("noise_v_per_rthz", 0.0), f["output_noise_v_per_rthz"] / gain)
    if "output_offset_v" in f:
        kw["offset_v"] = f.get("offset_v", 0.0) + f["output_offset_v"] / gain
    for name in ("z_cm", "z_diff"):
        if f"{name}_r_ohm" in f:
            kw[name] = ParallelRC(f[f"{name}_r_ohm"], f.get(f"{name}_c_f", 0.0))
    for key in AMP_PAIRS:
        if key in kw:
            kw[key] = tuple(kw[key])
    return InAmpParams(**kw)


def _where(origin: str, section: str, key: str) -> str:
    return f"{origin}: [{section}] {key}"


def _integer(origin: str, section: str, key: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{_where(origin, section, key)} must be an integer >= 1; got {value!r}.")
    return value


def _check_keys(origin: str, section: str, table: dict, allowed) -> None:
    for key in table:
        if key not in allowed:
            raise ValueError(f"{origin}: unknown key {key!r} in [{section}]; allowed keys are "
                             f"{', '.join(sorted(allowed))}.{suggest(key, allowed)}")


def _number(origin: str, section: str, key: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{_where(origin, section, key)} must be a number; got {value!r}.")
    return float(value)


def _parse_amp(origin: str, amp: dict) -> dict:
    _check_keys(origin, "amp", amp, AMP_DIRECT + AMP_DERIVED)
    out = {}
    for key, value in amp.items():
        if key.endswith("_by_gain"):
            if not isinstance(value, dict) or not value:
                raise ValueError(f"{_where(origin, 'amp', key)} must be a non-empty table gain = value; got {value!r}.")
            table = {}
            for g, v in value.items():
                try:
                    gain = float(g)
                except ValueError:
                    raise ValueError(f"{_where(origin, 'amp', key)}: gain keys must be numbers; got {g!r}.") from None
                check_positive(f"{key} gain", gain)
                table[gain] = _number(origin, "amp", key, v)
            out[key] = table
        elif key in AMP_PAIRS:
            if not isinstance(value, list) or len(value) != 2:
                raise ValueError(f"{_where(origin, 'amp', key)} must be a pair [a, b]; got {value!r}.")
            out[key] = tuple(_number(origin, "amp", key, v) for v in value)
        else:
            out[key] = _number(origin, "amp", key, value)
    if "gain_v_per_v" not in out:
        raise ValueError(f"{origin}: [amp] needs gain_v_per_v (the default gain).")
    if ("cmrr_hf_hz" in out) != ("cmrr_hf_db_by_gain" in out):
        raise ValueError(f"{origin}: [amp] cmrr_hf_hz and cmrr_hf_db_by_gain go together; got only one.")
    return out


def _parse_flat(origin: str, section: str, table: dict, allowed) -> dict:
    _check_keys(origin, section, table, allowed)
    missing = [k for k in allowed if k not in table]
    if missing:
        raise ValueError(f"{origin}: [{section}] is missing {', '.join(missing)}.")
    return {k: (_integer if k in INT_KEYS else _number)(origin, section, k, v) for k, v in table.items()}


def _build(name: str, spec: dict, origin: str) -> Preset:
    """Validate one preset's tables and build the Preset."""
    _check_keys(origin, name, spec, TOP_KEYS)
    kind = check_option(f"{origin}: kind", spec.get("kind", ""), KINDS)
    if "amp" not in spec:
        raise ValueError(f"{origin}: preset {name!r} has no [amp] table.")
    amp_fields = _parse_amp(origin, spec["amp"])
    adc = _parse_flat(origin, "adc", spec["adc"], ADC_KEYS) if "adc" in spec else None
    post = _parse_flat(origin, "post", spec["post"], POST_KEYS) if "post" in spec else None
    numeric = set(amp_fields) | set(adc or {}) | set(post or {})
    notes = {}
    for section in ("sources", "limits", "assumptions"):
        table = spec.get(section, {})
        _check_keys(origin, section, table, numeric)
        notes[section] = {k: str(v) for k, v in table.items()}
    for key, value in notes["limits"].items():
        check_option(f"{origin}: [limits] {key}", value, LIMITS)
    try:
        amp = _amp_from_fields(amp_fields, amp_fields["gain_v_per_v"])
    except (ValueError, TypeError) as err:
        raise ValueError(f"{origin}: preset {name!r}: {err}") from None
    return Preset(name=name, kind=kind, description=str(spec.get("description", "")), amp=amp,
                  amp_fields=amp_fields, adc=adc, post=post, **notes)


def _load_builtin() -> dict[str, Preset]:
    with open(PRESETS_PATH, "rb") as fh:
        data = tomllib.load(fh)
    return {name: _build(name, spec, PRESETS_PATH.name) for name, spec in data.items()}


_PRESETS = _load_builtin()


def preset_names() -> list[str]:
    """Names of the built-in presets, sorted."""
    return sorted(_PRESETS)


def get_preset(name: str) -> Preset:
    """A built-in preset by name (case-insensitive).

    Raises
    ------
    ValueError
        For an unknown name, listing the choices with a "did you mean".
    """
    key = str(name).lower()
    if key not in _PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose from {', '.join(preset_names())}."
                         f"{suggest(key, _PRESETS)}")
    return _PRESETS[key]


def load_user_preset(path: str | Path) -> Preset:
    """A preset from a user's TOML file with the built-in layout at top level.

    The file holds ``name`` (optional; defaults to the file stem), ``kind``,
    ``description`` and the tables ``[amp]``, ``[adc]``, ``[post]``,
    ``[sources]``, ``[limits]``, ``[assumptions]``. Unknown keys are refused
    with a "did you mean".
    """
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"{path}: not valid TOML: {err}") from None
    name = str(data.pop("name", path.stem)).lower()
    return _build(name, data, str(path))


def z_cm_basis(preset: Preset) -> str:
    """Where a model's common-mode input impedance comes from: "datasheet", or which part is assumed.

    The presets' ``[assumptions]`` name ``z_cm_r_ohm`` / ``z_cm_c_f`` when
    the value is not a datasheet's; the ranking of parts by effective CMRR
    depends mostly on this capacitance, so tables show it.
    """
    assumed = [label for key, label in (("z_cm_r_ohm", "R"), ("z_cm_c_f", "C"))
               if key in preset.assumptions or key not in preset.sources]
    return "datasheet" if not assumed else f"{' and '.join(assumed)} assumed"


def preset_table() -> list[dict]:
    """Key figures of every built-in preset at its default gain, for ``ecgfe presets``.

    Each row: name, kind, gain_v_per_v, cmrr_db_at_60_hz, bandwidth_hz,
    noise_v_per_rthz, adc_noise_v_rms (None without an ADC), z_cm_r_ohm,
    z_cm_c_f, z_cm_basis (:func:`z_cm_basis`), description, cmrr_source.
    """
    rows = []
    for name in preset_names():
        p = _PRESETS[name]
        cmrr_key = "cmrr_db_by_gain" if "cmrr_db_by_gain" in p.amp_fields else "cmrr_db"
        rows.append({
            "name": name,
            "kind": p.kind,
            "gain_v_per_v": p.amp.gain_v_per_v,
            "cmrr_db_at_60_hz": float(p.amp.cmrr_db_at(60.0)),
            "bandwidth_hz": p.amp.f_3db_hz,
            "noise_v_per_rthz": p.amp.noise_v_per_rthz,
            "adc_noise_v_rms": None if p.adc is None else p.adc["noise_v_rms"],
            "z_cm_r_ohm": p.amp.z_cm.r_ohm,
            "z_cm_c_f": p.amp.z_cm.c_f,
            "z_cm_basis": z_cm_basis(p),
            "description": p.description,
            "cmrr_source": p.sources.get(cmrr_key, ""),
        })
    return rows


#: ``[amplifier]`` keys that name the model; setting one starts the table afresh.
MODEL_KEYS = ("preset", "file", "design")
#: A preset name ``design:PATH`` (or ``design:{...}``, a TOML inline table) names a designed stage.
DESIGN_PREFIX = "design:"


def resolve_model(amp_cfg: dict) -> Preset:
    """The amplifier model an ``[amplifier]`` table names.

    A built-in ``preset`` (``"design:PATH"`` names a designed stage, as
    ``design`` does), a user ``file`` in the presets' format, or a
    ``design``: a differential pair (a TOML file path, a TOML inline-table
    string or a table) made a behavioural stage by :func:`designed_preset`.
    """
    named = [k for k in MODEL_KEYS if k in amp_cfg]
    if "design" in named and len(named) > 1:
        raise ValueError(f"[amplifier] names its model once: give one of {', '.join(MODEL_KEYS)}; "
                         f"got {', '.join(named)}.")
    if "design" in amp_cfg:
        return designed_preset(amp_cfg["design"])
    if "file" in amp_cfg:
        return load_user_preset(amp_cfg["file"])
    name = str(amp_cfg.get("preset", "ina128"))
    if name.lower().startswith(DESIGN_PREFIX):
        return designed_preset(name[len(DESIGN_PREFIX):], name=name)
    return get_preset(name)


def designed_preset(source, *, name: str | None = None) -> Preset:
    """A behavioural amplifier stage from a designed differential pair.

    Parameters
    ----------
    source : mapping, str or path-like
        The design, as for :func:`frontend_models.diffpair.load_design` (a
        TOML file, a TOML inline-table string or a table), with its ``load``
        given.
    name : str, optional
        The preset's name (the run's ``provenance.preset``); default
        ``"design:<path>"`` for a file, ``"design:<load>"`` for a table.

    Returns
    -------
    Preset
        ``kind="diffpair"``; ``amp`` has the gain, CMRR and -3 dB bandwidth of
        the worst-case design (:func:`~frontend_models.diffpair.design` with
        ``polarity="worst"``, then :func:`~frontend_models.diffpair.to_inamp_params`)
        and the generic defaults of :class:`InAmpParams` for everything the
        design does not give (noise, offsets, bias currents, Z_cm, swing,
        CMRR corner), each listed in ``assumptions`` (the phase of A_cm is
        ``amplifier.cmrr_polarity``'s, worst case by default).

    Raises
    ------
    ValueError
        One line: a design without ``load``, any design error, or an infinite
        CMRR (ideal tail and no mismatch): the behavioural amplifier needs a
        finite CMRR, so give ``r_tail_ohm`` or a mismatch fraction.
    """
    from frontend_models.diffpair import design, load_design, read_table, to_inamp_params

    if not isinstance(source, (str, os.PathLike, Mapping)):
        raise ValueError(f"[amplifier] design must be a TOML file path or a table of diff-pair keys; "
                         f"got {source!r}.")
    table = read_table(source)
    is_file = not isinstance(source, Mapping) and not str(source).lstrip().startswith("{")
    label = f"design {source}" if is_file else "design"
    if "load" not in table:
        raise ValueError(f"{label}: a designed amplifier stage needs its load (resistive, active or cascode); "
                         f"got the keys {', '.join(table) or 'none'}.")
    try:
        result = design(load_design(table), polarity="worst")
    except ValueError as err:
        raise ValueError(f"{label}: {err}") from None
    fields_ = to_inamp_params(result)
    if math.isinf(fields_["cmrr_db"]):
        raise ValueError(f"{label}: the designed stage has an infinite CMRR (ideal tail source, no mismatch) "
                         f"and the behavioural amplifier needs a finite one; give r_tail_ohm or a mismatch "
                         f"fraction.")
    try:
        amp = InAmpParams(**fields_)
    except ValueError as err:
        raise ValueError(f"{label}: the designed stage cannot be an amplifier: {err}") from None
    inputs = ", ".join(f"{k}={v:g}" if isinstance(v, (int, float)) else f"{k}={v}" for k, v in table.items())
    how = f"differential pair ({table['load']} load, worst-case mismatch signs) from {inputs}"
    sources = {k: f"designed {how}: frontend_models.diffpair.design, {what}"
               for k, what in (("gain_v_per_v", "A_d"), ("cmrr_db", "CMRR = A_d/A_cm"),
                               ("bandwidth_hz", "f_-3dB of the output pole"))}
    assumptions = {f.name: f"not given by the design: the generic InAmpParams default {getattr(amp, f.name)!r}"
                   for f in fields(InAmpParams) if f.name not in (*fields_, "gbw_hz", "cmrr_hf_point")}
    assumptions["cmrr_corner_hz"] += " (the design models C_L only: CMRR flat with frequency)"
    if "cmrr_phase_rad" in assumptions:  # the builder sets it from amplifier.cmrr_polarity
        assumptions["cmrr_phase_rad"] = "the sign/phase of A_cm is not given by the design: amplifier.cmrr_polarity"
    return Preset(
        name=name or (f"{DESIGN_PREFIX}{source}" if is_file else f"{DESIGN_PREFIX}{table['load']}"),
        kind="diffpair", description=f"designed {how}: A_d = {result.a_d_v_per_v:.4g} V/V, CMRR = "
        f"{result.cmrr_db:.4g} dB, f_-3dB = {result.f_3db_hz:.4g} Hz", amp=amp, amp_fields=dict(fields_),
        sources=sources, assumptions=assumptions)
