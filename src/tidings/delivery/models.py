"""Provider credentials per app, sealed at rest."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tidings.db import Base, JSONType, UTCDateTime


class PushCredential(Base):
    """One provider's credentials for one app: `sealed` is SecretBox ciphertext of the
    whole credential JSON; `summary` holds only what is safe to show (ids, public keys)."""

    __tablename__ = "push_credentials"
    __table_args__ = (UniqueConstraint("app_id", "provider"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(16))
    sealed: Mapped[str] = mapped_column(Text)
    summary: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
