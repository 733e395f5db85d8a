"""The decision's hot route (tidings.fastroute) keeps the documented route's contract:
the same validation errors naming the field, the same access check first, the answer
`DecideOut` describes, in the OpenAPI schema, and counted under its route template."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from tests.conftest import Tenant
from tests.integration.test_inapp import OK, decide, identify, launch

from tidings.campaigns.client_schemas import DecideOut
from tidings.fastroute import JsonPost


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (b'{"external_id": "ana"', 400, "body"),
        (b"", 422, "body"),
        (b"[]", 422, "body"),
        (b'{"external_id": "ana"}', 422, "session_id"),
        (b'{"session_id": "s1"}', 422, "body"),
        (b'{"external_id": "", "session_id": "s1"}', 422, "external_id"),
        (b'{"external_id": "ana", "session_id": "s1", "locale": 7}', 422, "locale"),
        (b'{"external_id": "ana", "session_id": "s1", "extra": 1}', 422, "extra"),
    ],
)
def test_bad_bodies_name_the_field(
    client: httpx.Client, tenant: Tenant, body: bytes, status: int, field: str
) -> None:
    headers = {**tenant.write_headers(), "Content-Type": "application/json"}
    r = client.post("/v1/inapp/decide", content=body, headers=headers)
    assert r.status_code == status, r.text
    assert r.json()["error"]["field"] == field


def test_access_check_comes_first(client: httpx.Client, tenant: Tenant) -> None:
    body = {"external_id": "ana", "session_id": "s1"}
    r = client.post("/v1/inapp/decide", json=body)
    assert r.status_code == 401
    assert r.json()["error"]["field"] == "authorization"
    r = client.post("/v1/inapp/decide", json=body, headers={"Authorization": "Bearer tdw_nope"})
    assert r.status_code == 401
    # The access check runs before the body is read: a bad body with no key is a 401.
    r = client.post("/v1/inapp/decide", content=b"{", headers={"Content-Type": "application/json"})
    assert r.status_code == 401


def test_answers_decisions_documented_and_counted(client: httpx.Client, tenant: Tenant) -> None:
    identify(client, tenant, "ana", attributes={"name": "Ana"}, locale="de")
    cid = launch(
        client, tenant, {"format": "modal", "title": "Hi {{ user.name }}", "buttons": [OK]}
    )
    hot = decide(client, tenant, "ana")
    DecideOut.model_validate(hot)
    assert [m["campaign_id"] for m in hot["messages"]] == [cid]
    assert hot["messages"][0]["content"]["title"] == "Hi Ana"
    schema = client.get("/openapi.json").json()
    assert "DecideOut" in str(schema["paths"]["/v1/inapp/decide"]["post"]["responses"])
    metrics = client.get("/metrics").text
    assert 'route="/v1/inapp/decide"' in metrics


def test_hot_route_stands_in_front_of_the_documented_one() -> None:
    from tidings.app import create_app

    app: FastAPI = create_app()
    first = app.router.routes[0]
    assert isinstance(first, JsonPost)
    assert first.path == "/v1/inapp/decide"
    assert first.include_in_schema is False
