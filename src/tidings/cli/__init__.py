"""The `tidings` command line (Typer + Rich): one module per command group."""

from __future__ import annotations

from typing import Annotated

import typer

from tidings import __version__
from tidings.cli import admin, apps, db, keys, serve, users, worker
from tidings.cli import demo as demo_command

app = typer.Typer(
    name="tidings",
    help="Tidings: self-hosted in-product communication. Configure with TIDINGS_* variables.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="markdown",
    pretty_exceptions_enable=False,
)


def _version(show: bool) -> None:
    if show:
        typer.echo(f"tidings {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Tidings: self-hosted in-product communication."""


app.command()(serve.serve)
app.command()(demo_command.demo)
app.command()(worker.worker)
app.add_typer(db.app, name="db")
app.add_typer(admin.app, name="admin")
app.add_typer(apps.app, name="apps")
app.add_typer(keys.app, name="keys")
app.add_typer(users.app, name="users")


def main() -> None:
    """Console-script entry point (`tidings`)."""
    app()
