"""Group commit for many concurrent sends: each waits for its item's result while every
item submitted meanwhile is written in one transaction."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from tidings.db import Database

T = TypeVar("T")
R = TypeVar("R")


class Batcher(Generic[T, R]):
    """`await submit(item)` → the result `write(session, items)` gave for that item.

    On a SQLite file, `in_writer(items, conn)`, when given, runs the batch on the writer
    connection in one hand-off (`Database.run_in_writer`); its None sends the batch
    to `write` instead."""

    def __init__(
        self,
        db: Database,
        write: Callable[[AsyncSession, Sequence[T]], Awaitable[list[R]]],
        in_writer: Callable[[Sequence[T], sqlite3.Connection], list[R] | None] | None = None,
    ) -> None:
        self._db = db
        self._write = write
        self._in_writer = in_writer if db.has_writer_thread else None
        self._pending: list[tuple[Sequence[T], asyncio.Future[list[R]]]] = []
        self._task: asyncio.Task[None] | None = None

    @property
    def db(self) -> Database:
        return self._db

    async def submit(self, item: T) -> R:
        return (await self.submit_many((item,)))[0]

    async def submit_many(self, items: Sequence[T]) -> list[R]:
        """Several items under one future: written in the same transaction."""
        future: asyncio.Future[list[R]] = asyncio.get_running_loop().create_future()
        self._pending.append((items, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            flat = [i for items, _ in batch for i in items]
            try:
                results = None
                if self._in_writer is not None:
                    results = await self._db.run_in_writer(partial(self._in_writer, flat))
                if results is None:
                    async with self._db.write() as s:
                        results = await self._write(s, flat)
                if len(results) != sum(len(items) for items, _ in batch):
                    raise AssertionError("a batch writer gives one result per item")
            except Exception as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            at = 0
            for items, future in batch:
                if not future.done():
                    future.set_result(results[at : at + len(items)])
                at += len(items)
