"""Multi-row statements for hot paths (ingestion, imports).

One `INSERT .. VALUES (..),(..)` per table per batch, the same text on SQLite ≥ 3.35 and
PostgreSQL, cached per row count; values are converted once by `Values` instead of by
per-column type processing. Measured in bench/ingest.py: this is what lets ingestion run
near the storage ceiling.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

# Rows per statement: well under SQLite's 32,766 bound parameters for our widths.
CHUNK = 500


class Values:
    """Python values as the dialect's driver stores them for our column types."""

    def __init__(self, dialect: str) -> None:
        self.sqlite = dialect == "sqlite"

    def time(self, value: datetime) -> Any:
        if value.tzinfo is not UTC:
            offset = value.utcoffset()
            if offset is None:
                raise ValueError("naive datetime given to a UTC column")
            value = (value - offset).replace(tzinfo=UTC)
        naive = value.replace(tzinfo=None)
        # The text SQLAlchemy's SQLite DateTime writes, so ORM reads and comparisons agree.
        return naive.isoformat(" ", "microseconds") if self.sqlite else naive

    def day(self, value: date) -> Any:
        return value.isoformat() if self.sqlite else value

    @staticmethod
    def json(value: Any) -> str:
        return orjson.dumps(value).decode()


def placeholder(dialect: str, i: int) -> str:
    """The driver's own numbered parameter: `?3` (SQLite) or `$3` (PostgreSQL)."""
    return f"?{i}" if dialect == "sqlite" else f"${i}"


def rows_sql(dialect: str, n: int, width: int, casts: Sequence[str] = ()) -> str:
    """`(?1, ?2), (?3, ?4)` for n rows of `width` parameters, in the driver's own style.

    Sent with `exec_driver_sql`: SQLAlchemy compiles nothing, which matters for
    statements with thousands of parameters and a row count that differs every batch.
    """
    cast = list(casts) + [""] * (width - len(casts))
    return ", ".join(
        "("
        + ", ".join(placeholder(dialect, r * width + c + 1) + cast[c] for c in range(width))
        + ")"
        for r in range(n)
    )


def flat(rows: Sequence[Sequence[Any]]) -> tuple[Any, ...]:
    """The parameters `rows_sql` numbers, from row tuples."""
    return tuple(v for row in rows for v in row)


async def _aiosqlite(conn: AsyncConnection) -> Any:
    """The aiosqlite connection under `conn`, in the same transaction."""
    driver = (await conn.get_raw_connection()).driver_connection
    assert driver is not None, "connection is closed"
    return driver


async def run(conn: AsyncConnection, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Run one driver-style statement in `conn`'s transaction; its rows, if any.

    On SQLite the statement goes straight to the aiosqlite connection: one hop to its
    thread instead of several, and no SQLAlchemy work per statement. This matters
    inside the ingestion write transaction, where every hop also lets queued requests
    run first and so stretches the time the single writer is held (bench/ingest.py).
    """
    if conn.dialect.name == "sqlite":
        driver = await _aiosqlite(conn)
        return list(await driver.execute_fetchall(sql, params))
    result = await conn.exec_driver_sql(sql, tuple(params))
    return [tuple(row) for row in result.all()] if result.returns_rows else []


async def run_many(conn: AsyncConnection, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    """`run` once per row (executemany), for statements that return nothing.

    On SQLite this is the fastest bulk shape: one prepared statement (cached by its text),
    one hop, the row loop in C.
    """
    if conn.dialect.name == "sqlite":
        driver = await _aiosqlite(conn)
        await (await driver.executemany(sql, rows)).close()
        return
    await conn.exec_driver_sql(sql, list(rows))


def chunks(rows: Sequence[Any], size: int = CHUNK) -> list[Sequence[Any]]:
    return [rows[i : i + size] for i in range(0, len(rows), size)]
