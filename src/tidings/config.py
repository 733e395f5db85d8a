"""Settings read from `TIDINGS_*` environment variables (and an optional `.env` file)."""

from __future__ import annotations

import secrets
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./tidings.db"


class Settings(BaseSettings):
    """Everything an operator can configure; defaults run the embedded single-file setup."""

    model_config = SettingsConfigDict(env_prefix="TIDINGS_", env_file=".env", extra="ignore")

    database_url: str = Field(
        DEFAULT_DATABASE_URL,
        description="SQLAlchemy async URL: sqlite+aiosqlite:///path.db or "
        "postgresql+asyncpg://user@host/db (postgresql:// is accepted too).",
    )
    redis_url: str | None = Field(None, description="redis://host:6379/0; optional.")
    secret_key: str | None = Field(
        None,
        description="Seals stored secrets. When unset, one is generated once and kept in "
        "`.tidings-secret` next to the SQLite file (set it explicitly in production).",
    )
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["json", "text"] = "json"
    sqlite_synchronous: Literal["NORMAL", "FULL"] = Field(
        "NORMAL",
        description="NORMAL survives a crash of Tidings; FULL also survives power loss.",
    )
    db_pool_size: int = Field(10, ge=1, le=200)
    sqlite_busy_timeout_ms: int = Field(
        5000, ge=0, description="How long a write waits for SQLite's lock before a 503."
    )
    db_timeout_seconds: float = Field(
        10.0,
        gt=0,
        description="PostgreSQL: connect and statement timeout, and the wait for a pooled "
        "connection; past it a request answers 503 instead of hanging.",
    )
    max_body_bytes: int = Field(512 * 1024, ge=1024)
    rate_limit_per_second: float = Field(
        2000.0, ge=0, description="Requests per second per API key; 0 disables."
    )
    rate_limit_burst: int = Field(4000, ge=1)
    auto_migrate: bool = Field(
        True, description="`tidings serve` upgrades an embedded SQLite database on start."
    )
    allow_private_push_endpoints: bool = Field(
        False,
        description="Development only: accept Web Push endpoints on loopback and private "
        "hosts, over http too (e.g. the fakes in `tidings.testing`). Never in production: "
        "it lets a client make the server post to internal hosts.",
    )
    auto_winner_minutes: float = Field(
        15.0,
        gt=0,
        le=1440,
        description="How often the automatic-winner job checks active campaigns whose goal "
        "has an `auto_winner` rule (analytics/winner_job.py).",
    )
    push_influence_hours: float = Field(
        24.0, gt=0, le=720, description="A session this long after a push counts as influenced."
    )

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, url: str) -> str:
        """Accept the plain scheme people copy from elsewhere; use the async driver."""
        if url.startswith(("postgres://", "postgresql://")):
            return "postgresql+asyncpg://" + url.split("://", 1)[1]
        if url.startswith("sqlite:///"):
            return "sqlite+aiosqlite:///" + url.split(":///", 1)[1]
        return url

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def sqlite_path(self) -> Path | None:
        if not self.is_sqlite:
            return None
        raw = self.database_url.split(":///", 1)[1].split("?", 1)[0]
        return None if raw in ("", ":memory:") else Path(raw)

    @cached_property
    def effective_secret_key(self) -> str:
        """The configured key, or one generated once and kept beside the database."""
        if self.secret_key:
            return self.secret_key
        folder = self.sqlite_path.parent if self.sqlite_path else Path.cwd()
        keyfile = folder / ".tidings-secret"
        if keyfile.exists():
            return keyfile.read_text().strip()
        key = secrets.token_urlsafe(32)
        keyfile.parent.mkdir(parents=True, exist_ok=True)
        keyfile.write_text(key)
        keyfile.chmod(0o600)
        return key
