"""`tidings keys create|revoke|list`: secret server keys (shown once, stored hashed)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from tidings.cli.runtime import console, load_settings, print_table, run
from tidings.context import AppContext
from tidings.errors import NotFound
from tidings.tenancy import actions, queries
from tidings.tenancy.actions import CreatedServerKey
from tidings.tenancy.keys import SERVER_KEY_PREFIX
from tidings.tenancy.models import SCOPES, ServerKey

app = typer.Typer(help="Server keys: secret, scoped read/write, revocable.")


def shown_prefix(prefix: str) -> str:
    """How a key is shown once its secret is gone: enough to recognise and revoke it."""
    return f"{SERVER_KEY_PREFIX}{prefix}_…"


def key_ref(given: str) -> str:
    """What `revoke_server_key` matches: an id, a full token, or a bare prefix.

    Accepts the shown form (`tds_<prefix>_…`) and `tds_<prefix>` as the prefix too.
    """
    text = given.strip().rstrip("…").rstrip("_")
    if text.startswith(SERVER_KEY_PREFIX) and "_" not in text[len(SERVER_KEY_PREFIX) :]:
        return text[len(SERVER_KEY_PREFIX) :]
    return text


@app.command()
def create(
    app_id: Annotated[int, typer.Option("--app", help="Id of the app the key is for.")],
    name: Annotated[str, typer.Option(help="What the key is for, e.g. 'backend'.")],
    scope: Annotated[
        list[str] | None,
        typer.Option(help=f"Repeat for each scope: {', '.join(SCOPES)}."),
    ] = None,
) -> None:
    """Create a server key; its token is printed once and never again."""

    async def _create(ctx: AppContext) -> CreatedServerKey:
        return await actions.create_server_key(
            ctx.db, app_id, name, list(scope or []), now=ctx.clock.now()
        )

    made = run(load_settings(), _create)
    console.print(f"key id   {made.id}")
    console.print(f"scopes   {', '.join(made.scopes)}")
    console.print(f"token    {made.token}", soft_wrap=True)
    console.print(
        "[bold yellow]Store this token now: it will not be shown again[/] (only its hash is "
        "kept). Send it as `Authorization: Bearer <token>`."
    )


@app.command()
def revoke(
    key: Annotated[
        str, typer.Argument(help="The key's id, its prefix as `keys list` shows it, or the token.")
    ],
) -> None:
    """Revoke a server key: requests with it get 401 from now on. Idempotent."""

    async def _revoke(ctx: AppContext) -> int:
        return await actions.revoke_server_key(ctx.db, key_ref(key), now=ctx.clock.now())

    key_id = run(load_settings(), _revoke)
    console.print(f"revoked server key {key_id}")


@app.command("list")
def list_keys(
    app_id: Annotated[int, typer.Option("--app", help="Id of the app.")],
) -> None:
    """List an app's server keys (never their secrets)."""

    async def _list(ctx: AppContext) -> list[ServerKey]:
        async with ctx.db.read() as s:
            if await queries.get_app(s, app_id) is None:
                raise NotFound(f"app {app_id} not found", field="app")
            return await queries.list_server_keys(s, app_id)

    found = run(load_settings(), _list)
    if not found:
        console.print(f"app {app_id} has no server keys")
        return
    table = Table("id")
    table.add_column("name")
    table.add_column("key", no_wrap=True)
    table.add_column("scopes", no_wrap=True)
    table.add_column("created", no_wrap=True)
    table.add_column("revoked", no_wrap=True)
    for k in found:
        table.add_row(
            str(k.id),
            k.name,
            shown_prefix(k.prefix),
            ",".join(k.scopes),
            k.created_at.strftime("%Y-%m-%d %H:%M"),
            k.revoked_at.strftime("%Y-%m-%d %H:%M") if k.revoked_at else "",
        )
    print_table(table)
