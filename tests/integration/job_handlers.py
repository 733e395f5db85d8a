"""Job handlers for `tidings worker --import job_handlers` in the crash tests.

Registers one kind, named by TIDINGS_TEST_JOB_KIND, on the default registry. The handler
appends `start <pid> <attempt>` to the payload's `log` file, blocks while its attempt is
at most `block_attempts` and the `gate` file does not exist, then appends `done ...`.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from tidings.context import AppContext
from tidings.jobs.handlers import default_registry
from tidings.jobs.queue import Claimed


def _note(path: Path, line: str) -> None:
    with path.open("a") as f:
        f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())


@default_registry.register(os.environ["TIDINGS_TEST_JOB_KIND"])
async def blocking(ctx: AppContext, job: Claimed) -> None:
    log = Path(job.payload["log"])
    gate = Path(job.payload["gate"])
    _note(log, f"start {os.getpid()} {job.attempt}")
    # The gate is a file another process creates: polling it is the point.
    while job.attempt <= job.payload["block_attempts"] and not gate.exists():  # noqa: ASYNC110, ASYNC240
        await asyncio.sleep(0.02)
    _note(log, f"done {os.getpid()} {job.attempt}")
