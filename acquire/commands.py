"""The command line's plumbing: one-line errors and exit codes, quiet mode, progress bars, shared options.

``cli.py`` holds the commands; this module holds what they share, so that
each command is only its options, one API call and its printing (typer's
pattern of commands over shared option types).
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

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


ConfigOpt = Annotated[Optional[Path], typer.Option("--config", help="TOML file describing the chain.")]
SetOpt = Annotated[Optional[list[str]], typer.Option("--set", help="Override: section.key=value (repeatable).")]
OutOpt = Annotated[Optional[Path], typer.Option("--out", help="Output directory (created).")]
OverwriteOpt = Annotated[bool, typer.Option("--overwrite", help="Replace a non-empty --out of an earlier run.")]


def shortcut_keys(mains_hz=None, cm_v_rms=None, cmrr_db=None, gain=None, bandwidth_hz=None, imbalance=None,
                  channel=None, start_s=None, duration_s=None, seed=None) -> dict:
    """The common-knob options as ``section__key`` arguments of the API (None = not given)."""
    keys = {"mains__frequency_hz": mains_hz, "amplifier__cmrr_db": cmrr_db, "amplifier__gain_v_per_v": gain,
            "amplifier__bandwidth_hz": bandwidth_hz, "source__start_s": start_s,
            "source__duration_s": duration_s, "run__seed": seed,
            "electrodes__imbalance": None if imbalance is None else parse_value(imbalance),
            "source__channels": [int(c) if c.lstrip("-").isdigit() else c for c in channel] if channel else None}
    if cm_v_rms is not None:
        keys.update(body__mode="direct", body__cm_v_rms=cm_v_rms)
    return {k: v for k, v in keys.items() if v is not None}


def parse_value(text: str):
    """A TOML literal (a number) or the bare string (``iec``)."""
    from acquire.config import parse_value as parse

    return parse(text)


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
