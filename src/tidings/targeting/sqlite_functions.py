"""The SQLite functions compiled rules call: the Python code itself, so SQLite and the
Python compiler cannot disagree. (PostgreSQL has `tidings_semver_key` from migration 0002
and does the rest in plain SQL.)"""

from __future__ import annotations

from typing import Any

from tidings.targeting import regex, semver
from tidings.targeting.geo import distance_km


def install_functions(dbapi_connection: Any) -> None:
    """Register the SQLite functions compiled rules call (same code as the Python side)."""
    dbapi_connection.create_function("tidings_semver_key", 1, _semver_key, deterministic=True)
    dbapi_connection.create_function("tidings_regexp", 3, _regexp, deterministic=True)
    dbapi_connection.create_function("tidings_distance_km", 4, _distance, deterministic=True)


def _semver_key(value: Any) -> str | None:
    return semver.semver_key(value) if isinstance(value, str) else None


def _regexp(pattern: str, case_insensitive: int, value: Any) -> int:
    return int(isinstance(value, str) and regex.matches(pattern, bool(case_insensitive), value))


def _distance(lat: float, lon: float, lat0: float, lon0: float) -> float:
    return distance_km(lat, lon, lat0, lon0)
