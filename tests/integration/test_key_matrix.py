"""I5: every route against every kind of key, built from the app's real routes.

A route added later is covered automatically: its tag (`client`, `server`, `ops`) and the
access dependency it uses (`server_reader` / `server_writer`) decide what it must answer.
Path parameters get a plausible value that names nothing, so no request can touch data.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from tests.conftest import Tenant

from tidings.tenancy import actions
from tidings.testing.live import LiveServer

ABSENT_INT = 2_000_000_000  # fits a 32-bit id; no test creates this many rows


@dataclass(frozen=True)
class ApiRoute:
    method: str
    path: str  # the template, e.g. /v1/users/{user_id}
    tags: frozenset[str]
    dependencies: frozenset[str]  # names of every dependency in the route's tree
    int_params: frozenset[str]

    @property
    def writes(self) -> bool:
        return "server_writer" in self.dependencies

    def url(self) -> str:
        out = self.path
        for name in self._params():
            value = str(ABSENT_INT) if name in self.int_params else "no-such-thing"
            out = out.replace("{" + name + "}", value).replace("{" + name + ":path}", value)
        return out

    def _params(self) -> Iterator[str]:
        for part in self.path.split("{")[1:]:
            yield part.split("}", 1)[0].split(":", 1)[0]

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def _dependency_names(dependant: Any) -> Iterator[str]:
    for dep in dependant.dependencies:
        yield getattr(dep.call, "__name__", repr(dep.call))
        yield from _dependency_names(dep)


def _route_items(app: FastAPI) -> Iterator[tuple[APIRoute, Any]]:
    """(route, its effective view: full path, router-level tags and dependencies)."""
    try:
        from fastapi.routing import iter_route_contexts  # FastAPI that keeps routers nested
    except ImportError:
        for route in app.routes:
            if isinstance(route, APIRoute):
                yield route, route
        return
    for ctx in iter_route_contexts(app.routes):
        if isinstance(ctx.original_route, APIRoute):
            yield ctx.original_route, ctx


def api_routes(app: FastAPI) -> list[ApiRoute]:
    """Every (method, route) the app serves through FastAPI, with what decides access."""
    out: list[ApiRoute] = []
    for route, view in _route_items(app):
        dependant = getattr(view, "dependant", route.dependant)
        int_params = frozenset(
            p.name for p in dependant.path_params if p.field_info.annotation is int
        )
        for method in sorted((route.methods or set()) - {"HEAD"}):
            out.append(
                ApiRoute(
                    method=method,
                    path=getattr(view, "path_format", None) or route.path_format,
                    tags=frozenset(str(t) for t in getattr(view, "tags", None) or route.tags),
                    dependencies=frozenset(_dependency_names(dependant)),
                    int_params=int_params,
                )
            )
    return out


def call(client: httpx.Client, route: ApiRoute, auth: str | None) -> httpx.Response:
    headers = {"Authorization": auth} if auth else {}
    body: dict[str, Any] | None = {} if route.method in ("POST", "PUT", "PATCH") else None
    return client.request(route.method, route.url(), headers=headers, json=body)


Expectation = Callable[[httpx.Response], bool]


def matrix(
    client: httpx.Client, routes: list[ApiRoute], auth: str | None, expect: Expectation
) -> list[str]:
    """Each route whose answer fails `expect`, with what it answered."""
    wrong: list[str] = []
    for route in routes:
        resp = call(client, route, auth)
        if not expect(resp):
            wrong.append(f"{route} -> {resp.status_code} {resp.text[:200]}")
    return wrong


def refused(status: int, code: str | None = None) -> Expectation:
    def check(resp: httpx.Response) -> bool:
        if resp.status_code != status:
            return False
        err = resp.json().get("error", {})
        return err.get("field") == "authorization" and (code is None or err["code"] == code)

    return check


def admitted(resp: httpx.Response) -> bool:
    return resp.status_code not in (401, 403)


@pytest.fixture
def routes(live: LiveServer) -> list[ApiRoute]:
    return api_routes(live.app)


def tagged(routes: list[ApiRoute], tag: str) -> list[ApiRoute]:
    return [r for r in routes if tag in r.tags]


@pytest.fixture
def revoked_key(live: LiveServer, tenant: Tenant) -> str:
    async def _mint_and_revoke(ctx: Any) -> str:
        now = ctx.clock.now()
        key = await actions.create_server_key(
            ctx.db, tenant.app_id, "old", ["read", "write"], now=now
        )
        await actions.revoke_server_key(ctx.db, key.token, now=now)
        return key.token

    token: str = live.call(_mint_and_revoke)
    return token


def test_every_api_route_declares_who_may_call_it(routes: list[ApiRoute]) -> None:
    api = [r for r in routes if r.path.startswith("/v1/")]
    assert tagged(api, "client"), "no client routes found: the matrix would test nothing"
    assert not [str(r) for r in api if not r.tags & {"client", "server"}]
    for route in tagged(api, "server"):
        assert route.dependencies & {"server_reader", "server_writer"}, str(route)
    for route in tagged(api, "client"):
        assert "client_caller" in route.dependencies, str(route)


BAD_AUTH = {
    "missing": None,
    "garbage": "Bearer garbage",
    "wrong-scheme": "Basic dXNlcjpwYXNz",
    "empty-bearer": "Bearer",
    "unknown-write-key": "Bearer tdw_" + "x" * 32,
    "unknown-server-key": "Bearer tds_000000000000_" + "x" * 43,
}


@pytest.mark.parametrize("auth", list(BAD_AUTH.values()), ids=list(BAD_AUTH))
def test_api_routes_answer_401_without_a_valid_key(
    client: httpx.Client, routes: list[ApiRoute], auth: str | None
) -> None:
    api = tagged(routes, "client") + tagged(routes, "server")
    assert matrix(client, api, auth, refused(401)) == []


def test_a_revoked_server_key_is_401_everywhere(
    client: httpx.Client, routes: list[ApiRoute], revoked_key: str
) -> None:
    api = tagged(routes, "client") + tagged(routes, "server")
    assert matrix(client, api, f"Bearer {revoked_key}", refused(401, "key_revoked")) == []


def test_the_write_key_never_calls_a_server_route(
    client: httpx.Client, routes: list[ApiRoute], tenant: Tenant
) -> None:
    server = tagged(routes, "server")
    auth = f"Bearer {tenant.write_key}"
    assert matrix(client, server, auth, refused(403, "wrong_key_type")) == []


def test_a_read_only_server_key_reads_but_never_writes(
    client: httpx.Client, routes: list[ApiRoute], tenant: Tenant
) -> None:
    auth = f"Bearer {tenant.read_key}"
    server = tagged(routes, "server")
    writes = [r for r in server if r.writes] + tagged(routes, "client")
    reads = [r for r in server if not r.writes]
    assert matrix(client, writes, auth, refused(403)) == []
    assert matrix(client, reads, auth, admitted) == []


def test_a_read_write_server_key_is_admitted_everywhere(
    client: httpx.Client, routes: list[ApiRoute], tenant: Tenant
) -> None:
    api = tagged(routes, "server") + tagged(routes, "client")
    assert matrix(client, api, f"Bearer {tenant.server_key}", admitted) == []


def test_the_write_key_is_admitted_on_client_routes(
    client: httpx.Client, routes: list[ApiRoute], tenant: Tenant
) -> None:
    auth = f"Bearer {tenant.write_key}"
    assert matrix(client, tagged(routes, "client"), auth, admitted) == []


def test_ops_routes_need_no_key(client: httpx.Client, routes: list[ApiRoute]) -> None:
    assert matrix(client, tagged(routes, "ops"), None, lambda r: r.status_code == 200) == []
