"""The rolling window of daily counts: days older than DAILY_WINDOW_DAYS are pruned.

`serve` runs `keep_pruning` in the background (hourly); the durable job runner of a later
issue will own scheduling. Pruning is idempotent, so overlapping runs do no harm.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from tidings.context import AppContext
from tidings.profiles.models import DAILY_WINDOW_DAYS
from tidings.profiles.queries import prune_daily_counts

log = logging.getLogger("tidings.profiles.retention")

PRUNE_EVERY = timedelta(hours=1)


async def prune_once(ctx: AppContext) -> int:
    """Delete daily counts older than the window; returns how many rows went."""
    cutoff = ctx.clock.now().date() - timedelta(days=DAILY_WINDOW_DAYS)
    async with ctx.db.write() as s:
        removed = await prune_daily_counts(await s.connection(), cutoff)
    if removed:
        log.info("pruned daily counts", extra={"rows": removed, "before": cutoff.isoformat()})
    return removed


async def keep_pruning(ctx: AppContext, every: timedelta = PRUNE_EVERY) -> None:
    """Prune now and then every `every`, until cancelled; failures are logged, not fatal."""
    while True:
        try:
            await prune_once(ctx)
        except Exception:
            log.exception("pruning daily counts failed; will retry")
        await asyncio.sleep(every.total_seconds())
