"""Analytics through real HTTP on both backends: traffic driven by the client API (decide,
interactions, track), the report read by the server API."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from tests.conftest import Tenant
from tests.integration.test_inapp import budget, decide, identify, interact, seen, track

from tidings.db import table_of
from tidings.deliveries.models import Delivery

deliveries = table_of(Delivery)
BUTTONS = [
    {"id": "buy", "label": "Buy", "action": {"type": "close"}},
    {"id": "later", "label": "Later", "action": {"type": "close"}},
]


def modal(title: str) -> dict[str, Any]:
    return {"en": {"format": "modal", "title": title, "body": "x", "buttons": BUTTONS}}


def launch(client: httpx.Client, tenant: Tenant, **body: Any) -> int:
    h = tenant.server_headers()
    r = client.post("/v1/campaigns", json={"name": "exp", **body}, headers=h)
    assert r.status_code == 201, r.text
    cid: int = r.json()["id"]
    r = client.post(f"/v1/campaigns/{cid}/transition", json={"to": "active"}, headers=h)
    assert r.status_code == 200, r.text
    return cid


def get(client: httpx.Client, tenant: Tenant, path: str, **params: Any) -> Any:
    r = client.get(path, params=params, headers=tenant.server_headers())
    assert r.status_code == 200, r.text
    return r.json() if "json" in r.headers["content-type"] else r.text


def unlimited(client: httpx.Client, tenant: Tenant) -> None:
    budget(client, tenant, max_inapp_per_session=None, max_per_day=None, min_gap_seconds=0)


def expose(client: httpx.Client, tenant: Tenant, cid: int, who: str) -> str:
    """Decide; record the impression, or the holdout exposure for control users (the
    decision lists their holdout entry, with no content, for the SDK to report)."""
    decided = [m for m in decide(client, tenant, who)["messages"] if m["campaign_id"] == cid]
    assert len(decided) == 1, decided
    message = decided[0]
    assert message["holdout"] == (message["variant"] == "control")
    if message["holdout"]:
        assert message["content"] == {}
    result = interact(client, tenant, who, seen(cid))[0]
    assert result["status"] == "recorded", result
    variant: str = message["variant"]
    return variant


def test_report_counts_exposures_clicks_holdout_and_goal_conversions(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine
) -> None:
    unlimited(client, tenant)
    goal = {
        "event": "purchase",
        "where": [{"property": "plan", "op": "eq", "value": "pro"}],
        "within_days": 7,
        "revenue_property": "amount",
    }
    cid = launch(
        client,
        tenant,
        variants=[{"key": "a", "content": modal("A")}, {"key": "b", "content": modal("B")}],
        control_weight=1,
        goal=goal,
    )
    arm: dict[str, str] = {}
    for i in range(30):
        who = f"u{i}"
        identify(client, tenant, who, locale="de-DE" if i % 2 else "en-US")
        if i == 0:  # bought before any exposure: not a conversion
            track(client, tenant, who, {"name": "purchase", "properties": {"plan": "pro"}})
        arm[who] = expose(client, tenant, cid, who)
    assert set(arm.values()) == {"a", "b", "control"}
    # A holdout exposure is logged once, never displayed.
    control_user = next(u for u, a in arm.items() if a == "control")
    assert interact(client, tenant, control_user, seen(cid))[0]["status"] == "duplicate"
    with sql.connect() as c:
        row = c.execute(
            sa.select(deliveries).where(
                deliveries.c.campaign_id == cid, deliveries.c.variant == "control"
            )
        ).first()
    assert row is not None
    assert (row.status, row.reason) == ("suppressed", "control")
    assert row.displayed_at is None

    clickers = [u for u, a in arm.items() if a != "control"][:4]
    for who in clickers:
        click = {"type": "click", "campaign_id": cid, "occurrence": 1, "button_id": "buy"}
        assert interact(client, tenant, who, click)[0]["status"] == "recorded"
    buyers = [u for u in arm if u != "u0"][::3]
    for who in buyers:
        track(
            client, tenant, who, {"name": "purchase", "properties": {"plan": "pro", "amount": 10}}
        )
        # Filtered out by the goal's `where`, so neither counted nor summed.
        track(
            client, tenant, who, {"name": "purchase", "properties": {"plan": "free", "amount": 99}}
        )

    r = get(client, tenant, f"/v1/campaigns/{cid}/report")
    arms = {a["variant"]: a for a in r["arms"]}
    for key in ("a", "b", "control"):
        members = [u for u, a in arm.items() if a == key]
        converted = [u for u in members if u in buyers]
        assert arms[key]["exposed"] == len(members)
        assert arms[key]["converted"] == len(converted)
        assert arms[key]["revenue"] == 10.0 * len(converted)
        assert arms[key]["displayed"] == (0 if key == "control" else len(members))
    assert arms["control"]["suppressed"] == {"control": arms["control"]["exposed"]}
    assert sum(arms[k]["clicked"] for k in ("a", "b")) == len(clickers)
    assert sum(arms[k]["buttons"].get("buy", 0) for k in ("a", "b")) == len(clickers)
    assert arms["a"]["lift"]["against"] == "control"
    assert arms["control"]["lift"] is None
    assert 0.0 <= arms["b"]["lift"]["chance_to_beat"] <= 1.0
    assert r["srm"]["expected_weights"] == {"a": 1, "b": 1, "control": 1}
    assert {f["variant"] for f in r["funnel"]} == {"a", "b", "control"}

    day = get(client, tenant, f"/v1/campaigns/{cid}/series", by="day")
    assert sum(p["exposed"] for p in day["points"]) == 30
    assert sum(p["converted"] for p in day["points"]) == len(buyers)
    hour = get(client, tenant, f"/v1/campaigns/{cid}/series", by="hour")
    assert hour["points"][0]["bucket"].endswith(":00:00Z")
    locales = get(client, tenant, f"/v1/campaigns/{cid}/breakdown", by="locale")
    by_locale: dict[str, int] = {}
    for s in locales["slices"]:
        by_locale[s["value"]] = by_locale.get(s["value"], 0) + s["exposed"]
    assert by_locale == {"de-DE": 15, "en-US": 15}

    text = get(client, tenant, f"/v1/campaigns/{cid}/report.csv")
    table = list(csv.DictReader(io.StringIO(text)))
    assert [t["variant"] for t in table] == ["a", "b", "control"]
    assert int(table[2]["exposed"]) == arms["control"]["exposed"]


def test_attribution_first_or_last_touch(client: httpx.Client, tenant: Tenant) -> None:
    unlimited(client, tenant)
    goal = {"event": "signup", "within_days": 3, "attribution": "last_touch"}
    first = launch(client, tenant, variants=[{"key": "a", "content": modal("1")}], goal=goal)
    second = launch(client, tenant, variants=[{"key": "a", "content": modal("2")}], goal=goal)
    identify(client, tenant, "ana")
    decide(client, tenant, "ana")
    assert interact(client, tenant, "ana", seen(first))[0]["status"] == "recorded"
    assert interact(client, tenant, "ana", seen(second))[0]["status"] == "recorded"
    track(client, tenant, "ana", {"name": "signup"})

    def converted(cid: int) -> int:
        r = get(client, tenant, f"/v1/campaigns/{cid}/report")
        return sum(a["converted"] for a in r["arms"])

    assert (converted(first), converted(second)) == (0, 1)
    h = tenant.server_headers()
    for cid in (first, second):
        r = client.patch(
            f"/v1/campaigns/{cid}", json={"goal": {**goal, "attribution": "first_touch"}}, headers=h
        )
        assert r.status_code == 200, r.text
    assert (converted(first), converted(second)) == (1, 0)


def test_manual_winner_takes_new_traffic_and_keeps_the_holdout(
    client: httpx.Client, tenant: Tenant
) -> None:
    unlimited(client, tenant)
    cid = launch(
        client,
        tenant,
        variants=[{"key": "a", "content": modal("A")}, {"key": "b", "content": modal("B")}],
        control_weight=1,
        controls={"frequency": {"max_impressions": 100}},
    )
    arm = {}
    for i in range(24):
        identify(client, tenant, f"w{i}")
        arm[f"w{i}"] = expose(client, tenant, cid, f"w{i}")
    h = tenant.server_headers()
    r = client.post(f"/v1/campaigns/{cid}/winner", json={"variant": "nope"}, headers=h)
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "variant"
    r = client.post(f"/v1/campaigns/{cid}/winner", json={"variant": "b"}, headers=h)
    assert r.status_code == 200, r.text
    assert (r.json()["variant"], r.json()["chosen_by"]) == ("b", "manual")
    campaign = client.get(f"/v1/campaigns/{cid}", headers=h).json()
    assert (campaign["winner"], campaign["winner_by"]) == ("b", "manual")
    assert campaign["winner_at"] is not None
    for i in range(10):
        identify(client, tenant, f"new{i}")
        assert expose(client, tenant, cid, f"new{i}") == "b"
    for who, was in arm.items():
        got = [m["variant"] for m in decide(client, tenant, who)["messages"]]
        assert got == (["control"] if was == "control" else ["b"])
    report = get(client, tenant, f"/v1/campaigns/{cid}/report")
    assert report["winner"]["variant"] == "b"
    # Users keep the arm of their first exposure in the analysis.
    arms = {a["variant"]: a["exposed"] for a in report["arms"]}
    assert arms["b"] == sum(1 for a in arm.values() if a == "b") + 10


def test_automatic_winner_after_minimum_sample_and_significance(
    client: httpx.Client, tenant: Tenant
) -> None:
    unlimited(client, tenant)
    goal = {"event": "upgrade", "auto_winner": {"min_exposed": 10, "alpha": 0.05}}
    cid = launch(
        client,
        tenant,
        variants=[{"key": "a", "content": modal("A")}, {"key": "b", "content": modal("B")}],
        goal=goal,
    )
    arm = {}
    for i in range(40):
        identify(client, tenant, f"x{i}")
        arm[f"x{i}"] = expose(client, tenant, cid, f"x{i}")
    b_users = [u for u, a in arm.items() if a == "b"]
    assert len(b_users) >= 10
    assert len(arm) - len(b_users) >= 10
    # Before any conversion there is no winner.
    assert get(client, tenant, f"/v1/campaigns/{cid}/report")["winner"]["variant"] is None
    for who in b_users[1:]:
        track(client, tenant, who, {"name": "upgrade"})
    track(client, tenant, next(u for u, a in arm.items() if a == "a"), {"name": "upgrade"})
    report = get(client, tenant, f"/v1/campaigns/{cid}/report")
    assert report["winner"] == {**report["winner"], "variant": "b", "chosen_by": "auto"}
    identify(client, tenant, "late")
    assert expose(client, tenant, cid, "late") == "b"


def test_survey_results_nps_and_free_text_export(client: httpx.Client, tenant: Tenant) -> None:
    unlimited(client, tenant)
    content = {
        "en": {
            "format": "survey",
            "questions": [
                {"id": "nps", "kind": "nps", "prompt": "Recommend us?", "scale": 10},
                {"id": "why", "kind": "text", "prompt": "Why?", "required": False},
            ],
        }
    }
    cid = launch(client, tenant, variants=[{"key": "a", "content": content}])
    scores = [10, 9, 9, 7, 3]
    for i, score in enumerate(scores):
        who = f"s{i}"
        identify(client, tenant, who)
        expose(client, tenant, cid, who)
        answers: dict[str, Any] = {"nps": score, **({"why": f"because {i}"} if i < 2 else {})}
        item = {"type": "answer", "campaign_id": cid, "occurrence": 1, "answers": answers}
        assert interact(client, tenant, who, item)[0]["status"] == "recorded"
    r = get(client, tenant, f"/v1/campaigns/{cid}/survey")
    assert r["responses"] == 5
    q = {x["id"]: x for x in r["questions"]}
    assert q["nps"]["nps"] == 100 * (3 - 1) / 5
    assert q["nps"]["distribution"] == {"10": 1, "3": 1, "7": 1, "9": 2}
    assert q["why"]["answered"] == 2
    rows = list(
        csv.reader(io.StringIO(get(client, tenant, f"/v1/campaigns/{cid}/survey/answers.csv")))
    )
    assert rows[0] == ["variant", "user_id", "question", "answer"]
    assert sorted(r[3] for r in rows[1:]) == ["because 0", "because 1"]


def test_push_report_reads_send_statuses_and_influenced_opens(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine
) -> None:
    h = tenant.server_headers()
    body = {
        "name": "push",
        "channel": "push",
        "variants": [{"key": "a", "content": {"en": {"title": "Hi", "body": "there"}}}],
        "control_weight": 1,
        "goal": {"event": "purchase"},
    }
    r = client.post("/v1/campaigns", json=body, headers=h)
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    ids = [identify(client, tenant, f"p{i}") for i in range(6)]
    now = datetime.now(UTC) - timedelta(minutes=5)
    plan = [
        ("a", "delivered", None, now, now),  # opened
        ("a", "delivered", None, now, None),  # then opened the app: influenced
        ("a", "sent", None, now, None),
        ("a", "failed", "unregistered", None, None),
        ("", "suppressed", "no_consent", None, None),
        ("control", "suppressed", "control", None, None),
    ]
    with sql.begin() as c:
        for uid, (variant, status, reason, shown, opened) in zip(ids, plan, strict=True):
            c.execute(
                deliveries.insert().values(
                    app_id=tenant.app_id, campaign_id=cid, variant=variant, user_id=uid,
                    channel="push", device_key=0, occurrence=1, status=status, reason=reason,
                    format="push", created_at=now, displayed_at=shown, clicked_at=opened, data={},
                )
            )  # fmt: skip
    track(client, tenant, "p1", {"name": "$session_start"}, {"name": "purchase"})
    track(client, tenant, "p5", {"name": "purchase"})
    r = get(client, tenant, f"/v1/campaigns/{cid}/report")
    arms = {a["variant"]: a for a in r["arms"]}
    a = arms["a"]
    assert (a["sent"], a["delivered"], a["exposed"]) == (3, 2, 3)
    assert a["failed"] == {"unregistered": 1}
    assert (a["opens"], a["influenced_opens"], a["converted"]) == (1, 1, 1)
    assert arms[""]["suppressed"] == {"no_consent": 1}
    assert (arms["control"]["exposed"], arms["control"]["converted"]) == (1, 1)
    assert a["lift"]["against"] == "control"


def test_lifecycle_stages_with_configurable_definitions(
    client: httpx.Client, tenant: Tenant
) -> None:
    unlimited(client, tenant)
    cid = launch(client, tenant, variants=[{"key": "a", "content": modal("A")}])
    for who, sessions in (("fresh", 1), ("active", 3), ("fan", 12)):
        identify(client, tenant, who)
        track(client, tenant, who, *[{"name": "$session_start"}] * sessions)
    expose(client, tenant, cid, "fan")
    r = get(client, tenant, "/v1/lifecycle")
    stages = {s["stage"]: s for s in r["stages"]}
    assert [s["stage"] for s in r["stages"]] == [
        "new",
        "activated",
        "engaged",
        "dormant",
        "churned",
    ]
    assert (stages["new"]["users"], stages["activated"]["users"], stages["engaged"]["users"]) == (
        1,
        1,
        1,
    )
    assert stages["engaged"]["received_messages"] == 1
    assert stages["new"]["received_messages"] == 0
    h = tenant.server_headers()
    bad = {"dormant_after_days": 40, "churned_after_days": 30}
    r2 = client.put("/v1/lifecycle/definitions", json=bad, headers=h)
    assert r2.status_code == 422
    r2 = client.put("/v1/lifecycle/definitions", json={"activation_event": "purchase"}, headers=h)
    assert r2.status_code == 200, r2.text
    track(client, tenant, "fresh", {"name": "purchase"})
    stages = {s["stage"]: s["users"] for s in get(client, tenant, "/v1/lifecycle")["stages"]}
    assert (stages["new"], stages["activated"], stages["engaged"]) == (2, 1, 0)


def test_reports_need_a_server_key_and_an_owned_campaign(
    client: httpx.Client, tenant: Tenant, live: Any
) -> None:
    cid = launch(client, tenant, variants=[{"key": "a", "content": modal("A")}])
    r = client.get(f"/v1/campaigns/{cid}/report", headers=tenant.write_headers())
    assert r.status_code in (401, 403)
    from tests.conftest import make_tenant

    other = make_tenant(live)
    r = client.get(f"/v1/campaigns/{cid}/report", headers=other.server_headers())
    assert r.status_code == 404
    r = client.post(
        f"/v1/campaigns/{cid}/winner",
        json={"variant": "a"},
        headers={"Authorization": f"Bearer {tenant.read_key}"},
    )
    assert r.status_code == 403


def test_goal_filters_use_the_targeting_operators(client: httpx.Client, tenant: Tenant) -> None:
    unlimited(client, tenant)
    where = [
        {"property": "amount", "op": "gte", "value": 50},
        {"property": "plan", "op": "in", "value": ["pro", "team"]},
    ]
    goal = {"event": "purchase", "where": where, "revenue_property": "amount"}
    cid = launch(client, tenant, variants=[{"key": "a", "content": modal("A")}], goal=goal)
    identify(client, tenant, "gil")
    expose(client, tenant, cid, "gil")
    track(
        client,
        tenant,
        "gil",
        {"name": "purchase", "properties": {"plan": "team", "amount": 10}},
        {"name": "purchase", "properties": {"plan": "free", "amount": 70}},
        {"name": "purchase", "properties": {"plan": "team", "amount": "60"}},  # not a number
        {"name": "purchase", "properties": {"plan": "pro", "amount": 60}},
    )
    a = get(client, tenant, f"/v1/campaigns/{cid}/report")["arms"][0]
    assert (a["converted"], a["conversions"], a["revenue"]) == (1, 1, 60.0)
