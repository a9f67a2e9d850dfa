"""``vcc config ...``: validate and describe cluster configuration files."""

from __future__ import annotations

import typer

app = typer.Typer(help="Validate, describe and apply cluster configuration files.", no_args_is_help=True)
