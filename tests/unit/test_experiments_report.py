"""The automatic winner rule and survey summaries (pure)."""

from __future__ import annotations

from tidings.analytics import report, survey
from tidings.analytics.queries import ArmCounts


def counts(**arms: tuple[int, int]) -> dict[str, ArmCounts]:
    return {k: ArmCounts(k, exposed=n, converted=x) for k, (n, x) in arms.items()}


def test_no_winner_before_the_minimum_sample() -> None:
    c = counts(a=(900, 90), b=(900, 200), control=(900, 90))
    assert report.auto_winner(["a", "b"], c, min_exposed=1000, alpha=0.05) is None
    assert report.auto_winner(["a", "b"], c, min_exposed=500, alpha=0.05) == "b"


def test_no_winner_without_significance_on_the_always_valid_test() -> None:
    # Fixed-horizon significant (z ≈ 2.3) but not on the always-valid test.
    c = counts(a=(5000, 500), b=(5000, 565))
    assert report.comparisons(["a", "b"], c)[1]["b"].p_value < 0.05
    assert report.auto_winner(["a", "b"], c, min_exposed=100, alpha=0.05) is None


def test_without_control_the_first_variant_can_win() -> None:
    c = counts(a=(3000, 600), b=(3000, 300), c=(3000, 310))
    assert report.auto_winner(["a", "b", "c"], c, min_exposed=100, alpha=0.05) == "a"


def test_variants_that_lose_to_control_never_win() -> None:
    c = counts(a=(3000, 100), control=(3000, 300))
    assert report.auto_winner(["a"], c, min_exposed=100, alpha=0.05) is None


def test_srm_uses_the_weights() -> None:
    assert report.srm({"a": 1, "b": 1}, {"a": 5000, "b": 5400}).flagged
    assert not report.srm({"a": 3, "control": 1}, {"a": 3000, "control": 1010}).flagged


def test_survey_summary_nps_distribution_and_free_text() -> None:
    questions = [
        {"id": "nps", "kind": "nps", "prompt": "?"},
        {"id": "pick", "kind": "multi_choice", "prompt": "?"},
        {"id": "why", "kind": "text", "prompt": "?"},
    ]
    answers = [
        {"nps": 10, "pick": ["x", "y"], "why": "great"},
        {"nps": 6, "pick": ["x"]},
        {"nps": 8},
    ]
    out = {q.id: q for q in survey.summarize(questions, answers)}
    assert out["nps"].nps == 0.0  # one promoter, one detractor, one passive
    assert out["nps"].mean == 8.0
    assert out["pick"].distribution == {"x": 2, "y": 1}
    assert out["why"].answered == 1
    rows = [("a", 1, answers[0]), ("a", 2, answers[1])]
    assert survey.free_text(questions, rows) == [("a", 1, "why", "great")]
