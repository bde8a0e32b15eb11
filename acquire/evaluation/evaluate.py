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
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from acquire._version import __version__
from acquire.analog.mains import cm_harmonics
from acquire.evaluation import metrics as m
from acquire.evaluation.meter import TapMeter, start_up_settling_from, start_up_settling_s  # noqa: F401
from acquire.evaluation.reference import source_references
from acquire.evaluation.scoring import score_exclusion_s, score_tap
from acquire.frontend import analytic_cmrr_effective_db, build_frontend, predicted_residual_mains, tap_gain_rel
from acquire.runner import TAPS, RunResult, TwinSteps
from acquire.sources.loader import RecordingSource, load_configured, stream_configured

SCHEMA = "ecgfe.metrics/1"
#: Frequency (Hz) at which IIR group delays are evaluated for alignment.
DELAY_REFERENCE_HZ = 10.0
#: Longest record kept in memory (``keep=True``): per tap the output, the
#: ideal output and the source reference in float64, joined at the end (twice
#: that for a moment): 2 taps x 3 x 2 x 8 bytes x 500 SPS = 48 kB per second
#: of a 500 SPS channel, 346 MB for 2 hours.
MAX_IN_MEMORY_S = 2 * 3600.0
#: Longest streamed record: what still grows with the record is about 200
#: bytes per beat (annotations, reference beats and detections at both taps,
#: the per-beat errors) and 16 bytes per second (the settling envelopes),
#: 40 MB at 72 bpm over 48 hours on top of the fixed ~200 MB of a run; and
#: about 4.5 GB of scratch and WFDB files on disk per 500 SPS channel.
MAX_STREAMED_S = 48 * 3600.0


@dataclass
class Simulation:
    """Outputs and metrics of one simulation.

    Attributes
    ----------
    recording : Recording or Source
        The source as loaded (volts), or the streamed source.
    result, ideal : RunResult
        Outputs of the configured chain and of its ideal twin, input-referred
        (their arrays None when not kept).
    source_ref_v : dict or None
        Tap -> source reference at that tap's rate, delayed like the chain
        (None when not kept).
    detections : dict
        Tap -> list (per channel) of detected R-peak sample indices.
    ref_beats : dict
        Tap -> reference beat sample indices at that tap's rate (delayed).
    metrics : dict
        The JSON-ready metrics document.
    frontend : Frontend
    observers : list
        What ``attach`` returned (:func:`simulate`).
    """

    recording: object
    result: RunResult
    ideal: RunResult
    source_ref_v: dict
    detections: dict
    ref_beats: dict
    metrics: dict
    frontend: object
    observers: list = field(default_factory=list)


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


def json_number(x):
    """A float for JSON: infinities as the strings "inf"/"-inf", NaN as None."""
    x = float(x)
    if math.isnan(x):
        return None
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def mains_metrics(by_harmonic_v, floor_v: float, v_cm_rms: float, gain_rel, saturated: bool) -> dict:
    """Residual mains of one channel at one tap, and its rejection (see :func:`simulate`).

    ``by_harmonic_v`` are the fitted rms of harmonics 1, 2, ... of the
    residual and ``floor_v`` the lock-in's floor, volts. ``gain_rel`` is
    |A_d(f_mains)| of the chain up to the acquired tap relative to the
    nominal gain (None at the recovered tap). Returns
    ``residual_mains_uv_rms``, ``residual_mains_by_harmonic_uv_rms``,
    ``residual_mains_floor_uv_rms`` and ``cmrr_effective_db`` (acquired tap)
    or ``mains_rejection_db`` (recovered tap).
    """
    total_uv, by_harmonic = m.residual_mains_from(by_harmonic_v)
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


def _pair_doc(stats, c: int) -> dict:
    """SNR, PRD, PRDN and correlation of channel ``c`` from a :class:`PairStats`."""
    return {key: json_number(np.atleast_1d(f(stats))[c]) for key, f in (
        ("snr_db", m.snr_from), ("prd_percent", m.prd_from), ("prdn_percent", m.prdn_from),
        ("correlation", m.correlation_from))}


def tap_metrics(meter: TapMeter, v_cm_rms: float, acquired_snr_db, scored: list, saturated_fraction: float,
                *, gain_rel=None) -> list[dict]:
    """Metrics of every channel at one tap from its finished meter (see :func:`simulate` for the definitions).

    ``acquired_snr_db`` holds the acquired tap's ``snr_out_db`` per channel
    (None at the acquired tap itself); ``scored`` the bxb scoring per
    channel (:func:`acquire.evaluation.scoring.score_tap`), None without
    reference annotations.
    """
    harmonics_v, floor_v = meter.mains()
    qrs_amp, st = meter.beat_summaries()
    settle = start_up_settling_from(meter.settling.envelope())
    docs = []
    for c in range(meter.n_channels):
        ideal = _pair_doc(meter.vs_ideal, c)
        snr_out = float(np.atleast_1d(m.snr_from(meter.vs_ideal))[c])
        snr_in = acquired_snr_db[c] if acquired_snr_db is not None else snr_out
        if scored[c] is not None:
            sc = scored[c]
            qrs = {"qrs_sensitivity": json_number(sc.se), "qrs_ppv": json_number(sc.ppv),
                   "qrs_f1": json_number(sc.f1), "qrs_tp": sc.tp, "qrs_fn": sc.fn, "qrs_fp": sc.fp}
        else:  # no reference annotations: nothing to score against
            qrs = dict.fromkeys(("qrs_sensitivity", "qrs_ppv", "qrs_f1", "qrs_tp", "qrs_fn", "qrs_fp"))
        docs.append({
            "snr_in_db": json_number(snr_in),
            "snr_out_db": json_number(snr_out),
            "snr_improvement_db": json_number(m.snr_improvement_db(snr_in, snr_out)
                                              if acquired_snr_db is not None else 0.0),
            "prd_percent": ideal["prd_percent"],
            "prdn_percent": ideal["prdn_percent"],
            "correlation": ideal["correlation"],
            **mains_metrics(harmonics_v[:, c], float(floor_v[c]), v_cm_rms, gain_rel, saturated_fraction > 0),
            "qrs_amplitude_error_median_uv": json_number(qrs_amp[c]["median_uv"]),
            "qrs_amplitude_error_p95_uv": json_number(qrs_amp[c]["p95_uv"]),
            "st_level_error_median_uv": json_number(st[c]["median_uv"]),
            "st_level_error_p95_uv": json_number(st[c]["p95_uv"]),
            **qrs,
            "qrs_detected": int(np.count_nonzero(meter.detected[c] >= meter.skip)),
            "saturated_fraction": json_number(saturated_fraction),
            "settling_time_s": json_number(settle[c]),
            "vs_source": _pair_doc(meter.vs_source, c),
        })
    return docs


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


def simulate(cfg: dict, recording=None, *, progress=None, keep: bool = True, attach=None,
             scratch_dir=None) -> Simulation:
    """Run the configured chain and its ideal twin; detect, score and measure.

    Parameters
    ----------
    cfg : dict
        Configuration (:func:`acquire.config.load_config`).
    recording : Recording, optional
        The source; loaded from ``cfg["source"]`` when omitted (streamed,
        never held whole, with ``keep=False``: a synthetic or WFDB record).
    progress : callable(done, total), optional
        Called as source samples are processed.
    keep : bool
        Keep the outputs, the ideal outputs and the source references in
        memory (``result``, ``ideal``, ``source_ref_v``). Off, memory is
        bounded by the chunk whatever the record's length: the metrics are
        accumulated as the chains run (:class:`~acquire.evaluation.meter.TapMeter`),
        identical either way.
    attach : callable(rates_hz, n_channels, duration_s, settle_s) -> list, optional
        Called once the front end is built (``rates_hz``: tap -> rate); the
        objects it returns get every chunk of each tap as
        ``update(tap, y, x_ideal, x_source)`` (e.g. a WFDB sink, the
        figures' accumulators) and are kept as ``Simulation.observers``.
    scratch_dir : path, optional
        Where the source reference's scratch files go (a temporary
        directory inside it; default: the system's).

    Returns
    -------
    Simulation

    Notes
    -----
    Metrics per channel and tap (``acquired`` after the ADC, ``recovered``
    after the digital stages), computed after the first ``run.settle_s``
    seconds, at most half the record (start-up transients; see
    :func:`settle_time_s`), with x the ideal output at the same tap
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
    source_rec, source = open_source(cfg, recording, stream=not keep)
    n_ch, n_src = len(source.channel_names), source.n_samples
    duration_s = n_src / source.fs_hz
    check_duration(duration_s, streamed=not keep)
    frontend = build_frontend(cfg, source.fs_hz, n_ch)
    ideal_fe = build_frontend(cfg, source.fs_hz, n_ch, ideal=True)
    delays = tap_delays_s(frontend)
    bands = {"acquired": passband_hz(cfg, frontend.fs_adc_hz, digital=False),
             "recovered": passband_hz(cfg, frontend.fs_out_hz)}
    rates = {"acquired": frontend.fs_adc_hz, "recovered": frontend.fs_out_hz}
    settle_s = settle_time_s(cfg["run"].get("settle_s", "auto"), frontend, duration_s)
    ann = source.annotations
    annotated = ann is not None and bool(ann.is_beat.any())
    ref_beats = {tap: ann.beats().retimed(source.fs_hz, fs, delays[tap]).sample if annotated else np.zeros(0, int)
                 for tap, fs in rates.items()}
    observers = list(attach(rates, n_ch, duration_s, settle_s)) if attach is not None else []
    meters = {tap: TapMeter(fs, n_ch, int(min(settle_s, duration_s / 2) * fs), ref_beats[tap],
                            frontend.info["mains"].center_hz) for tap, fs in rates.items()}
    with tempfile.TemporaryDirectory(prefix=".ecgfe-reference-", dir=scratch_dir) as tmp:
        refs = source_references(source, {tap: (fs, delays[tap], bands[tap]) for tap, fs in rates.items()}, Path(tmp))
        try:
            result, ideal, source_ref = _lockstep(frontend, ideal_fe, source, refs, meters,
                                                  float(cfg["run"]["chunk_s"]), keep=keep, observers=observers,
                                                  progress=progress)
        finally:
            for ref in refs.values():
                ref.close()
    score_exclude_s, score_exclude_rule = score_exclusion_s(cfg["run"].get("score_exclude_s", "auto"), settle_s,
                                                            duration_s)
    sat = saturated_fractions(frontend, result, n_ch, n_src)
    gain_rel = {"acquired": tap_gain_rel(frontend, frontend.info["mains"].center_hz), "recovered": None}
    v_cm_rms = abs(cm_harmonics(frontend.info["mains"], frontend.info["patient"])[0][1])
    channels, snr_acquired = {}, None
    for tap in TAPS:
        meter = meters[tap]
        meter.finish()
        scored = [score_tap(ann, source.fs_hz, meter.detected[c], rates[tap], delays[tap], score_exclude_s,
                            n_samples=meter.n) if annotated else None for c in range(n_ch)]
        docs = tap_metrics(meter, v_cm_rms, snr_acquired, scored, sat, gain_rel=gain_rel[tap])
        snr_acquired = list(np.atleast_1d(m.snr_from(meter.vs_ideal)))
        for name, doc in zip(source.channel_names, docs):
            channels.setdefault(name, {})[tap] = doc
    metrics = _document(cfg, source, frontend, result, delays=delays, bands=bands, settle_s=settle_s,
                        score_exclude=(score_exclude_s, score_exclude_rule), v_cm_rms=v_cm_rms, channels=channels)
    detections = {tap: list(meters[tap].detected) for tap in TAPS}
    return Simulation(source_rec, result, ideal, source_ref, detections, ref_beats, metrics, frontend, observers)


def check_duration(duration_s, *, streamed: bool) -> None:
    """Refuse a record longer than the path can hold (:data:`MAX_IN_MEMORY_S`, :data:`MAX_STREAMED_S`)."""
    if duration_s is None:
        return
    limit = MAX_STREAMED_S if streamed else MAX_IN_MEMORY_S
    if float(duration_s) > limit:
        fix = ("split the record into runs of at most that length (source.start_s, source.duration_s)" if streamed
               else "write it with --out (the Python API's out=), which streams it to disk")
        raise ValueError(f"a {float(duration_s) / 3600:.3g} h record is longer than the "
                         f"{'streamed' if streamed else 'in-memory'} path holds ({limit / 3600:g} h); {fix}.")


def open_source(cfg: dict, recording=None, *, stream: bool = False):
    """``(recording or source, source)``: the given recording, the configured one loaded, or streamed.

    With ``stream``, the configured source is streamed when it can be
    (:func:`~acquire.sources.loader.stream_configured`: a PhysioNet or local
    WFDB record read from its files block by block, checked and windowed as
    the loader does, with its errors, before any sample is read; a synthetic
    record starting at 0 s generated chunk by chunk), bit-identical to the
    loaded record, with the same annotations and provenance.
    """
    if recording is not None:
        return recording, (recording if hasattr(recording, "read") else RecordingSource(recording))
    source = stream_configured(cfg["source"]) if stream else None
    if source is not None:
        return source, source
    recording = load_configured(cfg["source"])
    return recording, RecordingSource(recording)


def _lockstep(frontend, ideal_fe, source, refs: dict, meters: dict, chunk_s: float, *, keep: bool, observers,
              progress) -> tuple[RunResult, RunResult, dict | None]:
    """Run both chains on the same source chunks; feed the meters and the observers; keep if asked."""
    n_chunk = max(1, int(round(chunk_s * source.fs_hz)))
    frontend.reset()
    ideal_fe.reset()
    source.reset()
    steps = TwinSteps(frontend, ideal_fe)
    kept = {(role, tap): [] for role in ("y", "x", "s") for tap in TAPS}
    done = 0
    while done < source.n_samples:
        x = source.read(min(n_chunk, source.n_samples - done))
        out, out_ideal = steps.step(x, done)
        done += x.shape[1]
        for tap in TAPS:
            y, xi = out[tap], out_ideal[tap]
            xs = refs[tap].read(y.shape[1])
            meters[tap].update(y, xi, xs)
            for observer in observers:
                observer.update(tap, y, xi, xs)
            if keep:
                for role, v in (("y", y), ("x", xi), ("s", xs)):
                    kept[role, tap].append(v)
        if progress is not None:
            progress(done, source.n_samples)
    joined = {k: np.concatenate(v, axis=1) if keep else None for k, v in kept.items()}
    n = {tap: meters[tap].n for tap in TAPS}

    def result(role, fe):
        return RunResult(joined[role, "acquired"], joined[role, "recovered"], frontend.fs_adc_hz,
                         frontend.fs_out_hz, n["acquired"], n["recovered"], fe.counts())

    refs_kept = {tap: joined["s", tap] for tap in TAPS} if keep else None
    return result("y", frontend), result("x", ideal_fe), refs_kept


def _document(cfg, source, frontend, result, *, delays, bands, settle_s, score_exclude, v_cm_rms,
              channels) -> dict:
    """The metrics document (:data:`SCHEMA`) around the per-channel metrics."""
    from acquire.analog.patient import circuit_report

    mains = frontend.info["mains"]
    f1 = mains.center_hz
    return {
        "schema": SCHEMA,
        "tool_version": __version__,
        "provenance": {"source": dict(source.provenance), "preset": frontend.info["preset"],
                       "seed": int(cfg["run"]["seed"]), "config": cfg},
        "references": {
            "ideal": "same front end with interference, noise, offsets and non-linearities off",
            "source": "recording resampled and zero-phase band-limited to the chain's passband "
                      "up to the tap, delayed by the stages' reported delays",
        },
        "rates_hz": {"source": source.fs_hz, "simulation": frontend.info["fs_sim_hz"],
                     "acquired": result.fs_acquired_hz, "recovered": result.fs_recovered_hz},
        "delay_s": delays,
        "passband_hz": bands,
        "nominal_gain_v_per_v": frontend.nominal_gain_v_per_v,
        "settle_s": settle_s,
        "score_exclude_s": score_exclude[0],
        "score_exclude_rule": score_exclude[1],
        "mains_hz": f1,
        "body_cm_v_rms": v_cm_rms,
        "patient": {k: json_number(v) if isinstance(v, float) else v for k, v in circuit_report(
            frontend.info["patient"], cm_harmonics(mains, frontend.info["patient"])).items()},
        "predicted_residual_mains_uv_rms": {f"{f:g}": json_number(v * 1e6)
                                            for f, v in predicted_residual_mains(frontend)},
        "predicted_cmrr_effective_db": json_number(analytic_cmrr_effective_db(frontend, f1)),
        "cmrr_phase_deg": math.degrees(frontend.info["amp"].cmrr_phase_rad),
        "counts": result.counts,
        "channels": channels,
    }
