"""The ecgfe command line (Typer). Parses options, calls the library, prints or saves. No maths.

Exit codes: 0 success, 1 runtime error (download failed, unwritable output),
2 usage error (unknown preset, key or record, malformed option). A user's
mistake prints one line on stderr and no traceback unless ``--debug``.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from acquire.commands import (
    STATE, App, BwOpt, ChanOpt, CmOpt, CmrrOpt, ConfigOpt, DebugOpt, DurOpt, GainOpt, ImbOpt, MainsOpt, OutOpt,
    OverwriteOpt, PresetOpt, QuietOpt, SeedOpt, SetOpt, SourceArg, StartOpt, UsageError, VerboseOpt, fail, friendly,
    progress_bar, say, set_globals, shortcut_keys)
from acquire.output.provenance import begin_output
from acquire.output.text import format_table, metrics_summary, shorten

#: ``comply --duration-scale`` limits: the CMR window (60 s) scaled to 1 s at least (the procedures' minimum)
#: and 10 min at most (longer windows only cost time and memory: 600 s at 8 kHz is 4.8 M samples per array).
DURATION_SCALES = (0.01, 10.0)
app = App(help="Simulate ECG acquisition front ends.", no_args_is_help=True)


@app.callback()
def main(quiet: QuietOpt = False, verbose: VerboseOpt = False, debug: DebugOpt = False) -> None:
    """ecgfe: simulate ECG front ends on PhysioNet or synthetic ECG, with mains interference."""
    set_globals(quiet, verbose, debug, reset=True)


@app.command()
@friendly
def records() -> None:
    """List downloaded records and the databases the catalog knows."""
    from acquire.sources.physionet import catalog, data_dir, local_records

    local = local_records()
    n_bad = sum(r.problem is not None for r in local)
    typer.echo(f"data directory: {data_dir()}  (set $ECGFE_DATA_DIR to change)")
    typer.echo(f"downloaded: {len(local) - n_bad} complete record(s), {n_bad} incomplete")
    for r in local:
        bad = f"  INCOMPLETE: {r.problem}; run 'ecgfe fetch {r.database} {r.record}'" if r.problem else ""
        typer.echo(f"  {r.database}/{r.record}  (v{r.version}){bad}")
    typer.echo("catalog:")
    for slug, db in sorted(catalog().items()):
        typer.echo(f"  {slug:<8} v{db.version:<7} {len(db.records):>4} records  {db.fs_hz:g} Hz  {db.title}")


@app.command()
@friendly
def fetch(
    database: Annotated[str, typer.Argument(help="Database slug, e.g. mitdb.")],
    record: Annotated[Optional[list[str]], typer.Argument(help="Records.", show_default="all")] = None,
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


@app.command()
@friendly
def simulate(source: SourceArg = None, preset: PresetOpt = None, config: ConfigOpt = None, set_: SetOpt = None,
             mains_hz: MainsOpt = None, cm_v_rms: CmOpt = None, cmrr_db: CmrrOpt = None, gain: GainOpt = None,
             bandwidth_hz: BwOpt = None, imbalance: ImbOpt = None, channel: ChanOpt = None,
             start_s: StartOpt = None, duration_s: DurOpt = None, seed: SeedOpt = None, out: OutOpt = None,
             json_: Annotated[bool, typer.Option("--json", help="Print the metrics document only.")] = False,
             overwrite: OverwriteOpt = False) -> None:
    """Simulate a front end on a record and report how faithfully the ECG was recovered."""
    import json

    import acquire

    saving = begin_output(out, overwrite, sys.argv, config=config, reads=(source,)) if out is not None else {}
    update, close = progress_bar("simulating") if not json_ else (None, lambda: None)
    sim = acquire.simulate(source, preset, config=config, sets=set_ or (), progress=update, out=out, **saving,
                           **shortcut_keys(mains_hz, cm_v_rms, cmrr_db, gain, bandwidth_hz, imbalance, channel,
                                           start_s, duration_s, seed))
    close()
    if json_:
        typer.echo(json.dumps(sim.metrics, indent=2, allow_nan=False))
    else:
        typer.echo(metrics_summary(sim.metrics))
    if out is not None and not json_:
        say(f"wrote {out}/ (metrics.json, acquired/recovered WFDB records, figures, report.html)")


@app.command()
@friendly
def compare(
    presets: Annotated[list[str], typer.Argument(help="Two or more presets, then optionally a SOURCE.")],
    config: ConfigOpt = None, set_: SetOpt = None, mains_hz: MainsOpt = None, cm_v_rms: CmOpt = None,
    imbalance: ImbOpt = None, channel: ChanOpt = None, start_s: StartOpt = None, duration_s: DurOpt = None,
    seed: SeedOpt = None, out: OutOpt = None, overwrite: OverwriteOpt = False,
) -> None:
    """Run the same scenario through several front ends; print a table and write a figure."""
    from frontend_models.presets import preset_names

    known = set(preset_names())
    source = None
    if presets and presets[-1].lower() not in known and ("/" in presets[-1] or presets[-1] == "synthetic"
                                                         or Path(presets[-1] + ".hea").exists()):
        source = presets.pop()
    if len(presets) < 2:
        raise UsageError("compare needs at least two presets, e.g. ecgfe compare ad8232 ina128 ads1298")
    out = out or Path("ecgfe-compare")
    saving = begin_output(out, overwrite, sys.argv, config=config, reads=(source,))
    run_comparison(presets, out, saving, source=source, config=config, sets=set_ or (),
                   **shortcut_keys(mains_hz, cm_v_rms, None, None, None, imbalance, channel, start_s,
                                   duration_s, seed))
    say(f"wrote {out}/ (comparison.json, one directory per preset, figures, report.html)")


def run_comparison(presets: list[str], out: Path, save_options: dict, **scenario) -> None:
    """Compare ``presets`` through the API (a progress bar per preset), save with ``save_options``, print the table."""
    import acquire

    closers = []

    def progress(name: str, index: int, total: int):
        for close in closers:
            close()
        update, close = progress_bar(f"{name:<8} ({index + 1}/{total})")
        closers[:] = [close]
        return update

    result = acquire.compare(presets, progress=progress, **scenario)
    for close in closers:
        close()
    result.save(out, **save_options)
    typer.echo(format_table(result.rows, list(result.rows[0])))


RECORDS_HELP = ("mitdb (every record its RECORDS list names), mitdb:local (the downloaded ones), "
                "mitdb/100,mitdb/101, or a file of names.")
RecordsOpt = Annotated[Optional[str], typer.Option("--records", help=RECORDS_HELP,
                                                   show_default="none: the SOURCE argument")]
SchedulerOpt = Annotated[str, typer.Option("--scheduler", help=(
    "'local' (--jobs processes here) or a Dask scheduler address tcp://HOST:PORT (same results)."))]
MaxPointsOpt = Annotated[Optional[int], typer.Option("--max-points", help=(
    "Most points, or (point, record) units, accepted."), show_default="100000")]


@contextlib.contextmanager
def resumable(out: Path, close):
    """Close the progress bar; on SIGINT or SIGTERM say how to resume in one line and exit 128 + the signal."""
    from acquire.studies.scheduler import Interrupted

    try:
        yield
    except Interrupted as exc:
        close()
        fail(f"interrupted by {exc.name}; finished units are kept in {out}/: rerun the same command to resume.",
             exc.exit_code)
    close()


@app.command()
@friendly
def sweep(
    source: SourceArg = None,
    vary: Annotated[Optional[list[str]], typer.Option(
        "--vary", help="KEY=START:STOP:STEP or KEY=v1,v2,... (repeatable; Cartesian product).",
        show_default="none; one is needed")] = None,
    records: RecordsOpt = None,
    jobs: Annotated[int, typer.Option("--jobs", help="Worker processes.")] = 1,
    scheduler: SchedulerOpt = "local", max_points: MaxPointsOpt = None,
    preset: PresetOpt = None, config: ConfigOpt = None, set_: SetOpt = None, mains_hz: MainsOpt = None,
    cm_v_rms: CmOpt = None, imbalance: ImbOpt = None, channel: ChanOpt = None, start_s: StartOpt = None,
    duration_s: DurOpt = None, seed: SeedOpt = None, out: OutOpt = None,
) -> None:
    """Sweep parameters (resumable): CSV, JSON and figures of the metrics against the varied keys.

    With --records every point runs on every record and is aggregated per point, as 'ecgfe batch --vary'.
    """
    import acquire

    if not vary:
        raise UsageError("sweep needs at least one --vary KEY=START:STOP:STEP or KEY=v1,v2,...")
    if jobs < 1:
        raise UsageError(f"--jobs must be >= 1; got {jobs}.")
    keys = shortcut_keys(mains_hz, cm_v_rms, None, None, None, imbalance, channel, start_s, duration_s, seed)
    if records is not None:
        if source is not None:
            raise UsageError(f"give a source ({source}) or --records, not both.")
        return run_batch_command(records, vary, out or Path("ecgfe-sweep"), jobs=jobs, scheduler=scheduler,
                                 max_points=max_points, preset=preset, config=config, sets=set_ or (), **keys)
    out = out or Path("ecgfe-sweep")
    saving = begin_output(out, False, sys.argv, config=config, reads=(source,), resume="sweep")
    update, close = progress_bar("sweep points")
    with resumable(out, close):
        result = acquire.sweep(vary, source, out=out, jobs=jobs, scheduler=scheduler, max_points=max_points,
                               preset=preset, config=config, sets=set_ or (), progress=update, **keys)
    say(f"{len(result.run.computed)} point(s) computed, {len(result.run.skipped)} already done"
        + "".join(f"; {n} file(s) {why}, recomputed" for why, n in _reasons(result.run.stale).items()))
    typer.echo(format_table(result.rows, [*result.run.keys, "acquired.residual_mains_uv_rms",
                                          "recovered.residual_mains_uv_rms", "recovered.snr_out_db",
                                          "recovered.qrs_sensitivity", "recovered.qrs_ppv"]))
    result.save(**saving)
    say(f"wrote {out}/ (sweep.csv, sweep.json, points/, figures, report.html)")


def _reasons(stale: dict) -> dict:
    """Why point files were not reused -> how many."""
    return {why: list(stale.values()).count(why) for why in sorted(set(stale.values()))}


@app.command()
@friendly
def batch(
    records: Annotated[str, typer.Option("--records", help=RECORDS_HELP)],
    vary: Annotated[Optional[list[str]], typer.Option(
        "--vary", help="Optional grid: KEY=START:STOP:STEP or KEY=v1,v2,... (repeatable).",
        show_default="none: the one design")] = None,
    jobs: Annotated[int, typer.Option("--jobs", help="Worker processes.")] = 1,
    scheduler: SchedulerOpt = "local", max_points: MaxPointsOpt = None,
    preset: PresetOpt = None, config: ConfigOpt = None, set_: SetOpt = None, mains_hz: MainsOpt = None,
    cm_v_rms: CmOpt = None, imbalance: ImbOpt = None, channel: ChanOpt = None, start_s: StartOpt = None,
    duration_s: DurOpt = None, seed: SeedOpt = None, out: OutOpt = None,
) -> None:
    """Run the design (or a grid of designs) on every record of a set; aggregate like sumstats (resumable)."""
    run_batch_command(records, vary or (), out or Path("ecgfe-batch"), jobs=jobs, scheduler=scheduler,
                      max_points=max_points, preset=preset, config=config, sets=set_ or (),
                      **shortcut_keys(mains_hz, cm_v_rms, None, None, None, imbalance, channel, start_s,
                                      duration_s, seed))


def run_batch_command(records: str, vary, out: Path, *, config, **options) -> None:
    """The body of ``batch`` and of ``sweep --records``: run, print the aggregates, save."""
    import acquire

    saving = begin_output(out, False, sys.argv, config=config, resume="batch")
    update, close = progress_bar("(point, record) units")
    with resumable(out, close):
        result = acquire.batch(records, vary, out=out, config=config, progress=update, **options)
    say(f"{len(result.run.computed)} unit(s) computed, {len(result.run.skipped)} already done"
        + "".join(f"; {n} file(s) {why}, recomputed" for why, n in _reasons(result.run.stale).items()))
    typer.echo(format_table(result.rows, ["point", *result.run.points[0], "records", "gross_se", "gross_ppv",
                                          "average_se", "average_ppv", "acquired.residual_mains_uv_rms.median",
                                          "acquired.cmrr_effective_db.median", "acquired.cmrr_effective_db.worst",
                                          "acquired.cmrr_effective_db.worst_record"]))
    result.save(out, **saving)
    say(f"wrote {out}/ (batch.json, batch.csv, points/, figures, report.html)")


@app.command()
@friendly
def montecarlo(
    source: SourceArg = None,
    draws: Annotated[int, typer.Option("--draws", help="Number of draws (analytic; thousands per second).")] = 1000,
    vary_dist: Annotated[Optional[list[str]], typer.Option("--vary-dist", help=(
        "KEY=DIST: lognormal(s), normal(sd), tolerance(t), uniform(lo, hi), choice(a, b, ...) (repeatable). "
        "CMRR phase (uniform 0-360 deg) and imbalance lead vary by default."), show_default="none")] = None,
    preset: Annotated[Optional[list[str]], typer.Option(
        "--preset", help="Amplifier model; repeat to compare parts on the same draws.",
        show_default="the config's amplifier.preset, ina128")] = None,
    simulate_k: Annotated[int, typer.Option("--simulate", help=(
        "Also simulate the first K draws in the time domain (checks the analytic path)."))] = 0,
    limit_uv_pp: Annotated[Optional[float], typer.Option("--limit-uv-pp", help=(
        "Yield limit, µV p-p RTI."), show_default="the standards' 1 mV p-p at 10 V rms scaled to the common mode")] = None,
    jobs: Annotated[int, typer.Option("--jobs", help="Worker processes for the time-domain draws.")] = 1,
    records: Annotated[Optional[str], typer.Option("--records", help=(
        "Run the time-domain draws on each of these records: " + RECORDS_HELP
        + " The analytic draws do not depend on the record."), show_default="none: the SOURCE argument")] = None,
    scheduler: SchedulerOpt = "local", max_points: MaxPointsOpt = None,
    config: ConfigOpt = None, set_: SetOpt = None, mains_hz: MainsOpt = None, cm_v_rms: CmOpt = None,
    imbalance: ImbOpt = None, duration_s: DurOpt = None, seed: SeedOpt = None, out: OutOpt = None,
    overwrite: OverwriteOpt = False,
) -> None:
    """Monte Carlo tolerance analysis: residual mains percentiles and yield over drawn tolerances."""
    import acquire

    out = out or Path("ecgfe-montecarlo")
    saving = begin_output(out, overwrite, sys.argv, config=config, reads=(source,),
                          resume="montecarlo" if simulate_k else None)
    update, close = progress_bar("time-domain (draw, record) units") if simulate_k else (None, lambda: None)
    with resumable(out, close):
        result = acquire.montecarlo(source, preset, draws=draws, vary_dist=vary_dist or (),
                                    simulate=simulate_k, limit_uv_pp=limit_uv_pp, out=out, jobs=jobs,
                                    records=records, scheduler=scheduler, max_points=max_points, config=config,
                                    sets=set_ or (), progress=update,
                                    **shortcut_keys(mains_hz, cm_v_rms, None, None, None, imbalance, None, None,
                                                    duration_s, seed))
    typer.echo(format_table(result.rows, list(result.rows[0])))
    result.save(out, **saving)
    say(f"limit {result.run.limit_uv_pp:.4g} µV p-p ({result.run.limit_source}); "
        f"wrote {out}/ (montecarlo.json, montecarlo.csv, CDF figures, report.html)")


@app.command()
@friendly
def comply(
    preset: PresetOpt = None, config: ConfigOpt = None, set_: SetOpt = None,
    standard: Annotated[str, typer.Option("--standard", help=(
        "iec60601-2-27, iec60601-2-25, aami-ec11, aami-ec13, or a limits TOML file."))] = "iec60601-2-27",
    duration_scale: Annotated[float, typer.Option("--duration-scale", help=(
        f"Scale the 60 s CMR window (0.1 for a quick check), from {DURATION_SCALES[0]:g} (the procedures' "
        f"1 s minimum window) to {DURATION_SCALES[1]:g} (10 min: longer only costs time and memory)."))] = 1.0,
    matrix: Annotated[bool, typer.Option(
        "--matrix", help="Run every preset against every standard and print which pass.")] = False,
    out: OutOpt = None, overwrite: OverwriteOpt = False,
) -> None:
    """Run a standard's front-end bench tests on the modelled front end.

    Exit code 0 when every test passes, 3 when one fails, 2 for a usage
    error, 1 on any other error (so it can gate a design in CI).
    """
    import acquire

    if not DURATION_SCALES[0] <= duration_scale <= DURATION_SCALES[1]:
        raise UsageError(f"--duration-scale must be from {DURATION_SCALES[0]:g} to {DURATION_SCALES[1]:g} "
                         f"(a 1 s to 10 min CMR window); got {duration_scale:g}.")
    out = out or Path("ecgfe-comply")
    saving = begin_output(out, overwrite, sys.argv, config=config, reads=(standard,))
    if matrix:
        return compliance_matrix(config, set_, duration_scale, out, saving)
    update, close = progress_bar(f"{standard} tests")
    result = acquire.comply(preset, standard, config=config, sets=set_ or (), duration_scale=duration_scale,
                            progress=update)
    close()
    rows = [{"test": r.test, "condition": r.condition, "measured": r.measured, "limit": r.limit,
             "unit": r.unit, "margin_db": r.margin_db, "result": r.verdict if r.passed else r.verdict.upper(),
             "assumption": "yes" if r.assumption else "", "source": shorten(r.source, 48)}
            for r in result.rows]
    typer.echo(format_table(rows, list(rows[0])))
    result.save(out, **saving)
    say(f"{'all tests pass' if result.passed else 'some tests FAIL'}; wrote {out}/ "
        f"(compliance.json, figures, compliance.html)")
    raise typer.Exit(result.exit_code)


def compliance_matrix(config, sets, duration_scale: float, out: Path, save_options: dict) -> None:
    """Every preset against every standard profile: a table, ``compliance_matrix.json`` and a report, saved."""
    from acquire.api import compliance_matrix as run_matrix

    update, close = progress_bar("presets x standards")
    result = run_matrix(config=config, sets=sets or (), duration_scale=min(duration_scale, 0.1), progress=update)
    close()
    typer.echo(format_table(result.rows, list(result.rows[0])))
    result.save(out, **save_options)
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
    import acquire

    rows = acquire.presets()
    typer.echo(format_table(rows, ["name", "kind", "gain_v_per_v", "cmrr_db_at_60_hz", "bandwidth_hz",
                                   "noise_v_per_rthz", "adc_noise_v_rms", "z_cm_r_ohm", "z_cm_c_f", "z_cm_basis"]))
    typer.echo("\nSources: " + "; ".join(f"{r['name']}: {r['cmrr_source']}" for r in rows))


config_app = App(help="Show or validate configurations.", no_args_is_help=True)
app.add_typer(config_app, name="config")


@config_app.command("show")
@friendly
def config_show(preset: PresetOpt = None, config: ConfigOpt = None, set_: SetOpt = None,
                mains_hz: MainsOpt = None) -> None:
    """Print, as TOML, the values a run uses: the preset's [post] and [adc] and the mains-tuned digital stages."""
    from acquire.commands import run_config
    from acquire.config import to_toml

    typer.echo(to_toml(run_config(config, preset=preset, sets=set_ or (), **shortcut_keys(mains_hz))))


@config_app.command("validate")
@friendly
def config_validate(file: Annotated[Path, typer.Argument(help="TOML file to check.")]) -> None:
    """Check a configuration file: keys, values, and that the chain builds."""
    from acquire.api import validate_config

    validate_config(file)
    say(f"{file}: valid")


@app.command()
@friendly
def demo(out: OutOpt = None, overwrite: OverwriteOpt = False) -> None:
    """Offline demo: synthetic ECG, 60 Hz mains, IEC electrode imbalance, three front ends compared."""
    out = out or Path("ecgfe-demo")
    saving = begin_output(out, overwrite, sys.argv)
    say("ecgfe demo: synthetic ECG (ECGSYN, 72 bpm, 60 s), 60 Hz mains on a floating body "
        "(120 V, 3 pF / 300 pF: 1.19 V rms common mode), 51 kOhm || 47 nF electrode imbalance.")
    say("Front ends: AD8232 (heart-rate AFE, 80 dB CMRR), INA128 (classic in-amp), ADS1298 (24-bit ECG AFE).\n")
    run_comparison(["ad8232", "ina128", "ads1298"], out, saving, source__duration_s=60, electrodes__imbalance="iec",
                   mains__frequency_hz=60)
    say(f"\nwrote {out}/: comparison.json, figures (comparison, time panels, Bode plots), report.html")
    say(f"open {out / 'report.html'} in a browser")


design_app = App(help="Design amplifier stages (use one in a run: [amplifier] design).", no_args_is_help=True)
app.add_typer(design_app, name="design")
CIRCUIT, DEVICE = "Circuit", "Device level (instead of --gm-s, --ro-n-ohm, --ro-p-ohm)"


def design_opt(flag: str, text: str, panel: str = "Small signal", default: str = "none"):
    """An optional number option of ``design diffpair``, named like its design key and unit."""
    return Annotated[Optional[float], typer.Option(flag, help=text, rich_help_panel=panel, show_default=default)]


@design_app.command("diffpair")
@friendly
def design_diffpair(
    file: Annotated[Optional[Path], typer.Option(
        "--file", help="TOML design (keys as the flags, with _).", show_default="none")] = None,
    load: Annotated[Optional[str], typer.Option(
        "--load", help="resistive, active, cascode or all (side by side).",
        show_default="the file's load, else all")] = None,
    gm_s: design_opt("--gm-s", "Transconductance of each device, S.") = None,
    ro_n_ohm: design_opt("--ro-n-ohm", "Output resistance of the NMOS devices, ohms.") = None,
    ro_p_ohm: design_opt("--ro-p-ohm", "Output resistance of the PMOS load devices, ohms.", default="r_o,n") = None,
    r_d_ohm: design_opt("--r-d-ohm", "Drain resistance, ohms (resistive load).", CIRCUIT) = None,
    c_load_f: design_opt("--c-load-f", "Capacitance at each output node, F.", CIRCUIT, "1e-12") = None,
    r_tail_ohm: design_opt("--r-tail-ohm", "Tail source output resistance, ohms.", CIRCUIT, "inf") = None,
    gm_mismatch: design_opt("--gm-mismatch", "Signed g_m mismatch, fraction (0.01 = 1 %).", CIRCUIT, "0") = None,
    r_d_mismatch: design_opt("--r-d-mismatch", "Signed R_D mismatch, fraction (resistive).", CIRCUIT, "0") = None,
    mirror_mismatch: design_opt("--mirror-mismatch", "Signed mirror-ratio error, fraction.", CIRCUIT, "0") = None,
    polarity: Annotated[str, typer.Option("--polarity", help="Mismatch signs: worst, best or given.")] = "worst",
    id_a: design_opt("--id-a", "Drain current of each device, A.", DEVICE) = None,
    w_over_l: design_opt("--w-over-l", "Aspect ratio W/L (with --mu-cox-a-per-v2).", DEVICE) = None,
    l_m: design_opt("--l-m", "Channel length, m.", DEVICE) = None,
    mu_cox_a_per_v2: design_opt("--mu-cox-a-per-v2", "Process transconductance mu*C_ox, A/V^2.", DEVICE) = None,
    lambda0_per_v: design_opt("--lambda0-per-v", "Channel-length modulation at --l0-m, 1/V.", DEVICE) = None,
    l0_m: design_opt("--l0-m", "Reference length of --lambda0-per-v, m.", DEVICE) = None,
    v_ov_v: design_opt("--v-ov-v", "Overdrive V_GS - V_T, V (instead of the geometry).", DEVICE) = None,
    sweep: Annotated[Optional[str], typer.Option("--sweep", help=(
        "Vary one input: l_m=0.18e-6:2e-6:5 (N points), l_m=1e-6:2e-6:0.5e-6 (a STEP) or l_m=1e-6,2e-6."),
        show_default="none")] = None,
    out: OutOpt = None,
    json_: Annotated[bool, typer.Option("--json", help="Print the design document as strict JSON only.")] = False,
) -> None:
    """A MOS differential pair: A_d, R_out, A_cm, CMRR, f_-3dB, f_T, GBW; --sweep: a table and a figure."""
    import json

    from acquire.design import design_diffpair as run_design
    from acquire.output.figures.design import design_table

    doc = run_design(file, load=load, polarity=polarity, sweep=sweep, out=out, gm_s=gm_s, ro_n_ohm=ro_n_ohm,
                     ro_p_ohm=ro_p_ohm, r_d_ohm=r_d_ohm, c_load_f=c_load_f, r_tail_ohm=r_tail_ohm,
                     gm_mismatch_fraction=gm_mismatch, r_d_mismatch_fraction=r_d_mismatch,
                     mirror_mismatch_fraction=mirror_mismatch, id_a=id_a, w_over_l=w_over_l, l_m=l_m,
                     mu_cox_a_per_v2=mu_cox_a_per_v2, lambda0_per_v=lambda0_per_v, l0_m=l0_m, v_ov_v=v_ov_v)
    if json_:
        return typer.echo(json.dumps(doc, indent=2, allow_nan=False))
    swept = doc["sweep"] or {"key": None, "values": ()}
    signs = {"worst": "worst-case", "best": "best-case"}.get(doc["polarity"], doc["polarity"])
    say(f"MOS differential pair: {' | '.join(doc['loads'])} load, {signs} mismatch signs")
    typer.echo(format_table(*reversed(design_table(doc["rows"], swept["key"], swept["values"]))))
    if doc["files"]:
        say(f"wrote {', '.join(doc['files'])}")

if __name__ == "__main__":
    app()
