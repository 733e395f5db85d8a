"""Semantic versions as sortable text keys, so Python and SQL compare them the same way.

Lenient on purpose (app and OS versions in the wild): an optional `v`, one to three
numeric parts (missing ones are 0, so "14" == "14.0.0"), an optional pre-release and an
ignored `+build`. Anything else is not a version: every comparison with it is false.

Key layout: each core part zero-padded to 9 digits; then `~` for a release, or `-` and
the pre-release identifiers joined by `!` (numeric ones `0` + 10 digits, others `1` +
text). `!` sorts below every identifier character and `-` below `~`, so byte order of
keys is semver precedence: 1.0.0-alpha < 1.0.0-alpha.1 < 1.0.0-beta.2 < 1.0.0-beta.11 <
1.0.0-rc.1 < 1.0.0. The PostgreSQL function `tidings_semver_key` (migration 0002) is
this function in SQL; SQLite gets this one registered.
"""

from __future__ import annotations

import re
from functools import lru_cache

VERSION_RE = re.compile(
    r"^[vV]?([0-9]{1,9})(?:\.([0-9]{1,9}))?(?:\.([0-9]{1,9}))?"
    r"(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z.-]*)?\Z"
)
_NUMERIC = re.compile(r"^[0-9]+$")


@lru_cache(maxsize=65536)
def semver_key(text: str | None) -> str | None:
    """The sortable key of a version string, or None when it is not a version."""
    if text is None:
        return None
    m = VERSION_RE.match(text)
    if m is None:
        return None
    major, minor, patch, pre = m.groups()
    key = f"{int(major):09d}.{int(minor or 0):09d}.{int(patch or 0):09d}"
    if pre is None:
        return key + "~"
    parts = []
    for ident in pre.split("."):
        if _NUMERIC.match(ident):
            if len(ident) > 10:
                return None
            parts.append(f"0{int(ident):010d}")
        else:
            parts.append("1" + ident)
    return key + "-" + "!".join(parts)
