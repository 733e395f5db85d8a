"""The SQL compiler against the Python compiler, on SQLite and PostgreSQL.

Each backend gets its own fresh, migrated database for this module, so profiles can be
written with the ids the spec and the generators give them (percentage buckets hash the
user id). Three checks: every spec case through SQL; a Hypothesis agreement property
(random rules x random profiles: closure membership == query membership); and the
profile loader returning exactly the profile that was written.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import PG_ADMIN_URL, Backend

from tidings import migrate
from tidings.db import Database, table_of
from tidings.devices.models import Device
from tidings.profiles.loader import load_profile
from tidings.profiles.models import EventDailyCount, UserEventStat
from tidings.profiles.snapshot import EventStat, Profile
from tidings.targeting import check_rule, compile_rule, parse_rule
from tidings.targeting.rules import EVENT_OPS
from tidings.targeting.semver import semver_key
from tidings.targeting.sql import audience
from tidings.targeting.sqlite_functions import install_functions
from tidings.targeting.validate import OPS_BY_TYPE, TEXT_OPS
from tidings.targeting.windows import datetime_text
from tidings.tenancy.models import App, Workspace
from tidings.users.models import User

SPEC = Path(__file__).resolve().parents[2] / "spec" / "targeting" / "cases.json"
NOW = datetime(2026, 3, 8, 12, 0, tzinfo=UTC)
EPOCH = datetime(2020, 1, 1, tzinfo=UTC)

users, daily, stats, devices = (
    table_of(User),
    table_of(EventDailyCount),
    table_of(UserEventStat),
    table_of(Device),
)


@dataclass
class TargetingDb:
    dialect: str
    engine: sa.Engine
    async_url: str
    app_id: int


@pytest.fixture(scope="module")
def tdb(backend: Backend) -> Iterator[TargetingDb]:
    """A fresh migrated database on this backend, with one app."""
    name = f"targeting_{uuid.uuid4().hex[:8]}"
    if backend.name == "sqlite":
        path = backend.tmp / f"{name}.db"
        async_url, sync_url = f"sqlite+aiosqlite:///{path}", f"sqlite:///{path}"
    else:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        base = PG_ADMIN_URL.rsplit("/", 1)[0].split("://", 1)[1]
        async_url = f"postgresql+asyncpg://{base}/{name}"
        sync_url = f"postgresql+psycopg://{base}/{name}"
    migrate.upgrade(async_url)
    engine = sa.create_engine(sync_url)
    if backend.name == "sqlite":
        sa.event.listen(engine, "connect", lambda dbapi, _: install_functions(dbapi))
    with engine.begin() as conn:
        ws = conn.execute(
            sa.insert(table_of(Workspace)).values(name="t", created_at=NOW)
        ).inserted_primary_key
        assert ws is not None
        app = conn.execute(
            sa.insert(table_of(App)).values(
                workspace_id=ws[0],
                name="t",
                write_key=f"wk_{name}",
                identity_secret_sealed="x",
                identity_verification=False,
                settings={},
                created_at=NOW,
            )
        ).inserted_primary_key
        assert app is not None
    try:
        yield TargetingDb(backend.name, engine, async_url, app[0])
    finally:
        engine.dispose()
        if backend.name == "postgresql":
            import psycopg

            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def write_profiles(db: TargetingDb, profiles: list[Profile]) -> None:
    """Replace every user of the app with these profiles (ids kept)."""
    with db.engine.begin() as conn:
        for table in (daily, stats, devices):
            conn.execute(sa.delete(table))
        conn.execute(sa.delete(users))
        if not profiles:
            return
        conn.execute(
            sa.insert(users),
            [
                {
                    "id": p.id,
                    "app_id": db.app_id,
                    "external_id": p.external_id,
                    "attributes": dict(p.attributes),
                    "consent": dict(p.consent),
                    "country": p.country,
                    "region": p.region,
                    "city": p.city,
                    "latitude": p.latitude,
                    "longitude": p.longitude,
                    "locale": p.locale,
                    "timezone": p.timezone,
                    "first_seen_at": p.first_seen_at,
                    "last_seen_at": p.last_seen_at,
                    "session_count": p.session_count,
                    "last_values": dict(p.last_values),
                    "created_at": p.created_at or EPOCH,
                    "updated_at": NOW,
                }
                for p in profiles
            ],
        )
        rows = [
            {"user_id": p.id, "name": n, "day": d, "count": c}
            for p in profiles
            for n, days in p.daily.items()
            for d, c in days.items()
        ]
        if rows:
            conn.execute(sa.insert(daily), rows)
        rows = [
            {
                "user_id": p.id,
                "name": n,
                "first_at": s.first_at,
                "last_at": s.last_at,
                "count": s.count,
            }
            for p in profiles
            for n, s in p.stats.items()
        ]
        if rows:
            conn.execute(sa.insert(stats), rows)
        rows = [
            {
                "app_id": db.app_id,
                "user_id": p.id,
                "device_id": f"d{p.id}-{i}",
                **{k: getattr(d, k) for k in d.__slots__},
                "created_at": NOW,
                "last_seen_at": NOW,
            }
            for p in profiles
            for i, d in enumerate(p.devices)
        ]
        if rows:
            conn.execute(sa.insert(devices), rows)


def sql_members(db: TargetingDb, checked: Any, now: datetime) -> set[int]:
    query = audience(checked, app_id=db.app_id, dialect=db.dialect, now=now)
    with db.engine.connect() as conn:
        return set(conn.execute(query).scalars())


# -- the spec file through SQL ---------------------------------------------------------

CASES = [c for c in json.loads(SPEC.read_text()) if isinstance(c[4], bool)]


def test_spec_cases_through_sql(tdb: TargetingDb) -> None:
    failures = []
    for name, rule, profile, now_text, expected in CASES:
        now = datetime.fromisoformat(now_text.replace("Z", "+00:00")).astimezone(UTC)
        user = Profile.from_json(profile)
        write_profiles(tdb, [user])
        got = user.id in sql_members(tdb, check_rule(parse_rule(rule), {}), now)
        if got is not expected:
            failures.append(name)
    assert failures == []


# -- generated profiles ------------------------------------------------------------------

DECLARED = {
    "plan": "string",
    "age": "number",
    "beta": "boolean",
    "signup": "datetime",
    "tags": "list",
    "app_version": "string",
}
TEXTS = ["pro", "Pro", "PRO", "team", "free", "", "é", "É", "pro team", "a\nb", "ana@acme.io"]
VERSIONS = ["14", "14.0.1", "13.9.9", "14.0.0-beta.2", "1.0.0-alpha", "1.0.0-alpha.1", "v2"]
PATTERNS = ["^pro", "o$", "a.b", "[A-Z]", "^(pro|team)$", "\\d", "p.o", "^$"]
EVENTS = ["purchase", "app_open"]
TEHRAN = (35.6892, 51.3890)

moments = st.integers(-60 * 24 * 45, 60 * 24 * 3).map(lambda m: NOW + timedelta(minutes=m))
texts = st.sampled_from(TEXTS)
numbers = st.one_of(st.integers(-3, 40), st.sampled_from([0.5, 17.9, 18.0, 2.25]))

ATTRIBUTE_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "plan": st.one_of(texts, st.integers(0, 3)),
    "age": st.one_of(numbers, st.just("20"), st.just(True)),
    "beta": st.one_of(st.booleans(), st.just(1)),
    "signup": st.one_of(moments.map(datetime_text), st.just(5)),
    "tags": st.one_of(st.lists(texts, max_size=3), st.just("vip")),
    "app_version": st.one_of(
        st.sampled_from([*VERSIONS, "latest", "1.2.3.4", "10.0"]), st.just(14)
    ),
}


@st.composite
def profiles(draw: st.DrawFn) -> Profile:
    attributes = {
        name: draw(values) for name, values in ATTRIBUTE_VALUES.items() if draw(st.booleans())
    }
    located = draw(st.booleans())
    day_counts = {
        event: {
            NOW.date() - timedelta(days=offset): count
            for offset, count in draw(
                st.dictionaries(st.integers(-1, 45), st.integers(1, 3), max_size=8)
            ).items()
        }
        for event in EVENTS
        if draw(st.booleans())
    }
    totals = {}
    for event in EVENTS:
        if draw(st.booleans()):
            a, b = sorted([draw(moments), draw(moments)])
            totals[event] = EventStat(a, b, draw(st.integers(1, 50)))
    device_list = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "platform": st.sampled_from(["ios", "android", "web"]),
                    "os_version": st.one_of(st.none(), st.sampled_from(VERSIONS)),
                    "app_version": st.one_of(st.none(), st.sampled_from(VERSIONS)),
                    "model": st.one_of(st.none(), st.sampled_from(["Pixel 8", "iPhone15,2"])),
                    "push_active": st.booleans(),
                }
            ),
            max_size=3,
        )
    )
    data = {
        "id": 0,
        "external_id": draw(st.one_of(st.none(), st.just("ext"))),
        "attributes": attributes,
        "consent": draw(st.dictionaries(st.sampled_from(["push", "email"]), st.booleans())),
        "country": draw(st.sampled_from(["IR", "DE", "US", None])),
        "city": draw(st.sampled_from(["Tehran", "tehran", "Berlin", None])),
        "region": draw(st.sampled_from(["Tehran", None])),
        "locale": draw(st.sampled_from(["fa-IR", "en-US", None])),
        "timezone": draw(st.sampled_from(["Asia/Tehran", None])),
        "latitude": TEHRAN[0] + draw(st.floats(-1, 1)) if located else None,
        "longitude": TEHRAN[1] + draw(st.floats(-1, 1)) if located else None,
        "session_count": draw(st.integers(0, 10)),
        "created_at": draw(moments),
        "first_seen_at": draw(st.one_of(st.none(), moments)),
        "last_seen_at": draw(st.one_of(st.none(), moments)),
        "devices": device_list,
    }
    return replace(Profile.from_json(data), daily=day_counts, stats=totals)


def _scalar(type_: str) -> st.SearchStrategy[Any]:
    if type_ == "number":
        return numbers
    if type_ == "boolean":
        return st.booleans()
    if type_ == "datetime":
        return moments.map(datetime_text)
    return texts


@st.composite
def comparison(draw: st.DrawFn, type_: str, *, semver_ok: bool = True) -> dict[str, Any]:
    ops = sorted(OPS_BY_TYPE[type_])
    if not semver_ok:
        ops = [o for o in ops if not o.startswith("semver_")]
    op = draw(st.sampled_from(ops))
    scalar = _scalar("string" if type_ == "list" else type_)
    node: dict[str, Any] = {"op": op}
    if op == "exists":
        flag = draw(st.sampled_from([None, True, False]))
        if flag is not None:
            node["value"] = flag
    elif op in ("in", "not_in"):
        node["value"] = draw(st.lists(scalar, min_size=1, max_size=3))
    elif op == "between":
        node["value"] = sorted([draw(scalar), draw(scalar)])
    elif op in ("more_than_days_ago", "less_than_days_ago"):
        node["value"] = draw(st.sampled_from([0, 0.5, 1, 7, 30, 44]))
    elif op == "regex":
        node["value"] = draw(st.sampled_from(PATTERNS))
    elif op.startswith("semver_"):
        node["value"] = draw(st.sampled_from(VERSIONS))
    elif op in ("contains", "starts_with"):
        node["value"] = draw(st.sampled_from([*TEXTS, "pr", "@", "É"]))
    else:
        node["value"] = draw(scalar)
    if op in TEXT_OPS and type_ in ("string", "list") and draw(st.booleans()):
        node["case_insensitive"] = True
    return node


@st.composite
def attribute_leaf(draw: st.DrawFn) -> dict[str, Any]:
    name = draw(st.sampled_from(sorted(DECLARED)))
    return {"attribute": name, **draw(comparison(DECLARED[name]))}


@st.composite
def builtin_leaf(draw: st.DrawFn) -> dict[str, Any]:
    name, type_ = draw(
        st.sampled_from(
            [
                ("$country", "string"),
                ("$city", "string"),
                ("$external_id", "string"),
                ("$session_count", "number"),
                ("$created_at", "datetime"),
                ("$last_seen_at", "datetime"),
            ]
        )
    )
    return {"attribute": name, **draw(comparison(type_, semver_ok=False))}


@st.composite
def event_leaf(draw: st.DrawFn) -> dict[str, Any]:
    op = draw(st.sampled_from(EVENT_OPS))
    node: dict[str, Any] = {"event": draw(st.sampled_from(EVENTS)), "op": op}
    if op in ("streak", "not_within"):
        node["value"] = draw(st.integers(1, 10))
    elif op.startswith(("first_", "last_")):
        node["value"] = draw(st.sampled_from([0, 1, 7.5, 30]))
    else:
        node["value"] = (
            sorted([draw(st.integers(0, 6)), draw(st.integers(0, 6))])
            if op == "between"
            else draw(st.integers(0, 6))
        )
        if draw(st.booleans()):
            node["within_days"] = draw(st.integers(1, 46))
    return node


@st.composite
def device_leaf(draw: st.DrawFn) -> dict[str, Any]:
    fields = draw(
        st.lists(
            st.sampled_from(["platform", "os_version", "model", "push_active"]),
            min_size=1,
            max_size=2,
            unique=True,
        )
    )
    where = [
        {"field": f, **draw(comparison("boolean" if f == "push_active" else "string"))}
        for f in fields
    ]
    return {"device": draw(st.sampled_from(["any", "all"])), "where": where}


leaves = st.one_of(
    attribute_leaf(),
    builtin_leaf(),
    event_leaf(),
    device_leaf(),
    st.builds(lambda c: {"consent": c}, st.sampled_from(["push", "email"])),
    st.builds(
        lambda r, dlat: {"near": [TEHRAN[0] + dlat, TEHRAN[1]], "radius_km": r},
        st.sampled_from([10, 50, 120]),
        st.floats(-0.5, 0.5),
    ),
    st.builds(
        lambda p, s: {"percentage": p, "seed": s},
        st.sampled_from([0, 12.5, 50, 99.99, 100]),
        st.sampled_from(["a", "rollout-2"]),
    ),
)
rules = st.recursive(
    leaves,
    lambda kids: st.one_of(
        st.lists(kids, max_size=3).map(lambda c: {"and": c}),
        st.lists(kids, max_size=3).map(lambda c: {"or": c}),
        kids.map(lambda c: {"not": c}),
    ),
    max_leaves=6,
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    people=st.lists(profiles(), min_size=1, max_size=8),
    drawn=st.lists(rules, min_size=1, max_size=4),
)
def test_python_and_sql_agree(tdb: TargetingDb, people: list[Profile], drawn: list[Any]) -> None:
    people = numbered(people)
    write_profiles(tdb, people)
    for raw in (node for rule in drawn for node in subtrees(rule)):
        checked = check_rule(parse_rule(raw), DECLARED)
        closure = compile_rule(checked)
        python = {p.id for p in people if closure(p, NOW)}
        assert sql_members(tdb, checked, NOW) == python, json.dumps(raw)


def subtrees(raw: Any) -> Iterator[Any]:
    """The rule and every node under it (each is a rule too: more checks per example)."""
    yield raw
    for key in ("and", "or"):
        for c in raw.get(key, ()):
            yield from subtrees(c)
    if "not" in raw:
        yield from subtrees(raw["not"])


def numbered(people: list[Profile]) -> list[Profile]:
    """Ids 1..n, and external ids unique per app as the schema demands."""
    return [
        replace(p, id=i + 1, external_id=None if p.external_id is None else f"u{i + 1}")
        for i, p in enumerate(people)
    ]


def _comparable(p: Profile) -> Profile:
    window_start: date = NOW.date() - timedelta(days=120)
    return replace(
        p,
        devices=tuple(sorted(p.devices, key=repr)),
        daily={
            n: {d: c for d, c in days.items() if d >= window_start} for n, days in p.daily.items()
        },
        created_at=p.created_at or EPOCH,
    )


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(people=st.lists(profiles(), min_size=1, max_size=3))
def test_loader_returns_the_written_profile(tdb: TargetingDb, people: list[Profile]) -> None:
    people = numbered(people)
    write_profiles(tdb, people)

    async def load_all() -> list[Profile | None]:
        db = Database(tdb.async_url)
        try:
            async with db.read() as s:
                return [await load_profile(s, tdb.app_id, p.id, now=NOW) for p in people]
        finally:
            await db.dispose()

    loaded = asyncio.run(load_all())
    for want, got in zip(people, loaded, strict=True):
        assert got is not None
        got = replace(got, daily={n: d for n, d in got.daily.items() if d})
        want_daily = {n: d for n, d in _comparable(want).daily.items() if d}
        assert _comparable(got) == replace(_comparable(want), daily=want_daily)


@settings(max_examples=40, deadline=None)
@given(texts=st.lists(st.text(alphabet="0123456789.-+vVab", max_size=14), min_size=1, max_size=30))
def test_semver_key_in_sql_is_the_python_key(tdb: TargetingDb, texts: list[str]) -> None:
    """PostgreSQL's tidings_semver_key (migration 0002) against semver.semver_key."""
    with tdb.engine.connect() as conn:
        got = [
            conn.execute(sa.select(sa.func.tidings_semver_key(sa.literal(t, sa.Text)))).scalar()
            for t in texts
        ]
    assert got == [semver_key(t) for t in texts]
