"""Operations: /healthz, /readyz, /metrics, rate-limit exemptions, structured access logs."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from tests.conftest import Tenant

from tidings import __version__, migrate
from tidings.config import Settings
from tidings.ops.logs import REDACTED, JsonFormatter, TextFormatter, configure_logging
from tidings.testing.live import LiveServer


def server_settings(url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": url,
        "secret_key": "ops-test",
        "log_level": "warning",
        "rate_limit_per_second": 0,
        "auto_migrate": False,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def bare_sqlite(tmp_path: Path) -> str:
    """A SQLite file that exists but has no schema yet."""
    return f"sqlite+aiosqlite:///{tmp_path / 'bare.db'}"


def test_healthz_answers_ok_with_the_version(client: httpx.Client) -> None:
    resp = client.get("/healthz")
    assert resp.status_code == 200
    assert resp.json() == {"status": "ok", "version": __version__}


def test_readyz_is_200_when_the_database_answers_at_the_head(client: httpx.Client) -> None:
    resp = client.get("/readyz")
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "ok"


def test_readyz_is_503_until_the_schema_is_migrated(bare_sqlite: str) -> None:
    with LiveServer(server_settings(bare_sqlite)) as live:
        resp = httpx.get(f"{live.url}/readyz")
        assert resp.status_code == 503
        assert resp.headers["retry-after"] == "1"
        err = resp.json()["error"]
        assert err["code"] == "not_ready"
        assert err["details"] == {"reason": "schema_outdated"}
        assert "tidings db upgrade" in err["message"]
        migrate.upgrade(bare_sqlite)
        assert httpx.get(f"{live.url}/readyz").status_code == 200


def test_readyz_is_503_when_the_database_cannot_be_reached(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'missing-dir' / 'x.db'}"
    with LiveServer(server_settings(url)) as live:
        resp = httpx.get(f"{live.url}/readyz")
        assert resp.status_code == 503
        assert resp.json()["error"]["details"] == {"reason": "database_unreachable"}
        assert httpx.get(f"{live.url}/healthz").status_code == 200  # alive, not ready


def metric_value(text: str, name: str, **labels: str) -> float | None:
    """The sample `name{labels}` in Prometheus text, or None."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        series, value = line.rsplit(" ", 1)
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', series))
        if series.split("{", 1)[0] == name and found == labels:
            return float(value)
    return None


def track(client: httpx.Client, tenant: Tenant, n: int = 2) -> httpx.Response:
    events = [{"name": "ops_probe", "message_id": uuid.uuid4().hex} for _ in range(n)]
    return client.post(
        "/v1/track",
        json={"external_id": "ops-user", "events": events},
        headers=tenant.write_headers(),
    )


def test_metrics_count_requests_by_route_and_events_by_outcome(
    client: httpx.Client, tenant: Tenant
) -> None:
    before = client.get("/metrics").text
    assert track(client, tenant, 3).status_code == 200
    resp = client.get("/metrics")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain")
    after = resp.text
    labels = {"method": "POST", "route": "/v1/track", "status": "200"}
    assert (metric_value(after, "tidings_http_requests_total", **labels) or 0) - (
        metric_value(before, "tidings_http_requests_total", **labels) or 0
    ) == 1
    count = metric_value(
        after, "tidings_http_request_duration_seconds_count", method="POST", route="/v1/track"
    )
    assert (count or 0) >= 1
    accepted = "tidings_events_accepted_total"
    assert (metric_value(after, accepted) or 0) - (metric_value(before, accepted) or 0) >= 3


def test_unknown_paths_share_one_label_and_raw_paths_never_appear(
    client: httpx.Client, live: LiveServer
) -> None:
    raw = f"/v1/no-such-thing/{uuid.uuid4().hex}"
    assert client.get(raw).status_code == 404
    text = client.get("/metrics").text
    assert raw not in text
    assert metric_value(
        text, "tidings_http_requests_total", method="GET", route="<unmatched>", status="404"
    )


def _param_route(live: LiveServer) -> tuple[str, str] | None:
    from tests.integration.test_key_matrix import api_routes

    for route in api_routes(live.app):
        if "{" in route.path:
            return route.method, route.path
    return None


def test_routes_with_parameters_are_labelled_by_template(
    client: httpx.Client, live: LiveServer
) -> None:
    found = _param_route(live)
    if found is None:
        pytest.skip("no route with a path parameter is mounted yet")
    method, template = found
    marker = f"raw{uuid.uuid4().hex[:12]}"
    path = re.sub(r"\{[^}]+\}", marker, template)
    resp = client.request(method, path)  # no key: refused, but the route matched
    assert resp.status_code in (401, 415), resp.text
    text = client.get("/metrics").text
    assert marker not in text
    assert metric_value(
        text,
        "tidings_http_requests_total",
        method=method,
        route=template,
        status=str(resp.status_code),
    )


def test_ops_routes_are_never_rate_limited_but_the_api_is(bare_sqlite: str) -> None:
    migrate.upgrade(bare_sqlite)
    # One token per 100 s: no refill can sneak in between these requests, however slow.
    settings = server_settings(bare_sqlite, rate_limit_per_second=0.01, rate_limit_burst=3)
    with LiveServer(settings) as live, httpx.Client(base_url=live.url) as c:
        for _ in range(3):
            for path in ("/healthz", "/readyz", "/metrics"):
                assert c.get(path).status_code == 200
        statuses = [
            c.post("/v1/track", json={}, headers={"Authorization": "Bearer nope"}) for _ in range(5)
        ]
        assert [r.status_code for r in statuses] == [401, 401, 401, 429, 429]
        limited = statuses[-1]
        assert int(limited.headers["retry-after"]) >= 1
        err = limited.json()["error"]
        assert (err["code"], err["field"]) == ("rate_limited", "authorization")
        # Another key has its own bucket.
        other = c.post("/v1/track", json={}, headers={"Authorization": "Bearer other"})
        assert other.status_code == 401
        assert c.get("/healthz").status_code == 200


@pytest.fixture
def access_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    with caplog.at_level(logging.INFO, logger="tidings.access"):
        yield caplog


def wait_for_access(caplog: pytest.LogCaptureFixture, route: str) -> logging.LogRecord:
    """The access line is written just after the response is sent: wait for it to land."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for record in caplog.records:
            if record.name == "tidings.access" and getattr(record, "route", None) == route:
                return record
        time.sleep(0.01)
    raise AssertionError(f"no access log line for {route}")


def test_each_request_writes_one_structured_access_line_without_secrets(
    client: httpx.Client, tenant: Tenant, access_log: pytest.LogCaptureFixture
) -> None:
    secret_prop = f"body-marker-{uuid.uuid4().hex}"
    resp = client.post(
        "/v1/track",
        json={
            "external_id": "ops-log-user",
            "events": [{"name": "logged", "properties": {"note": secret_prop}}],
        },
        headers=tenant.write_headers(),
    )
    assert resp.status_code == 200
    record = wait_for_access(access_log, "/v1/track")
    line = orjson.loads(JsonFormatter().format(record))
    assert line["level"] == "info"
    assert line["logger"] == "tidings.access"
    assert (line["method"], line["route"], line["status"]) == ("POST", "/v1/track", 200)
    assert line["app_id"] == tenant.app_id
    assert isinstance(line["duration_ms"], float)
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$", line["ts"])
    everything = "\n".join(
        JsonFormatter().format(r) + TextFormatter().format(r) for r in access_log.records
    )
    assert tenant.write_key not in everything
    assert secret_prop not in everything


def test_an_unauthenticated_request_is_logged_without_an_app(
    client: httpx.Client, access_log: pytest.LogCaptureFixture
) -> None:
    assert client.post("/v1/identify", json={}).status_code == 401
    record = wait_for_access(access_log, "/v1/identify")
    assert (record.status, record.app_id) == (401, None)  # type: ignore[attr-defined]


def test_json_lines_carry_extras_and_exceptions_and_redact_secret_fields() -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        record = logging.getLogger("tidings.test").makeRecord(
            "tidings.test",
            logging.ERROR,
            __file__,
            1,
            "failed %s",
            ("twice",),
            exc_info=__import__("sys").exc_info(),
            extra={"job_id": 7, "api_token": "tds_secret", "password": "hunter22"},
        )
    line = orjson.loads(JsonFormatter().format(record))
    assert line["msg"] == "failed twice"
    assert (line["level"], line["logger"], line["job_id"]) == ("error", "tidings.test", 7)
    assert line["api_token"] == line["password"] == REDACTED
    assert "RuntimeError: boom" in line["exc"]
    text = TextFormatter().format(record)
    assert "failed twice job_id=7" in text
    assert "tds_secret" not in text
    assert "hunter22" not in text


def test_configuring_twice_keeps_a_single_handler() -> None:
    root = logging.getLogger()
    before = list(root.handlers)
    level = root.level
    try:
        configure_logging("info", "text")
        configure_logging("warning", "json")
        ours = [h for h in root.handlers if type(h).__name__ == "_TidingsHandler"]
        assert len(ours) == 1
        assert isinstance(ours[0].formatter, JsonFormatter)
        assert logging.getLogger("uvicorn.access").level == logging.WARNING
    finally:
        for handler in list(root.handlers):
            if handler not in before:
                root.removeHandler(handler)
        for handler in before:
            if handler not in root.handlers:
                root.addHandler(handler)
        root.setLevel(level)
