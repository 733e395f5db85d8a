"""`tidings apps create|list`: the products a workspace sends messages in."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from tidings.cli.runtime import console, load_settings, print_table, run
from tidings.context import AppContext
from tidings.errors import NotFound
from tidings.tenancy import actions, queries
from tidings.tenancy.actions import CreatedApp
from tidings.tenancy.models import App

app = typer.Typer(help="Apps: each has a public write key (SDKs) and secret server keys.")


@app.command()
def create(
    name: Annotated[str, typer.Argument(help="The app's name, e.g. 'Acme for iOS'.")],
    workspace: Annotated[int, typer.Option(help="Id of the workspace that owns the app.")],
    identity_verification: Annotated[
        bool,
        typer.Option(help="Require HMAC-SHA256(identity secret, external_id) from SDKs."),
    ] = False,
) -> None:
    """Create an app; prints its id, write key and identity secret."""

    async def _create(ctx: AppContext) -> CreatedApp:
        async with ctx.db.read() as s:
            if await queries.get_workspace(s, workspace) is None:
                raise NotFound(f"workspace {workspace} not found", field="workspace")
        return await actions.create_app(
            ctx.db,
            ctx.box,
            workspace,
            name,
            now=ctx.clock.now(),
            identity_verification=identity_verification,
        )

    made = run(load_settings(), _create)
    console.print(f"app id           {made.app_id}")
    console.print(f"write key        {made.write_key}")
    console.print(f"identity secret  {made.identity_secret}")
    console.print(
        "The write key is public (SDKs). Keep the identity secret on your servers: it signs "
        "user_hash for identity verification.",
        style="dim",
    )


@app.command("list")
def list_apps() -> None:
    """List every app with its workspace and write key (server keys: `tidings keys list`)."""

    async def _list(ctx: AppContext) -> list[App]:
        async with ctx.db.read() as s:
            return await queries.list_apps(s)

    found = run(load_settings(), _list)
    if not found:
        console.print("no apps yet: `tidings apps create NAME --workspace ID`")
        return
    table = Table("id", "workspace")
    table.add_column("name")
    table.add_column("write key", no_wrap=True)
    table.add_column("verify ids")
    table.add_column("created", no_wrap=True)
    for a in found:
        table.add_row(
            str(a.id),
            str(a.workspace_id),
            a.name,
            a.write_key,
            "on" if a.identity_verification else "off",
            a.created_at.strftime("%Y-%m-%d"),
        )
    print_table(table)
