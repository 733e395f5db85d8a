"""Database wiring: engine, sessions, column types shared by every room.

Writes go through `Database.write()`: on SQLite it is `BEGIN IMMEDIATE` (the write lock is
taken up front, so a read-then-write transaction cannot fail on upgrade) behind an
in-process lock (so writers queue cheaply instead of spinning in SQLite's busy handler);
on PostgreSQL it is an ordinary transaction. Reads use `Database.read()`.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson
from sqlalchemy import JSON, BigInteger, DateTime, Dialect, Integer, MetaData, Table, event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.types import TypeDecorator

from tidings.config import Settings

T = TypeVar("T")
# Plain SQLite reader connections for hot reads (`read_now`): they block the event loop,
# so a lock wait (rare in WAL) is cut short rather than stalling every request.
READER_PRAGMAS = ("PRAGMA query_only=ON", "PRAGMA busy_timeout=100")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, always hands back timezone-aware UTC (SQLite keeps no zone)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


JSONType = JSON().with_variant(JSONB(), "postgresql")
BigId = BigInteger().with_variant(Integer(), "sqlite")


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


class Database:
    """One engine per process; hands out read and write sessions."""

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        sqlite_synchronous: str = "NORMAL",
        sqlite_busy_timeout_ms: int = 5000,
        timeout_seconds: float = 10.0,
    ) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        kwargs: dict[str, Any] = {
            "json_serializer": _dumps,
            "json_deserializer": orjson.loads,
            # Statement parameters hold push tokens and user data: keep them out of logs.
            "hide_parameters": True,
        }
        if not self.is_sqlite:
            kwargs.update(
                pool_size=pool_size,
                max_overflow=pool_size,
                pool_pre_ping=True,
                pool_timeout=timeout_seconds,
                # Without these a black-holed server hangs a request forever.
                connect_args={"timeout": timeout_seconds, "command_timeout": timeout_seconds},
            )
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.is_sqlite:
            _configure_sqlite(self.engine, sqlite_synchronous, sqlite_busy_timeout_ms)
        self._reader = async_sessionmaker(self.engine, expire_on_commit=False)
        self._writer = async_sessionmaker(
            self.engine.execution_options(tidings_begin="BEGIN IMMEDIATE"), expire_on_commit=False
        )
        # SQLite has one writer; queueing here is far cheaper than its busy-wait.
        self._write_lock: asyncio.Lock | None = asyncio.Lock() if self.is_sqlite else None
        # A file database also gets one plain connection in its own thread, for hot
        # transactions that run start to finish there (see `run_in_writer`).
        path = self.engine.url.database if self.is_sqlite else None
        self._writer_path = path if path and path != ":memory:" else None
        self._writer_pragmas = sqlite_pragmas(sqlite_synchronous, sqlite_busy_timeout_ms)
        self._writer_thread: ThreadPoolExecutor | None = None
        self._writer_conn: sqlite3.Connection | None = None
        self._reader_local = threading.local()
        self._reader_conns: list[sqlite3.Connection] = []

    @property
    def has_writer_thread(self) -> bool:
        return self._writer_path is not None

    async def run_in_writer(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """SQLite only: run `fn` on the writer connection in its own thread, holding the
        in-process write lock. `fn` owns its transaction (BEGIN IMMEDIATE .. COMMIT).

        One hand-off for a whole transaction, instead of one per statement that each let
        queued requests run first: under load that tripled how long the single writer was
        held (bench/ingest.py).
        """
        assert self._write_lock is not None and self._writer_path is not None
        if self._writer_thread is None:
            self._writer_thread = ThreadPoolExecutor(1, thread_name_prefix="tidings-writer")
        async with self._write_lock:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._writer_thread, self._in_writer, fn)

    def _in_writer(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._writer_conn is None:
            assert self._writer_path is not None
            conn = sqlite3.connect(self._writer_path, isolation_level=None, check_same_thread=False)
            for pragma in self._writer_pragmas:
                conn.execute(pragma)
            self._writer_conn = conn
        return fn(self._writer_conn)

    def read_now(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """SQLite file only: run `fn` at once, on this thread's plain read-only connection.

        For small indexed reads on the hot path (a session-start decision reads one user in
        ~10 µs). A hand-off to a reader thread cost more than the read, and under load far
        more: the finished thread waits for the GIL until the busy event loop lets go of it
        (up to the 5 ms switch interval), so throughput collapsed (bench/decide.py). WAL
        lets these reads run beside the writer; a rare lock wait is kept short, and a read
        that still finds the database locked answers 503 like any other.
        """
        conn: sqlite3.Connection | None = getattr(self._reader_local, "conn", None)
        if conn is None:
            assert self._writer_path is not None
            conn = sqlite3.connect(self._writer_path, isolation_level=None, check_same_thread=False)
            for pragma in [*self._writer_pragmas, *READER_PRAGMAS]:
                conn.execute(pragma)
            self._reader_local.conn = conn
            self._reader_conns.append(conn)
        return fn(conn)

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        """The one way the server and the CLI open the configured database."""
        return cls(
            settings.database_url,
            pool_size=settings.db_pool_size,
            sqlite_synchronous=settings.sqlite_synchronous,
            sqlite_busy_timeout_ms=settings.sqlite_busy_timeout_ms,
            timeout_seconds=settings.db_timeout_seconds,
        )

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A session inside one write transaction; committed on success, rolled back on error."""
        if self._write_lock is None:
            async with self._writer() as session, session.begin():
                yield session
            return
        async with self._write_lock, self._writer() as session, session.begin():
            yield session

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for reads; it never commits."""
        async with self._reader() as session, session.begin():
            yield session

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.exec_driver_sql("SELECT 1")

    async def dispose(self) -> None:
        for reader in self._reader_conns:
            reader.close()
        self._reader_conns.clear()
        self._reader_local = threading.local()
        if self._writer_thread is not None:
            conn, self._writer_conn = self._writer_conn, None
            if conn is not None:
                self._writer_thread.submit(conn.close).result()
            self._writer_thread.shutdown(wait=True)
            self._writer_thread = None
        await self.engine.dispose()


def sqlite_pragmas(synchronous: str, busy_timeout_ms: int) -> list[str]:
    """How every SQLite connection of Tidings is set up."""
    return [
        "PRAGMA journal_mode=WAL",
        f"PRAGMA synchronous={synchronous}",
        f"PRAGMA busy_timeout={int(busy_timeout_ms)}",
        "PRAGMA foreign_keys=ON",
        "PRAGMA cache_size=-65536",
        "PRAGMA temp_store=MEMORY",
        # Fewer, larger checkpoints on the write path (+20% ingest, bench/ingest.py).
        "PRAGMA wal_autocheckpoint=10000",
    ]


def _configure_sqlite(engine: AsyncEngine, synchronous: str, busy_timeout_ms: int) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: DBAPIConnection, _: ConnectionPoolEntry) -> None:
        # Take transaction control from the driver so our BEGIN is the one SQLite sees.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        for pragma in sqlite_pragmas(synchronous, busy_timeout_ms):
            cur.execute(pragma)
        cur.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql(conn.get_execution_options().get("tidings_begin", "BEGIN"))


def table_of(model: type[Base]) -> Table:
    """The Core table of a mapped class, typed for Core statements."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


def dialect_name(session: AsyncSession) -> str:
    bind = session.bind
    assert bind is not None, "session is not bound to an engine"
    return bind.dialect.name


def dialect_insert(session_or_name: Any, table: Any) -> Any:
    """`INSERT` with ON CONFLICT support for the session's dialect (SQLite or PostgreSQL)."""
    name = session_or_name if isinstance(session_or_name, str) else dialect_name(session_or_name)
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)
