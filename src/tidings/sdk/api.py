"""Routes serving the web SDK: the bundle, its service worker and the app's Web Push key."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel

from tidings.context import AppContext, context
from tidings.delivery import credentials
from tidings.errors import NotFound
from tidings.tenancy.auth import Caller, client_caller

STATIC = Path(__file__).parent / "static"
JS = "text/javascript; charset=utf-8"
# The bundle's URL is not versioned, so a day of caching, then a cheap 304 by ETag.
BUNDLE_CACHE = "public, max-age=86400, stale-while-revalidate=604800"

router = APIRouter(tags=["sdk"])


@lru_cache(maxsize=4)
def _asset(name: str) -> tuple[bytes, str]:
    body = (STATIC / name).read_bytes()
    return body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _serve(
    request: Request, name: str, cache: str, extra: dict[str, str] | None = None
) -> Response:
    body, etag = _asset(name)
    headers = {"ETag": etag, "Cache-Control": cache, **(extra or {})}
    wanted = request.headers.get("if-none-match", "")
    if etag in (t.strip() for t in wanted.split(",")) or wanted.strip() == "*":
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=JS, headers=headers)


@router.get("/sdk/tidings.js", include_in_schema=False)
async def bundle(request: Request) -> Response:
    """The SDK bundle (one minified file, built from sdk/web)."""
    return _serve(request, "tidings.js", BUNDLE_CACHE, {"Access-Control-Allow-Origin": "*"})


@router.get("/sdk/tidings-sw.js", include_in_schema=False)
async def service_worker(request: Request) -> Response:
    """The service worker; revalidated on each update check so fixes reach browsers."""
    return _serve(request, "tidings-sw.js", "no-cache", {"Service-Worker-Allowed": "/"})


@router.get("/demo", include_in_schema=False)
async def demo_page() -> Response:
    """The demo web app of `tidings demo` (it takes the demo app's write key as `?key=`)."""
    body, _ = _asset("demo.html")
    return Response(
        body, media_type="text/html; charset=utf-8", headers={"Cache-Control": "no-cache"}
    )


class PushKeyOut(BaseModel):
    public_key: str


@router.get("/sdk/push-key", response_model=PushKeyOut, summary="The app's VAPID public key")
async def push_key(
    caller: Caller = Depends(client_caller), ctx: AppContext = Depends(context)
) -> PushKeyOut:
    """What browsers pass as `applicationServerKey` when subscribing (public by design)."""
    found = await credentials.describe(ctx, caller.app_id, "webpush")
    key = found[0].summary.get("public_key") if found else None
    if not isinstance(key, str):
        raise NotFound("no Web Push credentials are set for this app", field="provider")
    return PushKeyOut(public_key=key)
