"""`tidings demo`: seed a demo app with realistic users, print its keys, and serve it."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from tidings.cli.runtime import app_context, console, database_errors, ensure_schema, load_settings
from tidings.cli.serve import serve_app
from tidings.config import Settings
from tidings.demo import generate, keyfile, seed
from tidings.demo.examples import curl_examples
from tidings.demo.keyfile import DemoKeys
from tidings.sdk import showcase
from tidings.tenancy.auth import authenticate

DEFAULT_DATABASE = Path("tidings-demo.db")


async def _prepare(settings: Settings, database: Path, users: int) -> DemoKeys:
    """Create or reuse the demo tenant, then seed the users not seeded yet."""
    keys_path = keyfile.path_for(database)
    async with app_context(settings) as ctx:
        keys = await seed.ensure_tenant(ctx, keys_path)
        # The web SDK's demo page (/demo) shows one campaign per in-app format.
        await showcase.ensure_showcase(ctx, await authenticate(ctx.db, keys.server_key))
        if keys.seeded_users >= users:
            console.print(f"reusing the demo app {keys.app_id} ({keys.seeded_users} users)")
            return keys
        before = keys.seeded_users
        people = generate.generate(users, ctx.clock.now())
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[events]} events"),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console) as progress:
            task = progress.add_task(
                "seeding users", total=users, completed=keys.seeded_users, events=0
            )
            stored = 0

            def advance(events: int) -> None:
                nonlocal stored
                stored += events
                progress.update(task, advance=1, events=stored)

            await seed.seed(ctx, keys, people, keys_path, advance)
        console.print(f"seeded {users - before} users and {stored} events into app {keys.app_id}")
        return keys


def _banner(url: str, keys: DemoKeys, keys_path: Path) -> None:
    # Plain lines, never wrapped or boxed: keys and commands must survive copy and paste.
    lines = (
        f"\nTidings demo is serving at {url} (interactive API docs: {url}/docs)",
        f"demo web app using the SDK: {url}/demo?key={keys.write_key}",
        f"workspace {keys.workspace_id}, app {keys.app_id}; keys kept in {keys_path} (mode 0600)",
        f"write key  {keys.write_key}  (public: for SDKs)",
        f"server key {keys.server_key}  (secret: for your servers)",
        "\nPaste into your shell:\n",
        f"export WRITE_KEY={keys.write_key}",
        f"export SERVER_KEY={keys.server_key}",
        f"export TIDINGS_URL={url}",
        "\nThen try:\n",
        curl_examples(url),
    )
    for line in lines:
        console.print(line, markup=False, soft_wrap=True)


def demo(
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 8000,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    users: Annotated[int, typer.Option(min=1, max=100_000, help="Demo users to create.")] = 300,
    database: Annotated[
        Path, typer.Option(help="SQLite file for the demo (its keys go next to it).")
    ] = DEFAULT_DATABASE,
) -> None:
    """Seed a demo app with realistic users, devices and events, then serve it.

    Creates a demo workspace and app (reused on later runs), a few hundred users with
    devices and 60 days of events sent through the real ingestion path, prints the URL,
    the keys and curl examples, and serves until Ctrl-C.
    """
    database = database.expanduser().resolve()
    # The demo is watched by a person: readable logs unless TIDINGS_LOG_FORMAT says otherwise.
    log_format = None if "TIDINGS_LOG_FORMAT" in os.environ else "text"
    settings = load_settings(
        database_url=f"sqlite+aiosqlite:///{database}",
        host=host,
        port=port,
        auto_migrate=True,
        log_format=log_format,
    )
    ensure_schema(settings)
    with database_errors(settings):
        keys = asyncio.run(_prepare(settings, database, users))
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    _banner(url, keys, keyfile.path_for(database))
    serve_app(settings)
