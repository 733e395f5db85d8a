"""The demo's keys, kept in a small JSON file (mode 0600) next to the demo database.

Server keys are shown once and stored hashed, so this file is how a second `tidings demo`
run can print the same server key again.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson


@dataclass
class DemoKeys:
    workspace_id: int
    app_id: int
    write_key: str
    server_key: str
    identity_secret: str
    seeded_users: int = 0  # how many users the last completed seeding created


def path_for(database: Path) -> Path:
    """`tidings-demo.db` keeps its keys in `tidings-demo.keys.json`."""
    return database.with_name(database.stem + ".keys.json")


def load(path: Path) -> DemoKeys | None:
    """The stored keys, or None when the file is missing or not ours."""
    try:
        raw: Any = orjson.loads(path.read_bytes())
        return DemoKeys(**raw)
    except (OSError, orjson.JSONDecodeError, TypeError):
        return None


def save(path: Path, keys: DemoKeys) -> None:
    """Write atomically, readable by the owner only (it holds a secret server key)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(orjson.dumps(asdict(keys), option=orjson.OPT_INDENT_2))
    os.chmod(tmp, 0o600)  # an older tmp file may have had wider permissions
    os.replace(tmp, path)
