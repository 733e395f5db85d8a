"""The `tidings` command line, run as a subprocess against its own database file.

db upgrade/current, admin create, apps, keys (the token works against `tidings serve`,
then 401 once revoked), and serve's refusal of a stale schema (SQLite with auto-migrate
off; PostgreSQL when it answers).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from tests.conftest import PG_ADMIN_URL, postgres_available, require_service
from tests.integration.cli_process import Served, cli_env, tidings

from tidings import migrate
from tidings.testing.live import free_port

WRITE_KEY = re.compile(r"write key\s+(tdw_[A-Za-z0-9_-]+)")
TOKEN = re.compile(r"token\s+(tds_[0-9a-f]+_[A-Za-z0-9_-]+)")
APP_ID = re.compile(r"app id\s+(\d+)")


@dataclass
class Cli:
    """A fresh SQLite database and the environment to run commands against it."""

    tmp: Path
    env: dict[str, str]
    engine: sa.Engine

    def __call__(self, *args: str, input: str | None = None) -> tuple[int, str]:
        done = tidings(*args, env=self.env, cwd=self.tmp, input=input)
        return done.returncode, done.stdout + done.stderr

    def ok(self, *args: str, input: str | None = None) -> str:
        code, out = self(*args, input=input)
        assert code == 0, out
        return out

    def count(self, table: str) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    path = tmp_path / "cli.db"
    engine = sa.create_engine(f"sqlite:///{path}")
    yield Cli(tmp_path, cli_env(tmp_path, f"sqlite:///{path}"), engine)
    engine.dispose()


def setup_app(cli: Cli) -> tuple[int, str]:
    """An admin's workspace and an app in it; returns (app id, write key)."""
    cli.ok(
        "admin",
        "create",
        "--email",
        "ops@acme.test",
        "--workspace",
        "Acme",
        "--password",
        "correct horse battery",
    )
    out = cli.ok("apps", "create", "Acme web", "--workspace", "1")
    app_id, write_key = APP_ID.search(out), WRITE_KEY.search(out)
    assert app_id, out
    assert write_key, out
    return int(app_id.group(1)), write_key.group(1)


def test_db_current_then_upgrade(cli: Cli) -> None:
    head = migrate.head_revision()
    code, out = cli("db", "current")
    assert code == 1
    assert "revision none" in out
    assert "tidings db upgrade" in out

    out = cli.ok("db", "upgrade")
    assert f"empty -> {head}" in out
    assert f"revision {head} (head)" in cli.ok("db", "current")
    assert "already at revision" in cli.ok("db", "upgrade")
    with cli.engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one()
    assert stored == head


def test_admin_create_bootstraps_workspace_and_admin(cli: Cli) -> None:
    out = cli.ok(
        "admin",
        "create",
        "--email",
        "Ops@Acme.test",
        "--workspace",
        "Acme",
        "--password",
        "correct horse battery",
    )
    assert "created: Acme" in out
    with cli.engine.connect() as conn:
        row = conn.execute(
            sa.text("SELECT email, role, password_hash, workspace_id FROM operators")
        ).one()
        ws = conn.execute(sa.text("SELECT id, name FROM workspaces")).one()
    assert (row.email, row.role, row.workspace_id) == ("ops@acme.test", "admin", ws.id)
    assert ws.name == "Acme"
    assert row.password_hash.startswith("$argon2id$")
    assert "m=19456" in row.password_hash
    assert "correct horse" not in row.password_hash

    # A second admin of the same workspace reuses it; the password is asked for twice.
    out = cli.ok(
        "admin",
        "create",
        "--email",
        "second@acme.test",
        "--workspace",
        "Acme",
        input="another long secret\nanother long secret\n",
    )
    assert "existing: Acme" in out
    assert cli.count("workspaces") == 1
    assert cli.count("operators") == 2


def test_admin_create_refuses_duplicates_and_short_passwords(cli: Cli) -> None:
    cli.ok(
        "admin",
        "create",
        "--email",
        "ops@acme.test",
        "--workspace",
        "Acme",
        "--password",
        "correct horse battery",
    )

    code, out = cli(
        "admin",
        "create",
        "--email",
        "OPS@acme.test",
        "--workspace",
        "Other",
        "--password",
        "another long secret",
    )
    assert code == 1
    assert "already exists" in out
    assert "field: email" in out
    code, out = cli(
        "admin", "create", "--email", "new@acme.test", "--workspace", "Other", "--password", "short"
    )
    assert code == 1
    assert "at least 10 characters" in out
    assert "field: password" in out
    code, out = cli(
        "admin",
        "create",
        "--email",
        "not-an-email",
        "--workspace",
        "Other",
        "--password",
        "long enough pass",
    )
    assert code == 1
    assert "field: email" in out
    # Refused operators leave nothing behind: no operator, no empty "Other" workspace.
    assert cli.count("operators") == 1
    assert cli.count("workspaces") == 1


def test_apps_create_and_list(cli: Cli) -> None:
    _app_id, write_key = setup_app(cli)
    out = cli.ok("apps", "create", "Acme iOS", "--workspace", "1", "--identity-verification")
    secret = re.search(r"identity secret\s+(\S+)", out)
    assert secret is not None
    with cli.engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT id, name, write_key, identity_verification, identity_secret_sealed "
                "FROM apps ORDER BY id"
            )
        ).all()
    assert [(r.name, bool(r.identity_verification)) for r in rows] == [
        ("Acme web", False),
        ("Acme iOS", True),
    ]
    assert rows[0].write_key == write_key
    assert secret.group(1) not in rows[1].identity_secret_sealed  # sealed at rest

    listed = cli.ok("apps", "list")
    assert write_key in listed
    assert "Acme iOS" in listed
    assert secret.group(1) not in listed

    code, out = cli("apps", "create", "Ghost", "--workspace", "99")
    assert code == 1
    assert "workspace 99 not found" in out
    assert "field: workspace" in out
    assert cli.count("apps") == 2


def test_server_key_works_against_serve_until_revoked(cli: Cli) -> None:
    app_id, write_key = setup_app(cli)
    out = cli.ok(
        "keys",
        "create",
        "--app",
        str(app_id),
        "--name",
        "backend",
        "--scope",
        "read",
        "--scope",
        "write",
    )
    token_match = TOKEN.search(out)
    assert token_match is not None, out
    token = token_match.group(1)
    assert "will not be shown again" in out
    other = TOKEN.search(
        cli.ok("keys", "create", "--app", str(app_id), "--name", "reports", "--scope", "read")
    )
    assert other is not None

    listed = cli.ok("keys", "list", "--app", str(app_id))
    prefix, secret = token.removeprefix("tds_").split("_", 1)
    assert f"tds_{prefix}_" in listed
    assert "backend" in listed
    assert "reports" in listed
    assert secret not in listed
    assert other.group(1).split("_", 2)[2] not in listed
    with cli.engine.connect() as conn:
        hashes = conn.execute(sa.text("SELECT secret_hash FROM server_keys")).scalars().all()
    assert all(secret not in h for h in hashes)

    port = free_port()
    # The flag wins over the environment: TIDINGS_PORT points elsewhere.
    env = {**cli.env, "TIDINGS_PORT": "1"}
    with Served(["serve", "--port", str(port)], env=env, cwd=cli.tmp, port=port) as served:
        served.wait_ready()
        with httpx.Client(base_url=served.url, timeout=30) as http:
            bearer = {"Authorization": f"Bearer {token}"}
            assert http.get("/v1/users", headers=bearer).status_code == 200
            identify = http.post(
                "/v1/identify",
                json={"external_id": "u1", "attributes": {"plan": "pro"}},
                headers={"Authorization": f"Bearer {write_key}"},
            )
            assert identify.status_code == 200, identify.text

            # Revoke by the prefix form `keys list` shows; the other key by its id.
            assert "revoked server key" in cli.ok("keys", "revoke", f"tds_{prefix}_…")
            cli.ok("keys", "revoke", "2")
            for key in (token, other.group(1)):
                denied = http.get("/v1/users", headers={"Authorization": f"Bearer {key}"})
                assert denied.status_code == 401
                assert denied.json()["error"]["field"] == "authorization"
                assert denied.json()["error"]["code"] == "key_revoked"
            # Revoking again is harmless; an unknown key is an error.
            cli.ok("keys", "revoke", token)
            code, out = cli("keys", "revoke", "tds_ffffffffffff")
            assert code == 1
            assert "no server key matches" in out
        assert served.stop() == 0
    assert "Traceback" not in served.output
    with cli.engine.connect() as conn:
        revoked = conn.execute(
            sa.text("SELECT count(*) FROM server_keys WHERE revoked_at IS NOT NULL")
        ).scalar_one()
    assert revoked == 2


def test_keys_create_needs_a_known_app_and_scope(cli: Cli) -> None:
    app_id, _ = setup_app(cli)
    code, out = cli("keys", "create", "--app", str(app_id), "--name", "x")
    assert code == 1
    assert "field: scopes" in out
    code, out = cli("keys", "create", "--app", str(app_id), "--name", "x", "--scope", "admin")
    assert code == 1
    assert "field: scopes" in out
    code, out = cli("keys", "create", "--app", "42", "--name", "x", "--scope", "read")
    assert code == 1
    assert "app 42 not found" in out
    code, out = cli("keys", "list", "--app", "42")
    assert code == 1
    assert "app 42 not found" in out
    assert cli.count("server_keys") == 0


def test_serve_refuses_a_stale_sqlite_schema_without_auto_migrate(cli: Cli) -> None:
    env = {**cli.env, "TIDINGS_AUTO_MIGRATE": "false"}
    done = tidings("serve", "--port", str(free_port()), env=env, cwd=cli.tmp, timeout=60)
    assert done.returncode == 2
    assert "tidings db upgrade" in done.stderr
    assert "revision none" in done.stderr


@pytest.mark.postgres
def test_serve_on_postgresql_needs_db_upgrade_first(tmp_path: Path) -> None:
    require_service(postgres_available())
    import psycopg

    name = f"tidings_cli_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        env = cli_env(tmp_path, f"{base}/{name}", TIDINGS_SECRET_KEY="cli-test-secret")
        port = free_port()
        refused = tidings("serve", "--port", str(port), env=env, cwd=tmp_path, timeout=60)
        assert refused.returncode == 2
        assert "tidings db upgrade" in refused.stderr
        assert "secret" not in refused.stderr.lower()

        done = tidings("db", "upgrade", env=env, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert f"-> {migrate.head_revision()}" in done.stdout
        with Served(["serve", "--port", str(port)], env=env, cwd=tmp_path, port=port) as served:
            served.wait_ready()
        assert served.proc.returncode == 0
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_an_unreachable_database_is_one_clear_line(tmp_path: Path) -> None:
    port = free_port()  # nothing listens here
    env = cli_env(tmp_path, f"postgresql://nobody:hunter2@127.0.0.1:{port}/none")
    done = tidings("db", "current", env=env, cwd=tmp_path, timeout=60)
    assert done.returncode == 1
    assert "error: database postgresql+asyncpg://nobody:***@127.0.0.1" in done.stderr
    assert "hunter2" not in done.stderr
    assert "Traceback" not in done.stderr
