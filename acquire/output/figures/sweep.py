"""Sweep figures: residual mains, SNR and QRS detection against the first numeric varied key."""

from __future__ import annotations

import logging
import math

import numpy as np

from acquire.output import figures as viz
from acquire.runner import TAPS

log = logging.getLogger(__name__)

UNIT_SUFFIXES = {"_v_per_v": "V/V", "_v_per_rthz": "V/√Hz", "_a_per_rthz": "A/√Hz", "_v_rms": "V rms",
                 "_db": "dB", "_hz": "Hz", "_ohm": "Ω", "_f": "F", "_v": "V", "_a": "A", "_s": "s",
                 "_m2": "m²", "_t": "T", "_bpm": "bpm"}


def axis_label(key: str) -> str:
    """``"amplifier.cmrr_db (dB)"``: the key with the unit of its suffix, if any."""
    unit = next((u for s, u in UNIT_SUFFIXES.items() if key.endswith(s)), None)
    return f"{key} ({unit})" if unit else key


def _number(v) -> float:
    """A metric value as a float (JSON "inf"/None back to inf/NaN)."""
    return math.nan if v is None else float(v)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _wide(values) -> bool:
    """Whether positive values span two decades or more (plotted on a log axis)."""
    v = np.asarray([x for x in values if math.isfinite(x)])
    return v.size > 1 and bool(np.all(v > 0)) and v.max() / v.min() >= 100


def sweep_figures(rows: list[dict], keys: list[str]) -> dict:
    """Residual mains, SNR (both taps) and QRS Se/+P figures against the first numeric key.

    One curve per combination of the other varied keys. No figure when no
    varied key is numeric. Returns the figures by file stem.
    """
    x_key = next((k for k in keys if all(_is_number(r[k]) for r in rows)), None)
    if x_key is None:
        log.info("sweep: no numeric varied key, no figures")
        return {}
    others = [k for k in keys if k != x_key]
    families: dict[str, list[dict]] = {}
    for r in rows:
        label = ", ".join(f"{k}={r[k]}" for k in others)
        families.setdefault(label, []).append(r)
    families = {label: sorted(fam, key=lambda r: r[x_key]) for label, fam in families.items()}
    # A Cartesian product: every family has the same x values.
    x = [r[x_key] for r in next(iter(families.values()))]
    xlabel, logx = axis_label(x_key), _wide(x)
    figs = {}

    def curves(column):
        """Label -> y per family; a lone curve is labelled with its tap (and takes its colour)."""
        return {(label or column.split(".")[0]): [_number(r[column]) for r in fam]
                for label, fam in families.items()}

    for tap in TAPS:
        residual = curves(f"{tap}.residual_mains_uv_rms")
        figs[f"residual_mains_{tap}"] = viz.plot_sweep(x, residual, xlabel=xlabel,
                             ylabel="Residual mains (µV rms, input-referred)",
                             limit=viz.ONE_MV_PP_IN_UV_RMS, logx=logx,
                             logy=_wide([v for ys in residual.values() for v in ys]),
                             title=f"Residual mains at the {tap} tap")
        figs[f"snr_{tap}"] = viz.plot_sweep(x, curves(f"{tap}.snr_out_db"), xlabel=xlabel, ylabel="SNR (dB)",
                                            logx=logx, title=f"SNR at the {tap} tap")
    for n, (label, fam) in enumerate(families.items(), start=1):
        se = [100 * _number(r["recovered.qrs_sensitivity"]) for r in fam]
        ppv = [100 * _number(r["recovered.qrs_ppv"]) for r in fam]
        title = "QRS detection at the recovered tap" + (f", {label}" if label else "")
        stem = "qrs" if len(families) == 1 else f"qrs_{n}"
        figs[stem] = viz.plot_qrs_sweep(x, se, ppv, xlabel=xlabel, logx=logx, title=title)
    return figs

