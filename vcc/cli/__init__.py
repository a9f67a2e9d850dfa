"""The ``vcc`` command line. Each command group lives in its own module; this one assembles them and
turns user errors (``VccError``) into a sentence and an exit code, never a traceback."""

from __future__ import annotations

import sys

import typer

from vcc import __version__
from vcc.cli import config_cmd, dashboard_cmd, drill_cmd, lab_cmd, load_cmd, report_cmd, site_cmd, warehouse_cmd
from vcc.errors import ConfigError, VccError

app = typer.Typer(
    name="vcc",
    help="vcc: a distributed, multi-tenant virtual contact center.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(config_cmd.app, name="config")
app.add_typer(report_cmd.app, name="report")
app.add_typer(warehouse_cmd.app, name="warehouse")
app.add_typer(lab_cmd.app, name="lab")
app.command()(site_cmd.up)
app.command()(site_cmd.status)
app.command()(site_cmd.down)
app.command()(site_cmd.demo)
app.command()(dashboard_cmd.dashboard)
app.command()(load_cmd.load)
app.command()(drill_cmd.drill)


@app.command()
def version() -> None:
    """Print vcc's version."""
    typer.echo(__version__)


def main() -> None:
    try:
        app()
    except ConfigError as e:
        for line in e.lines():
            typer.echo(line, err=True)
        sys.exit(e.exit_code)
    except VccError as e:
        typer.echo(f"error: {e}", err=True)
        sys.exit(e.exit_code)
