"""What every request handler may need, built once per process and kept on `app.state`."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from tidings.clock import Clock
from tidings.config import Settings
from tidings.crypto import SecretBox
from tidings.db import Database


@dataclass
class AppContext:
    settings: Settings
    db: Database
    clock: Clock
    box: SecretBox


async def context(request: Request) -> AppContext:
    """FastAPI dependency: the process's AppContext. Async on purpose: FastAPI runs a plain
    `def` dependency in a worker thread, a hand-off per request for a field read."""
    ctx: AppContext = request.app.state.ctx
    return ctx
