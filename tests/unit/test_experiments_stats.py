"""Experiment statistics: the numbers match statsmodels and gbstats on the same counts, and
simulated experiments with a known truth behave as the stated error rates promise."""

from __future__ import annotations

import numpy as np
import pytest
from gbstats.bayesian.tests import EffectBayesianABTest, EffectBayesianConfig
from gbstats.frequentist.tests import (
    FrequentistConfig,
    SequentialConfig,
    SequentialTwoSidedTTest,
    TwoSidedTTest,
)
from gbstats.models.statistics import ProportionStatistic
from gbstats.utils import check_srm
from statsmodels.stats import proportion as sm
from statsmodels.stats.multitest import multipletests

from tidings.experiments import stats as S

COUNTS = [(10_000, 1_000, 10_000, 1_100), (2_400, 130, 2_600, 171), (50_000, 2_500, 49_000, 2_380)]


@pytest.mark.parametrize(("na", "xa", "nb", "xb"), COUNTS)
def test_absolute_lift_matches_statsmodels(na: int, xa: int, nb: int, xb: int) -> None:
    diff, ci, p = S.absolute(S.Arm("control", na, xa), S.Arm("b", nb, xb))
    low, high = sm.confint_proportions_2indep(xb, nb, xa, na, method="wald", compare="diff")
    ref = sm.test_proportions_2indep(xb, nb, xa, na, method="wald", compare="diff")
    assert diff == pytest.approx(xb / nb - xa / na, abs=1e-12)
    assert (ci.low, ci.high) == pytest.approx((low, high), rel=1e-9)
    assert p == pytest.approx(ref.pvalue, rel=1e-9)


@pytest.mark.parametrize(("na", "xa", "nb", "xb"), COUNTS)
def test_rate_interval_matches_statsmodels_wilson(na: int, xa: int, nb: int, xb: int) -> None:
    ci = S.rate_interval(S.Arm("b", nb, xb))
    assert (ci.low, ci.high) == pytest.approx(sm.proportion_confint(xb, nb, method="wilson"))


@pytest.mark.parametrize(("na", "xa", "nb", "xb"), COUNTS)
def test_relative_lift_matches_gbstats_delta_method(na: int, xa: int, nb: int, xb: int) -> None:
    a, b = ProportionStatistic(n=na, sum=xa), ProportionStatistic(n=nb, sum=xb)
    test = TwoSidedTTest(a, b, FrequentistConfig(difference_type="relative"))
    ref = test.compute_result()
    got = S.relative(S.Arm("control", na, xa), S.Arm("b", nb, xb))
    assert got is not None
    lift, ci = got
    assert lift == pytest.approx(ref.expected, rel=1e-9)
    # Same delta-method standard error; gbstats uses Welch's t, we use z (dof in 1000s).
    assert (ci.high - ci.low) / (2 * S._z(0.05)) == pytest.approx(np.sqrt(test.variance), rel=1e-9)
    assert (ci.low, ci.high) == pytest.approx(ref.ci, rel=2e-3)


@pytest.mark.parametrize(("na", "xa", "nb", "xb"), COUNTS)
def test_sequential_matches_gbstats(na: int, xa: int, nb: int, xb: int) -> None:
    a, b = ProportionStatistic(n=na, sum=xa), ProportionStatistic(n=nb, sum=xb)
    ref = SequentialTwoSidedTTest(a, b, SequentialConfig(difference_type="absolute"))
    result = ref.compute_result()
    ci, p = S.sequential(S.Arm("control", na, xa), S.Arm("b", nb, xb))
    assert (ci.low, ci.high) == pytest.approx(result.ci, rel=1e-9)
    assert p == pytest.approx(result.p_value, rel=1e-9)
    # Always valid costs width: the sequence is wider than the fixed-horizon interval.
    fixed = S.absolute(S.Arm("control", na, xa), S.Arm("b", nb, xb))[1]
    assert ci.high - ci.low > fixed.high - fixed.low


@pytest.mark.parametrize(("na", "xa", "nb", "xb"), COUNTS)
def test_bayesian_agrees_with_gbstats_and_monte_carlo(na: int, xa: int, nb: int, xb: int) -> None:
    chance, loss = S.beta_binomial(S.Arm("control", na, xa), S.Arm("b", nb, xb))
    a, b = ProportionStatistic(n=na, sum=xa), ProportionStatistic(n=nb, sum=xb)
    ref = EffectBayesianABTest(a, b, EffectBayesianConfig(difference_type="absolute"))
    result = ref.compute_result()
    # gbstats uses a normal approximation of the same posterior: close at these sizes.
    assert chance == pytest.approx(result.chance_to_win, abs=0.01)
    assert loss == pytest.approx(result.risk[1], abs=2e-4)
    rng = np.random.default_rng(7)
    pa = rng.beta(1 + xa, 1 + na - xa, 1_000_000)
    pb = rng.beta(1 + xb, 1 + nb - xb, 1_000_000)
    assert chance == pytest.approx(float((pb > pa).mean()), abs=0.003)
    assert loss == pytest.approx(float(np.maximum(pa - pb, 0).mean()), rel=0.03, abs=1e-6)


def test_srm_matches_gbstats_and_flags_skew() -> None:
    for counts, weights in [([5000, 5400], [1, 1]), ([3000, 1000, 1100], [2, 1, 1])]:
        assert S.srm(counts, weights).p_value == pytest.approx(
            check_srm(counts, [w / sum(weights) for w in weights]), rel=1e-9
        )
    assert S.srm([5000, 5400], [1, 1]).flagged
    assert not S.srm([5000, 5050], [1, 1]).flagged
    assert not S.srm([3000, 1000, 1010], [3, 1, 1]).flagged


def test_holm_matches_statsmodels() -> None:
    pvals = [0.01, 0.04, 0.03, 0.2, 0.001]
    assert S.holm(pvals) == pytest.approx(list(multipletests(pvals, method="holm")[1]))


def test_compare_corrects_for_several_variants() -> None:
    control = S.Arm("control", 5000, 500)
    variants = [S.Arm("b", 5000, 560), S.Arm("c", 5000, 505), S.Arm("d", 5000, 498)]
    out = S.compare(control, variants)
    assert [c.variant for c in out] == ["b", "c", "d"]
    assert all(c.p_adjusted >= c.p_value for c in out)
    assert out[0].p_adjusted == pytest.approx(3 * out[0].p_value)
    assert out[0].chance_to_beat > 0.9 > out[2].chance_to_beat


# Simulations: fixed seeds, so deterministic; bands wide enough for 400 runs (±3 sd).
SEEDS = 400


def _simulate(seed: int, p_control: float, p_variant: float, n: int) -> tuple[S.Arm, S.Arm]:
    rng = np.random.default_rng(seed)
    return (
        S.Arm("control", n, int(rng.binomial(n, p_control))),
        S.Arm("b", n, int(rng.binomial(n, p_variant))),
    )


def test_interval_covers_the_true_effect_at_the_stated_rate() -> None:
    p_a, p_b = 0.10, 0.12
    covered_abs = covered_rel = 0
    for seed in range(SEEDS):
        control, variant = _simulate(seed, p_a, p_b, 3000)
        covered_abs += S.absolute(control, variant)[1].covers(p_b - p_a)
        rel = S.relative(control, variant)
        assert rel is not None
        covered_rel += rel[1].covers(p_b / p_a - 1)
    assert 0.92 <= covered_abs / SEEDS <= 0.98
    assert 0.92 <= covered_rel / SEEDS <= 0.98


def test_a_a_is_not_significant_more_often_than_alpha() -> None:
    false = 0
    for seed in range(SEEDS):
        control, variant = _simulate(seed, 0.08, 0.08, 3000)
        false += S.compare(control, [variant])[0].significant
    assert false / SEEDS <= 0.05 + 0.03


def test_sequential_stays_valid_when_peeking() -> None:
    """Looking ten times and stopping at the first p < 0.05: the fixed test's error rate
    inflates well past alpha, the always-valid one stays below it."""
    peeking_fixed = peeking_seq = 0
    for seed in range(SEEDS):
        rng = np.random.default_rng(10_000 + seed)
        a = rng.random(4000) < 0.1
        b = rng.random(4000) < 0.1
        looks = range(400, 4001, 400)
        arms = [
            (S.Arm("control", n, int(a[:n].sum())), S.Arm("b", n, int(b[:n].sum()))) for n in looks
        ]
        peeking_fixed += any(S.absolute(c, v)[2] < 0.05 for c, v in arms)
        peeking_seq += any(S.sequential(c, v)[1] < 0.05 for c, v in arms)
    assert peeking_fixed / SEEDS > 0.08
    assert peeking_seq / SEEDS <= 0.05 + 0.02


def test_srm_is_flagged_when_assignment_is_skewed() -> None:
    skewed = balanced = 0
    for seed in range(SEEDS):
        rng = np.random.default_rng(20_000 + seed)
        fair = rng.multinomial(20_000, [0.5, 0.5])
        biased = rng.multinomial(20_000, [0.48, 0.52])
        balanced += S.srm(list(fair), [1, 1]).flagged
        skewed += S.srm(list(biased), [1, 1]).flagged
    assert skewed / SEEDS >= 0.95
    assert balanced / SEEDS <= 0.01
