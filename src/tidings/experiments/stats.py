"""Conversion statistics for one experiment: each variant against the control arm.

Pure (numpy/scipy only). Counts in, numbers out; formulas and references are in
docs/analytics.md. Frequentist intervals are Wald (normal) intervals; the relative lift
uses the delta method; the always-valid option is the asymptotic confidence sequence of
Waudby-Smith et al. (2023), as gbstats computes it; several variants are corrected with
Holm's step-down method.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special, stats

ALPHA = 0.05
SRM_THRESHOLD = 0.001
# Waudby-Smith's tuning: the sample size where the sequence is tightest.
SEQUENTIAL_TUNING = 5000.0
_GRID = 4096


@dataclass(frozen=True, slots=True)
class Arm:
    """One arm's units (exposed users) and how many of them converted."""

    key: str
    exposed: int
    converted: int

    @property
    def rate(self) -> float:
        return self.converted / self.exposed if self.exposed else 0.0


@dataclass(frozen=True, slots=True)
class Interval:
    low: float
    high: float

    def covers(self, value: float) -> bool:
        return self.low <= value <= self.high


@dataclass(frozen=True, slots=True)
class Comparison:
    """A variant against control. `relative*` are None when control never converted."""

    variant: str
    rate: float
    control_rate: float
    absolute_lift: float
    absolute_ci: Interval
    relative_lift: float | None
    relative_ci: Interval | None
    p_value: float
    p_adjusted: float
    significant: bool
    sequential_ci: Interval
    sequential_p: float
    chance_to_beat: float
    expected_loss: float


@dataclass(frozen=True, slots=True)
class Srm:
    """Sample-ratio mismatch: chi-square of assignment counts against the weights."""

    chi2: float
    p_value: float
    flagged: bool


def _z(alpha: float) -> float:
    return float(stats.norm.ppf(1 - alpha / 2))


def rate_interval(arm: Arm, alpha: float = ALPHA) -> Interval:
    """Wilson score interval for one arm's conversion rate."""
    if arm.exposed == 0:
        return Interval(0.0, 1.0)
    z = _z(alpha)
    n, p = arm.exposed, arm.rate
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return Interval(centre - half, centre + half)


def _var(arm: Arm) -> float:
    return arm.rate * (1 - arm.rate)


def absolute(control: Arm, variant: Arm, alpha: float = ALPHA) -> tuple[float, Interval, float]:
    """(difference of rates, its Wald interval, two-sided unpooled z-test p-value)."""
    diff = variant.rate - control.rate
    se = math.sqrt(_var(control) / control.exposed + _var(variant) / variant.exposed)
    if se == 0:
        return diff, Interval(diff, diff), 1.0 if diff == 0 else 0.0
    z = _z(alpha)
    p = float(2 * stats.norm.sf(abs(diff) / se))
    return diff, Interval(diff - z * se, diff + z * se), p


def relative(control: Arm, variant: Arm, alpha: float = ALPHA) -> tuple[float, Interval] | None:
    """(variant rate / control rate - 1, its delta-method interval); None if control is 0."""
    pa, pb = control.rate, variant.rate
    if pa == 0:
        return None
    lift = pb / pa - 1
    var = _var(variant) / (pa**2 * variant.exposed) + _var(control) * pb**2 / (
        pa**4 * control.exposed
    )
    half = _z(alpha) * math.sqrt(var)
    return lift, Interval(lift - half, lift + half)


def sequential(
    control: Arm, variant: Arm, alpha: float = ALPHA, tuning: float = SEQUENTIAL_TUNING
) -> tuple[Interval, float]:
    """Always-valid interval and p-value for the absolute difference: valid however often
    one looks (asymptotic confidence sequence, Waudby-Smith et al. 2023, eqs. 9 and 155)."""
    diff = variant.rate - control.rate
    n = control.exposed + variant.exposed
    var = _var(control) / control.exposed + _var(variant) / variant.exposed
    rho2 = (-2 * math.log(alpha) + math.log(-2 * math.log(alpha) + 1)) / tuning
    if var == 0:
        return Interval(diff, diff), 1.0 if diff == 0 else 0.0
    s2 = var * n
    width = math.sqrt(s2) * math.sqrt(
        2 * (n * rho2 + 1) * math.log(math.sqrt(n * rho2 + 1) / alpha) / (n * n * rho2)
    )
    st2 = diff * diff * n / var
    tr = n * rho2 + 1
    log_e = rho2 * st2 / (2 * tr) - 0.5 * math.log(tr)
    p = 1.0 if log_e <= 0 else math.exp(-log_e)
    return Interval(diff - width, diff + width), p


def beta_binomial(control: Arm, variant: Arm) -> tuple[float, float]:
    """(P(variant rate > control rate), expected loss of choosing the variant) under
    independent Beta(1 + converted, 1 + not converted) posteriors, by quadrature."""
    a1, b1 = 1 + control.converted, 1 + control.exposed - control.converted
    a2, b2 = 1 + variant.converted, 1 + variant.exposed - variant.converted
    eps = 1e-12
    lo = min(stats.beta.ppf(eps, a1, b1), stats.beta.ppf(eps, a2, b2))
    hi = max(stats.beta.isf(eps, a1, b1), stats.beta.isf(eps, a2, b2))
    x = np.linspace(lo, hi, _GRID)
    dx = x[1] - x[0]
    f_variant = np.exp(stats.beta.logpdf(x, a2, b2))
    # P(V > C) = ∫ f_C(c) P(V > c) dc; the loss E[max(C - V, 0)] = ∫ f_V(v) E[(C - v)+] dv,
    # with E[(C - v)+] = mean_C * SF_Beta(a1+1, b1)(v) - v * SF_Beta(a1, b1)(v).
    f_control = np.exp(stats.beta.logpdf(x, a1, b1))
    chance = float(np.sum(f_control * special.betaincc(a2, b2, x)) * dx)
    mean_c = a1 / (a1 + b1)
    tail = mean_c * special.betaincc(a1 + 1, b1, x) - x * special.betaincc(a1, b1, x)
    loss = float(np.sum(f_variant * tail) * dx)
    return min(max(chance, 0.0), 1.0), max(loss, 0.0)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm step-down adjusted p-values (family-wise error at most alpha)."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    out = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        out[i] = running
    return out


def srm(counts: Sequence[int], weights: Sequence[float], threshold: float = SRM_THRESHOLD) -> Srm:
    """Chi-square goodness of fit of the arms' unit counts to their weights; flagged below
    `threshold` (0.001, as GrowthBook: a true 50/50 split is flagged once in 1000)."""
    total = sum(counts)
    weight_sum = sum(weights)
    pairs = [(c, w) for c, w in zip(counts, weights, strict=True) if w > 0]
    if total == 0 or weight_sum <= 0 or len(pairs) < 2:
        return Srm(0.0, 1.0, False)
    live = sum(w for _, w in pairs)
    expected = [total * w / live for _, w in pairs]
    chi2 = sum((c - e) ** 2 / e for (c, _), e in zip(pairs, expected, strict=True))
    p = float(stats.chi2.sf(chi2, len(pairs) - 1))
    return Srm(chi2, p, p < threshold)


def compare(control: Arm, variants: Sequence[Arm], alpha: float = ALPHA) -> list[Comparison]:
    """Every variant against control, Holm-corrected across the variants."""
    usable = [v for v in variants if v.exposed > 0 and control.exposed > 0]
    raw = [absolute(control, v, alpha) for v in usable]
    adjusted = holm([r[2] for r in raw])
    out = []
    for v, (diff, ci, p), p_adj in zip(usable, raw, adjusted, strict=True):
        rel = relative(control, v, alpha)
        seq_ci, seq_p = sequential(control, v, alpha)
        chance, loss = beta_binomial(control, v)
        out.append(
            Comparison(
                variant=v.key,
                rate=v.rate,
                control_rate=control.rate,
                absolute_lift=diff,
                absolute_ci=ci,
                relative_lift=rel[0] if rel else None,
                relative_ci=rel[1] if rel else None,
                p_value=p,
                p_adjusted=p_adj,
                significant=p_adj < alpha,
                sequential_ci=seq_ci,
                sequential_p=seq_p,
                chance_to_beat=chance,
                expected_loss=loss,
            )
        )
    return out
