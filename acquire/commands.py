"""The command line's plumbing: one-line errors and exit codes, quiet mode, progress bars, shared options.

``cli.py`` holds the commands; this module holds what they share, so that
each command is only its options, one API call and its printing (typer's
pattern of commands over shared option types). :class:`App` is the Typer
app whose parse errors (a bad number, an unknown option, a missing
argument) are one ``ecgfe: error:`` line and exit 2, like the commands'
own usage errors, and a library warning is one ``ecgfe: warning:`` line; :func:`friendly` gives every command the global
``-q``/``-v``/``--debug`` options, also accepted after the command name.
"""

from __future__ import annotations

import functools
import inspect
import logging
import sys
import warnings
from pathlib import Path
from typing import Annotated, Optional

import typer
from typer.core import TyperGroup

from typer._click.exceptions import NoArgsIsHelpError, UsageError as ParseError  # typer vendors click

PROG = "ecgfe"
STATE = {"quiet": False, "verbose": False, "debug": False}


class UsageError(Exception):
    """A user mistake: exit code 2."""


def fail_line(message: str) -> None:
    """Print ``message`` as one ``ecgfe: error:`` line on stderr (whitespace folded)."""
    typer.echo(f"{PROG}: error: {' '.join(str(message).split())}", err=True)


def fail(message: str, code: int) -> None:
    """Print one error line on stderr and exit with ``code``."""
    fail_line(message)
    raise typer.Exit(code)


class Group(TyperGroup):
    """The ``ecgfe`` command group: a parse error is one stderr line naming the option, and exit 2.

    Click's errors (``--gain abc``, ``--bogus``, a missing argument, an extra
    one, a bad choice or range) would otherwise print a usage block and a
    boxed message; here they read like every other usage error, with the
    command's ``--help`` as the hint. The program is always named ``ecgfe``.
    """

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            with warnings.catch_warnings():
                warnings.showwarning = show_warning
                code = super().main(args, PROG, complete_var, standalone_mode=False, **extra)
        except NoArgsIsHelpError as exc:
            exc.show()
            code = 2
        except ParseError as exc:
            where = exc.ctx.command_path if exc.ctx is not None else self.command_path(args or sys.argv[1:])
            fail_line(f"{exc.format_message().rstrip('.')}; see '{where} --help'.")
            code = 2
        except typer.Abort:
            typer.echo("Aborted.", err=True)
            code = 1
        if not standalone_mode:
            return code
        sys.exit(code or 0)

    def command_path(self, args) -> str:
        """``ecgfe config show``: the (sub)command that ``args`` name, for an error raised without a context."""
        path, group = [PROG], self
        for token in args:
            command = group.commands.get(token) if isinstance(group, TyperGroup) else None
            if command is None and not token.startswith("-"):
                break
            if command is not None:
                path.append(token)
                group = command
        return " ".join(path)


def show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A library warning as one ``ecgfe: warning:`` line on stderr (none with --quiet), not Python's two."""
    if not STATE["quiet"]:
        typer.echo(f"{PROG}: warning: {' '.join(str(message).split())}", err=True)


class App(typer.Typer):
    """A Typer app of :class:`Group` (one-line parse errors); subcommand groups are Apps too."""

    def __init__(self, **kwargs):
        super().__init__(cls=Group, pretty_exceptions_enable=False, add_completion=False, **kwargs)


QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Print only results and errors (no progress).")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Log progress details.")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")]
#: The global options, accepted before the command (``ecgfe -q simulate``) and after it (``ecgfe simulate -q``).
GLOBAL_OPTIONS = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=False, annotation=opt)
                  for name, opt in (("quiet", QuietOpt), ("verbose", VerboseOpt), ("debug", DebugOpt))]


def set_globals(quiet: bool = False, verbose: bool = False, debug: bool = False, *, reset: bool = False) -> None:
    """Apply the global options; ``reset`` (the group's callback) starts from the defaults, else they only turn on."""
    given = {"quiet": quiet, "verbose": verbose, "debug": debug}
    STATE.update({k: v or (STATE[k] and not reset) for k, v in given.items()})
    logging.basicConfig(stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(logging.INFO if STATE["verbose"] else logging.WARNING)


def friendly(func):
    """A command: the global options, and expected exceptions as one line and an exit code.

    A usage error (:class:`UsageError`, ``ValueError``, ``KeyError``) exits 2,
    a file-system or network error (``OSError``, ``FetchError``) exits 1, and
    anything else is reported on one line as an internal error (exit 1);
    ``--debug`` re-raises instead, with the traceback.
    """

    @functools.wraps(func)
    def wrapper(*args, quiet=False, verbose=False, debug=False, **kwargs):
        from acquire.sources.fetch import FetchError

        set_globals(quiet, verbose, debug)
        try:
            return func(*args, **kwargs)
        except typer.Exit:
            raise
        except Exception as exc:
            if STATE["debug"]:
                raise
            if isinstance(exc, (UsageError, ValueError, KeyError)):
                fail(blame(str(exc).strip("'\""), kwargs), 2)
            if isinstance(exc, (FetchError, OSError)):
                fail(str(exc), 1)
            fail(f"internal error ({type(exc).__name__}: {exc}); rerun with --debug for the traceback "
                 f"and report it", 1)

    signature = inspect.signature(func, eval_str=True)
    wrapper.__signature__ = signature.replace(parameters=[*signature.parameters.values(), *GLOBAL_OPTIONS])
    wrapper.__annotations__ = {**func.__annotations__, **{p.name: p.annotation for p in GLOBAL_OPTIONS}}
    return wrapper


def say(text: str = "") -> None:
    """Print unless --quiet."""
    if not STATE["quiet"]:
        typer.echo(text)


ConfigOpt = Annotated[Optional[Path], typer.Option(
    "--config", help="TOML file describing the chain.", show_default="none: the built-in defaults")]
SetOpt = Annotated[Optional[list[str]], typer.Option(
    "--set", help="Override: section.key=value (repeatable).", show_default="none")]
OutOpt = Annotated[Optional[Path], typer.Option(
    "--out", help="Output directory (created).",
    show_default="ecgfe-<command>; simulate and design diffpair: none, print only")]
OverwriteOpt = Annotated[bool, typer.Option("--overwrite", help="Replace a non-empty --out of an earlier run.")]


#: The shortcut options: parameter name -> (flag, the configuration keys it sets, and the bare names a
#: stage's message starts with, e.g. "start_s=1e+06 s is past the end of the recording").
SHORTCUTS = {"mains_hz": ("--mains-hz", ("mains.frequency_hz",)), "cm_v_rms": ("--cm-v-rms", ("body.cm_v_rms",)),
             "cmrr_db": ("--cmrr-db", ("amplifier.cmrr_db", "cmrr_db")),
             "gain": ("--gain", ("amplifier.gain_v_per_v", "gain_v_per_v")),
             "bandwidth_hz": ("--bandwidth-hz", ("amplifier.bandwidth_hz", "bandwidth_hz")),
             "imbalance": ("--imbalance", ("electrodes.imbalance", "imbalance")),
             "channel": ("--channel", ("source.channels", "channel")),
             "start_s": ("--start-s", ("source.start_s", "start_s")),
             "duration_s": ("--duration-s", ("source.duration_s", "duration_s", "start_s + duration_s")),
             "seed": ("--seed", ("run.seed", "source.seed"))}


def blame(message: str, options: dict) -> str:
    """``message`` prefixed with the shortcut option that set the key it names (``--seed: source.seed ...``)."""
    for name, (flag, keys) in SHORTCUTS.items():
        if options.get(name) is not None and message.startswith(keys):
            return f"{flag}: {message}"
    return message


def shortcut_keys(mains_hz=None, cm_v_rms=None, cmrr_db=None, gain=None, bandwidth_hz=None, imbalance=None,
                  channel=None, start_s=None, duration_s=None, seed=None) -> dict:
    """The common-knob options as ``section__key`` arguments of the API (None = not given)."""
    keys = {"mains__frequency_hz": mains_hz, "amplifier__cmrr_db": cmrr_db, "amplifier__gain_v_per_v": gain,
            "amplifier__bandwidth_hz": bandwidth_hz, "source__start_s": start_s,
            "source__duration_s": duration_s, "run__seed": seed, "source__seed": seed,
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
    help="'synthetic', a PhysioNet name such as mitdb/100, or a local WFDB record path.",
    show_default="the config's source.name, synthetic")]
PresetOpt = Annotated[Optional[str], typer.Option(
    "--preset", help="Amplifier model (see 'ecgfe presets').", show_default="the config's amplifier.preset, ina128")]
MainsOpt = Annotated[Optional[float], typer.Option(
    "--mains-hz", help="Mains frequency, 50 or 60 Hz.", show_default="the config's mains.frequency_hz, 60")]
CmOpt = Annotated[Optional[float], typer.Option(
    "--cm-v-rms", help="Body common-mode voltage, V rms (direct).", show_default="solved from the body circuit")]
CmrrOpt = Annotated[Optional[float], typer.Option(
    "--cmrr-db", help="Amplifier dc CMRR, dB.", show_default="the preset's")]
GainOpt = Annotated[Optional[float], typer.Option(
    "--gain", help="Amplifier gain, V/V.", show_default="the preset's")]
BwOpt = Annotated[Optional[float], typer.Option(
    "--bandwidth-hz", help="Amplifier -3 dB bandwidth, Hz.", show_default="the preset's")]
ImbOpt = Annotated[Optional[str], typer.Option(
    "--imbalance", help="Electrode imbalance: ohms, or 'iec' (51k||47n).",
    show_default="the config's electrodes.imbalance, iec")]
ChanOpt = Annotated[Optional[list[str]], typer.Option(
    "--channel", help="Channel name or index (repeatable, each once).", show_default="every channel")]
StartOpt = Annotated[Optional[float], typer.Option(
    "--start-s", help="Window start, s.", show_default="the config's source.start_s, 0")]
DurOpt = Annotated[Optional[float], typer.Option(
    "--duration-s", help="Window length, s.", show_default="the config's source.duration_s, 60")]
SeedOpt = Annotated[Optional[int], typer.Option("--seed", help=(
    "Random seed of the run: the synthetic ECG (source.seed) and the noise and mains drift (run.seed)."),
    show_default="the config's run.seed and source.seed, 0")]


def run_config(config=None, *, preset=None, sets=(), **values) -> dict:
    """The configuration a run uses, as ``ecgfe config show`` prints it.

    :func:`acquire.load_config` (mains-tuned default digital stages, the
    grid's nominal mains voltage) with the ``[post]`` and ``[adc]`` tables
    completed as :func:`acquire.frontend.build_frontend` completes them:
    the builder's defaults, then the preset's, then the configuration's.
    """
    import dataclasses

    import acquire
    from acquire.frontend import adc_params, amplifier_params, post_settings

    cfg = acquire.load_config(config, preset=preset, sets=sets, **values)
    _, model = amplifier_params(cfg["amplifier"])
    return {**cfg, "post": post_settings(cfg, model), "adc": dataclasses.asdict(adc_params(cfg, model))}
