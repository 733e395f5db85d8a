"""User, anonymous-id alias and attribute-definition tables."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from tidings.db import Base, JSONType, UTCDateTime

ATTRIBUTE_TYPES = ("string", "number", "boolean", "datetime", "list")


class User(Base):
    """An end user of an app, with its profile columns (see profiles/ for aggregates)."""

    __tablename__ = "users"
    # AUTOINCREMENT: an erased user's id is never handed to someone else (SQLite).
    __table_args__ = (UniqueConstraint("app_id", "external_id"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), index=True)
    external_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # Typed attributes: values are str/float/bool/list[str]; datetimes as ISO-8601 UTC
    # strings ending in "Z" so they compare correctly as text in SQL too.
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    locale: Mapped[str | None] = mapped_column(String(35), nullable=True)
    timezone: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Per-channel consent: {"push": true, "inapp": true, "email": false, ...}
    consent: Mapped[dict[str, bool]] = mapped_column(JSONType, default=dict)
    country: Mapped[str | None] = mapped_column(String(2), nullable=True)
    region: Mapped[str | None] = mapped_column(String(100), nullable=True)
    city: Mapped[str | None] = mapped_column(String(100), nullable=True)
    latitude: Mapped[float | None] = mapped_column(Float, nullable=True)
    longitude: Mapped[float | None] = mapped_column(Float, nullable=True)
    first_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    session_count: Mapped[int] = mapped_column(Integer, default=0)
    # Last value of the app's chosen event properties: {"plan": "pro", ...}
    last_values: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # When each last value happened (ISO UTC): a late, older event never overwrites it.
    last_values_at: Mapped[dict[str, str]] = mapped_column(
        JSONType, default=dict, server_default=text("'{}'")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AnonymousId(Base):
    """An anonymous id and the user it resolves to (survives identify and merge)."""

    __tablename__ = "anonymous_ids"

    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), primary_key=True)
    anonymous_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AttributeDefinition(Base):
    """The type an attribute was first seen with; later values must match it."""

    __tablename__ = "attribute_definitions"

    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    type: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
