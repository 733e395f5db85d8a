"""Survey answers → per-question results: distributions, means, NPS. Pure.

NPS = % promoters (9 or 10) - % detractors (0 to 6) among those who answered, in -100..100.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tidings.analytics.schemas import QuestionResult


def questions_of(variants: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every question across variants and locales, first definition of each id wins."""
    seen: dict[str, dict[str, Any]] = {}
    for v in variants:
        for content in v.get("content", {}).values():
            for q in content.get("questions", []) if isinstance(content, dict) else []:
                seen.setdefault(q["id"], q)
    return list(seen.values())


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def nps(scores: Iterable[float]) -> float | None:
    values = list(scores)
    if not values:
        return None
    promoters = sum(1 for s in values if s >= 9)
    detractors = sum(1 for s in values if s <= 6)
    return 100.0 * (promoters - detractors) / len(values)


def summarize(
    questions: Sequence[Mapping[str, Any]], answers: Sequence[Mapping[str, Any]]
) -> list[QuestionResult]:
    """One result per question over every response's `answers` mapping."""
    out = []
    for q in questions:
        qid, kind = q["id"], q.get("kind", "text")
        given = [a[qid] for a in answers if qid in a and a[qid] is not None]
        counts: Counter[str] = Counter()
        numbers: list[float] = []
        for value in given:
            if kind == "multi_choice" and isinstance(value, list):
                counts.update(str(v) for v in value)
            elif kind in ("nps", "rating"):
                n = _number(value)
                if n is not None:
                    numbers.append(n)
                    counts[str(int(n)) if n.is_integer() else str(n)] += 1
            elif kind != "text":
                counts[str(value)] += 1
        out.append(
            QuestionResult(
                id=qid,
                kind=kind,
                prompt=str(q.get("prompt", "")),
                answered=len(given),
                distribution=dict(sorted(counts.items())),
                mean=sum(numbers) / len(numbers) if numbers else None,
                nps=nps(numbers) if kind == "nps" else None,
            )
        )
    return out


def free_text(
    questions: Sequence[Mapping[str, Any]], rows: Iterable[tuple[str, int, Mapping[str, Any]]]
) -> list[tuple[str, int, str, str]]:
    """(variant, user id, question id, text) of every free-text answer, for export."""
    text_ids = [q["id"] for q in questions if q.get("kind") == "text"]
    return [
        (variant, user_id, qid, str(answers[qid]))
        for variant, user_id, answers in rows
        for qid in text_ids
        if answers.get(qid) not in (None, "")
    ]
