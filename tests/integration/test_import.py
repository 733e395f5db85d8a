"""`tidings users import`: good rows stored, bad rows reported by line, exit code 1.

The command runs as a subprocess on its own SQLite file; the batch action it uses
(`users.bulk.import_rows`) also runs on the live server's database, SQLite and PostgreSQL,
including the replay of a batch one row at a time when a row fails while writing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import sqlalchemy as sa
from tests.conftest import Tenant
from tests.integration.cli_process import cli_env, tidings

from tidings.context import AppContext
from tidings.testing.live import LiveServer
from tidings.users import bulk, importer


@dataclass
class Importer:
    tmp: Path
    env: dict[str, str]
    engine: sa.Engine
    app_id: int

    def run(self, name: str, content: str, *args: str) -> tuple[int, str]:
        path = self.tmp / name
        path.write_text(content, encoding="utf-8")
        done = tidings(
            "users",
            "import",
            str(path),
            "--app",
            str(self.app_id),
            *args,
            env=self.env,
            cwd=self.tmp,
        )
        return done.returncode, done.stdout + done.stderr

    def users(self) -> dict[str, dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT external_id, attributes, locale, timezone, consent, country, city "
                    "FROM users ORDER BY id"
                )
            ).all()
        return {
            r.external_id: {
                "attributes": orjson.loads(r.attributes),
                "locale": r.locale,
                "timezone": r.timezone,
                "consent": orjson.loads(r.consent),
                "country": r.country,
                "city": r.city,
            }
            for r in rows
        }

    def declared(self) -> dict[str, str]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT name, type FROM attribute_definitions")).all()
        return {r.name: r.type for r in rows}


@pytest.fixture
def imp(tmp_path: Path) -> Iterator[Importer]:
    url = f"sqlite:///{tmp_path / 'import.db'}"
    env = cli_env(tmp_path, url)
    setup = [
        (
            "admin",
            "create",
            "--email",
            "ops@acme.test",
            "--workspace",
            "Acme",
            "--password",
            "correct horse battery",
        ),
        ("apps", "create", "Acme web", "--workspace", "1"),
    ]
    for args in setup:
        done = tidings(*args, env=env, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    engine = sa.create_engine(url)
    yield Importer(tmp_path, env, engine, 1)
    engine.dispose()


def reported(out: str) -> dict[int, str]:
    """Bad rows the command printed: line number -> the rest of the message."""
    return {int(m.group(1)): m.group(2) for m in re.finditer(r"^line (\d+): (.*)$", out, re.M)}


def test_csv_import_stores_good_rows_and_reports_bad_ones(imp: Importer) -> None:
    csv = (
        "external_id,plan,age,vip,signup,zip,locale,timezone,consent.push\n"
        "u1,pro,31,true,2025-01-02T10:00:00+01:00,01234,de-DE,Europe/Berlin,true\n"
        "u2,free,forty,false,,,,,\n"
        'u3,trial,,,,"98765",,,false\n'
        ",free,5,,,,,,\n"
        "u5,free,50,maybe,,,,,\n"
        "u6,free,51,,not a date but a string,,,Mars/Base,\n"
        "u7,free,52,,,,en-US,America/New_York,\n"
        "u1,pro,32,,,,,,\n"
    )
    code, out = imp.run("users.csv", csv)
    assert code == 1, out
    bad = reported(out)
    assert set(bad) == {3, 5, 6, 7}
    assert bad[3].startswith("attributes.age:")
    assert bad[5].startswith("external_id:")
    assert bad[6].startswith("attributes.vip:")
    assert bad[7].startswith("timezone:")
    assert "Mars/Base" in bad[7]
    assert "imported 4 rows: 3 created, 1 updated; 4 failed" in out

    users = imp.users()
    assert set(users) == {"u1", "u3", "u7"}
    assert users["u1"] == {
        "attributes": {
            "plan": "pro",
            "age": 32,  # the later row updated it
            "vip": True,
            "signup": "2025-01-02T09:00:00.000Z",
            "zip": "01234",
        },
        "locale": "de-DE",
        "timezone": "Europe/Berlin",
        "consent": {"push": True},
        "country": None,
        "city": None,
    }
    assert users["u3"]["attributes"] == {"plan": "trial", "zip": "98765"}
    assert users["u3"]["consent"] == {"push": False}
    assert users["u7"]["timezone"] == "America/New_York"
    assert imp.declared() == {
        "plan": "string",
        "age": "number",
        "vip": "boolean",
        "signup": "datetime",
        "zip": "string",
    }


def test_jsonl_import_with_anonymous_ids_and_bad_lines(imp: Importer) -> None:
    lines = [
        {
            "external_id": "j1",
            "attributes": {"plan": "pro", "tags": ["a", "b"]},
            "locale": "fa-IR",
            "timezone": "Asia/Tehran",
            "location": {"country": "ir", "city": "Tehran"},
        },
        {"anonymous_id": "anon-1", "attributes": {"plan": "free", "visits": 3}},
        {"external_id": "j2", "attributes": {"plan": 7}},
        {"external_id": "j3", "anonymous_id": "anon-1", "attributes": {"visits": 4}},
        {"external_id": "j4", "consent": {"carrier_pigeon": True}},
    ]
    text = "\n".join(orjson.dumps(line).decode() for line in lines)
    text = text.replace("\n", "\n\nnot json\n", 1) + "\n"
    code, out = imp.run("users.jsonl", text)
    assert code == 1, out
    bad = reported(out)
    assert set(bad) == {3, 5, 7}
    assert "not valid JSON" in bad[3]
    assert bad[5].startswith("attributes.plan:")
    assert bad[7].startswith("consent:")
    assert "imported 3 rows: 2 created, 1 updated; 3 failed" in out

    users = imp.users()
    # anon-1 became j3 when identified with both ids: one user, not two.
    assert set(users) == {"j1", "j3"}
    assert users["j1"]["attributes"] == {"plan": "pro", "tags": ["a", "b"]}
    assert (users["j1"]["country"], users["j1"]["city"]) == ("IR", "Tehran")
    assert users["j3"]["attributes"] == {"plan": "free", "visits": 4}
    with imp.engine.connect() as conn:
        alias = conn.execute(
            sa.text(
                "SELECT u.external_id FROM anonymous_ids a JOIN users u ON u.id = a.user_id "
                "WHERE a.anonymous_id = 'anon-1'"
            )
        ).scalar_one()
    assert alias == "j3"


def test_a_clean_file_exits_zero_and_a_second_run_updates(imp: Importer) -> None:
    rows = "".join(f"user-{i},{i % 3 == 0},{i}\n" for i in range(1, 1201))
    csv = "external_id,vip,score\n" + rows
    code, out = imp.run("many.csv", csv, "--batch-size", "250")
    assert code == 0, out
    assert "imported 1200 rows: 1200 created, 0 updated; 0 failed" in out
    code, out = imp.run("many.csv", csv, "--format", "csv")
    assert code == 0, out
    assert "imported 1200 rows: 0 created, 1200 updated; 0 failed" in out
    users = imp.users()
    assert len(users) == 1200
    assert users["user-300"]["attributes"] == {"vip": True, "score": 300}
    assert users["user-301"]["attributes"] == {"vip": False, "score": 301}


def test_import_refuses_what_it_cannot_read(imp: Importer) -> None:
    code, out = imp.run("users.txt", "external_id\nu1\n")
    assert code == 1
    assert "--format csv or --format jsonl" in out
    code, out = imp.run("users.csv", "plan,age\npro,3\n")
    assert code == 1
    assert "line 1:" in out
    assert "external_id or anonymous_id column" in out
    (imp.tmp / "latin1.csv").write_bytes("external_id,city\nu1,M\xfcnchen\n".encode("latin-1"))
    done = tidings(
        "users", "import", str(imp.tmp / "latin1.csv"), "--app", "1", env=imp.env, cwd=imp.tmp
    )
    assert done.returncode == 1
    assert "not UTF-8" in done.stderr
    code, out = imp.run("users.csv", "external_id\nu1\n", "--app", "77")
    assert code == 1
    assert "app 77 not found" in out
    assert imp.users() == {}


def test_the_report_keeps_every_bad_row(imp: Importer) -> None:
    csv = "external_id,age\nu1,1\nu2,x\n,3\n"
    code, _ = imp.run("r.csv", csv, "--report", str(imp.tmp / "bad.jsonl"))
    assert code == 1
    report = [orjson.loads(x) for x in (imp.tmp / "bad.jsonl").read_text().splitlines()]
    assert [(r["line"], r["field"]) for r in report] == [
        (3, "attributes.age"),
        (4, "external_id"),
    ]


# --- the batch action on the live server's database (SQLite and PostgreSQL) ---


def parsed(lines: list[dict[str, Any]], declared: dict[str, str]) -> list[importer.ImportRow]:
    text = [orjson.dumps(line).decode() + "\n" for line in lines]
    rows = list(importer.parse(text, "jsonl", declared))
    assert all(isinstance(r, importer.ImportRow) for r in rows), rows
    return [r for r in rows if isinstance(r, importer.ImportRow)]


def test_batches_create_and_update_on_both_databases(
    live: LiveServer, tenant: Tenant, sql: sa.Engine, client: httpx.Client
) -> None:
    pre = client.post(
        "/v1/identify",
        json={"external_id": "b1", "attributes": {"plan": "free"}, "locale": "en-US"},
        headers=tenant.write_headers(),
    )
    assert pre.status_code == 200
    rows = parsed(
        [
            {"external_id": "b1", "attributes": {"plan": "pro", "seats": 3}},
            {"external_id": "b2", "attributes": {"plan": "free"}, "timezone": "Asia/Tehran"},
            {"anonymous_id": "anon-b3", "attributes": {"plan": "trial"}},
            {"external_id": "b2", "consent": {"push": True}},
        ],
        {"plan": "string"},
    )

    async def run(ctx: AppContext) -> list[bulk.RowOutcome]:
        return await bulk.import_rows(ctx.db, tenant.app_id, rows, now=ctx.clock.now())

    outcomes = live.call(run)
    assert [(o.line, o.status) for o in outcomes] == [
        (1, "updated"),
        (2, "created"),
        (3, "created"),
        (4, "updated"),
    ]
    profile = client.get("/v1/users?external_id=b1", headers=tenant.server_headers())
    assert profile.status_code == 200
    b1 = profile.json()["data"][0]
    assert b1["attributes"] == {"plan": "pro", "seats": 3}
    assert b1["locale"] == "en-US"  # untouched by a row that does not name it
    b2 = client.get("/v1/users?external_id=b2", headers=tenant.server_headers()).json()
    assert b2["data"][0]["timezone"] == "Asia/Tehran"
    assert b2["data"][0]["consent"] == {"push": True}
    with sql.connect() as conn:
        count = conn.execute(
            sa.text("SELECT count(*) FROM users WHERE app_id = :a"), {"a": tenant.app_id}
        ).scalar_one()
    assert count == 3


def test_a_row_failing_while_writing_costs_only_itself(
    live: LiveServer, tenant: Tenant, sql: sa.Engine, client: httpx.Client
) -> None:
    # `age` is declared a number on the server, after the file was checked against an
    # empty set of types: the anonymous row's write fails and its batch is replayed.
    declared = client.post(
        "/v1/identify",
        json={"external_id": "seed", "attributes": {"age": 30}},
        headers=tenant.write_headers(),
    )
    assert declared.status_code == 200
    rows = parsed(
        [
            {"external_id": "w1", "attributes": {"nickname": "one"}},
            {"anonymous_id": "anon-w2", "attributes": {"age": "thirty"}},
            {"external_id": "w3", "attributes": {"nickname": "three"}},
            {"external_id": "w4", "attributes": {"age": "forty"}},
        ],
        {},
    )

    async def run(ctx: AppContext) -> list[bulk.RowOutcome]:
        return await bulk.import_rows(ctx.db, tenant.app_id, rows, now=ctx.clock.now())

    outcomes = live.call(run)
    assert [(o.line, o.status, o.field) for o in outcomes] == [
        (1, "created", None),
        (2, "failed", "attributes.age"),
        (3, "created", None),
        (4, "failed", "attributes.age"),
    ]
    with sql.connect() as conn:
        stored = (
            conn.execute(
                sa.text("SELECT external_id FROM users WHERE app_id = :a ORDER BY external_id"),
                {"a": tenant.app_id},
            )
            .scalars()
            .all()
        )
        aliases = conn.execute(
            sa.text("SELECT count(*) FROM anonymous_ids WHERE app_id = :a"), {"a": tenant.app_id}
        ).scalar_one()
    assert stored == ["seed", "w1", "w3"]
    assert aliases == 0  # nothing of the failed row survived the rollback
