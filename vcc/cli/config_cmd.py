"""``vcc config ...``: validate and describe cluster configuration files, hash agent passwords.

A bad file raises :class:`vcc.errors.ConfigError`; ``vcc.cli.main`` prints one line per problem and
exits 2, never a traceback."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console

from vcc.config.compile import compile_center
from vcc.config.credentials import DEFAULT_ITERATIONS, MIN_ITERATIONS, hash_password
from vcc.config.loader import load_config
from vcc.config.show import render

app = typer.Typer(
    help="Validate and describe cluster configuration files; hash agent passwords.", no_args_is_help=True
)

FILE_ARGUMENT = typer.Argument(
    ..., help="Cluster file (YAML), e.g. cluster/three-sites.yaml.", show_default=False
)


@app.command()
def validate(file: Path = FILE_ARGUMENT) -> None:
    """Check a cluster file: exit 0 with a one-line summary, or 2 with one line per problem."""
    config = load_config(file)
    compile_center(config)  # what the core will run from must build too
    typer.echo(f"{file}: OK: {config.summary()}")


@app.command()
def show(
    file: Path = FILE_ARGUMENT,
    width: int = typer.Option(
        0, min=0, help="Table width in columns (0: the terminal's, or 160 when piped)."
    ),
) -> None:
    """Print a readable summary: sites and ports, tenants, queues, entry points, flows, agents."""
    config = load_config(file)
    console = Console(width=width or None)
    if not width and not console.is_terminal:
        console = Console(width=160)
    render(config, console)


@app.command("hash-password")
def hash_password_command(
    iterations: int = typer.Option(
        DEFAULT_ITERATIONS, min=MIN_ITERATIONS, help="PBKDF2 iterations (more is slower to crack)."
    ),
) -> None:
    """Print a salted hash for an agent's `password_hash`.

    Asks for the password twice at a prompt, or reads one line from stdin when it is not a terminal.
    """
    if sys.stdin.isatty():
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        typer.echo("error: empty password", err=True)
        raise typer.Exit(2)
    typer.echo(hash_password(password, iterations=iterations))


@app.command()
def apply(
    file: Path = FILE_ARGUMENT,
    wait_s: float = typer.Option(10.0, "--wait", min=0, help="Seconds to wait for every site to take it."),
) -> None:
    """Validate a cluster file and make it the running cluster's next config version; sites take it
    without a restart. A file with problems is refused with one line per problem (exit 2) and
    nothing changes."""
    import asyncio
    import time

    import grpc

    from vcc.proto.v1 import site_pb2 as pb
    from vcc.proto.v1 import site_pb2_grpc as pb_grpc
    from vcc.runtime.launcher import apply_config

    config = load_config(file)
    compile_center(config)
    endpoints = [(s.host, s.resolved_ports()["etcd_client"]) for s in config.sites]
    version = asyncio.run(apply_config(config.name, file.read_text(), endpoints))
    typer.echo(f"{file}: applied as config version {version}")
    deadline = time.monotonic() + wait_s
    pending = {s.id: s.grpc_address for s in config.sites}
    while pending and time.monotonic() < deadline:
        for site, address in list(pending.items()):
            try:
                with grpc.insecure_channel(address) as channel:
                    st = pb_grpc.SiteApiStub(channel).GetStatus(pb.StatusRequest(), timeout=1.0)
                if st.config_version >= version:
                    typer.echo(f"  site {site}: running version {st.config_version}")
                    del pending[site]
            except grpc.RpcError:
                pass
        time.sleep(0.2)
    for site in pending:
        typer.echo(f"  site {site}: not on version {version} yet (down, or still reloading)")
