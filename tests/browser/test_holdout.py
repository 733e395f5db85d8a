"""A control-group user is shown nothing, and their exposure is logged when the message
would have shown, so lift is measured against showing nothing."""

from __future__ import annotations

from typing import Any

import httpx
import sqlalchemy as sa
from tests.browser.conftest import delivery, launch
from tests.conftest import Tenant


def test_holdout_users_see_nothing_and_their_exposure_is_logged(
    client: httpx.Client, tenant: Tenant, sql: sa.Engine, open_page: Any
) -> None:
    modal = {"format": "modal", "title": "Try reports", "body": "New!"}
    cid = launch(client, tenant, modal, control_weight=1, controls={"priority": 900})
    other = launch(client, tenant, {"format": "banner", "body": "Also new"}, name="banner")
    held_out = None
    for i in range(40):
        who = f"h{i}"
        r = client.post("/v1/identify", json={"external_id": who}, headers=tenant.write_headers())
        assert r.status_code == 200, r.text
        r = client.post(
            "/v1/inapp/decide",
            json={"external_id": who, "session_id": "probe"},
            headers=tenant.write_headers(),
        )
        entry = next(m for m in r.json()["messages"] if m["campaign_id"] == cid)
        if entry["holdout"]:
            held_out = who
            break
    assert held_out is not None, "with a 1:1 split one of 40 users is in the holdout"

    page = open_page(init={"userId": held_out})
    row = delivery(sql, cid, lambda r: r.reason == "control")
    assert (row.status, row.variant, row.displayed_at) == ("suppressed", "control", None)
    # What shows is the next message: the held-out modal never rendered.
    page.wait_for_function("window.seen.some(e => e.event === 'shown')")
    shown = page.evaluate("window.seen.filter(e => e.event === 'shown').map(e => e.campaign_id)")
    assert shown == [other]
