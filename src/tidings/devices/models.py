"""Device table: facts captured by SDKs and the push address that reaches it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tidings.db import Base, UTCDateTime

PLATFORMS = ("web", "ios", "android", "desktop", "device")
PUSH_PROVIDERS = ("fcm", "apns", "webpush", "mqtt")


class Device(Base):
    __tablename__ = "devices"
    __table_args__ = (
        UniqueConstraint("app_id", "device_id"),
        Index("ix_devices_push_address", "app_id", "push_provider", "push_address_hash"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    device_id: Mapped[str] = mapped_column(String(255))  # the SDK's own stable id
    platform: Mapped[str] = mapped_column(String(16))
    manufacturer: Mapped[str | None] = mapped_column(String(100), nullable=True)
    model: Mapped[str | None] = mapped_column(String(100), nullable=True)
    os_name: Mapped[str | None] = mapped_column(String(50), nullable=True)
    os_version: Mapped[str | None] = mapped_column(String(50), nullable=True)
    app_version: Mapped[str | None] = mapped_column(String(50), nullable=True)
    sdk_version: Mapped[str | None] = mapped_column(String(50), nullable=True)
    serial_number: Mapped[str | None] = mapped_column(String(100), nullable=True)
    screen_width: Mapped[int | None] = mapped_column(Integer, nullable=True)
    screen_height: Mapped[int | None] = mapped_column(Integer, nullable=True)
    locale: Mapped[str | None] = mapped_column(String(35), nullable=True)
    timezone: Mapped[str | None] = mapped_column(String(64), nullable=True)
    country: Mapped[str | None] = mapped_column(String(2), nullable=True)
    region: Mapped[str | None] = mapped_column(String(100), nullable=True)
    city: Mapped[str | None] = mapped_column(String(100), nullable=True)
    latitude: Mapped[float | None] = mapped_column(Float, nullable=True)
    longitude: Mapped[float | None] = mapped_column(Float, nullable=True)
    # Push address: FCM/APNs token, Web Push subscription (JSON text) or MQTT client id.
    push_provider: Mapped[str | None] = mapped_column(String(16), nullable=True)
    push_address: Mapped[str | None] = mapped_column(Text, nullable=True)
    push_address_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    push_active: Mapped[bool] = mapped_column(Boolean, default=False)
    push_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    push_invalid_reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
