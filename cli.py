"""The ecgfe command line (Typer). Parses options, calls the library, prints or saves. No maths."""

from __future__ import annotations

import typer

app = typer.Typer(help="Simulate ECG acquisition front ends.", no_args_is_help=True)


@app.callback()
def main() -> None:
    """ecgfe: ECG front-end simulator."""


if __name__ == "__main__":
    app()
