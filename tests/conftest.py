"""Shared fixtures: a live server per database backend, a fresh tenant per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from tidings import migrate
from tidings.config import Settings
from tidings.context import AppContext
from tidings.tenancy import actions
from tidings.testing.live import LiveServer

PG_ADMIN_URL = os.environ.get("TIDINGS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def postgres_available() -> str | None:
    """None when PostgreSQL answers, else the reason it does not."""
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
        return None
    except Exception as exc:
        return f"PostgreSQL at {PG_ADMIN_URL} does not answer: {exc}"


def require_service(reason: str | None) -> None:
    """Skip with the reason on a developer's machine; fail under CI=true."""
    if reason is None:
        return
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: a missing service is a failure)")
    pytest.skip(reason)


@dataclass
class Backend:
    name: str
    async_url: str
    sync_url: str
    tmp: Path


@pytest.fixture(
    scope="session", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Backend]:
    tmp = tmp_path_factory.mktemp(request.param)
    if request.param == "sqlite":
        path = tmp / "tidings.db"
        yield Backend("sqlite", f"sqlite+aiosqlite:///{path}", f"sqlite:///{path}", tmp)
        return
    require_service(postgres_available())
    import psycopg

    name = f"tidings_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0].split("://", 1)[1]
    try:
        yield Backend(
            "postgresql",
            f"postgresql+asyncpg://{base}/{name}",
            f"postgresql+psycopg://{base}/{name}",
            tmp,
        )
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def settings(backend: Backend) -> Settings:
    return Settings(
        database_url=backend.async_url,
        secret_key="test-secret-key",
        log_level="warning",
        rate_limit_per_second=0,
        auto_migrate=False,
    )


@pytest.fixture(scope="session")
def live(backend: Backend, settings: Settings) -> Iterator[LiveServer]:
    migrate.upgrade(backend.async_url)
    with LiveServer(settings) as server:
        yield server


@pytest.fixture(scope="session")
def sql(backend: Backend, live: LiveServer) -> Iterator[sa.Engine]:
    """A plain synchronous engine on the same database, for asserting what is stored."""
    engine = sa.create_engine(backend.sync_url)
    yield engine
    engine.dispose()


@dataclass
class Tenant:
    workspace_id: int
    app_id: int
    write_key: str
    identity_secret: str
    server_key: str
    read_key: str

    def write_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.write_key}"}

    def server_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.server_key}"}


def make_tenant(live: LiveServer, *, identity_verification: bool = False) -> Tenant:
    async def _make(ctx: AppContext) -> Tenant:
        now = ctx.clock.now()
        ws = await actions.create_workspace(ctx.db, "Acme", now=now)
        app = await actions.create_app(
            ctx.db, ctx.box, ws, "Acme web", now=now, identity_verification=identity_verification
        )
        rw = await actions.create_server_key(
            ctx.db, app.app_id, "backend", ["read", "write"], now=now
        )
        ro = await actions.create_server_key(ctx.db, app.app_id, "reports", ["read"], now=now)
        return Tenant(ws, app.app_id, app.write_key, app.identity_secret, rw.token, ro.token)

    return live.call(_make)


@pytest.fixture
def tenant(live: LiveServer) -> Tenant:
    """A fresh workspace and app with a write key, a read/write and a read-only server key."""
    return make_tenant(live)


@pytest.fixture
def client(live: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live.url, timeout=30) as c:
        yield c
