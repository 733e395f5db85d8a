"""Semver keys sort exactly as semver precedence says (with our lenient parse)."""

from __future__ import annotations

import functools
import re

from hypothesis import given
from hypothesis import strategies as st

from tidings.targeting.semver import semver_key

ORDERED = [
    "0.9.9",
    "1.0.0-0",
    "1.0.0-2",
    "1.0.0-10",
    "1.0.0-alpha",
    "1.0.0-alpha.1",
    "1.0.0-alpha.beta",
    "1.0.0-alpha-1",
    "1.0.0-beta",
    "1.0.0-beta.2",
    "1.0.0-beta.11",
    "1.0.0-rc.1",
    "1.0.0",
    "1.0.1",
    "1.2",
    "1.10.0",
    "2",
    "10.0.0",
]


def test_precedence_of_known_versions() -> None:
    keys = [semver_key(v) for v in ORDERED]
    assert None not in keys
    assert keys == sorted(keys, key=lambda k: (k or "").encode())
    assert len(set(keys)) == len(keys)


def test_lenient_forms_and_non_versions() -> None:
    assert (
        semver_key("14") == semver_key("14.0.0") == semver_key("v14.0") == semver_key("14.0.0+b7")
    )
    for text in [
        "",
        "latest",
        "1.2.3.4",
        "1..2",
        "1.2.3-",
        "1.2.3-a..b",
        " 1.2",
        "1.2\n",
        "1.0.0-12345678901",
        "٣",
    ]:
        assert semver_key(text) is None, text
    assert semver_key(None) is None


def _reference_compare(a: str, b: str) -> int:
    """semver.org section 11, written out, for the versions the strategy makes."""

    def parts(v: str) -> tuple[list[int], list[str] | None]:
        v = v.lstrip("vV").split("+", 1)[0]
        core, _, pre = v.partition("-")
        nums = [int(x) for x in core.split(".")] + [0, 0]
        return nums[:3], (pre.split(".") if pre else None)

    (ca, pa), (cb, pb) = parts(a), parts(b)
    if ca != cb:
        return -1 if ca < cb else 1
    if pa is None or pb is None:
        return (pa is None) - (pb is None)
    for x, y in zip(pa, pb, strict=False):
        if x == y:
            continue
        xn, yn = x.isdigit(), y.isdigit()
        if xn and yn:
            return -1 if int(x) < int(y) else 1
        if xn != yn:
            return -1 if xn else 1
        return -1 if x < y else 1
    return (len(pa) > len(pb)) - (len(pa) < len(pb))


identifier = st.one_of(
    st.integers(0, 30).map(str),
    st.text("abcXY-", min_size=1, max_size=4).filter(lambda s: not s.isdigit()),
)
versions = st.builds(
    lambda core, pre, v: (
        ("v" if v else "") + ".".join(map(str, core)) + (f"-{'.'.join(pre)}" if pre else "")
    ),
    st.lists(st.integers(0, 12), min_size=1, max_size=3),
    st.lists(identifier, max_size=3),
    st.booleans(),
)


@given(versions, versions)
def test_key_order_is_semver_precedence(a: str, b: str) -> None:
    ka, kb = semver_key(a), semver_key(b)
    assert ka is not None
    assert kb is not None
    by_key = (ka.encode() > kb.encode()) - (ka.encode() < kb.encode())
    assert by_key == _reference_compare(a, b)


@given(st.text(max_size=12))
def test_anything_else_is_a_version_or_none_never_an_error(text: str) -> None:
    key = semver_key(text)
    pattern = re.compile(
        r"^[vV]?[0-9]+(\.[0-9]+){0,2}(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]*)?\Z", re.ASCII
    )
    if key is not None:
        assert pattern.match(text)


def test_sorting_with_keys_matches_the_reference() -> None:
    shuffled = list(reversed(ORDERED))
    by_key = sorted(shuffled, key=lambda v: (semver_key(v) or "").encode())
    by_reference = sorted(shuffled, key=functools.cmp_to_key(_reference_compare))
    assert by_key == by_reference == ORDERED
