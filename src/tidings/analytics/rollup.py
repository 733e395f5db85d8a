"""The `campaign_users` rollup: its definition, its backfill and the triggers that keep it.

Every write to `deliveries` recounts the touched (campaign, user) pairs from their own
delivery rows (a few rows each, found by the unique key) in the same statement, so the
rollup is exact by construction whoever writes (actions, push writers, bulk loads, FK
cascades, raw SQL). The report then reads one narrow row per user instead of grouping
the campaign's delivery rows (bench/analytics.py).

SQLite: row triggers (`AFTER UPDATE OF` the counted columns only). PostgreSQL: statement
triggers over transition tables, set-based; each touched rollup row is locked before the
recount, so of two transactions writing the same user the later one recounts after the
earlier commits (READ COMMITTED takes a new snapshot per statement) and sees its rows.

SQLite also keeps `campaign_arms` (per-arm totals, by deltas from `campaign_users`'
triggers). PostgreSQL does not: its writers of one campaign would all lock those few
rows until commit, and deadlocked on them; its report sums `campaign_users` instead.

A future migration that rebuilds `deliveries` on SQLite (`batch_alter_table` copies the
table and drops its triggers) must run `create_statements("sqlite")` again.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

WENT_OUT = ("sent", "delivered", "displayed", "clicked", "dismissed", "converted")
DELIVERED = WENT_OUT[1:]
COLUMNS = (
    "campaign_id, user_id, variant, exposed_at, rows, displayed, clicked, dismissed,"
    " completed, sent, delivered, opens"
)
# The columns a recount reads: an update touching none of them changes nothing.
COUNTED = (
    "campaign_id, user_id, variant, channel, status, reason, created_at, displayed_at,"
    " clicked_at, dismissed_at, completed_at"
)


def _one_of(column: str, values: tuple[str, ...]) -> str:
    # ORed equalities, not IN (…): inside a trigger SQLite builds an IN list's lookup
    # table on every firing (measured 5 µs per updated row).
    return "(" + " OR ".join(f"{column} = '{v}'" for v in values) + ")"


def _exposed(alias: str) -> str:
    # Same meaning as `analytics.sql.Sql.exposed_at`: the impression or send, or for a
    # logged holdout row its creation.
    return (
        f"COALESCE({alias}.displayed_at,"
        f" CASE WHEN {alias}.reason = 'control' THEN {alias}.created_at END)"
    )


def recount_sql(where: str) -> str:
    """SELECT of rollup rows (in `COLUMNS` order) recounted from `deliveries d` rows
    matching `where`: the rollup's definition."""
    return f"""
SELECT d.campaign_id AS campaign_id, d.user_id AS user_id,
  (SELECT f.variant FROM deliveries f
    WHERE f.campaign_id = d.campaign_id AND f.user_id = d.user_id
    ORDER BY ({_exposed("f")}) IS NULL, {_exposed("f")}, f.id LIMIT 1) AS variant,
  MIN({_exposed("d")}) AS exposed_at, COUNT(*) AS rows,
  COUNT(d.displayed_at) AS displayed, COUNT(d.clicked_at) AS clicked,
  COUNT(d.dismissed_at) AS dismissed, COUNT(d.completed_at) AS completed,
  SUM(CASE WHEN d.channel <> 'in_app' AND {_one_of("d.status", WENT_OUT)} THEN 1 ELSE 0 END)
    AS sent,
  SUM(CASE WHEN d.channel <> 'in_app' AND {_one_of("d.status", DELIVERED)} THEN 1 ELSE 0 END)
    AS delivered,
  SUM(CASE WHEN d.channel <> 'in_app' AND d.clicked_at IS NOT NULL THEN 1 ELSE 0 END) AS opens
FROM deliveries d WHERE {where}
GROUP BY d.campaign_id, d.user_id"""


def backfill_statement() -> str:
    """Rebuild the whole rollup from `deliveries` (migration 0009, repairs)."""
    return f"INSERT INTO campaign_users ({COLUMNS}) {recount_sql('1 = 1')}"


def _sqlite_refresh(key: str) -> str:
    """Trigger-body statements recounting the pair `key` (NEW or OLD)."""
    match = f"campaign_id = {key}.campaign_id AND user_id = {key}.user_id"
    return f"""
  DELETE FROM campaign_users WHERE {match};
  INSERT INTO campaign_users ({COLUMNS})
  {recount_sql(f"d.campaign_id = {key}.campaign_id AND d.user_id = {key}.user_id")};"""


def _single_row(n: str) -> str:
    """`recount_sql`'s values for a pair whose only delivery row is `n`."""

    def has(column: str) -> str:
        return f"CASE WHEN {n}.{column} IS NOT NULL THEN 1 ELSE 0 END"

    def push(test: str) -> str:
        return f"CASE WHEN {n}.channel <> 'in_app' AND {test} THEN 1 ELSE 0 END"

    return (
        f"{n}.campaign_id, {n}.user_id, {n}.variant, {_exposed(n)}, 1, {has('displayed_at')},"
        f" {has('clicked_at')}, {has('dismissed_at')}, {has('completed_at')},"
        f" {push(_one_of(f'{n}.status', WENT_OUT))}, {push(_one_of(f'{n}.status', DELIVERED))},"
        f" {push(f'{n}.clicked_at IS NOT NULL')}"
    )


def _sqlite_refresh_new() -> str:
    """Trigger-body statements recounting NEW's pair. Most pairs have one row (a new
    pair, a push to one device): then NEW's own values are the recount, without the
    aggregate (about a third of the trigger's cost)."""
    others = (
        "EXISTS (SELECT 1 FROM deliveries o WHERE o.campaign_id = NEW.campaign_id"
        " AND o.user_id = NEW.user_id AND o.id <> NEW.id)"
    )
    pair = "d.campaign_id = NEW.campaign_id AND d.user_id = NEW.user_id"
    return f"""
  DELETE FROM campaign_users WHERE campaign_id = NEW.campaign_id AND user_id = NEW.user_id;
  INSERT INTO campaign_users ({COLUMNS}) SELECT {_single_row("NEW")} WHERE NOT {others};
  INSERT INTO campaign_users ({COLUMNS}) {recount_sql(f"{pair} AND {others}")};"""


ARM_SHARDS = 8
ARM_COLUMNS = (
    "campaign_id, variant, shard, targeted, exposed, displayed, clicked_any, clicked,"
    " dismissed, completed, sent, delivered, opens"
)
_ARM_COUNTS = [c.strip() for c in ARM_COLUMNS.split(",")][3:]
_ADD = ", ".join(f"{c} = campaign_arms.{c} + excluded.{c}" for c in _ARM_COUNTS)


def _arm_terms(a: str, sign: int) -> list[str]:
    """What one `campaign_users` row `a` adds to its arm (sign 1) or takes away (-1), in
    `ARM_COLUMNS` order after the key."""

    def flag(test: str) -> str:
        return f"CASE WHEN {test} THEN {sign} ELSE 0 END"

    exposed = f"{a}.exposed_at IS NOT NULL"
    return [
        str(sign),
        flag(exposed),
        flag(f"{a}.displayed > 0"),
        flag(f"{a}.clicked > 0"),
        flag(f"{exposed} AND {a}.clicked > 0"),
        flag(f"{a}.dismissed > 0"),
        flag(f"{a}.completed > 0"),
        f"{sign} * {a}.sent",
        f"{sign} * {a}.delivered",
        f"{sign} * {a}.opens",
    ]


def arms_sql(source: str, sign: int = 1) -> str:
    """SELECT of `campaign_arms` rows (deltas with sign -1) in `ARM_COLUMNS` order from the
    `campaign_users` rows in `source`: the arms' definition. Rows counting nothing
    (`rows = 0`: PostgreSQL's placeholder before a recount) are left out."""
    sums = ", ".join(
        f"SUM({t}) AS {c}" for t, c in zip(_arm_terms("r", sign), _ARM_COUNTS, strict=True)
    )
    shard = f"r.user_id % {ARM_SHARDS}"
    return (
        f"SELECT r.campaign_id AS campaign_id, r.variant AS variant, {shard} AS shard, {sums}"
        f" FROM {source} r"
        f" WHERE r.rows > 0 GROUP BY r.campaign_id, r.variant, {shard}"
    )


def arms_backfill_statement() -> str:
    return f"INSERT INTO campaign_arms ({ARM_COLUMNS}) {arms_sql('campaign_users')}"


def _sqlite_arm_statements() -> list[str]:
    def apply(key: str, sign: int) -> str:
        # SELECT … WHERE rather than VALUES: skips placeholder rows, and SQLite's upsert
        # after a SELECT needs a WHERE to parse.
        terms = ", ".join(_arm_terms(key, sign))
        return (
            f"\n  INSERT INTO campaign_arms ({ARM_COLUMNS})"
            f" SELECT {key}.campaign_id, {key}.variant, {key}.user_id % {ARM_SHARDS}, {terms}"
            f" WHERE {key}.rows > 0"
            f" ON CONFLICT (campaign_id, variant, shard) DO UPDATE SET {_ADD};"
        )

    return [
        "CREATE TRIGGER trg_campaign_users_arms_insert AFTER INSERT ON campaign_users"
        f" BEGIN{apply('NEW', 1)}\nEND",
        "CREATE TRIGGER trg_campaign_users_arms_delete AFTER DELETE ON campaign_users"
        f" BEGIN{apply('OLD', -1)}\nEND",
        "CREATE TRIGGER trg_campaign_users_arms_update AFTER UPDATE ON campaign_users"
        f" BEGIN{apply('OLD', -1)}{apply('NEW', 1)}\nEND",
    ]


def _counts_change() -> str:
    """Whether an update can change what the recount reads: skips e.g. a push row going
    from `queued` to `sending` (neither counts as sent)."""
    same = [
        f"OLD.{c} IS NEW.{c}"
        for c in (
            "campaign_id", "user_id", "variant", "channel", "created_at", "displayed_at",
            "clicked_at", "dismissed_at", "completed_at",
        )
    ]  # fmt: skip
    same += [
        f"{_one_of('OLD.status', WENT_OUT)} IS {_one_of('NEW.status', WENT_OUT)}",
        f"{_one_of('OLD.status', DELIVERED)} IS {_one_of('NEW.status', DELIVERED)}",
        "(OLD.reason = 'control') IS (NEW.reason = 'control')",
    ]
    return f"NOT ({' AND '.join(same)})"


def _sqlite_statements() -> list[str]:
    return [
        # DELETE then INSERT rather than REPLACE: REPLACE fires no DELETE trigger, and
        # `campaign_arms` is kept by the triggers on `campaign_users`.
        f"CREATE TRIGGER trg_deliveries_rollup_insert AFTER INSERT ON deliveries BEGIN"
        f"{_sqlite_refresh_new()}\nEND",
        f"CREATE TRIGGER trg_deliveries_rollup_update AFTER UPDATE OF {COUNTED} ON deliveries"
        f" WHEN {_counts_change()} BEGIN{_sqlite_refresh_new()}\nEND",
        # The rare move of a row to another pair: the pair it left is recounted too.
        "CREATE TRIGGER trg_deliveries_rollup_move AFTER UPDATE OF campaign_id, user_id"
        " ON deliveries WHEN OLD.campaign_id <> NEW.campaign_id OR OLD.user_id <> NEW.user_id"
        f" BEGIN{_sqlite_refresh('OLD')}\nEND",
        f"CREATE TRIGGER trg_deliveries_rollup_delete AFTER DELETE ON deliveries BEGIN"
        f"{_sqlite_refresh('OLD')}\nEND",
        *_sqlite_arm_statements(),
    ]


def _changed(n: str, o: str) -> str:
    cols = [c.strip() for c in COUNTED.split(",")]
    return (
        f"({', '.join(f'{n}.{c}' for c in cols)}) IS DISTINCT FROM"
        f" ({', '.join(f'{o}.{c}' for c in cols)})"
    )


_PG_FUNCTION = f"""
CREATE FUNCTION campaign_users_refresh() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  cids bigint[];
  uids bigint[];
BEGIN
  IF TG_OP = 'INSERT' THEN
    SELECT array_agg(k.campaign_id), array_agg(k.user_id) INTO cids, uids
      FROM (SELECT DISTINCT campaign_id, user_id FROM new_rows) k;
  ELSIF TG_OP = 'UPDATE' THEN
    SELECT array_agg(k.campaign_id), array_agg(k.user_id) INTO cids, uids FROM (
      SELECT n.campaign_id, n.user_id FROM new_rows n JOIN old_rows o ON o.id = n.id
       WHERE {_changed("n", "o")}
      UNION
      SELECT o.campaign_id, o.user_id FROM new_rows n JOIN old_rows o ON o.id = n.id
       WHERE (n.campaign_id, n.user_id) IS DISTINCT FROM (o.campaign_id, o.user_id)) k;
  ELSE
    SELECT array_agg(k.campaign_id), array_agg(k.user_id) INTO cids, uids
      FROM (SELECT DISTINCT campaign_id, user_id FROM old_rows) k;
  END IF;
  IF cids IS NULL THEN
    RETURN NULL;
  END IF;
  -- A row to lock for every pair, then the locks in key order: a concurrent writer of
  -- the same pair waits here, and the recount below (a new snapshot) sees its rows.
  INSERT INTO campaign_users ({COLUMNS})
    SELECT k.c, k.u, '', NULL, 0, 0, 0, 0, 0, 0, 0, 0
      FROM unnest(cids, uids) AS k(c, u) ORDER BY 1, 2
    ON CONFLICT DO NOTHING;
  PERFORM 1 FROM campaign_users r JOIN unnest(cids, uids) AS k(c, u)
      ON r.campaign_id = k.c AND r.user_id = k.u
    ORDER BY r.campaign_id, r.user_id FOR UPDATE OF r;
  UPDATE campaign_users r SET
    variant = a.variant, exposed_at = a.exposed_at, rows = a.rows,
    displayed = a.displayed, clicked = a.clicked, dismissed = a.dismissed,
    completed = a.completed, sent = a.sent, delivered = a.delivered, opens = a.opens
  FROM ({recount_sql("(d.campaign_id, d.user_id) IN (SELECT * FROM unnest(cids, uids))")}
  ) AS a({COLUMNS})
  WHERE r.campaign_id = a.campaign_id AND r.user_id = a.user_id;
  DELETE FROM campaign_users r USING unnest(cids, uids) AS k(c, u)
   WHERE r.campaign_id = k.c AND r.user_id = k.u
     AND NOT EXISTS (SELECT 1 FROM deliveries d
                      WHERE d.campaign_id = k.c AND d.user_id = k.u);
  RETURN NULL;
END $$"""


def _pg_statements() -> list[str]:
    out = [_PG_FUNCTION]
    # Transition tables allow one event per trigger, hence three.
    for event, tables in (
        ("INSERT", "NEW TABLE AS new_rows"),
        ("UPDATE", "NEW TABLE AS new_rows OLD TABLE AS old_rows"),
        ("DELETE", "OLD TABLE AS old_rows"),
    ):
        out.append(
            f"CREATE TRIGGER trg_deliveries_rollup_{event.lower()} AFTER {event} ON deliveries"
            f" REFERENCING {tables} FOR EACH STATEMENT EXECUTE FUNCTION campaign_users_refresh()"
        )
    return out


def create_statements(dialect: str) -> list[str]:
    """DDL creating the triggers (and on PostgreSQL their function)."""
    return _pg_statements() if dialect == "postgresql" else _sqlite_statements()


def drop_statements(dialect: str) -> list[str]:
    if dialect == "postgresql":
        return [
            *(
                f"DROP TRIGGER IF EXISTS trg_deliveries_rollup_{e} ON deliveries"
                for e in ("insert", "update", "delete")
            ),
            "DROP FUNCTION IF EXISTS campaign_users_refresh()",
        ]
    return [
        *(
            f"DROP TRIGGER IF EXISTS trg_deliveries_rollup_{e}"
            for e in ("insert", "update", "move", "delete")
        ),
        *(
            f"DROP TRIGGER IF EXISTS trg_campaign_users_arms_{e}"
            for e in ("insert", "update", "delete")
        ),
    ]


def recount_arms(campaign_id: int) -> sa.TextClause:
    """One campaign's `campaign_arms` summed per arm, recounted from `deliveries`: what
    the per-arm sums of `campaign_arms` must equal (arms with no user left out)."""
    users = f"({recount_sql('d.campaign_id = :campaign_id')})"
    sums = ", ".join(f"SUM(a.{c})" for c in _ARM_COUNTS)
    return sa.text(
        f"SELECT a.variant, {sums} FROM ({arms_sql(users)}) AS a GROUP BY a.variant"
    ).bindparams(campaign_id=campaign_id)


def recount(campaign_id: int | None = None) -> sa.TextClause:
    """The rollup's rows recounted from `deliveries` (all, or one campaign's): what
    `campaign_users` must equal at every commit."""
    where = "1 = 1" if campaign_id is None else "d.campaign_id = :campaign_id"
    params: dict[str, Any] = {} if campaign_id is None else {"campaign_id": campaign_id}
    return sa.text(recount_sql(where)).bindparams(**params)
