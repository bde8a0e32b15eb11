"""The ecgfe command line (Typer). Parses options, calls the library, prints or saves. No maths.

Exit codes: 0 success, 1 runtime error (download failed, unwritable output),
2 usage error (unknown preset, key or record, malformed option). A user's
mistake prints one line on stderr and no traceback unless ``--debug``.
"""

from __future__ import annotations

import functools
import logging
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

app = typer.Typer(help="Simulate ECG acquisition front ends.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
STATE = {"quiet": False, "debug": False}


class UsageError(Exception):
    """A user mistake: exit code 2."""


def fail(message: str, code: int) -> None:
    """Print one error line on stderr and exit with ``code``."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def friendly(func):
    """Turn expected exceptions into one line and an exit code (2 usage, 1 runtime)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from acquire.sources.fetch import FetchError

        try:
            return func(*args, **kwargs)
        except typer.Exit:
            raise
        except (UsageError, ValueError, KeyError) as exc:
            if STATE["debug"]:
                raise
            fail(str(exc).strip("'\""), 2)
        except (FetchError, OSError) as exc:
            if STATE["debug"]:
                raise
            fail(str(exc), 1)

    return wrapper


def say(text: str = "") -> None:
    """Print unless --quiet."""
    if not STATE["quiet"]:
        typer.echo(text)


@app.callback()
def main(
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only results and errors.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress details.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
) -> None:
    """ecgfe: simulate ECG front ends on PhysioNet or synthetic ECG, with mains interference."""
    STATE.update(quiet=quiet, debug=debug)
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")


@app.command()
@friendly
def records() -> None:
    """List downloaded records and the databases the catalog knows."""
    from acquire.sources.physionet import catalog, data_dir, local_records

    local = local_records()
    typer.echo(f"data directory: {data_dir()}  (set $ECGFE_DATA_DIR to change)")
    typer.echo(f"downloaded: {len(local)} record(s)")
    for db, version, rec in local:
        typer.echo(f"  {db}/{rec}  (v{version})")
    typer.echo("catalog:")
    for slug, db in sorted(catalog().items()):
        typer.echo(f"  {slug:<8} v{db.version:<7} {len(db.records):>4} records  {db.fs_hz:g} Hz  {db.title}")


@app.command()
@friendly
def fetch(
    database: Annotated[str, typer.Argument(help="Database slug, e.g. mitdb.")],
    record: Annotated[Optional[list[str]], typer.Argument(help="Records (default: all).")] = None,
) -> None:
    """Download PhysioNet records, verifying PhysioNet's SHA-256 sums ($ECGFE_PHYSIONET_URL overrides the site)."""
    from acquire.sources.physionet import check_record_name, get_database
    from acquire.sources.fetch import fetch as do_fetch

    db = get_database(database)  # usage errors (exit 2) before any network traffic
    for name in record or []:
        db.check_record(check_record_name(name))
    bar = None

    def progress(nbytes: int, total: int | None, name: str) -> None:
        nonlocal bar
        if STATE["quiet"]:
            return
        if bar is None or bar.label != name:
            if bar is not None:
                bar.render_finish()
            bar = typer.progressbar(length=total or 0, label=name, file=sys.stderr)
        bar.update(nbytes)

    report = do_fetch(database, record or None, progress=progress)
    if bar is not None:
        bar.render_finish()
    say(f"{report.database} v{report.version}: {len(report.downloaded)} file(s) downloaded, "
        f"{len(report.skipped)} already verified, in {report.directory}")


ConfigOpt = Annotated[Optional[Path], typer.Option("--config", help="TOML file describing the chain.")]
SetOpt = Annotated[Optional[list[str]], typer.Option("--set", help="Override: section.key=value (repeatable).")]
OutOpt = Annotated[Optional[Path], typer.Option("--out", help="Output directory (created).")]


def build_config(config: Path | None, sets: list[str] | None, shortcuts: dict) -> dict:
    """The effective configuration: defaults, then FILE, then --set, then the shortcut options."""
    from acquire.config import load_config

    overrides = list(sets or [])
    for key, value in shortcuts.items():
        if value is not None:
            overrides.append(f"{key}={value}")
    return load_config(config, overrides)


def shortcut_overrides(source, preset, mains_hz, cm_v_rms, cmrr_db, gain, bandwidth_hz, imbalance,
                       channel, start_s, duration_s, seed) -> dict:
    """Map the common-knob options onto config keys (None = not given)."""
    over = {"source.name": None if source is None else f'"{source}"',
            "amplifier.preset": preset, "mains.frequency_hz": mains_hz,
            "amplifier.cmrr_db": cmrr_db, "amplifier.gain_v_per_v": gain,
            "amplifier.bandwidth_hz": bandwidth_hz, "electrodes.imbalance": imbalance,
            "source.start_s": start_s, "source.duration_s": duration_s, "run.seed": seed,
            "source.channels": None if not channel else "[" + ", ".join(
                c if c.lstrip("-").isdigit() else f'"{c}"' for c in channel) + "]"}
    if cm_v_rms is not None:
        over["body.mode"] = "direct"
        over["body.cm_v_rms"] = cm_v_rms
    return {k: v for k, v in over.items() if v is not None}


def track_mains(cfg: dict) -> None:
    """Retune the default digital stages' mains frequency to the configured mains.

    Only the default ``[[digital]]`` list is retuned; a user's own list is kept as written.
    """
    from acquire.config import DEFAULTS

    if cfg["digital"] != DEFAULTS["digital"]:
        return
    f = float(cfg["mains"]["frequency_hz"])
    for spec in cfg["digital"]:
        for key in ("f0_hz", "mains_hz"):
            if key in spec and float(spec[key]) in (50.0, 60.0):
                spec[key] = f


def progress_bar(label: str):
    """A (callback, close) pair drawing a progress bar on stderr, silent with --quiet."""
    if STATE["quiet"]:
        return None, lambda: None
    bar = typer.progressbar(length=1000, label=label, file=sys.stderr)
    state = {"shown": 0}

    def update(done: int, total: int) -> None:
        target = int(1000 * done / max(total, 1))
        bar.update(target - state["shown"])
        state["shown"] = target

    return update, bar.render_finish


def shorten(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters with an ellipsis (full text is in the files)."""
    return text if len(text) <= width else text[:width - 1] + "…"


def format_table(rows: list[dict], columns: list[str]) -> str:
    """A plain-text table of ``rows`` with the given columns."""
    def fmt(v):
        if isinstance(v, float):
            return f"{v:.4g}"
        return "-" if v is None else str(v)

    cells = [[fmt(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)


SourceArg = Annotated[Optional[str], typer.Argument(
    help="'synthetic' (default), a PhysioNet name such as mitdb/100, or a local WFDB record path.")]
PresetOpt = Annotated[Optional[str], typer.Option("--preset", help="Amplifier model (see 'ecgfe presets').")]
MainsOpt = Annotated[Optional[float], typer.Option("--mains-hz", help="Mains frequency, 50 or 60 Hz.")]
CmOpt = Annotated[Optional[float], typer.Option("--cm-v-rms", help="Body common-mode voltage, V rms (direct).")]
CmrrOpt = Annotated[Optional[float], typer.Option("--cmrr-db", help="Amplifier dc CMRR, dB.")]
GainOpt = Annotated[Optional[float], typer.Option("--gain", help="Amplifier gain, V/V.")]
BwOpt = Annotated[Optional[float], typer.Option("--bandwidth-hz", help="Amplifier -3 dB bandwidth, Hz.")]
ImbOpt = Annotated[Optional[str], typer.Option("--imbalance", help="Electrode imbalance: ohms, or 'iec' (51k||47n).")]
ChanOpt = Annotated[Optional[list[str]], typer.Option("--channel", help="Channel name or index (repeatable).")]
StartOpt = Annotated[Optional[float], typer.Option("--start-s", help="Window start, s.")]
DurOpt = Annotated[Optional[float], typer.Option("--duration-s", help="Window length, s.")]
SeedOpt = Annotated[Optional[int], typer.Option("--seed", help="Random seed (noise, drift, synthetic ECG).")]


def scenario(source, config, sets, preset, mains_hz, cm_v_rms, cmrr_db, gain, bandwidth_hz, imbalance,
             channel, start_s, duration_s, seed) -> dict:
    """The effective configuration of a simulate/compare/sweep invocation."""
    cfg = build_config(config, sets, shortcut_overrides(source, preset, mains_hz, cm_v_rms, cmrr_db, gain,
                                                        bandwidth_hz, imbalance, channel, start_s,
                                                        duration_s, seed))
    track_mains(cfg)
    return cfg


def load_source(cfg: dict):
    """Load the configured source once (user errors become one line)."""
    from acquire.sources.loader import load_configured

    return load_configured(cfg["source"])


@app.command()
@friendly
def simulate(source: SourceArg = None, preset: PresetOpt = None, config: ConfigOpt = None, set_: SetOpt = None,
             mains_hz: MainsOpt = None, cm_v_rms: CmOpt = None, cmrr_db: CmrrOpt = None, gain: GainOpt = None,
             bandwidth_hz: BwOpt = None, imbalance: ImbOpt = None, channel: ChanOpt = None,
             start_s: StartOpt = None, duration_s: DurOpt = None, seed: SeedOpt = None, out: OutOpt = None,
             json_: Annotated[bool, typer.Option("--json", help="Print the metrics document only.")] = False,
             ) -> None:
    """Simulate a front end on a record and report how faithfully the ECG was recovered."""
    import json

    from acquire.evaluation.evaluate import simulate as run_simulation
    from acquire.output.files import ensure_writable_dir
    from acquire.output.writers import write_simulation

    cfg = scenario(source, config, set_, preset, mains_hz, cm_v_rms, cmrr_db, gain, bandwidth_hz, imbalance,
                   channel, start_s, duration_s, seed)
    if out is not None:
        ensure_writable_dir(out)
    recording = load_source(cfg)
    update, close = progress_bar("simulating") if not json_ else (None, lambda: None)
    sim = run_simulation(cfg, recording, progress=update)
    close()
    if json_:
        typer.echo(json.dumps(sim.metrics, indent=2, allow_nan=False))
    else:
        say(summary(sim.metrics))
    if out is not None:
        write_simulation(sim, cfg, out)
        if not json_:
            say(f"wrote {out}/ (metrics.json, acquired/recovered WFDB records, figures, report.html)")


def summary(doc: dict) -> str:
    """A short human summary of a metrics document."""
    keys = ["residual_mains_uv_rms", "cmrr_effective_db", "snr_out_db", "prdn_percent", "qrs_sensitivity",
            "qrs_ppv", "saturated_fraction"]
    rows = [{"channel": ch, "tap": tap, **{k: taps[tap][k] for k in keys}}
            for ch, taps in doc["channels"].items() for tap in ("acquired", "recovered")]
    src = doc["provenance"]["source"]
    name = src.get("record") and f"{src.get('database')}/{src.get('record')}" or src.get("generator", "?")
    head = (f"source {name}, preset {doc['provenance']['preset']}, mains {doc['mains_hz']:g} Hz, "
            f"body common mode {doc['body_cm_v_rms']:.3g} V rms (input-referred values)")
    return head + "\n" + format_table(rows, ["channel", "tap", *keys])


@app.command()
@friendly
def compare(
    presets: Annotated[list[str], typer.Argument(help="Two or more presets, then optionally a SOURCE.")],
    config: ConfigOpt = None, set_: SetOpt = None, mains_hz: MainsOpt = None, cm_v_rms: CmOpt = None,
    imbalance: ImbOpt = None, channel: ChanOpt = None, start_s: StartOpt = None, duration_s: DurOpt = None,
    seed: SeedOpt = None, out: OutOpt = None,
) -> None:
    """Run the same scenario through several front ends; print a table and write a figure."""
    from acquire.output.files import ensure_writable_dir
    from frontend_models.presets import preset_names

    known = set(preset_names())
    source = None
    if presets and presets[-1].lower() not in known and ("/" in presets[-1] or presets[-1] == "synthetic"
                                                         or Path(presets[-1] + ".hea").exists()):
        source = presets.pop()
    if len(presets) < 2:
        raise UsageError("compare needs at least two presets, e.g. ecgfe compare ad8232 ina128 ads1298")
    out = out or Path("ecgfe-compare")
    ensure_writable_dir(out)
    base = scenario(source, config, set_, None, mains_hz, cm_v_rms, None, None, None, imbalance, channel,
                    start_s, duration_s, seed)
    rows = run_comparison(base, presets, out)
    say(f"wrote {out}/ (comparison.json, figures, report.html)")
    del rows


def run_comparison(base: dict, presets: list[str], out: Path) -> list[dict]:
    """Simulate each preset on the same source, write the comparison, print the table."""
    import copy

    from acquire.evaluation.evaluate import simulate as run_simulation
    from acquire.frontend import resolve_preset
    from acquire.output.writers import write_comparison

    for name in presets:  # fail on a typo before any work
        resolve_preset({"preset": name})
    recording = load_source(base)
    sims = {}
    for i, name in enumerate(presets):
        cfg = copy.deepcopy(base)
        cfg["amplifier"] = {"preset": name}
        update, close = progress_bar(f"{name:<8} ({i + 1}/{len(presets)})")
        sims[name] = run_simulation(cfg, recording, progress=update)
        close()
    _, rows = write_comparison(sims, base, out)
    typer.echo(format_table(rows, list(rows[0])))
    return rows


@app.command()
@friendly
def sweep(
    source: SourceArg = None,
    vary: Annotated[Optional[list[str]], typer.Option(
        "--vary", help="KEY=START:STOP:STEP or KEY=v1,v2,... (repeatable; Cartesian product).")] = None,
    jobs: Annotated[int, typer.Option("--jobs", help="Worker processes.")] = 1,
    preset: PresetOpt = None, config: ConfigOpt = None, set_: SetOpt = None, mains_hz: MainsOpt = None,
    cm_v_rms: CmOpt = None, imbalance: ImbOpt = None, channel: ChanOpt = None, start_s: StartOpt = None,
    duration_s: DurOpt = None, seed: SeedOpt = None, out: OutOpt = None,
) -> None:
    """Sweep parameters (resumable): CSV, JSON and figures of the metrics against the varied keys."""
    from acquire.studies.sweep import parse_vary, run_sweep

    if not vary:
        raise UsageError("sweep needs at least one --vary KEY=START:STOP:STEP or KEY=v1,v2,...")
    if jobs < 1:
        raise UsageError(f"--jobs must be >= 1; got {jobs}.")
    varies = [parse_vary(v) for v in vary]
    cfg = scenario(source, config, set_, preset, mains_hz, cm_v_rms, None, None, None, imbalance, channel,
                   start_s, duration_s, seed)
    out = out or Path("ecgfe-sweep")
    update, close = progress_bar("sweep points")
    result = run_sweep(cfg, varies, out, jobs=jobs, progress=update)
    close()
    say(f"{len(result.computed)} point(s) computed, {len(result.skipped)} already done")
    keys = [k for k, _ in varies]
    typer.echo(format_table(result.rows, [*keys, "acquired.residual_mains_uv_rms",
                                          "recovered.residual_mains_uv_rms", "recovered.snr_out_db",
                                          "recovered.qrs_sensitivity", "recovered.qrs_ppv"]))
    from acquire.output.report import report_from_dir

    report_from_dir(out, title="ecgfe sweep: " + ", ".join(keys))
    say(f"wrote {out}/ (sweep.csv, sweep.json, points/, figures, report.html)")


@app.command()
@friendly
def comply(
    preset: PresetOpt = None, config: ConfigOpt = None, set_: SetOpt = None,
    standard: Annotated[str, typer.Option("--standard", help=(
        "iec60601-2-27, iec60601-2-25, aami-ec11, aami-ec13, or a limits TOML file."))] = "iec60601-2-27",
    duration_scale: Annotated[float, typer.Option(
        "--duration-scale", help="Shorten the 60 s CMR window (e.g. 0.1 for a quick check).")] = 1.0,
    matrix: Annotated[bool, typer.Option(
        "--matrix", help="Run every preset against every standard and print which pass.")] = False,
    out: OutOpt = None,
) -> None:
    """Run a standard's front-end bench tests on the modelled front end.

    Exit code 0 when every test passes, 3 when one fails, 1 on any error
    (so it can gate a design in CI).
    """
    from acquire.studies.compliance.procedures import run_compliance
    from acquire.studies.compliance.report import write_compliance
    from acquire.studies.compliance.standards import load_standard
    from acquire.output.files import ensure_writable_dir

    if matrix:
        return compliance_matrix(config, set_, duration_scale, out or Path("ecgfe-comply"))
    try:
        load_standard(standard)  # a typo fails before any work
        cfg = build_config(config, set_, {"amplifier.preset": preset})
        out = out or Path("ecgfe-comply")
        ensure_writable_dir(out)
        update, close = progress_bar(f"{standard} tests")
        report = run_compliance(cfg, standard, progress=update, duration_scale=duration_scale)
        close()
    except ValueError as exc:
        if STATE["debug"]:
            raise
        fail(str(exc), 1)
    rows = [{"test": r.test, "condition": r.condition, "measured": r.measured, "limit": r.limit,
             "unit": r.unit, "margin_db": r.margin_db, "result": "pass" if r.passed else "FAIL",
             "assumption": "yes" if r.assumption else "", "source": shorten(r.source, 48)}
            for r in report.rows]
    typer.echo(format_table(rows, list(rows[0])))
    write_compliance(report, out)
    say(f"{'all tests pass' if report.passed else 'some tests FAIL'}; wrote {out}/ "
        f"(compliance.json, figures, compliance.html)")
    raise typer.Exit(report.exit_code)


def compliance_matrix(config, sets, duration_scale: float, out: Path) -> None:
    """Every preset against every standard profile: a table, ``compliance_matrix.json`` and a report."""
    from acquire.studies.compliance.report import preset_compliance_matrix
    from acquire.output.files import ensure_writable_dir, write_json
    from acquire.output.report import Section, write_html_report

    ensure_writable_dir(out)
    update, close = progress_bar("presets x standards")
    rows = preset_compliance_matrix(cfg=build_config(config, sets, {}), duration_scale=min(duration_scale, 0.1),
                                    progress=update)
    close()
    typer.echo(format_table(rows, list(rows[0])))
    write_json(out / "compliance_matrix.json", {"schema": "ecgfe.compliance-matrix/1", "rows": rows})
    write_html_report(out / "compliance_matrix.html", title="ecgfe: presets x standards",
                      sections=[Section("Which presets pass which standard", tables={"matrix": rows})])
    say(f"wrote {out}/compliance_matrix.json and compliance_matrix.html")


@app.command()
@friendly
def report(directory: Annotated[Path, typer.Argument(help="Output directory of simulate, compare or sweep.")]) -> None:
    """Build a self-contained HTML report of a run, comparison or sweep directory."""
    from acquire.output.report import report_from_dir

    say(f"wrote {report_from_dir(directory)}")


@app.command()
@friendly
def presets() -> None:
    """Table of the amplifier models with their key figures and sources."""
    from frontend_models.presets import preset_table

    rows = preset_table()
    typer.echo(format_table(rows, ["name", "kind", "gain_v_per_v", "cmrr_db_at_60_hz", "bandwidth_hz",
                                   "noise_v_per_rthz", "adc_noise_v_rms", "description"]))
    typer.echo("\nSources: " + "; ".join(f"{r['name']}: {r['cmrr_source']}" for r in rows))


config_app = typer.Typer(help="Show or validate configurations.", no_args_is_help=True)
app.add_typer(config_app, name="config")


@config_app.command("show")
@friendly
def config_show(preset: PresetOpt = None, config: ConfigOpt = None, set_: SetOpt = None) -> None:
    """Print the effective configuration as TOML."""
    from acquire.config import to_toml

    cfg = build_config(config, set_, {"amplifier.preset": preset})
    typer.echo(to_toml(cfg))


@config_app.command("validate")
@friendly
def config_validate(file: Annotated[Path, typer.Argument(help="TOML file to check.")]) -> None:
    """Check a configuration file: keys, values, and that the chain builds."""
    from acquire.frontend import build_frontend

    cfg = build_config(file, None, {})
    build_frontend(cfg, 360.0, 1)
    say(f"{file}: valid")


@app.command()
@friendly
def demo(out: OutOpt = None) -> None:
    """Offline demo: synthetic ECG, 60 Hz mains, IEC electrode imbalance, three front ends compared."""
    out = out or Path("ecgfe-demo")
    from acquire.output.files import ensure_writable_dir

    ensure_writable_dir(out)
    base = build_config(None, None, {"source.duration_s": 60, "electrodes.imbalance": "iec",
                                     "mains.frequency_hz": 60})
    say("ecgfe demo: synthetic ECG (ECGSYN, 72 bpm, 60 s), 60 Hz mains on a floating body "
        "(120 V, 3 pF / 300 pF: 1.19 V rms common mode), 51 kOhm || 47 nF electrode imbalance.")
    say("Front ends: AD8232 (heart-rate AFE, 80 dB CMRR), INA128 (classic in-amp), ADS1298 (24-bit ECG AFE).\n")
    run_comparison(base, ["ad8232", "ina128", "ads1298"], out)
    say(f"\nwrote {out}/: comparison.json, figures (comparison, time panels, Bode plots), report.html")
    say(f"open {out / 'report.html'} in a browser")


if __name__ == "__main__":
    app()
