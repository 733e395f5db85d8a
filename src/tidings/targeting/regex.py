"""Bounded regular expressions: a subset that Python `re` and PostgreSQL agree on.

Allowed: literals, `.`, classes `[a-z0-9_]` and `[^...]`, `\\d \\w \\s \\D \\W \\S` (the
lowercase ones inside classes too), escaped metacharacters, `\\n \\t`, anchors `^ $`,
alternation `|`, groups `( )` and `(?: )`, and greedy quantifiers `* + ? {m} {m,} {m,n}`
(n ≤ 100). Rejected: anything else (back-references, look-around, `\\b`, lazy or
possessive quantifiers, inline flags), patterns over 200 characters, a quantified group
that itself holds a quantifier or an alternation (the catastrophic-backtracking shapes
such as `(a+)+` and `(a|ab)*`), and more than two unbounded quantifiers. Matching is a
search anywhere in the value; `.` matches a newline and `$` only the very end, as in
PostgreSQL; case-insensitive matching uses `~*` there and IGNORECASE here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

MAX_PATTERN = 200
MAX_REPEAT = 100
MAX_UNBOUNDED = 2

_CLASS_ESCAPES = set("dwsDWS")
_LITERAL_ESCAPES = set("\\.^$|?*+()[]{}/-")
_QUANTIFIER_RE = re.compile(r"\{(\d{1,3})(,(\d{1,3})?)?\}")


class PatternError(ValueError):
    """A pattern outside the bounded subset; the message says why."""


@dataclass
class _Group:
    has_quantifier: bool = False
    has_alternation: bool = False


def check_pattern(pattern: str) -> str:
    """The pattern translated for Python's `re`; raises PatternError when not allowed."""
    if not isinstance(pattern, str) or not pattern:
        raise PatternError("a regex is a non-empty string")
    if len(pattern) > MAX_PATTERN:
        raise PatternError(f"a regex has at most {MAX_PATTERN} characters")
    out: list[str] = []
    groups: list[_Group] = [_Group()]
    atom: _Group | None = None  # what a quantifier here would repeat (None: nothing)
    unbounded = 0
    i = 0
    n = len(pattern)
    while i < n:
        c = pattern[i]
        if c in "*+?{":
            lo_hi = _quantifier(pattern, i)
            if atom is None:
                raise PatternError(f"nothing to repeat at position {i}")
            end, bounded = lo_hi
            if end < n and pattern[end] in "?+":
                raise PatternError("lazy and possessive quantifiers are not supported")
            if atom.has_quantifier or atom.has_alternation:
                raise PatternError(
                    "a repeated group may not itself repeat or alternate "
                    "(catastrophic backtracking)"
                )
            if not bounded:
                unbounded += 1
                if unbounded > MAX_UNBOUNDED:
                    raise PatternError(
                        f"at most {MAX_UNBOUNDED} unbounded quantifiers (* + {{m,}})"
                    )
            groups[-1].has_quantifier = True
            out.append(pattern[i:end])
            atom = None
            i = end
            continue
        if c == "\\":
            if i + 1 >= n:
                raise PatternError("a regex may not end with a backslash")
            e = pattern[i + 1]
            if e not in _CLASS_ESCAPES and e not in _LITERAL_ESCAPES and e not in "nt":
                raise PatternError(f"unsupported escape \\{e}")
            out.append(pattern[i : i + 2])
            atom = _Group()
            i += 2
            continue
        if c == "[":
            end = _class_end(pattern, i)
            out.append(pattern[i:end])
            atom = _Group()
            i = end
            continue
        if c == "(":
            if pattern.startswith("(?", i):
                if not pattern.startswith("(?:", i):
                    raise PatternError("only (?: ) groups are supported, no flags or look-around")
                out.append("(?:")
                i += 3
            else:
                out.append("(")
                i += 1
            groups.append(_Group())
            atom = None
            continue
        if c == ")":
            if len(groups) == 1:
                raise PatternError(f"unbalanced ) at position {i}")
            closed = groups.pop()
            groups[-1].has_quantifier |= closed.has_quantifier
            groups[-1].has_alternation |= closed.has_alternation
            out.append(")")
            atom = closed
            i += 1
            continue
        if c == "|":
            groups[-1].has_alternation = True
            out.append("|")
            atom = None
            i += 1
            continue
        if c in "^$":
            out.append("^" if c == "^" else r"\Z")
            atom = None
            i += 1
            continue
        if c in "]}":
            raise PatternError(f"unescaped {c} at position {i}")
        out.append(re.escape(c) if c not in "." else c)
        atom = _Group()
        i += 1
    if len(groups) != 1:
        raise PatternError("unbalanced (")
    translated = "".join(out)
    try:
        re.compile(translated)
    except re.error as exc:
        raise PatternError(f"not a valid regex: {exc}") from exc
    return translated


def _quantifier(pattern: str, i: int) -> tuple[int, bool]:
    """(end index, bounded?) of the quantifier starting at `i`."""
    c = pattern[i]
    if c == "?":
        return i + 1, True
    if c in "*+":
        return i + 1, False
    m = _QUANTIFIER_RE.match(pattern, i)
    if m is None:
        raise PatternError(f"unescaped {{ at position {i} (write \\{{ for a literal brace)")
    lo = int(m.group(1))
    hi = m.group(3)
    if lo > MAX_REPEAT or (hi is not None and (int(hi) > MAX_REPEAT or int(hi) < lo)):
        raise PatternError(f"repeat counts are at most {MAX_REPEAT}, with m ≤ n")
    bounded = m.group(2) is None or hi is not None
    return m.end(), bounded


def _class_end(pattern: str, i: int) -> int:
    """The index after the class starting at `i`, checking its contents."""
    j = i + 1
    if j < len(pattern) and pattern[j] == "^":
        j += 1
    if j < len(pattern) and pattern[j] == "]":
        raise PatternError("write \\] for a literal ] in a class")
    while j < len(pattern):
        c = pattern[j]
        if c == "]":
            if j == i + 1 or (j == i + 2 and pattern[i + 1] == "^"):
                raise PatternError("empty character class")
            return j + 1
        if c == "\\":
            e = pattern[j + 1] if j + 1 < len(pattern) else ""
            if e not in "dws" and e not in _LITERAL_ESCAPES and e not in "nt":
                raise PatternError(f"unsupported escape \\{e} in a class")
            j += 2
            continue
        if c == "[":
            raise PatternError("write \\[ for a literal [ in a class")
        if c == "-" and j + 1 < len(pattern) and pattern[j + 1] == "-":
            raise PatternError("-- in a class is ambiguous; escape it")
        j += 1
    raise PatternError("unterminated character class")


@lru_cache(maxsize=4096)
def compiled(pattern: str, case_insensitive: bool) -> re.Pattern[str]:
    """The Python matcher for an allowed pattern (checked again; cached)."""
    flags = re.DOTALL | (re.IGNORECASE if case_insensitive else 0)
    return re.compile(check_pattern(pattern), flags)


def matches(pattern: str, case_insensitive: bool, value: str) -> bool:
    """Search semantics, as in PostgreSQL's `~`."""
    return compiled(pattern, case_insensitive).search(value) is not None
