"""Background reloads: one per key while one is under way, a fresh one once it ended."""

from __future__ import annotations

import asyncio

from tidings.refreshes import Refreshes


def test_one_reload_per_key_at_a_time() -> None:
    async def scenario() -> list[str]:
        ran: list[str] = []
        gate = asyncio.Event()
        refreshes: Refreshes[str] = Refreshes()

        async def reload(key: str) -> None:
            ran.append(key)
            await gate.wait()

        for key in ["a", "a", "b", "a"]:
            refreshes.start(key, lambda key=key: reload(key))  # type: ignore[misc]
        await asyncio.sleep(0)
        assert sorted(ran) == ["a", "b"]
        gate.set()
        await asyncio.sleep(0.01)
        refreshes.start("a", lambda: reload("a"))
        await asyncio.sleep(0.01)
        return ran

    assert sorted(asyncio.run(scenario())) == ["a", "a", "b"]


def test_a_failed_reload_frees_its_key() -> None:
    async def scenario() -> int:
        calls = 0
        refreshes: Refreshes[int] = Refreshes()

        async def broken() -> None:
            nonlocal calls
            calls += 1
            raise RuntimeError("database away")

        refreshes.start(1, broken)
        await asyncio.sleep(0.01)
        refreshes.start(1, broken)
        await asyncio.sleep(0.01)
        return calls

    assert asyncio.run(scenario()) == 2


def test_a_task_left_on_another_loop_does_not_block_the_key() -> None:
    refreshes: Refreshes[str] = Refreshes()
    ran: list[int] = []

    async def forever() -> None:
        ran.append(1)
        await asyncio.Event().wait()

    async def start_and_leave() -> None:
        refreshes.start("k", forever)
        await asyncio.sleep(0)

    loops = [asyncio.new_event_loop(), asyncio.new_event_loop()]
    for loop in loops:
        # Closed without cancelling what is pending, as an embedding app's loop may be.
        loop.run_until_complete(start_and_leave())
    assert ran == [1, 1]
    for loop in loops:
        for task in asyncio.all_tasks(loop):
            task.cancel()
            loop.run_until_complete(asyncio.gather(task, return_exceptions=True))
        loop.close()
