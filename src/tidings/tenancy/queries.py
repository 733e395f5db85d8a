"""Tenancy look-ups; never commit."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tidings.tenancy.models import App, ServerKey, Workspace


async def app_by_write_key(session: AsyncSession, write_key: str) -> App | None:
    return (
        await session.execute(select(App).where(App.write_key == write_key))
    ).scalar_one_or_none()


async def server_key_by_prefix(session: AsyncSession, prefix: str) -> ServerKey | None:
    stmt = select(ServerKey).where(ServerKey.prefix == prefix)
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_app(session: AsyncSession, app_id: int) -> App | None:
    return await session.get(App, app_id)


async def list_apps(session: AsyncSession) -> list[App]:
    return list((await session.execute(select(App).order_by(App.id))).scalars())


async def list_server_keys(session: AsyncSession, app_id: int) -> list[ServerKey]:
    stmt = select(ServerKey).where(ServerKey.app_id == app_id).order_by(ServerKey.id)
    return list((await session.execute(stmt)).scalars())


async def get_workspace(session: AsyncSession, workspace_id: int) -> Workspace | None:
    return await session.get(Workspace, workspace_id)
