"""One user's decision: every campaign's verdict, and the eligible ones in priority order."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from tidings.inapp import policy
from tidings.inapp.model import Budget, Shown, Spec, Verdict


def verdict(
    spec: Spec,
    *,
    user_id: int,
    in_audience: bool,
    history: Sequence[Shown],
    session_id: str | None,
    budget: Budget,
    timezone: str | None,
    now: datetime,
    check_budget: bool = True,
) -> Verdict:
    """Checks in order (schedule, audience, cap, display hours, budget, variant); the first
    failure is the reason. `occurrence` is the number the next showing will record."""
    mine = [s for s in history if s.campaign_id == spec.campaign_id and s.channel == "in_app"]
    occurrence = 1 + max((s.occurrence for s in mine), default=0)
    failure = policy.schedule(spec, now)
    if failure is None and not in_audience:
        failure = ("audience", "the user is not in the audience")
    failure = failure or policy.cap(spec, mine, now)
    failure = failure or policy.display_hours(spec, now, timezone)
    if check_budget and spec.format != "post":
        failure = failure or policy.budget(spec, history, session_id, budget, now)
    if failure is not None:
        return Verdict(spec.campaign_id, False, failure[0], failure[1], occurrence=occurrence)
    key = policy.variant(spec, user_id)
    if key == policy.CONTROL:
        return Verdict(spec.campaign_id, False, "control", "in the holdout group", key, occurrence)
    return Verdict(spec.campaign_id, True, "eligible", "", key, occurrence)


def decide(
    specs: Sequence[Spec],
    audience: Mapping[int, bool],
    *,
    user_id: int,
    history: Sequence[Shown],
    session_id: str | None,
    budget: Budget,
    timezone: str | None,
    now: datetime,
    limit: int | None = None,
) -> list[Verdict]:
    """Eligible verdicts, highest priority first (then newest campaign), at most `limit`
    plus any budget-exempt ones. The minimum gap is left to the impression check: a
    message due later in the session stays listed."""
    by_id = {s.campaign_id: s for s in specs}
    out = [
        verdict(
            s,
            user_id=user_id,
            in_audience=audience.get(s.campaign_id, False),
            history=history,
            session_id=session_id,
            budget=Budget(budget.max_inapp_per_session, budget.max_per_day, 0),
            timezone=timezone,
            now=now,
        )
        for s in specs
    ]
    eligible = [v for v in out if v.eligible]
    eligible.sort(key=lambda v: (-by_id[v.campaign_id].priority, -v.campaign_id))
    if limit is None or len(eligible) <= limit:
        return eligible
    # Beyond `limit` only budget-exempt notices are kept: nothing critical is cut.
    kept = eligible[:limit]
    return kept + [v for v in eligible[limit:] if by_id[v.campaign_id].exempt_from_budget]
