"""Counts → the campaign report: per arm rates, lift against the baseline, SRM, and the
automatic winner rule. Pure: values in, values out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from tidings.analytics.queries import ArmCounts
from tidings.analytics.schemas import ArmReport, Funnel, Interval, Lift, Srm
from tidings.experiments import stats
from tidings.experiments.assignment import CONTROL


def baseline(keys: Sequence[str], counts: Mapping[str, ArmCounts]) -> str | None:
    """The arm the variants are compared with: control when it has exposures, else the
    first variant."""
    if CONTROL in counts and counts[CONTROL].exposed > 0:
        return CONTROL
    return keys[0] if keys else None


def comparisons(
    keys: Sequence[str], counts: Mapping[str, ArmCounts], alpha: float = stats.ALPHA
) -> tuple[str | None, dict[str, stats.Comparison]]:
    base = baseline(keys, counts)
    if base is None or base not in counts:
        return base, {}
    b = counts[base]
    others = [
        stats.Arm(k, counts[k].exposed, counts[k].converted)
        for k in keys
        if k != base and k in counts and counts[k].exposed > 0
    ]
    found = stats.compare(stats.Arm(base, b.exposed, b.converted), others, alpha)
    return base, {c.variant: c for c in found}


def _interval(i: stats.Interval | None) -> Interval | None:
    return None if i is None else Interval(low=i.low, high=i.high)


def _lift(base: str, c: stats.Comparison) -> Lift:
    return Lift(
        against=base,
        absolute=c.absolute_lift,
        absolute_ci=Interval(low=c.absolute_ci.low, high=c.absolute_ci.high),
        relative=c.relative_lift,
        relative_ci=_interval(c.relative_ci),
        p_value=c.p_value,
        p_adjusted=c.p_adjusted,
        significant=c.significant,
        sequential_ci=Interval(low=c.sequential_ci.low, high=c.sequential_ci.high),
        sequential_p=c.sequential_p,
        chance_to_beat=c.chance_to_beat,
        expected_loss=c.expected_loss,
    )


def arm_reports(keys: Sequence[str], counts: Mapping[str, ArmCounts]) -> list[ArmReport]:
    """One report per arm: the variants in campaign order, then control, then any other
    key found in the rows (e.g. '' for rows suppressed before assignment)."""
    base, found = comparisons(keys, counts)
    order = [*keys, CONTROL, *sorted(k for k in counts if k not in keys and k != CONTROL)]
    out = []
    for k in order:
        if k not in counts and k not in keys:
            continue
        a = counts.get(k, ArmCounts(k))
        rate = a.converted / a.exposed if a.exposed else 0.0
        ci = stats.rate_interval(stats.Arm(k, a.exposed, a.converted))
        out.append(
            ArmReport(
                variant=k,
                targeted=a.targeted,
                suppressed=a.suppressed,
                failed=a.failed,
                sent=a.sent,
                delivered=a.delivered,
                exposed=a.exposed,
                displayed=a.displayed,
                clicked=a.clicked_rows,
                ctr=a.clicked_rows / a.displayed if a.displayed else 0.0,
                buttons=a.buttons,
                dismissed=a.dismissed,
                completed=a.completed,
                opens=a.opens,
                influenced_opens=a.influenced_opens,
                converted=a.converted,
                conversion_rate=rate,
                rate_ci=Interval(low=ci.low, high=ci.high),
                conversions=a.conversions,
                revenue=a.revenue,
                lift=_lift(base, found[k]) if base is not None and k in found else None,
            )
        )
    return out


def funnel(keys: Sequence[str], counts: Mapping[str, ArmCounts]) -> list[Funnel]:
    return [
        Funnel(
            variant=k,
            exposed=a.exposed,
            clicked=a.clicked,
            converted=a.converted,
            clicked_and_converted=a.clicked_converted,
        )
        for k in [*keys, CONTROL]
        if (a := counts.get(k)) is not None and a.exposed > 0
    ]


def srm(weights: Mapping[str, int], exposed: Mapping[str, int]) -> Srm:
    """Assignment counts (users by first-exposure arm) against the arms' weights."""
    keys = [k for k, w in weights.items() if w > 0]
    result = stats.srm([exposed.get(k, 0) for k in keys], [weights[k] for k in keys])
    return Srm(
        chi2=result.chi2,
        p_value=result.p_value,
        flagged=result.flagged,
        expected_weights=dict(weights),
    )


def auto_winner(
    keys: Sequence[str],
    counts: Mapping[str, ArmCounts],
    *,
    min_exposed: int,
    alpha: float,
) -> str | None:
    """The variant to send all traffic to, or None yet.

    Every arm needs `min_exposed` users. Because this is re-checked at every look, it
    reads the always-valid (sequential) p-values, Bonferroni-corrected over the variants:
    looking early and often cannot inflate the false-winner rate. Against control the
    best significantly better variant wins; with no control, a variant significantly
    better than the first wins, or the first when it beats every other one."""
    base, found = comparisons(keys, counts, alpha)
    arms = [k for k in [*keys, CONTROL] if k in counts and counts[k].exposed > 0]
    if base is None or not found or any(counts[k].exposed < min_exposed for k in arms):
        return None
    m = len(found)
    better = [c for c in found.values() if c.absolute_lift > 0 and c.sequential_p * m < alpha]
    if better:
        return max(better, key=lambda c: c.rate).variant
    if base != CONTROL and all(
        c.absolute_lift < 0 and c.sequential_p * m < alpha for c in found.values()
    ):
        return base
    return None
