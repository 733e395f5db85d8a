"""Arm assignment: deterministic, uniform over the weights, sticky across re-weighting, and
the winner takes the remaining traffic while the holdout stays held out."""

from __future__ import annotations

from collections import Counter

from scipy import stats

from tidings.experiments.assignment import CONTROL, assign, by_hash
from tidings.inapp import policy
from tidings.inapp.model import Spec

USERS = range(1, 60_001)


def test_assignment_is_deterministic() -> None:
    arms = [("a", 1), ("b", 1), (CONTROL, 1)]
    first = [by_hash(7, u, arms) for u in range(1, 2000)]
    assert first == [by_hash(7, u, arms) for u in range(1, 2000)]
    assert first != [by_hash(8, u, arms) for u in range(1, 2000)]  # campaigns independent


def test_assignment_is_uniform_over_the_weights_chi_square() -> None:
    for arms in ([("a", 1), ("b", 1)], [("a", 50), ("b", 30), (CONTROL, 20)], [("a", 7)]):
        counts = Counter(by_hash(42, u, arms) for u in USERS)
        total = sum(w for _, w in arms)
        expected = [len(USERS) * w / total for _, w in arms]
        observed = [counts[k] for k, _ in arms]
        if len(arms) > 1:
            assert stats.chisquare(observed, expected).pvalue > 0.001


def test_reweighting_moves_no_user_already_exposed() -> None:
    before = [("a", 1), ("b", 1)]
    stored = {u: by_hash(3, u, [*before, (CONTROL, 1)]) for u in range(1, 5001)}
    after = [("a", 1), ("b", 9)]
    moved = sum(assign(3, u, after, 1, stored=arm) != arm for u, arm in stored.items())
    assert moved == 0
    # Without the stored arm the new weights would have moved many of them.
    assert sum(by_hash(3, u, [*after, (CONTROL, 1)]) != a for u, a in stored.items()) > 1000


def test_new_users_follow_the_new_weights() -> None:
    counts = Counter(assign(5, u, [("a", 1), ("b", 3)], 0) for u in USERS)
    assert stats.chisquare([counts["a"], counts["b"]], [15_000, 45_000]).pvalue > 0.001


def test_winner_takes_traffic_but_the_holdout_stays() -> None:
    variants = [("a", 1), ("b", 1)]
    assert assign(1, 10, variants, 1, winner="b") == "b"  # new user
    assert assign(1, 10, variants, 1, stored="a", winner="b") == "b"  # exposed to a loser
    assert assign(1, 10, variants, 1, stored=CONTROL, winner="b") == CONTROL
    assert assign(1, 10, variants, 1, stored="gone") in {"a", "b", CONTROL}  # removed arm


def test_policy_variant_reads_stored_arm_and_winner() -> None:
    spec = Spec(campaign_id=9, format="modal", status="active", variants=(("a", 1), ("b", 1)))
    fresh = policy.variant(spec, 123)
    other = "a" if fresh == "b" else "b"
    assert policy.variant(spec, 123, other) == other
    won = Spec(campaign_id=9, format="modal", status="active", variants=spec.variants, winner="a")
    assert {policy.variant(won, u) for u in range(1, 200)} == {"a"}
