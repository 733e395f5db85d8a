"""The `campaign_users` rollup equals a recount from `deliveries` after any mix of writes
(inserts, updates of each counted column, moves, deletes, cascades), on both backends,
and migration 0009 backfills rows written before it."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from tests.conftest import Tenant
from tests.integration.test_analytics import launch, modal
from tests.integration.test_inapp import identify

from tidings import migrate
from tidings.analytics import rollup
from tidings.db import table_of
from tidings.deliveries.models import Delivery

deliveries = table_of(Delivery)
T0 = datetime(2031, 3, 1, 12, 0, tzinfo=UTC)
ROLLUP = (
    "SELECT campaign_id, user_id, variant, exposed_at, rows, displayed, clicked, dismissed,"
    " completed, sent, delivered, opens FROM campaign_users WHERE campaign_id IN ({ids})"
)


def stored(conn: sa.Connection, campaign_ids: list[int]) -> set[tuple[Any, ...]]:
    ids = ", ".join(str(int(c)) for c in campaign_ids)
    return {tuple(r) for r in conn.execute(sa.text(ROLLUP.format(ids=ids)))}


def recounted(conn: sa.Connection, campaign_ids: list[int]) -> set[tuple[Any, ...]]:
    out: set[tuple[Any, ...]] = set()
    for cid in campaign_ids:
        out |= {tuple(r) for r in conn.execute(rollup.recount(cid))}
    return out


ARMS = (
    "SELECT variant, SUM(targeted), SUM(exposed), SUM(displayed), SUM(clicked_any),"
    " SUM(clicked), SUM(dismissed), SUM(completed), SUM(sent), SUM(delivered), SUM(opens)"
    " FROM campaign_arms WHERE campaign_id = :c GROUP BY variant HAVING SUM(targeted) > 0"
)


def assert_consistent(conn: sa.Connection, campaign_ids: list[int]) -> None:
    """The rollups equal their recount from `deliveries` (`campaign_arms`: SQLite only)."""
    assert stored(conn, campaign_ids) == recounted(conn, campaign_ids)
    if conn.dialect.name != "sqlite":
        assert not sa.inspect(conn).has_table("campaign_arms")
        return
    for cid in campaign_ids:
        arms = {tuple(r) for r in conn.execute(sa.text(ARMS), {"c": cid})}
        assert arms == {tuple(r) for r in conn.execute(rollup.recount_arms(cid))}


def row(app_id: int, cid: int, uid: int, rng: random.Random, occurrence: int) -> dict[str, Any]:
    """A delivery row in one of the shapes writers produce."""
    at = T0 + timedelta(minutes=rng.randrange(0, 10_000))
    shape = rng.choice(["shown", "shown", "clicked", "holdout", "suppressed", "push", "queued"])
    push = shape in ("push", "queued")
    base: dict[str, Any] = {
        "app_id": app_id,
        "campaign_id": cid,
        "user_id": uid,
        "variant": rng.choice(["a", "b"]),
        "channel": "web_push" if push else "in_app",
        "device_key": rng.randrange(0, 3) if push else 0,
        "occurrence": occurrence,
        "status": "displayed",
        "reason": None,
        "format": "push" if push else "modal",
        "created_at": at,
        "displayed_at": at,
        "clicked_at": None,
        "dismissed_at": None,
        "completed_at": None,
        "data": {},
    }
    if shape == "clicked":
        base.update(
            status="clicked", clicked_at=at + timedelta(seconds=5), data={"clicks": ["buy"]}
        )
    elif shape == "holdout":
        base.update(variant="control", status="suppressed", reason="control", displayed_at=None)
    elif shape == "suppressed":
        base.update(variant="", status="suppressed", reason="capped", displayed_at=None)
    elif shape == "push":
        base.update(status=rng.choice(["sent", "delivered"]))
    elif shape == "queued":
        base.update(status="queued", displayed_at=None)
    return base


def random_write(
    conn: sa.Connection, rng: random.Random, app_id: int, cids: list[int], uids: list[int]
) -> None:
    """One write of the kinds the code makes (and a few it never makes, like moves)."""
    ids = [
        r[0]
        for r in conn.execute(sa.select(deliveries.c.id).where(deliveries.c.campaign_id.in_(cids)))
    ]
    op = rng.choice(
        ["insert", "insert", "many", "update", "update", "bulk_update", "move", "delete"]
    )
    if op in ("insert", "many") or not ids:
        n = 1 if op == "insert" else rng.randrange(2, 12)
        rows = [
            row(app_id, rng.choice(cids), rng.choice(uids), rng, rng.randrange(1, 10**9))
            for _ in range(n)
        ]
        conn.execute(deliveries.insert(), rows)
        return
    target = rng.choice(ids)
    moment = T0 + timedelta(minutes=rng.randrange(-500, 10_000))
    if op == "update":
        column, value = rng.choice(
            [
                ("displayed_at", moment),
                ("displayed_at", None),
                ("clicked_at", moment),
                ("dismissed_at", moment),
                ("completed_at", moment),
                ("status", rng.choice(["sent", "delivered", "failed", "clicked", "queued"])),
                ("reason", rng.choice(["control", "capped", None])),
                ("variant", rng.choice(["a", "b", "control", ""])),
                ("created_at", moment),
                ("data", {"clicks": ["later"]}),  # not counted: nothing to recount
            ]
        )
        conn.execute(deliveries.update().where(deliveries.c.id == target).values({column: value}))
    elif op == "bulk_update":
        chosen = rng.sample(ids, min(len(ids), rng.randrange(2, 8)))
        conn.execute(
            deliveries.update()
            .where(deliveries.c.id.in_(chosen))
            .values(status="delivered", clicked_at=moment)
        )
    elif op == "move":
        conn.execute(
            deliveries.update()
            .where(deliveries.c.id == target)
            .values(user_id=rng.choice(uids), occurrence=rng.randrange(10**9, 2 * 10**9))
        )
    else:
        chosen = rng.sample(ids, min(len(ids), rng.randrange(1, 4)))
        conn.execute(deliveries.delete().where(deliveries.c.id.in_(chosen)))


def test_rollup_equals_a_recount_after_a_mix_of_writes(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine
) -> None:
    variants = [{"key": "a", "content": modal("A")}, {"key": "b", "content": modal("B")}]
    cids = [launch(client, tenant, variants=variants, control_weight=1) for _ in range(2)]
    for i in range(8):
        identify(client, tenant, f"roll{i}")
    with sql.connect() as conn:
        uids = [
            r[0]
            for r in conn.execute(
                sa.text("SELECT id FROM users WHERE app_id = :a ORDER BY id"), {"a": tenant.app_id}
            )
        ]
    assert len(uids) == 8
    rng = random.Random(8)
    for _ in range(40):
        # Several writes per transaction: the rollup must be right at every commit.
        with sql.begin() as conn:
            for _ in range(rng.randrange(1, 6)):
                random_write(conn, rng, tenant.app_id, cids, uids)
        with sql.connect() as conn:
            assert_consistent(conn, cids)
    with sql.connect() as conn:
        assert len(stored(conn, cids)) > 3  # the mix left rows to compare
    # Erasing a user cascades to their delivery rows, and so out of the rollup.
    gone = uids[0]
    with sql.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA foreign_keys = ON")  # as the app's engine has it
        conn.execute(sa.text("DELETE FROM users WHERE id = :u"), {"u": gone})
        conn.commit()
    with sql.connect() as conn:
        assert_consistent(conn, cids)
        left = stored(conn, cids)
        assert all(r[1] != gone for r in left)


def test_migration_backfills_rows_written_before_it(tmp_path: Path) -> None:
    path = tmp_path / "before.db"
    url = f"sqlite+aiosqlite:///{path}"
    migrate.upgrade(url, "0008")
    engine = sa.create_engine(f"sqlite:///{path}")
    stamp = "2031-03-01 12:00:00.000000"
    with engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO workspaces (id, name, created_at) VALUES (1, 'w', :t)"),
            {"t": stamp},
        )
        conn.execute(
            sa.text(
                "INSERT INTO apps (id, workspace_id, name, write_key, identity_secret_sealed,"
                " identity_verification, settings, created_at)"
                " VALUES (1, 1, 'a', 'wk', 'x', 0, '{}', :t)"
            ),
            {"t": stamp},
        )
        conn.execute(
            sa.text(
                "INSERT INTO campaigns (id, app_id, name, description, channel, status, format,"
                " trigger, controls, variants, control_weight, version, created_at, updated_at)"
                " VALUES (1, 1, 'c', '', 'in_app', 'active', 'modal', '{}', '{}', '[]', 1, 1,"
                " :t, :t)"
            ),
            {"t": stamp},
        )
        for uid in (1, 2, 3):
            conn.execute(
                sa.text(
                    "INSERT INTO users (id, app_id, attributes, consent, session_count,"
                    " last_values, last_values_at, created_at, updated_at)"
                    " VALUES (:u, 1, '{}', '{}', 0, '{}', '{}', :t, :t)"
                ),
                {"u": uid, "t": stamp},
            )
        rng = random.Random(3)
        conn.execute(
            deliveries.insert(), [row(1, 1, u, rng, o) for u in (1, 2, 3) for o in (1, 2, 3)]
        )
    engine.dispose()
    migrate.upgrade(url)
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        assert len(stored(conn, [1])) == 3
        assert_consistent(conn, [1])
    engine.dispose()
