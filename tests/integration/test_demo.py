"""`tidings demo`: seeds real profiles, prints working keys and curl examples, reuses itself.

The demo runs as a subprocess exactly as `python3 dev.py demo` starts it (with a small
user count); the printed curl examples are run through bash and curl, and the README's
copy of them is checked to be the same text.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import stat
import subprocess
from pathlib import Path

import httpx
import orjson
from tests.conftest import require_service
from tests.integration.cli_process import Served, cli_env

from tidings.config import Settings
from tidings.demo import keyfile
from tidings.demo.examples import EXAMPLE_USER, curl_examples
from tidings.testing.live import free_port

ROOT = Path(__file__).resolve().parents[2]
USERS = 50


def exported(output: str) -> dict[str, str]:
    return dict(re.findall(r"^export (\w+)=(\S+)$", output, re.M))


def counts(db: Path) -> tuple[int, int, int]:
    with sqlite3.connect(db) as conn:
        return (
            conn.execute("SELECT count(*) FROM users").fetchone()[0],
            conn.execute("SELECT count(*) FROM events").fetchone()[0],
            conn.execute("SELECT count(*) FROM devices").fetchone()[0],
        )


def test_demo_seeds_serves_and_its_examples_work(tmp_path: Path) -> None:
    require_service(None if shutil.which("curl") and shutil.which("bash") else "needs curl+bash")
    db = tmp_path / "demo.db"
    port = free_port()
    env = cli_env(tmp_path, "sqlite:///ignored.db")  # --database wins over the environment
    args = ["demo", "--port", str(port), "--users", str(USERS), "--database", str(db)]
    with Served(args, env=env, cwd=tmp_path, port=port) as served:
        served.wait_ready()
        keys = exported(served.output)
        assert keys["TIDINGS_URL"] == served.url
        write_key, server_key = keys["WRITE_KEY"], keys["SERVER_KEY"]
        assert write_key.startswith("tdw_")
        assert server_key.startswith("tds_")
        assert f"seeded {USERS} users" in served.output

        # The keys file lets the next run print the same server key; only its owner reads it.
        stored = keyfile.load(keyfile.path_for(db))
        assert stored is not None
        assert (stored.write_key, stored.server_key) == (write_key, server_key)
        assert stat.S_IMODE(os.stat(keyfile.path_for(db)).st_mode) == 0o600

        server = {"Authorization": f"Bearer {server_key}"}
        with httpx.Client(base_url=served.url, timeout=30) as http:
            page = http.get("/v1/users", params={"limit": 500}, headers=server)
            assert page.status_code == 200
            seeded = page.json()["data"]
            assert len(seeded) == USERS
            assert {u["attributes"]["plan"] for u in seeded} <= {"free", "trial", "pro"}
            countries = {u["attributes"]["country"] for u in seeded}
            assert countries & {"IR", "DE", "US", "BR", "IN"}
            active = [u for u in seeded if u["session_count"] > 0]
            assert len(active) >= USERS // 2
            someone = max(active, key=lambda u: u["session_count"])
            profile = http.get(f"/v1/users/{someone['id']}", headers=server).json()
            names = {e["name"] for e in profile["events"]}
            assert {"$session_start", "feature_used"} <= names
            assert sum(e["count"] for e in profile["events"]) > profile["session_count"]
            assert profile["daily"]["counts"]
            assert profile["last_values"].get("app_version")
            devices = http.get(f"/v1/users/{someone['id']}/devices", headers=server)
            assert devices.status_code == 200
            platforms = {d["platform"] for d in devices.json()["data"]}
            assert platforms <= {"web", "ios", "android", "desktop"}
            assert platforms

            # The printed examples, run as printed, against this demo.
            printed = served.output[served.output.index("# 1. Identify") :]
            example = curl_examples(served.url)
            assert printed.startswith(example)
            run = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", example],
                env={**os.environ, "WRITE_KEY": write_key, "SERVER_KEY": server_key},
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert run.returncode == 0, run.stderr
            replies = run.stdout.strip().split("\n", 3)
            assert orjson.loads(replies[0])["external_id"] == EXAMPLE_USER
            assert orjson.loads(replies[1])["push"]["active"] is True
            assert orjson.loads(replies[2])["accepted"] == 3
            shown = orjson.loads(replies[3])
            assert shown["external_id"] == EXAMPLE_USER
            assert shown["attributes"]["plan"] == "pro"
            assert shown["session_count"] == 1
            assert {e["name"]: e["count"] for e in shown["events"]} == {
                "$session_start": 1,
                "$screen_view": 1,
                "purchase": 1,
            }
            assert shown["last_values"] == {"app_version": "4.0.0"}
        before = counts(db)
        assert served.stop() == 0
    assert before[0] == USERS + 1
    assert not (tmp_path / "ignored.db").exists()

    # A second run reuses the app, the keys and the data: nothing is seeded twice.
    with Served(args, env=env, cwd=tmp_path, port=port) as again:
        again.wait_ready()
        assert exported(again.output) == keys
        assert "reusing the demo app" in again.output
        with httpx.Client(base_url=again.url, timeout=30) as http:
            me = http.get("/v1/users", params={"external_id": EXAMPLE_USER}, headers=server)
            assert me.status_code == 200
            assert len(me.json()["data"]) == 1
    assert counts(db) == before


def test_the_readme_documents_every_setting() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [n for n in Settings.model_fields if f"| `TIDINGS_{n.upper()}` |" not in readme]
    assert missing == []


def test_the_readme_shows_the_demo_examples() -> None:
    readme = (ROOT / "README.md").read_text()
    assert readme.startswith("# Tidings")
    assert curl_examples("http://127.0.0.1:8000") in readme
    first_block = re.search(r"```(?:sh|bash|shell)?\n(.*?)```", readme, re.S)
    assert first_block is not None
    assert first_block.group(1).strip().splitlines() == [
        "python3 dev.py demo",
        "python3 dev.py test",
    ]
