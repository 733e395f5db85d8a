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
    mine: Sequence[Shown] | None = None,
) -> Verdict:
    """Checks in order (schedule, audience, cap, display hours, budget, variant); the first
    failure is the reason. `occurrence` is the number the next showing will record."""
    if mine is None:
        mine = [s for s in history if s.campaign_id == spec.campaign_id and s.channel == "in_app"]
    # A logged holdout exposure is never displayed: it takes no occurrence number.
    occurrence = 1 + max((s.occurrence for s in mine if s.displayed_at is not None), default=0)
    stored = policy.stored_arm(mine)
    failure = policy.schedule(spec, now)
    if failure is None and not in_audience:
        failure = ("audience", "the user is not in the audience")
    failure = failure or policy.cap(spec, mine, now)
    failure = failure or policy.display_hours(spec, now, timezone)
    if check_budget and spec.format != "post":
        failure = failure or policy.budget(spec, history, session_id, budget, now)
    if failure is not None:
        return Verdict(spec.campaign_id, False, failure[0], failure[1], occurrence=occurrence)
    key = policy.variant(spec, user_id, stored)
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
    """Eligible and holdout (`control`) verdicts, highest priority first (then newest
    campaign), at most `limit` plus any budget-exempt ones. The minimum gap is left to the
    impression check: a message due later in the session stays listed."""
    by_id = {s.campaign_id: s for s in specs}
    # Each campaign's own showings, grouped once rather than filtered per campaign.
    own: dict[int, list[Shown]] = {}
    for shown in history:
        if shown.channel == "in_app":
            own.setdefault(shown.campaign_id, []).append(shown)
    session_budget = Budget(budget.max_inapp_per_session, budget.max_per_day, 0)
    # Only eligible verdicts are returned, so campaigns outside the audience (most, in a
    # big app) skip the other checks; `explain` calls `verdict` for the full story.
    out = [
        verdict(
            s,
            user_id=user_id,
            in_audience=True,
            history=history,
            session_id=session_id,
            budget=session_budget,
            timezone=timezone,
            now=now,
            mine=own.get(s.campaign_id, ()),
        )
        for s in specs
        if audience.get(s.campaign_id, False)
    ]
    # Holdout verdicts come back too: the SDK logs their exposure when the trigger fires
    # (and shows nothing), so lift against showing nothing is measured at the same moment.
    eligible = [v for v in out if v.eligible or v.reason == policy.CONTROL]
    eligible.sort(key=lambda v: (-by_id[v.campaign_id].priority, -v.campaign_id))
    if limit is None or len(eligible) <= limit:
        return eligible
    # Beyond `limit` only budget-exempt notices are kept: nothing critical is cut.
    kept = eligible[:limit]
    return kept + [v for v in eligible[limit:] if by_id[v.campaign_id].exempt_from_budget]
