"""Sweep figures: residual mains, SNR and QRS detection against the first numeric varied key.

A sweep over numeric keys draws curves against the first of them, one per
combination of the other keys' values, with readable names and SI-prefixed
units (``"imbalance 20 kΩ"``, capacitances in pF, impedances in kΩ on log
axes). A sweep over categorical keys only (``amplifier.preset``, or an
imbalance list with ``iec`` in it) draws grouped bars.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from acquire.output import figures as viz
from acquire.output.figures.style import (cmr_limit_uv_rms, display_unit, format_imbalance, format_si, record_label,
                                          scenario_line)
from acquire.runner import TAPS

log = logging.getLogger(__name__)

UNIT_SUFFIXES = {"_v_per_v": "V/V", "_v_per_rthz": "V/√Hz", "_a_per_rthz": "A/√Hz", "_v_rms": "V rms",
                 "_db": "dB", "_hz": "Hz", "_ohm": "Ω", "_f": "F", "_v": "V", "_a": "A", "_s": "s",
                 "_m2": "m²", "_t": "T", "_bpm": "bpm"}
#: Readable names of config keys; any other key is named by the words of its last part.
NAMES = {"amplifier.cmrr_db": "CMRR", "amplifier.preset": "preset", "electrodes.imbalance": "imbalance",
         "body.cm_v_rms": "common mode", "mains.frequency_hz": "mains frequency", "mains.mains_v_rms": "mains voltage",
         "electrodes.offset_v": "electrode offset", "amplifier.gain_v_per_v": "gain", "adc.n_bits": "ADC bits",
         "adc.fs_adc_hz": "ADC rate", "body.drl_loop_gain": "DRL loop gain",
         "body.c_body_mains_f": "body-to-mains capacitance", "body.c_body_ground_f": "body-to-ground capacitance"}
#: Keys whose numbers are in ohms although their names carry no unit.
OHM_KEYS = ("electrodes.imbalance",)
#: Units drawn on a log axis whenever all values are positive.
LOG_UNITS = ("Ω", "F")


def unit_of(key: str) -> str | None:
    """The SI unit of a config key from its suffix (``"_f"`` -> ``"F"``), or None."""
    if key in OHM_KEYS:
        return "Ω"
    return next((u for s, u in UNIT_SUFFIXES.items() if key.endswith(s)), None)


def name_of(key: str) -> str:
    """``"CMRR"`` for ``amplifier.cmrr_db``; else the words of the key's last part without its unit suffix."""
    if key in NAMES:
        return NAMES[key]
    last = key.split(".")[-1]
    suffix = next((s for s in UNIT_SUFFIXES if last.endswith(s)), "")
    return last[: len(last) - len(suffix)].replace("_", " ") if suffix else last.replace("_", " ")


def value_text(key: str, value) -> str:
    """A varied value for a reader: ``"20 kΩ"``, ``"IEC 51 kΩ ∥ 47 nF"``, ``"ina128"``."""
    if key in OHM_KEYS:
        return format_imbalance(value)
    unit = unit_of(key)
    return format_si(value, unit or "") if _is_number(value) else str(value)


def axis_label(key: str, unit: str | None = None) -> str:
    """``"CMRR (dB) [amplifier.cmrr_db]"``: the readable name, the (display) unit, the key."""
    unit = unit_of(key) if unit is None else unit
    return f"{name_of(key)} ({unit}) [{key}]" if unit else f"{name_of(key)} [{key}]"


def _number(v) -> float:
    """A metric value as a float (JSON "inf"/None back to inf/NaN)."""
    return math.nan if v is None else float(v)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _wide(values) -> bool:
    """Whether positive values span two decades or more (plotted on a log axis)."""
    v = np.asarray([x for x in values if math.isfinite(x)])
    return v.size > 1 and bool(np.all(v > 0)) and v.max() / v.min() >= 100


def _families(rows: list[dict], others: list[str], sort_key=None) -> dict[str, list[dict]]:
    """Rows grouped by the values of ``others``, labelled ``"imbalance 20 kΩ, preset ina128"``."""
    families: dict[str, list[dict]] = {}
    for r in rows:
        label = ", ".join(f"{name_of(k)} {value_text(k, r[k])}" if k != "amplifier.preset" else str(r[k])
                          for k in others)
        families.setdefault(label, []).append(r)
    return {label: sorted(fam, key=sort_key) if sort_key else fam for label, fam in families.items()}


def _qrs(families: dict) -> dict[str, tuple[list, list]]:
    """Family -> (Se %, +P %) at the recovered tap."""
    return {label: ([100 * _number(r["recovered.qrs_sensitivity"]) for r in fam],
                    [100 * _number(r["recovered.qrs_ppv"]) for r in fam]) for label, fam in families.items()}


def _same(qrs: dict) -> bool:
    """Whether every family has the same Se and +P at every point (one figure then says it all)."""
    first = np.asarray(next(iter(qrs.values())), dtype=float)
    return all(np.array_equal(first, np.asarray(v, dtype=float), equal_nan=True) for v in qrs.values())


def _limit(limit_uv_rms, limit_label) -> dict:
    if limit_uv_rms is None:
        return {}
    return {"limit": float(limit_uv_rms), "limit_label": limit_label or f"limit {limit_uv_rms:.4g} µV rms"}


def figure_options(documents: list[dict], keys: list[str], channel: str | None = None) -> dict:
    """The ``subtitle`` and residual-mains limit of a sweep's figures, from its points' metrics documents.

    The subtitle names what every point shares (preset, mains frequency,
    common mode, imbalance, record, channel), each left out when it varies.
    The limit is the standards' 1 mV p-p at 10 V rms scaled to the common
    mode (:func:`~acquire.output.figures.style.cmr_limit_uv_rms`), given
    only when every point has the same common mode.
    """
    if not documents:
        return {}
    first = documents[0]

    def shared(get):
        """The value every document has, else None."""
        values = [get(d) for d in documents]
        return values[0] if all(v == values[0] for v in values) else None

    cm = shared(lambda d: round(float(d["body_cm_v_rms"]), 9))
    source = first["provenance"]["source"]
    imbalance = shared(lambda d: d["provenance"]["config"].get("electrodes", {}).get("imbalance", "iec"))
    options = {"subtitle": scenario_line(
        preset=shared(lambda d: d["provenance"]["preset"]), mains_hz=shared(lambda d: d["mains_hz"]), cm_v_rms=cm,
        imbalance=None if "electrodes.imbalance" in keys else imbalance,
        record=record_label(source), channel=channel)}
    if cm is not None:
        options["limit_uv_rms"], options["limit_label"] = cmr_limit_uv_rms(cm)
    return options


def sweep_figures(rows: list[dict], keys: list[str], *, subtitle: str = "", limit_uv_rms: float | None = None,
                  limit_label: str | None = None) -> dict:
    """Residual mains, SNR (both taps) and QRS Se/+P figures of a sweep, by file stem.

    Parameters
    ----------
    rows : list of dict
        The sweep's rows: the varied keys and ``tap.metric`` columns.
    keys : list of str
        The varied keys, in ``--vary`` order.
    subtitle : str
        The base scenario (:func:`~acquire.output.figures.style.scenario_line`), under every title.
    limit_uv_rms : float or None
        A residual-mains limit line (µV rms), drawn only when given. The
        standards' 1 mV p-p belongs to their 10 V rms test: scale it to the
        configured common mode (:func:`~acquire.output.figures.style.cmr_limit_uv_rms`).
    limit_label : str or None
        Its legend text (None: ``"limit <value> µV rms"``).

    Returns
    -------
    dict of str to Figure
        ``residual_mains_<tap>``, ``snr_<tap>`` and ``qrs`` (``qrs_<n>``,
        one per family, when the families' QRS results differ). Against the
        first numeric key, one curve per combination of the other keys;
        without a numeric key, grouped bars over the first key's values.
    """
    x_key = next((k for k in keys if all(_is_number(r[k]) for r in rows)), None)
    if x_key is None:
        return _bar_figures(rows, keys, subtitle, _limit(limit_uv_rms, limit_label))
    families = _families(rows, [k for k in keys if k != x_key], sort_key=lambda r: r[x_key])
    # A Cartesian product: every family has the same x values.
    x_si = np.asarray([r[x_key] for r in next(iter(families.values()))], dtype=float)
    factor, unit = display_unit(x_si, unit_of(x_key) or "")
    x = x_si * factor
    logx = _wide(x) or (unit_of(x_key) in LOG_UNITS and bool(np.all(x > 0)) and x.size > 1)
    common = dict(xlabel=axis_label(x_key, unit), logx=logx, subtitle=subtitle)
    figs = {}

    def curves(column):
        """Label -> y per family; a lone curve is labelled with its tap (and takes its colour)."""
        return {(label or column.split(".")[0]): [_number(r[column]) for r in fam] for label, fam in families.items()}

    for tap in TAPS:
        residual = curves(f"{tap}.residual_mains_uv_rms")
        figs[f"residual_mains_{tap}"] = viz.plot_sweep(
            x, residual, ylabel="Residual mains (µV rms, input-referred)",
            logy=_wide([v for ys in residual.values() for v in ys]), title=f"Residual mains at the {tap} tap",
            **_limit(limit_uv_rms, limit_label), **common)
        figs[f"snr_{tap}"] = viz.plot_sweep(x, curves(f"{tap}.snr_out_db"), ylabel="SNR (dB)",
                                            title=f"SNR at the {tap} tap", **common)
    qrs = _qrs(families)
    if _same(qrs):
        others = ", ".join(name_of(k) for k in keys if k != x_key)
        title = "QRS detection at the recovered tap" + (f" (the same for every {others})" if len(qrs) > 1 else "")
        figs["qrs"] = viz.plot_qrs_sweep(x, *next(iter(qrs.values())), title=title, **common)
        return figs
    for n, (label, (se, ppv)) in enumerate(qrs.items(), start=1):
        figs[f"qrs_{n}"] = viz.plot_qrs_sweep(x, se, ppv, title=f"QRS detection at the recovered tap, {label}",
                                              **common)
    return figs


def _bar_figures(rows: list[dict], keys: list[str], subtitle: str, limit: dict) -> dict:
    """Grouped bars over the first key's values (one bar per combination of the others) for a categorical sweep."""
    first = keys[0]
    groups = list(dict.fromkeys(value_text(first, r[first]) for r in rows))
    families = _families(rows, keys[1:])

    def bars(column, scale=1.0):
        """Family -> one value per group (NaN where the product has no point)."""
        out = {}
        for label, fam in families.items():
            by_group = {value_text(first, r[first]): scale * _number(r[column]) for r in fam}
            out[label or column.split(".")[0]] = [by_group.get(g, math.nan) for g in groups]
        return out

    common = dict(xlabel=axis_label(first), subtitle=subtitle)
    figs = {}
    for tap in TAPS:
        residual = bars(f"{tap}.residual_mains_uv_rms")
        figs[f"residual_mains_{tap}"] = viz.plot_grouped_bars(
            groups, residual, ylabel="Residual mains (µV rms, input-referred)",
            log=_wide([v for ys in residual.values() for v in ys]), title=f"Residual mains at the {tap} tap",
            **limit, **common)
        figs[f"snr_{tap}"] = viz.plot_grouped_bars(groups, bars(f"{tap}.snr_out_db"), ylabel="SNR (dB)",
                                                   title=f"SNR at the {tap} tap", **common)
    se, ppv = bars("recovered.qrs_sensitivity", 100.0), bars("recovered.qrs_ppv", 100.0)
    series = {f"{name}{', ' + label if len(se) > 1 else ''}": v[label]
              for name, v in (("Se", se), ("+P", ppv)) for label in se}
    figs["qrs"] = viz.plot_grouped_bars(groups, series, ylabel="Se, +P (%)", title="QRS detection at the recovered tap",
                                        **common)
    return figs
