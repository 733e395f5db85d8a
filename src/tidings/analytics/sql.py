"""The campaign report's SQL (SQLAlchemy Core), the same meaning on SQLite and PostgreSQL.

Everything is aggregated in the database; Python only assembles the small results.

* Exposure: a delivery row's `displayed_at` (in-app impression; push sets it at send), or
  for a logged holdout row (`reason = 'control'`) its `created_at`.
* The analysis unit is the user, in the arm of their first exposure (`firsts`).
* A conversion is a goal event by that user in [exposure, exposure + window) whose credit
  is not taken by another campaign's exposure (first or last touch, see `_credited`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import ColumnElement, Select, and_, func, literal_column, not_
from sqlalchemy.dialects.postgresql import JSONB

from tidings.analytics.models import CampaignArm, CampaignUser
from tidings.db import table_of
from tidings.deliveries.models import Delivery
from tidings.devices.models import Device
from tidings.events.models import Event
from tidings.targeting.sql import _Compiler
from tidings.users.models import User

deliveries = table_of(Delivery)
campaign_users = table_of(CampaignUser)
campaign_arms = table_of(CampaignArm)
events = table_of(Event)
users = table_of(User)
devices = table_of(Device)


@dataclass(frozen=True, slots=True)
class GoalSpec:
    """A campaign's goal as the SQL needs it (from `campaigns.schemas.Goal`)."""

    event: str
    where: tuple[tuple[str, str, Any], ...] = ()
    within_days: int = 7
    attribution: str = "last_touch"
    revenue_property: str | None = None


class Sql:
    """Statements for one dialect (`sqlite` or `postgresql`)."""

    def __init__(self, dialect: str, now: datetime) -> None:
        self.pg = dialect == "postgresql"
        self.compiler = _Compiler(dialect, now)

    # -- building blocks --------------------------------------------------------------
    def plus_days(self, moment: ColumnElement[Any], days: int) -> ColumnElement[Any]:
        """`moment + days`, comparable with stored datetimes (SQLite: same text shape)."""
        if self.pg:
            return moment + literal_column(f"interval '{int(days)} days'")
        # datetime() is strftime('%Y-%m-%d %H:%M:%S', ...) without parsing a format:
        # measured twice as fast, and this runs once per candidate event in the report.
        shifted = func.datetime(moment, f"{int(days):+d} days")
        return shifted.op("||")(func.substr(moment, 20))

    def bucket(self, moment: ColumnElement[Any], by: str) -> ColumnElement[str]:
        """The hour ('YYYY-MM-DD HH') or day ('YYYY-MM-DD') of a stored datetime."""
        if self.pg:
            return func.to_char(moment, "YYYY-MM-DD HH24" if by == "hour" else "YYYY-MM-DD")
        return func.substr(moment, 1, 13 if by == "hour" else 10)

    def revenue(self, prop: str | None) -> ColumnElement[Any]:
        if prop is None:
            return sa.literal(0.0)
        value, guard = self.compiler.json_value(events.c.properties, prop, "number")
        return value if guard is None else sa.case((guard, value))

    def goal_filter(self, goal: GoalSpec) -> ColumnElement[bool]:
        tests = []
        for prop, op, value in goal.where:
            type_ = _type_of(value)
            v, guard = self.compiler.json_value(events.c.properties, prop, type_)
            tests.append(
                self.compiler.compare(v, type_, op, value, False, as_text=True, guard=guard)
            )
        return and_(sa.true(), *tests)

    # -- statements -------------------------------------------------------------------
    def firsts(self, campaign_id: int, within_days: int | None = None) -> Any:
        """(user_id, variant, exposed_at, clicked[, exposed_until]) of each exposed user:
        the arm and moment of their first exposure, how many of their rows were clicked,
        and on PostgreSQL (given `within_days`) when their attribution window closes.

        Read from the `campaign_users` rollup (analytics/rollup.py), which the delivery
        triggers keep equal to grouping the campaign's delivery rows by user: one narrow
        row per user in key order instead of a grouped pass over every delivery row.
        """
        r = campaign_users.c
        columns: list[Any] = [r.user_id, r.variant, r.exposed_at, r.clicked]
        if within_days is not None and self.pg:
            until = self.plus_days(r.exposed_at, within_days)
            columns.append(until.label("exposed_until"))
        return (
            sa.select(*columns)
            .where(r.campaign_id == campaign_id, r.exposed_at.is_not(None))
            .cte("firsts")
            # Inlined: the rollup's rows are read in key order, not copied first.
            .prefix_with("NOT MATERIALIZED")
        )

    def _before_window_end(self, firsts: Any, within_days: int) -> ColumnElement[bool]:
        """`event < exposure + within_days`. SQLite: tested as `event - within_days <
        exposure` on the events past the exposure only (fewer date computations than one
        per exposed user: ~0.08 s of the report on 1M rows, bench/analytics.py)."""
        if self.pg:
            return sa.and_(events.c.timestamp < firsts.c.exposed_until)
        return sa.and_(self.plus_days(events.c.timestamp, -within_days) < firsts.c.exposed_at)

    def _credited(self, firsts: Any, campaign_id: int, goal: GoalSpec) -> ColumnElement[bool]:
        """No other campaign's exposure takes this event's credit: last touch, none after
        ours and before the event; first touch, none before ours still within its window."""
        other = deliveries.alias("other")
        at = other.c.displayed_at
        if goal.attribution == "first_touch":
            beats = and_(
                at < firsts.c.exposed_at, self.plus_days(at, goal.within_days) > events.c.timestamp
            )
        else:
            beats = and_(at > firsts.c.exposed_at, at <= events.c.timestamp)
        return not_(
            sa.exists(
                sa.select(1).where(
                    other.c.user_id == firsts.c.user_id,
                    other.c.campaign_id != campaign_id,
                    at.is_not(None),
                    beats,
                )
            )
        )

    def conversions(self, firsts: Any, app_id: int, campaign_id: int, goal: GoalSpec) -> Any:
        """Per converted user: their arm and clicks (carried from `firsts`), first
        conversion time, conversions and revenue."""
        return (
            sa.select(
                firsts.c.user_id,
                firsts.c.variant,
                firsts.c.clicked,
                func.min(events.c.timestamp).label("converted_at"),
                func.count().label("conversions"),
                func.coalesce(func.sum(self.revenue(goal.revenue_property)), 0.0).label("revenue"),
            )
            .select_from(firsts)
            .join(
                events,
                and_(
                    events.c.user_id == firsts.c.user_id,
                    events.c.timestamp >= firsts.c.exposed_at,
                    self._before_window_end(firsts, goal.within_days),
                ),
            )
            .where(
                events.c.app_id == app_id,
                events.c.name == goal.event,
                self.goal_filter(goal),
                self._credited(firsts, campaign_id, goal),
            )
            # User first: the rollup's key order, so SQLite groups without sorting.
            .group_by(firsts.c.user_id, firsts.c.variant, firsts.c.clicked)
            .cte("conv")
        )

    COUNTS = (
        "targeted", "exposed", "displayed", "clicked_any", "clicked",
        "dismissed", "completed", "sent", "delivered", "opens",
    )  # fmt: skip

    def _funnel_from_arms(self, campaign_id: int) -> Select[Any]:
        """SQLite: the per-arm totals its triggers keep (a few rows per arm to sum)."""
        a = campaign_arms.c
        return (
            sa.select(a.variant, *(func.sum(a[name]).label(name) for name in self.COUNTS))
            .where(a.campaign_id == campaign_id)
            .group_by(a.variant)
            .having(func.sum(a.targeted) > 0)
        )

    def _funnel(self, campaign_id: int) -> Select[Any]:
        """PostgreSQL: the same totals summed from the one-row-per-user rollup
        (analytics.models.CampaignArm says why it keeps no per-arm totals)."""
        r = campaign_users.c
        exposed = r.exposed_at.is_not(None)

        def users_with(test: ColumnElement[bool]) -> ColumnElement[Any]:
            return func.sum(sa.case((test, 1), else_=0))

        return (
            sa.select(
                r.variant,
                func.count().label("targeted"),
                users_with(exposed).label("exposed"),
                users_with(r.displayed > 0).label("displayed"),
                users_with(r.clicked > 0).label("clicked_any"),
                users_with(sa.and_(exposed, r.clicked > 0)).label("clicked"),
                users_with(r.dismissed > 0).label("dismissed"),
                users_with(r.completed > 0).label("completed"),
                func.sum(r.sent).label("sent"),
                func.sum(r.delivered).label("delivered"),
                func.sum(r.opens).label("opens"),
            )
            .where(r.campaign_id == campaign_id, r.rows > 0)
            .group_by(r.variant)
        )

    def arms(self, app_id: int, campaign_id: int, goal: GoalSpec | None) -> Select[Any]:
        """Per arm (users counted in the arm of their first exposure): targeted, exposed,
        displayed, clicked (all and exposed), dismissed, completed users; push rows sent,
        delivered and opened; with a goal, converted users, conversions, revenue and
        clicked-and-converted users. One statement, reading the rollups."""
        funnel = self._funnel(campaign_id) if self.pg else self._funnel_from_arms(campaign_id)
        if goal is None:
            return funnel
        f = funnel.subquery("funnel")
        firsts = self.firsts(campaign_id, goal.within_days)
        conv = self.conversions(firsts, app_id, campaign_id, goal)
        g = (
            sa.select(
                conv.c.variant,
                func.count().label("converted"),
                func.sum(conv.c.conversions).label("conversions"),
                func.coalesce(func.sum(conv.c.revenue), 0.0).label("revenue"),
                func.sum(sa.case((conv.c.clicked > 0, 1), else_=0)).label("clicked_converted"),
            )
            .group_by(conv.c.variant)
            .subquery("goal")
        )
        return sa.select(
            f,
            func.coalesce(g.c.converted, 0).label("converted"),
            func.coalesce(g.c.conversions, 0).label("conversions"),
            func.coalesce(g.c.revenue, 0.0).label("revenue"),
            func.coalesce(g.c.clicked_converted, 0).label("clicked_converted"),
        ).select_from(f.outerjoin(g, g.c.variant == f.c.variant))

    def outcomes(self, campaign_id: int) -> Select[Any]:
        """Rows per (variant, status, reason) for suppressed and failed rows."""
        d = deliveries.c
        return (
            sa.select(d.variant, d.status, d.reason, func.count().label("n"))
            # Literal values, not parameters: SQLite uses the partial index
            # `ix_deliveries_outcomes` only when it can prove the query implies its WHERE.
            .where(d.campaign_id == campaign_id, d.status.in_(_literals("suppressed", "failed")))
            .group_by(d.variant, d.status, d.reason)
        )

    def buttons(self, campaign_id: int) -> Select[Any]:
        """Clicks per (variant, button id) from the rows' `data.clicks` lists."""
        d = deliveries.c
        if self.pg:
            doc = sa.type_coerce(d.data, JSONB)
            clicks = doc.op("->", return_type=JSONB)(sa.literal("clicks", sa.Text))
            each = (
                func.jsonb_array_elements_text(
                    sa.case(
                        (func.jsonb_typeof(clicks) == "array", clicks),
                        else_=sa.cast(sa.literal("[]"), JSONB),
                    )
                )
                .table_valued("value")
                .render_derived()
            )
        else:
            each = func.json_each(d.data, "$.clicks").table_valued("value")
        return (
            sa.select(d.variant, each.c.value.label("button"), func.count().label("n"))
            .select_from(deliveries.join(each, sa.true()))
            .where(d.campaign_id == campaign_id, d.clicked_at.is_not(None))
            .group_by(d.variant, each.c.value)
        )

    def series(
        self, app_id: int, campaign_id: int, goal: GoalSpec | None, by: str
    ) -> list[Select[Any]]:
        """(variant, bucket, n) of first exposures, first clicks and first conversions."""
        firsts = self.firsts(campaign_id, goal.within_days if goal else None)

        def per_bucket(at: ColumnElement[Any], source: Any) -> Select[Any]:
            """Users of each variant per bucket of `at` (one moment per user in `source`)."""
            return (
                sa.select(
                    firsts.c.variant, self.bucket(at, by).label("bucket"), func.count().label("n")
                )
                .select_from(source)
                .group_by(firsts.c.variant, sa.literal_column("bucket"))
            )

        click_at = (
            sa.select(deliveries.c.user_id, func.min(deliveries.c.clicked_at).label("at"))
            .where(deliveries.c.campaign_id == campaign_id, deliveries.c.clicked_at.is_not(None))
            .group_by(deliveries.c.user_id)
            .subquery()
        )
        out = [
            per_bucket(firsts.c.exposed_at, firsts),
            per_bucket(
                click_at.c.at, firsts.join(click_at, click_at.c.user_id == firsts.c.user_id)
            ),
        ]
        if goal is not None:
            conv = self.conversions(firsts, app_id, campaign_id, goal)
            out.append(
                per_bucket(
                    conv.c.converted_at, firsts.join(conv, conv.c.user_id == firsts.c.user_id)
                )
            )
        return out

    def breakdown(
        self, app_id: int, campaign_id: int, goal: GoalSpec | None, dimension: str
    ) -> Select[Any]:
        """(value, variant, exposed, clicked, converted) by platform, locale or country."""
        firsts = self.firsts(campaign_id, goal.within_days if goal else None)
        if dimension == "platform":
            value: ColumnElement[Any] = (
                sa.select(func.min(devices.c.platform))
                .where(devices.c.user_id == firsts.c.user_id)
                .scalar_subquery()
            )
        else:
            value = users.c[dimension]
        query = sa.select(
            value.label("value"),
            firsts.c.variant,
            func.count().label("exposed"),
            func.sum(sa.case((firsts.c.clicked > 0, 1), else_=0)).label("clicked"),
        ).select_from(firsts.join(users, users.c.id == firsts.c.user_id))
        if goal is not None:
            conv = self.conversions(firsts, app_id, campaign_id, goal)
            query = query.outerjoin(conv, conv.c.user_id == firsts.c.user_id).add_columns(
                func.count(conv.c.user_id).label("converted")
            )
        else:
            query = query.add_columns(sa.literal(0).label("converted"))
        return query.group_by(sa.literal_column("value"), firsts.c.variant)

    def influenced_opens(self, app_id: int, campaign_id: int, hours: int) -> Select[Any]:
        """(variant, users) sent a push who opened the app (`$session_start`) within
        `hours` of the send without opening the push itself."""
        d = deliveries.c
        if self.pg:
            until: ColumnElement[Any] = d.displayed_at + literal_column(
                f"interval '{int(hours)} hours'"
            )
        else:
            until = func.datetime(d.displayed_at, f"+{int(hours)} hours").op("||")(
                func.substr(d.displayed_at, 20)
            )
        session = sa.exists(
            sa.select(1).where(
                events.c.user_id == d.user_id,
                events.c.app_id == app_id,
                events.c.name == "$session_start",
                events.c.timestamp >= d.displayed_at,
                events.c.timestamp < until,
            )
        )
        return (
            sa.select(d.variant, func.count(sa.distinct(d.user_id)).label("n"))
            .where(
                d.campaign_id == campaign_id,
                d.channel != "in_app",
                d.displayed_at.is_not(None),
                d.clicked_at.is_(None),
                session,
            )
            .group_by(d.variant)
        )

    def answers(self, campaign_id: int) -> Select[Any]:
        d = deliveries.c
        return sa.select(d.variant, d.user_id, d.data, d.completed_at).where(
            d.campaign_id == campaign_id, d.completed_at.is_not(None)
        )


def _literals(*values: str) -> list[ColumnElement[Any]]:
    return [sa.literal_column("'" + v.replace("'", "''") + "'") for v in values]


def _type_of(value: Any) -> str:
    if isinstance(value, list):
        return _type_of(value[0]) if value else "string"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "string"
