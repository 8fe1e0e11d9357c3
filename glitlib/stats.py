"""The statistics every claim of the book is tested with, in one place.

* :func:`rank_agreement` -- Kendall's tau-b and Spearman's rho of two scorings of the
  same items, with their p-values (no tie threshold: ties only where values are equal);
* :func:`paired_summary` -- a paired difference: mean, SD, the 95 % interval with the t
  quantile of its degrees of freedom, the Wilcoxon signed-rank and sign-test p-values,
  and the smallest difference the design can detect;
* :func:`tost` -- two one-sided tests: "as good" only when the difference is shown to
  lie inside a stated margin;
* :func:`holm` -- Holm's correction when several comparisons are tested at once;
* :func:`bootstrap_mean` -- a percentile interval of a mean over resampled units.

Thin wrappers around SciPy, so each number in a chapter says which test made it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, TypeAlias

import numpy as np

Values: TypeAlias = "Sequence[float] | np.ndarray"

__all__ = ["rank_agreement", "paired_summary", "tost", "holm", "bootstrap_mean",
           "detectable_difference"]


def _r(x: float | None, digits: int = 4) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), digits)


def rank_agreement(a: Values, b: Values) -> dict[str, float | None]:
    """Kendall's tau-b and Spearman's rho between two scorings, with two-sided p-values.

    tau-b = (C - D) / sqrt((P - T_a)(P - T_b)) over the P pairs of items, C concordant,
    D discordant, T_a and T_b the pairs tied in each scoring. ``None`` where one scoring
    is constant (no order to compare).
    """
    from scipy.stats import kendalltau, spearmanr

    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return {"kendall_tau_b": None, "kendall_p": None, "spearman": None,
                "spearman_p": None}
    tau = kendalltau(x, y, variant="b")
    rho = spearmanr(x, y)
    return {"kendall_tau_b": _r(tau.statistic), "kendall_p": _r(tau.pvalue),
            "spearman": _r(rho.statistic), "spearman_p": _r(rho.pvalue)}


def detectable_difference(sd: float, n: int, alpha: float = 0.05,
                          power: float = 0.8) -> float | None:
    """The smallest mean paired difference a two-sided t test on ``n`` pairs of standard
    deviation ``sd`` detects with ``power`` (normal approximation for power, t for alpha)."""
    from scipy.stats import norm, t

    if n < 2 or not math.isfinite(sd):
        return None
    return float((t.ppf(1 - alpha / 2, n - 1) + norm.ppf(power)) * sd / math.sqrt(n))


def paired_summary(diff: Values, alpha: float = 0.05) -> dict[str, Any]:
    """A paired difference (one value per pair): mean, SD, t interval, tests, what it detects.

    The interval uses the t quantile with ``n - 1`` degrees of freedom (2.78 for five
    pairs, not 2). Wilcoxon's signed-rank test and the sign test need no normality.
    """
    from scipy.stats import binomtest, t, wilcoxon

    d = np.asarray(diff, dtype=float)
    n = len(d)
    out: dict[str, Any] = {"n": n, "mean": _r(d.mean() if n else float("nan"), 6)}
    if n < 2:
        return out | {"sd": None, "ci95": None, "t_p": None, "wilcoxon_p": None,
                      "sign_p": None, "detectable": None}
    sd = float(d.std(ddof=1))
    half = t.ppf(1 - alpha / 2, n - 1) * sd / math.sqrt(n)
    t_p = (2 * t.sf(abs(d.mean()) / (sd / math.sqrt(n)), n - 1) if sd > 0
           else (1.0 if d.mean() == 0 else 0.0))
    nonzero = d[d != 0]
    wil = wilcoxon(nonzero).pvalue if len(nonzero) else 1.0
    sign = (binomtest(int((nonzero > 0).sum()), len(nonzero)).pvalue if len(nonzero)
            else 1.0)
    return out | {"sd": _r(sd, 6), "ci95": [_r(d.mean() - half, 6), _r(d.mean() + half, 6)],
                  "t_p": _r(t_p), "wilcoxon_p": _r(wil), "sign_p": _r(sign),
                  "detectable": _r(detectable_difference(sd, n, alpha), 6)}


def tost(diff: Values, margin: float, alpha: float = 0.05) -> dict[str, Any]:
    """Two one-sided t tests of ``|mean difference| < margin``: equivalence is shown when
    both reject at ``alpha`` (the 90 % interval lies inside ``(-margin, margin)``)."""
    from scipy.stats import t

    d = np.asarray(diff, dtype=float)
    n = len(d)
    if n < 2:
        return {"margin": margin, "p": None, "equivalent": False}
    se = float(d.std(ddof=1)) / math.sqrt(n)
    if se == 0:
        p = 0.0 if abs(d.mean()) < margin else 1.0
    else:
        p_low = t.sf((d.mean() + margin) / se, n - 1)
        p_high = t.cdf((d.mean() - margin) / se, n - 1)
        p = float(max(p_low, p_high))
    return {"margin": margin, "p": _r(p), "equivalent": bool(p < alpha)}


def holm(pvalues: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjustment of p-values tested together (``None`` passes through)."""
    kept = sorted((p, i) for i, p in enumerate(pvalues) if p is not None)
    out: list[float | None] = [None] * len(pvalues)
    running, m = 0.0, len(kept)
    for rank, (p, i) in enumerate(kept):
        running = max(running, min(1.0, (m - rank) * p))
        out[i] = _r(running)
    return out


def bootstrap_mean(values: np.ndarray, resample: Callable[[np.random.Generator], np.ndarray]
                   | None = None, rounds: int = 2000, seed: int = 0) -> list[float | None]:
    """95 % percentile interval of a mean. ``resample(rng)`` draws one bootstrap sample of
    the values (default: the values with replacement), e.g. over search seeds and seed
    tables at once."""
    gen = np.random.default_rng(seed)
    x = np.asarray(values, dtype=float)
    if resample is None:
        def resample(g: np.random.Generator) -> np.ndarray:
            return x[g.integers(0, len(x), len(x))]
    means = np.array([resample(gen).mean() for _ in range(rounds)])
    return [_r(float(np.percentile(means, 2.5)), 6), _r(float(np.percentile(means, 97.5)), 6)]
