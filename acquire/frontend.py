"""Build a front end (analog chain, ADC, digital chain) from a configuration.

The chain follows DESIGN.md's signal path::

    resample (fs_src -> fs_sim) -> mains/body -> electrodes -> in-amp
      -> [AC coupling] -> [second gain stage] -> anti-alias -> ADC (fs_adc)
      -> digital stages

Defaults: ``fs_sim_hz`` = 8 kHz, a multiple (16x) of the 500 Hz ADC rate,
high enough for mains harmonics up to the 13th of 60 Hz (780 Hz) and for
the anti-alias filter's stopband well below fs_sim/2.

The **ideal** variant of a front end is the same chain with interference,
noise, offsets and non-linearities switched off: no body common mode or
magnetic pickup, no electrode offset, drift or noise, no amplifier noise,
offset or bias currents, no clipping, and an ADC that samples without
noise, quantisation or clipping. The difference between the two is what
interference and noise did.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math

import numpy as np

from acquire._check import check_option
from acquire.analog.adc import Adc, AdcParams
from acquire.analog.post import AcCoupling, AntiAliasFilter, GainStage
from acquire.analog.electrodes import ElectrodeParams, ElectrodeStage, cm_to_dm_transfer, parse_imbalance
from acquire.analog.impedance import ElectrodeImpedance, ParallelRC
from acquire.analog.mains import MainsParams, MainsStage, cm_harmonics
from acquire.analog.patient import BodyParams, PatientCircuit
from acquire.analog.resample import Resampler
from acquire.runner import Frontend
from acquire.stage import Chain
from frontend_models.inamp import InAmpParams, InstrumentationAmplifier
from frontend_models.presets import MODEL_KEYS, amp_params_for_gain, resolve_model

#: Post-amplifier settings when neither the preset nor the config gives them.
POST_DEFAULTS = {"ac_coupling_hz": 0.0, "ac_coupling_order": 1, "gain2_v_per_v": 1.0,
                 "aa_hz": 150.0, "aa_order": 4, "aa_kind": "butterworth"}
#: The preset file's [post] names mapped to the config's.
PRESET_POST_KEYS = {"hp_hz": "ac_coupling_hz", "hp_order": "ac_coupling_order",
                    "gain2_v_per_v": "gain2_v_per_v", "lp_hz": "aa_hz", "lp_order": "aa_order"}
#: Amplifier fields that exclude each other: overriding one clears the other.
EXCLUSIVE_AMP_FIELDS = {"bandwidth_hz": "gbw_hz", "gbw_hz": "bandwidth_hz",
                        "cmrr_corner_hz": "cmrr_hf_point", "cmrr_hf_point": "cmrr_corner_hz"}
#: ``run.start``: "steady" primes every stage at the dc operating point (Frontend.prime),
#: "cold" keeps the switch-on transient (stages at rest, offsets applied as a step at t = 0).
START_MODES = ("steady", "cold")
#: Stream numbers so every noisy stage draws independent seeded noise.
SEED_STREAMS = {"mains": 1, "electrodes": 2, "amplifier": 3, "adc": 4}


def amplifier_params(amp_cfg: dict) -> tuple[InAmpParams, object]:
    """InAmpParams from a preset plus the config's overrides, and the preset.

    A ``gain_v_per_v`` override re-reads the preset's gain tables (CMRR and
    bandwidth depend on gain). A ``cmrr_db`` override keeps the preset's CMRR
    corner frequency. Overriding one of a pair of exclusive fields
    (bandwidth vs gain-bandwidth, corner vs high-frequency point) clears the
    other.
    """
    preset = resolve_model(amp_cfg)
    over = {k: v for k, v in amp_cfg.items() if k not in (*MODEL_KEYS, "z_cm_r_ohm", "z_cm_c_f", "cmrr_polarity")}
    params = preset.amp
    if {"z_cm_r_ohm", "z_cm_c_f"} & set(amp_cfg):
        over["z_cm"] = ParallelRC(float(amp_cfg.get("z_cm_r_ohm", params.z_cm.r_ohm)),
                                  float(amp_cfg.get("z_cm_c_f", params.z_cm.c_f)))
    for key in ("cmrr_hf_point", "input_cm_range_v"):
        if key in over:
            over[key] = tuple(over[key])
    if "gain_v_per_v" in over:
        params = amp_params_for_gain(preset, float(over.pop("gain_v_per_v")))
    if "cmrr_db" in over and "cmrr_corner_hz" not in over and params.cmrr_hf_point is not None:
        over["cmrr_corner_hz"] = params.cmrr_zero_hz
    for key in list(over):
        if key in EXCLUSIVE_AMP_FIELDS:
            over[EXCLUSIVE_AMP_FIELDS[key]] = None
    try:
        return dataclasses.replace(params, **over), preset
    except TypeError as exc:  # unknown field from a user file or --set
        raise ValueError(f"[amplifier]: {exc}") from None


#: ``amplifier.cmrr_polarity`` names; a number is a phase in degrees.
POLARITIES = ("worst", "best", "+", "-")


def cmrr_phase_rad(polarity, amp: InAmpParams, electrodes: ElectrodeParams, f_hz: float) -> float:
    """The common-mode gain's phase for ``amplifier.cmrr_polarity`` at the mains frequency ``f_hz``.

    Parameters
    ----------
    polarity : {"worst", "best", "+", "-"} or float
        ``"worst"`` (the default) turns A_cm so that its error adds to the
        electrode divider's in magnitude at ``f_hz``:
        |A_cm + D A_d| = |A_cm| + |D A_d|, so 1/CMRR_eff = 1/|CMRR| + |D|;
        ``"best"`` opposes them (|A_cm| - |D A_d|, the favourable case a real
        part is not guaranteed to have); ``"+"``/``"-"``: A_cm in phase with
        v_cm or opposite; a number: that phase in degrees.
    amp : InAmpParams
        With ``cmrr_phase_rad = 0``.
    electrodes : ElectrodeParams
    f_hz : float

    Notes
    -----
    A datasheet gives |CMRR|; its sign comes from resistor mismatch and its
    phase from capacitive mismatch, so a design must assume the worst.
    """
    if isinstance(polarity, bool):
        raise ValueError(f"amplifier.cmrr_polarity must be one of {POLARITIES} or a phase in degrees; "
                         f"got {polarity!r}.")
    if isinstance(polarity, (int, float)):
        if not math.isfinite(polarity):
            raise ValueError(f"amplifier.cmrr_polarity in degrees must be finite; got {polarity!r}.")
        return math.radians(polarity)
    check_option("amplifier.cmrr_polarity", polarity, POLARITIES)
    if polarity in ("+", "-"):
        return 0.0 if polarity == "+" else math.pi
    d = divider_transfer(electrodes, amp, f_hz) * complex(amp.diff_gain(f_hz))
    if d == 0:
        return 0.0 if polarity == "worst" else math.pi
    phase = float(np.angle(d) - np.angle(complex(amp.cm_gain(f_hz))))
    return phase if polarity == "worst" else phase + math.pi


def divider_transfer(electrodes: ElectrodeParams, amp: InAmpParams, f_hz):
    """The CM-to-DM divider D(f) of the electrodes against the amplifier's inputs (mismatch, cables)."""
    shunt_pos, shunt_neg = electrodes.input_shunts(amp.z_cm, amp.z_cm_mismatch)
    return cm_to_dm_transfer(f_hz, electrodes.z_pos, electrodes.z_neg, shunt_pos, shunt_neg)


def lumped(parts) -> ElectrodeImpedance:
    """One R_s + (R_d || C_d) section standing for impedances in series.

    Exact at dc (R_d = sum of the parts' R_d) and in the first moment of
    frequency (tau = R_d-weighted mean of the parts' time constants). Used
    only to shape the amplifier's input current noise and bias-current drop;
    the common-mode conversion uses the exact series impedance.
    """
    parts = parts if isinstance(parts, tuple) else (parts,)
    r_d = sum(p.r_d_ohm for p in parts)
    tau = sum(p.r_d_ohm * p.r_d_ohm * p.c_d_f for p in parts) / r_d if r_d else 0.0
    return ElectrodeImpedance(sum(p.r_s_ohm for p in parts), r_d, tau / r_d if r_d else 0.0)


def patient_circuit(body: BodyParams, electrodes: ElectrodeParams, amp: InAmpParams, n_channels: int):
    """The patient circuit loaded by every input: each lead's two electrodes, each into its shunt.

    Each lead is modelled with its own electrode pair, so ``n_channels``
    leads load the body with ``2 n_channels`` inputs (an assumption: a real
    lead set shares electrodes between leads).
    """
    shunt_pos, shunt_neg = electrodes.input_shunts(amp.z_cm, amp.z_cm_mismatch)
    pair = ((_parts(electrodes.z_pos), shunt_pos), (_parts(electrodes.z_neg), shunt_neg))
    return PatientCircuit(body, pair * n_channels)


def _parts(z) -> tuple:
    return z if isinstance(z, tuple) else (z,)


def body_params(cfg: dict) -> BodyParams:
    """BodyParams from ``[body]``."""
    body = dict(cfg["body"])
    if "z_ref_ohm" in body:
        body["z_ref"] = float(body.pop("z_ref_ohm"))
    return BodyParams(**body)


def mains_params(cfg: dict) -> MainsParams:
    """MainsParams from ``[mains]``."""
    return MainsParams(**cfg["mains"])


def electrode_params(cfg: dict) -> ElectrodeParams:
    """ElectrodeParams from ``[electrodes]``."""
    el = dict(cfg["electrodes"])
    if {"r_s_ohm", "r_d_ohm", "c_d_f"} & set(el):
        el["z_electrode"] = ElectrodeImpedance(float(el.pop("r_s_ohm", 0.0)), float(el.pop("r_d_ohm", 0.0)),
                                               float(el.pop("c_d_f", 0.0)))
    el["imbalance"] = parse_imbalance(el.get("imbalance", 0.0))
    return ElectrodeParams(**el)


def post_settings(cfg: dict, preset) -> dict:
    """Post-amplifier settings: defaults, then the preset's, then the config's."""
    post = dict(POST_DEFAULTS)
    for key, value in (preset.post or {}).items():
        post[PRESET_POST_KEYS.get(key, key)] = value
    post.update(cfg["post"])
    check_option("post.aa_kind", post["aa_kind"], ("butterworth", "bessel"))
    return post


def adc_params(cfg: dict, preset) -> AdcParams:
    """AdcParams: the preset's converter (AFEs), then the config's fields."""
    return AdcParams(**{**(preset.adc or {}), **cfg["adc"]})


@contextlib.contextmanager
def _naming(keys: str):
    """Prefix a ValueError raised inside with the configuration ``keys`` it is about (a stage names its own field)."""
    try:
        yield
    except ValueError as exc:
        raise ValueError(f"{keys}: {exc}") from None


def build_frontend(cfg: dict, fs_src_hz: float, n_channels: int, *, ideal: bool = False) -> Frontend:
    """Build the chains described by ``cfg`` for a source of ``fs_src_hz`` and ``n_channels`` leads.

    Parameters
    ----------
    cfg : dict
        A configuration from :func:`acquire.config.load_config`.
    fs_src_hz : float
        Sampling rate of the source.
    n_channels : int
        Number of leads; each has its own electrode pair.
    ideal : bool
        Build the ideal reference chain (see the module docstring).

    Raises
    ------
    ValueError
        Any invalid parameter, naming it (raised by the parameter classes).
    """
    from acquire.digital.filters import make_digital_stage

    fs_sim = float(cfg["run"]["fs_sim_hz"])
    seed = int(cfg["run"]["seed"])
    amp, preset = amplifier_params(cfg["amplifier"])
    electrodes = electrode_params(cfg)
    mains, body = mains_params(cfg), body_params(cfg)
    post = post_settings(cfg, preset)
    adc = adc_params(cfg, preset)
    if ideal:
        amp = dataclasses.replace(amp, noise_v_per_rthz=0.0, current_noise_a_per_rthz=0.0,
                                  bias_current_a=0.0, offset_current_a=0.0, offset_v=0.0,
                                  output_swing_v=math.inf, input_cm_range_v=(-math.inf, math.inf))
        electrodes = dataclasses.replace(electrodes, offset_v=0.0, offset_drift_v_per_rts=0.0,
                                         noise_v_rms=0.0)
    amp = dataclasses.replace(amp, cmrr_phase_rad=cmrr_phase_rad(
        cfg["amplifier"].get("cmrr_polarity", "worst"), amp, electrodes, mains.center_hz))
    patient = patient_circuit(body, electrodes, amp, n_channels)
    stages = []
    if not math.isclose(fs_src_hz, fs_sim):
        stages.append(("resample", Resampler(fs_src_hz, fs_sim)))
    if not ideal:
        stages.append(("mains", MainsStage(mains, patient, fs_sim, seed=seed + SEED_STREAMS["mains"])))
    stages += [
        ("electrodes", ElectrodeStage(electrodes, amp.z_cm, fs_sim, n_channels,
                                      seed=seed + SEED_STREAMS["electrodes"], z_cm_mismatch=amp.z_cm_mismatch)),
        ("amplifier", InstrumentationAmplifier(amp, fs_sim, z_pos=lumped(electrodes.z_pos),
                                               z_neg=lumped(electrodes.z_neg), n_channels=n_channels,
                                               seed=seed + SEED_STREAMS["amplifier"])),
    ]
    with _naming("post.ac_coupling_hz / ac_coupling_order"):
        if post["ac_coupling_hz"]:
            stages.append(("ac_coupling", AcCoupling(post["ac_coupling_hz"], int(post["ac_coupling_order"]),
                                                     fs_hz=fs_sim)))
    if post["gain2_v_per_v"] != 1.0:
        swing = None if ideal else (amp.output_swing_v if math.isfinite(amp.output_swing_v) else None)
        stages.append(("gain2", GainStage(float(post["gain2_v_per_v"]), fs_sim, output_swing_v=swing)))
    with _naming("post.aa_hz / aa_order"):
        if post["aa_hz"]:
            stages.append(("anti_alias", AntiAliasFilter(post["aa_hz"], int(post["aa_order"]), post["aa_kind"],
                                                         fs_hz=fs_sim)))
    analog = Chain(stages)
    converter = Adc(adc, fs_sim, seed=seed + SEED_STREAMS["adc"], ideal=ideal)
    digital = None
    if cfg["digital"]:
        digital_stages, fs = [], adc.fs_adc_hz
        for i, spec in enumerate(cfg["digital"]):
            spec = dict(spec)
            kind = str(spec.pop("kind", ""))
            with _naming(f"digital.{i} ({kind})"):
                stage = make_digital_stage(kind, fs, **spec)
            digital_stages.append((f"{i}:{kind}", stage))
            fs = stage.fs_out_hz
        digital = Chain(digital_stages)
    gain = amp.gain_v_per_v * float(post["gain2_v_per_v"])
    info = {"preset": preset.name, "model": preset, "amp": amp, "electrodes": electrodes, "mains": mains, "body": body,
            "patient": patient,
            "adc": adc, "post": post, "fs_sim_hz": fs_sim}
    frontend = Frontend(analog, converter, digital, gain, info)
    if check_option("run.start", cfg["run"].get("start", "steady"), START_MODES) == "steady":
        frontend.prime(n_channels)
    return frontend


def chain_response(frontend: Frontend, f_hz) -> np.ndarray:
    """Complex differential gain of the analog chain after the amplifier, relative to nominal.

    Product of the post-amplifier stages' analog responses (AC coupling,
    second gain stage, anti-alias filter) divided by the second-stage gain,
    so it is 1 in the passband.
    """
    h = np.ones(np.shape(f_hz), dtype=complex)
    for name, stage in frontend.analog.stages:
        if name in ("ac_coupling", "gain2", "anti_alias"):
            h = h * stage.freq_response(f_hz)
    return h / float(frontend.info["post"]["gain2_v_per_v"])


def tap_gain_rel(frontend: Frontend, f_hz) -> float:
    """|A_d(f)| of the chain up to the acquired tap (amplifier, post stages, ADC) over the nominal gain."""
    amp = frontend.analog["amplifier"].params
    return float(np.abs(amp.diff_gain(f_hz) / amp.gain_v_per_v * chain_response(frontend, f_hz)).item())


def analytic_cmrr_effective_db(frontend: Frontend, f_hz):
    """Effective CMRR of the front end, |A_d(f)| / |A_cm(f) + D(f) A_d(f)|, dB (analytic).

    A_d and A_cm are the amplifier's differential and common-mode gains (the
    configured phase included) and D the electrode divider
    (:func:`divider_transfer`); the stages after the amplifier scale both
    alike, so this is the CMRR_eff of the chain up to the ADC at every f
    (Winter & Webster 1983; facts.md 2.2).
    """
    amp = frontend.analog["amplifier"].params
    a_d = amp.diff_gain(f_hz)
    error = amp.cm_gain(f_hz) + divider_transfer(frontend.info["electrodes"], amp, f_hz) * a_d
    with np.errstate(divide="ignore"):
        out = 20 * np.log10(np.abs(a_d) / np.abs(error))
    return float(out) if np.ndim(out) == 0 else out


def predicted_residual_mains(frontend: Frontend) -> list[tuple[float, float]]:
    """Analytic input-referred mains residual at the ADC, per harmonic: ``(f_hz, V rms)``.

    For each harmonic of the body common mode v_cm (cf. :func:`cm_harmonics`),
    the input-referred differential error is the phasor sum of the
    amplifier's finite CMRR and the electrode divider (Winter & Webster 1983;
    facts.md 2.2)::

        e(f) = v_cm(f) [A_cm(f)/G + D(f) A_d(f)/G] H_post(f)

    with D the divider :func:`cm_to_dm_transfer`, A_d and A_cm the amplifier's
    analog gains and H_post the post-amplifier response relative to nominal.
    Ignores noise and the (tiny) common-mode drop across the electrodes.
    """
    amp = frontend.analog["amplifier"]
    el = frontend.info["electrodes"]
    g = amp.params.gain_v_per_v
    out = []
    for f, v_cm in cm_harmonics(frontend.info["mains"], frontend.info["patient"]):
        d = divider_transfer(el, amp.params, f)
        e = v_cm * (amp.cm_gain(f) + d * amp.diff_gain(f)) / g * chain_response(frontend, f)
        out.append((f, float(np.abs(e).item())))
    return out
