"""`tidings db upgrade|current`: schema migrations for production databases."""

from __future__ import annotations

import asyncio

import typer

from tidings import migrate
from tidings.cli.runtime import console, database_errors, load_settings, shown_url

app = typer.Typer(help="Database schema: upgrade to this version, show the current revision.")


@app.command()
def upgrade() -> None:
    """Migrate the database (TIDINGS_DATABASE_URL) to this version's schema."""
    settings = load_settings()
    url = settings.database_url
    with database_errors(settings):
        before = asyncio.run(migrate.current_revision(url))
        migrate.upgrade(url)
        after = asyncio.run(migrate.current_revision(url))
    if before == after:
        console.print(f"{shown_url(url)} is already at revision {after} (head)")
    else:
        console.print(f"upgraded {shown_url(url)}: {before or 'empty'} -> {after}")


@app.command()
def current() -> None:
    """Print the database's schema revision and whether it is this version's head."""
    settings = load_settings()
    with database_errors(settings):
        rev = asyncio.run(migrate.current_revision(settings.database_url))
    head = migrate.head_revision()
    state = "head" if rev == head else f"behind; head is {head}: run `tidings db upgrade`"
    console.print(f"{shown_url(settings.database_url)}: revision {rev or 'none'} ({state})")
    if rev != head:
        raise typer.Exit(1)
