"""Checked rule → SQLAlchemy Core: a condition over `users`, and the audience of user ids.

The same semantics as the Python compiler, on SQLite and PostgreSQL: every predicate is
two-valued (a missing value makes `ne`/`not_in` true and everything else false, never
NULL), behaviour reads the daily counts and totals, text folds ASCII only, datetimes
compare as UTC text (PostgreSQL with `COLLATE "C"`), versions compare by `semver_key`.
SQLite gets a few functions registered per connection (`prepare`/`install_functions`);
PostgreSQL has `tidings_semver_key` from migration 0002 and does the rest in plain SQL.
Children of `and`/`or` are ordered cheapest first (column tests before JSON, JSON before
subqueries); evaluation order never changes a result.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import ColumnElement, Select, and_, exists, false, func, literal, not_, or_, true
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from tidings.db import table_of
from tidings.devices.models import Device as DeviceRow
from tidings.profiles.models import EventDailyCount, UserEventStat
from tidings.targeting import bucketing, semver
from tidings.targeting.geo import EARTH_RADIUS_KM
from tidings.targeting.operators import count_test, fold
from tidings.targeting.rules import (
    And,
    Attribute,
    Consent,
    Device,
    Event,
    Near,
    Not,
    Or,
    Percentage,
    Rule,
    Segment,
)
from tidings.targeting.sqlite_functions import install_functions
from tidings.targeting.windows import datetime_text, day_window, days_ago, parse_moment
from tidings.users.models import User

users = table_of(User)
daily = table_of(EventDailyCount)
stats = table_of(UserEventStat)
devices = table_of(DeviceRow)

Cond = ColumnElement[bool]
_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_LOWER = "abcdefghijklmnopqrstuvwxyz"
_SYMBOL = {"eq": "=", "ne": "!=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


def audience(rule: Rule, *, app_id: int, dialect: str, now: datetime) -> Select[tuple[int]]:
    """`SELECT users.id` of the app's users matching a checked rule at `now`."""
    return sa.select(users.c.id).where(
        users.c.app_id == app_id, condition(rule, dialect=dialect, now=now)
    )


def condition(rule: Rule, *, dialect: str, now: datetime) -> Cond:
    """The rule as a never-NULL boolean over the `users` table."""
    return _Compiler(dialect, now).node(rule)


async def prepare(session: AsyncSession) -> None:
    """Make the session's connection ready for compiled rules (SQLite functions)."""
    conn = await session.connection()
    if conn.dialect.name == "sqlite":
        await conn.run_sync(prepare_sync)


def prepare_sync(conn: sa.Connection) -> None:
    """`prepare` for a synchronous connection."""
    if conn.dialect.name != "sqlite":
        return
    pooled = conn.connection
    if not pooled.info.get("tidings_targeting"):
        install_functions(pooled.dbapi_connection)
        pooled.info["tidings_targeting"] = True


class _Compiler:
    def __init__(self, dialect: str, now: datetime) -> None:
        if dialect not in ("sqlite", "postgresql"):
            raise ValueError(f"unsupported dialect {dialect}")
        self.pg = dialect == "postgresql"
        self.now = now

    # -- tree -----------------------------------------------------------------------
    def node(self, rule: Rule) -> Cond:
        if isinstance(rule, And):
            if not rule.children:
                return true()
            return and_(*[self.node(c) for c in sorted(rule.children, key=cost)])
        if isinstance(rule, Or):
            if not rule.children:
                return false()
            return or_(*[self.node(c) for c in sorted(rule.children, key=cost)])
        if isinstance(rule, Not):
            return not_(self.node(rule.child))
        if isinstance(rule, Attribute):
            return self.attribute(rule)
        if isinstance(rule, Event):
            return self.event(rule)
        if isinstance(rule, Device):
            return self.device(rule)
        if isinstance(rule, Consent):
            return self.consent(rule.consent)
        if isinstance(rule, Near):
            return self.near(rule)
        if isinstance(rule, Segment):
            if rule.rule is None:
                raise ValueError("segment references are resolved by check_rule before compiling")
            return self.node(rule.rule)
        if isinstance(rule, Percentage):
            return self.percentage(rule)
        raise TypeError(f"unknown rule node {rule!r}")

    # -- attributes -----------------------------------------------------------------
    def attribute(self, node: Attribute) -> Cond:
        type_ = node.type
        if type_ is None:
            raise ValueError("check the rule before compiling it (attribute type unknown)")
        if node.attribute.startswith("$"):
            column = users.c[node.attribute[1:]]
            return self.compare(
                column, type_, node.op, node.value, node.case_insensitive, as_text=False
            )
        if type_ == "list":
            return self.list_compare(node)
        value, guard = self.json_value(users.c.attributes, node.attribute, type_)
        return self.compare(
            value, type_, node.op, node.value, node.case_insensitive, as_text=True, guard=guard
        )

    def json_value(
        self, column: Any, name: str, type_: str
    ) -> tuple[ColumnElement[Any], Cond | None]:
        """(the attribute as SQL, NULL when missing; a guard that it has the JSON type).

        Comparisons test the value first and the guard only when that passes, so most
        rows parse the JSON once; PostgreSQL numbers and booleans are cast inside a CASE
        (a cast of the wrong type would fail), so they need no guard.
        """
        if self.pg:
            doc = sa.type_coerce(column, JSONB)
            item = doc.op("->", return_type=JSONB)(literal(name, sa.Text))
            text = doc.op("->>", return_type=sa.Text)(literal(name, sa.Text))
            kind = func.jsonb_typeof(item)
            if type_ in ("string", "datetime"):
                return text, kind == "string"
            if type_ == "number":
                return sa.case((kind == "number", sa.cast(text, sa.Float))), None
            if type_ == "boolean":
                return sa.case((kind == "boolean", sa.cast(text, sa.Boolean))), None
            raise ValueError(type_)
        path = f'$."{name}"'
        kind = func.json_type(column, path)
        value = func.json_extract(column, path)
        if type_ in ("string", "datetime"):
            return value, kind == "text"
        if type_ == "number":
            return value, kind.in_(("integer", "real"))
        if type_ == "boolean":
            return value, kind.in_(("true", "false"))  # read as 1 and 0
        raise ValueError(type_)

    def list_compare(self, node: Attribute) -> Cond:
        name, op, ci = node.attribute, node.op, node.case_insensitive
        element: ColumnElement[Any]
        if self.pg:
            doc = sa.type_coerce(users.c.attributes, JSONB)
            item = doc.op("->", return_type=JSONB)(literal(name, sa.Text))
            is_list = func.coalesce(func.jsonb_typeof(item), "") == "array"
            elements = (
                func.jsonb_array_elements(
                    sa.case((is_list, item), else_=sa.cast(literal("[]"), JSONB))
                )
                .table_valued(sa.column("value", JSONB))
                .render_derived()
            )
            element_kind = func.jsonb_typeof(elements.c.value) == "string"
            element = elements.c.value.op("#>>", return_type=sa.Text)(
                sa.literal_column("'{}'::text[]")
            )
            source = elements
        else:
            path = f'$."{name}"'
            is_list = func.coalesce(func.json_type(users.c.attributes, path), "") == "array"
            elements = func.json_each(users.c.attributes, path).table_valued("value", "type")
            element_kind = elements.c.type == "text"
            element = elements.c.value
            source = elements
        if op == "exists":
            return is_list if node.value is not False else not_(is_list)
        text = self.fold(element) if ci else element
        if op == "contains":
            wanted: Any = text == (fold(node.value) if ci else node.value)
        else:
            wanted = text.in_([fold(v) if ci else v for v in node.value])
        any_match = and_(
            is_list, exists(sa.select(1).select_from(source).where(element_kind, wanted))
        )
        return not_(any_match) if op == "not_in" else any_match

    def compare(
        self,
        v: ColumnElement[Any],
        type_: str,
        op: str,
        x: Any,
        ci: bool,
        *,
        as_text: bool,
        guard: Cond | None = None,
    ) -> Cond:
        """`v op x` made two-valued, for a value that is NULL when missing.

        `guard` (never NULL where `v` is not) says the value has the checked type; it is
        tested last. Negative operators are NOT of the positive test, so a missing or
        mistyped value makes them true.
        """

        def holds(*tests: Cond) -> Cond:
            return and_(v.is_not(None), *tests, *([guard] if guard is not None else []))

        if op == "exists":
            return holds() if x is not False else not_(holds())
        if op in ("more_than_days_ago", "less_than_days_ago"):
            moment = days_ago(self.now, float(x))
            limit: Any = datetime_text(moment) if as_text else moment
            target = self.ordered(v, as_text)
            return holds(target < limit if op == "more_than_days_ago" else target > limit)
        if op.startswith("semver_"):
            key = self.semver(v)
            wanted = semver.semver_key(x)
            return holds(key.is_not(None), key.op(_SYMBOL[op.removeprefix("semver_")])(wanted))
        if op == "regex":
            return holds(self.regex(v, x, ci))
        if type_ == "boolean" and not self.pg and as_text:
            x = int(x)  # JSON booleans read as 1/0 on SQLite
        if type_ == "datetime":
            if not as_text:
                x = [parse_moment(i) for i in x] if isinstance(x, list) else parse_moment(x)
            v = self.ordered(v, as_text)
        if ci:
            v = self.fold(v)
            x = [fold(i) for i in x] if isinstance(x, list) else fold(x)
        if op == "ne":
            return not_(holds(self.positive(v, "eq", x)))
        if op == "not_in":
            return not_(holds(self.positive(v, "in", x)))
        return holds(self.positive(v, op, x))

    def positive(self, v: ColumnElement[Any], op: str, x: Any) -> Cond:
        if op == "eq":
            return v == x  # type: ignore[no-any-return]  # sqlalchemy overloads return Any
        if op == "in":
            return v.in_(x)
        if op == "contains":
            found = func.strpos(v, x) if self.pg else func.instr(v, x)
            return found > 0
        if op == "starts_with":
            prefix: Cond = func.substr(v, 1, len(x)) == x
            return prefix
        if op == "between":
            # Not BETWEEN: PostgreSQL's grammar allows no COLLATE on its bounds.
            return and_(v >= x[0], v <= x[1])
        if op in _SYMBOL:
            return v.op(_SYMBOL[op])(x)
        raise ValueError(f"no SQL for {op}")

    def ordered(self, v: ColumnElement[Any], as_text: bool) -> ColumnElement[Any]:
        """Datetime text must sort bytewise whatever the database's collation."""
        return v.collate("C") if (self.pg and as_text) else v

    def fold(self, v: ColumnElement[Any]) -> ColumnElement[Any]:
        if self.pg:
            return func.translate(v, _UPPER, _LOWER)
        return func.lower(v)

    def semver(self, v: ColumnElement[Any]) -> ColumnElement[Any]:
        key = func.tidings_semver_key(v, type_=sa.Text)
        return key.collate("C") if self.pg else key

    def regex(self, v: ColumnElement[Any], pattern: str, ci: bool) -> Cond:
        if self.pg:
            return v.op("~*" if ci else "~", is_comparison=True)(pattern)
        return func.tidings_regexp(pattern, int(ci), v, type_=sa.Integer) == 1

    # -- behaviour ------------------------------------------------------------------
    def event(self, node: Event) -> Cond:
        """Behaviour over the aggregates.

        Where a user with no occurrences cannot match (at least N, a streak), the users
        who do are selected by one range scan of the (name, day) index, grouped; where
        zero matches (at most N, not within D days), each candidate is looked up by its
        primary key instead.
        """
        name, op, value = node.event, node.op, node.value
        if op in ("streak", "not_within"):
            since, today = day_window(self.now, int(value))
            active = sa.select(daily.c.user_id).where(
                daily.c.name == name, daily.c.day.between(since, today), daily.c.count > 0
            )
            if op == "not_within":
                return not_(self.member_of(active))
            every_day = active.group_by(daily.c.user_id).having(func.count() == int(value))
            return self.member_of(every_day)
        if op.startswith(("first_", "last_")):
            column = stats.c.first_at if op.startswith("first_") else stats.c.last_at
            limit = days_ago(self.now, float(value))
            test = column < limit if "more_than" in op else column > limit
            return exists(
                sa.select(1).where(stats.c.user_id == users.c.id, stats.c.name == name, test)
            )
        if node.within_days is None:
            total: ColumnElement[Any] = func.coalesce(
                sa.select(stats.c.count)
                .where(stats.c.user_id == users.c.id, stats.c.name == name)
                .scalar_subquery(),
                0,
            )
            return self.counted(total, op, value)
        since, today = day_window(self.now, node.within_days)
        recent = and_(daily.c.name == name, daily.c.day.between(since, today))
        if not count_test(op, value)(0):
            doers = (
                sa.select(daily.c.user_id)
                .where(recent)
                .group_by(daily.c.user_id)
                .having(self.counted(func.sum(daily.c.count), op, value))
            )
            return self.member_of(doers)
        count = (
            sa.select(func.coalesce(func.sum(daily.c.count), 0))
            .where(daily.c.user_id == users.c.id, recent)
            .scalar_subquery()
        )
        return self.counted(count, op, value)

    def member_of(self, ids: Select[tuple[int]]) -> Cond:
        """`users.id` is one of the (never NULL) ids the uncorrelated query returns.

        PostgreSQL gets `= ANY(array)`: the array is computed once (an InitPlan) and users
        are fetched by primary key, whatever the planner guesses about the other
        conditions (a low guess otherwise picks a nested loop over the aggregate).
        """
        if not self.pg:
            return users.c.id.in_(ids)
        inner = ids.subquery()
        # coalesce: an expression, not a bare subquery (`= ANY (SELECT ...)` would be IN),
        # and an empty array rather than NULL when nobody matches.
        array = func.coalesce(
            sa.select(func.array_agg(inner.c.user_id)).scalar_subquery(),
            sa.literal_column("'{}'::integer[]"),
        )
        return users.c.id == sa.any_(array)

    def counted(self, count: ColumnElement[Any], op: str, value: Any) -> Cond:
        return count != value if op == "ne" else self.positive(count, op, value)

    # -- devices, consent, geo, percentage -------------------------------------------
    def device(self, node: Device) -> Cond:
        d = devices.alias("d")
        tests = [
            self.compare(
                d.c[f.field],
                "boolean" if f.field == "push_active" else "string",
                f.op,
                f.value,
                f.case_insensitive,
                as_text=False,
            )
            for f in node.where
        ]
        mine = d.c.user_id == users.c.id
        if node.device == "any":
            return exists(sa.select(1).where(mine, *tests))
        return and_(
            exists(sa.select(1).where(mine)),
            not_(exists(sa.select(1).where(mine, not_(and_(*tests))))),
        )

    def consent(self, channel: str) -> Cond:
        if self.pg:
            doc = sa.type_coerce(users.c.consent, JSONB)
            return func.coalesce(
                doc.op("@>", is_comparison=True)(sa.cast(literal(f'{{"{channel}": true}}'), JSONB)),
                false(),
            )
        return func.coalesce(func.json_type(users.c.consent, f'$."{channel}"'), "") == "true"

    def near(self, node: Near) -> Cond:
        lat0, lon0 = node.near
        lat, lon = users.c.latitude, users.c.longitude
        known = and_(lat.is_not(None), lon.is_not(None))
        if not self.pg:
            return and_(
                known,
                func.tidings_distance_km(lat, lon, lat0, lon0, type_=sa.Float) <= node.radius_km,
            )
        # The formula of geo.distance_km, term for term, so both sides round alike.
        a = func.power(func.sin(func.radians(lat0 - lat) / 2), 2) + func.cos(
            func.radians(lat)
        ) * func.cos(func.radians(literal(lat0, sa.Float))) * func.power(
            func.sin(func.radians(lon0 - lon) / 2), 2
        )
        km = 2 * EARTH_RADIUS_KM * func.asin(func.least(1.0, func.sqrt(a)))
        return and_(known, km <= node.radius_km)

    def percentage(self, node: Percentage) -> Cond:
        # bucketing.mix in SQL, operation for operation.
        limit = bucketing.threshold(node.percentage)

        def const(n: int) -> ColumnElement[Any]:
            return sa.literal_column(str(int(n)), sa.BigInteger)  # our own integers only

        mask, sixteen = const(bucketing.MASK), const(16)
        h = self.xor(const(bucketing.seed_hash(node.seed)), users.c.id).op("&")(mask)
        for _ in range(2):
            h = (self.xor(h, h.op(">>")(sixteen)) * const(bucketing.MIX)).op("&")(mask)
        word = self.xor(h, h.op(">>")(sixteen))
        return (word % const(bucketing.BUCKETS)) < limit

    def xor(self, a: ColumnElement[Any], b: ColumnElement[Any]) -> ColumnElement[Any]:
        if self.pg:
            return a.op("#")(b)
        return a.op("|")(b) - a.op("&")(b)  # SQLite has no XOR operator


def cost(rule: Rule) -> int:
    """A rough evaluation cost, to test cheap conditions first."""
    if isinstance(rule, And | Or):
        return sum(cost(c) for c in rule.children) + 1
    if isinstance(rule, Not):
        return cost(rule.child)
    if isinstance(rule, Segment):
        return cost(rule.rule) if rule.rule is not None else 1
    if isinstance(rule, Attribute):
        if rule.attribute.startswith("$"):
            return 1
        return 4 if rule.type == "list" else 2
    if isinstance(rule, Consent):
        return 2
    if isinstance(rule, Percentage | Near):
        return 3
    return 10  # event and device conditions are subqueries
