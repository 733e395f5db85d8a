"""FCM sends in waves: one commitment (the `sending` mark) and one outcome write for
every request that goes out together, instead of one each per push.

A wave takes as many free connections as it can use (at least one), encodes each
request on its connection, marks the wave's rows `sending` in one committed transaction
(through the process's ledger, group-committed with other sends), then writes every
request at once; from the commit to the wire is one `write` per request. A flight task
collects the replies and writes the wave's outcomes while the next wave is marked.
Only rows the mark took are sent, and a wave never holds more rows `sending` than it
holds connections, so a killed worker leaves at most its connections' worth of rows to
send again (under the same collapse id, see `push.send`).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from tidings.delivery.providers.base import Outcome
from tidings.delivery.providers.http1 import Lease
from tidings.push.batcher import Batcher
from tidings.push.senders import Sender

Ledger = Batcher[Any, Any]  # marks (delivery ids → taken?) and outcome entries


async def send_in_waves(
    sender: Sender,
    ledger: Ledger,
    items: Sequence[tuple[Any, bytes]],
    entry: Callable[[Any, Outcome], Any],
    one_by_one: Callable[[Any], Awaitable[None]],
) -> None:
    """Send `(row, encoded FCM body)` items; `entry(row, outcome)` is the ledger item
    recording an outcome. Rows left when no connection can be made go to `one_by_one`,
    the per-row path, which records the fault as a retry."""
    pending = deque(items)
    flights: list[asyncio.Task[None]] = []
    try:
        while pending:
            await sender.ready()
            try:
                leases = await sender.fcm_leases(len(pending))
            except (OSError, TimeoutError):
                rest = [row for row, _ in pending]
                pending.clear()
                failures = await asyncio.gather(*map(one_by_one, rest), return_exceptions=True)
                _raise_first(failures)
                break
            wave = [pending.popleft() for _ in leases]
            taken = await _mark(sender, ledger, wave, leases)
            go: list[tuple[Any, Lease]] = []
            for (row, _), lease, ok in zip(wave, leases, taken, strict=True):
                if ok:
                    go.append((row, lease))
                else:
                    sender.give_back(lease)  # another run took it
            if go:
                flights.append(asyncio.create_task(_fly(sender, ledger, go, entry)))
    finally:
        # Every wave on the wire gets its outcomes written before the job ends.
        landed = await asyncio.gather(*flights, return_exceptions=True)
    _raise_first(landed)


async def _mark(
    sender: Sender, ledger: Ledger, wave: list[tuple[Any, bytes]], leases: list[Lease]
) -> list[bool]:
    """Encode each request on its lease, then mark the rows `sending` (committed); an
    error gives every lease back unused."""
    try:
        await sender.fcm_stage(
            [(lease, body) for lease, (_, body) in zip(leases, wave, strict=True)]
        )
        return [bool(t) for t in await ledger.submit_many([row.id for row, _ in wave])]
    except BaseException:
        for lease in leases:
            sender.give_back(lease)
        raise


async def _fly(
    sender: Sender,
    ledger: Ledger,
    go: list[tuple[Any, Lease]],
    entry: Callable[[Any, Outcome], Any],
) -> None:
    outcomes = await sender.fcm_send_staged([lease for _, lease in go])
    await ledger.submit_many([entry(row, o) for (row, _), o in zip(go, outcomes, strict=True)])


def _raise_first(results: Sequence[object]) -> None:
    for failure in results:
        if isinstance(failure, BaseException):
            raise failure
