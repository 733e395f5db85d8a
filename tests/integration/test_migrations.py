"""The migrations build exactly the schema the models describe, on every backend."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from tidings import migrate
from tidings.tables import metadata
from tidings.testing.live import LiveServer


def test_models_and_migrations_agree(sql: sa.Engine, live: LiveServer) -> None:
    with sql.connect() as conn:
        dialect = conn.dialect.name

        def kept_here(obj: object, name: str | None, kind: str, *_: object) -> bool:
            # A table may be kept on some databases only (`info["dialects"]`).
            return kind != "table" or dialect in obj.info.get("dialects", (dialect,))  # type: ignore[attr-defined]

        context = MigrationContext.configure(conn, opts={"include_object": kept_here})
        diff = compare_metadata(context, metadata)
    assert diff == []


def test_database_is_at_head(sql: sa.Engine, live: LiveServer) -> None:
    with sql.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    assert current == migrate.head_revision()


def test_erased_ids_are_never_reused_on_sqlite(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "ids.db"
    migrate.upgrade(f"sqlite+aiosqlite:///{path}")
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        for table in ("users", "devices", "apps", "server_keys", "workspaces"):
            ddl = conn.execute(
                sa.text("SELECT sql FROM sqlite_master WHERE name = :t"), {"t": table}
            ).scalar_one()
            assert "AUTOINCREMENT" in ddl, table
    engine.dispose()
