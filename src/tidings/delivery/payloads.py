"""Rich push content → each provider's payload, shrunk to fit that provider's size limit.

Pure: values in, values out. Title and body are truncated on a character boundary that
never splits a UTF-8 sequence, a combining mark, an emoji ZWJ sequence or a flag pair.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass, field, replace
from typing import Any

FCM_LIMIT = 4096  # bytes of the encoded message (keys and values)
APNS_LIMIT = 4096  # bytes of the JSON payload
WEBPUSH_LIMIT = 3993  # plaintext bytes that fit one 4096-byte aes128gcm record
ELLIPSIS = "…"


@dataclass(frozen=True)
class Action:
    """An action button: `id` comes back to the SDK, `title` is shown."""

    id: str
    title: str
    deep_link: str | None = None


@dataclass(frozen=True)
class PushContent:
    """What a push says, already localized and personalized for one user."""

    title: str = ""
    body: str = ""
    image: str | None = None
    deep_link: str | None = None
    actions: tuple[Action, ...] = ()
    badge: int | None = None
    sound: str | None = None
    data: dict[str, str] = field(default_factory=dict)
    collapse_key: str | None = None
    ttl_seconds: int | None = None
    high_priority: bool = True


class PayloadTooLarge(ValueError):
    """Even with title and body emptied the payload exceeds the provider's limit."""


def _joins(ch: str) -> bool:
    """True for a code point that belongs to the character before it."""
    cp = ord(ch)
    return (
        unicodedata.combining(ch) != 0
        or unicodedata.category(ch) in ("Mn", "Me", "Mc")
        or cp == 0x200D  # zero-width joiner
        or 0xFE00 <= cp <= 0xFE0F  # variation selectors
        or 0x1F3FB <= cp <= 0x1F3FF  # skin-tone modifiers
        or 0xE0020 <= cp <= 0xE007F  # tag characters (subdivision flags)
    )


def _is_regional(ch: str) -> bool:
    return 0x1F1E6 <= ord(ch) <= 0x1F1FF


def truncate_text(text: str, max_bytes: int, *, ellipsis: str = ELLIPSIS) -> str:
    """The longest prefix of `text` ending on a whole character (grapheme, approximately)
    whose UTF-8 form, with `ellipsis` added when cut, fits in `max_bytes`."""
    if len(text.encode()) <= max_bytes:
        return text
    budget = max_bytes - len(ellipsis.encode())
    if budget <= 0:
        return ""
    cut = 0
    used = 0
    for i, ch in enumerate(text):
        used += len(ch.encode())
        if used > budget:
            break
        cut = i + 1
    # Back off while the cut would separate a code point from what it joins to.
    while 0 < cut < len(text) and (_joins(text[cut]) or text[cut - 1] == "\u200d"):
        cut -= 1
    if 0 < cut < len(text) and _is_regional(text[cut]) and _is_regional(text[cut - 1]):
        run = 0
        while run < cut and _is_regional(text[cut - 1 - run]):
            run += 1
        if run % 2 == 1:  # the cut falls inside a flag pair
            cut -= 1
    prefix = text[:cut]
    return prefix + ellipsis if prefix else ""


def _encode(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def _with(content: PushContent, part: str, text: str) -> PushContent:
    return replace(content, body=text) if part == "body" else replace(content, title=text)


def _fit(content: PushContent, build: Any, limit: int) -> bytes:
    """Encode with `build`, cutting body then title until the bytes fit `limit`."""
    for part in ("body", "title"):
        encoded = _encode(build(content))
        while len(encoded) > limit:
            text: str = getattr(content, part)
            if not text:
                break
            size = len(text.encode())
            over = len(encoded) - limit
            content = _with(content, part, truncate_text(text, max(0, size - over)))
            if len(getattr(content, part).encode()) >= size:  # no progress: drop it
                content = _with(content, part, "")
            encoded = _encode(build(content))
        if len(encoded) <= limit:
            return encoded
    encoded = _encode(build(content))
    if len(encoded) > limit:
        raise PayloadTooLarge(f"payload is {len(encoded)} bytes without text; limit is {limit}")
    return encoded


def _data(content: PushContent) -> dict[str, str]:
    data = dict(content.data)
    if content.deep_link:
        data["deep_link"] = content.deep_link
    if content.actions:
        data["actions"] = _encode([_action(a) for a in content.actions]).decode()
    return data


def _action(a: Action) -> dict[str, str]:
    out = {"id": a.id, "title": a.title}
    if a.deep_link:
        out["deep_link"] = a.deep_link
    return out


def fcm_message(content: PushContent, token: str) -> bytes:
    """The FCM HTTP v1 send body `{"message": …}` with android/apns/webpush overrides."""

    def build(c: PushContent) -> dict[str, Any]:
        notification: dict[str, str] = {}
        if c.title:
            notification["title"] = c.title
        if c.body:
            notification["body"] = c.body
        if c.image:
            notification["image"] = c.image
        android: dict[str, Any] = {"priority": "high" if c.high_priority else "normal"}
        apns_headers = {"apns-priority": "10" if c.high_priority and notification else "5"}
        webpush_headers = {"Urgency": "high" if c.high_priority else "normal"}
        if c.collapse_key:
            android["collapse_key"] = c.collapse_key
            apns_headers["apns-collapse-id"] = c.collapse_key[:64]
            webpush_headers["Topic"] = c.collapse_key[:32]
        if c.ttl_seconds is not None:
            android["ttl"] = f"{min(c.ttl_seconds, 2_419_200)}s"
            webpush_headers["TTL"] = str(c.ttl_seconds)
        aps: dict[str, Any] = {}
        if c.badge is not None:
            aps["badge"] = c.badge
        if c.sound:
            aps["sound"] = c.sound
        if c.image:
            aps["mutable-content"] = 1
        message: dict[str, Any] = {"token": token, "android": android}
        if notification:
            message["notification"] = notification
            if c.collapse_key:
                # collapse_key replaces pending copies; the tag replaces a shown one.
                android["notification"] = {"tag": c.collapse_key}
        data = _data(c)
        if data:
            message["data"] = data
        message["apns"] = {"headers": apns_headers, "payload": {"aps": aps}}
        message["webpush"] = {"headers": webpush_headers}
        if c.deep_link and c.deep_link.startswith("https://"):
            message["webpush"]["fcm_options"] = {"link": c.deep_link}
        return {"message": message}

    return _fit(content, build, FCM_LIMIT)


def apns_payload(content: PushContent) -> bytes:
    """The APNs JSON payload `{"aps": …, custom…}`."""

    def build(c: PushContent) -> dict[str, Any]:
        aps: dict[str, Any] = {}
        alert: dict[str, str] = {}
        if c.title:
            alert["title"] = c.title
        if c.body:
            alert["body"] = c.body
        if alert:
            aps["alert"] = alert
        else:
            aps["content-available"] = 1
        if c.badge is not None:
            aps["badge"] = c.badge
        if c.sound:
            aps["sound"] = c.sound
        if c.image:
            aps["mutable-content"] = 1
        if c.actions:
            aps["category"] = "tidings." + ".".join(a.id for a in c.actions)[:60]
        out: dict[str, Any] = {"aps": aps}
        out.update(_data(c))
        if c.image:
            out["image"] = c.image
        return out

    return _fit(content, build, APNS_LIMIT)


def webpush_payload(content: PushContent) -> bytes:
    """The plaintext the service worker receives (Notification API shaped JSON)."""

    def build(c: PushContent) -> dict[str, Any]:
        out: dict[str, Any] = {"title": c.title, "body": c.body}
        if c.image:
            out["image"] = c.image
        if c.deep_link:
            out["url"] = c.deep_link
        if c.actions:
            out["actions"] = [{"action": a.id, "title": a.title} for a in c.actions]
        if c.badge is not None:
            out["badge_count"] = c.badge
        if c.collapse_key:
            out["tag"] = c.collapse_key
        if c.data:
            out["data"] = c.data
        return out

    return _fit(content, build, WEBPUSH_LIMIT)
