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
        from acquire.physionet import FetchError

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
    from acquire.physionet import catalog, data_dir, local_records

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
    from acquire.physionet import check_record_name, get_database
    from acquire.physionet import fetch as do_fetch

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


if __name__ == "__main__":
    app()
