"""Run a configured simulation and score how faithfully the ECG was recovered.

:func:`simulate` runs the configured front end and its ideal twin on the same
source, detects QRS complexes on the outputs, and returns the outputs and a
versioned, JSON-ready metrics document (:data:`SCHEMA`).

References
----------
Two references, both stated in the document:

- **ideal**: the same front end with interference, noise, offsets and
  non-linearities switched off (:func:`acquire.frontend.build_frontend` with
  ``ideal=True``). Same stages, same delays, so it aligns sample by sample:
  the difference is what interference and noise did.
- **source**: the recording resampled to the tap's rate and band-limited,
  zero-phase, to the chain's nominal passband, then delayed by the chain's
  **reported** delay (the sum of each stage's ``group_delay_s``, or of the
  analog prototype's group delay at :data:`DELAY_REFERENCE_HZ`). The
  difference also includes what the filters did to the ECG (notch ringing,
  high-pass tilt of the ST segment). Delay and gain alignment use the
  stages' reported delays and the nominal gain, never a fitted guess.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import signal

from acquire._version import __version__
from acquire.evaluation import metrics as m
from acquire.frontend import analytic_cmrr_effective_db, build_frontend, predicted_residual_mains, tap_gain_rel
from acquire.evaluation.qrs import detect_qrs
from acquire.runner import TAPS, RunResult, run
from acquire.evaluation.scoring import score_exclusion_s, score_tap
from acquire.sources.loader import RecordingSource, load_configured

SCHEMA = "ecgfe.metrics/1"
#: Frequency (Hz) at which IIR group delays are evaluated for alignment.
DELAY_REFERENCE_HZ = 10.0
#: The output has settled when the 1-second rms of its error against the
#: source reference stays below this multiple of its steady-state value (the
#: largest over the second half of the record) plus SETTLED_FLOOR_V.
SETTLED_FACTOR = 1.2
SETTLED_FLOOR_V = 1e-6
#: Most mains harmonics measured (fewer when they would reach Nyquist).
N_HARMONICS_MEASURED = 5


@dataclass
class Simulation:
    """Outputs and metrics of one simulation.

    Attributes
    ----------
    recording : Recording
        The source as loaded (volts).
    result, ideal : RunResult
        Outputs of the configured chain and of its ideal twin, input-referred.
    source_ref_v : dict
        Tap -> source reference at that tap's rate, delayed like the chain.
    detections : dict
        Tap -> list (per channel) of detected R-peak sample indices.
    ref_beats : dict
        Tap -> reference beat sample indices at that tap's rate (delayed).
    metrics : dict
        The JSON-ready metrics document.
    """

    recording: object
    result: RunResult
    ideal: RunResult
    source_ref_v: dict
    detections: dict
    ref_beats: dict
    metrics: dict
    frontend: object


def stage_delay_s(name: str, stage, f_hz: float = DELAY_REFERENCE_HZ) -> float:
    """Reported group delay of one stage at ``f_hz``: its ``group_delay_s`` or its analog prototype's."""
    if hasattr(stage, "group_delay_s"):
        return float(stage.group_delay_s)
    response = getattr(stage, "freq_response", None) or getattr(stage, "diff_gain", None)
    if response is None:
        return 0.0
    df = f_hz * 1e-4
    phase = np.unwrap(np.angle([response(f_hz - df), response(f_hz + df)]).ravel())
    return float(-(phase[1] - phase[0]) / (2 * math.pi * 2 * df))


def tap_delays_s(frontend) -> dict[str, float]:
    """Total reported delay from the source to each tap, seconds."""
    analog = sum(stage_delay_s(n, s) for n, s in frontend.analog.stages)
    digital = 0.0 if frontend.digital is None else sum(stage_delay_s(n, s) for n, s in frontend.digital.stages)
    return {"acquired": analog, "recovered": analog + digital}


def passband_hz(cfg: dict, fs_hz: float, *, digital: bool = True) -> tuple[float, float]:
    """Nominal passband up to a tap: highest high-pass corner, lowest low-pass cutoff.

    ``digital=False`` gives the passband at the acquired tap (analog stages only).
    """
    lo, hi = 0.0, fs_hz / 2
    post = cfg.get("post", {})
    if post.get("ac_coupling_hz"):
        lo = max(lo, float(post["ac_coupling_hz"]))
    if post.get("aa_hz"):
        hi = min(hi, float(post["aa_hz"]))
    for spec in cfg["digital"] if digital else []:
        if spec.get("kind") == "highpass" and isinstance(spec.get("corner_hz"), (int, float)):
            lo = max(lo, float(spec["corner_hz"]))
        if spec.get("kind") == "lowpass" and isinstance(spec.get("cutoff_hz"), (int, float)):
            hi = min(hi, float(spec["cutoff_hz"]))
    return lo, min(hi, 0.45 * fs_hz)


def source_reference(recording, fs_out_hz: float, n_out: int, delay_s: float,
                     band_hz: tuple[float, float]) -> np.ndarray:
    """The recording at ``fs_out_hz``, zero-phase band-limited, delayed by ``delay_s``.

    Resampling by :func:`scipy.signal.resample_poly` (linear phase, its delay
    compensated), band-limiting by a 2nd-order Butterworth applied forward and
    backward, delay by linear interpolation at the output instants.
    """
    from fractions import Fraction

    ratio = Fraction(fs_out_hz / recording.fs_hz).limit_denominator(10000)
    x = signal.resample_poly(recording.signals_v, ratio.numerator, ratio.denominator, axis=-1)
    lo, hi = band_hz
    pad = {"padtype": "even", "padlen": min(x.shape[1] - 1, int(10 * fs_out_hz))}
    if lo > 0:
        x = signal.sosfiltfilt(signal.butter(2, lo, "highpass", fs=fs_out_hz, output="sos"), x, **pad)
    x = signal.sosfiltfilt(signal.butter(2, hi, "lowpass", fs=fs_out_hz, output="sos"), x, **pad)
    t = np.arange(n_out) / fs_out_hz - delay_s
    grid = np.arange(x.shape[1]) / fs_out_hz
    return np.stack([np.interp(t, grid, ch, left=ch[0], right=ch[-1]) for ch in x])


def json_number(x):
    """A float for JSON: infinities as the strings "inf"/"-inf", NaN as None."""
    x = float(x)
    if math.isnan(x):
        return None
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def mains_metrics(residual_v, fs_hz: float, mains_hz: float, v_cm_rms: float, gain_rel, saturated: bool) -> dict:
    """Residual mains of one channel at one tap, and its rejection (see :func:`simulate`).

    ``gain_rel`` is |A_d(f_mains)| of the chain up to the acquired tap
    relative to the nominal gain (None at the recovered tap). Returns
    ``residual_mains_uv_rms``, ``residual_mains_by_harmonic_uv_rms``,
    ``residual_mains_floor_uv_rms`` and ``cmrr_effective_db`` (acquired tap)
    or ``mains_rejection_db`` (recovered tap).
    """
    n_harmonics = min(N_HARMONICS_MEASURED, math.ceil(fs_hz / 2 / mains_hz) - 1)
    total_uv, by_harmonic = m.residual_mains_uv_rms(residual_v, fs_hz, mains_hz, n_harmonics)
    floor_v = m.tone_floor_v_rms(residual_v, fs_hz, mains_hz)
    fundamental_v = by_harmonic[1] * 1e-6
    out = {"residual_mains_uv_rms": json_number(total_uv),
           "residual_mains_by_harmonic_uv_rms": {str(k): json_number(v) for k, v in by_harmonic.items()},
           "residual_mains_floor_uv_rms": json_number(floor_v * 1e6)}
    if gain_rel is None:
        out["mains_rejection_db"] = m.mains_measure_db(v_cm_rms, fundamental_v, floor_v, saturated=saturated)
    else:  # refer the residual through the chain's own differential gain at the mains frequency
        out["cmrr_effective_db"] = m.mains_measure_db(v_cm_rms, fundamental_v / gain_rel, floor_v / gain_rel,
                                                      saturated=saturated)
    return out


def tap_metrics(y, x_ideal, x_source, beats, fs_hz, skip, mains_hz, v_cm_rms, acquired_snr_db,
                detected, scored, saturated_fraction, *, gain_rel=None) -> dict:
    """Metrics of one channel at one tap (see :func:`simulate` for the definitions).

    ``scored`` is the bxb scoring of ``detected`` (:func:`acquire.evaluation.scoring.score_tap`),
    None without reference annotations.
    """
    y, xi, xs = y[skip:], x_ideal[skip:], x_source[skip:]
    beats = beats[(beats >= skip + int(0.1 * fs_hz)) & (beats < skip + y.size - int(0.2 * fs_hz))] - skip
    snr_out = m.snr_db(xi, y)
    qrs_amp = m.qrs_amplitude_error_uv(xi, y, beats, fs_hz)
    st = m.st_level_error_uv(xi, y, beats, fs_hz)
    if scored is not None:
        qrs = {"qrs_sensitivity": json_number(scored.se), "qrs_ppv": json_number(scored.ppv),
               "qrs_f1": json_number(scored.f1), "qrs_tp": scored.tp, "qrs_fn": scored.fn, "qrs_fp": scored.fp}
    else:  # no reference annotations: nothing to score against
        qrs = dict.fromkeys(("qrs_sensitivity", "qrs_ppv", "qrs_f1", "qrs_tp", "qrs_fn", "qrs_fp"))
    settle = start_up_settling_s(x_ideal - x_source, fs_hz)
    return {
        "snr_in_db": json_number(acquired_snr_db if acquired_snr_db is not None else snr_out),
        "snr_out_db": json_number(snr_out),
        "snr_improvement_db": json_number(m.snr_improvement_db(acquired_snr_db, snr_out)
                                          if acquired_snr_db is not None else 0.0),
        "prd_percent": json_number(m.prd_percent(xi, y)),
        "prdn_percent": json_number(m.prdn_percent(xi, y)),
        "correlation": json_number(m.correlation(xi, y)),
        **mains_metrics(y - xi, fs_hz, mains_hz, v_cm_rms, gain_rel, saturated_fraction > 0),
        "qrs_amplitude_error_median_uv": json_number(qrs_amp["median_uv"]),
        "qrs_amplitude_error_p95_uv": json_number(qrs_amp["p95_uv"]),
        "st_level_error_median_uv": json_number(st["median_uv"]),
        "st_level_error_p95_uv": json_number(st["p95_uv"]),
        **qrs,
        "qrs_detected": int(np.count_nonzero(np.asarray(detected) >= skip)),
        "saturated_fraction": json_number(saturated_fraction),
        "settling_time_s": json_number(settle),
        "vs_source": {
            "snr_db": json_number(m.snr_db(xs, y)),
            "prd_percent": json_number(m.prd_percent(xs, y)),
            "prdn_percent": json_number(m.prdn_percent(xs, y)),
            "correlation": json_number(m.correlation(xs, y)),
        },
    }


def start_up_settling_s(error_v: np.ndarray, fs_hz: float) -> float:
    """Time until the error's 1-s rms envelope stays within its steady-state level.

    The envelope is the rms over consecutive 1-second windows; the steady
    level is its largest value over the second half of the record; the output has
    settled once the envelope stays below SETTLED_FACTOR times that level
    plus SETTLED_FLOOR_V. Resolution: one window (1 s).
    """
    n_win = max(1, int(round(fs_hz)))
    n = error_v.size // n_win
    if n < 2:
        return math.nan
    env = np.sqrt(np.mean(error_v[:n * n_win].reshape(n, n_win) ** 2, axis=1))
    threshold = SETTLED_FACTOR * np.max(env[n // 2:]) + SETTLED_FLOOR_V
    return m.settling_time_s(env, 1.0, threshold)


def saturated_fractions(frontend, result: RunResult, n_channels: int, n_source: int) -> float:
    """Largest fraction of clipped samples over the clipping stages (amplifier, gain stage, ADC)."""
    fs_sim = frontend.info["fs_sim_hz"]
    n_sim = n_channels * n_source * fs_sim / frontend.analog.fs_in_hz
    fractions = [0.0]
    for key, count in result.counts.items():
        if key.endswith("n_clipped"):
            total = n_channels * result.n_acquired if key.startswith("adc") else n_sim
            fractions.append(m.saturated_fraction(count, total))
    return max(fractions)


def settle_time_s(setting, frontend, duration_s: float) -> float:
    """Seconds excluded from the metrics at the start: a number, or "auto".

    "auto" takes the longest settling time the digital stages report (their
    slowest natural mode decayed to 1 %, e.g. 14.7 s for a first-order
    0.05 Hz high-pass), at least 1 s, at most half the record.
    """
    if setting == "auto":
        stages = frontend.digital.stages if frontend.digital is not None else []
        longest = max([1.0, *(float(getattr(s, "settling_time_s", 0.0)) for _, s in stages)])
        return min(longest, duration_s / 2)
    try:
        value = float(setting)
    except (TypeError, ValueError):
        raise ValueError(f'run.settle_s must be a number of seconds or "auto"; got {setting!r}.') from None
    if not 0 <= value < duration_s:
        raise ValueError(f"run.settle_s={value:g} s must be >= 0 and shorter than the record ({duration_s:g} s).")
    return value


def simulate(cfg: dict, recording=None, *, progress=None) -> Simulation:
    """Run the configured chain and its ideal twin; detect, score and measure.

    Parameters
    ----------
    cfg : dict
        Configuration (:func:`acquire.config.load_config`).
    recording : Recording, optional
        The source; loaded from ``cfg["source"]`` when omitted.
    progress : callable(done, total), optional
        Called during both runs (total is twice the source length).

    Returns
    -------
    Simulation

    Notes
    -----
    Metrics per channel and tap (``acquired`` after the ADC, ``recovered``
    after the digital stages), computed after the first ``run.settle_s``
    seconds (start-up transients; see :func:`settle_time_s`), with x the ideal output at the same tap
    and y the simulated one, both input-referred:

    - ``snr_out_db`` = 10 log10(sum (x - mean x)^2 / sum (x - y)^2) at this
      tap; ``snr_in_db`` the same at the acquired tap (the digital stages'
      input); ``snr_improvement_db`` = out - in.
    - ``prd_percent`` = 100 sqrt(sum (x - y)^2 / sum x^2) and ``prdn_percent``
      with the mean of x removed in the denominator (Nemcova et al. 2018).
    - ``residual_mains_uv_rms``: joint least-squares amplitude of the
      fundamental and harmonics of the actual mains frequency in y - x.
    - ``cmrr_effective_db`` (acquired tap only) = 20 log10(v_cm / e) with
      v_cm the body common mode at the fundamental and e the fundamental
      residual referred to the input through the chain's differential gain
      at that frequency, |A_d(f)| (not the nominal gain): exactly
      |A_d(f)| / |A_cm,total(f)| of the chain up to the ADC.
    - ``mains_rejection_db`` (recovered tap only) = 20 log10(v_cm / e) with e
      the recovered residual referred through the nominal (passband) gain:
      how far below in-band ECG the whole device, digital stages included,
      puts the mains.
    - Both are null when the tap saturated or when the residual is not above
      3x its measurement floor ``residual_mains_floor_uv_rms`` (the lock-in's
      reading at nearby frequencies with no tone).
    - QRS amplitude and ST level (J + 60 ms) errors per reference beat,
      median and 95th percentile, uV; QRS Se, +P and F1 of the streaming
      detector on y against the reference beats, scored as WFDB bxb (EC57
      matching, 150 ms; VF episodes honoured; the annotations moved by the
      tap's delay, the learning period ``score_exclude_s`` applied in record
      time: by default EC57's 300 s for records of 10 minutes or more, else
      the settle time, the choice stated as ``score_exclude_rule``); null
      when the source has no beat annotations. ``qrs_detected`` counts the
      detections after the settling time.
    - ``saturated_fraction``: largest clipped fraction over the clipping stages.
    - ``settling_time_s``: start-up settling of the ideal chain against the
      source reference (see :func:`start_up_settling_s`).
    - ``vs_source``: SNR, PRD, PRDN and correlation against the source
      reference.
    """
    if recording is None:
        recording = load_configured(cfg["source"])
    n_ch, n_src = recording.signals_v.shape
    frontend = build_frontend(cfg, recording.fs_hz, n_ch)
    ideal_fe = build_frontend(cfg, recording.fs_hz, n_ch, ideal=True)

    def half(offset):
        return None if progress is None else (lambda d, t: progress(offset + d, 2 * t))

    chunk_s = float(cfg["run"]["chunk_s"])
    result = run(frontend, RecordingSource(recording), chunk_s=chunk_s, progress=half(0))
    ideal = run(ideal_fe, RecordingSource(recording), chunk_s=chunk_s, progress=half(n_src))
    delays = tap_delays_s(frontend)
    bands = {"acquired": passband_hz(cfg, frontend.fs_adc_hz, digital=False),
             "recovered": passband_hz(cfg, frontend.fs_adc_hz)}
    mains = frontend.info["mains"]
    harmonics = predicted_residual_mains(frontend)
    from acquire.analog.mains import cm_harmonics
    from acquire.analog.patient import circuit_report

    v_cm_rms = abs(cm_harmonics(mains, frontend.info["patient"])[0][1])
    settle_s = settle_time_s(cfg["run"].get("settle_s", "auto"), frontend, n_src / recording.fs_hz)
    score_exclude_s, score_exclude_rule = score_exclusion_s(cfg["run"].get("score_exclude_s", "auto"), settle_s,
                                                            n_src / recording.fs_hz)
    ann = recording.annotations
    outputs = {"acquired": (result.acquired_v, ideal.acquired_v, result.fs_acquired_hz),
               "recovered": (result.recovered_v, ideal.recovered_v, result.fs_recovered_hz)}
    sat = saturated_fractions(frontend, result, n_ch, n_src)
    f1 = mains.center_hz
    gain_rel = {"acquired": tap_gain_rel(frontend, f1), "recovered": None}
    source_ref, detections, ref_beats, channels = {}, {}, {}, {}
    snr_in = {}
    for tap in TAPS:
        y, xi, fs = outputs[tap]
        xs = source_reference(recording, fs, y.shape[1], delays[tap], bands[tap])
        source_ref[tap] = xs
        annotated = ann is not None and bool(ann.is_beat.any())
        beats = ann.beats().retimed(recording.fs_hz, fs, delays[tap]).sample if annotated else np.zeros(0, int)
        ref_beats[tap] = beats
        detections[tap] = [detect_qrs(y[c], fs) for c in range(n_ch)]
        skip = min(int(settle_s * fs), y.shape[1] // 2)
        for c, name in enumerate(recording.channel_names):
            scored = (score_tap(ann, recording.fs_hz, detections[tap][c], fs, delays[tap], score_exclude_s,
                                n_samples=y.shape[1]) if annotated else None)
            doc = tap_metrics(y[c], xi[c], xs[c], beats, fs, skip, mains.center_hz, v_cm_rms,
                              snr_in.get(c), detections[tap][c], scored, sat, gain_rel=gain_rel[tap])
            if tap == "acquired":
                snr_in[c] = m.snr_db(xi[c, skip:], y[c, skip:])
            channels.setdefault(name, {})[tap] = doc
    metrics = {
        "schema": SCHEMA,
        "tool_version": __version__,
        "provenance": {"source": dict(recording.provenance), "preset": frontend.info["preset"],
                       "seed": int(cfg["run"]["seed"]), "config": cfg},
        "references": {
            "ideal": "same front end with interference, noise, offsets and non-linearities off",
            "source": "recording resampled and zero-phase band-limited to the chain's passband "
                      "up to the tap, delayed by the stages' reported delays",
        },
        "rates_hz": {"source": recording.fs_hz, "simulation": frontend.info["fs_sim_hz"],
                     "acquired": result.fs_acquired_hz, "recovered": result.fs_recovered_hz},
        "delay_s": delays,
        "passband_hz": bands,
        "nominal_gain_v_per_v": frontend.nominal_gain_v_per_v,
        "settle_s": settle_s,
        "score_exclude_s": score_exclude_s,
        "score_exclude_rule": score_exclude_rule,
        "mains_hz": mains.center_hz,
        "body_cm_v_rms": v_cm_rms,
        "patient": {k: json_number(v) if isinstance(v, float) else v for k, v in circuit_report(
            frontend.info["patient"], cm_harmonics(mains, frontend.info["patient"])).items()},
        "predicted_residual_mains_uv_rms": {f"{f:g}": json_number(v * 1e6) for f, v in harmonics},
        "predicted_cmrr_effective_db": json_number(analytic_cmrr_effective_db(frontend, f1)),
        "cmrr_phase_deg": math.degrees(frontend.info["amp"].cmrr_phase_rad),
        "counts": result.counts,
        "channels": channels,
    }
    return Simulation(recording, result, ideal, source_ref, detections, ref_beats, metrics, frontend)
