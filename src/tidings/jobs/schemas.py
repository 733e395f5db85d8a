"""What the jobs API returns."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

JobStatus = Literal["queued", "running", "done", "dead"]


class JobOut(BaseModel):
    """A job as stored; `last_error` is the most recent failure's reason (kept after a retry)."""

    id: int
    kind: str
    status: JobStatus
    payload: dict[str, Any]
    unique_key: str | None
    run_at: datetime = Field(description="Not run before this time (UTC).")
    attempts: int = Field(description="Attempts started so far.")
    max_attempts: int
    last_error: str | None
    locked_by: str | None = Field(description="The worker running it, while `running`.")
    heartbeat_at: datetime | None
    created_at: datetime
    finished_at: datetime | None
