"""The embedded store runs SQLite the way the design promises: WAL, busy timeout, and
write transactions that take the write lock up front (BEGIN IMMEDIATE)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from tidings import migrate
from tidings.db import Database


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    path = tmp_path / "store.db"
    migrate.upgrade(f"sqlite+aiosqlite:///{path}")
    return path


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(db_path: Path) -> None:
    async def pragmas() -> tuple[str, int]:
        db = Database(f"sqlite+aiosqlite:///{db_path}", sqlite_busy_timeout_ms=1234)
        async with db.read() as s:
            mode = (await s.execute(text("PRAGMA journal_mode"))).scalar_one()
            timeout = (await s.execute(text("PRAGMA busy_timeout"))).scalar_one()
        await db.dispose()
        return str(mode), int(timeout)

    assert asyncio.run(pragmas()) == ("wal", 1234)


def test_a_write_transaction_holds_the_write_lock_before_its_first_statement(
    db_path: Path,
) -> None:
    other = sqlite3.connect(db_path, timeout=0.05, isolation_level=None)

    async def scenario() -> str:
        db = Database(f"sqlite+aiosqlite:///{db_path}")
        try:
            async with db.write() as s:
                await s.execute(text("SELECT 1"))  # a read only: a plain BEGIN would not lock
                try:
                    other.execute("BEGIN IMMEDIATE")
                except sqlite3.OperationalError as exc:
                    return str(exc)
                other.execute("ROLLBACK")
                return "not locked"
        finally:
            await db.dispose()

    assert asyncio.run(scenario()) == "database is locked"
    other.close()


def test_read_transactions_do_not_take_the_write_lock(db_path: Path) -> None:
    other = sqlite3.connect(db_path, timeout=0.05, isolation_level=None)

    async def scenario() -> None:
        db = Database(f"sqlite+aiosqlite:///{db_path}")
        try:
            async with db.read() as s:
                await s.execute(text("SELECT count(*) FROM users"))
                other.execute("BEGIN IMMEDIATE")  # a writer elsewhere is not blocked
                other.execute("ROLLBACK")
        finally:
            await db.dispose()

    asyncio.run(scenario())
    other.close()
