"""`tidings admin create`: bootstrap the first admin operator of a workspace."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy import func, select

from tidings.cli.runtime import console, fail, load_settings, run
from tidings.context import AppContext
from tidings.tenancy import actions, passwords
from tidings.tenancy.models import Operator, Workspace

app = typer.Typer(help="Operators: the people who use the dashboard and the admin API.")


async def _workspace_named(ctx: AppContext, name: str) -> int | None:
    async with ctx.db.read() as s:
        stmt = select(Workspace.id).where(Workspace.name == name).order_by(Workspace.id)
        return (await s.execute(stmt)).scalars().first()


async def _email_taken(ctx: AppContext, email: str) -> bool:
    async with ctx.db.read() as s:
        stmt = select(func.count()).where(Operator.email == email.lower())
        return bool(await s.scalar(stmt))


@app.command()
def create(
    email: Annotated[str, typer.Option(help="The admin's email; also their login.")],
    workspace: Annotated[
        str, typer.Option(help="Workspace name; created when no workspace has it yet.")
    ],
    password: Annotated[
        str | None,
        typer.Option(help="Password (at least 10 characters); asked for, hidden, when left out."),
    ] = None,
    name: Annotated[str, typer.Option(help="Display name.")] = "",
) -> None:
    """Create an admin operator, and the workspace when it does not exist yet."""
    if password is None:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    # The same checks create_operator makes, made before a new workspace is created, so a
    # refused admin never leaves an empty workspace behind.
    if "@" not in email or len(email) > 320:
        fail("email is not a valid address (field: email)")
    if len(password) < passwords.MIN_LENGTH:
        fail(f"password must be at least {passwords.MIN_LENGTH} characters (field: password)")

    async def _create(ctx: AppContext) -> tuple[int, bool, int]:
        # Checked first so a refused operator leaves no new, empty workspace behind.
        if await _email_taken(ctx, email):
            fail(f"an operator with email {email} already exists (field: email)")
        now = ctx.clock.now()
        ws = await _workspace_named(ctx, workspace)
        created = ws is None
        if ws is None:
            ws = await actions.create_workspace(ctx.db, workspace, now=now)
        op = await actions.create_operator(ctx.db, ws, email, password, "admin", now=now, name=name)
        return ws, created, op

    ws_id, created, op_id = run(load_settings(), _create)
    what = "created" if created else "existing"
    console.print(f"workspace  {ws_id} ({what}: {workspace})")
    console.print(f"admin      {op_id} {email.lower()}")
