"""One user's decision: every campaign's verdict, and the eligible ones in priority order."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from tidings.inapp import policy
from tidings.inapp.model import Budget, Shown, Spec, Verdict

# Who is in a campaign's audience: known answers by campaign id, or a check asked only
# for the campaigns the decision gets to (most of a big app's never are).
Audience = Mapping[int, bool] | Callable[[Spec], bool]


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
    spent: policy.Failure = None
    if check_budget and spec.format != "post":
        spent = policy.budget(spec, history, session_id, budget, now)
    return _verdict(spec, user_id, in_audience, mine, spent, timezone, now)


def _verdict(
    spec: Spec,
    user_id: int,
    in_audience: bool,
    mine: Sequence[Shown],
    spent: policy.Failure,
    timezone: str | None,
    now: datetime,
) -> Verdict:
    """`verdict` with the user's own showings and the budget's answer already known."""
    # A logged holdout exposure is never displayed: it takes no occurrence number.
    occurrence = (
        1 + max((s.occurrence for s in mine if s.displayed_at is not None), default=0)
        if mine
        else 1
    )
    failure = policy.schedule(spec, now)
    if failure is None and not in_audience:
        failure = ("audience", "the user is not in the audience")
    if mine:
        failure = failure or policy.cap(spec, mine, now)
    failure = failure or policy.display_hours(spec, now, timezone) or spent
    if failure is not None:
        return Verdict(spec.campaign_id, False, failure[0], failure[1], occurrence=occurrence)
    key = policy.variant(spec, user_id, policy.stored_arm(mine) if mine else None)
    if key == policy.CONTROL:
        return Verdict(spec.campaign_id, False, "control", "in the holdout group", key, occurrence)
    return Verdict(spec.campaign_id, True, "eligible", "", key, occurrence)


def by_priority(specs: Sequence[Spec]) -> list[Spec]:
    """Highest priority first, then the newest campaign: the order decisions list."""
    return sorted(specs, key=lambda s: (-s.priority, -s.campaign_id))


def decide(
    specs: Sequence[Spec],
    audience: Audience,
    *,
    user_id: int,
    history: Sequence[Shown],
    session_id: str | None,
    budget: Budget,
    timezone: str | None,
    now: datetime,
    limit: int | None = None,
    ordered: bool = False,
) -> list[Verdict]:
    """Eligible and holdout (`control`) verdicts, highest priority first (then newest
    campaign), at most `limit` plus any budget-exempt ones. The minimum gap is left to the
    impression check: a message due later in the session stays listed. `ordered` says
    `specs` already come `by_priority`."""
    in_audience: Callable[[Spec], bool]
    if isinstance(audience, Mapping):
        known = audience
        in_audience = lambda s: known.get(s.campaign_id, False)  # noqa: E731
    else:
        in_audience = audience
    # Each campaign's own showings, grouped once rather than filtered per campaign.
    own: dict[int, list[Shown]] = {}
    for shown in history:
        if shown.channel == "in_app":
            own.setdefault(shown.campaign_id, []).append(shown)
    session_budget = Budget(budget.max_inapp_per_session, budget.max_per_day, 0)
    spent = policy.spent(history, session_id, session_budget, now)
    # Holdout verdicts come back too: the SDK logs their exposure when the trigger fires
    # (and shows nothing), so lift against showing nothing is measured at the same moment.
    # Walking in priority order lets a full list skip the rest's checks (audience
    # included); only budget-exempt notices are looked at past `limit`: nothing critical
    # is cut.
    out: list[Verdict] = []
    for s in specs if ordered else by_priority(specs):
        if limit is not None and len(out) >= limit and not s.exempt_from_budget:
            continue
        if not in_audience(s):
            continue
        charged = None if s.exempt_from_budget or s.format == "post" else spent
        v = _verdict(s, user_id, True, own.get(s.campaign_id, ()), charged, timezone, now)
        if v.eligible or v.reason == policy.CONTROL:
            out.append(v)
    return out
