"""Pick a locale's content by a fallback chain: `fa-IR` → `fa` → the default locale."""

from __future__ import annotations

from collections.abc import Collection


def fallback_chain(wanted: str | None, default: str) -> list[str]:
    """Locales to try in order, most specific first, ending with `default`."""
    chain: list[str] = []
    if wanted:
        parts = wanted.replace("_", "-").split("-")
        for n in range(len(parts), 0, -1):
            tag = "-".join(parts[:n])
            if tag not in chain:
                chain.append(tag)
    if default not in chain:
        chain.append(default)
    return chain


def pick_locale(available: Collection[str], wanted: str | None, default: str) -> str:
    """The first locale of the chain that has content (case-insensitive match)."""
    lowered = {a.lower(): a for a in available}
    for tag in fallback_chain(wanted, default):
        if tag.lower() in lowered:
            return lowered[tag.lower()]
    return default
