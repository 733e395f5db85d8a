"""The worker loop: claim due jobs, run them concurrently, heartbeat, record the outcome.

One worker is one asyncio task group in one process. It claims only kinds its registry
knows, runs at most `concurrency` jobs at once, heartbeats every job it holds while the
job runs, and requeues jobs of dead workers (heartbeat older than the timeout). `stop()`
is graceful: no new claims; running jobs get `shutdown_grace_seconds` to finish, then are
cancelled and given back unrun.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import random
import secrets
import socket
from dataclasses import dataclass, field
from datetime import timedelta

from tidings.context import AppContext
from tidings.jobs import queue
from tidings.jobs.handlers import GiveUp, Registry, RetryLater
from tidings.jobs.queue import Claimed
from tidings.jobs.retry import Dead, Retry, RetryPolicy, decide

log = logging.getLogger("tidings.jobs")
_heap_frozen = False


def _freeze_startup_heap() -> None:
    """Once per process, before the first job: what is alive now (modules, the app, its
    caches) lives on, so it leaves the collector's view (`gc.freeze`). Full collections
    during a campaign then scan only what jobs allocate: ~10% of a push's CPU in
    bench/fanout.py went to rescanning the startup heap."""
    global _heap_frozen
    if not _heap_frozen:
        _heap_frozen = True
        gc.freeze()


@dataclass(frozen=True)
class WorkerOptions:
    """Tuning; the heartbeat timeout must be several heartbeat intervals."""

    concurrency: int = 4
    poll_seconds: float = 1.0
    heartbeat_seconds: float = 5.0
    heartbeat_timeout_seconds: float = 30.0
    shutdown_grace_seconds: float = 10.0
    policy: RetryPolicy = field(default_factory=RetryPolicy)

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if self.heartbeat_timeout_seconds < 2 * self.heartbeat_seconds:
            raise ValueError("heartbeat_timeout_seconds must be at least 2 heartbeats")


def worker_name() -> str:
    """host:pid:random, unique per worker; stored in `locked_by`."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class Worker:
    """Runs jobs of `registry`'s kinds from `ctx.db` until `stop()`."""

    def __init__(
        self,
        ctx: AppContext,
        registry: Registry,
        options: WorkerOptions | None = None,
        *,
        name: str | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.ctx = ctx
        self.registry = registry
        self.options = options or WorkerOptions()
        self.name = name or worker_name()
        self.rng = rng or random.Random()
        self.ran = 0  # attempts finished by this worker (any outcome)
        self._running: dict[int, tuple[Claimed, asyncio.Task[None]]] = {}
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._next_reclaim = 0.0  # loop time of the next look for lost workers' jobs
        # Outcomes waiting for the recorder, which writes them in one transaction per batch.
        self._outcomes: list[tuple[Claimed, Retry | Dead | None, asyncio.Future[bool]]] = []
        self._outcome_ready = asyncio.Event()

    def stop(self) -> None:
        """Claim nothing more; `run()` returns once running jobs are finished or given back."""
        self._stopping.set()
        self._wake.set()

    async def run(self) -> None:
        """The loop: reclaim, claim, wait for a free slot or the poll interval; repeat."""
        _freeze_startup_heap()
        helpers = self._start_helpers()
        try:
            while not self._stopping.is_set():
                # Cleared before claiming, so a job finishing meanwhile wakes the next turn.
                self._wake.clear()
                try:
                    await self._reclaim_now_and_then()
                    full = await self._claim_and_start()
                except Exception:
                    log.exception("job worker could not claim", extra={"worker": self.name})
                    full = False
                if full:
                    continue  # every free slot was filled: more may be due right now
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.options.poll_seconds)
        finally:
            await self._shut_down()
            await self._stop_helpers(helpers)

    async def run_until_idle(self) -> int:
        """Run due jobs until none is due or running (tests, one-shot runs); returns how many
        attempts finished."""
        before = self.ran
        helpers = self._start_helpers()
        try:
            while True:
                await self.reclaim()
                await self._claim_and_start()
                if not self._running:
                    return self.ran - before
                await asyncio.wait([task for _, task in self._running.values()])
        finally:
            await self._stop_helpers(helpers)

    async def _reclaim_now_and_then(self) -> None:
        # Once per heartbeat interval is enough: a lost job waits a whole timeout anyway.
        now = asyncio.get_running_loop().time()
        if now >= self._next_reclaim:
            self._next_reclaim = now + self.options.heartbeat_seconds
            await self.reclaim()

    async def reclaim(self) -> int:
        """Requeue this registry's jobs whose worker stopped heartbeating."""
        kinds = self.registry.kinds()
        if not kinds:
            return 0
        async with self.ctx.db.write() as s:
            count = await queue.reclaim(
                s,
                now=self.ctx.clock.now(),
                heartbeat_timeout=timedelta(seconds=self.options.heartbeat_timeout_seconds),
                kinds=kinds,
            )
        if count:
            log.warning("reclaimed jobs of lost workers", extra={"count": count})
        return count

    async def _claim_and_start(self) -> bool:
        free = self.options.concurrency - len(self._running)
        kinds = self.registry.kinds()
        if free <= 0 or not kinds:
            return False
        if self.ctx.db.is_sqlite and not await self._anything_due(kinds):
            return False  # spare SQLite's single write lock an empty claim
        async with self.ctx.db.write() as s:
            claimed = await queue.claim(
                s, worker=self.name, kinds=kinds, now=self.ctx.clock.now(), limit=free
            )
        for job in claimed:
            task = asyncio.create_task(self._run_one(job), name=f"job {job.id} {job.kind}")
            self._running[job.id] = (job, task)
        return len(claimed) == free

    async def _anything_due(self, kinds: tuple[str, ...]) -> bool:
        async with self.ctx.db.read() as s:
            return await queue.any_due(s, kinds=kinds, now=self.ctx.clock.now())

    async def _run_one(self, job: Claimed) -> None:
        try:
            outcome = await self._attempt(job)
            await self._record(job, outcome)
        except asyncio.CancelledError:
            # Shutdown past the grace period: give the job back for another worker.
            with contextlib.suppress(Exception):
                async with self.ctx.db.write() as s:
                    await queue.release(s, job, now=self.ctx.clock.now())
            raise
        except Exception:
            # The outcome could not be stored; the job stays running without heartbeats
            # and is reclaimed after the timeout.
            log.exception("could not record a job's outcome", extra={"job_id": job.id})
        finally:
            self._running.pop(job.id, None)
            self.ran += 1
            self._wake.set()

    async def _attempt(self, job: Claimed) -> Retry | Dead | None:
        handler = self.registry.handler(job.kind)
        if handler is None:  # unregistered after the claim
            return Dead(f"no handler for job kind {job.kind!r}")
        try:
            await handler(self.ctx, job)
            return None
        except RetryLater as exc:
            return self._decide(job, exc.reason, retry_after=exc.retry_after)
        except GiveUp as exc:
            return Dead(exc.reason)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("job failed", extra={"job_id": job.id, "kind": job.kind}, exc_info=True)
            return self._decide(job, f"{type(exc).__name__}: {exc}")

    def _decide(
        self, job: Claimed, reason: str, *, retry_after: float | None = None
    ) -> Retry | Dead:
        return decide(
            self.options.policy,
            attempt=job.attempt,
            max_attempts=job.max_attempts,
            now=self.ctx.clock.now(),
            rng=self.rng,
            reason=reason,
            retry_after=retry_after,
        )

    async def _record(self, job: Claimed, outcome: Retry | Dead | None) -> None:
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._outcomes.append((job, outcome, done))
        self._outcome_ready.set()
        if not await done:
            log.warning("job was reclaimed while it ran", extra={"job_id": job.id})

    async def _recorder(self) -> None:
        """Group commit: every outcome that finished meanwhile goes in one transaction."""
        while True:
            await self._outcome_ready.wait()
            self._outcome_ready.clear()
            batch, self._outcomes = self._outcomes, []
            batch.sort(key=lambda item: item[0].id)  # one lock order for every writer
            if not batch:
                continue
            try:
                held = []
                async with self.ctx.db.write() as s:
                    now = self.ctx.clock.now()
                    for job, outcome, _ in batch:
                        if outcome is None:
                            held.append(await queue.complete(s, job, now=now))
                        else:
                            held.append(await queue.fail(s, job, outcome, now=now))
            except Exception as exc:
                for _, _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
                continue
            for (_, _, done), ok in zip(batch, held, strict=True):
                if not done.done():
                    done.set_result(ok)

    def _start_helpers(self) -> list[asyncio.Task[None]]:
        return [
            asyncio.create_task(self._heartbeats(), name=f"heartbeat {self.name}"),
            asyncio.create_task(self._recorder(), name=f"recorder {self.name}"),
        ]

    async def _stop_helpers(self, helpers: list[asyncio.Task[None]]) -> None:
        for task in helpers:
            task.cancel()
        await asyncio.gather(*helpers, return_exceptions=True)

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self.options.heartbeat_seconds)
            ids = list(self._running)
            if not ids:
                continue
            try:
                async with self.ctx.db.write() as s:
                    await queue.heartbeat(
                        s, worker=self.name, job_ids=ids, now=self.ctx.clock.now()
                    )
            except Exception:
                log.exception("job heartbeat failed", extra={"worker": self.name})

    async def _shut_down(self) -> None:
        tasks = [task for _, task in self._running.values()]
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=self.options.shutdown_grace_seconds)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
